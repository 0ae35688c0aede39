//! Hostile input: output that is not UTF-8, a 100 MiB line without a newline, a 10,000-step
//! workflow, YAML nested too deep, YAML alias bombs, and workflow files too big or endless.
//!
//! * Invalid UTF-8 on stdout and stderr (from a step container, an exec in the DAG-level
//!   container and a host process) is kept byte for byte in `<step>.out` / `.err` and given
//!   back unchanged by `tug logs RUN STEP`. An `output:` capture of such bytes is stored in
//!   `status.json` (JSON text) with U+FFFD in place of the invalid bytes, and the record stays
//!   valid JSON.
//! * A step printing 100 MiB without a newline: the log holds exactly those bytes; tug's peak
//!   resident memory (VmHWM) is printed, not asserted (benches hold memory bounds).
//! * A generated 10,000-step workflow: `tug validate` and `tug dry` succeed without a panic, the
//!   time, peak memory and output size printed; the same with a 10,000-step cycle is refused
//!   (exit 2) naming the cycle.
//! * Deep nesting (flow sequences, flow mappings, block mappings) and alias bombs (deep, wide,
//!   through merge keys): `tug validate`, `tug dry` and `tug start` each end at once with exit 2
//!   and an error that says what is wrong, never a panic, a stack overflow or a hang.
//! * A workflow file over the 16 MiB limit is refused with that limit in the message; so must
//!   be an endless one (`/dev/zero`), without reading it all first.

#![allow(clippy::print_stderr)]

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use tug_tests::{
    assert_no_run_containers, engine_test, peak_rss_kib, tug_bin, tug_command, TugOutput, TugStart,
    WorkflowDir,
};

/// Longest a `tug validate` / `dry` / `start` of a hostile file may take.
const QUICK: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// Invalid UTF-8 in step output.
// ---------------------------------------------------------------------------------------------

/// What every step of the invalid UTF-8 fixtures prints on stdout and stderr.
const BAD_STDOUT: &[u8] = b"a\xff\xfeb\n\xc3\nc\xc0\xafd\x80e";
const BAD_STDERR: &[u8] = b"err\xff\n";

fn read_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

engine_test!(invalid_utf8_output_is_kept_byte_exact, |engine, client| {
    for (fixture, steps) in [
        (
            "reliability/invalid_utf8.yaml",
            &["own_container", "host"][..],
        ),
        ("reliability/invalid_utf8_exec.yaml", &["dag_container"][..]),
    ] {
        let wf = WorkflowDir::new(fixture);
        let run = TugStart::new(engine, wf.file()).run().await;
        run.assert_succeeded();
        let data_dir = run.run_dir.ancestors().nth(3).expect("data dir");
        for step in steps {
            let out = read_bytes(&run.run_dir.join(format!("{step}.out")));
            let err = read_bytes(&run.run_dir.join(format!("{step}.err")));
            assert_eq!(out, BAD_STDOUT, "{step}.out{}", run.context());
            assert_eq!(err, BAD_STDERR, "{step}.err{}", run.context());
            // `tug logs RUN STEP` gives the step's stdout on stdout and stderr on stderr, as
            // written.
            let logs = tug_command(
                &["logs", &run.run_id, step],
                wf.path(),
                data_dir,
                Some(engine),
                &[],
                QUICK,
            );
            assert_eq!(logs.code, Some(0), "{}", logs.context());
            assert_eq!(logs.stdout, BAD_STDOUT, "tug logs stdout{}", logs.context());
            assert_eq!(logs.stderr, BAD_STDERR, "tug logs stderr{}", logs.context());
        }
        if fixture.ends_with("invalid_utf8.yaml") {
            // The capture: the log keeps the bytes, the record (JSON) holds U+FFFD instead.
            assert_eq!(read_bytes(&run.run_dir.join("captured.out")), b"x\xffy");
            let output = run.step("captured")["output"].clone();
            assert_eq!(
                output,
                serde_json::json!(["BYTES", "x\u{FFFD}y"]),
                "{}",
                run.context()
            );
            assert_eq!(run.out("uses_capture").trim(), "78 ef bf bd 79");
        }
        assert_no_run_containers(&client, &run.run_id).await;
    }
});

// ---------------------------------------------------------------------------------------------
// 100 MiB on one line.
// ---------------------------------------------------------------------------------------------

const LINE: u64 = 100 * 1024 * 1024;

engine_test!(line_of_100_mib_without_newline, |engine, client| {
    let wf = WorkflowDir::new("reliability/long_line.yaml");
    let mut tug = TugStart::new(engine, wf.file()).discard_stdout().spawn();
    let pid = tug.pid();
    let started = std::time::Instant::now();
    let mut peak = 0;
    while tug.is_running() && started.elapsed() < tug_tests::TUG_RUN_LIMIT {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let run = tug.finish(Duration::from_secs(5)).await;
    let took = started.elapsed();
    eprintln!(
        "[{engine:?}] a 100 MiB line without a newline: tug took {:.1}s, peak RSS (VmHWM) {peak} KiB ({:.1} MiB)",
        took.as_secs_f64(),
        peak as f64 / 1024.0
    );
    run.assert_succeeded();
    let path = run.run_dir.join("long_line.out");
    let size = std::fs::metadata(&path).expect("long_line.out").len();
    assert_eq!(size, LINE, "{}", run.context());
    let mut file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|&b| b != b'x') {
            panic!(
                "byte {} of the log is {:#04x}, not 'x'",
                offset + i as u64,
                buf[i]
            );
        }
        offset += n as u64;
    }
    assert_eq!(run.err("long_line"), "");
    assert_no_run_containers(&client, &run.run_id).await;
});

// ---------------------------------------------------------------------------------------------
// 10,000 steps.
// ---------------------------------------------------------------------------------------------

/// A workflow of `n` steps on a DAG-level container: each depends on the one before, every
/// hundredth also on the one a hundred before; with `cycle`, the first depends on the last.
fn many_steps(n: usize, cycle: bool) -> String {
    let mut s =
        String::from("container:\n  image: tug-busybox:latest\n  pull_policy: never\nsteps:\n");
    for i in 0..n {
        s.push_str(&format!("  - id: s{i}\n    run: echo step {i}\n"));
        let mut deps = Vec::new();
        if i > 0 {
            deps.push(format!("s{}", i - 1));
        }
        if i >= 100 && i % 100 == 0 {
            deps.push(format!("s{}", i - 100));
        }
        if cycle && i == 0 {
            deps.push(format!("s{}", n - 1));
        }
        if !deps.is_empty() {
            s.push_str(&format!("    depends: [{}]\n", deps.join(", ")));
        }
    }
    s
}

fn no_panic(o: &TugOutput) {
    let err = o.stderr_text();
    assert!(
        !err.contains("panicked") && !err.contains("stack overflow"),
        "tug panicked{}",
        o.context()
    );
    assert!(
        !o.timed_out,
        "tug did not finish within {QUICK:?}{}",
        o.context()
    );
}

fn figures(what: &str, o: &TugOutput) -> String {
    // Below 1 MiB the sample was taken before tug itself was running (between fork and exec).
    let rss = match o.peak_rss_kib {
        0..1024 => "peak RSS not sampled (ended within 10 ms)".to_string(),
        kib => format!("peak RSS {:.1} MiB", kib as f64 / 1024.0),
    };
    format!(
        "{what}: exit {:?} in {:.2}s, {rss}, {} bytes out, {} bytes err",
        o.code,
        o.elapsed.as_secs_f64(),
        o.stdout.len(),
        o.stderr.len()
    )
}

#[test]
fn ten_thousand_steps_validate_and_dry() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let file = dir.path().join("steps10k.yaml");
    std::fs::write(&file, many_steps(10_000, false)).unwrap();
    let f = file.to_str().unwrap();

    let validate = tug_command(&["validate", f], dir.path(), data.path(), None, &[], QUICK);
    eprintln!("{}", figures("10,000 steps: tug validate", &validate));
    no_panic(&validate);
    assert_eq!(validate.code, Some(0), "{}", validate.context());
    assert!(
        validate.stdout_text().contains("10000 steps"),
        "{}",
        validate.context()
    );

    let dry = tug_command(&["dry", f], dir.path(), data.path(), None, &[], QUICK);
    eprintln!("{}", figures("10,000 steps: tug dry", &dry));
    no_panic(&dry);
    assert_eq!(dry.code, Some(0), "{}", dry.context());
    let text = dry.stdout_text();
    assert!(
        text.contains("step 10000: s9999"),
        "the last step is missing from dry's plan{}",
        dry.context()
    );

    std::fs::write(&file, many_steps(10_000, true)).unwrap();
    let cycle = tug_command(&["validate", f], dir.path(), data.path(), None, &[], QUICK);
    eprintln!("{}", figures("10,000-step cycle: tug validate", &cycle));
    no_panic(&cycle);
    assert_eq!(cycle.code, Some(2), "{}", cycle.context());
    assert!(
        cycle
            .stderr_text()
            .contains("dependency cycle of 10000 steps: s9999 → s0 → s1"),
        "{}",
        cycle.context()
    );
    // The message names the cycle's ends, not all 10,000 steps.
    assert!(
        cycle.stderr_text().len() < 4096,
        "{} bytes of error for one cycle{}",
        cycle.stderr_text().len(),
        cycle.context()
    );
}

// ---------------------------------------------------------------------------------------------
// Deep nesting and alias bombs.
// ---------------------------------------------------------------------------------------------

/// Hostile YAML files: (name, contents, a word the error must contain).
fn hostile_yaml() -> Vec<(&'static str, String, &'static [&'static str])> {
    let nesting: &[&str] = &["nesting", "recursion"];
    let alias: &[&str] = &["alias"];
    let mut v = Vec::new();
    let n = 100_000;
    v.push((
        "deep_flow_sequences",
        format!("steps:\n  - run: {}{}\n", "[".repeat(n), "]".repeat(n)),
        nesting,
    ));
    v.push((
        "deep_flow_mappings",
        format!(
            "steps:\n  - run: echo\nx: {}1{}\n",
            "{a: ".repeat(50_000),
            "}".repeat(50_000)
        ),
        nesting,
    ));
    let mut block = String::from("steps:\n  - run: echo\nx:\n");
    for i in 1..3000 {
        block.push_str(&" ".repeat(i));
        block.push_str("x:\n");
    }
    block.push_str(&" ".repeat(3000));
    block.push_str("y\n");
    v.push(("deep_block_mappings", block, nesting));

    let mut deep = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..30 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        deep.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    deep.push_str("steps:\n  - run: echo *a29\n");
    v.push(("alias_bomb_deep", deep, alias));

    let items: Vec<String> = (0..1000).map(|i| format!("x{i}")).collect();
    let mut wide = format!("big: &big [{}]\nrefs:\n", items.join(", "));
    for _ in 0..1000 {
        wide.push_str("  - *big\n");
    }
    wide.push_str("steps:\n  - run: echo hi\n");
    v.push(("alias_bomb_wide", wide, alias));

    let keys: Vec<String> = (0..10).map(|i| format!("k{i}: v")).collect();
    let mut merge = format!("m0: &m0 {{{}}}\n", keys.join(", "));
    for i in 1..25 {
        let keys: Vec<String> = (0..10).map(|j| format!("k{j}: *m{}", i - 1)).collect();
        merge.push_str(&format!("m{i}: &m{i} {{{}}}\n", keys.join(", ")));
    }
    merge.push_str("steps:\n  - run: echo\n    env:\n      <<: *m24\n");
    v.push(("alias_bomb_merge_keys", merge, alias));
    v
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, contents, words) in hostile_yaml() {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, &contents).unwrap();
        let f = file.to_str().unwrap();
        for cmd in ["validate", "dry", "start"] {
            let o = tug_command(&[cmd, f], dir.path(), data.path(), None, &[], QUICK);
            let first = o.stderr_text().lines().next().unwrap_or("").to_string();
            eprintln!(
                "{} -> {first}",
                figures(
                    &format!("{name} ({} KiB): tug {cmd}", contents.len() / 1024),
                    &o
                )
            );
            no_panic(&o);
            let err = o.stderr_text().to_lowercase();
            if o.code != Some(2)
                || !err.starts_with("error:")
                || !words.iter().any(|w| err.contains(w))
            {
                failures.push(format!(
                    "{name}: tug {cmd}: exit 2 and an error naming {words:?} expected{}",
                    o.context()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Files too big, and endless.
// ---------------------------------------------------------------------------------------------

/// The loader's limit on a workflow file.
const FILE_LIMIT: u64 = 16 * 1024 * 1024;

#[test]
fn oversized_workflow_file_is_refused_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let file = dir.path().join("huge.yaml");
    // 64 MiB: a valid start, then comment lines.
    let mut contents = String::from("steps:\n  - run: echo hi\n");
    let line = format!("#{}\n", "x".repeat(1023));
    while (contents.len() as u64) < 4 * FILE_LIMIT {
        contents.push_str(&line);
    }
    std::fs::write(&file, &contents).unwrap();
    let o = tug_command(
        &["validate", file.to_str().unwrap()],
        dir.path(),
        data.path(),
        None,
        &[],
        QUICK,
    );
    eprintln!(
        "{}",
        figures(
            &format!("a {} MiB workflow file: tug validate", contents.len() >> 20),
            &o
        )
    );
    no_panic(&o);
    assert_eq!(o.code, Some(2), "{}", o.context());
    assert!(
        o.stderr_text().contains(&FILE_LIMIT.to_string()),
        "the error does not give the limit{}",
        o.context()
    );
}

#[test]
fn endless_workflow_file_is_refused_at_the_limit() {
    let data = tempfile::tempdir().unwrap();
    // Under a 1 GiB address-space limit, so that the bug cannot take the machine's memory.
    let started = std::time::Instant::now();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576; exec timeout 30 \"$0\" validate /dev/zero")
        .arg(tug_bin())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TUG_DATA_DIR", data.path())
        .env("HOME", data.path())
        .output()
        .expect("run sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "tug validate /dev/zero (1 GiB address-space limit): exit {:?} after {:.2}s: {}",
        out.status.code(),
        started.elapsed().as_secs_f64(),
        stderr.lines().take(3).collect::<Vec<_>>().join(" / ")
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&FILE_LIMIT.to_string()),
        "the error does not give the 16 MiB limit: {stderr}"
    );
}
