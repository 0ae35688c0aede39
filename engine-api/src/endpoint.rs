//! Which engine to talk to, resolved from the process environment as the docker CLI does.
//!
//! Runtime selection follows Dagu: `DAGU_CONTAINER_RUNTIME` is `docker` (the default) or
//! `podman`. In Podman mode the endpoint is `DAGU_PODMAN_HOST` (default
//! `unix:///run/podman/podman.sock`) and `DOCKER_HOST` and `DOCKER_CERT_PATH` are ignored, so a
//! stale Docker environment cannot redirect Podman-mode runs. In Docker mode:
//!
//! * `DOCKER_HOST`: `unix:///path`, `tcp://host[:port]` (a bare `host:port` means tcp), or
//!   `ssh://[user@]host[:port][/path/to/socket]` (the engine is reached through `ssh … docker
//!   system dial-stdio`, see [`crate::transport::ssh`]). Default `unix:///var/run/docker.sock`,
//!   or `tcp://localhost:2376` when TLS is requested. A missing port is 2375, or 2376 with TLS.
//!   A set `DOCKER_HOST` wins over any Docker context, as in the docker CLI.
//! * `DOCKER_CONTEXT`, else `currentContext` in `config.json`: a Docker context (see
//!   [`crate::context`]) that supplies the endpoint and its TLS files; `default` means this
//!   list without a context.
//! * `DOCKER_TLS_VERIFY`: any non-empty value (even `"0"`, as the docker CLI does) turns TLS on
//!   with verification of the server against `ca.pem`, or against the system's trust store when
//!   there is no `ca.pem` (as the docker CLI).
//! * `DOCKER_TLS`: any non-empty value turns TLS on; without `DOCKER_TLS_VERIFY` the server's
//!   certificate is not verified.
//! * `DOCKER_CERT_PATH`: directory holding `ca.pem`, `cert.pem`, `key.pem`; default
//!   `$DOCKER_CONFIG` or `~/.docker`.
//! * `DOCKER_API_VERSION`: pins the API version; no negotiation happens.
//! * `DOCKER_CUSTOM_HEADERS` (else `HttpHeaders` in `config.json`): extra HTTP headers for
//!   every request, as the docker CLI sends them (see [`crate::headers`]).
//! * `TUG_SSH_CONFIG`: an ssh client configuration file passed to `ssh -F` for `ssh://`
//!   endpoints, instead of `~/.ssh/config` (tug's own knob; the docker CLI has none).
//!
//! These are read from the process environment only — never from a workflow file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::context::{self, ContextRef, DEFAULT_CONTEXT};
use crate::error::{Error, Result};
use crate::headers::{self, CustomHeaders};

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
    /// An ssh destination: each connection runs `docker system dial-stdio` there over ssh.
    Ssh(SshAddress),
}

/// `ssh://[user@]host[:port][/path/to/socket]`, as the docker CLI reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAddress {
    /// The login user (`ssh -l`); `None` leaves it to ssh (its config, or the local user).
    pub user: Option<String>,
    /// Host name, alias from the ssh config, or IP address (IPv6 without brackets).
    pub host: String,
    /// The ssh port (`ssh -p`); `None` leaves it to ssh (its config, or 22).
    pub port: Option<u16>,
    /// The engine's socket on the remote host, passed as `docker --host=unix://PATH`; `None`
    /// uses the remote docker CLI's own default.
    pub socket: Option<PathBuf>,
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

    /// Whether the server is verified against the system's trust store: verification is on
    /// and `ca_file` does not exist (as the docker CLI, which then uses the system's pool).
    pub fn uses_system_roots(&self) -> bool {
        self.verify && !self.ca_file.exists()
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
    /// (`DOCKER_HOST`, `DAGU_PODMAN_HOST`, `context `remote` from DOCKER_CONTEXT`, …).
    pub source: String,
    /// The Docker context that supplied the endpoint, or that was named and means the default
    /// (`default`); `None` when no context was involved.
    pub context: Option<ContextRef>,
    /// An ssh client configuration file (`ssh -F`) for `ssh://` endpoints (`TUG_SSH_CONFIG`).
    /// `None` lets ssh read `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
    /// Extra HTTP headers for every request (`DOCKER_CUSTOM_HEADERS`, else `HttpHeaders` in
    /// `config.json`; Docker mode only), see [`crate::headers`].
    pub headers: CustomHeaders,
}

impl Endpoint {
    /// Resolves the endpoint from the process environment.
    pub fn from_env() -> Result<Endpoint> {
        Endpoint::from_lookup(|key| std::env::var(key).ok())
    }

    /// Resolves the endpoint from an environment given as a lookup function, so callers and
    /// tests can supply their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Endpoint> {
        Endpoint::resolve(lookup, None)
    }

    /// Resolves the endpoint of the Docker context `name`, chosen explicitly (a `--context`
    /// flag, as `docker --context NAME`): it wins over `DOCKER_HOST`, `DOCKER_CONTEXT` and
    /// `currentContext`, and `default` means the environment without a context (`DOCKER_HOST`
    /// included). `chosen_by` says where the name came from (`--context`), for
    /// [`Endpoint::source`] and errors. The rest (`DOCKER_API_VERSION`, `TUG_SSH_CONFIG`, the
    /// default context's TLS variables) comes from `lookup`. Contexts are Docker's: in Podman
    /// mode (`DAGU_CONTAINER_RUNTIME=podman`) this is an error.
    pub fn for_context(
        name: &str,
        chosen_by: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Endpoint> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::config(format!(
                "{chosen_by} needs a context name (`default` for the environment's endpoint)"
            )));
        }
        Endpoint::resolve(lookup, Some((name.to_string(), chosen_by.to_string())))
    }

    fn resolve(
        lookup: impl Fn(&str) -> Option<String>,
        explicit: Option<(String, String)>,
    ) -> Result<Endpoint> {
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
        // `$DOCKER_CONFIG`, else `~/.docker`; `None` when neither variable is set.
        let config_dir = || -> Option<PathBuf> {
            if let Some(dir) = get("DOCKER_CONFIG") {
                return Some(PathBuf::from(dir));
            }
            get("HOME").map(|home| Path::new(&home).join(".docker"))
        };
        let default_cert_dir = || config_dir().unwrap_or_else(|| PathBuf::from(".docker"));
        let env_tls =
            |cert_dir: PathBuf| tls_on.then(|| TlsSettings::from_dir(&cert_dir, tls_verify));

        let (url, source, tls, context): (String, String, Option<TlsSettings>, Option<ContextRef>) =
            match runtime {
                Runtime::Podman => {
                    if let Some((name, chosen_by)) = &explicit {
                        return Err(Error::config(format!(
                            "{chosen_by} {name}: Docker contexts do not apply in Podman mode (DAGU_CONTAINER_RUNTIME=podman); DAGU_PODMAN_HOST selects the Podman socket"
                        )));
                    }
                    // Podman mode ignores DOCKER_HOST, contexts and DOCKER_CERT_PATH (the seeds'
                    // isolation rule): only DAGU_PODMAN_HOST selects the socket.
                    let (url, source) = match get("DAGU_PODMAN_HOST") {
                        Some(h) => (h, "DAGU_PODMAN_HOST"),
                        None => (DEFAULT_PODMAN_HOST.to_string(), "default Podman socket"),
                    };
                    (url, source.to_string(), env_tls(default_cert_dir()), None)
                }
                Runtime::Docker => {
                    let cert_dir = || {
                        get("DOCKER_CERT_PATH")
                            .map(PathBuf::from)
                            .unwrap_or_else(default_cert_dir)
                    };
                    let explicit_default = explicit
                        .as_ref()
                        .filter(|(name, _)| name == DEFAULT_CONTEXT)
                        .map(|(name, chosen_by)| ContextRef {
                            name: name.clone(),
                            chosen_by: chosen_by.clone(),
                            meta_file: None,
                        });
                    let docker_host = get("DOCKER_HOST")
                        .filter(|_| explicit.is_none() || explicit_default.is_some());
                    if let Some(h) = docker_host {
                        // As the docker CLI: a set DOCKER_HOST means the default context.
                        let source = match (&explicit_default, get("DOCKER_CONTEXT")) {
                            (Some(c), _) => {
                                format!("DOCKER_HOST; context `default` from {}", c.chosen_by)
                            }
                            (None, Some(c)) => {
                                format!("DOCKER_HOST (which wins over DOCKER_CONTEXT={c:?})")
                            }
                            (None, None) => "DOCKER_HOST".to_string(),
                        };
                        (h, source, env_tls(cert_dir()), explicit_default)
                    } else {
                        let dir = config_dir();
                        let selected = match explicit {
                            Some(chosen) => Some(chosen),
                            None => context::select(&get, dir.as_deref())?,
                        };
                        match selected {
                            Some((name, chosen_by)) if name != DEFAULT_CONTEXT => {
                                let dir = dir.ok_or_else(|| {
                                    Error::config(format!(
                                        "docker context {name:?} (from {chosen_by}): cannot find the context store, as neither DOCKER_CONFIG nor HOME is set"
                                    ))
                                })?;
                                let found = context::load(&dir, &name, &chosen_by)?;
                                let source = format!("context `{name}` from {chosen_by}");
                                let context = ContextRef {
                                    name,
                                    chosen_by,
                                    meta_file: Some(found.meta_file),
                                };
                                (found.host, source, found.tls, Some(context))
                            }
                            named_default => {
                                let (url, source) = if tls_on {
                                    (
                                        DEFAULT_TLS_HOST.to_string(),
                                        "default TLS endpoint (DOCKER_TLS_VERIFY or DOCKER_TLS set)",
                                    )
                                } else {
                                    (DEFAULT_DOCKER_HOST.to_string(), "default Docker socket")
                                };
                                let context = named_default.map(|(name, chosen_by)| ContextRef {
                                    name,
                                    chosen_by,
                                    meta_file: None,
                                });
                                let source = match &context {
                                    Some(c) => {
                                        format!("{source}; context `default` from {}", c.chosen_by)
                                    }
                                    None => source.to_string(),
                                };
                                (url, source, env_tls(cert_dir()), context)
                            }
                        }
                    }
                }
            };

        let mut endpoint = Endpoint::parse(&url, tls).map_err(|e| match (&context, e) {
            (
                Some(ContextRef {
                    name,
                    meta_file: Some(meta),
                    ..
                }),
                Error::Config { message },
            ) => Error::config(format!(
                "docker context {name:?}: Endpoints.docker.Host in {}: {message}",
                meta.display()
            )),
            (_, e) => e,
        })?;
        endpoint.runtime = runtime;
        endpoint.api_version = api_version;
        endpoint.source = source;
        endpoint.context = context;
        endpoint.ssh_config = get("TUG_SSH_CONFIG").map(PathBuf::from);
        if runtime == Runtime::Docker {
            endpoint.headers = match get(headers::ENV) {
                Some(v) => CustomHeaders::from_env_value(&v)?,
                None => match config_dir() {
                    Some(dir) => CustomHeaders::from_config_dir(&dir)?,
                    None => CustomHeaders::new(),
                },
            };
        }
        Ok(endpoint)
    }

    /// Parses an endpoint URL (`unix:///path`, `tcp://host[:port]`, `host:port`, or
    /// `ssh://[user@]host[:port][/path/to/socket]`) as `DOCKER_HOST` values are parsed. TLS,
    /// when given, applies to TCP endpoints and picks the default port 2376 instead of 2375.
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
            "ssh" => Address::Ssh(parse_ssh(raw, rest)?),
            "npipe" => {
                return Err(Error::config(format!(
                    "engine address {raw:?}: named pipes exist only on Windows (use unix:// or tcp://)"
                )))
            }
            other => {
                return Err(Error::config(format!(
                    "invalid engine address {raw:?}: unsupported scheme {other:?} (supported: unix://, tcp://, ssh://)"
                )))
            }
        };
        let tls = match address {
            Address::Unix(_) | Address::Ssh(_) => None,
            Address::Tcp { .. } => tls,
        };
        Ok(Endpoint {
            runtime: Runtime::Docker,
            address,
            tls,
            api_version: None,
            url: raw.to_string(),
            source: "given".to_string(),
            context: None,
            ssh_config: None,
            headers: CustomHeaders::new(),
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
            context: None,
            ssh_config: None,
            headers: CustomHeaders::new(),
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

    /// Uses `path` as the ssh client configuration (`ssh -F`) for an `ssh://` endpoint
    /// (builder style).
    pub fn with_ssh_config(mut self, path: impl Into<PathBuf>) -> Endpoint {
        self.ssh_config = Some(path.into());
        self
    }

    /// The `Host` header value for requests on this endpoint.
    pub(crate) fn host_header(&self) -> String {
        match &self.address {
            Address::Unix(_) | Address::Ssh(_) => "localhost".to_string(),
            Address::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
            Address::Tcp { host, port } => format!("{host}:{port}"),
        }
    }
}

/// `[user@]host[:port][/path/to/socket]` after `ssh://`: no password, query or fragment (as
/// the docker CLI's connection helper).
fn parse_ssh(raw: &str, rest: &str) -> Result<SshAddress> {
    let invalid = |why: &str| {
        Error::config(format!(
            "invalid engine address {raw:?}: {why} (expected ssh://[USER@]HOST[:PORT][/PATH/TO/SOCKET])"
        ))
    };
    if rest.contains('?') {
        return Err(invalid("query parameters are not allowed"));
    }
    if rest.contains('#') {
        return Err(invalid("fragments are not allowed"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, hp)) => {
            if u.contains(':') {
                return Err(invalid(
                    "a password in the address is not supported (use ssh keys)",
                ));
            }
            if u.is_empty() {
                return Err(invalid("the user before @ is empty"));
            }
            (Some(percent_decode(u)), hp)
        }
        None => (None, authority),
    };
    let (host, port) = if let Some(after) = hostport.strip_prefix('[') {
        let (h, tail) = after
            .split_once(']')
            .ok_or_else(|| invalid("unclosed [ in an IPv6 address"))?;
        let port = match tail {
            "" => None,
            t => Some(
                t.strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| invalid("bad port"))?,
            ),
        };
        (h.to_string(), port)
    } else {
        match hostport.split_once(':') {
            Some((h, "")) => (h.to_string(), None),
            Some((h, p)) => (
                h.to_string(),
                Some(p.parse().map_err(|_| invalid("bad port"))?),
            ),
            None => (hostport.to_string(), None),
        }
    };
    crate::transport::ssh::check_destination(user.as_deref(), &host)
        .map_err(|why| invalid(&why))?;
    let socket = (!path.trim_matches('/').is_empty()).then(|| PathBuf::from(percent_decode(path)));
    Ok(SshAddress {
        user,
        host,
        port,
        socket,
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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

    fn ssh(user: Option<&str>, host: &str, port: Option<u16>, socket: Option<&str>) -> Address {
        Address::Ssh(SshAddress {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
            socket: socket.map(PathBuf::from),
        })
    }

    #[test]
    fn ssh_addresses_parse_like_docker_host() {
        let e = resolve(&[("DOCKER_HOST", "ssh://root@build.example.com:2222")]).unwrap();
        assert_eq!(
            e.address,
            ssh(Some("root"), "build.example.com", Some(2222), None)
        );
        assert_eq!(e.source, "DOCKER_HOST");
        assert!(e.tls.is_none());
        assert_eq!(e.host_header(), "localhost");
        let e = Endpoint::parse("ssh://build", None).unwrap();
        assert_eq!(e.address, ssh(None, "build", None, None));
        let e = Endpoint::parse("ssh://me@[::1]:22/run/user/1000/docker.sock", None).unwrap();
        assert_eq!(
            e.address,
            ssh(
                Some("me"),
                "::1",
                Some(22),
                Some("/run/user/1000/docker.sock")
            )
        );
        // A bare slash is no socket path; TLS never applies to ssh.
        let tls = TlsSettings::from_dir(Path::new("/certs"), true);
        let e = Endpoint::parse("ssh://h/", Some(tls)).unwrap();
        assert_eq!(e.address, ssh(None, "h", None, None));
        assert!(e.tls.is_none());
    }

    #[test]
    fn bad_ssh_addresses_say_what_is_allowed() {
        for (bad, why) in [
            ("ssh://me:secret@h", "password"),
            ("ssh://", "host name is empty"),
            ("ssh://@h", "user"),
            ("ssh://h:port", "bad port"),
            ("ssh://h?x=1", "query"),
            ("ssh://h#frag", "fragment"),
            ("ssh://-oProxyCommand=x", "cannot start with -"),
            ("ssh://h;touch%20x", "allowed are ASCII letters"),
            ("ssh://me%3Bx@h", "the user \"me;x\" contains ';'"),
        ] {
            let err = Endpoint::parse(bad, None).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::Config { .. }), "{bad}: {msg}");
            assert!(msg.contains(why), "{bad}: {msg}");
            assert!(msg.contains("ssh://[USER@]HOST"), "{bad}: {msg}");
        }
    }

    #[test]
    fn tug_ssh_config_is_carried() {
        let e = resolve(&[
            ("DOCKER_HOST", "ssh://h"),
            ("TUG_SSH_CONFIG", "/rig/ssh_config"),
        ])
        .unwrap();
        assert_eq!(e.ssh_config, Some(PathBuf::from("/rig/ssh_config")));
        assert_eq!(
            resolve(&[("DOCKER_HOST", "ssh://h")]).unwrap().ssh_config,
            None
        );
    }

    fn for_context(name: &str, vars: &[(&str, &str)]) -> Result<Endpoint> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Endpoint::for_context(name, "--context", |k| map.get(k).cloned())
    }

    #[test]
    fn an_explicit_context_wins_over_docker_host_docker_context_and_current_context() {
        let cfg = context_config(Some("builder"));
        let d = cfg.path().to_str().unwrap();
        let e = for_context(
            "remote",
            &[
                ("DOCKER_CONFIG", d),
                ("DOCKER_HOST", "unix:///elsewhere.sock"),
                ("DOCKER_CONTEXT", "builder"),
            ],
        )
        .unwrap();
        assert_eq!(e.url, "tcp://10.0.0.9:2376");
        assert_eq!(e.source, "context `remote` from --context");
        assert!(e.tls.expect("the context's TLS").verify);
        let c = e.context.unwrap();
        assert_eq!(
            (c.name.as_str(), c.chosen_by.as_str()),
            ("remote", "--context")
        );
    }

    #[test]
    fn an_explicit_default_context_is_the_environment_without_contexts() {
        let cfg = context_config(Some("builder"));
        let d = cfg.path().to_str().unwrap();
        // DOCKER_HOST applies (the default context is made from it) ...
        let e = for_context(
            "default",
            &[
                ("DOCKER_CONFIG", d),
                ("DOCKER_HOST", "unix:///elsewhere.sock"),
                ("DOCKER_CONTEXT", "remote"),
            ],
        )
        .unwrap();
        assert_eq!(e.url, "unix:///elsewhere.sock");
        assert_eq!(e.source, "DOCKER_HOST; context `default` from --context");
        assert_eq!(e.context.unwrap().chosen_by, "--context");
        // ... and without it, the default socket, whatever currentContext says.
        let e = for_context(" default ", &[("DOCKER_CONFIG", d)]).unwrap();
        assert_eq!(e.url, DEFAULT_DOCKER_HOST);
        assert_eq!(
            e.source,
            "default Docker socket; context `default` from --context"
        );
    }

    #[test]
    fn an_explicit_context_that_is_missing_empty_or_in_podman_mode_is_an_error() {
        let cfg = context_config(None);
        let d = cfg.path().to_str().unwrap();
        let msg = for_context("ghost", &[("DOCKER_CONFIG", d)])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("\"ghost\""), "{msg}");
        assert!(msg.contains("from --context"), "{msg}");
        let msg = for_context("  ", &[("DOCKER_CONFIG", d)])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("--context needs a context name"), "{msg}");
        let msg = for_context(
            "remote",
            &[("DOCKER_CONFIG", d), ("DAGU_CONTAINER_RUNTIME", "podman")],
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("do not apply in Podman mode"), "{msg}");
        assert!(msg.contains("DAGU_PODMAN_HOST"), "{msg}");
    }

    #[test]
    fn custom_headers_from_the_variable_replace_those_of_config_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"HttpHeaders":{"X-From-File":"f"}}"#,
        )
        .unwrap();
        let d = dir.path().to_str().unwrap();
        let names = |e: &Endpoint| e.headers.names().map(str::to_string).collect::<Vec<_>>();
        let e = resolve(&[("DOCKER_CONFIG", d)]).unwrap();
        assert_eq!(names(&e), ["X-From-File"]);
        let e = resolve(&[
            ("DOCKER_CONFIG", d),
            ("DOCKER_CUSTOM_HEADERS", "X-From-Env=e"),
        ])
        .unwrap();
        assert_eq!(names(&e), ["X-From-Env"]);
        assert_eq!(e.headers.source(), Some("DOCKER_CUSTOM_HEADERS"));
        // Podman mode does not read Docker's settings.
        let e = resolve(&[
            ("DOCKER_CONFIG", d),
            ("DOCKER_CUSTOM_HEADERS", "X-From-Env=e"),
            ("DAGU_CONTAINER_RUNTIME", "podman"),
        ])
        .unwrap();
        assert!(e.headers.is_empty());
        let err = resolve(&[("DOCKER_CUSTOM_HEADERS", "no-equals")]).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
    }

    fn context_config(current: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        crate::context::tests::write_context(
            dir.path(),
            "remote",
            r#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.0.0.9:2376","SkipTLSVerify":false}}}"#,
            &[("ca.pem", "a"), ("cert.pem", "b"), ("key.pem", "c")],
        );
        crate::context::tests::write_context(
            dir.path(),
            "builder",
            r#"{"Name":"builder","Endpoints":{"docker":{"Host":"ssh://ci@builder:2200"}}}"#,
            &[],
        );
        if let Some(c) = current {
            std::fs::write(
                dir.path().join("config.json"),
                format!(r#"{{"currentContext":"{c}"}}"#),
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn docker_context_supplies_endpoint_and_tls() {
        let cfg = context_config(None);
        let d = cfg.path().to_str().unwrap();
        let e = resolve(&[("DOCKER_CONFIG", d), ("DOCKER_CONTEXT", "remote")]).unwrap();
        assert_eq!(
            e.address,
            Address::Tcp {
                host: "10.0.0.9".into(),
                port: 2376
            }
        );
        assert_eq!(e.url, "tcp://10.0.0.9:2376");
        assert_eq!(e.source, "context `remote` from DOCKER_CONTEXT");
        let tls = e.tls.expect("the context's TLS");
        assert!(tls.verify);
        let id = crate::context::context_id("remote");
        assert_eq!(
            tls.ca_file,
            cfg.path()
                .join("contexts/tls")
                .join(&id)
                .join("docker/ca.pem")
        );
        let c = e.context.expect("context recorded");
        assert_eq!(c.name, "remote");
        assert_eq!(c.chosen_by, "DOCKER_CONTEXT");
        assert_eq!(
            c.meta_file,
            Some(cfg.path().join("contexts/meta").join(&id).join("meta.json"))
        );
    }

    #[test]
    fn current_context_from_config_json_and_ssh_contexts() {
        let cfg = context_config(Some("builder"));
        let d = cfg.path().to_str().unwrap();
        let e = resolve(&[("DOCKER_CONFIG", d)]).unwrap();
        assert_eq!(e.address, ssh(Some("ci"), "builder", Some(2200), None));
        assert_eq!(
            e.source,
            format!(
                "context `builder` from currentContext in {}",
                cfg.path().join("config.json").display()
            )
        );
        // DOCKER_CONTEXT wins over currentContext; HOME/.docker is the default store.
        let home = tempfile::tempdir().unwrap();
        std::fs::rename(cfg.path(), home.path().join(".docker")).unwrap();
        let h = home.path().to_str().unwrap();
        let e = resolve(&[("HOME", h), ("DOCKER_CONTEXT", "remote")]).unwrap();
        assert_eq!(e.context.unwrap().name, "remote");
    }

    #[test]
    fn docker_host_wins_over_contexts() {
        let cfg = context_config(Some("builder"));
        let d = cfg.path().to_str().unwrap();
        let e = resolve(&[
            ("DOCKER_CONFIG", d),
            ("DOCKER_CONTEXT", "remote"),
            ("DOCKER_HOST", "unix:///tmp/d.sock"),
        ])
        .unwrap();
        assert_eq!(e.address, Address::Unix("/tmp/d.sock".into()));
        assert!(e.context.is_none());
        assert!(e.source.starts_with("DOCKER_HOST"), "{}", e.source);
        assert!(
            e.source.contains("DOCKER_CONTEXT=\"remote\""),
            "{}",
            e.source
        );
        let e = resolve(&[("DOCKER_CONFIG", d), ("DOCKER_HOST", "tcp://h:1")]).unwrap();
        assert_eq!(e.source, "DOCKER_HOST");
    }

    #[test]
    fn the_default_context_is_the_environment() {
        let cfg = context_config(Some("default"));
        let d = cfg.path().to_str().unwrap();
        let e = resolve(&[("DOCKER_CONFIG", d)]).unwrap();
        assert_eq!(e.address, Address::Unix("/var/run/docker.sock".into()));
        let c = e.context.expect("named default recorded");
        assert_eq!(c.name, "default");
        assert_eq!(c.meta_file, None);
        assert!(
            e.source.contains("context `default` from currentContext"),
            "{}",
            e.source
        );
        // With the default context, the TLS variables apply as usual.
        let e = resolve(&[
            ("DOCKER_CONFIG", d),
            ("DOCKER_CONTEXT", "default"),
            ("DOCKER_TLS_VERIFY", "1"),
        ])
        .unwrap();
        assert_eq!(e.url, DEFAULT_TLS_HOST);
        assert_eq!(e.tls.unwrap().ca_file, cfg.path().join("ca.pem"));
    }

    #[test]
    fn context_tls_replaces_the_tls_variables() {
        let cfg = context_config(None);
        let d = cfg.path().to_str().unwrap();
        let e = resolve(&[
            ("DOCKER_CONFIG", d),
            ("DOCKER_CONTEXT", "builder"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ])
        .unwrap();
        assert!(e.tls.is_none(), "an ssh context has no TLS");
    }

    #[test]
    fn a_missing_context_is_an_error_naming_it_and_where_it_looked() {
        let cfg = context_config(Some("gone"));
        let d = cfg.path().to_str().unwrap();
        let msg = resolve(&[("DOCKER_CONFIG", d)]).unwrap_err().to_string();
        assert!(msg.contains("\"gone\""), "{msg}");
        assert!(msg.contains("from currentContext in"), "{msg}");
        assert!(
            msg.contains(&cfg.path().join("contexts/meta").display().to_string()),
            "{msg}"
        );
        let msg = resolve(&[("DOCKER_CONTEXT", "x")]).unwrap_err().to_string();
        assert!(msg.contains("neither DOCKER_CONFIG nor HOME"), "{msg}");
    }

    #[test]
    fn a_context_with_a_bad_host_names_the_context_file() {
        let dir = tempfile::tempdir().unwrap();
        crate::context::tests::write_context(
            dir.path(),
            "odd",
            r#"{"Endpoints":{"docker":{"Host":"ftp://x"}}}"#,
            &[],
        );
        let d = dir.path().to_str().unwrap();
        let msg = resolve(&[("DOCKER_CONFIG", d), ("DOCKER_CONTEXT", "odd")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("\"odd\""), "{msg}");
        assert!(msg.contains("Endpoints.docker.Host"), "{msg}");
        assert!(msg.contains("meta.json"), "{msg}");
    }

    #[test]
    fn podman_mode_ignores_contexts() {
        let cfg = context_config(Some("remote"));
        let d = cfg.path().to_str().unwrap();
        let e = resolve(&[
            ("DAGU_CONTAINER_RUNTIME", "podman"),
            ("DOCKER_CONFIG", d),
            ("DOCKER_CONTEXT", "builder"),
        ])
        .unwrap();
        assert_eq!(e.address, Address::Unix("/run/podman/podman.sock".into()));
        assert!(e.context.is_none());
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
