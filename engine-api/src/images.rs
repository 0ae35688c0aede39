//! Images: inspect, list, tag, remove, and the streaming operations — pull, push, import, build,
//! load and export.
//!
//! Pull, push, import, build and load answer with a JSON-lines progress stream read through the
//! raw HTTP path ([`ProgressStream`]); request bodies (a rootfs tar, a build context, an image
//! archive) are streamed from an [`AsyncRead`], never held whole in memory.
//!
//! # Errors from registries
//!
//! Engines report registry failures in two ways: Docker often answers an error status before the
//! stream (a `500` "no basic auth credentials", a `404` "manifest unknown"), Podman answers `200`
//! and reports the failure inside the stream. Both become the same typed errors here:
//!
//! * a registry that wants credentials, or rejects the ones given, is [`Error::Auth`] naming the
//!   registry, with the engine's message ([`Error::is_unauthorized`]); nothing is retried
//!   anonymously;
//! * an image or tag the registry does not have (pull), or a local image that does not exist
//!   (push), is [`Error::Engine`] of kind [`ErrorKind::NotFound`] ([`Error::is_not_found`]).
//!   When an engine reports it inside its `200` stream the status is given as 404, the one
//!   Docker answers the same pull with;
//! * any other error inside a pull's or push's stream (a layer download cut short, an error
//!   the registry answered for a blob) is [`Error::Transfer`], naming the image and the
//!   registry, with the engine's message; inside the stream of an import, build or load it is
//!   [`Error::Stream`] with the engine's message.
//!
//! ```no_run
//! use engine_api::auth::CredentialStore;
//! use engine_api::images::PullOptions;
//!
//! # async fn demo() -> engine_api::Result<()> {
//! let client = engine_api::Client::from_env()?;
//! let image = "127.0.0.1:5000/tug/busybox:latest";
//! let auth = CredentialStore::new().resolve_for_image(image).await?;
//! let opts = PullOptions::new(image).expect("valid reference").auth(auth);
//! let mut pull = client.pull_image(&opts).await?;
//! while let Some(p) = pull.next_item().await? {
//!     println!("{} {}", p.id.as_deref().unwrap_or(""), p.status);
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use http::header::HeaderName;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncRead;

use crate::auth::{
    encode_registry_config, RegistryAuth, EMPTY_AUTH, REGISTRY_AUTH_HEADER, REGISTRY_CONFIG_HEADER,
};
use crate::client::{seg, Client, Query, Request, Timeout};
use crate::containers::HealthConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::filters::Filters;
use crate::reference::{registry_of, ImageRef, ReferenceError};
use crate::serde_util::{null_as_default, string_or_list};
use crate::stream::JsonStream;
use crate::transport::raw::{BodyReader, RawBody};

/// How long an upload (import, build, load) may take before the engine's first answer, on top
/// of the client's response timeout: the engine reads the whole body first.
const UPLOAD_GRACE: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------------
// Models

/// The image's configuration (`Config` of an image inspect): what a container of it runs with
/// by default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ImageConfig {
    /// `ENTRYPOINT`; empty when the image has none. Podman may send a single string.
    #[serde(deserialize_with = "string_or_list")]
    pub entrypoint: Vec<String>,
    /// `CMD`; empty when the image has none. Podman may send a single string.
    #[serde(deserialize_with = "string_or_list")]
    pub cmd: Vec<String>,
    /// `ENV`, `KEY=VALUE`.
    #[serde(deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    /// `WORKDIR`.
    #[serde(deserialize_with = "null_as_default")]
    pub working_dir: String,
    /// `USER`.
    #[serde(deserialize_with = "null_as_default")]
    pub user: String,
    /// `LABEL`s.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: HashMap<String, String>,
    /// `HEALTHCHECK`.
    pub healthcheck: Option<HealthConfig>,
    /// `EXPOSE`d ports, `80/tcp` → `{}`.
    #[serde(deserialize_with = "null_as_default")]
    pub exposed_ports: BTreeMap<String, Value>,
    /// `VOLUME`s, path → `{}`.
    #[serde(deserialize_with = "null_as_default")]
    pub volumes: BTreeMap<String, Value>,
    /// `STOPSIGNAL`.
    #[serde(deserialize_with = "null_as_default")]
    pub stop_signal: String,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ImageInspect {
    /// The image ID (`sha256:…`).
    pub id: String,
    /// Names referring to the image (`alpine:latest`; Podman: `docker.io/library/alpine:latest`
    /// or `localhost/name:tag`).
    #[serde(deserialize_with = "null_as_default")]
    pub repo_tags: Vec<String>,
    /// Manifest digests (`name@sha256:…`).
    #[serde(deserialize_with = "null_as_default")]
    pub repo_digests: Vec<String>,
    /// The parent image's ID (locally built images only; Podman omits the `sha256:` prefix).
    #[serde(deserialize_with = "null_as_default")]
    pub parent: String,
    /// The commit or import message.
    #[serde(deserialize_with = "null_as_default")]
    pub comment: String,
    /// Creation time, RFC 3339.
    #[serde(deserialize_with = "null_as_default")]
    pub created: String,
    /// `MAINTAINER` or the committer.
    #[serde(deserialize_with = "null_as_default")]
    pub author: String,
    /// Operating system (`linux`).
    #[serde(deserialize_with = "null_as_default")]
    pub os: String,
    /// CPU architecture (`amd64`, `arm64`).
    #[serde(deserialize_with = "null_as_default")]
    pub architecture: String,
    /// Architecture variant (`v8`), when there is one.
    pub variant: Option<String>,
    /// Total size in bytes.
    #[serde(deserialize_with = "null_as_default")]
    pub size: i64,
    /// The default configuration of its containers.
    #[serde(deserialize_with = "null_as_default")]
    pub config: ImageConfig,
}

/// One image of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ImageSummary {
    /// The image ID (`sha256:…`).
    pub id: String,
    /// The parent image's ID.
    #[serde(deserialize_with = "null_as_default")]
    pub parent_id: String,
    /// Names referring to the image.
    #[serde(deserialize_with = "null_as_default")]
    pub repo_tags: Vec<String>,
    /// Manifest digests.
    #[serde(deserialize_with = "null_as_default")]
    pub repo_digests: Vec<String>,
    /// Creation time, Unix seconds.
    #[serde(deserialize_with = "null_as_default")]
    pub created: i64,
    /// Size in bytes.
    #[serde(deserialize_with = "null_as_default")]
    pub size: i64,
    /// Size shared with other images (-1 when not computed).
    #[serde(deserialize_with = "null_as_default")]
    pub shared_size: i64,
    /// Labels.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: HashMap<String, String>,
    /// Containers using the image (-1 when not computed).
    #[serde(deserialize_with = "null_as_default")]
    pub containers: i64,
}

/// One entry of a remove's answer: a name that was untagged or an image that was deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct ImageDeleted {
    /// A name (or digest reference) that was removed from the image.
    pub untagged: Option<String>,
    /// An image ID that was deleted (Podman omits the `sha256:` prefix).
    pub deleted: Option<String>,
}

/// Byte counts of a progress message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ProgressDetail {
    /// Bytes done.
    pub current: Option<i64>,
    /// Bytes in all.
    pub total: Option<i64>,
}

/// One message of a pull (`POST /images/create?fromImage=…`).
///
/// Docker sends per-layer messages (`Pulling fs layer`, `Downloading` with byte counts,
/// `Pull complete`) and a final `Status: …` line; Podman sends fewer, and no `Status:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct PullProgress {
    /// The layer or tag the message is about.
    pub id: Option<String>,
    /// What happened (`Downloading`, `Pull complete`, `Digest: sha256:…`).
    #[serde(deserialize_with = "null_as_default")]
    pub status: String,
    /// A rendered progress bar, when the engine sends one.
    pub progress: Option<String>,
    /// Byte counts.
    pub progress_detail: Option<ProgressDetail>,
}

/// Extra data at the end of a push.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
#[non_exhaustive]
pub struct PushAux {
    /// The tag pushed.
    pub tag: Option<String>,
    /// The manifest digest.
    pub digest: Option<String>,
    /// The manifest size.
    pub size: Option<i64>,
}

/// One message of a push (`POST /images/{name}/push`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct PushProgress {
    /// The layer the message is about.
    pub id: Option<String>,
    /// What happened (`Pushing`, `Pushed`, `latest: digest: sha256:… size: 527`).
    #[serde(deserialize_with = "null_as_default")]
    pub status: String,
    /// A rendered progress bar.
    pub progress: Option<String>,
    /// Byte counts.
    pub progress_detail: Option<ProgressDetail>,
    /// The pushed tag and digest (Docker, last message).
    pub aux: Option<PushAux>,
}

impl PushProgress {
    /// The manifest digest this message reports: Docker's `aux.Digest`, or the
    /// `<tag>: digest: sha256:… size: N` status both engines send.
    pub fn digest(&self) -> Option<&str> {
        if let Some(d) = self.aux.as_ref().and_then(|a| a.digest.as_deref()) {
            return Some(d);
        }
        let rest = &self.status[self.status.find("digest: ")? + "digest: ".len()..];
        let d = rest.split_whitespace().next()?;
        d.contains(':').then_some(d)
    }
}

/// Extra data of a build message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct BuildAux {
    /// The built image's ID.
    #[serde(rename = "ID")]
    pub id: Option<String>,
}

/// One message of a build (`POST /build`), a load (`POST /images/load`) or an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct BuildProgress {
    /// Builder output (`Step 1/3 : FROM …`, the output of `RUN`, `Loaded image: …`).
    pub stream: Option<String>,
    /// A status message (pulls during a build; an import's image ID).
    pub status: Option<String>,
    /// The layer a status is about.
    pub id: Option<String>,
    /// A rendered progress bar.
    pub progress: Option<String>,
    /// Byte counts.
    pub progress_detail: Option<ProgressDetail>,
    /// The built image's ID (`aux.ID`).
    pub aux: Option<BuildAux>,
}

impl BuildProgress {
    /// The image ID this message reports: a build's `aux.ID`, or an import's `status`.
    pub fn image_id(&self) -> Option<&str> {
        if let Some(id) = self.aux.as_ref().and_then(|a| a.id.as_deref()) {
            return Some(id);
        }
        self.status
            .as_deref()
            .filter(|s| s.starts_with("sha256:") && !s.contains(char::is_whitespace))
    }

    /// The image a load reports (`Loaded image: name:tag`, `Loaded image ID: sha256:…`).
    pub fn loaded_image(&self) -> Option<&str> {
        let s = self.stream.as_deref()?.trim();
        s.strip_prefix("Loaded image: ")
            .or_else(|| s.strip_prefix("Loaded image ID: "))
            .or_else(|| s.strip_prefix("Loaded image(s): "))
            .map(str::trim)
    }
}

/// The messages of an import are build-shaped (`status` holds the new image's ID).
pub type ImportProgress = BuildProgress;

/// The messages of a load are build-shaped (`stream` says what was loaded).
pub type LoadProgress = BuildProgress;

// ---------------------------------------------------------------------------------------------
// Options

/// Options of [`Client::list_images`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListImagesOptions {
    /// Include intermediate images.
    pub all: bool,
    /// Include `RepoDigests`.
    pub digests: bool,
    /// Filters: `reference`, `label`, `dangling`, `before`, `since`.
    pub filters: Filters,
}

impl ListImagesOptions {
    /// No filters.
    pub fn new() -> ListImagesOptions {
        ListImagesOptions::default()
    }

    /// Images whose name matches `pattern` (`name`, `name:tag`, globs allowed).
    pub fn reference(mut self, pattern: impl Into<String>) -> ListImagesOptions {
        self.filters.add("reference", pattern);
        self
    }

    /// Images with label `key` or `key=value`.
    pub fn label(mut self, label: impl Into<String>) -> ListImagesOptions {
        self.filters.add("label", label);
        self
    }

    /// Only untagged images (`true`) or only tagged ones (`false`).
    pub fn dangling(mut self, dangling: bool) -> ListImagesOptions {
        self.filters
            .add("dangling", if dangling { "true" } else { "false" });
        self
    }

    /// Include intermediate images.
    pub fn all(mut self, all: bool) -> ListImagesOptions {
        self.all = all;
        self
    }
}

/// Options of [`Client::remove_image`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoveImageOptions {
    /// Remove even if stopped containers use it or it has other tags.
    pub force: bool,
    /// Keep untagged parent images.
    pub noprune: bool,
}

impl RemoveImageOptions {
    /// Neither forced nor keeping parents.
    pub fn new() -> RemoveImageOptions {
        RemoveImageOptions::default()
    }

    /// Forced removal.
    pub fn force() -> RemoveImageOptions {
        RemoveImageOptions {
            force: true,
            noprune: false,
        }
    }

    /// Keeps untagged parents (builder style).
    pub fn noprune(mut self, noprune: bool) -> RemoveImageOptions {
        self.noprune = noprune;
        self
    }
}

/// Options of [`Client::pull_image`].
///
/// The repository goes in `fromImage` and the tag (or digest) in `tag`, never both in one:
/// Podman rejects a tag given twice, and Docker pulls *every* tag when `tag` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullOptions {
    /// The repository, without tag or digest (`docker.io/library/alpine`).
    pub from_image: String,
    /// The tag or digest (`latest`, `sha256:…`).
    pub tag: String,
    /// `os[/arch[/variant]]`.
    pub platform: Option<String>,
    /// Credentials for the registry.
    pub auth: Option<RegistryAuth>,
}

impl PullOptions {
    /// A pull of `reference` (`alpine`, `ghcr.io/o/app:1`, `r:5000/x@sha256:…`), normalised
    /// and split into repository and tag (`latest` when it has neither tag nor digest).
    ///
    /// # Errors
    ///
    /// The reference does not parse.
    pub fn new(reference: &str) -> std::result::Result<PullOptions, ReferenceError> {
        Ok(PullOptions::from_reference(&ImageRef::parse(reference)?))
    }

    /// A pull of a parsed reference.
    pub fn from_reference(reference: &ImageRef) -> PullOptions {
        let (from_image, tag) = reference.pull_parts();
        PullOptions::from_parts(from_image, tag)
    }

    /// A pull of `repository` (without a tag) at `tag` (a tag or a digest; empty means
    /// `latest`).
    pub fn from_parts(repository: impl Into<String>, tag: impl Into<String>) -> PullOptions {
        let tag = tag.into();
        PullOptions {
            from_image: repository.into(),
            tag: if tag.is_empty() { "latest".into() } else { tag },
            platform: None,
            auth: None,
        }
    }

    /// Sets the platform (builder style).
    pub fn platform(mut self, platform: impl Into<String>) -> PullOptions {
        self.platform = Some(platform.into());
        self
    }

    /// Sets the credentials (builder style); `None` pulls anonymously.
    pub fn auth(mut self, auth: Option<RegistryAuth>) -> PullOptions {
        self.auth = auth;
        self
    }

    /// The registry host the pull talks to.
    pub fn registry(&self) -> String {
        registry_of(&self.from_image)
    }
}

/// Options of [`Client::push_image`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushOptions {
    /// The tag to push; `None` takes the tag from the name, else `latest`.
    pub tag: Option<String>,
    /// Credentials for the registry; without them an empty auth config is sent (Docker
    /// refuses a push with no header at all).
    pub auth: Option<RegistryAuth>,
}

impl PushOptions {
    /// No tag, no credentials.
    pub fn new() -> PushOptions {
        PushOptions::default()
    }

    /// Sets the tag (builder style).
    pub fn tag(mut self, tag: impl Into<String>) -> PushOptions {
        self.tag = Some(tag.into());
        self
    }

    /// Sets the credentials (builder style).
    pub fn auth(mut self, auth: Option<RegistryAuth>) -> PushOptions {
        self.auth = auth;
        self
    }
}

/// Options of [`Client::import_image`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The name for the new image, tag included if wanted (`name:tag`). Sent as `repo` with the
    /// tag in it: Podman ignores the separate `tag` parameter of an import.
    pub repo: Option<String>,
    /// Dockerfile instructions applied to the image (`ENTRYPOINT ["/bin/sh"]`, `ENV A=b`; also
    /// `CMD`, `EXPOSE`, `USER`, `VOLUME`, `WORKDIR`).
    pub changes: Vec<String>,
    /// The commit message.
    pub message: Option<String>,
    /// `os[/arch[/variant]]`.
    pub platform: Option<String>,
}

impl ImportOptions {
    /// An import named `repo` (`name` or `name:tag`).
    pub fn named(repo: impl Into<String>) -> ImportOptions {
        ImportOptions {
            repo: Some(repo.into()),
            ..ImportOptions::default()
        }
    }

    /// Adds a Dockerfile instruction (builder style).
    pub fn change(mut self, instruction: impl Into<String>) -> ImportOptions {
        self.changes.push(instruction.into());
        self
    }

    /// Sets the message (builder style).
    pub fn message(mut self, message: impl Into<String>) -> ImportOptions {
        self.message = Some(message.into());
        self
    }
}

/// Options of [`Client::build_image`] (the classic builder).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildOptions {
    /// Names for the image (`name:tag`), each sent as a `t` parameter.
    pub tags: Vec<String>,
    /// The Dockerfile's path inside the context (default `Dockerfile`).
    pub dockerfile: Option<String>,
    /// `ARG` values.
    pub build_args: BTreeMap<String, String>,
    /// Labels set on the image.
    pub labels: BTreeMap<String, String>,
    /// Do not use the build cache.
    pub no_cache: bool,
    /// Remove intermediate containers after a successful build (default true).
    pub rm: bool,
    /// Always remove intermediate containers, even after a failure.
    pub force_rm: bool,
    /// Pull the base image even if it is present.
    pub pull: bool,
    /// `os[/arch[/variant]]`.
    pub platform: Option<String>,
    /// The stage to build.
    pub target: Option<String>,
    /// The network `RUN` steps use.
    pub network_mode: Option<String>,
    /// Credentials for the registries the build pulls from (`X-Registry-Config`).
    pub registry_auths: BTreeMap<String, RegistryAuth>,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            tags: Vec::new(),
            dockerfile: None,
            build_args: BTreeMap::new(),
            labels: BTreeMap::new(),
            no_cache: false,
            rm: true,
            force_rm: false,
            pull: false,
            platform: None,
            target: None,
            network_mode: None,
            registry_auths: BTreeMap::new(),
        }
    }
}

impl BuildOptions {
    /// A build tagged `tag`.
    pub fn tagged(tag: impl Into<String>) -> BuildOptions {
        BuildOptions {
            tags: vec![tag.into()],
            ..BuildOptions::default()
        }
    }

    /// Adds a build argument (builder style).
    pub fn build_arg(mut self, key: impl Into<String>, value: impl Into<String>) -> BuildOptions {
        self.build_args.insert(key.into(), value.into());
        self
    }

    /// Adds a label (builder style).
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> BuildOptions {
        self.labels.insert(key.into(), value.into());
        self
    }

    fn query(&self) -> Result<Query> {
        let json = |m: &BTreeMap<String, String>| {
            serde_json::to_string(m)
                .map_err(|e| Error::config(format!("cannot encode build options: {e}")))
        };
        let mut q = Query::new();
        for t in &self.tags {
            q.push("t", t);
        }
        q.opt("dockerfile", self.dockerfile.as_deref())
            .opt("platform", self.platform.as_deref())
            .opt("target", self.target.as_deref())
            .opt("networkmode", self.network_mode.as_deref())
            .flag_if("nocache", self.no_cache)
            .push("rm", if self.rm { "1" } else { "0" })
            .flag_if("forcerm", self.force_rm)
            .flag_if("pull", self.pull);
        if !self.build_args.is_empty() {
            q.push("buildargs", json(&self.build_args)?);
        }
        if !self.labels.is_empty() {
            q.push("labels", json(&self.labels)?);
        }
        Ok(q.done())
    }
}

// ---------------------------------------------------------------------------------------------
// Progress streams

/// Which operation a stream belongs to, for error mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Pull,
    Push,
    Import,
    Build,
    Load,
}

impl Operation {
    fn talks_to_registry(self) -> bool {
        matches!(self, Operation::Pull | Operation::Push)
    }
}

/// The progress of a pull, push, import, build or load: JSON lines decoded into `T`, with
/// errors reported inside the stream mapped to typed errors (see the [module docs](self)).
///
/// Read with [`next_item`](Self::next_item) or as a [`Stream`]. The operation runs as long as
/// the stream is read; dropping it closes the connection, which cancels a pull, push or build.
/// An error ends the stream.
#[derive(Debug)]
pub struct ProgressStream<T> {
    inner: JsonStream<T>,
    op: Operation,
    target: Option<Target>,
    done: bool,
}

/// The image a pull or push is about, for its errors.
#[derive(Debug, Clone)]
struct Target {
    /// `repository:tag` or `repository@digest`.
    image: String,
    /// The registry host.
    registry: String,
}

/// The progress of a pull.
pub type PullStream = ProgressStream<PullProgress>;
/// The progress of a push.
pub type PushStream = ProgressStream<PushProgress>;
/// The progress of a build.
pub type BuildStream = ProgressStream<BuildProgress>;

impl<T: DeserializeOwned> ProgressStream<T> {
    /// The next message; `Ok(None)` when the operation has finished.
    ///
    /// # Errors
    ///
    /// [`Error::Auth`] when the registry wants or rejects credentials, [`Error::Engine`] of kind
    /// [`ErrorKind::NotFound`] for an image the registry does not have, [`Error::Transfer`]
    /// (a pull or push) or [`Error::Stream`] (an import, build or load) for any other failure
    /// the engine reports, and the stream's own errors (a broken connection, an undecodable
    /// line).
    pub async fn next_item(&mut self) -> Result<Option<T>> {
        poll_fn(|cx| self.poll_next_item(cx)).await
    }

    /// Poll form of [`next_item`](Self::next_item).
    pub fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<T>>> {
        if self.done {
            return Poll::Ready(Ok(None));
        }
        match self.inner.poll_next_item(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(item))) => Poll::Ready(Ok(Some(item))),
            Poll::Ready(Ok(None)) => {
                self.done = true;
                Poll::Ready(Ok(None))
            }
            Poll::Ready(Err(e)) => {
                if !matches!(e, Error::Decode { .. }) {
                    self.done = true;
                }
                Poll::Ready(Err(classify(e, self.op, self.target.as_ref())))
            }
        }
    }

    /// Reads the stream to its end and returns every message.
    ///
    /// # Errors
    ///
    /// The first error of [`next_item`](Self::next_item).
    pub async fn collect_all(mut self) -> Result<Vec<T>> {
        let mut all = Vec::new();
        while let Some(item) = self.next_item().await? {
            all.push(item);
        }
        Ok(all)
    }

    /// Reads the stream to its end, keeping only the last message.
    ///
    /// # Errors
    ///
    /// The first error of [`next_item`](Self::next_item).
    pub async fn finish(mut self) -> Result<Option<T>> {
        let mut last = None;
        while let Some(item) = self.next_item().await? {
            last = Some(item);
        }
        Ok(last)
    }
}

impl ProgressStream<BuildProgress> {
    /// Reads a build, import or load to its end and returns the image it reports: a build's
    /// `aux.ID`, an import's ID, or the name or ID a load reports.
    ///
    /// # Errors
    ///
    /// The first error of [`next_item`](Self::next_item).
    pub async fn image_id(mut self) -> Result<Option<String>> {
        let mut id = None;
        while let Some(item) = self.next_item().await? {
            if let Some(found) = item.image_id().or_else(|| item.loaded_image()) {
                id = Some(found.to_string());
            }
        }
        Ok(id)
    }
}

impl ProgressStream<PushProgress> {
    /// Reads a push to its end and returns the pushed manifest's digest, when the engine
    /// reports it.
    ///
    /// # Errors
    ///
    /// The first error of [`next_item`](Self::next_item).
    pub async fn digest(mut self) -> Result<Option<String>> {
        let mut digest = None;
        while let Some(item) = self.next_item().await? {
            if let Some(d) = item.digest() {
                digest = Some(d.to_string());
            }
        }
        Ok(digest)
    }
}

impl<T: DeserializeOwned> Stream for ProgressStream<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_item(cx).map(Result::transpose)
    }
}

/// Maps an engine or stream error of `op` to the typed errors of the module docs.
fn classify(e: Error, op: Operation, target: Option<&Target>) -> Error {
    let target = match target {
        Some(t) if op.talks_to_registry() => t,
        _ => return e,
    };
    let registry = target.registry.as_str();
    let (message, status) = match &e {
        Error::Stream { message } => (message.as_str(), None),
        Error::Engine {
            message, status, ..
        } => (message.as_str(), Some(*status)),
        _ => return e,
    };
    if status == Some(401) || looks_unauthorized(message) {
        return Error::Auth {
            registry: registry.to_string(),
            message: message.to_string(),
        };
    }
    let missing = match op {
        // Docker answers a missing image with 404 before the stream; Podman inside it. A
        // layer the registry no longer has (Podman: "reading blob …: … 404 (Not Found)") is
        // an image that cannot be pulled, not a missing image or tag.
        Operation::Pull => {
            status.is_none()
                && looks_missing(message)
                && !message.to_ascii_lowercase().contains("blob")
        }
        // Docker reports a push of a missing local image inside its stream.
        _ => status.is_none() && message.contains("does not exist locally"),
    };
    if missing {
        return Error::Engine {
            kind: ErrorKind::NotFound,
            status: 404,
            message: message.to_string(),
        };
    }
    if status.is_none() {
        return Error::Transfer {
            operation: if op == Operation::Pull {
                "pull"
            } else {
                "push"
            },
            image: target.image.clone(),
            registry: registry.to_string(),
            message: message.to_string(),
        };
    }
    e
}

/// The ways registries (through Docker and Podman) say credentials are missing or wrong.
fn looks_unauthorized(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("unauthorized")
        || m.contains("authentication required")
        || m.contains("no basic auth credentials")
        || m.contains("incorrect username or password")
        || m.contains("invalid username/password")
}

/// The ways registries say an image or tag does not exist.
fn looks_missing(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("manifest unknown")
        || m.contains("name unknown")
        || m.contains("not found")
        || m.contains("no such image")
        || m.contains("image not known")
}

// ---------------------------------------------------------------------------------------------
// Requests

/// Splits `name:tag` (a tag is after the last `:` following the last `/`); a digest stays in
/// the name.
fn split_tag(name: &str) -> (&str, Option<&str>) {
    if name.contains('@') {
        return (name, None);
    }
    let after_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[after_slash..].rfind(':') {
        Some(i) => (&name[..after_slash + i], Some(&name[after_slash + i + 1..])),
        None => (name, None),
    }
}

fn auth_header_name() -> HeaderName {
    HeaderName::from_static(REGISTRY_AUTH_HEADER)
}

impl Client {
    /// `GET /images/{name}/json`: the image's metadata and default configuration.
    ///
    /// # Errors
    ///
    /// [`Error::is_not_found`] when there is no such image.
    pub async fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        self.json(Request::get(format!("/images/{}/json", seg(name))))
            .await
    }

    /// Whether an image by this name or ID is present.
    ///
    /// # Errors
    ///
    /// Anything but "not found".
    pub async fn image_exists(&self, name: &str) -> Result<bool> {
        match self.inspect_image(name).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /images/json` with filters (`reference`, `label`, `dangling`, …).
    pub async fn list_images(&self, opts: &ListImagesOptions) -> Result<Vec<ImageSummary>> {
        let q = Query::new()
            .flag_if("all", opts.all)
            .flag_if("digests", opts.digests)
            .filters(&opts.filters)
            .done();
        self.json(Request::get("/images/json").query(q)).await
    }

    /// `POST /images/{name}/tag`: gives image `name` the additional name `target`
    /// (`repo` or `repo:tag`; the tag defaults to `latest`).
    ///
    /// # Errors
    ///
    /// [`Error::is_not_found`] when `name` does not exist.
    pub async fn tag_image(&self, name: &str, target: &str) -> Result<()> {
        let (repo, tag) = split_tag(target);
        let q = Query::new()
            .push("repo", repo)
            .push("tag", tag.unwrap_or("latest"))
            .done();
        self.send(Request::post(format!("/images/{}/tag", seg(name))).query(q))
            .await
            .map(drop)
    }

    /// `DELETE /images/{name}`: removes a name, and the image once no name refers to it.
    /// Returns what was untagged and deleted.
    ///
    /// # Errors
    ///
    /// [`Error::is_not_found`] when there is no such image, [`Error::is_conflict`] when a
    /// container uses it (without `force`).
    pub async fn remove_image(
        &self,
        name: &str,
        opts: RemoveImageOptions,
    ) -> Result<Vec<ImageDeleted>> {
        let q = Query::new()
            .flag_if("force", opts.force)
            .flag_if("noprune", opts.noprune)
            .done();
        self.json(Request::delete(format!("/images/{}", seg(name))).query(q))
            .await
    }

    /// `POST /images/create?fromImage=…`: pulls an image, as a stream of progress messages.
    /// The pull is finished when the stream ends; dropping the stream cancels it.
    ///
    /// # Errors
    ///
    /// See [`ProgressStream::next_item`]; the same typed errors are returned here when the
    /// engine fails the request before streaming (Docker does, for a missing image or missing
    /// credentials).
    pub async fn pull_image(&self, opts: &PullOptions) -> Result<PullStream> {
        let q = Query::new()
            .push("fromImage", &opts.from_image)
            .push("tag", &opts.tag)
            .opt("platform", opts.platform.as_deref())
            .done();
        let mut req = Request::post("/images/create").query(q);
        if let Some(auth) = &opts.auth {
            req = req.header(auth_header_name(), auth.header_value());
        }
        let separator = if opts.tag.contains(':') { '@' } else { ':' };
        let target = Target {
            image: format!("{}{separator}{}", opts.from_image, opts.tag),
            registry: opts.registry(),
        };
        self.progress(req, RawBody::empty(), Operation::Pull, Some(target))
            .await
    }

    /// `POST /images/{name}/push`: pushes a tag of a local image to its registry, as a stream
    /// of progress messages. `name` is `repo` or `repo:tag`; [`PushOptions::tag`] wins over a
    /// tag in the name.
    ///
    /// # Errors
    ///
    /// As [`pull_image`](Self::pull_image); [`Error::is_not_found`] when the local image does
    /// not exist.
    pub async fn push_image(&self, name: &str, opts: &PushOptions) -> Result<PushStream> {
        let (repo, name_tag) = split_tag(name);
        let tag = opts.tag.as_deref().or(name_tag).unwrap_or("latest");
        let q = Query::new().push("tag", tag).done();
        let header = match &opts.auth {
            Some(auth) => auth.header_value(),
            None => http::HeaderValue::from_static(EMPTY_AUTH),
        };
        let req = Request::post(format!("/images/{}/push", seg(repo)))
            .query(q)
            .header(auth_header_name(), header);
        self.progress(
            req,
            RawBody::empty(),
            Operation::Push,
            Some(Target {
                image: format!("{repo}:{tag}"),
                registry: registry_of(repo),
            }),
        )
        .await
    }

    /// `POST /images/create?fromSrc=-`: creates an image from a root filesystem tar streamed
    /// from `tar` (plain or compressed), as a stream of messages; the last holds the new
    /// image's ID ([`ProgressStream::image_id`]).
    pub async fn import_image(
        &self,
        tar: impl AsyncRead + Send + 'static,
        opts: &ImportOptions,
    ) -> Result<ProgressStream<ImportProgress>> {
        let mut q = Query::new();
        q.push("fromSrc", "-")
            .opt("repo", opts.repo.as_deref())
            .opt("message", opts.message.as_deref())
            .opt("platform", opts.platform.as_deref());
        for change in &opts.changes {
            q.push("changes", change);
        }
        let mut req = Request::post("/images/create")
            .query(q.done())
            .timeout(Timeout::Extra(UPLOAD_GRACE));
        req.content_type = "application/x-tar";
        self.progress(req, RawBody::reader(tar), Operation::Import, None)
            .await
    }

    /// `POST /build`: builds an image with the classic builder from a tar of the build context
    /// streamed from `context`, as a stream of builder output; the built image's ID comes in
    /// `aux.ID` ([`ProgressStream::image_id`]). A failing step is an [`Error::Stream`] with the
    /// builder's message.
    pub async fn build_image(
        &self,
        context: impl AsyncRead + Send + 'static,
        opts: &BuildOptions,
    ) -> Result<BuildStream> {
        let mut req = Request::post("/build")
            .query(opts.query()?)
            .timeout(Timeout::Extra(UPLOAD_GRACE));
        req.content_type = "application/x-tar";
        if !opts.registry_auths.is_empty() {
            let value = encode_registry_config(
                opts.registry_auths
                    .iter()
                    .map(|(registry, auth)| (registry.as_str(), auth)),
            );
            let mut value = http::HeaderValue::from_str(&value)
                .map_err(|_| Error::config("cannot encode the build's registry credentials"))?;
            value.set_sensitive(true);
            req = req.header(HeaderName::from_static(REGISTRY_CONFIG_HEADER), value);
        }
        self.progress(req, RawBody::reader(context), Operation::Build, None)
            .await
    }

    /// `POST /images/load`: loads images from an archive (as written by
    /// [`export_image`](Self::export_image) or `docker save`) streamed from `tar`; the messages
    /// say what was loaded ([`BuildProgress::loaded_image`]).
    pub async fn load_image(
        &self,
        tar: impl AsyncRead + Send + 'static,
    ) -> Result<ProgressStream<LoadProgress>> {
        let mut req = Request::post("/images/load")
            .query(Query::new().push("quiet", "0").done())
            .timeout(Timeout::Extra(UPLOAD_GRACE));
        req.content_type = "application/x-tar";
        self.progress(req, RawBody::reader(tar), Operation::Load, None)
            .await
    }

    /// `GET /images/{name}/get`: the image as an archive (`docker save` format), streamed.
    ///
    /// # Errors
    ///
    /// [`Error::is_not_found`] when there is no such image.
    pub async fn export_image(&self, name: &str) -> Result<BodyReader> {
        let req = Request::get(format!("/images/{}/get", seg(name)));
        let response = self.stream(req, RawBody::empty(), false).await?;
        Ok(response.into_body())
    }

    async fn progress<T: DeserializeOwned>(
        &self,
        req: Request,
        body: RawBody,
        op: Operation,
        target: Option<Target>,
    ) -> Result<ProgressStream<T>> {
        let what = format!("{} {}", req.method, req.path);
        match self.stream(req, body, false).await {
            Ok(response) => Ok(ProgressStream {
                inner: response.into_json_stream(what),
                op,
                target,
                done: false,
            }),
            Err(e) => Err(classify(e, op, target.as_ref())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_decodes_docker_and_podman_shapes() {
        let docker = br#"{"Id":"sha256:8f3e","RepoTags":["tug-busybox:latest"],"RepoDigests":[],"Parent":"","Comment":"Imported from -","Created":"2026-11-24T15:24:43.529849241Z","Config":{"Env":["PATH=/bin"],"Cmd":["sh"],"Entrypoint":null,"Labels":{"a":"b"},"WorkingDir":"","User":"","Volumes":null,"ExposedPorts":{"80/tcp":{}},"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":1000000000}},"Architecture":"amd64","Os":"linux","Size":1985562,"VirtualSize":1985562,"Future":{"x":1}}"#;
        let i: ImageInspect = serde_json::from_slice(docker).unwrap();
        assert_eq!(i.repo_tags, ["tug-busybox:latest"]);
        assert_eq!(i.config.cmd, ["sh"]);
        assert!(i.config.entrypoint.is_empty());
        assert_eq!(i.config.labels["a"], "b");
        assert!(i.config.exposed_ports.contains_key("80/tcp"));
        assert_eq!(
            i.config.healthcheck.unwrap().interval,
            Some(Duration::from_secs(1))
        );
        assert_eq!(i.size, 1985562);
        assert_eq!(i.variant, None);

        let podman = br#"{"Id":"sha256:81ea","RepoTags":null,"RepoDigests":null,"Config":{"Entrypoint":"/bin/sh -c","Cmd":null,"Labels":null,"Env":null},"Architecture":"arm64","Variant":"v8","Os":"linux","Size":2}"#;
        let i: ImageInspect = serde_json::from_slice(podman).unwrap();
        assert_eq!(i.config.entrypoint, ["/bin/sh -c"]);
        assert!(i.config.cmd.is_empty() && i.repo_tags.is_empty());
        assert_eq!(i.variant.as_deref(), Some("v8"));
        let i: ImageInspect = serde_json::from_slice(br#"{"Id":"x","Config":null}"#).unwrap();
        assert!(i.config.env.is_empty());
    }

    #[test]
    fn summaries_and_deletes_decode() {
        let docker = br#"[{"Containers":-1,"Created":1795533883,"Id":"sha256:8f3e","Labels":null,"ParentId":"","RepoDigests":null,"RepoTags":["tug-busybox:latest"],"SharedSize":-1,"Size":1985562,"VirtualSize":1985562}]"#;
        let l: Vec<ImageSummary> = serde_json::from_slice(docker).unwrap();
        assert_eq!(l[0].containers, -1);
        assert!(l[0].labels.is_empty());
        let podman = br#"[{"Id":"sha256:81ea","ParentId":"","RepoTags":["localhost/tug-busybox:latest"],"Created":1795533883,"Size":2131154,"SharedSize":0,"Labels":{"k":"v"},"Containers":0,"Names":["x"],"Digest":"sha256:0f"}]"#;
        let l: Vec<ImageSummary> = serde_json::from_slice(podman).unwrap();
        assert_eq!(l[0].labels["k"], "v");
        let d: Vec<ImageDeleted> =
            serde_json::from_slice(br#"[{"Untagged":"a:1"},{"Deleted":"sha256:x"}]"#).unwrap();
        assert_eq!(d[0].untagged.as_deref(), Some("a:1"));
        assert_eq!(d[1].deleted.as_deref(), Some("sha256:x"));
    }

    #[test]
    fn progress_messages_decode() {
        let p: PullProgress = serde_json::from_slice(
            br#"{"status":"Downloading","progressDetail":{"current":10,"total":20},"progress":"[=>  ]","id":"a1"}"#,
        )
        .unwrap();
        assert_eq!(p.status, "Downloading");
        assert_eq!(p.progress_detail.unwrap().total, Some(20));
        let p: PullProgress = serde_json::from_slice(br#"{"progressDetail":{}}"#).unwrap();
        assert_eq!(p.status, "");

        let push: PushProgress = serde_json::from_slice(
            br#"{"progressDetail":{},"aux":{"Tag":"t1","Digest":"sha256:18e2","Size":527}}"#,
        )
        .unwrap();
        assert_eq!(push.digest(), Some("sha256:18e2"));
        let push: PushProgress =
            serde_json::from_slice(br#"{"status":"t1: digest: sha256:00ce size: 343"}"#).unwrap();
        assert_eq!(push.digest(), Some("sha256:00ce"));

        let b: BuildProgress = serde_json::from_slice(br#"{"aux":{"ID":"sha256:90fd"}}"#).unwrap();
        assert_eq!(b.image_id(), Some("sha256:90fd"));
        let b: BuildProgress = serde_json::from_slice(
            br#"{"status":"sha256:4c8a","progress":"","progressDetail":{},"id":"sha256:4c8a"}"#,
        )
        .unwrap();
        assert_eq!(b.image_id(), Some("sha256:4c8a"));
        let b: BuildProgress =
            serde_json::from_slice(br#"{"stream":"Loaded image: tug-probe-load:t1\n"}"#).unwrap();
        assert_eq!(b.loaded_image(), Some("tug-probe-load:t1"));
        assert_eq!(b.image_id(), None);
    }

    #[test]
    fn registry_errors_are_typed() {
        let target = Target {
            image: "127.0.0.1:5000/tug/busybox:latest".into(),
            registry: "127.0.0.1:5000".into(),
        };
        let reg = Some(&target);
        // Docker: a 500 before the stream.
        let e = classify(
            Error::Engine {
                kind: ErrorKind::Server,
                status: 500,
                message: "Head \"http://127.0.0.1:5000/v2/tug/busybox/manifests/latest\": no basic auth credentials".into(),
            },
            Operation::Pull,
            reg,
        );
        assert!(e.is_unauthorized(), "{e:?}");
        assert!(e.to_string().contains("127.0.0.1:5000"), "{e}");
        // Podman: inside the stream.
        let e = classify(
            Error::Stream {
                message: "initializing source docker://127.0.0.1:5000/tug/nope:latest: reading manifest latest in 127.0.0.1:5000/tug/nope: manifest unknown: manifest unknown".into(),
            },
            Operation::Pull,
            reg,
        );
        assert!(e.is_not_found(), "{e:?}");
        assert!(e.to_string().contains("manifest unknown"));
        let e = classify(
            Error::Stream {
                message: "reading manifest latest in x: unauthorized: authentication required"
                    .into(),
            },
            Operation::Push,
            reg,
        );
        assert!(matches!(&e, Error::Auth { registry, .. } if registry == "127.0.0.1:5000"));
        // Other failures of a pull or push name the image and keep the engine's message;
        // builds are not about a registry.
        let e = classify(
            Error::Stream {
                message: "unknown blob".into(),
            },
            Operation::Pull,
            reg,
        );
        assert!(
            matches!(&e, Error::Transfer { registry, .. } if registry == "127.0.0.1:5000"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "pull of 127.0.0.1:5000/tug/busybox:latest: unknown blob"
        );
        assert_eq!(e.engine_message(), Some("unknown blob"));
        assert!(!e.is_connect() && !e.is_not_found() && !e.is_unauthorized());
        // Podman's words for a blob the registry answered 404 for.
        let e = classify(
            Error::Stream {
                message: "reading blob sha256:836e: Error fetching blob: invalid status code from registry 404 (Not Found)".into(),
            },
            Operation::Pull,
            reg,
        );
        assert!(matches!(&e, Error::Transfer { .. }), "{e:?}");
        assert!(!e.is_not_found());
        let e = classify(
            Error::Stream {
                message: "COPY failed: file not found".into(),
            },
            Operation::Build,
            None,
        );
        assert!(!e.is_not_found());
    }

    #[test]
    fn tags_split_off_names() {
        assert_eq!(split_tag("a"), ("a", None));
        assert_eq!(split_tag("a:1"), ("a", Some("1")));
        assert_eq!(split_tag("127.0.0.1:5000/x"), ("127.0.0.1:5000/x", None));
        assert_eq!(
            split_tag("127.0.0.1:5000/x:t"),
            ("127.0.0.1:5000/x", Some("t"))
        );
        assert_eq!(split_tag("x@sha256:ab"), ("x@sha256:ab", None));
    }

    #[test]
    fn pull_options_split_the_reference() {
        let o = PullOptions::new("127.0.0.1:5000/tug/busybox:1").unwrap();
        assert_eq!(o.from_image, "127.0.0.1:5000/tug/busybox");
        assert_eq!(o.tag, "1");
        assert_eq!(o.registry(), "127.0.0.1:5000");
        let o = PullOptions::new("alpine").unwrap();
        assert_eq!(
            (o.from_image.as_str(), o.tag.as_str()),
            ("docker.io/library/alpine", "latest")
        );
        assert_eq!(o.registry(), "docker.io");
        assert_eq!(PullOptions::from_parts("x", "").tag, "latest");
    }

    #[test]
    fn build_query() {
        let q = BuildOptions::tagged("app:1")
            .build_arg("A", "b c")
            .label("k", "v")
            .query()
            .unwrap();
        assert_eq!(
            q.0,
            "t=app%3A1&rm=1&buildargs=%7B%22A%22%3A%22b%20c%22%7D&labels=%7B%22k%22%3A%22v%22%7D"
        );
        let o = BuildOptions {
            rm: false,
            no_cache: true,
            force_rm: true,
            pull: true,
            dockerfile: Some("sub/Dockerfile".into()),
            ..BuildOptions::default()
        };
        assert_eq!(
            o.query().unwrap().0,
            "dockerfile=sub%2FDockerfile&nocache=1&rm=0&forcerm=1&pull=1"
        );
    }
}

/// Wire tests: the exact requests the image calls send, against an in-process fake engine on a
/// unix socket that records each request and answers with canned bytes.
#[cfg(all(test, unix))]
mod wire {
    use std::sync::{Arc, Mutex};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{UnixListener, UnixStream};

    use super::*;
    use crate::Endpoint;

    #[derive(Debug, Clone, Default)]
    struct Rec {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        chunks: Vec<usize>,
    }

    impl Rec {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    type Handler = fn(&Rec) -> Vec<u8>;

    struct Fake {
        _dir: tempfile::TempDir,
        client: Client,
        seen: Arc<Mutex<Vec<Rec>>>,
    }

    impl Fake {
        fn start(handler: Handler) -> Fake {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("engine.sock");
            let listener = UnixListener::bind(&path).unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let recorder = seen.clone();
            tokio::spawn(async move {
                while let Ok((conn, _)) = listener.accept().await {
                    tokio::spawn(serve(conn, handler, recorder.clone()));
                }
            });
            let endpoint = Endpoint::unix(&path);
            Fake {
                _dir: dir,
                client: Client::new(endpoint).unwrap(),
                seen,
            }
        }

        /// The requests after version negotiation.
        fn requests(&self) -> Vec<Rec> {
            let all = self.seen.lock().unwrap().clone();
            all.into_iter().filter(|r| r.target != "/_ping").collect()
        }
    }

    async fn serve(mut conn: UnixStream, handler: Handler, seen: Arc<Mutex<Vec<Rec>>>) {
        let mut buf = Vec::new();
        loop {
            let Some(end) = fill_until(&mut conn, &mut buf, |b| find(b, b"\r\n\r\n")).await else {
                return;
            };
            let head = String::from_utf8(buf.drain(..end + 4).collect()).unwrap();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap().split(' ');
            let mut rec = Rec {
                method: first.next().unwrap().to_string(),
                target: first.next().unwrap().to_string(),
                ..Rec::default()
            };
            for line in lines.filter(|l| !l.is_empty()) {
                let (k, v) = line.split_once(':').unwrap();
                rec.headers.push((k.to_string(), v.trim().to_string()));
            }
            if let Some(len) = rec.header("content-length") {
                let len: usize = len.parse().unwrap();
                fill_until(&mut conn, &mut buf, |b| (b.len() >= len).then_some(len)).await;
                rec.body = buf.drain(..len).collect();
            } else if rec.header("transfer-encoding") == Some("chunked") {
                loop {
                    let line_end = fill_until(&mut conn, &mut buf, |b| find(b, b"\r\n"))
                        .await
                        .unwrap();
                    let size_line: Vec<u8> = buf.drain(..line_end + 2).collect();
                    let size = usize::from_str_radix(
                        std::str::from_utf8(&size_line[..line_end]).unwrap().trim(),
                        16,
                    )
                    .unwrap();
                    fill_until(&mut conn, &mut buf, |b| (b.len() >= size + 2).then_some(0)).await;
                    if size == 0 {
                        buf.drain(..2);
                        break;
                    }
                    rec.chunks.push(size);
                    rec.body.extend(buf.drain(..size));
                    buf.drain(..2);
                }
            }
            let response = if rec.target == "/_ping" {
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK".to_vec()
            } else {
                handler(&rec)
            };
            seen.lock().unwrap().push(rec);
            if conn.write_all(&response).await.is_err() {
                return;
            }
        }
    }

    async fn fill_until(
        conn: &mut UnixStream,
        buf: &mut Vec<u8>,
        done: impl Fn(&[u8]) -> Option<usize>,
    ) -> Option<usize> {
        loop {
            if let Some(n) = done(buf) {
                return Some(n);
            }
            let mut tmp = [0u8; 64 * 1024];
            match conn.read(&mut tmp).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    /// A chunked `200` JSON-lines answer, one chunk per line.
    fn json_lines(lines: &[&str]) -> Vec<u8> {
        let mut out =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                .to_vec();
        for l in lines {
            out.extend_from_slice(format!("{:x}\r\n{l}\n\r\n", l.len() + 1).as_bytes());
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    fn json(status: &str, body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn pull_sends_repository_tag_platform_and_auth() {
        let fake = Fake::start(|_| {
            json_lines(&[
                r#"{"status":"Pulling from tug/busybox","id":"latest"}"#,
                r#"{"status":"Downloading","progressDetail":{"current":5,"total":10},"id":"a1"}"#,
                r#"{"status":"Status: Downloaded newer image for 127.0.0.1:5000/tug/busybox:1"}"#,
            ])
        });
        let auth = RegistryAuth::basic("tug", "p+w/??>").with_server_address("127.0.0.1:5000");
        let opts = PullOptions::new("127.0.0.1:5000/tug/busybox:1")
            .unwrap()
            .platform("linux/amd64")
            .auth(Some(auth.clone()));
        let all = fake
            .client
            .pull_image(&opts)
            .await
            .unwrap()
            .collect_all()
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1].progress_detail.unwrap().current, Some(5));
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.target,
            "/v1.41/images/create?fromImage=127.0.0.1%3A5000%2Ftug%2Fbusybox&tag=1&platform=linux%2Famd64"
        );
        assert_eq!(r.header("x-registry-auth"), Some(auth.encode().as_str()));
        assert!(r.body.is_empty());

        // Anonymous: no header at all; a Docker Hub short name is fully qualified.
        let opts = PullOptions::new("alpine").unwrap();
        fake.client
            .pull_image(&opts)
            .await
            .unwrap()
            .finish()
            .await
            .unwrap();
        let r = fake.requests().pop().unwrap();
        assert_eq!(
            r.target,
            "/v1.41/images/create?fromImage=docker.io%2Flibrary%2Falpine&tag=latest"
        );
        assert_eq!(r.header("x-registry-auth"), None);
    }

    #[tokio::test]
    async fn registry_failures_before_and_inside_the_stream_are_typed() {
        let fake = Fake::start(|r| {
            if r.target.contains("docker-style") {
                json(
                    "500 Internal Server Error",
                    r#"{"message":"Head \"http://r:5000/v2/docker-style/manifests/latest\": no basic auth credentials"}"#,
                )
            } else if r.target.contains("podman-missing") {
                json_lines(&[
                    r#"{"progressDetail":{},"errorDetail":{"message":"reading manifest latest in r:5000/podman-missing: manifest unknown: manifest unknown"},"error":"x"}"#,
                ])
            } else {
                json_lines(&[
                    r#"{"status":"Trying to pull"}"#,
                    r#"{"errorDetail":{"message":"reading manifest: unauthorized: authentication required"}}"#,
                ])
            }
        });
        let pull = |name: &'static str| {
            let client = fake.client.clone();
            async move {
                match client.pull_image(&PullOptions::new(name).unwrap()).await {
                    Ok(s) => s.finish().await.map(drop),
                    Err(e) => Err(e),
                }
            }
        };
        let e = pull("r:5000/docker-style").await.unwrap_err();
        assert!(
            matches!(&e, Error::Auth { registry, .. } if registry == "r:5000"),
            "{e:?}"
        );
        let e = pull("r:5000/podman-missing").await.unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        let mut s = fake
            .client
            .pull_image(&PullOptions::new("r:5000/podman-auth").unwrap())
            .await
            .unwrap();
        assert_eq!(
            s.next_item().await.unwrap().unwrap().status,
            "Trying to pull"
        );
        let e = s.next_item().await.unwrap_err();
        assert!(e.is_unauthorized(), "{e:?}");
        assert!(e.to_string().contains("r:5000"), "{e}");
        assert!(
            s.next_item().await.unwrap().is_none(),
            "the stream ends after an error"
        );
    }

    #[tokio::test]
    async fn a_pull_failing_halfway_names_the_image_after_the_progress() {
        const DIGEST: &str =
            "sha256:0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c";
        let fake = Fake::start(|_| {
            json_lines(&[
                r#"{"status":"Pulling fs layer","progressDetail":{},"id":"9a1f"}"#,
                r#"{"status":"Downloading","progressDetail":{"current":2097152,"total":4198400},"id":"9a1f"}"#,
                r#"{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}"#,
            ])
        });
        let mut s = fake
            .client
            .pull_image(&PullOptions::new("r:5001/tug/big:t1").unwrap())
            .await
            .unwrap();
        assert_eq!(
            s.next_item().await.unwrap().unwrap().status,
            "Pulling fs layer"
        );
        assert_eq!(s.next_item().await.unwrap().unwrap().status, "Downloading");
        let e = s.next_item().await.unwrap_err();
        assert_eq!(e.to_string(), "pull of r:5001/tug/big:t1: unexpected EOF");
        assert!(
            matches!(&e, Error::Transfer { operation: "pull", registry, .. } if registry == "r:5001"),
            "{e:?}"
        );
        assert!(s.next_item().await.unwrap().is_none());
        let e = fake
            .client
            .pull_image(&PullOptions::new(&format!("r:5001/tug/big@{DIGEST}")).unwrap())
            .await
            .unwrap()
            .finish()
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("pull of r:5001/tug/big@{DIGEST}: unexpected EOF")
        );
    }

    #[tokio::test]
    async fn push_sends_the_tag_apart_and_always_an_auth_header() {
        let fake = Fake::start(|_| {
            json_lines(&[
                r#"{"status":"The push refers to repository [r:5000/tug/x]"}"#,
                r#"{"progressDetail":{},"aux":{"Tag":"t1","Digest":"sha256:abc","Size":527}}"#,
            ])
        });
        let digest = fake
            .client
            .push_image("r:5000/tug/x:t1", &PushOptions::new())
            .await
            .unwrap()
            .digest()
            .await
            .unwrap();
        assert_eq!(digest.as_deref(), Some("sha256:abc"));
        let auth = RegistryAuth::basic("u", "p");
        fake.client
            .push_image(
                "r:5000/tug/x",
                &PushOptions::new().tag("t2").auth(Some(auth.clone())),
            )
            .await
            .unwrap()
            .finish()
            .await
            .unwrap();
        let reqs = fake.requests();
        assert_eq!(reqs[0].method, "POST");
        assert_eq!(reqs[0].target, "/v1.41/images/r:5000%2Ftug%2Fx/push?tag=t1");
        assert_eq!(reqs[0].header("x-registry-auth"), Some(EMPTY_AUTH));
        assert_eq!(reqs[1].target, "/v1.41/images/r:5000%2Ftug%2Fx/push?tag=t2");
        assert_eq!(
            reqs[1].header("x-registry-auth"),
            Some(auth.encode().as_str())
        );
    }

    #[tokio::test]
    async fn import_streams_the_tar_in_bounded_chunks() {
        let fake = Fake::start(|_| {
            json_lines(&[r#"{"status":"sha256:4c8a","progressDetail":{},"id":"sha256:4c8a"}"#])
        });
        // 3 MiB produced by a reader: it reaches the engine chunked, never as one piece.
        let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let opts = ImportOptions::named("tug/imported:t1")
            .change("ENV A=b c")
            .change(r#"ENTRYPOINT ["/bin/sh"]"#)
            .message("m");
        let id = fake
            .client
            .import_image(std::io::Cursor::new(data.clone()), &opts)
            .await
            .unwrap()
            .image_id()
            .await
            .unwrap();
        assert_eq!(id.as_deref(), Some("sha256:4c8a"));
        let r = fake.requests().pop().unwrap();
        assert_eq!(
            r.target,
            "/v1.41/images/create?fromSrc=-&repo=tug%2Fimported%3At1&message=m&changes=ENV%20A%3Db%20c&changes=ENTRYPOINT%20%5B%22%2Fbin%2Fsh%22%5D"
        );
        assert_eq!(r.header("content-type"), Some("application/x-tar"));
        assert_eq!(r.header("transfer-encoding"), Some("chunked"));
        assert!(r.body == data, "the body arrives intact");
        assert!(r.chunks.len() > 1, "{:?}", r.chunks);
        assert!(r.chunks.iter().all(|&c| c <= 1024 * 1024), "{:?}", r.chunks);
    }

    #[tokio::test]
    async fn build_sends_its_options_and_registry_config() {
        let fake = Fake::start(|_| {
            json_lines(&[
                r#"{"stream":"Step 1/1 : FROM busybox"}"#,
                r#"{"aux":{"ID":"sha256:90fd"}}"#,
                r#"{"stream":"Successfully built 90fd\n"}"#,
            ])
        });
        let mut opts = BuildOptions::tagged("app:1").build_arg("V", "1");
        opts.tags.push("app:latest".into());
        opts.platform = Some("linux/arm64".into());
        opts.registry_auths
            .insert("docker.io".into(), RegistryAuth::basic("hub", "secret"));
        let id = fake
            .client
            .build_image(std::io::Cursor::new(b"context".to_vec()), &opts)
            .await
            .unwrap()
            .image_id()
            .await
            .unwrap();
        assert_eq!(id.as_deref(), Some("sha256:90fd"));
        let r = fake.requests().pop().unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.target,
            "/v1.41/build?t=app%3A1&t=app%3Alatest&platform=linux%2Farm64&rm=1&buildargs=%7B%22V%22%3A%221%22%7D"
        );
        assert_eq!(r.header("content-type"), Some("application/x-tar"));
        assert_eq!(r.body, b"context");
        let config = r.header("x-registry-config").unwrap();
        let decoded: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE, config).unwrap(),
        )
        .unwrap();
        assert_eq!(decoded["https://index.docker.io/v1/"]["username"], "hub");
    }

    #[tokio::test]
    async fn inspect_list_tag_remove_requests() {
        let fake = Fake::start(|r| match (r.method.as_str(), r.target.as_str()) {
            ("GET", t) if t.contains("/missing/json") => json(
                "404 Not Found",
                r#"{"message":"No such image: missing:latest"}"#,
            ),
            ("GET", t) if t.ends_with("/json") => json(
                "200 OK",
                r#"{"Id":"sha256:1","RepoTags":["a:1"],"Config":{"Entrypoint":"/x"}}"#,
            ),
            ("GET", _) => json("200 OK", r#"[{"Id":"sha256:1","RepoTags":null}]"#),
            ("POST", _) => b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".to_vec(),
            _ => json("200 OK", r#"[{"Untagged":"a:1"},{"Deleted":"sha256:1"}]"#),
        });
        let c = &fake.client;
        let i = c.inspect_image("r:5000/a:1").await.unwrap();
        assert_eq!(i.config.entrypoint, ["/x"]);
        assert!(!c.image_exists("missing").await.unwrap());
        let l = c
            .list_images(
                &ListImagesOptions::new()
                    .reference("a")
                    .label("k=v")
                    .dangling(false),
            )
            .await
            .unwrap();
        assert!(l[0].repo_tags.is_empty());
        c.tag_image("sha256:1", "r:5000/b").await.unwrap();
        let d = c
            .remove_image("a:1", RemoveImageOptions::force().noprune(true))
            .await
            .unwrap();
        assert_eq!(d.len(), 2);
        let targets: Vec<String> = fake
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect();
        assert_eq!(
            targets,
            [
                "GET /v1.41/images/r:5000%2Fa:1/json",
                "GET /v1.41/images/missing/json",
                "GET /v1.41/images/json?filters=%7B%22dangling%22%3A%5B%22false%22%5D%2C%22label%22%3A%5B%22k%3Dv%22%5D%2C%22reference%22%3A%5B%22a%22%5D%7D",
                "POST /v1.41/images/sha256:1/tag?repo=r%3A5000%2Fb&tag=latest",
                "DELETE /v1.41/images/a:1?force=1&noprune=1",
            ]
        );
    }
}
