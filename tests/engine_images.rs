//! Images against real engines, one suite run on Docker and on Podman: inspect, list, tag,
//! remove; pull from the rig's registry with and without credentials; push; import of a
//! busybox root filesystem streamed as a tar; a classic build from a tar context; export and
//! load. Everything a test creates (local names, registry manifests, containers) is removed at
//! its end, on failure too.

use engine_api::auth::RegistryAuth;
use engine_api::containers::{ContainerCreate, RemoveOptions, WaitCondition};
use engine_api::containers_io::LogsOptions;
use engine_api::images::{
    BuildOptions, ImportOptions, ListImagesOptions, PullOptions, PushOptions, RemoveImageOptions,
};
use engine_api::{Client, Error};
use tokio::io::{AsyncRead, AsyncWriteExt};
use tug_tests::{
    engine_test, registry, registry_delete, registry_image, registry_request, tar_of, test_image,
    unique, Engine,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Removes local image names and registry manifests at the end of a test, on panic too.
struct Tidy {
    client: Client,
    images: Vec<String>,
    manifests: Vec<(String, String)>,
}

impl Tidy {
    fn new(client: &Client) -> Tidy {
        Tidy {
            client: client.clone(),
            images: Vec::new(),
            manifests: Vec::new(),
        }
    }

    /// Removes this local name (or ID) at the end.
    fn image(&mut self, name: &str) {
        self.images.push(name.to_string());
    }

    /// Deletes `repo:tag` from the rig's registry at the end.
    fn manifest(&mut self, repo: &str, tag: &str) {
        self.manifests.push((repo.to_string(), tag.to_string()));
    }
}

impl Drop for Tidy {
    fn drop(&mut self) {
        let client = self.client.clone();
        let images = std::mem::take(&mut self.images);
        let manifests = std::mem::take(&mut self.manifests);
        let panicking = std::thread::panicking();
        let result = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut failures = Vec::new();
            for name in images.iter().rev() {
                match rt.block_on(client.remove_image(name, RemoveImageOptions::force())) {
                    Ok(_) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => failures.push(format!("remove image {name}: {e}")),
                }
            }
            for (repo, tag) in &manifests {
                if let Err(e) = registry_delete(repo, tag) {
                    failures.push(format!("delete {repo}:{tag} from the registry: {e}"));
                }
            }
            failures
        })
        .join()
        .unwrap();
        if !result.is_empty() && !panicking {
            panic!("cleanup failed: {result:?}");
        }
    }
}

fn registry_auth() -> RegistryAuth {
    let (host, user, password) = registry();
    RegistryAuth::basic(user, password).with_server_address(host)
}

/// Runs `cmd` in a container of `image` (its entrypoint kept) and returns stdout.
async fn run_output(client: &Client, image: &str, cmd: Option<&[&str]>) -> String {
    let mut create = ContainerCreate::new(image);
    create.config.cmd = cmd.map(|c| c.iter().map(|s| s.to_string()).collect());
    let id = client.create_container(&create).await.expect("create").id;
    let result = async {
        client.start_container(&id).await.expect("start");
        let exit = client
            .wait_container(&id, WaitCondition::NotRunning)
            .await
            .expect("wait");
        let mut logs = client
            .container_logs(&id, &LogsOptions::default())
            .await
            .expect("logs");
        let mut out = Vec::new();
        while let Some(chunk) = logs.next_chunk().await.expect("log stream") {
            out.extend_from_slice(&chunk.data);
        }
        (exit.status_code, String::from_utf8_lossy(&out).into_owned())
    }
    .await;
    client
        .remove_container(&id, RemoveOptions::force())
        .await
        .expect("remove container");
    assert_eq!(result.0, 0, "container of {image} failed: {}", result.1);
    result.1
}

/// Whether `names` (RepoTags of an inspect or list) holds `name`, allowing for Podman's
/// `docker.io/library/` and `localhost/` prefixes.
fn has_name(names: &[String], name: &str) -> bool {
    names.iter().any(|n| {
        n == name
            || n.strip_prefix("docker.io/library/") == Some(name)
            || n.strip_prefix("localhost/") == Some(name)
    })
}

// ---------------------------------------------------------------------------------------------
// A streamed tar of /bin/busybox

/// Appends a ustar header for `path`.
fn tar_header(out: &mut Vec<u8>, path: &str, size: u64, mode: u32, kind: u8, link: &str) {
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let s = format!("{:0width$o}\0", value, width = field.len() - 1);
        field.copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], mode as u64);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
}

/// The busybox binary the rig's test image is made of (package `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";

/// A root filesystem tar (`/bin/busybox` plus `sh`, `echo`, `cat` links), written into a pipe
/// by a task while the engine reads it: the binary is copied 64 KiB at a time, never whole.
fn streamed_rootfs_tar() -> (
    impl AsyncRead + Send + 'static,
    tokio::task::JoinHandle<u64>,
) {
    let (reader, mut writer) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(async move {
        let mut file = tokio::fs::File::open(BUSYBOX)
            .await
            .expect("busybox-static");
        let size = file.metadata().await.unwrap().len();
        let mut head = Vec::new();
        tar_header(&mut head, "bin/", 0, 0o755, b'5', "");
        tar_header(&mut head, "bin/busybox", size, 0o755, b'0', "");
        writer.write_all(&head).await.unwrap();
        let copied = tokio::io::copy(&mut (&mut file), &mut writer)
            .await
            .unwrap();
        assert_eq!(copied, size);
        let mut tail = vec![0u8; ((512 - size % 512) % 512) as usize];
        for applet in ["sh", "echo", "cat"] {
            tar_header(
                &mut tail,
                &format!("bin/{applet}"),
                0,
                0o777,
                b'2',
                "busybox",
            );
        }
        tail.extend_from_slice(&[0u8; 1024]);
        writer.write_all(&tail).await.unwrap();
        writer.shutdown().await.unwrap();
        copied
    });
    (reader, task)
}

// ---------------------------------------------------------------------------------------------
// Inspect, list, tag, remove

engine_test!(inspect_list_tag_remove, |engine, client| {
    let mut tidy = Tidy::new(&client);
    let image = test_image();

    let inspect = client.inspect_image(&image).await.expect("inspect");
    assert!(inspect.id.starts_with("sha256:"), "{inspect:?}");
    assert!(has_name(&inspect.repo_tags, &image), "{inspect:?}");
    assert_eq!(inspect.os, "linux");
    assert!(!inspect.architecture.is_empty());
    assert!(inspect.size > 0);
    assert!(!inspect.config.cmd.is_empty() || !inspect.config.entrypoint.is_empty());
    assert!(client.image_exists(&image).await.unwrap());
    assert!(client.image_exists(&inspect.id).await.unwrap(), "by ID");

    // Tag under a unique name and find it by reference and label.
    let repo = unique("tug-images-tag");
    let name = format!("{repo}:t1");
    tidy.image(&name);
    client.tag_image(&image, &name).await.expect("tag");
    let tagged = client.inspect_image(&name).await.expect("inspect tag");
    assert_eq!(tagged.id, inspect.id);
    assert!(has_name(&tagged.repo_tags, &name), "{tagged:?}");

    let listed = client
        .list_images(&ListImagesOptions::new().reference(&repo))
        .await
        .expect("list by reference");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, inspect.id);
    assert!(has_name(&listed[0].repo_tags, &name), "{listed:?}");

    if let Some((key, value)) = inspect.config.labels.iter().next() {
        let by_label = client
            .list_images(&ListImagesOptions::new().label(format!("{key}={value}")))
            .await
            .expect("list by label");
        assert!(by_label.iter().any(|i| i.id == inspect.id), "{by_label:?}");
    }
    let none = client
        .list_images(&ListImagesOptions::new().label(unique("tug.no-such-label")))
        .await
        .expect("list by missing label");
    assert!(none.is_empty(), "{none:?}");
    let tagged_only = client
        .list_images(&ListImagesOptions::new().reference(&repo).dangling(false))
        .await
        .expect("list dangling=false");
    assert_eq!(tagged_only.len(), 1);
    let all = client
        .list_images(&ListImagesOptions::new())
        .await
        .expect("list");
    assert!(all.iter().any(|i| i.id == inspect.id));

    // Removing the extra name untags it and keeps the image.
    let removed = client
        .remove_image(&name, RemoveImageOptions::new())
        .await
        .expect("remove tag");
    assert!(
        removed
            .iter()
            .any(|d| d.untagged.as_deref().is_some_and(|u| u.contains(&repo))),
        "{removed:?}"
    );
    assert!(removed.iter().all(|d| d.deleted.is_none()), "{removed:?}");
    assert!(!client.image_exists(&name).await.unwrap());
    assert!(client.image_exists(&image).await.unwrap());

    // Missing images are typed not-found errors.
    let missing = unique("tug-no-such-image");
    let e = client.inspect_image(&missing).await.unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let e = client
        .remove_image(&missing, RemoveImageOptions::force())
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let e = client
        .tag_image(&missing, &format!("{repo}:t2"))
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    let _ = engine;
});

// ---------------------------------------------------------------------------------------------
// Pulls from the registry

engine_test!(pull_from_the_registry, |engine, client| {
    let mut tidy = Tidy::new(&client);
    let image = registry_image();
    let (host, user, _) = registry();
    // Start without a local copy, so "not pulled" below means something.
    match client
        .remove_image(&image, RemoveImageOptions::force())
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => panic!("cannot remove a local copy of {image}: {e}"),
    }
    tidy.image(&image);
    let opts = PullOptions::new(&image).expect("reference");
    assert_eq!(opts.registry(), host);

    // No credentials: a typed unauthorized error naming the registry.
    let e = match client.pull_image(&opts).await {
        Ok(stream) => stream.finish().await.expect_err("anonymous pull must fail"),
        Err(e) => e,
    };
    assert!(e.is_unauthorized(), "{e:?}");
    assert!(
        matches!(&e, Error::Auth { registry, .. } if *registry == host),
        "{e:?}"
    );
    assert!(!client.image_exists(&image).await.unwrap());

    // A wrong password whose standard base64 has `+` and `/`: the engine must decode the
    // header (else Docker would quietly go anonymous and Podman answer 400), send the
    // credentials, and the registry reject them. No anonymous retry, nothing pulled.
    let wrong = RegistryAuth::basic(&user, "wrong??>>??~~pass").with_server_address(&host);
    let e = match client.pull_image(&opts.clone().auth(Some(wrong))).await {
        Ok(stream) => stream.finish().await.expect_err("wrong password must fail"),
        Err(e) => e,
    };
    assert!(e.is_unauthorized(), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&host), "the error names the registry: {msg}");
    assert!(
        !msg.contains("no basic auth credentials"),
        "the credentials never reached the registry (anonymous pull): {msg}"
    );
    assert!(
        !msg.contains("wrong??"),
        "the error leaks the password: {msg}"
    );
    assert!(!client.image_exists(&image).await.unwrap());

    // A missing image, with good credentials: typed not-found.
    let missing = format!("{host}/tug/{}:latest", unique("missing"));
    let e = match client
        .pull_image(
            &PullOptions::new(&missing)
                .unwrap()
                .auth(Some(registry_auth())),
        )
        .await
    {
        Ok(stream) => stream.finish().await.expect_err("missing image must fail"),
        Err(e) => e,
    };
    assert!(e.is_not_found(), "{e:?}");
    assert!(!e.is_unauthorized(), "{e:?}");

    // Good credentials: progress messages, then the image is there.
    let mut pull = client
        .pull_image(&opts.clone().auth(Some(registry_auth())))
        .await
        .expect("pull");
    let mut messages = Vec::new();
    while let Some(p) = pull.next_item().await.expect("pull progress") {
        messages.push(p);
    }
    assert!(!messages.is_empty());
    if engine == Engine::Docker {
        assert!(
            messages.iter().any(|m| m.status.starts_with("Status:")),
            "{messages:?}"
        );
    }
    let inspect = client.inspect_image(&image).await.expect("pulled image");
    assert!(has_name(&inspect.repo_tags, &image), "{inspect:?}");
    assert!(
        inspect.repo_digests.iter().any(|d| d.contains("@sha256:")),
        "{inspect:?}"
    );

    // Pulling again is fine, and as a `Stream` too.
    use futures_util::StreamExt;
    let again = client
        .pull_image(&opts.clone().auth(Some(registry_auth())))
        .await
        .expect("pull again");
    let results: Vec<_> = again.collect().await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
});

// ---------------------------------------------------------------------------------------------
// Push

engine_test!(push_to_the_registry, |engine, client| {
    let mut tidy = Tidy::new(&client);
    let (host, _, _) = registry();
    let path = format!("tug/{}", unique(&format!("push-{engine:?}").to_lowercase()));
    let repo = format!("{host}/{path}");
    let name = format!("{repo}:t1");
    tidy.manifest(&path, "t1");
    tidy.image(&name);
    client.tag_image(&test_image(), &name).await.expect("tag");

    // Without credentials: typed unauthorized, naming the registry.
    let e = match client
        .push_image(&repo, &PushOptions::new().tag("t1"))
        .await
    {
        Ok(stream) => stream.finish().await.expect_err("anonymous push must fail"),
        Err(e) => e,
    };
    assert!(e.is_unauthorized(), "{e:?}");
    assert!(e.to_string().contains(&host), "{e}");

    // With credentials, the tag taken from the name.
    let digest = client
        .push_image(&name, &PushOptions::new().auth(Some(registry_auth())))
        .await
        .expect("push")
        .digest()
        .await
        .expect("push progress");
    let digest = digest.expect("the push reports a digest");
    assert!(digest.starts_with("sha256:"), "{digest}");
    let (status, head) = registry_request("HEAD", &format!("/v2/{path}/manifests/t1")).unwrap();
    assert_eq!(status, 200, "{head}");

    // Round trip: drop the local name and pull it back.
    client
        .remove_image(&name, RemoveImageOptions::new())
        .await
        .expect("untag");
    assert!(!client.image_exists(&name).await.unwrap());
    client
        .pull_image(&PullOptions::new(&name).unwrap().auth(Some(registry_auth())))
        .await
        .expect("pull back")
        .finish()
        .await
        .expect("pull back progress");
    assert!(client.image_exists(&name).await.unwrap());

    // Pushing a name that does not exist locally.
    let e = match client
        .push_image(
            &format!("{host}/tug/{}", unique("absent")),
            &PushOptions::new().auth(Some(registry_auth())),
        )
        .await
    {
        Ok(stream) => stream.finish().await.expect_err("push of a missing image"),
        Err(e) => e,
    };
    assert!(e.is_not_found(), "{e:?}");
});

// ---------------------------------------------------------------------------------------------
// Import, build, export and load

engine_test!(import_a_streamed_rootfs_tar, |_engine, client| {
    let mut tidy = Tidy::new(&client);
    let name = format!("{}:t1", unique("tug-import"));
    tidy.image(&name);
    let (tar, writer) = streamed_rootfs_tar();
    let opts = ImportOptions::named(&name)
        .change(r#"ENTRYPOINT ["/bin/busybox"]"#)
        .change(r#"CMD ["echo", "imported"]"#)
        .change("ENV TUG_IMPORTED=1")
        .message("tug import test");
    let id = client
        .import_image(tar, &opts)
        .await
        .expect("import")
        .image_id()
        .await
        .expect("import progress")
        .expect("the import reports the image ID");
    let copied = writer.await.unwrap();
    assert_eq!(copied, std::fs::metadata(BUSYBOX).unwrap().len());

    let inspect = client.inspect_image(&name).await.expect("imported image");
    assert_eq!(inspect.id, id);
    assert!(has_name(&inspect.repo_tags, &name), "{inspect:?}");
    assert_eq!(inspect.config.entrypoint, ["/bin/busybox"]);
    assert_eq!(inspect.config.cmd, ["echo", "imported"]);
    assert!(inspect.config.env.iter().any(|e| e == "TUG_IMPORTED=1"));
    assert_eq!(inspect.comment, "tug import test");
    assert_eq!(run_output(&client, &name, None).await, "imported\n");
    assert_eq!(
        run_output(&client, &name, Some(&["sh", "-c", "echo $TUG_IMPORTED"])).await,
        "1\n"
    );

    // A body that is not a tar is an error, not a hang.
    let bad = format!("{}:bad", unique("tug-import"));
    tidy.image(&bad);
    let result = match client
        .import_image(
            std::io::Cursor::new(b"this is not a tar archive".repeat(40)),
            &ImportOptions::named(&bad),
        )
        .await
    {
        Ok(stream) => stream.finish().await.map(|_| ()),
        Err(e) => Err(e),
    };
    let e = result.expect_err("importing a non-tar body");
    assert!(!e.to_string().is_empty());
    assert!(!client.image_exists(&bad).await.unwrap());
});

fn dockerfile_context(dockerfile: &str) -> std::io::Cursor<Vec<u8>> {
    std::io::Cursor::new(tar_of(&[
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("files/greeting.txt", b"from the context\n", 0o644),
    ]))
}

engine_test!(build_from_a_tar_context, |_engine, client| {
    let mut tidy = Tidy::new(&client);
    let name = format!("{}:b1", unique("tug-build"));
    tidy.image(&name);
    let dockerfile = format!(
        "FROM {}\nARG GREETING=unset\nCOPY files/greeting.txt /context.txt\n\
         RUN echo \"$GREETING\" > /greeting && cat /context.txt >> /greeting\n\
         ENTRYPOINT [\"/bin/cat\"]\nCMD [\"/greeting\"]\n",
        test_image()
    );
    let opts = BuildOptions::tagged(&name)
        .build_arg("GREETING", "hello from the build")
        .label("org.tug.test", "build");
    let mut build = client
        .build_image(dockerfile_context(&dockerfile), &opts)
        .await
        .expect("build");
    let mut output = String::new();
    let mut id = None;
    while let Some(p) = build.next_item().await.expect("build progress") {
        if let Some(s) = &p.stream {
            output.push_str(s);
        }
        if let Some(i) = p.image_id() {
            id = Some(i.to_string());
        }
    }
    let id = id.expect("the build reports the image ID");
    assert!(output.to_ascii_uppercase().contains("STEP"), "{output}");

    let inspect = client.inspect_image(&name).await.expect("built image");
    assert_eq!(inspect.id, id);
    assert_eq!(inspect.config.entrypoint, ["/bin/cat"]);
    assert_eq!(inspect.config.cmd, ["/greeting"]);
    assert_eq!(
        inspect
            .config
            .labels
            .get("org.tug.test")
            .map(String::as_str),
        Some("build")
    );
    assert_eq!(
        run_output(&client, &name, None).await,
        "hello from the build\nfrom the context\n"
    );

    // A failing RUN is a stream error carrying the builder's message.
    let failing = format!("{}:b2", unique("tug-build"));
    tidy.image(&failing);
    let mut opts = BuildOptions::tagged(&failing);
    opts.force_rm = true;
    let e = match client
        .build_image(
            dockerfile_context(&format!(
                "FROM {}\nRUN echo about to fail && exit 7\n",
                test_image()
            )),
            &opts,
        )
        .await
    {
        Ok(stream) => stream.finish().await.expect_err("a failing build"),
        Err(e) => e,
    };
    assert!(
        matches!(&e, Error::Stream { .. } | Error::Engine { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains('7'), "{e}");
    assert!(!client.image_exists(&failing).await.unwrap());

    // A missing Dockerfile is an error too.
    let mut opts = BuildOptions::tagged(format!("{}:b3", unique("tug-build")));
    opts.dockerfile = Some("nope/Dockerfile".into());
    let e = match client
        .build_image(dockerfile_context("FROM scratch\n"), &opts)
        .await
    {
        Ok(stream) => stream.finish().await.expect_err("missing Dockerfile"),
        Err(e) => e,
    };
    assert!(!e.to_string().is_empty());
});

engine_test!(export_and_load, |_engine, client| {
    let mut tidy = Tidy::new(&client);
    let name = format!("{}:l1", unique("tug-load"));
    tidy.image(&name);
    client.tag_image(&test_image(), &name).await.expect("tag");

    // Export to a file, chunk by chunk.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    let mut body = client.export_image(&name).await.expect("export");
    let mut file = tokio::fs::File::create(&path).await.unwrap();
    while let Some(data) = body.next_data().await.expect("export body") {
        file.write_all(&data).await.unwrap();
    }
    file.flush().await.unwrap();
    drop(file);
    assert!(std::fs::metadata(&path).unwrap().len() > 1024 * 1024);
    assert!(client
        .export_image(&unique("tug-no-such-image"))
        .await
        .is_err());

    client
        .remove_image(&name, RemoveImageOptions::new())
        .await
        .expect("untag");
    assert!(!client.image_exists(&name).await.unwrap());

    let loaded = client
        .load_image(tokio::fs::File::open(&path).await.unwrap())
        .await
        .expect("load")
        .image_id()
        .await
        .expect("load progress")
        .expect("the load says what it loaded");
    assert!(loaded.contains("tug-load"), "{loaded}");
    assert!(client.image_exists(&name).await.unwrap());
});
