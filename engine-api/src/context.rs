//! Docker contexts: named endpoints stored beside `config.json`, resolved as the docker CLI does.
//!
//! Which context applies (Docker mode only; [`crate::endpoint`] calls this):
//!
//! 1. `DOCKER_HOST` set: no context; the ordinary environment resolution runs (the docker CLI
//!    treats a set `DOCKER_HOST` as the `default` context, even when `DOCKER_CONTEXT` is set).
//! 2. `DOCKER_CONTEXT`, when non-empty.
//! 3. `currentContext` in `config.json` (in `$DOCKER_CONFIG`, else `~/.docker`).
//! 4. None of these: the `default` context.
//!
//! The name `default` always means the ordinary environment resolution (`DOCKER_HOST` unset:
//! the default socket, or the default TLS endpoint with `DOCKER_TLS_VERIFY`). Any other name is
//! looked up in the context store, keyed by the SHA-256 of the name:
//!
//! * `contexts/meta/<sha256(name)>/meta.json`: `Endpoints.docker.Host` (any address
//!   `DOCKER_HOST` accepts: `unix://`, `tcp://`, `ssh://`) and `Endpoints.docker.SkipTLSVerify`;
//! * `contexts/tls/<sha256(name)>/docker/{ca.pem,cert.pem,key.pem}`: the TLS material, used for
//!   `tcp://` hosts. With TLS files or `SkipTLSVerify` the connection uses TLS; the server is
//!   verified against `ca.pem` (the system's trust store when the context has no `ca.pem`, as
//!   in the docker CLI) unless `SkipTLSVerify` is true. A context's TLS replaces
//!   `DOCKER_TLS_VERIFY`, `DOCKER_TLS` and `DOCKER_CERT_PATH`, which apply to the default
//!   context only (as in the docker CLI).
//!
//! A context that does not exist is an error naming the context, where its name came from and
//! the file that was looked for; it never falls back to the default socket.
//!
//! ```no_run
//! # fn demo() -> engine_api::Result<()> {
//! // DOCKER_CONTEXT=build-host, or `docker context use build-host` beforehand.
//! let endpoint = engine_api::Endpoint::from_env()?;
//! if let Some(context) = &endpoint.context {
//!     // "build-host", "DOCKER_CONTEXT", and the meta.json it came from.
//!     let _ = (&context.name, &context.chosen_by, &context.meta_file);
//! }
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::endpoint::TlsSettings;
use crate::error::{Error, Result};

/// The name of the context that means "the environment, or the default socket".
pub const DEFAULT_CONTEXT: &str = "default";

/// The Docker context an endpoint came from, for `tug engine info` and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextRef {
    /// The context's name.
    pub name: String,
    /// Why this context applies: `DOCKER_CONTEXT`, or `currentContext in /root/.docker/config.json`.
    pub chosen_by: String,
    /// The context's `meta.json` (`None` for the `default` context, which has none).
    pub meta_file: Option<PathBuf>,
}

/// A context's Docker endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContextEndpoint {
    /// `Endpoints.docker.Host`.
    pub(crate) host: String,
    /// TLS for the endpoint, when the context has TLS files or skips verification.
    pub(crate) tls: Option<TlsSettings>,
    /// The `meta.json` it was read from.
    pub(crate) meta_file: PathBuf,
}

/// The directory name of a context in the store: the hex SHA-256 of its name.
pub fn context_id(name: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest.as_ref() {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// The context selected by `DOCKER_CONTEXT` or `currentContext`, with why; `None` when neither
/// names one. `get` returns non-empty environment values only. Call this only when
/// `DOCKER_HOST` is unset.
pub(crate) fn select(
    get: &dyn Fn(&str) -> Option<String>,
    config_dir: Option<&Path>,
) -> Result<Option<(String, String)>> {
    if let Some(name) = get("DOCKER_CONTEXT") {
        return Ok(Some((
            name.trim().to_string(),
            "DOCKER_CONTEXT".to_string(),
        )));
    }
    let Some(dir) = config_dir else {
        return Ok(None);
    };
    let path = dir.join("config.json");
    // As the docker CLI, which warns and goes on: a config.json that cannot be read (a
    // root-owned ~/.docker left by `sudo docker`, say) or parsed selects no context. The
    // reason is kept as what chose the default, so `tug engine info` shows it.
    let unusable = |why: String| {
        Ok(Some((
            DEFAULT_CONTEXT.to_string(),
            format!("no usable config.json: {why}"),
        )))
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return unusable(format!("cannot read {}: {e}", path.display())),
    };
    let doc: serde_json::Value = match serde_json::from_str(&text) {
        Ok(d) => d,
        Err(e) => {
            return unusable(format!(
                "{} is not valid JSON (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        }
    };
    match doc.get("currentContext") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some((
            s.trim().to_string(),
            format!("currentContext in {}", path.display()),
        ))),
        Some(other) => Err(Error::config(format!(
            "currentContext in {} must be a string (a context name), not {other}",
            path.display()
        ))),
    }
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Endpoints", default)]
    endpoints: std::collections::HashMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct DockerEndpointMeta {
    #[serde(rename = "Host", default)]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// Reads the context `name` from the store under `config_dir`. `chosen_by` says where the name
/// came from, for the error when the context does not exist.
pub(crate) fn load(config_dir: &Path, name: &str, chosen_by: &str) -> Result<ContextEndpoint> {
    let id = context_id(name);
    let meta_file = config_dir
        .join("contexts")
        .join("meta")
        .join(&id)
        .join("meta.json");
    let text = match std::fs::read_to_string(&meta_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::config(format!(
                "docker context {name:?} (from {chosen_by}) does not exist: no {} (create it with `docker context create {name}`, or choose another context)",
                meta_file.display()
            )))
        }
        Err(e) => {
            return Err(Error::io(
                format!(
                    "cannot read docker context {name:?}: {}",
                    meta_file.display()
                ),
                e,
            ))
        }
    };
    let meta: Meta = serde_json::from_str(&text).map_err(|e| {
        Error::config(format!(
            "docker context {name:?}: {} is not valid context metadata (line {}, column {}: {e})",
            meta_file.display(),
            e.line(),
            e.column()
        ))
    })?;
    let docker = match meta.endpoints.get("docker") {
        Some(v) => DockerEndpointMeta::deserialize(v).map_err(|e| {
            Error::config(format!(
                "docker context {name:?}: Endpoints.docker in {} is not valid ({e})",
                meta_file.display()
            ))
        })?,
        None => {
            return Err(Error::config(format!(
                "docker context {name:?} has no Endpoints.docker in {}",
                meta_file.display()
            )))
        }
    };
    let host = docker
        .host
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::config(format!(
                "docker context {name:?} has no Endpoints.docker.Host in {}",
                meta_file.display()
            ))
        })?;

    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&id)
        .join("docker");
    let settings = TlsSettings::from_dir(&tls_dir, !docker.skip_tls_verify);
    let has_files = [&settings.ca_file, &settings.cert_file, &settings.key_file]
        .iter()
        .any(|f| f.exists());
    // TLS files without a ca.pem verify against the system's trust store, as the docker CLI.
    let tls = (has_files || docker.skip_tls_verify).then_some(settings);
    Ok(ContextEndpoint {
        host,
        tls,
        meta_file,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a context the way `docker context create` lays it out.
    pub(crate) fn write_context(config: &Path, name: &str, meta: &str, tls: &[(&str, &str)]) {
        let id = context_id(name);
        let dir = config.join("contexts/meta").join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("meta.json"), meta).unwrap();
        if !tls.is_empty() {
            let t = config.join("contexts/tls").join(&id).join("docker");
            std::fs::create_dir_all(&t).unwrap();
            for (f, body) in tls {
                std::fs::write(t.join(f), body).unwrap();
            }
        }
    }

    #[test]
    fn context_ids_are_the_sha256_of_the_name() {
        // `docker context create remote` stores it under this directory.
        assert_eq!(
            context_id("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
        assert_eq!(context_id("").len(), 64);
    }

    #[test]
    fn docker_context_wins_over_current_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"cfg"}"#,
        )
        .unwrap();
        let get = |k: &str| (k == "DOCKER_CONTEXT").then(|| "env".to_string());
        let got = select(&get, Some(dir.path())).unwrap();
        assert_eq!(got, Some(("env".into(), "DOCKER_CONTEXT".into())));
        let none = |_: &str| None;
        let (name, why) = select(&none, Some(dir.path())).unwrap().unwrap();
        assert_eq!(name, "cfg");
        assert_eq!(
            why,
            format!(
                "currentContext in {}",
                dir.path().join("config.json").display()
            )
        );
    }

    #[test]
    fn no_config_file_or_no_current_context_selects_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        assert_eq!(select(&none, Some(dir.path())).unwrap(), None);
        assert_eq!(select(&none, None).unwrap(), None);
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{},"currentContext":""}"#,
        )
        .unwrap();
        assert_eq!(select(&none, Some(dir.path())).unwrap(), None);
    }

    #[test]
    fn a_broken_config_json_selects_the_default_and_says_why() {
        // As the docker CLI (which warns and goes on): no context, the reason kept.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{ nope").unwrap();
        let none = |_: &str| None;
        let (name, why) = select(&none, Some(dir.path())).unwrap().unwrap();
        assert_eq!(name, DEFAULT_CONTEXT);
        assert!(why.contains("config.json"), "{why}");
        assert!(why.contains("line 1"), "{why}");
        // A currentContext of the wrong type is still an error naming it.
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext":3}"#).unwrap();
        let msg = select(&none, Some(dir.path())).unwrap_err().to_string();
        assert!(msg.contains("currentContext"), "{msg}");
    }

    #[test]
    fn load_reads_host_and_tls() {
        let dir = tempfile::tempdir().unwrap();
        write_context(
            dir.path(),
            "remote",
            r#"{"Name":"remote","Metadata":{},"Endpoints":{"docker":{"Host":"tcp://10.1.2.3:2376","SkipTLSVerify":false}}}"#,
            &[("ca.pem", "x"), ("cert.pem", "y"), ("key.pem", "z")],
        );
        let ep = load(dir.path(), "remote", "DOCKER_CONTEXT").unwrap();
        assert_eq!(ep.host, "tcp://10.1.2.3:2376");
        let tls = ep.tls.unwrap();
        assert!(tls.verify);
        let tls_dir = dir
            .path()
            .join("contexts/tls")
            .join(context_id("remote"))
            .join("docker");
        assert_eq!(tls.ca_file, tls_dir.join("ca.pem"));
        assert_eq!(tls.key_file, tls_dir.join("key.pem"));
        assert!(ep.meta_file.ends_with("meta.json"));
    }

    #[test]
    fn no_tls_files_and_no_skip_means_plain() {
        let dir = tempfile::tempdir().unwrap();
        write_context(
            dir.path(),
            "plain",
            r#"{"Name":"plain","Endpoints":{"docker":{"Host":"tcp://h:2375"}}}"#,
            &[],
        );
        assert_eq!(load(dir.path(), "plain", "x").unwrap().tls, None);
    }

    #[test]
    fn skip_tls_verify_turns_tls_on_without_verification() {
        let dir = tempfile::tempdir().unwrap();
        write_context(
            dir.path(),
            "skip",
            r#"{"Name":"skip","Endpoints":{"docker":{"Host":"tcp://h:2376","SkipTLSVerify":true}}}"#,
            &[],
        );
        let tls = load(dir.path(), "skip", "x").unwrap().tls.unwrap();
        assert!(!tls.verify);
    }

    #[test]
    fn tls_files_without_a_ca_verify_against_the_system_store() {
        let dir = tempfile::tempdir().unwrap();
        write_context(
            dir.path(),
            "noca",
            r#"{"Name":"noca","Endpoints":{"docker":{"Host":"tcp://h:2376"}}}"#,
            &[("cert.pem", "y"), ("key.pem", "z")],
        );
        let tls = load(dir.path(), "noca", "x").unwrap().tls.unwrap();
        assert!(tls.verify);
        assert!(tls.uses_system_roots());
    }

    #[test]
    fn a_missing_context_names_it_the_source_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path(), "ghost", "DOCKER_CONTEXT").unwrap_err();
        assert!(matches!(err, Error::Config { .. }));
        let msg = err.to_string();
        assert!(msg.contains("\"ghost\""), "{msg}");
        assert!(msg.contains("from DOCKER_CONTEXT"), "{msg}");
        assert!(msg.contains(&context_id("ghost")), "{msg}");
        assert!(msg.contains("meta.json"), "{msg}");
    }

    #[test]
    fn bad_metadata_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_context(dir.path(), "bad", "not json", &[]);
        let msg = load(dir.path(), "bad", "x").unwrap_err().to_string();
        assert!(msg.contains("meta.json"), "{msg}");
        write_context(dir.path(), "nodocker", r#"{"Endpoints":{}}"#, &[]);
        let msg = load(dir.path(), "nodocker", "x").unwrap_err().to_string();
        assert!(msg.contains("Endpoints.docker"), "{msg}");
        write_context(
            dir.path(),
            "nohost",
            r#"{"Endpoints":{"docker":{"Host":""}}}"#,
            &[],
        );
        let msg = load(dir.path(), "nohost", "x").unwrap_err().to_string();
        assert!(msg.contains("Endpoints.docker.Host"), "{msg}");
    }
}
