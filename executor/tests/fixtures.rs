//! Whole-output tests over the fixture files.
//!
//! - `fixtures/seeds/*.yaml`: every example of the seeds must load without error; the rendered
//!   warnings and the plan are pinned in `NAME.expected`.
//! - `fixtures/invalid/*.yaml`: each breaks one rule; the full rendered diagnostics are pinned in
//!   `NAME.expected`.
//!
//! `UPDATE_EXPECT=1 cargo test -p executor --test fixtures` rewrites the expected files; review
//! the diff before committing.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use executor::workflow::{load_str, Host, LoadOptions};

/// The environment every fixture sees: fixed, so outputs do not depend on the machine.
struct FixtureHost {
    vars: BTreeMap<String, String>,
}

impl Host for FixtureHost {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn is_file(&self, path: &Path) -> bool {
        path == Path::new("/work/wf/other-workflow.yaml")
    }
}

fn host() -> FixtureHost {
    let vars = [
        ("HOME", "/home/tug"),
        ("CACHE_VOLUME", "dagu-cache"),
        ("USER", "tug"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    FixtureHost { vars }
}

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Compares `actual` with the file beside `yaml` (`.expected`), or rewrites it.
fn check(yaml: &Path, actual: &str, failures: &mut Vec<String>) {
    let expected_path = yaml.with_extension("expected");
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&expected_path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "--- {} (expected)\n{expected}\n+++ actual\n{actual}",
            expected_path.display()
        ));
    }
}

fn options(host: &FixtureHost) -> LoadOptions<'_> {
    LoadOptions {
        host,
        params: Vec::new(),
        base_dir: Some(PathBuf::from("/work/wf")),
    }
}

#[test]
fn every_seed_example_validates() {
    let host = host();
    let mut failures = Vec::new();
    let files = fixtures("seeds");
    assert!(files.len() >= 40, "seed fixtures missing: {}", files.len());
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let name = format!("seeds/{}", f.file_name().unwrap().to_string_lossy());
        match load_str(&src, &name, &options(&host)) {
            Ok(loaded) => {
                let mut out = loaded.warnings.render();
                let _ = write!(out, "{}", loaded.workflow.plan());
                for (sub, wf) in &loaded.workflow.sub_workflows {
                    let _ = write!(out, "sub-workflow `{sub}`:\n{}", wf.plan());
                }
                check(&f, &out, &mut failures);
            }
            Err(d) => failures.push(format!("{name} must validate:\n{}", d.render())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_invalid_file_is_rejected_with_pinned_output() {
    let host = host();
    let mut failures = Vec::new();
    let files = fixtures("invalid");
    assert!(files.len() >= 60, "only {} invalid fixtures", files.len());
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let name = format!("invalid/{}", f.file_name().unwrap().to_string_lossy());
        match load_str(&src, &name, &options(&host)) {
            Ok(_) => failures.push(format!("{name} must be rejected")),
            Err(d) => {
                if !d
                    .iter()
                    .all(|x| x.line().is_some() || x.message().contains("command line"))
                {
                    failures.push(format!("{name}: a diagnostic without a position"));
                }
                check(&f, &d.render(), &mut failures);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
