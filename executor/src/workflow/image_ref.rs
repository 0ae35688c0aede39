//! Checking an image reference (`[registry/]path[:tag][@digest]`) before any pull.
//!
//! The grammar is the distribution reference grammar docker uses, written by hand: lowercase
//! path components separated by `/`, an optional registry host (with a `.` or `:` in it, or
//! `localhost`), an optional tag of up to 128 word characters, dots and dashes, and an optional
//! `algorithm:hex` digest.

/// Checks `image`; the error says which part is wrong.
pub(crate) fn check(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("the image name is empty".into());
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'+'
                        || b == b'.'
                        || b == b'_'
                        || b == b'-'
                })
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Err(format!("invalid digest `{d}` in image `{image}`"));
        }
    }
    // A tag is after the last `:` when no `/` follows it (else the `:` was a registry port).
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return Err(format!(
                "invalid tag `{t}` in image `{image}`: a tag has up to 128 letters, digits, `_`, `.` and `-`"
            ));
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            let host = first.split(':').next().unwrap_or_default();
            let port_ok = match first.split_once(':') {
                None => true,
                Some((_, port)) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
            };
            if host.is_empty()
                || !host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                || !port_ok
            {
                return Err(format!("invalid registry `{first}` in image `{image}`"));
            }
            components.remove(0);
        }
    }
    for c in components {
        if c.is_empty() {
            return Err(format!("image `{image}` has an empty path component"));
        }
        if c.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "invalid image `{image}`: repository names must be lowercase (`{}`)",
                c.to_ascii_lowercase()
            ));
        }
        if !component_ok(c) {
            return Err(format!(
                "invalid image `{image}`: `{c}` may hold only lowercase letters, digits and \
                 single separators (`.`, `_`, `__`, `-`) between them"
            ));
        }
    }
    Ok(())
}

fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_lowercase() || b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__`, or any number of `-`.
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        if sep.is_empty() {
            // Neither a name character nor a separator.
            return false;
        }
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_references() {
        for ok in [
            "alpine",
            "alpine:3",
            "python:3.11",
            "ghcr.io/example/agent:latest",
            "localhost:5000/x/y:1",
            "google/cloud-sdk:latest",
            "dagu-claude-runner:local",
            "my_app__x:1.0-rc1",
            "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(check(ok).is_ok(), "{ok}: {:?}", check(ok));
        }
    }

    #[test]
    fn rejects_bad_references() {
        assert!(check("Alpine:3").unwrap_err().contains("lowercase"));
        assert!(check("alpine:").is_err());
        assert!(check("alpine:bad tag").is_err());
        assert!(check("a//b").is_err());
        assert!(check("alpine@sha256:xyz").is_err());
        assert!(check("-alpine").is_err());
        assert!(check("alp ine").is_err());
        assert!(check("a$b").is_err());
    }
}
