//! `tug start --engine NAME=ADDRESS`: engines named on the command line, for fan-out over
//! several engines in one run (never from the workflow file, which stays a Dagu file).
//!
//! Two stages, as other flags: [`EngineFlag`] is what one `--engine` says (checked by clap as
//! it parses), [`resolve`] turns them all into endpoints with the environment's TLS files,
//! API version pin and ssh configuration.
//!
//! ```text
//! --engine NAME=ADDRESS          Docker at ADDRESS: unix:///PATH, tcp://HOST[:PORT], HOST:PORT,
//!                                ssh://[USER@]HOST[:PORT][/SOCKET]
//! --engine NAME=podman:ADDRESS   Podman at ADDRESS (docker:ADDRESS says Docker explicitly)
//! --engine NAME=docker           Docker as the environment selects it (DOCKER_HOST, a context,
//!                                else unix:///var/run/docker.sock)
//! --engine NAME=podman           Podman as the environment selects it (DAGU_PODMAN_HOST, else
//!                                unix:///run/podman/podman.sock)
//! --engine NAME=context:CONTEXT  Docker as the Docker context CONTEXT says (its endpoint and TLS
//!                                files, as `docker --context CONTEXT`)
//! --engine NAME                  the engine NAME from tug's engines file
//! ```
//!
//! The engines file (`$TUG_ENGINES_FILE`, else `$XDG_CONFIG_HOME/tug/engines`, else
//! `~/.config/tug/engines`) is tug's own, not part of any workflow: one `NAME=…` value a line, as
//! after `--engine`, with blank lines and `#` comments. It is read only when an `--engine` value
//! is a bare name.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine_api::{Endpoint, Runtime};
use executor::run::{EnginePool, NamedEngine, Spread};

/// `--engine` and `--spread`, shared by `tug start` and `tug dry`.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// An engine for this run, named: `NAME=ADDRESS` (unix://, tcp://, ssh://),
    /// `NAME=podman:ADDRESS`, `NAME=docker` / `NAME=podman` for the environment's,
    /// `NAME=context:CONTEXT` for a Docker context's, or a bare
    /// `NAME` from tug's engines file (TUG_ENGINES_FILE, else ~/.config/tug/engines). Repeat it
    /// to spread `parallel` children over several engines; the run's own steps use the first.
    #[arg(long = "engine", value_name = "NAME=ADDRESS", value_parser = parse)]
    pub engines: Vec<EngineFlag>,
    /// How `parallel` children are spread over the --engine engines: least-busy (the engine
    /// running the fewest children, ties to the first named) or round-robin.
    #[arg(long, value_enum, default_value_t = SpreadArg::LeastBusy, value_name = "HOW", requires = "engines")]
    pub spread: SpreadArg,
}

impl EngineArgs {
    /// The named engines as a pool, or `None` when no `--engine` was given (the environment
    /// selects the one engine). `env` is the process environment.
    pub fn pool(
        &self,
        context: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Arc<EnginePool>>, String> {
        let engines = resolve(&self.engines, context, env)?;
        if engines.is_empty() {
            return Ok(None);
        }
        Ok(Some(Arc::new(EnginePool::new(engines, self.spread.into()))))
    }
}

/// `--spread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SpreadArg {
    /// The engine running the fewest children of this run; ties go to the first named.
    LeastBusy,
    /// Each engine in turn, in the order they were named.
    RoundRobin,
}

impl From<SpreadArg> for Spread {
    fn from(s: SpreadArg) -> Spread {
        match s {
            SpreadArg::LeastBusy => Spread::LeastBusy,
            SpreadArg::RoundRobin => Spread::RoundRobin,
        }
    }
}

/// The longest engine name (it appears in records and in every line of the views).
const MAX_NAME: usize = 32;

/// One `--engine` value, checked but not yet resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineFlag {
    /// The engine's name.
    pub name: String,
    /// The runtime, when the value says (`podman:…`, `docker:…`, `podman`, `docker`).
    pub runtime: Option<Runtime>,
    /// The address; `None` takes the runtime's address from the environment.
    pub address: Option<String>,
    /// A Docker context that supplies the address and TLS (`NAME=context:CONTEXT`).
    pub context: Option<String>,
}

impl EngineFlag {
    /// True for a bare `--engine NAME`, to be looked up in the engines file.
    fn is_reference(&self) -> bool {
        self.runtime.is_none() && self.address.is_none() && self.context.is_none()
    }
}

impl fmt::Display for EngineFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.name)?;
        if let Some(c) = &self.context {
            return write!(f, "context:{c}");
        }
        match (&self.runtime, &self.address) {
            (Some(r), Some(a)) => write!(f, "{r}:{a}"),
            (Some(r), None) => write!(f, "{r}"),
            (None, Some(a)) => f.write_str(a),
            (None, None) => Ok(()),
        }
    }
}

const EXPECTED: &str =
    "expected NAME=ADDRESS, NAME=podman:ADDRESS, NAME=docker, NAME=podman, NAME=context:CONTEXT, or a NAME from the engines file";

/// Parses one `--engine` value (clap's value parser: its error is shown after
/// `invalid value '…' for '--engine <NAME=ADDRESS>'`).
pub fn parse(value: &str) -> Result<EngineFlag, String> {
    let Some((name, spec)) = value.split_once('=') else {
        // A bare name refers to the engines file; anything else lacks its name.
        if check_name(value).is_ok() {
            return Ok(EngineFlag {
                name: value.to_string(),
                runtime: None,
                address: None,
                context: None,
            });
        }
        return Err(format!("{value:?} has no engine name ({EXPECTED})"));
    };
    let name = name.trim();
    check_name(name)?;
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(format!("engine {name:?} has no address ({EXPECTED})"));
    }
    if let Some(context) = spec.strip_prefix("context:") {
        let context = context.trim();
        if context.is_empty()
            || context.contains(['/', '\\'])
            || context.chars().any(char::is_control)
        {
            return Err(format!(
                "engine {name:?}: {context:?} is not a Docker context name (as `docker context ls` lists them)"
            ));
        }
        return Ok(EngineFlag {
            name: name.to_string(),
            runtime: Some(Runtime::Docker),
            address: None,
            context: Some(context.to_string()),
        });
    }
    let runtime_named = |r: &str| match r {
        "docker" => Some(Runtime::Docker),
        "podman" => Some(Runtime::Podman),
        _ => None,
    };
    if let Some(r) = spec
        .strip_suffix(':')
        .filter(|r| runtime_named(r).is_some())
    {
        return Err(format!(
            "engine {name:?}: `{r}:` needs an address after it ({name}={r}:unix:///PATH), or write {name}={r} for the environment's"
        ));
    }
    // A runtime prefix is `docker:` or `podman:` before a scheme (`podman:unix:///…`); a
    // bare `docker:2375` stays a host and port, as in DOCKER_HOST.
    let (runtime, address) = if let Some(r) = runtime_named(spec) {
        (Some(r), None)
    } else {
        match spec.split_once(':') {
            Some((r, rest)) if rest.contains("://") && runtime_named(r).is_some() => {
                (runtime_named(r), Some(rest.to_string()))
            }
            _ => (None, Some(spec.to_string())),
        }
    };
    if runtime == Some(Runtime::Podman)
        && address.as_deref().is_some_and(|a| a.starts_with("ssh://"))
    {
        return Err(format!(
            "engine {name:?}: Podman over ssh:// is not supported; forward its socket (e.g. `ssh -NL /tmp/podman.sock:/run/podman/podman.sock HOST`) and name that: {name}=podman:unix:///tmp/podman.sock"
        ));
    }
    if let Some(a) = &address {
        // The address is checked now; the environment's TLS settings are added by `resolve`.
        Endpoint::parse(a, None).map_err(|e| format!("engine {name:?}: {}", config_message(&e)))?;
    }
    Ok(EngineFlag {
        name: name.to_string(),
        runtime,
        address,
        context: None,
    })
}

fn check_name(name: &str) -> Result<(), String> {
    let allowed = "letters, digits, `-`, `_` and `.`, starting with a letter or digit";
    if name.is_empty() {
        return Err(format!("the engine name before `=` is empty ({EXPECTED})"));
    }
    if name.len() > MAX_NAME {
        return Err(format!(
            "engine name {name:?} is longer than {MAX_NAME} characters"
        ));
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !first_ok || !rest_ok {
        return Err(format!("invalid engine name {name:?} (allowed: {allowed})"));
    }
    Ok(())
}

/// What is wrong with an address, without the "invalid engine configuration" the flag's own
/// message already says.
fn config_message(e: &engine_api::Error) -> String {
    match e {
        engine_api::Error::Config { message } => message.clone(),
        other => other.to_string(),
    }
}

/// Where the engines file is: `TUG_ENGINES_FILE`, else `$XDG_CONFIG_HOME/tug/engines`, else
/// `~/.config/tug/engines`.
fn engines_file(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let get = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(f) = get("TUG_ENGINES_FILE") {
        return Some(PathBuf::from(f));
    }
    if let Some(d) = get("XDG_CONFIG_HOME") {
        return Some(Path::new(&d).join("tug/engines"));
    }
    get("HOME").map(|h| Path::new(&h).join(".config/tug/engines"))
}

/// The engines a file defines, in order; errors name the file and line.
fn read_engines_file(path: &Path) -> Result<Vec<EngineFlag>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the engines file {} ({e}; TUG_ENGINES_FILE names another)",
            path.display()
        )
    })?;
    let mut out: Vec<EngineFlag> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{}:{}", path.display(), n + 1);
        let flag = parse(line).map_err(|e| format!("{at}: {e}"))?;
        if flag.is_reference() {
            return Err(format!(
                "{at}: {line:?} has no address ({EXPECTED} other than a name)"
            ));
        }
        if out.iter().any(|f| f.name == flag.name) {
            return Err(format!("{at}: the name {:?} is defined twice", flag.name));
        }
        out.push(flag);
    }
    Ok(out)
}

/// Replaces bare names by their definitions in the engines file (read only if there is one).
fn expand_references(
    flags: &[EngineFlag],
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<EngineFlag>, String> {
    if !flags.iter().any(EngineFlag::is_reference) {
        return Ok(flags.to_vec());
    }
    let path = engines_file(env).ok_or_else(|| {
        "--engine NAME refers to the engines file, but neither TUG_ENGINES_FILE, XDG_CONFIG_HOME nor HOME is set".to_string()
    })?;
    let defined = read_engines_file(&path)?;
    flags
        .iter()
        .map(|flag| {
            if !flag.is_reference() {
                return Ok(flag.clone());
            }
            defined
                .iter()
                .find(|d| d.name == flag.name)
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<&str> = defined.iter().map(|d| d.name.as_str()).collect();
                    // `--engine docker` most likely meant the environment's Docker.
                    let hint = match flag.name.as_str() {
                        "docker" | "podman" => format!(
                            "; for the environment's {0}, give it a name: --engine NAME={0}",
                            flag.name
                        ),
                        _ => String::new(),
                    };
                    format!(
                        "--engine {}: no engine of that name in {} (it defines: {}){hint}",
                        flag.name,
                        path.display(),
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )
                })
        })
        .collect()
}

/// Turns the `--engine` values into endpoints, in order, bare names taken from the engines file.
/// `env` is the process environment: TLS (`DOCKER_TLS_VERIFY`, `DOCKER_TLS`,
/// `DOCKER_CERT_PATH`), `DOCKER_API_VERSION` and `TUG_SSH_CONFIG` apply to every named engine, as
/// they would to `DOCKER_HOST`.
///
/// `context` is tug's `--context`: it selects the Docker context of `NAME=docker` values (those
/// with neither address nor context of their own).
pub fn resolve(
    flags: &[EngineFlag],
    context: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<NamedEngine>, String> {
    let flags = expand_references(flags, &env)?;
    let mut out: Vec<NamedEngine> = Vec::with_capacity(flags.len());
    for flag in &flags {
        if out.iter().any(|e| e.name == flag.name) {
            return Err(format!(
                "--engine {flag}: the name {:?} is given twice (each engine needs a name of its own)",
                flag.name
            ));
        }
        let runtime = flag.runtime.unwrap_or(Runtime::Docker);
        // The engine is what the environment would select with this runtime and address: the
        // same parsing as DOCKER_HOST (or DAGU_PODMAN_HOST), the same TLS files and pins.
        let lookup = |key: &str| -> Option<String> {
            match key {
                "DAGU_CONTAINER_RUNTIME" => Some(runtime.as_str().to_string()),
                "DOCKER_HOST" if runtime == Runtime::Docker => {
                    flag.address.clone().or_else(|| env(key))
                }
                "DAGU_PODMAN_HOST" if runtime == Runtime::Podman => {
                    flag.address.clone().or_else(|| env(key))
                }
                // A named address is what it says, whatever context is current.
                "DOCKER_CONTEXT" if flag.address.is_some() => None,
                _ => env(key),
            }
        };
        let context = match (&flag.context, &flag.address, runtime) {
            (Some(c), _, _) => Some((c.as_str(), format!("--engine {flag}"))),
            (None, None, Runtime::Docker) => context.map(|c| (c, "--context".to_string())),
            _ => None,
        };
        let resolved = match context {
            Some((name, chosen_by)) => Endpoint::for_context(name, &chosen_by, lookup),
            None => Endpoint::from_lookup(lookup),
        };
        let mut endpoint =
            resolved.map_err(|e| format!("--engine {flag}: {}", config_message(&e)))?;
        endpoint.source = format!("--engine {}", flag.name);
        out.push(NamedEngine {
            name: flag.name.clone(),
            endpoint,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Name, address and runtime of each resolved engine.
    fn summary(engines: &[NamedEngine]) -> Vec<(&str, &str, Runtime)> {
        engines
            .iter()
            .map(|e| (e.name.as_str(), e.endpoint.url.as_str(), e.endpoint.runtime))
            .collect()
    }

    #[test]
    fn podman_over_ssh_is_refused_with_the_socket_forward() {
        let e = parse("p=podman:ssh://me@far").unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        assert!(e.contains("p=podman:unix://"), "{e}");
        assert!(parse("d=docker:ssh://me@far").is_ok());
    }

    fn flag(name: &str, runtime: Option<Runtime>, address: Option<&str>) -> EngineFlag {
        EngineFlag {
            name: name.into(),
            runtime,
            address: address.map(str::to_string),
            context: None,
        }
    }

    #[test]
    fn values_name_an_address_a_runtime_or_both() {
        assert_eq!(
            parse("d=unix:///var/run/docker.sock"),
            Ok(flag("d", None, Some("unix:///var/run/docker.sock")))
        );
        assert_eq!(
            parse("p=podman:unix:///run/podman/podman.sock"),
            Ok(flag(
                "p",
                Some(Runtime::Podman),
                Some("unix:///run/podman/podman.sock")
            ))
        );
        assert_eq!(
            parse("p=podman"),
            Ok(flag("p", Some(Runtime::Podman), None))
        );
        assert_eq!(
            parse("remote.1=docker:ssh://me@build-1"),
            Ok(flag(
                "remote.1",
                Some(Runtime::Docker),
                Some("ssh://me@build-1")
            ))
        );
        // `docker:2375` is a host and port, as DOCKER_HOST reads it.
        assert_eq!(
            parse("d=docker:2375"),
            Ok(flag("d", None, Some("docker:2375")))
        );
        assert_eq!(
            parse("p=podman:unix:///x").unwrap().to_string(),
            "p=podman:unix:///x"
        );
    }

    #[test]
    fn bare_names_come_from_the_engines_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("engines");
        std::fs::write(
            &file,
            "# build hosts\n\nd=unix:///d.sock\n  p = podman:unix:///p.sock\n",
        )
        .unwrap();
        let env = |k: &str| (k == "TUG_ENGINES_FILE").then(|| file.display().to_string());
        let flags = [
            parse("p").unwrap(),
            parse("x=unix:///x.sock").unwrap(),
            parse("d").unwrap(),
        ];
        let got = resolve(&flags, None, env).unwrap();
        assert_eq!(
            summary(&got),
            [
                ("p", "unix:///p.sock", Runtime::Podman),
                ("x", "unix:///x.sock", Runtime::Docker),
                ("d", "unix:///d.sock", Runtime::Docker),
            ]
        );
        assert_eq!(
            resolve(&[parse("q").unwrap()], None, env).unwrap_err(),
            format!(
                "--engine q: no engine of that name in {} (it defines: d, p)",
                file.display()
            )
        );
        std::fs::write(&file, "d=unix:///d.sock\nd=podman\n").unwrap();
        assert_eq!(
            resolve(&[parse("d").unwrap()], None, env).unwrap_err(),
            format!("{}:2: the name \"d\" is defined twice", file.display())
        );
        std::fs::write(&file, "d\n").unwrap();
        assert!(resolve(&[parse("d").unwrap()], None, env)
            .unwrap_err()
            .starts_with(&format!("{}:1: \"d\" has no address", file.display())));
        // No file is read when every value says where its engine is.
        let missing =
            |k: &str| (k == "TUG_ENGINES_FILE").then(|| "/nonexistent/engines".to_string());
        assert!(resolve(&[parse("a=docker").unwrap()], None, missing).is_ok());
        assert!(resolve(&[parse("a").unwrap()], None, missing)
            .unwrap_err()
            .starts_with("cannot read the engines file /nonexistent/engines ("));
    }

    #[test]
    fn bad_values_say_what_is_allowed() {
        let err = |v: &str| parse(v).unwrap_err();
        assert_eq!(
            err("unix:///var/run/docker.sock"),
            "\"unix:///var/run/docker.sock\" has no engine name (expected NAME=ADDRESS, NAME=podman:ADDRESS, NAME=docker, NAME=podman, NAME=context:CONTEXT, or a NAME from the engines file)"
        );
        assert_eq!(
            err("my engine=docker"),
            "invalid engine name \"my engine\" (allowed: letters, digits, `-`, `_` and `.`, starting with a letter or digit)"
        );
        assert_eq!(
            err("=podman"),
            "the engine name before `=` is empty (expected NAME=ADDRESS, NAME=podman:ADDRESS, NAME=docker, NAME=podman, NAME=context:CONTEXT, or a NAME from the engines file)"
        );
        assert_eq!(
            err("d="),
            "engine \"d\" has no address (expected NAME=ADDRESS, NAME=podman:ADDRESS, NAME=docker, NAME=podman, NAME=context:CONTEXT, or a NAME from the engines file)"
        );
        assert!(
            err("d=ftp://x").starts_with("engine \"d\": invalid engine address \"ftp://x\""),
            "{}",
            err("d=ftp://x")
        );
        assert!(err(&format!("{}=docker", "n".repeat(33))).contains("longer than 32"));
        assert_eq!(
            err("d=podman:"),
            "engine \"d\": `podman:` needs an address after it (d=podman:unix:///PATH), or write d=podman for the environment's"
        );
    }

    #[test]
    fn a_context_value_and_the_context_flag_resolve_through_the_context_store() {
        let store = tempfile::tempdir().unwrap();
        for (name, host) in [
            ("far", "tcp://far.example:2375"),
            ("near", "unix:///near.sock"),
        ] {
            let meta = store
                .path()
                .join("contexts/meta")
                .join(engine_api::context::context_id(name));
            std::fs::create_dir_all(&meta).unwrap();
            std::fs::write(
                meta.join("meta.json"),
                format!(r#"{{"Name":"{name}","Endpoints":{{"docker":{{"Host":"{host}"}}}}}}"#),
            )
            .unwrap();
        }
        let dir = store.path().to_str().unwrap().to_string();
        let env = |k: &str| match k {
            "DOCKER_CONFIG" => Some(dir.clone()),
            "DOCKER_HOST" => Some("unix:///env.sock".to_string()),
            _ => None,
        };
        let f = parse("r=context:far").unwrap();
        assert_eq!(f.to_string(), "r=context:far");
        let flags = [
            f,
            parse("d=docker").unwrap(),
            parse("u=unix:///u.sock").unwrap(),
            parse("p=podman").unwrap(),
        ];
        // Without --context, NAME=docker is the environment's (DOCKER_HOST) ...
        let got = resolve(&flags, None, env).unwrap();
        assert_eq!(
            summary(&got),
            [
                ("r", "tcp://far.example:2375", Runtime::Docker),
                ("d", "unix:///env.sock", Runtime::Docker),
                ("u", "unix:///u.sock", Runtime::Docker),
                ("p", "unix:///run/podman/podman.sock", Runtime::Podman),
            ]
        );
        // ... with it, NAME=docker follows the flag; addresses and Podman stay as they are.
        let got = resolve(&flags, Some("near"), env).unwrap();
        assert_eq!(got[1].endpoint.url, "unix:///near.sock");
        assert_eq!(got[0].endpoint.url, "tcp://far.example:2375");
        assert_eq!(got[2].endpoint.url, "unix:///u.sock");
        assert_eq!(got[3].endpoint.runtime, Runtime::Podman);

        let e = resolve(&[parse("g=context:ghost").unwrap()], None, env).unwrap_err();
        assert!(
            e.starts_with("--engine g=context:ghost: docker context \"ghost\""),
            "{e}"
        );
        assert!(parse("g=context:")
            .unwrap_err()
            .contains("is not a Docker context name"));
        assert!(parse("g=context:a/b")
            .unwrap_err()
            .contains("is not a Docker context name"));
    }

    #[test]
    fn resolving_keeps_order_applies_the_environment_and_refuses_twins() {
        let env = |k: &str| match k {
            "DOCKER_HOST" => Some("tcp://10.0.0.1:2375".to_string()),
            "DAGU_PODMAN_HOST" => Some("unix:///tmp/podman.sock".to_string()),
            "DOCKER_API_VERSION" => Some("1.41".to_string()),
            _ => None,
        };
        let flags = [
            parse("a=unix:///a.sock").unwrap(),
            parse("b=podman").unwrap(),
            parse("c=docker").unwrap(),
        ];
        let got = resolve(&flags, None, env).unwrap();
        assert_eq!(
            summary(&got),
            [
                ("a", "unix:///a.sock", Runtime::Docker),
                ("b", "unix:///tmp/podman.sock", Runtime::Podman),
                ("c", "tcp://10.0.0.1:2375", Runtime::Docker),
            ]
        );
        assert_eq!(got[0].endpoint.source, "--engine a");
        assert_eq!(
            got[0].endpoint.api_version,
            Some(engine_api::ApiVersion::new(1, 41))
        );
        let twins = [parse("a=docker").unwrap(), parse("a=podman").unwrap()];
        assert_eq!(
            resolve(&twins, None, env).unwrap_err(),
            "--engine a=podman: the name \"a\" is given twice (each engine needs a name of its own)"
        );
    }
}
