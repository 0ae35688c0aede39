//! `tug start` on a real terminal, driven through tmux: the live view renders (a header with
//! the progress, one line per step with its state, step output above with its prefix), and
//! ends cleanly — the live area cleared, the summary printed, the cursor visible and the
//! terminal's settings (echo, NOFLSH) as they were — after a normal end and after Ctrl-C.
//!
//! tmux comes with the rig (`scripts/engines` installs it), so these tests are ignored by a
//! plain `cargo test` and run by `scripts/test`; they fail when tmux is missing.

#[path = "cli_support.rs"]
mod cli_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cli_support::tug_path;
use tug_tests::{engine_test, test_image, unique, Engine};

/// A tmux server of our own (its own socket) running one session of a fixed size.
struct Tmux {
    socket: String,
    _dir: tempfile::TempDir,
    data: PathBuf,
}

impl Tmux {
    /// Runs `tug ARGS…` in a 100×30 terminal, then prints `[tug exited N]` and the terminal's
    /// echo/echoctl/noflsh settings, and waits.
    fn start(args: &[&str], env: &[(&str, String)], cwd: &Path) -> Tmux {
        let dir = tempfile::Builder::new()
            .prefix("tug-tmux-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("home")).expect("home");
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut script = String::new();
        script.push_str(&format!(
            "export PATH={}\n",
            quote(&std::env::var("PATH").unwrap_or_default())
        ));
        script.push_str(&format!(
            "export HOME={}\n",
            quote(&data.join("home").display().to_string())
        ));
        script.push_str(&format!(
            "export TUG_DATA_DIR={}\n",
            quote(&data.display().to_string())
        ));
        script.push_str("export TERM=xterm-256color TUG_STOP_GRACE_SEC=2\nunset NO_COLOR\n");
        for (k, v) in env {
            script.push_str(&format!("export {k}={}\n", quote(v)));
        }
        script.push_str(&format!("cd {}\n", quote(&cwd.display().to_string())));
        let argv: Vec<String> = args.iter().map(|a| quote(a)).collect();
        script.push_str(&format!(
            "{} {}\necho \"[tug exited $?]\"\n",
            quote(&tug_path().display().to_string()),
            argv.join(" ")
        ));
        script.push_str(
            "echo \"[tty $(stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo -e echoctl -e -echoctl -e noflsh -e -noflsh | tr '\\n' ' ')]\"\nsleep 600\n",
        );
        let script_path = dir.path().join("run.sh");
        std::fs::write(&script_path, script).expect("script");
        let socket = unique("tug-test-tmux");
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "100",
                "-y",
                "30",
            ])
            .arg(format!("bash {}", script_path.display()))
            .env_remove("TMUX")
            .status()
            .expect("tmux must be installed (scripts/engines installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux {
            socket,
            _dir: dir,
            data,
        }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen as text.
    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J"])
    }

    /// Polls the screen until `pred` holds; panics with the screen after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {limit:?}; the screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn send(&self, keys: &str) {
        self.tmux(&["send-keys", keys]);
    }

    fn cursor_visible(&self) -> bool {
        self.tmux(&["display", "-p", "#{cursor_flag}"]).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

const SPINNER: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

fn has_spinner(line: &str) -> bool {
    line.chars().any(|c| SPINNER.contains(c))
}

/// The screen after tug ended: nothing of the live area is left, the terminal is as before.
fn assert_ended_cleanly(t: &Tmux, screen: &str, code: i32) {
    assert!(
        screen.contains(&format!("[tug exited {code}]")),
        "exit code {code} expected:\n{screen}"
    );
    for line in screen.lines() {
        assert!(
            !line.contains("steps done") && !has_spinner(line),
            "a line of the live view was left behind: {line:?}\n{screen}"
        );
    }
    let tty = screen
        .lines()
        .find(|l| l.starts_with("[tty "))
        .unwrap_or_else(|| panic!("no tty line:\n{screen}"));
    for setting in ["echo", "echoctl", "-noflsh"] {
        assert!(
            tty.split_whitespace()
                .any(|w| w.trim_matches(['[', ']']) == setting),
            "terminal setting {setting} not restored: {tty}"
        );
    }
    assert!(t.cursor_visible(), "the cursor is hidden");
}

#[test]
#[ignore = "needs tmux from the rig: run scripts/test"]
fn live_view_renders_and_ends_cleanly() {
    let t = Tmux::start(
        &[
            "start",
            "tests/fixtures/cli/slow_host.yaml",
            "--run-id",
            "live-1",
        ],
        &[],
        &cli_support::workspace(),
    );
    // While it runs: the header, a running step with a spinner and its elapsed time, a
    // pending one waiting for it, and output above with the step's prefix.
    let live = t.wait_for("live view", Duration::from_secs(20), |s| {
        s.contains("slow-host · 0/2 steps done")
            && s.lines()
                .any(|l| l.contains("tick") && l.contains("running") && has_spinner(l))
            && s.lines()
                .any(|l| l.contains("tock") && l.contains("pending") && l.contains("after tick"))
            && s.contains("tick | tick 1")
    });
    assert!(live.contains("run live-1"), "{live}");
    let end = t.wait_for("end", Duration::from_secs(30), |s| s.contains("[tty "));
    assert_ended_cleanly(&t, &end, 0);
    // The output stayed, in order, then the summary.
    let order = [
        "tick | tick 1",
        "tick | tick 4",
        "tock | tock",
        "Workflow  slow-host",
        "Result: succeeded (all 2 steps)",
    ];
    let mut at = 0;
    for what in order {
        let found = end[at..]
            .find(what)
            .unwrap_or_else(|| panic!("{what:?} missing or out of order:\n{end}"));
        at += found;
    }
    assert!(t.data.join("runs/slow-host/live-1/status.json").exists());
}

#[test]
#[ignore = "needs tmux from the rig: run scripts/test"]
fn quiet_live_view_shows_states_only() {
    let t = Tmux::start(
        &["start", "--quiet", "tests/fixtures/cli/slow_host.yaml"],
        &[],
        &cli_support::workspace(),
    );
    t.wait_for("live view", Duration::from_secs(20), |s| {
        s.lines()
            .any(|l| l.contains("tick") && l.contains("running"))
    });
    let end = t.wait_for("end", Duration::from_secs(30), |s| s.contains("[tty "));
    assert_ended_cleanly(&t, &end, 0);
    assert!(
        !end.contains("tick | tick"),
        "--quiet showed output:\n{end}"
    );
}

fn interrupt_workflow(dir: &Path) -> PathBuf {
    let file = dir.join("interrupt.yaml");
    std::fs::write(
        &file,
        format!(
            "name: interrupt\nsteps:\n  - id: sleeper\n    container:\n      image: {}\n      pull_policy: never\n    run: sh -c 'echo going to sleep; exec sleep 300'\n  - id: host\n    run: sh -c 'echo on the host; sleep 300'\n  - id: after\n    depends: sleeper\n    run: echo never\n",
            test_image()
        ),
    )
    .expect("workflow");
    file
}

async fn assert_no_containers(client: &engine_api::Client, run_id: &str) {
    let left = client
        .list_containers(&engine_api::containers::ListContainers::all(
            engine_api::Filters::new().label(format!("tug.run={run_id}")),
        ))
        .await
        .expect("list containers");
    assert!(left.is_empty(), "containers of {run_id} left: {left:?}");
}

async fn ctrl_c(engine: Engine, client: engine_api::Client, presses: usize) {
    let dir = tempfile::tempdir().expect("dir");
    let file = interrupt_workflow(dir.path());
    let run_id = unique("ctrl-c");
    let t = Tmux::start(
        &["start", file.to_str().unwrap(), "--run-id", &run_id],
        &engine.env(),
        dir.path(),
    );
    t.wait_for("both steps running", Duration::from_secs(60), |s| {
        s.contains("sleeper | going to sleep")
            && s.contains("host    | on the host")
            && s.lines()
                .any(|l| l.contains("sleeper") && l.contains("running") && has_spinner(l))
    });
    t.send("C-c");
    let stopping = t.wait_for("stopping notice", Duration::from_secs(10), |s| {
        s.contains("stopping… (Ctrl-C again to kill now)") || s.contains("[tug exited")
    });
    if presses > 1 && !stopping.contains("[tug exited") {
        t.send("C-c");
        t.wait_for("killing notice", Duration::from_secs(10), |s| {
            s.contains("killing") || s.contains("[tug exited")
        });
    }
    let end = t.wait_for("end", Duration::from_secs(60), |s| s.contains("[tty "));
    assert_ended_cleanly(&t, &end, 130);
    assert!(end.contains("Result: cancelled"), "{end}");
    assert!(
        !end.contains("never"),
        "a step after the interrupt ran:\n{end}"
    );
    assert_no_containers(&client, &run_id).await;
}

engine_test!(ctrl_c_once_in_the_live_view, |engine, client| {
    ctrl_c(engine, client, 1).await;
});

engine_test!(ctrl_c_twice_in_the_live_view, |engine, client| {
    ctrl_c(engine, client, 2).await;
});

engine_test!(live_view_of_a_container_run, |engine, client| {
    let run_id = unique("live-hello");
    let t = Tmux::start(
        &["start", "examples/hello.yaml", "--run-id", &run_id],
        &engine.env(),
        &cli_support::workspace(),
    );
    let end = t.wait_for("end", Duration::from_secs(90), |s| s.contains("[tty "));
    assert_ended_cleanly(&t, &end, 0);
    assert!(
        end.contains(
            "fresh | a fresh container as uid 1000 was handed [hello from the shared container]"
        ),
        "{end}"
    );
    assert!(end.contains("Result: succeeded (all 3 steps)"), "{end}");
    assert_no_containers(&client, &run_id).await;
});
