//! Platforms: `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm64/v8`.
//!
//! Unknown operating systems and architectures are rejected here rather than at pull time, with
//! the nearest known name suggested. The aliases docker accepts (`x86_64`, `aarch64`) are
//! normalised to the names the registries use.

use std::fmt;

use super::suggest;

/// A target platform.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// Architecture, e.g. `amd64`.
    pub arch: String,
    /// Variant, e.g. `v8`.
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

pub(crate) const OSES: &[&str] = &[
    "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "aix",
    "plan9", "android", "ios", "js", "wasip1",
];

pub(crate) const ARCHES: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64",
    "mipsle", "mips", "loong64", "wasm",
];

/// Parses `os/arch[/variant]`; the error says what is wrong and suggests a near name.
pub(crate) fn parse(spec: &str) -> Result<Platform, (String, Option<&'static str>)> {
    let parts: Vec<&str> = spec.split('/').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return Err((
            format!("invalid platform `{spec}`: expected `os/arch` or `os/arch/variant`"),
            None,
        ));
    }
    let os = parts[0].to_ascii_lowercase();
    if !OSES.contains(&os.as_str()) {
        let near = suggest::nearest(&os, OSES.iter().copied());
        return Err((
            format!(
                "unknown operating system `{}` in platform `{spec}`",
                parts[0]
            ),
            near,
        ));
    }
    let arch = match parts[1].to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        "i386" | "i686" => "386".to_string(),
        "armhf" => "arm".to_string(),
        other => other.to_string(),
    };
    if !ARCHES.contains(&arch.as_str()) {
        let near = suggest::nearest(&arch, ARCHES.iter().copied());
        return Err((
            format!("unknown architecture `{}` in platform `{spec}`", parts[1]),
            near,
        ));
    }
    let variant = parts.get(2).map(|v| v.to_ascii_lowercase());
    if let Some(v) = &variant {
        if !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err((format!("invalid variant `{v}` in platform `{spec}`"), None));
        }
    }
    Ok(Platform { os, arch, variant })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!(parse("linux/amd64").unwrap().to_string(), "linux/amd64");
        assert_eq!(
            parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(parse("linux/x86_64").unwrap().arch, "amd64");
    }

    #[test]
    fn suggests_near_names() {
        assert_eq!(parse("linux/amd46").unwrap_err().1, Some("amd64"));
        assert_eq!(parse("linx/amd64").unwrap_err().1, Some("linux"));
        assert!(parse("linux").is_err());
        assert!(parse("linux//v8").is_err());
    }
}
