//! `tug-rig-images`: the rig's image step, done through engine-api (scripts/engines runs it).
//!
//! Imports a root filesystem tar into each engine given (streamed from the file, with
//! Dockerfile changes applied), and pushes the result to the test registry with credentials,
//! through the first engine. Usage:
//!
//! ```text
//! tug-rig-images --tar ROOTFS.tar --image NAME:TAG [--change 'CMD ["sh"]' …]
//!     --engine docker=unix:///var/run/docker.sock --engine podman=unix:///run/podman/podman.sock
//!     [--push REGISTRY/REPO:TAG --user USER]   (password from TUG_RIG_REGISTRY_PASSWORD)
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

use engine_api::auth::RegistryAuth;
use engine_api::images::{ImportOptions, PushOptions};
use engine_api::{Client, Endpoint, Runtime};

struct Args {
    tar: String,
    image: String,
    changes: Vec<String>,
    engines: Vec<(String, String)>,
    push: Option<String>,
    user: Option<String>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        tar: String::new(),
        image: String::new(),
        changes: Vec::new(),
        engines: Vec::new(),
        push: None,
        user: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--tar" => a.tar = value()?,
            "--image" => a.image = value()?,
            "--change" => a.changes.push(value()?),
            "--engine" => {
                let v = value()?;
                let (name, url) = v
                    .split_once('=')
                    .ok_or(format!("--engine wants NAME=URL, got {v:?}"))?;
                a.engines.push((name.to_string(), url.to_string()));
            }
            "--push" => a.push = Some(value()?),
            "--user" => a.user = Some(value()?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.tar.is_empty() || a.image.is_empty() || a.engines.is_empty() {
        return Err("--tar, --image and at least one --engine are required".into());
    }
    Ok(a)
}

fn client(name: &str, url: &str) -> Result<Client, String> {
    let runtime = if name == "podman" {
        Runtime::Podman
    } else {
        Runtime::Docker
    };
    let endpoint = Endpoint::parse(url, None)
        .map_err(|e| e.to_string())?
        .with_runtime(runtime);
    Client::new(endpoint).map_err(|e| e.to_string())
}

async fn run(a: Args) -> Result<(), String> {
    for (name, url) in &a.engines {
        let client = client(name, url)?;
        let file = tokio::fs::File::open(&a.tar)
            .await
            .map_err(|e| format!("cannot open {}: {e}", a.tar))?;
        let mut options = ImportOptions::named(&a.image);
        for c in &a.changes {
            options = options.change(c);
        }
        let mut progress = client
            .import_image(file, &options)
            .await
            .map_err(|e| format!("{name}: import of {} failed: {e}", a.image))?;
        while progress
            .next_item()
            .await
            .map_err(|e| format!("{name}: import of {} failed: {e}", a.image))?
            .is_some()
        {}
        println!("imported {} into {name} through engine-api", a.image);
    }
    if let Some(target) = &a.push {
        let (name, url) = &a.engines[0];
        let client = client(name, url)?;
        let password = std::env::var("TUG_RIG_REGISTRY_PASSWORD")
            .map_err(|_| "TUG_RIG_REGISTRY_PASSWORD is not set".to_string())?;
        let user = a.user.clone().ok_or("--push needs --user")?;
        client
            .tag_image(&a.image, target)
            .await
            .map_err(|e| format!("tag {target}: {e}"))?;
        let options = PushOptions::default().auth(Some(RegistryAuth::basic(user, password)));
        let mut progress = client
            .push_image(target, &options)
            .await
            .map_err(|e| format!("push {target}: {e}"))?;
        while progress
            .next_item()
            .await
            .map_err(|e| format!("push {target}: {e}"))?
            .is_some()
        {}
        // Leave no local copy under the registry name: tests pull it themselves.
        client
            .remove_image(target, engine_api::images::RemoveImageOptions::new())
            .await
            .map_err(|e| format!("untag {target}: {e}"))?;
        println!("pushed {target} through engine-api");
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tug-rig-images: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tug-rig-images: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
