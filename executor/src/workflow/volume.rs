//! Volume specs: `source:target[:ro|rw]`, bind mounts versus named volumes.
//!
//! The split happens on the text as written, before any expansion, because only the source
//! side is ever expanded (from the workflow scope, then the process environment) and a value
//! holding `:` must not move the boundary. A source is a host path (a bind mount) when it is
//! absolute, starts with `.` or `~`, or contains `/` or `\`; anything else names a volume, as
//! in Dagu. Relative host paths are resolved against the workflow's working directory.

use std::path::{Component, Path, PathBuf};

/// Where a mount's data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MountSource {
    /// A host path, absolute after resolution.
    Bind(PathBuf),
    /// A named volume managed by the engine.
    Volume(String),
}

/// One fully resolved mount, ready for an Engine API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Host path or volume name.
    pub source: MountSource,
    /// Absolute path inside the container (never expanded).
    pub target: String,
    /// `:ro` was given.
    pub read_only: bool,
}

impl Mount {
    /// The `Binds` entry of a HostConfig: `source:target[:ro]`.
    pub fn to_bind(&self) -> String {
        let source = match &self.source {
            MountSource::Bind(p) => p.display().to_string(),
            MountSource::Volume(n) => n.clone(),
        };
        if self.read_only {
            format!("{source}:{}:ro", self.target)
        } else {
            format!("{source}:{}", self.target)
        }
    }
}

/// A volume spec split into its three parts, not yet expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VolumeParts<'a> {
    pub(crate) source: &'a str,
    pub(crate) target: &'a str,
    pub(crate) read_only: bool,
}

/// Splits `spec` on `:` outside `${…}`.
pub(crate) fn split(spec: &str) -> Result<VolumeParts<'_>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = spec.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' if i > 0 && bytes[i - 1] == b'$' => depth += 1,
            b'}' if depth > 0 => depth -= 1,
            b':' if depth == 0 => {
                parts.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&spec[start..]);
    let (source, target, mode) = match parts.as_slice() {
        [s, t] => (*s, *t, None),
        [s, t, m] => (*s, *t, Some(*m)),
        _ => {
            return Err(format!(
                "invalid volume format `{spec}`: expected `source:target` or `source:target:mode`"
            ))
        }
    };
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => return Err(format!("invalid mode `{m}` in volume `{spec}`")),
    };
    if source.is_empty() {
        return Err(format!("volume `{spec}` has an empty source"));
    }
    if target.is_empty() {
        return Err(format!("volume `{spec}` has an empty container path"));
    }
    if target.contains('$') {
        return Err(format!(
            "the container path `{target}` in volume `{spec}` is never expanded (only the source side is): write the absolute path itself"
        ));
    }
    if !target.starts_with('/') {
        return Err(format!(
            "the container path `{target}` in volume `{spec}` must be absolute"
        ));
    }
    Ok(VolumeParts {
        source,
        target,
        read_only,
    })
}

/// True when an (expanded) source names a host path rather than a volume.
pub(crate) fn is_path_like(source: &str) -> bool {
    source.starts_with('/')
        || source.starts_with('.')
        || source.starts_with('~')
        || source.contains('/')
        || source.contains('\\')
}

/// Turns an expanded source into a mount source. `home` resolves `~`.
pub(crate) fn resolve_source(
    source: &str,
    base_dir: &Path,
    home: Option<&str>,
) -> Result<MountSource, String> {
    if !is_path_like(source) {
        let ok = source
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphanumeric() || (i > 0 && matches!(b, b'_' | b'.' | b'-')));
        if !ok {
            return Err(format!(
                "`{source}` is not a valid volume name: use letters, digits, `_`, `.` and `-`, \
                 starting with a letter or digit"
            ));
        }
        return Ok(MountSource::Volume(source.to_string()));
    }
    let path = if let Some(rest) = source.strip_prefix('~') {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err(format!(
                "`{source}`: only `~` and `~/…` are expanded, not `~user`"
            ));
        }
        let Some(home) = home else {
            return Err(format!(
                "`{source}` starts with `~` but HOME is not set in tug's environment"
            ));
        };
        PathBuf::from(format!("{home}{rest}"))
    } else {
        PathBuf::from(source)
    };
    let path = if path.is_absolute() {
        path
    } else {
        base_dir.join(path)
    };
    Ok(MountSource::Bind(normalize(&path)))
}

/// Removes `.` and folds `..` lexically, without touching the file system.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_braces() {
        let p = split("${HOME}/.codex:/codex-home:ro").unwrap();
        assert_eq!(
            (p.source, p.target, p.read_only),
            ("${HOME}/.codex", "/codex-home", true)
        );
        assert!(split("a").is_err());
        assert!(split("a:/b:c:d").is_err());
        assert_eq!(
            split("a:/b:z").unwrap_err(),
            "invalid mode `z` in volume `a:/b:z`"
        );
        assert!(split("a:b").unwrap_err().contains("must be absolute"));
    }

    #[test]
    fn classifies_sources() {
        let base = Path::new("/work/wf");
        let r = |s| resolve_source(s, base, Some("/home/u")).unwrap();
        assert_eq!(r("./data"), MountSource::Bind("/work/wf/data".into()));
        assert_eq!(r("."), MountSource::Bind("/work/wf".into()));
        assert_eq!(r("src/app"), MountSource::Bind("/work/wf/src/app".into()));
        assert_eq!(r("../x"), MountSource::Bind("/work/x".into()));
        assert_eq!(r("~/.claude"), MountSource::Bind("/home/u/.claude".into()));
        assert_eq!(r("/abs"), MountSource::Bind("/abs".into()));
        assert_eq!(r("dagu-cache"), MountSource::Volume("dagu-cache".into()));
        assert!(resolve_source("~bob/x", base, None).is_err());
        assert!(resolve_source("bad name", base, None).is_err());
    }
}
