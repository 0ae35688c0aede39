//! `tug engine …`: what engine tug talks to, and how it was chosen.

#![allow(clippy::print_stdout)]

use anyhow::Context;
use clap::Subcommand;
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
    endpoint_source: String,
    tls: Option<TlsInfo>,
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
struct TlsInfo {
    verify: bool,
    ca_file: String,
}

pub async fn run(cmd: EngineCommand) -> anyhow::Result<u8> {
    match cmd {
        EngineCommand::Info { json } => info(json).await,
    }
}

async fn info(json: bool) -> anyhow::Result<u8> {
    let endpoint = Endpoint::from_env().context("cannot select the container engine")?;
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
        tls: endpoint.tls.as_ref().map(|t| TlsInfo {
            verify: t.verify,
            ca_file: t.ca_file.display().to_string(),
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
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let pinned = if report.api_version_pinned {
            " (pinned by DOCKER_API_VERSION)"
        } else {
            " (negotiated)"
        };
        println!("Runtime:      {}", report.runtime);
        println!(
            "Endpoint:     {} (from {})",
            report.endpoint, report.endpoint_source
        );
        if let Some(tls) = &report.tls {
            println!(
                "TLS:          {} ({})",
                if tls.verify {
                    "verified"
                } else {
                    "not verified"
                },
                tls.ca_file
            );
        }
        println!("Engine:       {} {}", report.engine, report.engine_version);
        println!("API version:  {}{pinned}", report.api_version);
        println!("Platform:     {}/{}", report.os, report.arch);
        if let Some(os) = &report.operating_system {
            println!("Host OS:      {os}");
        }
    }
    Ok(exit::SUCCESS)
}
