//! The command line of one `harness.run` attempt: which binary to start with which arguments
//! and standard input, for a built-in provider or a custom one from `harnesses:`.
//!
//! Pure (no engine, no I/O), so that every rule can be pinned by a unit test; the runner decides
//! where the command runs (a fresh container with the binary as its entrypoint, an exec into the
//! DAG-level container, or a host process) and passes `binary` + `args` as an argv array that
//! no shell re-parses, so a prompt holding quotes, `$`, backticks or newlines reaches the
//! provider byte for byte.
//!
//! The rules follow Dagu's harness executor:
//! * built-ins: `claude -p PROMPT`, `codex exec PROMPT` (with `--skip-git-repo-check` unless the
//!   step sets it to false), `copilot -p PROMPT`, `opencode run PROMPT`, `pi -p PROMPT`; the
//!   option flags come after the prompt;
//! * custom harnesses: `binary`, then `prefix_args`, then the prompt and the flags in the order
//!   `prompt_position` says, the prompt as an argument, after `prompt_flag`, or on stdin;
//! * every `with` key that is not reserved (`prompt`, `stdin`, `provider`, `fallback`,
//!   `managed`) becomes a flag, in key order: a string gives `--key value` (nothing when it
//!   expands to the empty string), `true` gives `--key`, `false` nothing, a number `--key N`,
//!   a list `--key item` per item. Built-ins turn `snake_case` keys into `kebab-case`
//!   (`max_turns` → `--max-turns`); custom harnesses keep the key as written, prefix it with
//!   `--` (`gnu_long`) or `-` (`single_dash`), or use the token `option_flags` gives for it;
//! * `${VAR}` references in the prompt, in `stdin` and in option values are expanded from the
//!   step's scope with `\$` meaning a literal `$` (as for every `with` field); names the scope
//!   lacks stay as written.
//!
//! The top-level `harness:` defaults are already merged under the step's `with` by validation
//! (the step wins, `key: null` deletes an inherited default), so [`HarnessRun::options`] is the
//! complete set of flags. The same options apply to each provider the step tries.

use std::collections::BTreeMap;

use crate::workflow::{
    BuiltinProvider, Escapes, FlagStyle, HarnessOption, HarnessRun, PromptMode, PromptPosition,
    Provider, Scope, Workflow,
};

/// `with` keys the harness step consumes itself; they never become flags.
const RESERVED: &[&str] = &["prompt", "stdin", "provider", "fallback", "managed"];

/// One provider's command: `binary` started with `args` (never through a shell), fed `stdin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HarnessCommand {
    /// The provider's name as the workflow spells it (`claude`, or a `harnesses:` key).
    pub(crate) provider: String,
    /// The program to start, looked up in `PATH` (inside the container, when there is one).
    pub(crate) binary: String,
    /// Its arguments, in order, without the binary itself.
    pub(crate) args: Vec<String>,
    /// Text for its standard input (`with.stdin`, or the prompt for `prompt_mode: stdin`).
    pub(crate) stdin: Option<String>,
}

impl HarnessCommand {
    /// `binary` followed by `args`: the argv of an exec or a host process.
    pub(crate) fn argv(&self) -> Vec<String> {
        let mut argv = Vec::with_capacity(self.args.len() + 1);
        argv.push(self.binary.clone());
        argv.extend(self.args.iter().cloned());
        argv
    }
}

/// The providers a harness step tries, in order: its provider, then each fallback.
pub(crate) fn providers(run: &HarnessRun) -> Vec<Provider> {
    std::iter::once(run.provider.clone())
        .chain(run.fallback.iter().cloned())
        .collect()
}

/// The name of `provider` as the workflow spells it.
pub(crate) fn provider_name(provider: &Provider) -> &str {
    match provider {
        Provider::Builtin(b) => b.name(),
        Provider::Custom(name) | Provider::Unknown(name) => name,
    }
}

/// The line written to the step's stderr before trying the next provider (as Dagu words it):
/// `attempt` is the 1-based number of the attempt that failed, out of `total`.
pub(crate) fn fallback_notice(attempt: usize, total: usize, failed: &str, next: &str) -> String {
    format!(
        "harness: attempt {attempt}/{total} with {failed} failed; trying fallback {}/{total} with {next}",
        attempt + 1
    )
}

/// Builds the command line of `provider` for the harness step `run` of `wf`, expanding
/// variables from `scope`. Fails (with a message that reads after "failed to run the harness:")
/// when the provider is unknown or its definition unusable.
pub(crate) fn command_line(
    wf: &Workflow,
    run: &HarnessRun,
    provider: &Provider,
    scope: &Scope,
) -> Result<HarnessCommand, String> {
    let shape = Shape::of(wf, provider)?;
    let prompt = run.prompt.expand(scope, Escapes::Literal);
    let stdin = run
        .stdin
        .as_ref()
        .map(|t| t.expand(scope, Escapes::Literal))
        .filter(|s| !s.is_empty());
    let flags = flags(&shape, &run.options, scope);

    let mut args = shape.prefix_args.clone();
    let prompt_args = match &shape.prompt_mode {
        PromptMode::Arg => vec![prompt.clone()],
        PromptMode::Flag(flag) => vec![flag.clone(), prompt.clone()],
        PromptMode::Stdin => Vec::new(),
    };
    match shape.prompt_position {
        PromptPosition::AfterFlags => {
            args.extend(flags);
            args.extend(prompt_args);
        }
        PromptPosition::BeforeFlags => {
            args.extend(prompt_args);
            args.extend(flags);
        }
    }
    let stdin = if shape.prompt_mode == PromptMode::Stdin {
        Some(match stdin {
            Some(s) if prompt.is_empty() => s,
            Some(s) => format!("{prompt}\n\n{s}"),
            None => prompt,
        })
    } else {
        stdin
    };
    Ok(HarnessCommand {
        provider: shape.name,
        binary: shape.binary,
        args,
        stdin,
    })
}

/// How one provider is invoked.
struct Shape<'a> {
    name: String,
    binary: String,
    prefix_args: Vec<String>,
    prompt_mode: PromptMode,
    prompt_position: PromptPosition,
    /// `None` for a built-in: keys become `--kebab-case`.
    custom: Option<Custom<'a>>,
    /// Options a built-in sets unless the step overrides them (codex's
    /// `skip-git-repo-check`).
    defaults: &'static [(&'static str, bool)],
}

/// How a custom harness spells its flags.
struct Custom<'a> {
    flag_style: FlagStyle,
    option_flags: &'a BTreeMap<String, String>,
}

impl<'a> Shape<'a> {
    fn of(wf: &'a Workflow, provider: &Provider) -> Result<Shape<'a>, String> {
        match provider {
            Provider::Builtin(b) => Ok(Shape::builtin(*b)),
            Provider::Custom(name) => {
                let def = wf
                    .harnesses
                    .get(name)
                    .ok_or_else(|| format!("harness `{name}` is not defined under `harnesses:`"))?;
                if def.binary.trim().is_empty() {
                    return Err(format!("harness `{name}` has no `binary`"));
                }
                Ok(Shape {
                    name: name.clone(),
                    binary: def.binary.clone(),
                    prefix_args: def.prefix_args.clone(),
                    prompt_mode: def.prompt_mode.clone(),
                    prompt_position: def.prompt_position,
                    custom: Some(Custom {
                        flag_style: def.flag_style,
                        option_flags: &def.option_flags,
                    }),
                    defaults: &[],
                })
            }
            Provider::Unknown(name) => {
                let builtins = BuiltinProvider::ALL.iter().map(|(n, _)| *n);
                let customs = wf
                    .harnesses
                    .keys()
                    .map(String::as_str)
                    .filter(|n| !BuiltinProvider::ALL.iter().any(|(b, _)| b == n));
                let known: Vec<&str> = builtins.chain(customs).collect();
                Err(format!(
                    "unknown harness provider `{name}`: use one of {}, or define it under \
                     top-level `harnesses:` with its `binary:`",
                    known.join(", ")
                ))
            }
        }
    }

    fn builtin(b: BuiltinProvider) -> Shape<'static> {
        let (prefix_args, prompt_mode, defaults): (&[&str], PromptMode, &[(&str, bool)]) = match b {
            BuiltinProvider::Claude => (&[], PromptMode::Flag("-p".into()), &[]),
            BuiltinProvider::Codex => {
                (&["exec"], PromptMode::Arg, &[("skip-git-repo-check", true)])
            }
            BuiltinProvider::Copilot => (&[], PromptMode::Flag("-p".into()), &[]),
            BuiltinProvider::Opencode => (&["run"], PromptMode::Arg, &[]),
            BuiltinProvider::Pi => (&[], PromptMode::Flag("-p".into()), &[]),
        };
        Shape {
            name: b.name().to_string(),
            binary: b.name().to_string(),
            prefix_args: prefix_args.iter().map(|s| s.to_string()).collect(),
            prompt_mode,
            prompt_position: PromptPosition::BeforeFlags,
            custom: None,
            defaults,
        }
    }

    /// The flag token for option `key`.
    fn token(&self, key: &str) -> String {
        match &self.custom {
            None => format!("--{key}"),
            Some(c) => {
                if let Some(t) = c.option_flags.get(key).filter(|t| !t.trim().is_empty()) {
                    return t.clone();
                }
                match c.flag_style {
                    FlagStyle::SingleDash => format!("-{key}"),
                    FlagStyle::GnuLong => format!("--{key}"),
                }
            }
        }
    }
}

/// The option flags, in key order.
fn flags(
    shape: &Shape<'_>,
    options: &BTreeMap<String, HarnessOption>,
    scope: &Scope,
) -> Vec<String> {
    // Keys as the provider sees them; a built-in's `max_turns` and `max-turns` are one key, and
    // the kebab-case spelling wins when both are given (as in Dagu).
    let mut keyed: BTreeMap<String, (&str, Value<'_>)> = BTreeMap::new();
    for (key, flag) in shape.defaults {
        keyed.insert(key.to_string(), (key, Value::Default(*flag)));
    }
    for (key, option) in options {
        if RESERVED.contains(&key.as_str()) {
            continue;
        }
        let canonical = match shape.custom {
            None => key.replace('_', "-"),
            Some(_) => key.clone(),
        };
        if let Some((previous, Value::Option(_))) = keyed.get(&canonical) {
            if !previous.contains('_') {
                continue;
            }
        }
        keyed.insert(canonical, (key.as_str(), Value::Option(option)));
    }

    let mut args = Vec::new();
    for (key, (_, value)) in &keyed {
        let token = shape.token(key);
        match value {
            Value::Default(true) => args.push(token),
            Value::Default(false) => {}
            Value::Option(HarnessOption::Flag(true)) => args.push(token),
            Value::Option(HarnessOption::Flag(false)) => {}
            Value::Option(HarnessOption::Text(t)) => {
                let v = t.expand(scope, Escapes::Literal);
                if !v.is_empty() {
                    args.push(token);
                    args.push(v);
                }
            }
            Value::Option(HarnessOption::Number(n)) => {
                args.push(token);
                args.push(number(n));
            }
            Value::Option(HarnessOption::List(items)) => {
                for item in items {
                    args.push(token.clone());
                    args.push(item.expand(scope, Escapes::Literal));
                }
            }
        }
    }
    args
}

/// An option's value: the step's, or a built-in's default.
enum Value<'a> {
    Default(bool),
    Option(&'a HarnessOption),
}

/// A YAML number as a flag value: integers in decimal (`0x10` → `16`), integral floats without
/// a fraction (`3.0` → `3`, as Dagu prints them), other floats in their shortest form.
fn number(text: &str) -> String {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let integer = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = integer {
        return if negative { -i } else { i }.to_string();
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => (f as i64).to_string(),
        Ok(f) if f.is_finite() => f.to_string(),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{load_str, Action, LoadOptions};

    /// The workflow in `src` (which must load) and its step `id`'s harness settings.
    fn load(src: &str) -> Workflow {
        match load_str(src, "harness.yaml", &LoadOptions::default()) {
            Ok(l) => l.workflow,
            Err(e) => panic!("workflow does not load:\n{e}"),
        }
    }

    fn harness<'a>(wf: &'a Workflow, id: &str) -> &'a HarnessRun {
        match &wf.step(id).expect("step").action {
            Action::HarnessRun(h) => h,
            other => panic!("step {id} is not a harness step: {other:?}"),
        }
    }

    /// The command line of step `id`'s first provider.
    fn command(src: &str, id: &str) -> HarnessCommand {
        let wf = load(src);
        let run = harness(&wf, id);
        command_line(&wf, run, &run.provider, &wf.scope).expect("command line")
    }

    fn step(with: &str) -> String {
        format!("steps:\n  - id: s\n    action: harness.run\n    with:\n{with}")
    }

    fn argv(c: &HarnessCommand) -> Vec<&str> {
        std::iter::once(c.binary.as_str())
            .chain(c.args.iter().map(String::as_str))
            .collect()
    }

    #[test]
    fn builtin_command_lines() {
        for (provider, expected) in [
            ("claude", vec!["claude", "-p", "Fix it."]),
            (
                "codex",
                vec!["codex", "exec", "Fix it.", "--skip-git-repo-check"],
            ),
            ("copilot", vec!["copilot", "-p", "Fix it."]),
            ("opencode", vec!["opencode", "run", "Fix it."]),
            ("pi", vec!["pi", "-p", "Fix it."]),
        ] {
            let c = command(
                &step(&format!(
                    "      provider: {provider}\n      prompt: Fix it.\n"
                )),
                "s",
            );
            assert_eq!(c.provider, provider);
            assert_eq!(argv(&c), expected, "{provider}");
            assert_eq!(c.argv(), expected, "{provider}");
            assert_eq!(c.stdin, None, "{provider}");
        }
    }

    #[test]
    fn builtin_options_follow_the_prompt_in_key_order() {
        let c = command(
            &step(
                "      provider: claude\n      prompt: Review.\n      model: sonnet\n      \
                 bare: true\n      verbose: false\n      max_turns: 3\n      \
                 allowed_tools: [Read, \"Bash(git diff)\"]\n      effort: 0.5\n",
            ),
            "s",
        );
        assert_eq!(
            argv(&c),
            [
                "claude",
                "-p",
                "Review.",
                "--allowed-tools",
                "Read",
                "--allowed-tools",
                "Bash(git diff)",
                "--bare",
                "--effort",
                "0.5",
                "--max-turns",
                "3",
                "--model",
                "sonnet",
            ]
        );
    }

    #[test]
    fn codex_skips_the_git_check_unless_told_not_to() {
        let c = command(
            &step("      provider: codex\n      prompt: Go.\n      model: o3\n"),
            "s",
        );
        assert_eq!(
            argv(&c),
            [
                "codex",
                "exec",
                "Go.",
                "--model",
                "o3",
                "--skip-git-repo-check"
            ]
        );
        for spelling in ["skip_git_repo_check", "skip-git-repo-check"] {
            let c = command(
                &step(&format!(
                    "      provider: codex\n      prompt: Go.\n      {spelling}: false\n"
                )),
                "s",
            );
            assert_eq!(argv(&c), ["codex", "exec", "Go."], "{spelling}");
        }
    }

    #[test]
    fn kebab_spelling_wins_over_snake_for_builtins() {
        let c = command(
            &step("      provider: pi\n      prompt: P\n      max-turns: 2\n      max_turns: 9\n"),
            "s",
        );
        assert_eq!(argv(&c), ["pi", "-p", "P", "--max-turns", "2"]);
        let c = command(
            &step("      provider: pi\n      prompt: P\n      max_turns: 9\n      max-turns: 2\n"),
            "s",
        );
        assert_eq!(argv(&c), ["pi", "-p", "P", "--max-turns", "2"]);
    }

    #[test]
    fn numbers_print_as_dagu_prints_them() {
        assert_eq!(number("3"), "3");
        assert_eq!(number("-3"), "-3");
        assert_eq!(number("+3"), "3");
        assert_eq!(number("0x10"), "16");
        assert_eq!(number("0o17"), "15");
        assert_eq!(number("3.0"), "3");
        assert_eq!(number("1e3"), "1000");
        assert_eq!(number("0.25"), "0.25");
        assert_eq!(number("-1.5"), "-1.5");
        assert_eq!(number("007"), "7");
    }

    #[test]
    fn empty_strings_are_omitted_but_list_items_are_kept() {
        let c = command(
            &step(
                "      provider: opencode\n      prompt: P\n      agent: \"\"\n      \
                 file: [a, \"\"]\n",
            ),
            "s",
        );
        assert_eq!(
            argv(&c),
            ["opencode", "run", "P", "--file", "a", "--file", ""]
        );
    }

    #[test]
    fn prompt_reaches_the_provider_byte_for_byte() {
        let prompt = "it's \"quoted\" $HOME ${NOT_SET} `date` $(id) \\ back\\slash\n  indented\n\ttab; rm -rf / && echo 'x' | cat\n";
        let yaml = format!(
            "      provider: claude\n      prompt: {}\n",
            serde_json::to_string(prompt).unwrap()
        );
        let c = command(&step(&yaml), "s");
        assert_eq!(argv(&c), ["claude", "-p", prompt]);

        // A block scalar keeps its newlines, trailing one included.
        let c = command(
            &step(
                "      provider: claude\n      prompt: |\n        line 1\n        \"line\" '2'\n",
            ),
            "s",
        );
        assert_eq!(c.args, ["-p", "line 1\n\"line\" '2'\n"]);
    }

    #[test]
    fn variables_expand_in_the_prompt_and_option_values() {
        let src = "env:\n  - MODEL: sonnet\n  - WHO: world\nparams:\n  - TURNS: 4\n\
                   steps:\n  - id: s\n    action: harness.run\n    with:\n      provider: claude\n      \
                   prompt: 'hello ${WHO}, cost \\$5, ${params.TURNS} turns, $UNKNOWN'\n      \
                   model: ${MODEL}\n      tag: [\"${WHO}\", x]\n";
        let wf = load(src);
        let run = harness(&wf, "s");
        let mut scope = wf.scope.clone();
        scope.set("LATER", "from an output");
        let c = command_line(&wf, run, &run.provider, &scope).unwrap();
        assert_eq!(
            argv(&c),
            [
                "claude",
                "-p",
                "hello world, cost $5, 4 turns, $UNKNOWN",
                "--model",
                "sonnet",
                "--tag",
                "world",
                "--tag",
                "x",
            ]
        );
    }

    #[test]
    fn outputs_in_scope_expand_at_run_time() {
        let src = "steps:\n  - id: a\n    run: echo x\n    output: PLAN\n  - id: s\n    \
                   depends: [a]\n    action: harness.run\n    with:\n      provider: pi\n      \
                   prompt: 'Do ${PLAN}'\n";
        let wf = load(src);
        let run = harness(&wf, "s");
        let scope = wf.scope.with_outputs([("PLAN", "the plan")]);
        let c = command_line(&wf, run, &run.provider, &scope).unwrap();
        assert_eq!(argv(&c), ["pi", "-p", "Do the plan"]);
    }

    const CUSTOMS: &str = "harnesses:\n  \
        shell:\n    binary: sh\n    prefix_args: [-c]\n    prompt_mode: arg\n  \
        agent:\n    binary: /usr/local/bin/my-agent\n    prompt_mode: flag\n    \
        prompt_flag: --task\n    option_flags:\n      max_turns: --turns\n  \
        after:\n    binary: aider\n    prefix_args: [exec]\n    prompt_position: after_flags\n    \
        flag_style: single_dash\n  \
        piped:\n    binary: reader\n    prefix_args: [--from-stdin]\n    prompt_mode: stdin\n  \
        claude:\n    binary: my-claude\n    prompt_mode: flag\n    prompt_flag: --ask\n";

    fn custom(name: &str, with: &str) -> HarnessCommand {
        let src = format!(
            "{CUSTOMS}steps:\n  - id: s\n    action: harness.run\n    with:\n      \
             provider: {name}\n{with}"
        );
        command(&src, "s")
    }

    #[test]
    fn custom_arg_mode_puts_the_prompt_before_the_flags_by_default() {
        let c = custom("shell", "      prompt: echo hi\n      x: 1\n");
        assert_eq!(c.provider, "shell");
        assert_eq!(argv(&c), ["sh", "-c", "echo hi", "--x", "1"]);
        assert_eq!(c.stdin, None);
    }

    #[test]
    fn custom_flag_mode_with_option_flags() {
        let c = custom(
            "agent",
            "      prompt: Review this patch.\n      max_turns: 3\n      model: big\n      \
             dry_run: true\n",
        );
        assert_eq!(
            argv(&c),
            [
                "/usr/local/bin/my-agent",
                "--task",
                "Review this patch.",
                // Custom keys keep their spelling; `option_flags` renames one.
                "--dry_run",
                "--turns",
                "3",
                "--model",
                "big",
            ]
        );
    }

    #[test]
    fn custom_after_flags_single_dash() {
        let c = custom(
            "after",
            "      prompt: hello\n      model: sonnet\n      yes: true\n      \
             read: [a.md, b.md]\n",
        );
        assert_eq!(
            argv(&c),
            [
                "aider", "exec", "-model", "sonnet", "-read", "a.md", "-read", "b.md", "-yes",
                "hello",
            ]
        );
    }

    #[test]
    fn custom_stdin_mode_sends_the_prompt_on_stdin() {
        let c = custom("piped", "      prompt: summarise\n      lines: 5\n");
        assert_eq!(argv(&c), ["reader", "--from-stdin", "--lines", "5"]);
        assert_eq!(c.stdin.as_deref(), Some("summarise"));

        let c = custom(
            "piped",
            "      prompt: summarise\n      stdin: |\n        the text\n",
        );
        assert_eq!(c.stdin.as_deref(), Some("summarise\n\nthe text\n"));
    }

    #[test]
    fn stdin_is_piped_beside_an_argument_prompt() {
        let c = custom(
            "agent",
            "      prompt: Review.\n      stdin: diff --git a b\n",
        );
        assert_eq!(argv(&c), ["/usr/local/bin/my-agent", "--task", "Review."]);
        assert_eq!(c.stdin.as_deref(), Some("diff --git a b"));
        let c = command(
            &step("      provider: claude\n      prompt: Review.\n      stdin: ${X}\n"),
            "s",
        );
        assert_eq!(c.stdin.as_deref(), Some("${X}"));
        let c = command(
            &step("      provider: claude\n      prompt: Review.\n      stdin: \"\"\n"),
            "s",
        );
        assert_eq!(c.stdin, None);
    }

    #[test]
    fn a_custom_definition_shadows_the_builtin() {
        let c = custom("claude", "      prompt: hi\n      model: m\n");
        assert_eq!(c.provider, "claude");
        assert_eq!(argv(&c), ["my-claude", "--ask", "hi", "--model", "m"]);
    }

    #[test]
    fn snake_case_stays_for_custom_harnesses() {
        let c = custom("shell", "      prompt: p\n      max_turns: 2\n");
        assert_eq!(argv(&c), ["sh", "-c", "p", "--max_turns", "2"]);
    }

    #[test]
    fn defaults_from_the_harness_block_merge_under_the_step() {
        // `effort: null` in the defaults sets nothing (not `--effort null`).
        let src = "harness:\n  provider: claude\n  model: sonnet\n  bare: true\n  \
                   max_turns: 5\n  effort: null\n  fallback: [codex]\n\
                   steps:\n  \
                   - id: inherits\n    action: harness.run\n    with:\n      prompt: a\n  \
                   - id: overrides\n    action: harness.run\n    with:\n      provider: pi\n      \
                   prompt: b\n      model: opus\n      bare: null\n      fallback: []\n";
        let wf = load(src);
        let run = harness(&wf, "inherits");
        assert_eq!(
            providers(run),
            [
                Provider::Builtin(BuiltinProvider::Claude),
                Provider::Builtin(BuiltinProvider::Codex)
            ]
        );
        let c = command_line(&wf, run, &run.provider, &wf.scope).unwrap();
        assert_eq!(
            argv(&c),
            [
                "claude",
                "-p",
                "a",
                "--bare",
                "--max-turns",
                "5",
                "--model",
                "sonnet"
            ]
        );
        let c = command_line(&wf, run, &run.fallback[0], &wf.scope).unwrap();
        assert_eq!(
            argv(&c),
            [
                "codex",
                "exec",
                "a",
                "--bare",
                "--max-turns",
                "5",
                "--model",
                "sonnet",
                "--skip-git-repo-check"
            ]
        );

        let run = harness(&wf, "overrides");
        assert_eq!(providers(run), [Provider::Builtin(BuiltinProvider::Pi)]);
        let c = command_line(&wf, run, &run.provider, &wf.scope).unwrap();
        assert_eq!(
            argv(&c),
            ["pi", "-p", "b", "--max-turns", "5", "--model", "opus"]
        );
    }

    #[test]
    fn providers_lists_the_fallbacks_in_order() {
        let src = format!(
            "{CUSTOMS}steps:\n  - id: s\n    action: harness.run\n    with:\n      \
             provider: codex\n      prompt: p\n      fallback: [shell, pi, claude]\n"
        );
        let wf = load(&src);
        let run = harness(&wf, "s");
        let ps = providers(run);
        assert_eq!(
            ps,
            [
                Provider::Builtin(BuiltinProvider::Codex),
                Provider::Custom("shell".into()),
                Provider::Builtin(BuiltinProvider::Pi),
                Provider::Custom("claude".into()),
            ]
        );
        let binaries: Vec<String> = ps
            .iter()
            .map(|p| command_line(&wf, run, p, &wf.scope).unwrap().binary)
            .collect();
        assert_eq!(binaries, ["codex", "sh", "pi", "my-claude"]);
        assert_eq!(
            ps.iter().map(provider_name).collect::<Vec<_>>(),
            ["codex", "shell", "pi", "claude"]
        );
    }

    #[test]
    fn unknown_providers_fail_with_the_known_names() {
        let src = format!(
            "{CUSTOMS}steps:\n  - id: s\n    action: harness.run\n    with:\n      \
             provider: mystery_agent\n      prompt: p\n"
        );
        let wf = load(&src);
        let run = harness(&wf, "s");
        assert_eq!(run.provider, Provider::Unknown("mystery_agent".into()));
        let e = command_line(&wf, run, &run.provider, &wf.scope).unwrap_err();
        assert_eq!(
            e,
            "unknown harness provider `mystery_agent`: use one of claude, codex, copilot, \
             opencode, pi, after, agent, piped, shell, or define it under top-level \
             `harnesses:` with its `binary:`"
        );
        let e = command_line(&wf, run, &Provider::Custom("gone".into()), &wf.scope).unwrap_err();
        assert_eq!(e, "harness `gone` is not defined under `harnesses:`");
    }

    #[test]
    fn reserved_keys_never_become_flags() {
        let src = step("      provider: claude\n      prompt: p\n");
        let wf = load(&src);
        let mut run = harness(&wf, "s").clone();
        for key in RESERVED {
            run.options
                .insert(key.to_string(), HarnessOption::Flag(true));
        }
        let c = command_line(&wf, &run, &run.provider, &wf.scope).unwrap();
        assert_eq!(argv(&c), ["claude", "-p", "p"]);
    }

    #[test]
    fn fallback_notice_reads_like_dagu() {
        assert_eq!(
            fallback_notice(1, 3, "claude", "codex"),
            "harness: attempt 1/3 with claude failed; trying fallback 2/3 with codex"
        );
    }
}
