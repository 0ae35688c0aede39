//! Pulls an image with the registry credentials the docker CLI would use, showing per-layer
//! progress, and prints the digest of what was pulled.
//!
//! ```text
//! cargo run -p engine-api --example pull -- IMAGE
//! ```
//!
//! Credentials are resolved by `engine_api::auth::CredentialStore`, in the docker CLI's order:
//! a `DOCKER_AUTH_CONFIG` document, then `config.json` in `$DOCKER_CONFIG` (else
//! `~/.docker`): `credHelpers`, `credsStore`, then the inline `auths` entry. Without an entry
//! the pull is anonymous; a rejected password is an error, never retried anonymously.
//!
//! Progress goes to stderr, a line when a layer changes state and every 25% of a download or
//! an extraction. The last line, on stdout, is the digest (`sha256:…`), so a script can take
//! it with `digest=$(cargo run -q -p engine-api --example pull -- alpine)`.
//!
//! The engine is chosen from the environment as the docker CLI does (`DOCKER_HOST`,
//! `DOCKER_CONTEXT`, …, or `DAGU_CONTAINER_RUNTIME=podman`). Dropping a pull stream cancels
//! the pull, so Ctrl-C (which ends this process) stops it.
//!
//! Exit codes: 0 on success, 1 when the pull failed, 2 for bad arguments.

// Examples are binaries: reporting on the terminal is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::error::Error as StdError;
use std::process::ExitCode;

use engine_api::auth::CredentialStore;
use engine_api::images::{PullOptions, PullProgress};
use engine_api::reference::ImageRef;
use engine_api::Client;

const USAGE: &str = "usage: pull IMAGE";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let image = match args.as_slice() {
        [image] if !image.starts_with('-') => image,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let reference = match ImageRef::parse(image) {
        Ok(reference) => reference,
        Err(e) => {
            eprintln!("pull: {e}");
            return ExitCode::from(2);
        }
    };
    match pull(&reference).await {
        Ok(Some(digest)) => {
            println!("{digest}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!(
                "pull: error: the engine recorded no digest of {} for the pulled image",
                reference.repository()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            report(&format!("cannot pull {}", reference.familiar()), &e);
            if e.is_unauthorized() {
                eprintln!(
                    "hint: `docker login {}` stores credentials where this example looks",
                    reference.registry()
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// Pulls `reference` to the end and returns its digest, when the engine knows one.
async fn pull(reference: &ImageRef) -> engine_api::Result<Option<String>> {
    let client = Client::from_env()?;

    let store = CredentialStore::new();
    let auth = store.resolve(reference.registry()).await?;
    match auth.as_ref().and_then(|a| a.source()) {
        // Where the credential came from, and the user name; never the secret.
        Some(source) => eprintln!(
            "credentials for {}: {} (user {})",
            reference.registry(),
            source,
            auth.as_ref().and_then(|a| a.username()).unwrap_or("-")
        ),
        None => eprintln!(
            "no credentials for {}: pulling anonymously",
            reference.registry()
        ),
    }

    let opts = PullOptions::from_reference(reference).auth(auth);
    let mut pull = client.pull_image(&opts).await?;
    let mut progress = Progress::default();
    let mut digest = reference.digest().map(str::to_string);
    while let Some(message) = pull.next_item().await? {
        // Docker ends with `Digest: sha256:…`; Podman does not say it (it is read below).
        if let Some(d) = message.status.strip_prefix("Digest: ") {
            digest = Some(d.trim().to_string());
        }
        if let Some(line) = progress.line(&message) {
            eprintln!("{line}");
        }
    }

    match digest {
        Some(digest) => Ok(Some(digest)),
        None => digest_of(&client, reference).await,
    }
}

/// The digest the engine recorded for `reference`'s repository (`RepoDigests`).
async fn digest_of(client: &Client, reference: &ImageRef) -> engine_api::Result<Option<String>> {
    let image = client.inspect_image(&reference.to_string()).await?;
    let repository = reference.repository();
    Ok(image
        .repo_digests
        .iter()
        .filter_map(|d| d.split_once('@'))
        // `alpine@sha256:…` is docker.io/library/alpine: compare normalised names.
        .find(|(name, _)| ImageRef::parse(name).is_ok_and(|r| r.repository() == repository))
        .map(|(_, digest)| digest.to_string()))
}

/// Turns progress messages into lines: one when a layer's state changes, and one every 25%
/// of a transfer that reports byte counts.
#[derive(Default)]
struct Progress {
    /// Per layer (or tag): its last status, and the last quarter of it reported.
    layers: HashMap<String, (String, i64)>,
}

impl Progress {
    fn line(&mut self, message: &PullProgress) -> Option<String> {
        let status = message.status.trim();
        if status.is_empty() {
            return None;
        }
        let Some(id) = message.id.as_deref().filter(|id| !id.is_empty()) else {
            return Some(status.to_string());
        };
        let counts = message
            .progress_detail
            .and_then(|d| Some((d.current?, d.total?)))
            .filter(|&(_, total)| total > 0);
        let quarter = counts.map_or(-1, |(current, total)| current * 4 / total);
        let last = self.layers.get(id);
        let changed = last.is_none_or(|(s, _)| s != status);
        if !changed && last.is_some_and(|&(_, q)| q >= quarter) {
            return None;
        }
        self.layers
            .insert(id.to_string(), (status.to_string(), quarter));
        Some(match counts {
            Some((current, total)) => format!(
                "{id}: {status} {}% of {}",
                current * 100 / total,
                human_bytes(total)
            ),
            None => format!("{id}: {status}"),
        })
    }
}

fn human_bytes(n: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Prints `error: WHAT: ERROR`, then each underlying cause on a line of its own.
fn report(what: &str, error: &(dyn StdError + 'static)) {
    eprintln!("pull: error: {what}: {error}");
    let mut cause = error.source();
    while let Some(e) = cause {
        eprintln!("  caused by: {e}");
        cause = e.source();
    }
}
