//! System endpoints: `_ping`, `version`, `info` (and `events`, in the streaming module).

use serde::{Deserialize, Serialize};

use crate::client::{Client, Request};
use crate::endpoint::ApiVersion;
use crate::error::Result;

/// The engine's answer to `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct Version {
    /// Engine version (`20.10.24`; Podman reports its own version here).
    pub version: Option<String>,
    /// The highest API version the engine speaks.
    #[serde(rename = "ApiVersion")]
    pub api_version: Option<String>,
    /// The lowest API version the engine speaks.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: Option<String>,
    /// Git commit of the engine build.
    pub git_commit: Option<String>,
    /// Go version of the engine build.
    pub go_version: Option<String>,
    /// Operating system (`linux`).
    pub os: Option<String>,
    /// Architecture (`amd64`).
    pub arch: Option<String>,
    /// Kernel version.
    pub kernel_version: Option<String>,
    /// Build time.
    pub build_time: Option<String>,
    /// Platform name (`Docker Engine - Community`, …).
    pub platform: Option<VersionPlatform>,
    /// Components (Engine, containerd, runc; Podman Engine).
    pub components: Option<Vec<VersionComponent>>,
}

/// `Platform` in [`Version`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct VersionPlatform {
    /// Platform name.
    pub name: String,
}

/// One entry of `Components` in [`Version`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct VersionComponent {
    /// Component name (`Engine`, `Podman Engine`, `containerd`, …).
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The parts of `GET /info` this client models. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct Info {
    /// Engine instance id.
    #[serde(rename = "ID")]
    pub id: Option<String>,
    /// Host name of the engine's machine.
    pub name: Option<String>,
    /// Engine version.
    pub server_version: Option<String>,
    /// Operating system (`Debian GNU/Linux 12 (bookworm)`).
    pub operating_system: Option<String>,
    /// `linux` or `windows`.
    #[serde(rename = "OSType")]
    pub os_type: Option<String>,
    /// Architecture as the kernel reports it (`x86_64`).
    pub architecture: Option<String>,
    /// Kernel version.
    pub kernel_version: Option<String>,
    /// Number of CPUs.
    #[serde(rename = "NCPU")]
    pub ncpu: Option<i64>,
    /// Total memory in bytes.
    pub mem_total: Option<i64>,
    /// Number of containers.
    pub containers: Option<i64>,
    /// Running containers.
    pub containers_running: Option<i64>,
    /// Number of images.
    pub images: Option<i64>,
    /// Storage driver.
    pub driver: Option<String>,
    /// Cgroup driver (`cgroupfs`, `systemd`).
    pub cgroup_driver: Option<String>,
    /// Cgroup version (`1`, `2`).
    pub cgroup_version: Option<String>,
    /// Default OCI runtime.
    pub default_runtime: Option<String>,
    /// Security options (`name=seccomp,profile=default`, `name=rootless`, …).
    pub security_options: Option<Vec<String>>,
}

/// What `_ping` tells, plus the engine identity it establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ping {
    /// The engine's maximum API version, from its `Api-Version` header.
    pub api_version: Option<ApiVersion>,
    /// The `Ostype` header.
    pub os_type: Option<String>,
    /// The `Server` header.
    pub server: Option<String>,
    /// True for Podman.
    pub podman: bool,
}

impl Client {
    /// `GET /_ping`: checks the engine answers, and reads its identity headers. Always
    /// contacts the engine (unlike [`Client::identity`], which is kept).
    pub async fn ping(&self) -> Result<Ping> {
        let (headers, _) = self
            .send_with_headers(Request::get("/_ping").unversioned())
            .await?;
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let server = header("server");
        Ok(Ping {
            api_version: header("api-version").and_then(|v| v.parse().ok()),
            os_type: header("ostype"),
            podman: header("libpod-api-version").is_some()
                || server
                    .as_deref()
                    .is_some_and(|s| s.to_ascii_lowercase().starts_with("libpod")),
            server,
        })
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<Version> {
        self.json(Request::get("/version")).await
    }

    /// `GET /info`.
    pub async fn info(&self) -> Result<Info> {
        self.json(Request::get("/info")).await
    }
}

/// One event from `GET /events`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Event {
    /// Object type: `container`, `image`, `network`, `volume`, …
    #[serde(rename = "Type")]
    pub kind: String,
    /// What happened: `create`, `start`, `die`, `destroy`, `health_status: healthy`, …
    #[serde(rename = "Action")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local` or `swarm`.
    pub scope: Option<String>,
    /// Unix time in seconds.
    pub time: i64,
    /// Unix time in nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// The object an [`Event`] is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct EventActor {
    /// Its id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Its attributes (name, image, labels, exit code, …).
    #[serde(rename = "Attributes")]
    pub attributes: std::collections::HashMap<String, String>,
}

/// Options of `GET /events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsOptions {
    /// Events since this Unix time (seconds).
    pub since: Option<i64>,
    /// Events until this Unix time; `None` streams until dropped.
    pub until: Option<i64>,
    /// Filters (`type`, `event`, `label`, `container`, …).
    pub filters: crate::Filters,
}

impl Client {
    /// `GET /events`: a stream of typed events, until `until` or until dropped.
    pub async fn events(&self, opts: &EventsOptions) -> Result<crate::stream::JsonStream<Event>> {
        let q = crate::client::Query::new()
            .opt("since", opts.since)
            .opt("until", opts.until)
            .filters(&opts.filters)
            .done();
        let req = Request::get("/events").query(q);
        let response = self
            .stream(req, crate::transport::raw::RawBody::empty(), false)
            .await?;
        Ok(response.into_json_stream("GET /events"))
    }
}
