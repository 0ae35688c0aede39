//! Registry credentials end to end: credentials found by `CredentialStore` (config.json, a
//! credential helper, `DOCKER_AUTH_CONFIG`, explicit workflow entries) are sent by a real pull
//! on Docker and on Podman, and the order of the sources decides which password is used — a
//! rejected one fails with a typed error, never an anonymous retry.

use std::path::Path;

use engine_api::auth::{CredentialSource, CredentialStore, MapEnvironment, RegistryAuth};
use engine_api::images::{PullOptions, RemoveImageOptions};
use engine_api::reference::ImageRef;
use engine_api::{Client, Error};
use tug_tests::{base64, engine_test, registry, registry_image};

fn auth_field(user: &str, password: &str) -> String {
    base64(format!("{user}:{password}").as_bytes())
}

/// A `config.json` in a fresh directory.
fn config_dir(json: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), json).unwrap();
    dir
}

/// A fake `docker-credential-tugtest` in a fresh directory: answers `get` for the rig's
/// registry with the given password, says "credentials not found" for anything else, and logs
/// each request's argument and stdin.
#[cfg(unix)]
fn helper_dir(host: &str, user: &str, password: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let script = format!(
        r#"#!/bin/sh
read -r server
echo "$1 $server" >> '{log}'
[ "$1" = get ] || exit 2
if [ "$server" = '{host}' ]; then
  printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}' "$server"
else
  echo "credentials not found in native keychain"
  exit 1
fi
"#,
        log = log.display()
    );
    let path = dir.path().join("docker-credential-tugtest");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn helper_calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default()
}

/// Pulls `image` with `auth` to the end of the stream.
async fn pull(client: &Client, image: &str, auth: Option<RegistryAuth>) -> engine_api::Result<()> {
    let opts = PullOptions::new(image).expect("reference").auth(auth);
    client.pull_image(&opts).await?.finish().await.map(drop)
}

async fn remove_local(client: &Client, image: &str) {
    match client
        .remove_image(image, RemoveImageOptions::force())
        .await
    {
        Ok(_) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => panic!("cannot remove {image}: {e}"),
    }
}

/// Removes the pulled registry image at the end, on panic too.
struct RemoveOnDrop(Client, String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let (client, image) = (self.0.clone(), self.1.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(client.remove_image(&image, RemoveImageOptions::force()))
        })
        .join();
    }
}

// One test per engine, its steps in order: they pull the same image.
engine_test!(
    resolved_credentials_reach_the_registry,
    |_engine, client| {
        let image = registry_image();
        let (host, user, password) = registry();
        let _cleanup = RemoveOnDrop(client.clone(), image.clone());
        assert_eq!(ImageRef::parse(&image).unwrap().registry(), host);

        // 1. config.json with an inline `auth` entry keyed https://host.
        remove_local(&client, &image).await;
        let cfg = config_dir(&format!(
            r#"{{"auths":{{"https://{host}":{{"auth":"{}"}}}}}}"#,
            auth_field(&user, &password)
        ));
        let store = CredentialStore::with_environment(
            MapEnvironment::new().with("DOCKER_CONFIG", cfg.path().to_str().unwrap()),
        );
        let auth = store
            .resolve_for_image(&image)
            .await
            .expect("resolve")
            .expect("config.json has an entry");
        assert!(matches!(
            auth.source(),
            Some(CredentialSource::ConfigFile(_))
        ));
        pull(&client, &image, Some(auth))
            .await
            .expect("pull with config.json credentials");
        assert!(client.image_exists(&image).await.unwrap());

        // 2. A credential helper named by credHelpers, found on PATH, fed the server on stdin.
        remove_local(&client, &image).await;
        let helpers = helper_dir(&host, &user, &password);
        let cfg = config_dir(&format!(
            r#"{{"auths":{{"{host}":{{}}}},"credHelpers":{{"{host}":"tugtest"}}}}"#
        ));
        let env = MapEnvironment::new()
            .with("DOCKER_CONFIG", cfg.path().to_str().unwrap())
            .with("PATH", helpers.path().to_str().unwrap());
        let store = CredentialStore::with_environment(env.clone());
        let auth = store
            .resolve_for_image(&image)
            .await
            .expect("resolve")
            .expect("the helper has an entry");
        assert_eq!(
            auth.source(),
            Some(&CredentialSource::Helper("tugtest".into()))
        );
        assert_eq!(helper_calls(helpers.path()).trim(), format!("get {host}"));
        pull(&client, &image, Some(auth))
            .await
            .expect("pull with helper credentials");
        assert!(client.image_exists(&image).await.unwrap());

        // 3. DOCKER_AUTH_CONFIG comes before config.json: its wrong password is used, rejected
        //    with a typed error naming the registry, and nothing is pulled anonymously.
        remove_local(&client, &image).await;
        let wrong = format!(
            r#"{{"auths":{{"{host}":{{"username":"{user}","password":"not-the-password"}}}}}}"#
        );
        let store =
            CredentialStore::with_environment(env.clone().with("DOCKER_AUTH_CONFIG", &wrong));
        let auth = store.resolve_for_image(&image).await.unwrap().unwrap();
        assert_eq!(auth.source(), Some(&CredentialSource::DockerAuthConfig));
        assert_eq!(auth.password(), Some("not-the-password"));
        let e = pull(&client, &image, Some(auth))
            .await
            .expect_err("wrong password");
        assert!(e.is_unauthorized(), "{e:?}");
        assert!(
            matches!(&e, Error::Auth { registry, .. } if *registry == host),
            "{e:?}"
        );
        assert!(!e.to_string().contains("not-the-password"), "{e}");
        assert!(
            !e.to_string().contains("no basic auth credentials"),
            "went anonymous: {e}"
        );
        assert!(!client.image_exists(&image).await.unwrap());

        // 4. Explicit entries (a workflow's registry_auths, as a whole {"auths": …} document) come
        //    before DOCKER_AUTH_CONFIG.
        let mut store = CredentialStore::with_environment(env.with("DOCKER_AUTH_CONFIG", &wrong));
        store
            .insert_auths_json(&format!(
                r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#,
                auth_field(&user, &password)
            ))
            .expect("registry_auths");
        let auth = store.resolve_for_image(&image).await.unwrap().unwrap();
        assert_eq!(auth.source(), Some(&CredentialSource::Explicit));
        assert_eq!(auth.server_address(), Some(host.as_str()));
        pull(&client, &image, Some(auth))
            .await
            .expect("pull with explicit credentials");
        assert!(client.image_exists(&image).await.unwrap());
    }
);

// The header's alphabet, seen from the engines: a password chosen so that the standard base64
// of the auth JSON has `+` and `/`. Sent as base64url the engine decodes it and forwards the
// (wrong) password: the registry's "unauthorized" comes back. Sent in the wrong alphabet,
// Docker would pull anonymously ("no basic auth credentials") and Podman answer 400.
engine_test!(x_registry_auth_alphabet, |_engine, client| {
    let image = format!(
        "{}:tug-alphabet-check",
        registry_image().rsplit_once(':').unwrap().0
    );
    let (host, user, _) = registry();
    let auth = RegistryAuth::basic(&user, "??>>??>>~~~").with_server_address(&host);
    let encoded = auth.encode();
    assert!(
        encoded.contains('-') || encoded.contains('_'),
        "the password must exercise the alphabet: {encoded}"
    );
    let e = pull(&client, &image, Some(auth))
        .await
        .expect_err("wrong password");
    assert!(e.is_unauthorized(), "{e:?}");
    assert!(!e.is_bad_request(), "{e:?}");
    assert!(!e.to_string().contains("no basic auth credentials"), "{e}");
});

// Resolution without an engine: the documented order, end to end through the public API.
#[cfg(unix)]
#[tokio::test]
async fn sources_are_consulted_in_order() {
    let host = "registry.example.test:5000";
    let helpers = helper_dir(host, "from-helper", "helper-secret");
    let cfg = config_dir(&format!(
        r#"{{"credsStore":"tugtest","auths":{{"inline.example.test":{{"auth":"{}"}}}}}}"#,
        auth_field("inline", "inline-secret")
    ));
    let env = MapEnvironment::new()
        .with("DOCKER_CONFIG", cfg.path().to_str().unwrap())
        .with("PATH", helpers.path().to_str().unwrap());

    // config.json: the credsStore helper for the host; the inline entry where the helper has
    // none; nothing elsewhere.
    let store = CredentialStore::with_environment(env.clone());
    let a = store
        .resolve_for_image(&format!("{host}/x/y:1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.username(), a.password()),
        (Some("from-helper"), Some("helper-secret"))
    );
    let a = store.resolve("inline.example.test").await.unwrap().unwrap();
    assert_eq!(a.username(), Some("inline"));
    assert!(store.resolve("other.example.test").await.unwrap().is_none());

    // DOCKER_AUTH_CONFIG before config.json, matched without the port.
    let store = CredentialStore::with_environment(env.clone().with(
        "DOCKER_AUTH_CONFIG",
        r#"{"auths":{"registry.example.test":{"username":"env","password":"env-secret"}}}"#,
    ));
    let a = store.resolve(host).await.unwrap().unwrap();
    assert_eq!(a.username(), Some("env"));

    // Explicit entries first of all; a bare base64 string is user:password.
    let mut store = store;
    store
        .insert_value(host, &serde_json::json!(auth_field("explicit", "x")))
        .unwrap();
    let a = store.resolve(host).await.unwrap().unwrap();
    assert_eq!(a.username(), Some("explicit"));
    assert!(!format!("{a:?}").contains("env-secret"));
}
