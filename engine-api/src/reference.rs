//! Image references: parsing with the docker CLI's normalisation, the registry a reference
//! lives in, the key its credentials are stored under, and the `fromImage`/`tag` split a pull
//! sends.
//!
//! The rules are the docker CLI's (its "familiar name" normalisation):
//!
//! * `alpine` is `docker.io/library/alpine:latest`; `user/app` is `docker.io/user/app:latest`.
//! * The first path segment is a registry host when it contains `.` or `:`, is `localhost`, or
//!   has an upper-case letter (repository paths are lower-case, so it cannot be one).
//! * `index.docker.io` is an alias of `docker.io`; Docker Hub credentials are stored under
//!   `https://index.docker.io/v1/`.
//! * A reference may carry a tag, a digest (`@sha256:…`), or both; with neither the tag is
//!   `latest`.
//!
//! A pull sends the repository in `fromImage` and the tag (or the digest) in `tag`, never both
//! in one: Podman rejects a tag given twice, and Docker pulls every tag when `tag` is empty.

use std::fmt;
use std::str::FromStr;

/// The registry host of Docker Hub, as references name it.
pub const DOCKER_HUB: &str = "docker.io";

/// The key Docker Hub credentials are stored under in `config.json` and sent as the
/// `serveraddress` of an auth config.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The tag a reference without a tag or digest means.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised image reference.
///
/// ```
/// use engine_api::reference::ImageRef;
///
/// let r: ImageRef = "alpine".parse().unwrap();
/// assert_eq!(r.to_string(), "docker.io/library/alpine:latest");
/// assert_eq!(r.registry(), "docker.io");
/// assert_eq!(r.credential_key(), "https://index.docker.io/v1/");
///
/// let r: ImageRef = "127.0.0.1:5000/tug/busybox:1.36".parse().unwrap();
/// assert_eq!(r.registry(), "127.0.0.1:5000");
/// assert_eq!(r.pull_parts(), ("127.0.0.1:5000/tug/busybox".to_string(), "1.36".to_string()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {reason}")]
pub struct ReferenceError {
    reference: String,
    reason: &'static str,
}

impl ReferenceError {
    /// The text that failed to parse.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl ImageRef {
    /// Parses and normalises `reference` (see the [module docs](self)).
    pub fn parse(reference: &str) -> Result<ImageRef, ReferenceError> {
        let fail = |reason| ReferenceError {
            reference: reference.to_string(),
            reason,
        };
        if reference.is_empty() {
            return Err(fail("it is empty"));
        }
        if reference.len() > 4096 {
            return Err(fail("it is longer than 4096 characters"));
        }
        if reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(fail("it contains whitespace"));
        }

        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => {
                if !valid_digest(digest) {
                    return Err(fail("the digest must look like sha256:<64 hex digits>"));
                }
                (name, Some(digest.to_string()))
            }
            None => (reference, None),
        };

        // A tag is whatever follows the last ':' after the last '/'.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &name[last_slash + i + 1..];
                if !valid_tag(tag) {
                    return Err(fail(
                        "a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
                    ));
                }
                (&name[..last_slash + i], Some(tag.to_string()))
            }
            None => (name, None),
        };

        let (registry, path) = match name.split_once('/') {
            Some((first, rest)) if is_registry_host(first) => (first, rest),
            _ => (DOCKER_HUB, name),
        };
        if registry.is_empty() || !valid_host(registry) {
            return Err(fail("the registry host is not a valid host[:port]"));
        }
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        if path.is_empty() {
            return Err(fail("the repository name is empty"));
        }
        if !path.split('/').all(valid_path_component) {
            return Err(fail(
                "repository path components are lower-case letters, digits and single separators ('.', '_', '__', '-')",
            ));
        }
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(ImageRef {
            registry: registry.to_string(),
            path,
            tag,
            digest,
        })
    }

    /// The registry host (`docker.io`, `ghcr.io`, `127.0.0.1:5000`, `localhost`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/alpine`, `tug/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name, registry included (`docker.io/library/alpine`).
    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The tag as written, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The tag in force: the written tag, else `latest` unless the reference has a digest.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG),
        }
    }

    /// True for Docker Hub references.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// The key the registry's credentials are stored under: `https://index.docker.io/v1/` for
    /// Docker Hub, else the registry host.
    pub fn credential_key(&self) -> &str {
        credential_key(&self.registry)
    }

    /// The `fromImage` and `tag` query values of a pull: the repository, and the digest if the
    /// reference has one (it pins the content), else the effective tag.
    pub fn pull_parts(&self) -> (String, String) {
        let tag = match (&self.digest, self.effective_tag()) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.to_string(),
            (None, None) => DEFAULT_TAG.to_string(),
        };
        (self.repository(), tag)
    }

    /// The docker CLI's short form: `alpine:latest` for `docker.io/library/alpine:latest`,
    /// `user/app:1` for Docker Hub user images, the full form elsewhere.
    pub fn familiar(&self) -> String {
        let name = if self.registry == DOCKER_HUB {
            self.path
                .strip_prefix("library/")
                .filter(|p| !p.contains('/'))
                .unwrap_or(&self.path)
                .to_string()
        } else {
            self.repository()
        };
        let mut s = name;
        if let Some(t) = self.effective_tag() {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for ImageRef {
    /// The fully qualified form: `docker.io/library/alpine:latest`,
    /// `ghcr.io/o/app@sha256:…`, `r:5000/a:1@sha256:…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)?;
        if let Some(t) = self.effective_tag() {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<ImageRef, ReferenceError> {
        ImageRef::parse(s)
    }
}

/// The registry host an image reference lives in, with docker.io normalisation; for a string
/// that does not parse, the same first-segment rule applied loosely (so a credential lookup
/// still has a host to work with).
pub fn registry_of(reference: &str) -> String {
    match ImageRef::parse(reference) {
        Ok(r) => r.registry,
        Err(_) => match reference.split_once('/') {
            Some((first, _)) if is_registry_host(first) => normalize_registry(first),
            _ => DOCKER_HUB.to_string(),
        },
    }
}

/// The key credentials for registry `host` are stored under: `https://index.docker.io/v1/` for
/// Docker Hub (`docker.io`, `index.docker.io`, `registry-1.docker.io`), else `host` itself.
pub fn credential_key(host: &str) -> &str {
    if is_docker_hub_host(host) {
        DOCKER_HUB_AUTH_KEY
    } else {
        host
    }
}

/// True for the names of Docker Hub: `docker.io`, `index.docker.io`, `registry-1.docker.io`,
/// and the legacy key `https://index.docker.io/v1/`.
pub fn is_docker_hub_host(host: &str) -> bool {
    matches!(
        strip_scheme_and_path(host),
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
    )
}

/// Normalises a registry name as written in a config file or a workflow (`https://host/v1/`,
/// `host`, `index.docker.io`) to a bare host, Docker Hub's aliases to `docker.io`.
pub fn normalize_registry(name: &str) -> String {
    let host = strip_scheme_and_path(name).to_ascii_lowercase();
    if is_docker_hub_host(&host) {
        DOCKER_HUB.to_string()
    } else {
        host
    }
}

/// `https://host:5000/v2/` → `host:5000`.
pub(crate) fn strip_scheme_and_path(name: &str) -> &str {
    let name = name.trim();
    let name = name
        .strip_prefix("https://")
        .or_else(|| name.strip_prefix("http://"))
        .unwrap_or(name);
    name.split('/').next().unwrap_or(name)
}

fn is_registry_host(segment: &str) -> bool {
    segment.contains(['.', ':'])
        || segment == "localhost"
        || segment.chars().any(|c| c.is_ascii_uppercase())
}

fn valid_host(host: &str) -> bool {
    // host, host:port, or [ipv6]:port.
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((addr, tail)) => {
                if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
                    return false;
                }
                match tail {
                    "" => return true,
                    t => match t.strip_prefix(':') {
                        Some(p) => ("x", Some(p)),
                        None => return false,
                    },
                }
            }
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run between two alphanumerics.
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[\w][\w.-]{0,127}`
fn valid_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

/// `algorithm:hex`, with sha256 needing exactly 64 hex digits.
fn valid_digest(d: &str) -> bool {
    let Some((algo, hex)) = d.split_once(':') else {
        return false;
    };
    let algo_ok = !algo.is_empty()
        && algo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
    let hex_ok = hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    algo_ok && hex_ok && (algo != "sha256" || hex.len() == 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0fce4e1d7e5b39a87ba687fc30c49ec726d27eae9aceafaf5d7ddb89d4ed5bde";

    fn full(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_hub_normalisation() {
        assert_eq!(full("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(full("alpine:3.20"), "docker.io/library/alpine:3.20");
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(full("docker.io/alpine"), "docker.io/library/alpine:latest");
        assert_eq!(
            full("index.docker.io/library/alpine:1"),
            "docker.io/library/alpine:1"
        );
        assert_eq!(full("a/b/c"), "docker.io/a/b/c:latest");
        let r = ImageRef::parse("alpine").unwrap();
        assert!(r.is_docker_hub());
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.path(), "library/alpine");
        assert_eq!(r.tag(), None);
        assert_eq!(r.effective_tag(), Some("latest"));
        assert_eq!(r.credential_key(), DOCKER_HUB_AUTH_KEY);
        assert_eq!(r.familiar(), "alpine:latest");
        assert_eq!(
            ImageRef::parse("user/app:2").unwrap().familiar(),
            "user/app:2"
        );
    }

    #[test]
    fn registry_hosts() {
        let cases = [
            (
                "127.0.0.1:5000/tug/busybox:latest",
                "127.0.0.1:5000",
                "tug/busybox",
            ),
            ("localhost/app", "localhost", "app"),
            ("localhost:5000/app", "localhost:5000", "app"),
            ("ghcr.io/org/app:v1", "ghcr.io", "org/app"),
            ("Registry/app", "Registry", "app"),
            ("[::1]:5000/app", "[::1]:5000", "app"),
            ("registry/app", "docker.io", "registry/app"),
        ];
        for (input, registry, path) in cases {
            let r = ImageRef::parse(input).unwrap();
            assert_eq!(r.registry(), registry, "{input}");
            assert_eq!(r.path(), path, "{input}");
        }
        assert_eq!(
            ImageRef::parse("ghcr.io/org/app").unwrap().credential_key(),
            "ghcr.io"
        );
        assert_eq!(registry_of("alpine"), "docker.io");
        assert_eq!(registry_of("127.0.0.1:5000/x"), "127.0.0.1:5000");
        assert_eq!(registry_of("Bad.Host/Upper/CASE"), "bad.host");
    }

    #[test]
    fn digests_and_tags() {
        let r = ImageRef::parse(&format!("alpine@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(D));
        assert_eq!(r.effective_tag(), None);
        assert_eq!(r.to_string(), format!("docker.io/library/alpine@{D}"));
        assert_eq!(
            r.pull_parts(),
            ("docker.io/library/alpine".to_string(), D.to_string())
        );

        let r = ImageRef::parse(&format!("r:5000/a:1@{D}")).unwrap();
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.to_string(), format!("r:5000/a:1@{D}"));
        assert_eq!(r.pull_parts(), ("r:5000/a".to_string(), D.to_string()));
    }

    #[test]
    fn pull_parts_never_repeat_the_tag() {
        let (from, tag) = ImageRef::parse("alpine:3").unwrap().pull_parts();
        assert_eq!(from, "docker.io/library/alpine");
        assert_eq!(tag, "3");
        let (from, tag) = ImageRef::parse("localhost:5000/x").unwrap().pull_parts();
        assert_eq!(from, "localhost:5000/x");
        assert_eq!(tag, "latest");
    }

    #[test]
    fn invalid_references() {
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine:-x",
            "a b",
            "alpine@sha256:abc",
            "alpine@md5",
            "ghcr.io/",
            "ghcr.io//x",
            "x--/y",
            "x..y",
            "host:port/x",
            ":5000/x",
        ] {
            let e = ImageRef::parse(bad).expect_err(bad);
            assert_eq!(e.reference(), bad);
            assert!(e.to_string().starts_with("invalid image reference"), "{e}");
        }
        assert!(ImageRef::parse("a--b__c.d_e").is_ok());
    }

    #[test]
    fn registry_name_normalisation() {
        assert_eq!(
            normalize_registry("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(normalize_registry("registry-1.docker.io"), "docker.io");
        assert_eq!(normalize_registry("https://Ghcr.io"), "ghcr.io");
        assert_eq!(
            normalize_registry("http://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(credential_key("index.docker.io"), DOCKER_HUB_AUTH_KEY);
        assert_eq!(credential_key("quay.io"), "quay.io");
    }
}
