//! Containers: create, list, inspect, start, stop, kill, wait, remove, and (in
//! [`crate::containers_io`]) logs, attach and archive upload.
//!
//! The create body is typed for the fields tug uses, and accepts pass-through maps for every
//! other field of `Config` and `HostConfig` (the workflow's `container:` and `host:` keys): they
//! merge into the typed body without loss, matched case-insensitively, the user's value winning.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::client::{seg, Client, Query, Request, Timeout};
use crate::endpoint::ApiVersion;
use crate::error::{Error, Result};
use crate::filters::Filters;
use crate::serde_util::{null_as_default, string_or_list};

/// A health check (`Config.Healthcheck`). Durations are sent in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Time between checks.
    #[serde(skip_serializing_if = "Option::is_none", with = "nanos")]
    pub interval: Option<Duration>,
    /// Time a check may take.
    #[serde(skip_serializing_if = "Option::is_none", with = "nanos")]
    pub timeout: Option<Duration>,
    /// Grace period before failures count.
    #[serde(skip_serializing_if = "Option::is_none", with = "nanos")]
    pub start_period: Option<Duration>,
    /// Consecutive failures before `unhealthy`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

impl HealthConfig {
    /// A `CMD-SHELL` check.
    pub fn shell(command: impl Into<String>) -> HealthConfig {
        HealthConfig {
            test: vec!["CMD-SHELL".into(), command.into()],
            ..HealthConfig::default()
        }
    }

    /// Sets the interval (builder style).
    pub fn interval(mut self, d: Duration) -> HealthConfig {
        self.interval = Some(d);
        self
    }

    /// Sets the retries (builder style).
    pub fn retries(mut self, n: i64) -> HealthConfig {
        self.retries = Some(n);
        self
    }
}

mod nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_nanos().min(u64::MAX as u128) as u64),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(d)?
            .filter(|n| *n > 0)
            .map(|n| Duration::from_nanos(n as u64)))
    }
}

/// The container configuration part of a create request (`Config`). `Debug` hides env values
/// named like secrets.
#[derive(Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct ContainerConfig {
    /// The image to run.
    pub image: String,
    /// Command (`CMD`); `None` keeps the image's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Entrypoint; `None` keeps the image's, `Some(vec![])` clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Environment, `KEY=VALUE`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// User (`uid`, `uid:gid`, `name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Allocate a pseudo-terminal (output is then a raw stream, not multiplexed).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Keep stdin open.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub open_stdin: bool,
    /// Close stdin after the first attach detaches.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stdin_once: bool,
    /// Attach stdin (for `run -i` style use).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attach_stdin: bool,
    /// Attach stdout.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attach_stdout: bool,
    /// Attach stderr.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attach_stderr: bool,
    /// Exposed ports, `80/tcp` → `{}`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Map<String, Value>>,
    /// Health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Signal that stops the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds to wait after the stop signal before killing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

impl std::fmt::Debug for ContainerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerConfig")
            .field("image", &self.image)
            .field("cmd", &self.cmd)
            .field("entrypoint", &self.entrypoint)
            .field("env", &crate::redact::EnvDebug(&self.env))
            .field("working_dir", &self.working_dir)
            .field("user", &self.user)
            .field("labels", &self.labels)
            .field("tty", &self.tty)
            .field("exposed_ports", &self.exposed_ports)
            .field("healthcheck", &self.healthcheck)
            .finish_non_exhaustive()
    }
}

/// A bind or volume mount (`HostConfig.Mounts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct Mount {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Host path or volume name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Mount read-only.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

impl Mount {
    /// A bind mount of a host path.
    pub fn bind(source: impl Into<String>, target: impl Into<String>, read_only: bool) -> Mount {
        Mount {
            kind: "bind".into(),
            source: source.into(),
            target: target.into(),
            read_only,
        }
    }

    /// A named volume.
    pub fn volume(name: impl Into<String>, target: impl Into<String>, read_only: bool) -> Mount {
        Mount {
            kind: "volume".into(),
            source: name.into(),
            target: target.into(),
            read_only,
        }
    }
}

/// One host binding of a published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct PortBinding {
    /// Host IP (`0.0.0.0`, `127.0.0.1`, `::1`); empty means all.
    #[serde(rename = "HostIp")]
    pub host_ip: String,
    /// Host port; empty picks one.
    pub host_port: String,
}

impl PortBinding {
    /// A binding on `host_ip:host_port`.
    pub fn new(host_ip: impl Into<String>, host_port: impl Into<String>) -> PortBinding {
        PortBinding {
            host_ip: host_ip.into(),
            host_port: host_port.into(),
        }
    }
}

/// Restart policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure`.
    pub name: String,
    /// For `on-failure`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_count: Option<i64>,
}

impl RestartPolicy {
    /// A policy by name.
    pub fn named(name: impl Into<String>) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: None,
        }
    }
}

/// A resource limit (`HostConfig.Ulimits`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct Ulimit {
    /// `nofile`, `nproc`, …
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

impl Ulimit {
    /// A limit.
    pub fn new(name: impl Into<String>, soft: i64, hard: i64) -> Ulimit {
        Ulimit {
            name: name.into(),
            soft,
            hard,
        }
    }
}

/// Host configuration of a create request (`HostConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct HostConfig {
    /// `source:target[:mode]` binds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<String>,
    /// Mounts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// Published ports, `80/tcp` → bindings.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// `bridge`, `host`, `none`, `container:<id>` or a network name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Restart policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Remove the container when it exits (engine side).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub auto_remove: bool,
    /// Run an init process as PID 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Memory limit in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// CPU quota in units of 1e-9 CPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    /// Privileged mode.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// Capabilities to add.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// Extra `/etc/hosts` entries, `host:ip`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    /// Resource limits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
}

/// The body of `POST /containers/create`: typed parts plus pass-through maps.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ContainerCreate {
    /// Container name (`?name=`); the engine picks one when `None`.
    pub name: Option<String>,
    /// Platform (`?platform=os/arch[/variant]`).
    pub platform: Option<String>,
    /// Typed container configuration.
    pub config: ContainerConfig,
    /// Typed host configuration.
    pub host_config: HostConfig,
    /// `NetworkingConfig.EndpointsConfig`: network name → endpoint settings.
    pub endpoints: BTreeMap<String, Value>,
    /// Extra `Config` fields, merged over the typed ones (keys matched case-insensitively).
    pub extra_config: Map<String, Value>,
    /// Extra `HostConfig` fields, merged over the typed ones.
    pub extra_host_config: Map<String, Value>,
}

impl ContainerCreate {
    /// A container of `image` with everything else default.
    pub fn new(image: impl Into<String>) -> ContainerCreate {
        ContainerCreate {
            config: ContainerConfig {
                image: image.into(),
                ..ContainerConfig::default()
            },
            ..ContainerCreate::default()
        }
    }

    /// The JSON body sent to the engine: the typed config with `HostConfig` and
    /// `NetworkingConfig` inside, and the pass-through maps merged in.
    pub fn body(&self) -> Value {
        let mut config = to_object(&self.config);
        merge_case_insensitive(&mut config, &self.extra_config);
        let mut host = to_object(&self.host_config);
        merge_case_insensitive(&mut host, &self.extra_host_config);
        config.insert("HostConfig".into(), Value::Object(host));
        if !self.endpoints.is_empty() {
            let endpoints: Map<String, Value> = self
                .endpoints
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut nc = Map::new();
            nc.insert("EndpointsConfig".into(), Value::Object(endpoints));
            config.insert("NetworkingConfig".into(), Value::Object(nc));
        }
        Value::Object(config)
    }
}

fn to_object<T: Serialize>(v: &T) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Merges `extra` into `base`: a key of `extra` replaces the key of `base` that matches it
/// case-insensitively (so `memory: 5` from a workflow overrides the typed `Memory`), and
/// otherwise is added under the user's spelling. Where both sides hold objects (`Labels`,
/// `RestartPolicy`, …) they merge key by key, so a user's `labels:` adds to the typed labels
/// instead of dropping them.
pub fn merge_case_insensitive(base: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (k, v) in extra {
        let existing = base.keys().find(|bk| bk.eq_ignore_ascii_case(k)).cloned();
        let key = existing.unwrap_or_else(|| k.clone());
        match (base.get_mut(&key), v) {
            (Some(Value::Object(inner)), Value::Object(more)) => {
                merge_case_insensitive(inner, more)
            }
            _ => {
                base.insert(key, v.clone());
            }
        }
    }
}

/// Answer to `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ContainerCreated {
    /// The new container's id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Warnings from the engine.
    #[serde(deserialize_with = "null_as_default")]
    pub warnings: Vec<String>,
}

/// A container's state (`State.Status`). Values the engine adds later decode to `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ContainerStatus {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Paused.
    Paused,
    /// Restarting.
    Restarting,
    /// Being removed.
    Removing,
    /// Exited.
    Exited,
    /// Dead.
    Dead,
    /// Podman: configured (created by libpod, not yet initialised).
    Configured,
    /// Podman: stopped.
    Stopped,
    /// A value this crate does not know.
    Unknown(String),
    /// No status given.
    #[default]
    Empty,
}

impl ContainerStatus {
    /// The engine's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
            ContainerStatus::Configured => "configured",
            ContainerStatus::Stopped => "stopped",
            ContainerStatus::Unknown(s) => s,
            ContainerStatus::Empty => "",
        }
    }

    /// True when the container's process has ended and will not come back by itself.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            ContainerStatus::Exited
                | ContainerStatus::Dead
                | ContainerStatus::Removing
                | ContainerStatus::Stopped
        )
    }
}

impl std::fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ContainerStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(match s.to_ascii_lowercase().as_str() {
            "" => ContainerStatus::Empty,
            "created" => ContainerStatus::Created,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "restarting" => ContainerStatus::Restarting,
            "removing" => ContainerStatus::Removing,
            "exited" => ContainerStatus::Exited,
            "dead" => ContainerStatus::Dead,
            "configured" | "initialized" => ContainerStatus::Configured,
            "stopped" => ContainerStatus::Stopped,
            _ => ContainerStatus::Unknown(s),
        })
    }
}

impl Serialize for ContainerStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Health status (`State.Health.Status`). Podman's libpod values are mapped too.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum HealthStatus {
    /// No health check.
    #[default]
    None,
    /// Within the start period, or no check has run yet.
    Starting,
    /// The last checks passed.
    Healthy,
    /// Too many consecutive checks failed.
    Unhealthy,
    /// A value this crate does not know.
    Unknown(String),
}

impl HealthStatus {
    /// The engine's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            HealthStatus::None => "none",
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
            HealthStatus::Unknown(s) => s,
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for HealthStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(match s.to_ascii_lowercase().as_str() {
            "" | "none" => HealthStatus::None,
            "starting" => HealthStatus::Starting,
            "healthy" => HealthStatus::Healthy,
            "unhealthy" => HealthStatus::Unhealthy,
            _ => HealthStatus::Unknown(s),
        })
    }
}

impl Serialize for HealthStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One health check result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct HealthLog {
    /// Exit code of the check.
    pub exit_code: i64,
    /// Its output.
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct Health {
    /// Status.
    pub status: HealthStatus,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// Recent results.
    #[serde(deserialize_with = "null_as_default")]
    pub log: Vec<HealthLog>,
}

/// `State` of an inspected container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ContainerState {
    /// Status.
    pub status: ContainerStatus,
    /// Running.
    pub running: bool,
    /// Paused.
    pub paused: bool,
    /// Restarting.
    pub restarting: bool,
    /// Killed by the kernel's OOM killer.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Dead.
    pub dead: bool,
    /// Main process id.
    pub pid: i64,
    /// Exit code of the last run.
    pub exit_code: i64,
    /// Error message of a failed start.
    pub error: String,
    /// Start time.
    pub started_at: String,
    /// End time.
    pub finished_at: String,
    /// Health, when the container has a health check.
    pub health: Option<Health>,
}

/// `Config` of an inspected container (what the engine reports back). `Debug` hides env values
/// named like secrets.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct InspectConfig {
    /// Image.
    pub image: String,
    /// Command.
    #[serde(deserialize_with = "string_or_list")]
    pub cmd: Vec<String>,
    /// Entrypoint (Podman may send a string).
    #[serde(deserialize_with = "string_or_list")]
    pub entrypoint: Vec<String>,
    /// Environment.
    #[serde(deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    /// Working directory.
    pub working_dir: String,
    /// User.
    pub user: String,
    /// Labels.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: HashMap<String, String>,
    /// TTY.
    pub tty: bool,
    /// Open stdin.
    pub open_stdin: bool,
    /// Health check.
    pub healthcheck: Option<HealthConfig>,
}

impl std::fmt::Debug for InspectConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InspectConfig")
            .field("image", &self.image)
            .field("cmd", &self.cmd)
            .field("entrypoint", &self.entrypoint)
            .field("env", &crate::redact::EnvDebug(&self.env))
            .field("working_dir", &self.working_dir)
            .field("user", &self.user)
            .field("labels", &self.labels)
            .field("tty", &self.tty)
            .finish_non_exhaustive()
    }
}

/// One network the container is attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct EndpointSettings {
    /// IPv4 address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Network id.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Aliases.
    #[serde(deserialize_with = "null_as_default")]
    pub aliases: Vec<String>,
}

/// `NetworkSettings` of an inspected container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct NetworkSettings {
    /// Published ports: `80/tcp` → host bindings.
    #[serde(deserialize_with = "null_as_default")]
    pub ports: HashMap<String, Option<Vec<PortBinding>>>,
    /// Networks by name.
    #[serde(deserialize_with = "null_as_default")]
    pub networks: HashMap<String, EndpointSettings>,
}

/// A mount as inspect reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct MountPoint {
    /// `bind` or `volume`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name.
    pub name: Option<String>,
    /// Host path.
    pub source: String,
    /// Container path.
    pub destination: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ContainerInspect {
    /// Id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Name, with a leading `/` on Docker.
    pub name: String,
    /// Creation time.
    pub created: String,
    /// Image id.
    pub image: String,
    /// State.
    pub state: ContainerState,
    /// Configuration.
    pub config: InspectConfig,
    /// Networking.
    pub network_settings: NetworkSettings,
    /// Mounts.
    #[serde(deserialize_with = "null_as_default")]
    pub mounts: Vec<MountPoint>,
    /// Host configuration, untyped (it is large and engine-specific).
    pub host_config: Value,
}

impl ContainerInspect {
    /// The name without Docker's leading `/`.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ContainerSummary {
    /// Id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Names (with a leading `/` on Docker).
    #[serde(deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// Image.
    pub image: String,
    /// State.
    pub state: ContainerStatus,
    /// Human status (`Up 3 seconds`).
    pub status: String,
    /// Labels.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: HashMap<String, String>,
    /// Creation time (Unix seconds).
    pub created: i64,
}

/// Options of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListContainers {
    /// Include stopped containers.
    pub all: bool,
    /// Filters (`label`, `name`, `status`, `id`, …).
    pub filters: Filters,
}

impl ListContainers {
    /// All containers (running or not) matching `filters`.
    pub fn all(filters: Filters) -> ListContainers {
        ListContainers { all: true, filters }
    }
}

/// When `wait` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WaitCondition {
    /// As soon as the container is not running (returns at once if it already stopped).
    #[default]
    NotRunning,
    /// At the next exit.
    NextExit,
    /// When the container is removed.
    Removed,
}

impl WaitCondition {
    fn as_str(self) -> &'static str {
        match self {
            WaitCondition::NotRunning => "not-running",
            WaitCondition::NextExit => "next-exit",
            WaitCondition::Removed => "removed",
        }
    }
}

/// The exit of a container, from `wait`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerExit {
    /// The exit code (`-1` when Podman lost the container).
    pub status_code: i64,
    /// An error the engine reported while waiting.
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WaitBody {
    #[serde(default)]
    status_code: i64,
    #[serde(default)]
    error: Option<WaitError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WaitError {
    #[serde(default)]
    message: String,
}

/// Options of `stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopOptions {
    /// Grace period before SIGKILL; `None` uses the container's `StopTimeout` (default 10 s).
    pub timeout: Option<Duration>,
    /// Signal to send first; `None` uses the container's `StopSignal` (default SIGTERM).
    pub signal: Option<String>,
}

/// Options of `remove`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoveOptions {
    /// Kill a running container first.
    pub force: bool,
    /// Remove anonymous volumes too.
    pub volumes: bool,
}

impl RemoveOptions {
    /// `force=1&v=1`: what cleanup wants.
    pub fn force() -> RemoveOptions {
        RemoveOptions {
            force: true,
            volumes: true,
        }
    }
}

/// The API version where `stop` learnt the `signal` parameter.
const STOP_SIGNAL_SINCE: ApiVersion = ApiVersion::new(1, 42);

impl Client {
    /// `POST /containers/create`.
    pub async fn create_container(&self, create: &ContainerCreate) -> Result<ContainerCreated> {
        let mut q = Query::new();
        q.opt("name", create.name.as_deref())
            .opt("platform", create.platform.as_deref());
        let req = Request::post("/containers/create")
            .query(q.done())
            .json_body(&create.body())?;
        self.json(req).await
    }

    /// `GET /containers/{id}/json`.
    pub async fn inspect_container(&self, id: &str) -> Result<ContainerInspect> {
        self.json(Request::get(format!("/containers/{}/json", seg(id))))
            .await
    }

    /// `GET /containers/json`.
    pub async fn list_containers(&self, opts: &ListContainers) -> Result<Vec<ContainerSummary>> {
        let q = Query::new()
            .flag_if("all", opts.all)
            .filters(&opts.filters)
            .done();
        self.json(Request::get("/containers/json").query(q)).await
    }

    /// `POST /containers/{id}/start`. Starting a running container is not an error.
    pub async fn start_container(&self, id: &str) -> Result<()> {
        match self
            .send(Request::post(format!("/containers/{}/start", seg(id))))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_modified() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /containers/{id}/stop`: the stop signal, a grace period, then SIGKILL. Stopping a
    /// stopped container is not an error. On engines older than API 1.42, which cannot take a
    /// signal here, the same sequence is driven with `kill` and `wait`.
    pub async fn stop_container(&self, id: &str, opts: &StopOptions) -> Result<()> {
        let version = self.identity().await?.api_version;
        if let (Some(signal), true) = (&opts.signal, version < STOP_SIGNAL_SINCE) {
            return self.stop_with_kill(id, signal, opts.timeout).await;
        }
        let mut q = Query::new();
        // Whole seconds on the wire: round a sub-second grace up, never down to an instant kill.
        q.opt("t", opts.timeout.map(|t| t.as_secs_f64().ceil() as u64));
        if version >= STOP_SIGNAL_SINCE {
            q.opt("signal", opts.signal.as_deref());
        }
        let grace = opts.timeout.unwrap_or(Duration::from_secs(10));
        let req = Request::post(format!("/containers/{}/stop", seg(id)))
            .query(q.done())
            .timeout(Timeout::Extra(grace));
        match self.send(req).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_modified() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn stop_with_kill(&self, id: &str, signal: &str, grace: Option<Duration>) -> Result<()> {
        match self.kill_container(id, Some(signal)).await {
            Ok(()) => {}
            Err(e) if e.is_conflict() => return Ok(()), // not running
            Err(e) => return Err(e),
        }
        let grace = grace.unwrap_or(Duration::from_secs(10));
        let waited =
            tokio::time::timeout(grace, self.wait_container(id, WaitCondition::NotRunning)).await;
        if waited.is_err() {
            match self.kill_container(id, Some("SIGKILL")).await {
                Ok(()) => {}
                Err(e) if e.is_conflict() || e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `POST /containers/{id}/kill` with `signal` (default SIGKILL).
    pub async fn kill_container(&self, id: &str, signal: Option<&str>) -> Result<()> {
        let q = Query::new().opt("signal", signal).done();
        self.send(Request::post(format!("/containers/{}/kill", seg(id))).query(q))
            .await
            .map(drop)
    }

    /// `POST /containers/{id}/wait`: blocks until the condition holds and returns the exit
    /// code. A non-zero exit is a value, not an error; an error the engine reports in the body
    /// (Podman does so inside a 200) is kept in [`ContainerExit::error`].
    pub async fn wait_container(
        &self,
        id: &str,
        condition: WaitCondition,
    ) -> Result<ContainerExit> {
        let q = Query::new().push("condition", condition.as_str()).done();
        let req = Request::post(format!("/containers/{}/wait", seg(id)))
            .query(q)
            .timeout(Timeout::None);
        let what = format!("POST /containers/{id}/wait");
        let body = self.send(req).await?;
        let parsed: WaitBody = crate::client::decode_json(&what, &body)?;
        Ok(ContainerExit {
            status_code: parsed.status_code,
            error: parsed.error.map(|e| e.message).filter(|m| !m.is_empty()),
        })
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove_container(&self, id: &str, opts: RemoveOptions) -> Result<()> {
        let q = Query::new()
            .flag_if("force", opts.force)
            .flag_if("v", opts.volumes)
            .done();
        self.send(Request::delete(format!("/containers/{}", seg(id))).query(q))
            .await
            .map(drop)
    }

    /// Podman only: `GET /libpod/containers/{id}/healthcheck` runs the container's health
    /// check once (Podman without systemd never runs them on a timer). Returns the status
    /// after the run.
    pub async fn run_healthcheck(&self, id: &str) -> Result<HealthStatus> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            #[serde(default)]
            status: HealthStatus,
        }
        let req = Request::get(format!("/libpod/containers/{}/healthcheck", seg(id)));
        let what = format!("GET /libpod/containers/{id}/healthcheck");
        match self.send(req).await {
            Ok(body) => Ok(crate::client::decode_json::<Answer>(&what, &body)?.status),
            Err(e) => Err(e),
        }
    }
}

/// Keeps [`Error`] in scope for doc links.
#[allow(dead_code)]
fn _doc(_: Error) {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_merges_pass_through_maps_case_insensitively() {
        let mut c = ContainerCreate::new("tug-busybox:latest");
        c.config.cmd = Some(vec!["true".into()]);
        c.host_config.memory = Some(1);
        c.extra_host_config
            .insert("memory".into(), json!(536870912));
        c.extra_host_config.insert("CPUShares".into(), json!(512));
        c.extra_config.insert("hostname".into(), json!("box"));
        let body = c.body();
        assert_eq!(body["Image"], "tug-busybox:latest");
        assert_eq!(body["Cmd"], json!(["true"]));
        assert_eq!(body["hostname"], "box");
        assert_eq!(body["HostConfig"]["Memory"], 536870912);
        assert!(body["HostConfig"].get("memory").is_none());
        assert_eq!(body["HostConfig"]["CPUShares"], 512);
    }

    #[test]
    fn nested_pass_through_maps_merge_instead_of_replacing() {
        let mut c = ContainerCreate::new("x");
        c.config.labels.insert("tug.run".into(), "r1".into());
        c.extra_config
            .insert("labels".into(), json!({"team": "infra"}));
        let body = c.body();
        assert_eq!(body["Labels"], json!({"tug.run": "r1", "team": "infra"}));
    }

    #[test]
    fn empty_entrypoint_clears_and_none_keeps() {
        let mut c = ContainerCreate::new("x");
        assert!(c.body().get("Entrypoint").is_none());
        c.config.entrypoint = Some(vec![]);
        assert_eq!(c.body()["Entrypoint"], json!([]));
    }

    #[test]
    fn healthcheck_durations_are_nanoseconds() {
        let h = HealthConfig::shell("true")
            .interval(Duration::from_millis(500))
            .retries(3);
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(v["Interval"], 500_000_000u64);
        assert_eq!(v["Test"], json!(["CMD-SHELL", "true"]));
    }

    #[test]
    fn inspect_tolerates_podman_shapes_and_unknown_values() {
        let v = json!({
            "Id": "abc",
            "Name": "x",
            "State": {"Status": "weird-new-state", "Running": false, "ExitCode": 3,
                      "Health": {"Status": "starting", "FailingStreak": 0, "Log": null}},
            "Config": {"Entrypoint": "/bin/sh", "Cmd": null, "Env": null, "Labels": null},
            "NetworkSettings": {"Ports": {"80/tcp": null}, "Networks": null},
            "Mounts": null
        });
        let i: ContainerInspect = serde_json::from_value(v).unwrap();
        assert_eq!(
            i.state.status,
            ContainerStatus::Unknown("weird-new-state".into())
        );
        assert_eq!(i.state.exit_code, 3);
        assert_eq!(i.config.entrypoint, vec!["/bin/sh".to_string()]);
        assert_eq!(i.state.health.unwrap().status, HealthStatus::Starting);
    }
}
