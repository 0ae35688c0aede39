//! Splitting a command line into words the way a POSIX shell would, without running one.
//!
//! A single-line `run` (and a string `command`) becomes the container's argv this way, as Dagu
//! does with its shell-words split: quotes group, backslashes escape, nothing is expanded.

/// Why a command line could not be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// A `'` or `"` without its partner; the value is the quote character.
    UnterminatedQuote(char),
    /// The line ends with a lone backslash.
    TrailingBackslash,
}

impl SplitError {
    pub(crate) fn describe(&self) -> String {
        match self {
            SplitError::UnterminatedQuote(q) => format!("the quote {q} is never closed"),
            SplitError::TrailingBackslash => "the line ends with a lone backslash".into(),
        }
    }
}

/// Splits `line` into words.
pub(crate) fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote('\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some('\n') => {}
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err(SplitError::UnterminatedQuote('"')),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::UnterminatedQuote('"')),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') => {}
                    Some(c) => word.push(c),
                    None => return Err(SplitError::TrailingBackslash),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split("echo hi  there").unwrap(), ["echo", "hi", "there"]);
        assert_eq!(
            split(r#"psql -c "SELECT 1""#).unwrap(),
            ["psql", "-c", "SELECT 1"]
        );
        assert_eq!(split("a 'b c' d\\ e").unwrap(), ["a", "b c", "d e"]);
        assert_eq!(split(r#""a\"b" ''"#).unwrap(), ["a\"b", ""]);
        assert_eq!(split("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn reports_unclosed_quotes() {
        assert_eq!(split("echo 'x"), Err(SplitError::UnterminatedQuote('\'')));
        assert_eq!(split("echo \"x"), Err(SplitError::UnterminatedQuote('"')));
        assert_eq!(split("echo x\\"), Err(SplitError::TrailingBackslash));
    }
}
