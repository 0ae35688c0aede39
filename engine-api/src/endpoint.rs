//! Which engine to talk to, resolved from the process environment as the docker CLI does.
//!
//! Runtime selection follows Dagu: `DAGU_CONTAINER_RUNTIME` is `docker` (the default) or
//! `podman`. In Podman mode the endpoint is `DAGU_PODMAN_HOST` (default
//! `unix:///run/podman/podman.sock`) and `DOCKER_HOST` and `DOCKER_CERT_PATH` are ignored, so a
//! stale Docker environment cannot redirect Podman-mode runs. In Docker mode:
//!
//! * `DOCKER_HOST`: `unix:///path`, `tcp://host[:port]` (a bare `host:port` means tcp). Default
//!   `unix:///var/run/docker.sock`, or `tcp://localhost:2376` when TLS is requested. A missing
//!   port is 2375, or 2376 with TLS.
//! * `DOCKER_TLS_VERIFY`: any non-empty value (even `"0"`, as the docker CLI does) turns TLS on
//!   with verification of the server against `ca.pem`.
//! * `DOCKER_TLS`: any non-empty value turns TLS on; without `DOCKER_TLS_VERIFY` the server's
//!   certificate is not verified.
//! * `DOCKER_CERT_PATH`: directory holding `ca.pem`, `cert.pem`, `key.pem`; default
//!   `$DOCKER_CONFIG` or `~/.docker`.
//! * `DOCKER_API_VERSION`: pins the API version; no negotiation happens.
//!
//! These are read from the process environment only — never from a workflow file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// The default Docker socket.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";
/// The default Podman socket (rootful Linux), as the seeds specify.
pub const DEFAULT_PODMAN_HOST: &str = "unix:///run/podman/podman.sock";
/// The docker CLI's default endpoint when TLS is requested without `DOCKER_HOST`.
pub const DEFAULT_TLS_HOST: &str = "tcp://localhost:2376";

/// Which container engine serves the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Runtime {
    /// Docker Engine.
    #[default]
    Docker,
    /// Podman's Docker-compatible service.
    Podman,
}

impl Runtime {
    /// `docker` or `podman`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Runtime {
    type Err = Error;

    fn from_str(s: &str) -> Result<Runtime> {
        match s.trim() {
            "" | "docker" => Ok(Runtime::Docker),
            "podman" => Ok(Runtime::Podman),
            other => Err(Error::config(format!(
                "invalid container runtime {other:?} in DAGU_CONTAINER_RUNTIME (supported: docker, podman)"
            ))),
        }
    }
}

/// An Engine API version such as `1.41`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiVersion {
    /// Major part (always 1 so far).
    pub major: u16,
    /// Minor part.
    pub minor: u16,
}

impl ApiVersion {
    /// Creates a version.
    pub const fn new(major: u16, minor: u16) -> ApiVersion {
        ApiVersion { major, minor }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<ApiVersion> {
        let t = s.trim().trim_start_matches('v');
        let parsed = t
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
        match parsed {
            Some((major, minor)) => Ok(ApiVersion { major, minor }),
            None => Err(Error::config(format!(
                "invalid API version {s:?} (expected MAJOR.MINOR, for example 1.41)"
            ))),
        }
    }
}

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix domain socket path.
    Unix(PathBuf),
    /// A TCP host and port.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
    },
}

/// TLS settings for a TCP endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Verify the server's certificate against `ca_file` (`DOCKER_TLS_VERIFY`). When false
    /// (`DOCKER_TLS` alone), any server certificate is accepted.
    pub verify: bool,
    /// The CA bundle (`ca.pem`).
    pub ca_file: PathBuf,
    /// The client certificate (`cert.pem`), presented when it exists.
    pub cert_file: PathBuf,
    /// The client key (`key.pem`).
    pub key_file: PathBuf,
}

impl TlsSettings {
    /// Settings for the files in a `DOCKER_CERT_PATH`-style directory.
    pub fn from_dir(dir: &Path, verify: bool) -> TlsSettings {
        TlsSettings {
            verify,
            ca_file: dir.join("ca.pem"),
            cert_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
        }
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths only; key material is never read here.
        f.debug_struct("TlsSettings")
            .field("verify", &self.verify)
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// A resolved engine endpoint: runtime, address, TLS and version pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Docker or Podman, as selected by the environment (the engine's own headers may tell
    /// more once connected).
    pub runtime: Runtime,
    /// The address to connect to.
    pub address: Address,
    /// TLS, for TCP endpoints.
    pub tls: Option<TlsSettings>,
    /// A pinned API version (`DOCKER_API_VERSION`); `None` negotiates.
    pub api_version: Option<ApiVersion>,
    /// The endpoint as written (`unix:///var/run/docker.sock`, `tcp://127.0.0.1:2376`).
    pub url: String,
    /// Where the endpoint came from, for `tug engine info` and error messages
    /// (`DOCKER_HOST`, `DAGU_PODMAN_HOST`, `default`).
    pub source: String,
}

impl Endpoint {
    /// Resolves the endpoint from the process environment.
    pub fn from_env() -> Result<Endpoint> {
        Endpoint::from_lookup(|key| std::env::var(key).ok())
    }

    /// Resolves the endpoint from an environment given as a lookup function, so callers and
    /// tests can supply their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Endpoint> {
        let get = |key: &str| lookup(key).filter(|v| !v.is_empty());
        let runtime: Runtime = get("DAGU_CONTAINER_RUNTIME").unwrap_or_default().parse()?;
        let api_version = match get("DOCKER_API_VERSION") {
            Some(v) => Some(v.parse::<ApiVersion>().map_err(|_| {
                Error::config(format!(
                    "invalid DOCKER_API_VERSION {v:?} (expected MAJOR.MINOR, for example 1.41)"
                ))
            })?),
            None => None,
        };
        let tls_verify = get("DOCKER_TLS_VERIFY").is_some();
        let tls_on = tls_verify || get("DOCKER_TLS").is_some();
        let default_cert_dir = || -> PathBuf {
            if let Some(dir) = get("DOCKER_CONFIG") {
                return PathBuf::from(dir);
            }
            match get("HOME") {
                Some(home) => Path::new(&home).join(".docker"),
                None => PathBuf::from(".docker"),
            }
        };

        let (url, source, cert_dir) = match runtime {
            Runtime::Podman => {
                // Podman mode ignores DOCKER_HOST and DOCKER_CERT_PATH (the seeds' isolation
                // rule): only DAGU_PODMAN_HOST selects the socket.
                let (url, source) = match get("DAGU_PODMAN_HOST") {
                    Some(h) => (h, "DAGU_PODMAN_HOST"),
                    None => (DEFAULT_PODMAN_HOST.to_string(), "default Podman socket"),
                };
                (url, source, default_cert_dir())
            }
            Runtime::Docker => {
                let (url, source) = match get("DOCKER_HOST") {
                    Some(h) => (h, "DOCKER_HOST"),
                    None if tls_on => (
                        DEFAULT_TLS_HOST.to_string(),
                        "default TLS endpoint (DOCKER_TLS_VERIFY or DOCKER_TLS set)",
                    ),
                    None => (DEFAULT_DOCKER_HOST.to_string(), "default Docker socket"),
                };
                let cert_dir = get("DOCKER_CERT_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(default_cert_dir);
                (url, source, cert_dir)
            }
        };

        let tls = tls_on.then(|| TlsSettings::from_dir(&cert_dir, tls_verify));
        let mut endpoint = Endpoint::parse(&url, tls)?;
        endpoint.runtime = runtime;
        endpoint.api_version = api_version;
        endpoint.source = source.to_string();
        Ok(endpoint)
    }

    /// Parses an endpoint URL (`unix:///path`, `tcp://host[:port]`, or `host:port`). TLS, when
    /// given, applies to TCP endpoints and picks the default port 2376 instead of 2375.
    pub fn parse(url: &str, tls: Option<TlsSettings>) -> Result<Endpoint> {
        let raw = url.trim();
        let (scheme, rest) = match raw.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("tcp".to_string(), raw),
        };
        let address = match scheme.as_str() {
            "unix" => {
                if rest.is_empty() {
                    return Err(Error::config(format!(
                        "invalid engine address {raw:?}: a unix address needs a socket path, as in unix:///var/run/docker.sock"
                    )));
                }
                Address::Unix(PathBuf::from(rest))
            }
            "tcp" | "http" | "https" => parse_tcp(raw, rest, tls.is_some() || scheme == "https")?,
            "ssh" => {
                return Err(Error::config(format!(
                    "engine address {raw:?}: ssh:// endpoints are not supported yet (use unix://, tcp:// or a forwarded socket)"
                )))
            }
            "npipe" => {
                return Err(Error::config(format!(
                    "engine address {raw:?}: named pipes exist only on Windows (use unix:// or tcp://)"
                )))
            }
            other => {
                return Err(Error::config(format!(
                    "invalid engine address {raw:?}: unsupported scheme {other:?} (supported: unix://, tcp://)"
                )))
            }
        };
        let tls = match address {
            Address::Unix(_) => None,
            Address::Tcp { .. } => tls,
        };
        Ok(Endpoint {
            runtime: Runtime::Docker,
            address,
            tls,
            api_version: None,
            url: raw.to_string(),
            source: "given".to_string(),
        })
    }

    /// A unix-socket endpoint.
    pub fn unix(path: impl Into<PathBuf>) -> Endpoint {
        let path = path.into();
        Endpoint {
            runtime: Runtime::Docker,
            url: format!("unix://{}", path.display()),
            address: Address::Unix(path),
            tls: None,
            api_version: None,
            source: "given".to_string(),
        }
    }

    /// Sets the runtime (builder style).
    pub fn with_runtime(mut self, runtime: Runtime) -> Endpoint {
        self.runtime = runtime;
        self
    }

    /// Pins the API version (builder style).
    pub fn with_api_version(mut self, version: ApiVersion) -> Endpoint {
        self.api_version = Some(version);
        self
    }

    /// The `Host` header value for requests on this endpoint.
    pub(crate) fn host_header(&self) -> String {
        match &self.address {
            Address::Unix(_) => "localhost".to_string(),
            Address::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Address::Tcp { host, port } => format!("{host}:{port}"),
        }
    }
}

fn parse_tcp(raw: &str, rest: &str, tls: bool) -> Result<Address> {
    let invalid = |why: &str| {
        Error::config(format!(
            "invalid engine address {raw:?}: {why} (expected tcp://HOST[:PORT])"
        ))
    };
    let hostport = match rest.split_once('/') {
        Some((hp, "")) => hp,
        Some(_) => return Err(invalid("a path is not allowed")),
        None => rest,
    };
    let default_port = if tls { 2376 } else { 2375 };
    let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
        let (h, tail) = after
            .split_once(']')
            .ok_or_else(|| invalid("unclosed [ in an IPv6 address"))?;
        let port = match tail {
            "" => default_port,
            t => t
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| invalid("bad port"))?,
        };
        (h.to_string(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => {
                let port = if p.is_empty() {
                    default_port
                } else {
                    p.parse().map_err(|_| invalid("bad port"))?
                };
                (h.to_string(), port)
            }
            None => (hostport.to_string(), default_port),
        }
    };
    let host = if host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    Ok(Address::Tcp { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(vars: &[(&str, &str)]) -> Result<Endpoint> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Endpoint::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn default_is_the_docker_socket() {
        let e = resolve(&[]).unwrap();
        assert_eq!(e.runtime, Runtime::Docker);
        assert_eq!(e.address, Address::Unix("/var/run/docker.sock".into()));
        assert!(e.tls.is_none());
        assert!(e.api_version.is_none());
        assert_eq!(e.url, DEFAULT_DOCKER_HOST);
    }

    #[test]
    fn docker_host_unix_and_tcp() {
        let e = resolve(&[("DOCKER_HOST", "unix:///tmp/x.sock")]).unwrap();
        assert_eq!(e.address, Address::Unix("/tmp/x.sock".into()));
        assert_eq!(e.source, "DOCKER_HOST");
        let e = resolve(&[("DOCKER_HOST", "tcp://10.0.0.5:1234")]).unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "10.0.0.5".into(),
                port: 1234
            }
        );
    }

    #[test]
    fn missing_port_is_2375_or_2376_with_tls() {
        let e = resolve(&[("DOCKER_HOST", "tcp://build-server")]).unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "build-server".into(),
                port: 2375
            }
        );
        let e = resolve(&[
            ("DOCKER_HOST", "tcp://build-server"),
            ("DOCKER_TLS_VERIFY", "1"),
        ])
        .unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "build-server".into(),
                port: 2376
            }
        );
    }

    #[test]
    fn scheme_less_host_means_tcp() {
        let e = resolve(&[("DOCKER_HOST", "127.0.0.1:2375")]).unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "127.0.0.1".into(),
                port: 2375
            }
        );
    }

    #[test]
    fn ipv6_hosts() {
        let e = resolve(&[("DOCKER_HOST", "tcp://[::1]:2376")]).unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "::1".into(),
                port: 2376
            }
        );
        assert_eq!(e.host_header(), "[::1]:2376");
        let e = resolve(&[("DOCKER_HOST", "tcp://[::1]")]).unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "::1".into(),
                port: 2375
            }
        );
    }

    #[test]
    fn tls_verify_any_non_empty_value_even_zero() {
        for v in ["1", "0", "false", "yes"] {
            let e = resolve(&[
                ("DOCKER_HOST", "tcp://h:2376"),
                ("DOCKER_TLS_VERIFY", v),
                ("DOCKER_CERT_PATH", "/certs"),
            ])
            .unwrap();
            let tls = e.tls.expect("tls on");
            assert!(tls.verify, "DOCKER_TLS_VERIFY={v} must verify");
            assert_eq!(tls.ca_file, PathBuf::from("/certs/ca.pem"));
            assert_eq!(tls.cert_file, PathBuf::from("/certs/cert.pem"));
            assert_eq!(tls.key_file, PathBuf::from("/certs/key.pem"));
        }
        // Empty means unset.
        let e = resolve(&[("DOCKER_HOST", "tcp://h:2376"), ("DOCKER_TLS_VERIFY", "")]).unwrap();
        assert!(e.tls.is_none());
    }

    #[test]
    fn docker_tls_alone_does_not_verify() {
        let e = resolve(&[("DOCKER_HOST", "tcp://h"), ("DOCKER_TLS", "1")]).unwrap();
        let tls = e.tls.expect("tls on");
        assert!(!tls.verify);
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "h".into(),
                port: 2376
            }
        );
    }

    #[test]
    fn tls_without_host_defaults_to_localhost_2376() {
        let e = resolve(&[("DOCKER_TLS_VERIFY", "1"), ("HOME", "/home/u")]).unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "localhost".into(),
                port: 2376
            }
        );
        assert_eq!(
            e.tls.unwrap().ca_file,
            PathBuf::from("/home/u/.docker/ca.pem")
        );
    }

    #[test]
    fn cert_path_defaults_to_docker_config_then_home() {
        let e = resolve(&[
            ("DOCKER_HOST", "tcp://h"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CONFIG", "/cfg"),
            ("HOME", "/home/u"),
        ])
        .unwrap();
        assert_eq!(e.tls.unwrap().ca_file, PathBuf::from("/cfg/ca.pem"));
    }

    #[test]
    fn tls_is_ignored_for_unix_sockets() {
        let e = resolve(&[
            ("DOCKER_HOST", "unix:///var/run/docker.sock"),
            ("DOCKER_TLS_VERIFY", "1"),
        ])
        .unwrap();
        assert!(e.tls.is_none());
    }

    #[test]
    fn api_version_pins() {
        let e = resolve(&[("DOCKER_API_VERSION", "1.41")]).unwrap();
        assert_eq!(e.api_version, Some(ApiVersion::new(1, 41)));
        let err = resolve(&[("DOCKER_API_VERSION", "latest")]).unwrap_err();
        assert!(err.to_string().contains("DOCKER_API_VERSION"), "{err}");
    }

    #[test]
    fn podman_runtime_uses_its_default_socket() {
        let e = resolve(&[("DAGU_CONTAINER_RUNTIME", "podman")]).unwrap();
        assert_eq!(e.runtime, Runtime::Podman);
        assert_eq!(e.address, Address::Unix("/run/podman/podman.sock".into()));
        assert_eq!(e.url, DEFAULT_PODMAN_HOST);
    }

    #[test]
    fn podman_host_override() {
        let e = resolve(&[
            ("DAGU_CONTAINER_RUNTIME", "podman"),
            (
                "DAGU_PODMAN_HOST",
                "unix:///run/user/1000/podman/podman.sock",
            ),
        ])
        .unwrap();
        assert_eq!(
            e.address,
            Address::Unix("/run/user/1000/podman/podman.sock".into())
        );
        assert_eq!(e.source, "DAGU_PODMAN_HOST");
    }

    #[test]
    fn podman_mode_ignores_docker_host_and_cert_path() {
        let e = resolve(&[
            ("DAGU_CONTAINER_RUNTIME", "podman"),
            ("DOCKER_HOST", "tcp://docker.example.com:2375"),
            ("DOCKER_CERT_PATH", "/docker-certs"),
            ("HOME", "/home/u"),
        ])
        .unwrap();
        assert_eq!(e.address, Address::Unix("/run/podman/podman.sock".into()));
        // A TCP Podman endpoint with TLS still does not read DOCKER_CERT_PATH.
        let e = resolve(&[
            ("DAGU_CONTAINER_RUNTIME", "podman"),
            ("DAGU_PODMAN_HOST", "tcp://podman.example.com:8888"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/docker-certs"),
            ("HOME", "/home/u"),
        ])
        .unwrap();
        assert_eq!(
            e.tls.unwrap().ca_file,
            PathBuf::from("/home/u/.docker/ca.pem")
        );
    }

    #[test]
    fn podman_mode_honours_api_version() {
        let e = resolve(&[
            ("DAGU_CONTAINER_RUNTIME", "podman"),
            ("DOCKER_API_VERSION", "1.40"),
        ])
        .unwrap();
        assert_eq!(e.api_version, Some(ApiVersion::new(1, 40)));
    }

    #[test]
    fn explicit_docker_runtime_and_empty_runtime() {
        assert_eq!(
            resolve(&[("DAGU_CONTAINER_RUNTIME", "docker")])
                .unwrap()
                .runtime,
            Runtime::Docker
        );
        assert_eq!(
            resolve(&[("DAGU_CONTAINER_RUNTIME", "")]).unwrap().runtime,
            Runtime::Docker
        );
    }

    #[test]
    fn unknown_runtime_lists_the_allowed_values() {
        let err = resolve(&[("DAGU_CONTAINER_RUNTIME", "containerd")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"containerd\""), "{msg}");
        assert!(msg.contains("supported: docker, podman"), "{msg}");
    }

    #[test]
    fn bad_addresses_are_config_errors() {
        for bad in [
            "unix://",
            "tcp://h:notaport",
            "tcp://h:1/path",
            "ftp://x",
            "tcp://[::1",
        ] {
            let err = resolve(&[("DOCKER_HOST", bad)]).unwrap_err();
            assert!(matches!(err, Error::Config { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn api_version_parsing_and_order() {
        assert_eq!(
            "1.41".parse::<ApiVersion>().unwrap(),
            ApiVersion::new(1, 41)
        );
        assert_eq!("v1.9".parse::<ApiVersion>().unwrap(), ApiVersion::new(1, 9));
        assert!(ApiVersion::new(1, 9) < ApiVersion::new(1, 41));
        assert_eq!(ApiVersion::new(1, 41).to_string(), "1.41");
    }
}
