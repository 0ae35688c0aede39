//! `tug validate`, and what every command that reads a workflow file shares: parameters from
//! the command line, printing load errors and warnings.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use executor::workflow::{load_file, Diagnostics, LoadError, LoadOptions};

use crate::exit;
use crate::style::{Paint, Stream};

/// Parses `K=V` parameters given after `--` or with `-p 'K=V …'`. One argument holding several
/// `K=V` words separated by spaces is split; one whose later words are not `K=V` (a value with
/// spaces, such as a JSON array) is one parameter.
pub fn parse_params(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for pair in pairs {
        // Several `NAME=VALUE` words in one string (`-p 'A="hello world" B=z'`) are split as a
        // shell would, quotes grouping and then removed; a string whose words are not all
        // `NAME=VALUE` (`-p 'MSG=hello world'`) is one parameter, as written.
        // A string without spaces is taken as written (backslashes and quotes in a value
        // passed after `--` stay as the shell left them).
        let words = Some(pair)
            .filter(|p| p.trim().contains(char::is_whitespace))
            .and_then(|p| executor::workflow::shell_split(p))
            .filter(|w| !w.is_empty() && w.iter().all(|w| w.contains('=')))
            .unwrap_or_else(|| vec![pair.trim().to_string()]);
        for word in words {
            if word.is_empty() {
                continue;
            }
            let Some((k, v)) = word.split_once('=') else {
                anyhow::bail!("invalid parameter {word:?}: expected NAME=VALUE");
            };
            if k.is_empty() {
                anyhow::bail!("invalid parameter {word:?}: the name before `=` is empty");
            }
            out.push((k.to_string(), v.to_string()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod params_tests {
    use super::parse_params;

    fn p(args: &[&str]) -> Vec<(String, String)> {
        parse_params(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn quoted_values_in_one_string_keep_their_spaces() {
        assert_eq!(
            p(&[r#"A="hello world" B=z"#]),
            pairs(&[("A", "hello world"), ("B", "z")])
        );
        assert_eq!(p(&["A='q w' B=z"]), pairs(&[("A", "q w"), ("B", "z")]));
        assert_eq!(p(&["A=1 B=2"]), pairs(&[("A", "1"), ("B", "2")]));
        // One parameter whose value has spaces, as a shell would pass it after `--`.
        assert_eq!(p(&["MSG=hello world"]), pairs(&[("MSG", "hello world")]));
        assert_eq!(p(&["Q=a=b c"]), pairs(&[("Q", "a=b c")]));
        // Unbalanced quoting: the string as written.
        assert_eq!(p(&["MSG=it's"]), pairs(&[("MSG", "it's")]));
        assert_eq!(p(&[r"RE=a\d+"]), pairs(&[("RE", r"a\d+")]));
        assert_eq!(p(&[r#"J={"a":1}"#]), pairs(&[("J", r#"{"a":1}"#)]));
        assert!(parse_params(&["novalue".to_string()]).is_err());
        assert!(parse_params(&["=x".to_string()]).is_err());
    }
}

/// Loads a workflow to run or plan it. Diagnostics name the file as the user gave it; the
/// workflow itself is loaded from the absolute path, so that relative host paths (volume
/// sources, a host step's working directory) resolve to absolute ones, which the engine
/// requires — the executor resolves them against the file's directory as written.
pub fn load_to_run(
    file: &std::path::Path,
    options: &LoadOptions<'_>,
) -> Result<executor::workflow::Loaded, LoadError> {
    let loaded = load_file(file, options)?;
    if file.is_relative() {
        if let Ok(abs) = std::path::absolute(file) {
            if let Ok(again) = load_file(&abs, options) {
                return Ok(executor::workflow::Loaded {
                    workflow: again.workflow,
                    warnings: loaded.warnings,
                });
            }
        }
    }
    Ok(loaded)
}

/// `tug validate FILE…`: every file is checked; all diagnostics are printed.
pub fn validate(files: &[PathBuf]) -> anyhow::Result<u8> {
    let p = Paint::for_stream(Stream::Stdout);
    let mut failed = 0;
    for file in files {
        match load_file(file, &LoadOptions::default()) {
            Ok(loaded) => {
                print_warnings(&loaded.warnings);
                let steps = loaded.workflow.steps.len();
                outln!(
                    "{}: {} ({})",
                    file.display(),
                    p.green("valid"),
                    crate::human::count(steps, "step")
                );
            }
            Err(e) => {
                failed += 1;
                print_load_error(&e);
            }
        }
    }
    if files.len() > 1 && failed > 0 {
        let verb = if failed == 1 { "is" } else { "are" };
        eprintln!("{failed} of {} files {verb} invalid", files.len());
    }
    Ok(if failed == 0 {
        exit::SUCCESS
    } else {
        exit::USAGE
    })
}

/// Prints the warnings found while loading, if any.
pub fn print_warnings(warnings: &Diagnostics) {
    if !warnings.is_empty() {
        eprint!("{}", warnings.render());
    }
}

/// Prints why a workflow could not be loaded: its diagnostics (file:line:column and a caret),
/// or `error: …` with the cause below.
pub fn print_load_error(e: &LoadError) {
    match e.diagnostics() {
        Some(d) => eprint!("{}", d.render()),
        None => {
            let mut err = anyhow::anyhow!("{e}");
            if let Some(cause) = std::error::Error::source(e) {
                err = anyhow::anyhow!("{cause}").context(e.to_string());
            }
            crate::report::error(&err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_split_on_whitespace_and_equals() {
        let p = parse_params(&["A=1 B=x=y".into(), "C=".into()]).unwrap();
        assert_eq!(
            p,
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "x=y".into()),
                ("C".into(), String::new())
            ]
        );
        assert!(parse_params(&["oops".into()]).is_err());
        let p = parse_params(&[r#"ITEMS=["c", "d"]"#.into()]).unwrap();
        assert_eq!(p, vec![("ITEMS".to_string(), r#"["c", "d"]"#.to_string())]);
        assert!(parse_params(&["=1".into()]).is_err());
    }
}
