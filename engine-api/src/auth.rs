//! Registry credentials: the [`RegistryAuth`] a pull or push sends, and the [`CredentialStore`]
//! that finds it for a registry the way the docker CLI does.
//!
//! # The header
//!
//! Pull and push carry credentials in `X-Registry-Auth`: the auth config as JSON, encoded
//! **base64url with padding**. The alphabet matters: Docker decodes the header with the URL-safe
//! alphabet, ignores a decoding failure and pulls anonymously, so a password whose standard
//! encoding contains `+` or `/` would silently stop working; Podman answers 400 instead.
//! [`RegistryAuth::encode`] gets it right.
//!
//! # Where credentials come from
//!
//! [`CredentialStore::resolve`] asks, in order, and takes the first source that has an entry for
//! the registry:
//!
//! 1. explicit entries given by the caller (a workflow's `registry_auths`): `{username,
//!    password}`, `{auth: base64(user:pass)}`, a bare base64 `user:pass` string, or a whole
//!    `{"auths": …}` document;
//! 2. a `DOCKER_AUTH_CONFIG`-style JSON document (a `config.json`: `auths`, and also
//!    `credHelpers`/`credsStore` if it has them);
//! 3. `config.json` in `$DOCKER_CONFIG`, else `~/.docker`: `credHelpers[registry]`, then
//!    `credsStore`, then the inline `auths` entry. Helpers run as `docker-credential-<name>
//!    get`, with the server URL on stdin and `{ServerURL, Username, Secret}` on stdout; a
//!    `Username` of `<token>` means `Secret` is an identity token; "credentials not found"
//!    means no entry.
//!
//! Keys match a registry host `h` when they are `h` itself, `https://h` or `http://h` (with any
//! path, like `https://h/v1/`), or `h` without its port; Docker Hub answers to `docker.io`,
//! `index.docker.io`, `registry-1.docker.io` and `https://index.docker.io/v1/` alike.
//!
//! The environment (variables, home directory, `PATH` for helpers) is read through
//! [`AuthEnvironment`], so tests and embedders can supply their own.
//!
//! # Secrets
//!
//! Passwords, tokens and the encoded header never appear in `Debug` output or in errors: an
//! [`Error::Auth`] says which registry and what went wrong, never the value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http::HeaderValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::reference::{
    credential_key, is_docker_hub_host, normalize_registry, registry_of, strip_scheme_and_path,
};

/// The header pulls and pushes carry credentials in.
pub const REGISTRY_AUTH_HEADER: &str = "x-registry-auth";

/// The header builds carry credentials for several registries in.
pub const REGISTRY_CONFIG_HEADER: &str = "x-registry-config";

/// `{}` encoded: what the docker CLI sends when it has no credentials (Docker refuses a push
/// without the header).
pub const EMPTY_AUTH: &str = "e30=";

/// The `Username` a credential helper returns for an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// How long a credential helper may take.
const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of a helper's output is read (its answer is a small JSON object).
const MAX_HELPER_OUTPUT: u64 = 1 << 20;

/// Credentials for one registry, as sent to the engine.
///
/// Construct with [`RegistryAuth::basic`] or [`RegistryAuth::identity_token`]. `Debug` shows the
/// user name and server, never the password or token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RegistryAuth {
    username: Option<String>,
    password: Option<String>,
    identity_token: Option<String>,
    registry_token: Option<String>,
    server_address: Option<String>,
    source: Option<CredentialSource>,
}

/// Where a resolved credential came from, for messages ("the password from
/// ~/.docker/config.json was rejected").
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSource {
    /// Given by the caller (a workflow's `registry_auths`).
    Explicit,
    /// The `DOCKER_AUTH_CONFIG` document.
    DockerAuthConfig,
    /// An `auths` entry of this `config.json`.
    ConfigFile(PathBuf),
    /// The `docker-credential-<name>` helper.
    Helper(String),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialSource::Explicit => f.write_str("the explicit registry credentials"),
            CredentialSource::DockerAuthConfig => f.write_str("DOCKER_AUTH_CONFIG"),
            CredentialSource::ConfigFile(p) => write!(f, "{}", p.display()),
            CredentialSource::Helper(name) => write!(f, "docker-credential-{name}"),
        }
    }
}

/// The JSON the engine decodes (Docker's `AuthConfig`); empty fields are left out.
#[derive(Serialize)]
struct AuthConfigJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serveraddress: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identitytoken: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registrytoken: Option<&'a str>,
}

impl RegistryAuth {
    /// A user name and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> RegistryAuth {
        RegistryAuth {
            username: Some(username.into()),
            password: Some(password.into()),
            ..RegistryAuth::default()
        }
    }

    /// An identity (refresh) token, as `docker login` stores for OAuth registries.
    pub fn identity_token(token: impl Into<String>) -> RegistryAuth {
        RegistryAuth {
            identity_token: Some(token.into()),
            ..RegistryAuth::default()
        }
    }

    /// A bearer token sent to the registry as is.
    pub fn registry_token(token: impl Into<String>) -> RegistryAuth {
        RegistryAuth {
            registry_token: Some(token.into()),
            ..RegistryAuth::default()
        }
    }

    /// Sets the server address (`serveraddress`; `https://index.docker.io/v1/` for Docker Hub).
    pub fn with_server_address(mut self, address: impl Into<String>) -> RegistryAuth {
        self.server_address = Some(address.into());
        self
    }

    /// Sets the user name (an identity token may come with one).
    pub fn with_username(mut self, username: impl Into<String>) -> RegistryAuth {
        self.username = Some(username.into());
        self
    }

    /// Decodes a `config.json` style `auth` value: base64 of `user:password` (the standard
    /// alphabet as Docker writes it; URL-safe and unpadded forms are accepted too).
    ///
    /// # Errors
    ///
    /// [`Error::Auth`] for `registry` if the value is not base64 of `user:password`; the
    /// message never contains the value.
    pub fn from_auth_field(registry: &str, auth: &str) -> Result<RegistryAuth> {
        let auth = auth.trim();
        let decoded = [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(auth).ok())
            .ok_or_else(|| auth_error(registry, "the `auth` value is not valid base64"))?;
        let text = String::from_utf8(decoded)
            .map_err(|_| auth_error(registry, "the decoded `auth` value is not UTF-8"))?;
        let (user, pass) = text.split_once(':').ok_or_else(|| {
            auth_error(
                registry,
                "the decoded `auth` value is not of the form user:password",
            )
        })?;
        if user.is_empty() {
            return Err(auth_error(
                registry,
                "the decoded `auth` value has an empty user name",
            ));
        }
        Ok(RegistryAuth::basic(
            user,
            pass.trim_end_matches(['\n', '\r']),
        ))
    }

    /// The user name.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The identity token.
    pub fn identity_token_value(&self) -> Option<&str> {
        self.identity_token.as_deref()
    }

    /// The registry token.
    pub fn registry_token_value(&self) -> Option<&str> {
        self.registry_token.as_deref()
    }

    /// The server address.
    pub fn server_address(&self) -> Option<&str> {
        self.server_address.as_deref()
    }

    /// Where the credential came from, when a [`CredentialStore`] found it.
    pub fn source(&self) -> Option<&CredentialSource> {
        self.source.as_ref()
    }

    /// True when there is nothing to send (no user name, password or token).
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.password.is_none()
            && self.identity_token.is_none()
            && self.registry_token.is_none()
    }

    fn json(&self) -> AuthConfigJson<'_> {
        fn nonempty(s: &Option<String>) -> Option<&str> {
            s.as_deref().filter(|s| !s.is_empty())
        }
        AuthConfigJson {
            username: nonempty(&self.username),
            password: nonempty(&self.password),
            serveraddress: nonempty(&self.server_address),
            identitytoken: nonempty(&self.identity_token),
            registrytoken: nonempty(&self.registry_token),
        }
    }

    /// The `X-Registry-Auth` value: the JSON auth config, base64url-encoded with padding.
    pub fn encode(&self) -> String {
        // Serialising strings into a map cannot fail.
        let json = serde_json::to_vec(&self.json()).unwrap_or_else(|_| b"{}".to_vec());
        URL_SAFE.encode(json)
    }

    /// [`encode`](Self::encode) as a header value, marked sensitive.
    pub fn header_value(&self) -> HeaderValue {
        // base64url is always a valid header value.
        let mut v = HeaderValue::from_str(&self.encode())
            .unwrap_or_else(|_| HeaderValue::from_static(EMPTY_AUTH));
        v.set_sensitive(true);
        v
    }
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("identity_token", &redacted(&self.identity_token))
            .field("registry_token", &redacted(&self.registry_token))
            .field("server_address", &self.server_address)
            .field("source", &self.source)
            .finish()
    }
}

/// Encodes an `X-Registry-Config` value for a build: a JSON map of registry → auth config,
/// base64url-encoded with padding. Docker Hub must be keyed `https://index.docker.io/v1/`;
/// keys are passed through [`credential_key`] so `docker.io` works too.
pub fn encode_registry_config<'a>(
    auths: impl IntoIterator<Item = (&'a str, &'a RegistryAuth)>,
) -> String {
    let map: BTreeMap<&str, AuthConfigJson<'_>> = auths
        .into_iter()
        .map(|(registry, auth)| (credential_key(registry), auth.json()))
        .collect();
    URL_SAFE.encode(serde_json::to_vec(&map).unwrap_or_else(|_| b"{}".to_vec()))
}

fn auth_error(registry: &str, message: impl Into<String>) -> Error {
    Error::Auth {
        registry: registry.to_string(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The environment

/// What credential resolution reads from its surroundings. The default,
/// [`ProcessEnvironment`], reads the process's; [`MapEnvironment`] is a fixed map for tests and
/// embedders that manage their own.
pub trait AuthEnvironment: fmt::Debug + Send + Sync {
    /// An environment variable (`DOCKER_AUTH_CONFIG`, `DOCKER_CONFIG`, `HOME`, `PATH`).
    fn var(&self, name: &str) -> Option<String>;

    /// The home directory (`~`), by default `$HOME`.
    fn home_dir(&self) -> Option<PathBuf> {
        self.var("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
    }
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl AuthEnvironment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables.
#[derive(Debug, Clone, Default)]
pub struct MapEnvironment {
    vars: BTreeMap<String, String>,
}

impl MapEnvironment {
    /// No variables at all (no home, no `PATH`).
    pub fn new() -> MapEnvironment {
        MapEnvironment::default()
    }

    /// Sets a variable (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> MapEnvironment {
        self.vars.insert(name.into(), value.into());
        self
    }
}

impl AuthEnvironment for MapEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

// ---------------------------------------------------------------------------------------------
// config.json

/// The parts of a `config.json` (or `DOCKER_AUTH_CONFIG`) that hold credentials. Values are
/// kept as JSON so one odd entry does not hide the others.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, Value>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

/// How well a stored key matches a registry host; lower is better, `None` is no match.
fn match_rank(key: &str, registry: &str) -> Option<u8> {
    let key_trim = key.trim();
    if key_trim.eq_ignore_ascii_case(registry)
        || (is_docker_hub_host(registry) && key_trim == credential_key(registry))
    {
        return Some(0);
    }
    let key_host = normalize_registry(key_trim);
    let wanted = normalize_registry(registry);
    if key_host == wanted {
        return Some(1);
    }
    // The registry without its port (`myreg:5000` → `myreg`).
    let without_port = match wanted.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.trim_start_matches('[').trim_end_matches(']')
        }
        _ => return None,
    };
    (key_host == without_port).then_some(2)
}

/// The best-matching entry for `registry` among `(key, value)` pairs, first one on ties.
fn best_match<'a, T>(
    entries: impl IntoIterator<Item = (&'a str, T)>,
    registry: &str,
) -> Option<(&'a str, T)> {
    let mut best: Option<(u8, &'a str, T)> = None;
    for (key, value) in entries {
        if let Some(rank) = match_rank(key, registry) {
            if best.as_ref().is_none_or(|(r, _, _)| rank < *r) {
                best = Some((rank, key, value));
            }
        }
    }
    best.map(|(_, k, v)| (k, v))
}

/// Reads one credential entry in any of the accepted forms. `Ok(None)` for an empty
/// placeholder (`{}`, as `config.json` holds when a credential store keeps the secret).
fn entry_from_value(registry: &str, value: &Value) -> Result<Option<RegistryAuth>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => RegistryAuth::from_auth_field(registry, s).map(Some),
        Value::Object(map) => {
            let field = |name: &str| -> Result<Option<String>> {
                match map.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) if s.is_empty() => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(auth_error(
                        registry,
                        format!("the `{name}` field of its entry must be a string"),
                    )),
                }
            };
            let mut auth = match field("auth")? {
                Some(encoded) => RegistryAuth::from_auth_field(registry, &encoded)?,
                None => RegistryAuth::default(),
            };
            if let Some(u) = field("username")? {
                auth.username = Some(u);
            }
            if let Some(p) = field("password")? {
                auth.password = Some(p);
            }
            if let Some(t) = field("identitytoken")?.or(field("identityToken")?) {
                auth.identity_token = Some(t);
            }
            if let Some(t) = field("registrytoken")?.or(field("registryToken")?) {
                auth.registry_token = Some(t);
            }
            if auth.is_empty() {
                return Ok(None);
            }
            if auth.password.is_some() && auth.username.is_none() {
                return Err(auth_error(
                    registry,
                    "its entry has a password but no user name",
                ));
            }
            Ok(Some(auth))
        }
        _ => Err(auth_error(
            registry,
            "its entry must be an object ({username, password} or {auth}) or a base64 user:password string",
        )),
    }
}

/// Parses a `config.json`-shaped document. Parse errors carry serde's position, never content.
fn parse_config(what: &str, text: &str, registry: &str) -> Result<ConfigFile> {
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    serde_json::from_str(text).map_err(|e| {
        auth_error(
            registry,
            format!(
                "{what} is not a valid config.json document (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The store

/// Whether and where to read a source.
#[derive(Debug, Clone)]
enum Source<T> {
    /// From the environment (`DOCKER_AUTH_CONFIG`, `DOCKER_CONFIG`/`HOME`).
    FromEnv,
    /// This value instead.
    Given(T),
    /// Not consulted.
    Off,
}

/// Finds credentials for a registry from explicit entries, `DOCKER_AUTH_CONFIG` and
/// `config.json` with credential helpers. See the [module docs](self) for the order and the
/// matching rules.
///
/// ```no_run
/// # async fn demo() -> engine_api::Result<()> {
/// use engine_api::auth::{CredentialStore, RegistryAuth};
///
/// let mut store = CredentialStore::new();
/// store.insert("127.0.0.1:5000", RegistryAuth::basic("tug", "secret"));
/// let auth = store.resolve_for_image("127.0.0.1:5000/tug/busybox:latest").await?;
/// assert!(auth.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CredentialStore {
    explicit: Vec<(String, RegistryAuth)>,
    auth_config: Source<String>,
    config_dir: Source<PathBuf>,
    env: Arc<dyn AuthEnvironment>,
    helper_timeout: Duration,
}

impl Default for CredentialStore {
    fn default() -> CredentialStore {
        CredentialStore::new()
    }
}

impl CredentialStore {
    /// A store reading the process environment, with no explicit entries.
    pub fn new() -> CredentialStore {
        CredentialStore::with_environment(ProcessEnvironment)
    }

    /// A store reading `env` instead of the process environment.
    pub fn with_environment(env: impl AuthEnvironment + 'static) -> CredentialStore {
        CredentialStore {
            explicit: Vec::new(),
            auth_config: Source::FromEnv,
            config_dir: Source::FromEnv,
            env: Arc::new(env),
            helper_timeout: DEFAULT_HELPER_TIMEOUT,
        }
    }

    /// Adds an explicit credential for `registry` (a host, `https://host`, or Docker Hub's
    /// `https://index.docker.io/v1/`). Explicit entries are consulted first.
    pub fn insert(&mut self, registry: impl Into<String>, auth: RegistryAuth) -> &mut Self {
        self.explicit.push((registry.into(), auth));
        self
    }

    /// Adds an explicit entry in any of the workflow forms: `{"username": …, "password": …}`,
    /// `{"auth": "<base64 user:pass>"}`, or a bare base64 `user:pass` string.
    ///
    /// # Errors
    ///
    /// [`Error::Auth`] naming `registry` for a malformed entry (the message never holds the
    /// secret).
    pub fn insert_value(&mut self, registry: &str, value: &Value) -> Result<&mut Self> {
        match entry_from_value(registry, value)? {
            Some(auth) => Ok(self.insert(registry, auth)),
            None => Err(auth_error(registry, "its entry holds no credentials")),
        }
    }

    /// Adds every entry of a whole document: `{"auths": {host: entry, …}}`, or the bare map
    /// `{host: entry, …}`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if `json` is not a JSON object; [`Error::Auth`] for a malformed entry.
    pub fn insert_auths_json(&mut self, json: &str) -> Result<&mut Self> {
        let doc: Value = serde_json::from_str(json).map_err(|e| {
            Error::config(format!(
                "registry auths: not a JSON document (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(mut map) = doc else {
            return Err(Error::config(
                "registry auths: expected a JSON object like {\"auths\": {\"host\": {…}}}",
            ));
        };
        let entries = match map.remove("auths") {
            Some(Value::Object(auths)) => auths,
            Some(_) => {
                return Err(Error::config(
                    "registry auths: `auths` must be an object of host → credentials",
                ))
            }
            None => map,
        };
        for (registry, value) in &entries {
            self.insert_value(registry, value)?;
        }
        Ok(self)
    }

    /// Uses `json` as the `DOCKER_AUTH_CONFIG` document instead of the environment variable;
    /// `None` skips that source.
    pub fn docker_auth_config(&mut self, json: Option<String>) -> &mut Self {
        self.auth_config = json.map_or(Source::Off, Source::Given);
        self
    }

    /// Reads `config.json` from `dir` instead of `$DOCKER_CONFIG` or `~/.docker`; `None` skips
    /// the file and its credential helpers.
    pub fn config_dir(&mut self, dir: Option<PathBuf>) -> &mut Self {
        self.config_dir = dir.map_or(Source::Off, Source::Given);
        self
    }

    /// How long a credential helper may run (default 60 s).
    pub fn helper_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.helper_timeout = timeout;
        self
    }

    /// True when explicit entries were given.
    pub fn has_explicit(&self) -> bool {
        !self.explicit.is_empty()
    }

    /// The `config.json` path this store reads, if any.
    pub fn config_path(&self) -> Option<PathBuf> {
        let dir = match &self.config_dir {
            Source::Off => return None,
            Source::Given(dir) => dir.clone(),
            Source::FromEnv => match self.env.var("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
                Some(dir) => PathBuf::from(dir),
                None => self.env.home_dir()?.join(".docker"),
            },
        };
        Some(dir.join("config.json"))
    }

    /// The credentials for the registry `image` lives in (docker.io normalisation applies).
    ///
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve).
    pub async fn resolve_for_image(&self, image: &str) -> Result<Option<RegistryAuth>> {
        self.resolve(&registry_of(image)).await
    }

    /// The credentials for registry host `registry` (`127.0.0.1:5000`, `docker.io`), from the
    /// first source that has an entry; `Ok(None)` when none has (pull anonymously).
    ///
    /// The result's `serveraddress` is the registry's credential key
    /// (`https://index.docker.io/v1/` for Docker Hub).
    ///
    /// # Errors
    ///
    /// [`Error::Auth`] naming the registry when a source exists but cannot be used: a
    /// malformed entry or document, a credential helper that is missing, fails or times out.
    pub async fn resolve(&self, registry: &str) -> Result<Option<RegistryAuth>> {
        let registry = normalize_registry(registry);
        let server = credential_key(&registry).to_string();
        let finish = |mut auth: RegistryAuth, source: CredentialSource| {
            if auth.server_address.is_none() {
                auth.server_address = Some(server.clone());
            }
            auth.source = Some(source);
            Some(auth)
        };

        if let Some((_, auth)) = best_match(
            self.explicit.iter().map(|(k, a)| (k.as_str(), a)),
            &registry,
        ) {
            return Ok(finish(auth.clone(), CredentialSource::Explicit));
        }

        let auth_config = match &self.auth_config {
            Source::Off => None,
            Source::Given(json) => Some(json.clone()),
            Source::FromEnv => self
                .env
                .var("DOCKER_AUTH_CONFIG")
                .filter(|v| !v.trim().is_empty()),
        };
        if let Some(json) = auth_config {
            let doc = parse_config("DOCKER_AUTH_CONFIG", &json, &registry)?;
            if let Some((auth, source)) = self
                .lookup_document(&doc, &registry, CredentialSource::DockerAuthConfig)
                .await?
            {
                return Ok(finish(auth, source));
            }
        }

        if let Some(path) = self.config_path() {
            let text = match tokio::fs::read_to_string(&path).await {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(auth_error(
                        &registry,
                        format!("cannot read {}: {e}", path.display()),
                    ))
                }
            };
            if let Some(text) = text {
                let what = path.display().to_string();
                let doc = parse_config(&what, &text, &registry)?;
                if let Some((auth, source)) = self
                    .lookup_document(&doc, &registry, CredentialSource::ConfigFile(path))
                    .await?
                {
                    return Ok(finish(auth, source));
                }
            }
        }
        Ok(None)
    }

    /// Looks `registry` up in one `config.json`-shaped document: `credHelpers`, `credsStore`,
    /// then the inline `auths` entry.
    async fn lookup_document(
        &self,
        doc: &ConfigFile,
        registry: &str,
        inline: CredentialSource,
    ) -> Result<Option<(RegistryAuth, CredentialSource)>> {
        let helper = best_match(
            doc.cred_helpers.iter().map(|(k, v)| (k.as_str(), v)),
            registry,
        )
        .map(|(_, name)| name.as_str())
        .or(doc.creds_store.as_deref())
        .filter(|name| !name.trim().is_empty());
        if let Some(name) = helper {
            if let Some(auth) = self.run_helper(name, registry).await? {
                return Ok(Some((auth, CredentialSource::Helper(name.to_string()))));
            }
        }
        if let Some((_, value)) =
            best_match(doc.auths.iter().map(|(k, v)| (k.as_str(), v)), registry)
        {
            if let Some(auth) = entry_from_value(registry, value)? {
                return Ok(Some((auth, inline)));
            }
        }
        Ok(None)
    }

    /// Runs `docker-credential-<name> get` for `registry`.
    async fn run_helper(&self, name: &str, registry: &str) -> Result<Option<RegistryAuth>> {
        let program = format!("docker-credential-{name}");
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(auth_error(
                registry,
                format!("invalid credential helper name {name:?}"),
            ));
        }
        let path = self.find_program(&program).ok_or_else(|| {
            auth_error(
                registry,
                format!("credential helper {program} is not on PATH"),
            )
        })?;
        let server = credential_key(registry);

        let mut cmd = tokio::process::Command::new(&path);
        cmd.arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in ["PATH", "HOME"] {
            if let Some(v) = self.env.var(var) {
                cmd.env(var, v);
            }
        }
        let helper_failed =
            |what: String| auth_error(registry, format!("credential helper {program} {what}"));
        let mut child = cmd
            .spawn()
            .map_err(|e| helper_failed(format!("could not be started: {e}")))?;

        let run = async {
            let mut stdin = child.stdin.take();
            let mut stdout = child.stdout.take();
            let mut stderr = child.stderr.take();
            let write = async {
                if let Some(mut s) = stdin.take() {
                    // A helper that exits without reading stdin is not an error here.
                    let _ = s.write_all(server.as_bytes()).await;
                    let _ = s.shutdown().await;
                }
            };
            let ((), out, err) =
                tokio::join!(write, read_pipe(stdout.take()), read_pipe(stderr.take()));
            let status = child.wait().await;
            (status, out, err)
        };
        let (status, out, err) = tokio::time::timeout(self.helper_timeout, run)
            .await
            .map_err(|_| {
                helper_failed(format!("did not answer within {:?}", self.helper_timeout))
            })?;
        let status = status.map_err(|e| helper_failed(format!("failed: {e}")))?;

        if !status.success() {
            let text = format!(
                "{} {}",
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
            if text.to_ascii_lowercase().contains("credentials not found") {
                return Ok(None);
            }
            let first_line = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .chars()
                .take(200)
                .collect::<String>();
            return Err(helper_failed(if first_line.is_empty() {
                format!("failed ({status})")
            } else {
                format!("failed ({status}): {first_line}")
            }));
        }

        #[derive(Deserialize)]
        struct HelperAnswer {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        // The output holds the secret: never quote it.
        let answer: HelperAnswer = serde_json::from_slice(&out).map_err(|_| {
            helper_failed(
                "answered with something other than {ServerURL, Username, Secret} JSON".into(),
            )
        })?;
        if answer.secret.is_empty() && answer.username.is_empty() {
            return Ok(None);
        }
        Ok(Some(if answer.username == TOKEN_USERNAME {
            RegistryAuth::identity_token(answer.secret)
        } else {
            RegistryAuth::basic(answer.username, answer.secret)
        }))
    }

    /// Finds `program` in the environment's `PATH`.
    fn find_program(&self, program: &str) -> Option<PathBuf> {
        let path = self.env.var("PATH")?;
        std::env::split_paths(&path)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
    }
}

/// Reads a child's pipe to its end, bounded.
async fn read_pipe(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(p) = pipe {
        // A read error leaves what was read; the exit status tells the rest.
        let _ = p.take(MAX_HELPER_OUTPUT).read_to_end(&mut buf).await;
    }
    buf
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}

/// True when `key` (as written in a config) names the same registry as `host`, by the matching
/// rules of this module.
pub fn registry_key_matches(key: &str, host: &str) -> bool {
    match_rank(key, &normalize_registry(strip_scheme_and_path(host))).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(header: &str) -> Value {
        serde_json::from_slice(&URL_SAFE.decode(header).expect("base64url with padding")).unwrap()
    }

    #[test]
    fn header_is_base64url_with_padding() {
        // "??>" encodes to "Pz8+" in standard base64: the password forces both `+` and `/`
        // into the standard encoding somewhere; the header must use `-` and `_` instead.
        let password = "a?>b??~~~";
        let auth = RegistryAuth::basic("tug", password).with_server_address("127.0.0.1:5000");
        let json = serde_json::to_vec(&auth.json()).unwrap();
        let standard = STANDARD.encode(&json);
        assert!(
            standard.contains('+') || standard.contains('/'),
            "test password must exercise the alphabet: {standard}"
        );
        let encoded = auth.encode();
        assert_eq!(encoded, URL_SAFE.encode(&json));
        assert!(
            !encoded.contains('+') && !encoded.contains('/'),
            "{encoded}"
        );
        assert!(encoded.contains('-') || encoded.contains('_'), "{encoded}");
        assert_eq!(encoded.len() % 4, 0, "padded");
        assert_eq!(
            decode(&encoded),
            serde_json::json!({"username":"tug","password":password,"serveraddress":"127.0.0.1:5000"})
        );
        assert!(auth.header_value().is_sensitive());
    }

    #[test]
    fn empty_fields_are_left_out_and_tokens_encode() {
        let auth = RegistryAuth::identity_token("tok").with_server_address(DOCKER_HUB_KEY);
        assert_eq!(
            decode(&auth.encode()),
            serde_json::json!({"identitytoken":"tok","serveraddress":DOCKER_HUB_KEY})
        );
        assert_eq!(RegistryAuth::default().encode(), EMPTY_AUTH);
    }

    const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

    #[test]
    fn debug_never_shows_secrets() {
        let auth = RegistryAuth::basic("tug", "hunter2-secret");
        let dbg = format!("{auth:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("tug") && dbg.contains("<redacted>"), "{dbg}");
        let dbg = format!("{:?}", RegistryAuth::identity_token("tok-secret"));
        assert!(!dbg.contains("tok-secret"), "{dbg}");
    }

    #[test]
    fn auth_field_decoding() {
        let a = RegistryAuth::from_auth_field("r", &STANDARD.encode("u:p:w")).unwrap();
        assert_eq!((a.username(), a.password()), (Some("u"), Some("p:w")));
        let a = RegistryAuth::from_auth_field("r", &URL_SAFE_NO_PAD.encode("u:??>")).unwrap();
        assert_eq!(a.password(), Some("??>"));
        for bad in ["!!!", &STANDARD.encode("nocolon"), &STANDARD.encode(":p")] {
            let e = RegistryAuth::from_auth_field("reg:1", bad).unwrap_err();
            assert!(e.is_unauthorized());
            let msg = e.to_string();
            assert!(msg.contains("reg:1"), "{msg}");
            assert!(!msg.contains("nocolon") && !msg.contains(bad), "{msg}");
        }
    }

    #[test]
    fn host_matching() {
        assert_eq!(match_rank("127.0.0.1:5000", "127.0.0.1:5000"), Some(0));
        assert_eq!(
            match_rank("https://127.0.0.1:5000", "127.0.0.1:5000"),
            Some(1)
        );
        assert_eq!(
            match_rank("http://127.0.0.1:5000/v2/", "127.0.0.1:5000"),
            Some(1)
        );
        assert_eq!(match_rank("127.0.0.1", "127.0.0.1:5000"), Some(2));
        assert_eq!(match_rank("127.0.0.1:5001", "127.0.0.1:5000"), None);
        assert_eq!(match_rank("myreg:5000", "myreg"), None);
        assert_eq!(match_rank("other.io", "ghcr.io"), None);
        for key in [
            DOCKER_HUB_KEY,
            "docker.io",
            "index.docker.io",
            "https://index.docker.io",
        ] {
            assert!(match_rank(key, "docker.io").is_some(), "{key}");
        }
        assert_eq!(match_rank(DOCKER_HUB_KEY, "docker.io"), Some(0));
        assert!(registry_key_matches(
            "https://index.docker.io/v1/",
            "index.docker.io"
        ));
        let entries = [("reg", 1), ("https://reg:5000", 2), ("reg:5000", 3)];
        assert_eq!(best_match(entries, "reg:5000").map(|(_, v)| v), Some(3));
    }

    fn env_without_files() -> MapEnvironment {
        MapEnvironment::new().with("HOME", "/nonexistent-tug-home")
    }

    #[tokio::test]
    async fn explicit_entries_in_every_form() {
        let mut store = CredentialStore::with_environment(env_without_files());
        store
            .insert_value(
                "a.io",
                &serde_json::json!({"username":"ua","password":"pa"}),
            )
            .unwrap();
        store
            .insert_value(
                "b.io",
                &serde_json::json!({"auth": STANDARD.encode("ub:pb")}),
            )
            .unwrap();
        store
            .insert_value("c.io:5000", &Value::String(STANDARD.encode("uc:pc")))
            .unwrap();
        store
            .insert_auths_json(&format!(
                r#"{{"auths":{{"https://d.io":{{"auth":"{}"}},"https://index.docker.io/v1/":{{"username":"hub","password":"ph"}}}}}}"#,
                STANDARD.encode("ud:pd")
            ))
            .unwrap();
        let get = |r: Option<RegistryAuth>| {
            let r = r.expect("found");
            (
                r.username().unwrap().to_string(),
                r.password().unwrap().to_string(),
            )
        };
        assert_eq!(
            get(store.resolve("a.io").await.unwrap()),
            ("ua".into(), "pa".into())
        );
        assert_eq!(
            get(store.resolve("b.io").await.unwrap()),
            ("ub".into(), "pb".into())
        );
        assert_eq!(
            get(store.resolve("c.io:5000").await.unwrap()),
            ("uc".into(), "pc".into())
        );
        assert_eq!(
            get(store.resolve("d.io").await.unwrap()),
            ("ud".into(), "pd".into())
        );
        let hub = store.resolve_for_image("alpine").await.unwrap().unwrap();
        assert_eq!(hub.username(), Some("hub"));
        assert_eq!(hub.server_address(), Some(DOCKER_HUB_KEY));
        assert_eq!(hub.source(), Some(&CredentialSource::Explicit));
        assert!(store.resolve("e.io").await.unwrap().is_none());

        let e = store
            .insert_value("bad.io", &serde_json::json!({"password":"only-secret"}))
            .unwrap_err();
        assert!(e.to_string().contains("bad.io") && !e.to_string().contains("only-secret"));
        assert!(store.insert_auths_json("[1]").is_err());
        let e = store
            .insert_auths_json("{\"auths\": {\"x\": 5")
            .unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[tokio::test]
    async fn docker_auth_config_then_config_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            format!(
                r#"{{"auths":{{"file.io":{{"auth":"{}"}},"both.io":{{"auth":"{}"}},"empty.io":{{}}}}}}"#,
                STANDARD.encode("uf:pf"),
                STANDARD.encode("file:loses"),
            ),
        )
        .unwrap();
        let env = MapEnvironment::new()
            .with("DOCKER_CONFIG", dir.path().to_str().unwrap())
            .with("HOME", "/nonexistent-tug-home")
            .with(
                "DOCKER_AUTH_CONFIG",
                format!(
                    r#"{{"auths":{{"both.io":{{"auth":"{}"}}}}}}"#,
                    STANDARD.encode("env:wins")
                ),
            );
        let store = CredentialStore::with_environment(env);
        assert_eq!(store.config_path().unwrap(), dir.path().join("config.json"));
        let both = store.resolve("both.io").await.unwrap().unwrap();
        assert_eq!(both.username(), Some("env"));
        assert_eq!(both.source(), Some(&CredentialSource::DockerAuthConfig));
        let file = store.resolve("file.io").await.unwrap().unwrap();
        assert_eq!(file.password(), Some("pf"));
        assert_eq!(
            file.source(),
            Some(&CredentialSource::ConfigFile(
                dir.path().join("config.json")
            ))
        );
        assert!(store.resolve("empty.io").await.unwrap().is_none());

        // HOME/.docker when DOCKER_CONFIG is unset.
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".docker")).unwrap();
        std::fs::write(
            home.path().join(".docker/config.json"),
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}}}}}}"#,
                STANDARD.encode("hu:hp")
            ),
        )
        .unwrap();
        let store = CredentialStore::with_environment(
            MapEnvironment::new().with("HOME", home.path().to_str().unwrap()),
        );
        let hub = store.resolve("index.docker.io").await.unwrap().unwrap();
        assert_eq!(hub.username(), Some("hu"));

        // A broken file is an error naming the registry and the file, without content.
        std::fs::write(
            home.path().join(".docker/config.json"),
            "{\"auths\": secret-ish",
        )
        .unwrap();
        let e = store.resolve("x.io").await.unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("x.io") && msg.contains("config.json"), "{msg}");
        assert!(!msg.contains("secret-ish"), "{msg}");
    }

    #[cfg(unix)]
    fn write_helper(dir: &Path, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn credential_helpers() {
        let bin = tempfile::tempdir().unwrap();
        // Answers by the server URL it reads on stdin.
        write_helper(
            bin.path(),
            "tugtest",
            r#"[ "$1" = get ] || exit 3
read -r server
case "$server" in
  helper.io) printf '{"ServerURL":"helper.io","Username":"hu","Secret":"hs"}' ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"<token>","Secret":"idtok"}' "$server" ;;
  broken.io) echo "keychain locked" >&2; exit 1 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac"#,
        );
        write_helper(bin.path(), "slow", "exec /bin/sleep 5");
        let cfg = tempfile::tempdir().unwrap();
        std::fs::write(
            cfg.path().join("config.json"),
            format!(
                r#"{{"credsStore":"tugtest","credHelpers":{{"per-host.io":"tugtest","slow.io":"slow","missing.io":"nope"}},
                   "auths":{{"fallback.io":{{"auth":"{}"}}}}}}"#,
                STANDARD.encode("fu:fp")
            ),
        )
        .unwrap();
        let env = MapEnvironment::new()
            .with("PATH", bin.path().to_str().unwrap())
            .with("DOCKER_CONFIG", cfg.path().to_str().unwrap());
        let mut store = CredentialStore::with_environment(env);
        store.helper_timeout(Duration::from_millis(500));

        let a = store.resolve("helper.io").await.unwrap().unwrap();
        assert_eq!((a.username(), a.password()), (Some("hu"), Some("hs")));
        assert_eq!(
            a.source(),
            Some(&CredentialSource::Helper("tugtest".into()))
        );

        let hub = store.resolve("docker.io").await.unwrap().unwrap();
        assert_eq!(hub.identity_token_value(), Some("idtok"));
        assert_eq!(hub.username(), None);
        assert_eq!(hub.server_address(), Some(DOCKER_HUB_KEY));

        // Not found in the store: the inline entry, then nothing.
        let f = store.resolve("fallback.io").await.unwrap().unwrap();
        assert_eq!(f.username(), Some("fu"));
        assert!(store.resolve("unknown.io").await.unwrap().is_none());
        assert!(store.resolve("per-host.io").await.unwrap().is_none());

        let e = store.resolve("broken.io").await.unwrap_err();
        assert!(e.to_string().contains("keychain locked"), "{e}");
        assert!(e.to_string().contains("broken.io"), "{e}");
        let e = store.resolve("missing.io").await.unwrap_err();
        assert!(
            e.to_string()
                .contains("docker-credential-nope is not on PATH"),
            "{e}"
        );
        let e = store.resolve("slow.io").await.unwrap_err();
        assert!(e.to_string().contains("did not answer"), "{e}");

        // Explicit entries win over everything.
        store.insert("helper.io", RegistryAuth::basic("x", "y"));
        let a = store.resolve("helper.io").await.unwrap().unwrap();
        assert_eq!(a.username(), Some("x"));

        // Sources can be switched off.
        store.config_dir(None);
        assert!(store.resolve("fallback.io").await.unwrap().is_none());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn helper_output_is_never_quoted_in_errors() {
        let bin = tempfile::tempdir().unwrap();
        write_helper(bin.path(), "leaky", "echo 'not json but has s3cr3t'");
        let cfg = tempfile::tempdir().unwrap();
        std::fs::write(cfg.path().join("config.json"), r#"{"credsStore":"leaky"}"#).unwrap();
        let store = CredentialStore::with_environment(
            MapEnvironment::new()
                .with("PATH", bin.path().to_str().unwrap())
                .with("DOCKER_CONFIG", cfg.path().to_str().unwrap()),
        );
        let e = store.resolve("r.io").await.unwrap_err();
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
        assert!(e.is_unauthorized());
    }

    #[test]
    fn registry_config_header() {
        let a = RegistryAuth::basic("u", "p");
        let h = encode_registry_config([("docker.io", &a), ("r:5000", &a)]);
        let v = decode(&h);
        assert_eq!(v[DOCKER_HUB_KEY]["username"], "u");
        assert_eq!(v["r:5000"]["password"], "p");
    }
}
