//! `tug engine …`: what engine tug talks to, and how it was chosen.
//!
//! `tug engine info` names the endpoint and why it was picked: `DOCKER_HOST`, a Docker context
//! (from `DOCKER_CONTEXT` or `currentContext` in `config.json`), `DAGU_PODMAN_HOST`, or the
//! default socket, in text and in `--json`.

#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::Subcommand;
use engine_api::endpoint::Address;
use engine_api::{Client, Endpoint};
use serde::Serialize;

use crate::exit;

#[derive(Debug, Subcommand)]
pub enum EngineCommand {
    /// Show the runtime, endpoint, engine version, negotiated API version and platform.
    #[command(after_help = crate::help::ENGINE_INFO)]
    Info {
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// What `tug engine info` reports.
#[derive(Debug, Serialize)]
struct EngineInfo {
    runtime: String,
    endpoint: String,
    /// Why this endpoint: `DOCKER_HOST`, `context `x` from DOCKER_CONTEXT`, `default Docker
    /// socket`, …
    endpoint_source: String,
    /// The Docker context involved, if any.
    context: Option<ContextInfo>,
    /// `unix`, `tcp`, `tls` or `ssh`.
    transport: &'static str,
    /// The ssh client configuration passed to `ssh -F` (`TUG_SSH_CONFIG`), for ssh endpoints.
    ssh_config: Option<String>,
    tls: Option<TlsInfo>,
    /// Custom HTTP headers sent with every request: names only (values may be tokens).
    custom_headers: Option<HeadersInfo>,
    engine: String,
    engine_version: String,
    api_version: String,
    api_version_pinned: bool,
    engine_api_version: Option<String>,
    os: String,
    arch: String,
    kernel_version: Option<String>,
    operating_system: Option<String>,
}

#[derive(Debug, Serialize)]
struct HeadersInfo {
    names: Vec<String>,
    /// `DOCKER_CUSTOM_HEADERS`, or `HttpHeaders in …/config.json`.
    source: Option<String>,
}

#[derive(Debug, Serialize)]
struct ContextInfo {
    name: String,
    /// `DOCKER_CONTEXT`, or `currentContext in /root/.docker/config.json`.
    chosen_by: String,
    /// The context's `meta.json`; `null` for the `default` context.
    meta_file: Option<String>,
}

#[derive(Debug, Serialize)]
struct TlsInfo {
    verify: bool,
    ca_file: String,
    /// What the daemon's certificate is checked against: `ca_file`, `system` (the system's
    /// trust store, as `ca_file` does not exist) or `none` (not verified).
    trust: &'static str,
}

pub async fn run(cmd: EngineCommand, context: Option<&str>) -> anyhow::Result<u8> {
    match cmd {
        EngineCommand::Info { json } => info(json, context).await,
    }
}

/// The engine the environment selects, or the Docker context `--context` names.
pub fn environment(context: Option<&str>) -> engine_api::Result<Endpoint> {
    environment_from(context, |key| std::env::var(key).ok())
}

/// [`environment`] with the environment given as a lookup.
pub fn environment_from(
    context: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> engine_api::Result<Endpoint> {
    match context {
        Some(name) => Endpoint::for_context(name, "--context", lookup),
        None => Endpoint::from_lookup(lookup),
    }
}

async fn info(json: bool, context: Option<&str>) -> anyhow::Result<u8> {
    let endpoint = environment(context).context("cannot select the container engine")?;
    let client = Client::new(endpoint.clone())?;
    let identity = client.identity().await?.clone();
    let version = client.version().await?;
    let system = client.info().await.ok();
    let engine = if identity.podman {
        "Podman"
    } else {
        "Docker Engine"
    };
    let report = EngineInfo {
        runtime: endpoint.runtime.to_string(),
        endpoint: endpoint.url.clone(),
        endpoint_source: endpoint.source.clone(),
        context: endpoint.context.as_ref().map(|c| ContextInfo {
            name: c.name.clone(),
            chosen_by: c.chosen_by.clone(),
            meta_file: c.meta_file.as_ref().map(|m| m.display().to_string()),
        }),
        transport: match (&endpoint.address, &endpoint.tls) {
            (Address::Unix(_), _) => "unix",
            (Address::Tcp { .. }, None) => "tcp",
            (Address::Tcp { .. }, Some(_)) => "tls",
            (Address::Ssh(_), _) => "ssh",
        },
        ssh_config: match &endpoint.address {
            Address::Ssh(_) => endpoint
                .ssh_config
                .as_ref()
                .map(|p| p.display().to_string()),
            _ => None,
        },
        custom_headers: (!endpoint.headers.is_empty()).then(|| HeadersInfo {
            names: endpoint.headers.names().map(str::to_string).collect(),
            source: endpoint.headers.source().map(str::to_string),
        }),
        tls: endpoint.tls.as_ref().map(|t| TlsInfo {
            verify: t.verify,
            ca_file: t.ca_file.display().to_string(),
            trust: match (t.verify, t.uses_system_roots()) {
                (false, _) => "none",
                (true, true) => "system",
                (true, false) => "ca_file",
            },
        }),
        engine: engine.to_string(),
        engine_version: version.version.clone().unwrap_or_default(),
        api_version: identity.api_version.to_string(),
        api_version_pinned: identity.pinned,
        engine_api_version: identity.engine_api_version.map(|v| v.to_string()),
        os: version.os.clone().unwrap_or_default(),
        arch: version.arch.clone().unwrap_or_default(),
        kernel_version: version.kernel_version.clone(),
        operating_system: system.and_then(|i| i.operating_system),
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let pinned = if report.api_version_pinned {
            " (pinned by DOCKER_API_VERSION)"
        } else {
            " (negotiated)"
        };
        outln!("Runtime:      {}", report.runtime);
        if let Some(c) = &report.context {
            match &c.meta_file {
                Some(meta) => outln!("Context:      {} (from {}; {meta})", c.name, c.chosen_by),
                None => outln!("Context:      {} (from {})", c.name, c.chosen_by),
            }
        }
        outln!(
            "Endpoint:     {} ({})",
            report.endpoint,
            why(&report.endpoint_source)
        );
        if report.transport == "ssh" {
            let config = report
                .ssh_config
                .as_deref()
                .unwrap_or("ssh's defaults (~/.ssh/config)");
            outln!("Transport:    ssh … docker system dial-stdio; ssh config: {config}");
        }
        if let Some(tls) = &report.tls {
            match tls.trust {
                "system" => outln!(
                    "TLS:          verified (the system trust store: there is no {})",
                    tls.ca_file
                ),
                "ca_file" => outln!("TLS:          verified ({})", tls.ca_file),
                _ => outln!("TLS:          not verified"),
            }
        }
        if let Some(h) = &report.custom_headers {
            let from = h
                .source
                .as_deref()
                .map(|s| format!(" (from {s})"))
                .unwrap_or_default();
            outln!("Headers:      {}{from}", h.names.join(", "));
        }
        outln!("Engine:       {} {}", report.engine, report.engine_version);
        outln!("API version:  {}{pinned}", report.api_version);
        outln!("Platform:     {}/{}", report.os, report.arch);
        if let Some(os) = &report.operating_system {
            outln!("Host OS:      {os}");
        }
    }
    Ok(exit::SUCCESS)
}

/// The endpoint's source as a reason: variables read "from DOCKER_HOST"; the rest
/// ("context `x` from DOCKER_CONTEXT", "default Docker socket") already read as one.
fn why(source: &str) -> String {
    if source.starts_with("DOCKER_HOST") || source.starts_with("DAGU_PODMAN_HOST") {
        format!("from {source}")
    } else {
        source.to_string()
    }
}
