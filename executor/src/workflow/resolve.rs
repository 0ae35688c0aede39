//! Run-time resolution: expand a container's fields with the scope of the moment (outputs and
//! `ITEM` included) and parse them with the same parsers validation used. Errors come back as
//! [`Diagnostic`]s pointing at the field in the file; render them with
//! [`Workflow::diagnostics`](super::Workflow::diagnostics).

use std::path::Path;

use super::diagnostic::Diagnostic;
use super::expand::{self, Escapes, Scope};
use super::host::Host;
use super::model::{CommandSpec, DockerRun, EnvVar, ImageContainer, ResolvedImage, Shell, Text};
use super::network::{self, Network};
use super::platform::{self, Platform};
use super::port::{self, PortBinding};
use super::shell_words;
use super::volume::{self, Mount};

/// Expands `env` in order: each value sees the entries before it.
pub fn expand_env(env: &[EnvVar], scope: &Scope) -> Vec<(String, String)> {
    let mut local = scope.clone();
    let mut out = Vec::with_capacity(env.len());
    for e in env {
        let v = e.value.expand(&local, Escapes::Literal);
        local.set(&e.name, v.clone());
        out.push((e.name.clone(), v));
    }
    out
}

/// Merges `over` into `base` by key, `over` winning; order of first appearance is kept.
pub fn merge_env(base: &[(String, String)], over: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = base.to_vec();
    for (k, v) in over {
        match out.iter_mut().find(|(bk, _)| bk == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

/// One volume: source expanded from the scope, then the process environment.
pub fn resolve_volume(
    text: &Text,
    scope: &Scope,
    host: &dyn Host,
    working_dir: &Path,
) -> Result<Mount, Diagnostic> {
    let parts = volume::split(&text.raw).map_err(|e| Diagnostic::error(e, "volumes", text.span))?;
    let env = |n: &str| host.var(n);
    let e = expand::expand(parts.source, scope, Some(&env), Escapes::Literal);
    if let Some(r) = e.unresolved.first() {
        return Err(Diagnostic::error(
            format!(
                "unresolved environment variable `{}` in volume source `{}`",
                r.name, parts.source
            ),
            "volumes",
            text.span,
        ));
    }
    let source = volume::resolve_source(&e.text, working_dir, host.var("HOME").as_deref())
        .map_err(|m| Diagnostic::error(m, "volumes", text.span))?;
    Ok(Mount {
        source,
        target: parts.target.to_string(),
        read_only: parts.read_only,
    })
}

/// One port spec.
pub fn resolve_port(text: &Text, scope: &Scope) -> Result<PortBinding, Diagnostic> {
    let v = text.expand(scope, Escapes::Literal);
    port::parse(&v)
        .map_err(|e| Diagnostic::error(e, "ports", text.span).with_allowed(port::PORT_FORMS))
}

/// A platform.
pub fn resolve_platform(text: &Text, scope: &Scope) -> Result<Platform, Diagnostic> {
    let v = text.expand(scope, Escapes::Literal);
    platform::parse(&v)
        .map_err(|(e, near)| Diagnostic::error(e, "platform", text.span).with_suggestion(near))
}

/// A network.
pub fn resolve_network(text: &Text, scope: &Scope) -> Result<Network, Diagnostic> {
    let v = text.expand(scope, Escapes::Literal);
    network::parse(&v).map_err(|e| Diagnostic::error(e, "network", text.span))
}

impl CommandSpec {
    /// The command as argv: a line is split shell-words style after expansion.
    pub fn argv(&self, scope: &Scope, escapes: Escapes) -> Result<Vec<String>, Diagnostic> {
        match self {
            CommandSpec::Argv(a) => Ok(a.iter().map(|t| t.expand(scope, escapes)).collect()),
            CommandSpec::Line(t) => split_line(t, scope, escapes),
        }
    }
}

/// Expands a single-line command and splits it into words.
pub fn split_line(t: &Text, scope: &Scope, escapes: Escapes) -> Result<Vec<String>, Diagnostic> {
    let v = t.expand(scope, escapes);
    shell_words::split(&v).map_err(|e| {
        Diagnostic::error(
            format!("cannot split the command into words: {}", e.describe()),
            "run",
            t.span,
        )
    })
}

/// argv for one command line: through `shell` (as one string, `\$` left for the shell), or
/// split shell-words style. Without a shell, a command line with redirections, pipes, lists,
/// substitutions or globs outside quotes (`echo x > shared.txt`, the seeds' own example) runs
/// through `sh -c`; other lines are split and run directly, so an image without a shell still
/// works. The runner and `tug dry` both build commands here.
pub fn command_argv(
    text: &Text,
    scope: &Scope,
    shell: Option<&Shell>,
) -> Result<Vec<String>, Diagnostic> {
    match shell {
        Some(sh) => {
            let mut v = sh.argv(scope);
            v.push(text.expand(scope, Escapes::Shell));
            Ok(v)
        }
        None if needs_shell(&text.raw) => Ok(vec![
            "sh".into(),
            "-c".into(),
            text.expand(scope, Escapes::Shell),
        ]),
        None => split_line(text, scope, Escapes::Literal),
    }
}

impl DockerRun {
    /// The `Cmd` of `action: docker.run`: `command:` as a list (expanded word by word), as one
    /// line (through `shell:` when given, else split — no automatic `sh -c`), or else the step's
    /// first `run` line as [`command_argv`] builds it; `None` when there is none. The runner and
    /// `tug dry` both build it here.
    pub fn argv(
        &self,
        run_line: Option<&Text>,
        scope: &Scope,
    ) -> Result<Option<Vec<String>>, Diagnostic> {
        let escapes = if self.shell.is_some() {
            Escapes::Shell
        } else {
            Escapes::Literal
        };
        Ok(match &self.command {
            Some(CommandSpec::Argv(v)) => {
                Some(v.iter().map(|t| t.expand(scope, escapes)).collect())
            }
            Some(c @ CommandSpec::Line(t)) => Some(match &self.shell {
                Some(_) => command_argv(t, scope, self.shell.as_ref())?,
                None => c.argv(scope, escapes)?,
            }),
            None => match run_line {
                Some(t) => Some(command_argv(t, scope, self.shell.as_ref())?),
                None => None,
            },
        })
    }
}

/// Whether a command line needs a shell: shell syntax outside quotes.
pub(crate) fn needs_shell(line: &str) -> bool {
    let (mut single, mut double, mut escaped) = (false, false, false);
    let mut prev = ' ';
    for c in line.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && !single {
            escaped = true;
        } else if c == '\'' && !double {
            single = !single;
        } else if c == '"' && !single {
            double = !double;
        } else if !single {
            let dollar_paren = prev == '$' && c == '(';
            if dollar_paren || c == '`' {
                return true;
            }
            if !double && matches!(c, '|' | '&' | ';' | '<' | '>' | '(' | ')' | '*' | '?') {
                return true;
            }
        }
        prev = c;
    }
    false
}

impl Shell {
    /// The shell's argv with `-c` appended when missing, ready for the command string.
    pub fn argv(&self, scope: &Scope) -> Vec<String> {
        let mut argv: Vec<String> = self
            .argv
            .iter()
            .map(|t| t.expand(scope, Escapes::Literal))
            .collect();
        if argv.last().map(String::as_str) != Some("-c") {
            argv.push("-c".into());
        }
        argv
    }
}

impl ImageContainer {
    /// Every field expanded and parsed. `step_env` is merged under the container's `env`
    /// (the container wins on clashes). Collects all errors.
    pub fn resolve(
        &self,
        scope: &Scope,
        host: &dyn Host,
        working_dir: &Path,
        step_env: &[(String, String)],
    ) -> Result<ResolvedImage, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let image = self.image.expand(scope, Escapes::Literal);
        if let Err(e) = super::image_ref::check(&image) {
            errors.push(Diagnostic::error(e, "image", self.image.span));
        }
        let opt = |t: &Option<Text>| t.as_ref().map(|t| t.expand(scope, Escapes::Literal));
        let platform = match &self.platform {
            Some(t) => resolve_platform(t, scope).map_err(|e| errors.push(e)).ok(),
            None => None,
        };
        let network = match &self.network {
            Some(t) => resolve_network(t, scope).map_err(|e| errors.push(e)).ok(),
            None => None,
        };
        let mut mounts = Vec::new();
        for v in &self.volumes {
            match resolve_volume(v, scope, host, working_dir) {
                Ok(m) => mounts.push(m),
                Err(e) => errors.push(e),
            }
        }
        let mut ports = Vec::new();
        for p in &self.ports {
            match resolve_port(p, scope) {
                Ok(b) => ports.push(b),
                Err(e) => errors.push(e),
            }
        }
        let escapes = if self.shell.is_some() {
            Escapes::Shell
        } else {
            Escapes::Literal
        };
        let command = match &self.command {
            Some(c) => c.argv(scope, escapes).map_err(|e| errors.push(e)).ok(),
            None => None,
        };
        let env = merge_env(step_env, &expand_env(&self.env, scope));
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ResolvedImage {
            image,
            name: opt(&self.name),
            working_dir: opt(&self.working_dir),
            user: opt(&self.user),
            platform,
            env,
            mounts,
            ports,
            network,
            command,
            shell: self.shell.as_ref().map(|s| s.argv(scope)),
        })
    }
}

impl super::model::Workflow {
    /// The workflow's scope evaluated again with other parameter values: what a `dag.run`
    /// child (whose params its parent sets) or a re-run with new command-line parameters sees.
    /// Params first (overrides win over defaults), then `env` in order with the process
    /// environment as fallback, then params again so that they win over `env`.
    pub fn scope_with_params(&self, overrides: &[(String, String)], host: &dyn Host) -> Scope {
        let os = |n: &str| host.var(n);
        let mut scope = Scope::new();
        let mut params = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let value = match overrides.iter().find(|(k, _)| k == &p.name) {
                Some((_, v)) => v.clone(),
                None => match &p.default {
                    Some(d) => expand::expand(&d.raw, &scope, Some(&os), Escapes::Literal).text,
                    None => String::new(),
                },
            };
            params.push((p.name.clone(), value));
        }
        for (k, v) in overrides {
            if !params.iter().any(|(n, _)| n == k) {
                params.push((k.clone(), v.clone()));
            }
        }
        for (k, v) in &params {
            scope.set_param(k, v);
        }
        for e in &self.env {
            let v = expand::expand(&e.value.raw, &scope, Some(&os), Escapes::Literal).text;
            scope.set(&e.name, v);
        }
        for (k, v) in &params {
            scope.set_param(k, v);
        }
        scope
    }
}

#[cfg(test)]
mod needs_shell_tests {
    use super::needs_shell;

    #[test]
    fn operators_outside_quotes_need_a_shell() {
        assert!(needs_shell("echo \"from command step\" > shared.txt"));
        assert!(needs_shell("cat a | wc -l"));
        assert!(needs_shell("make && make test"));
        assert!(needs_shell("echo $(date)"));
        assert!(needs_shell("ls *.txt"));
        assert!(!needs_shell("echo 'a > b'"));
        assert!(!needs_shell("echo \"a | b\""));
        assert!(!needs_shell("psql -c \"SELECT 1\""));
        assert!(!needs_shell("echo a\\>b"));
        assert!(!needs_shell("go build -o /app/bin/myapp"));
        assert!(needs_shell("echo \"$(id -u)\""));
    }
}
