//! Keeping secrets out of `Debug` output: environment entries whose names look like
//! credentials (`*_KEY`, `*_TOKEN`, `*_PASSWORD`, `*_SECRET`, and those words alone, any case)
//! are shown with their value replaced.

/// What replaces a secret value.
pub const REDACTED: &str = "[redacted]";

/// True when a variable with this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    const WORDS: [&str; 6] = [
        "KEY",
        "TOKEN",
        "PASSWORD",
        "SECRET",
        "PASSWD",
        "CREDENTIALS",
    ];
    WORDS.iter().any(|w| {
        upper == *w
            || upper
                .strip_suffix(w)
                .is_some_and(|rest| rest.ends_with('_') || rest.ends_with('-'))
    }) || upper == "DOCKER_AUTH_CONFIG"
}

/// `value`, or [`REDACTED`] when `name` is secret.
pub fn value<'a>(name: &str, value: &'a str) -> &'a str {
    if is_secret_name(name) && !value.is_empty() {
        REDACTED
    } else {
        value
    }
}

/// A `KEY=VALUE` entry with the value redacted when the key is secret.
pub fn env_entry(entry: &str) -> String {
    match entry.split_once('=') {
        Some((k, v)) => format!("{k}={}", value(k, v)),
        None => entry.to_string(),
    }
}

/// `Debug` for a list of `KEY=VALUE` entries, secrets redacted.
pub(crate) struct EnvDebug<'a>(pub(crate) &'a [String]);

impl std::fmt::Debug for EnvDebug<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|e| env_entry(e)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_secrets() {
        for n in [
            "API_KEY",
            "gh_token",
            "DB_PASSWORD",
            "X_SECRET",
            "TOKEN",
            "DOCKER_AUTH_CONFIG",
        ] {
            assert!(is_secret_name(n), "{n}");
        }
        for n in ["PATH", "KEYBOARD", "MONKEY", "HOME", "TOKENIZER"] {
            assert!(!is_secret_name(n), "{n}");
        }
        assert_eq!(env_entry("API_KEY=abc"), "API_KEY=[redacted]");
        assert_eq!(env_entry("HOME=/root"), "HOME=/root");
    }
}
