//! Late checks of `${VAR}` references, once every step (and so every `output`) is known.
//!
//! A name may be: in the workflow scope (`env`, `params`), the step's own `env`, the `output` of
//! a step this one depends on, or `ITEM` in the params of a parallel `dag.run`. Anything else
//! stays as written at run time; that is worth a warning in most fields (a container's env
//! would get the literal text `${API_KEY}`), but not in command lines, where it is usually meant
//! for the shell. In a volume source it must then come from tug's own environment, or it is an
//! error before any engine call.

use std::collections::HashMap;

use super::super::diagnostic::Diagnostic;
use super::super::expand;
use super::super::model::{Action, ParallelItems, Step};
use super::super::suggest;
use super::checker::{Checker, Deferred, RefKind};

impl Checker<'_> {
    /// Checks every deferred text against the finished list of steps.
    pub(crate) fn check_references(&mut self, steps: &[Step], params: &[String]) {
        let mut outputs: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            if let Some(o) = &s.output {
                outputs.entry(o.as_str()).or_default().push(i);
            }
        }
        let deferred = std::mem::take(&mut self.deferred);
        for d in &deferred {
            for r in expand::references(&d.text.raw) {
                self.check_reference(d, &r, steps, params, &outputs);
            }
        }
    }

    fn check_reference(
        &mut self,
        d: &Deferred,
        r: &expand::Reference,
        steps: &[Step],
        params: &[String],
        outputs: &HashMap<&str, Vec<usize>>,
    ) {
        let span = d.text.span;
        let shown = format!("${{{}}}", r.display());
        if r.name == "params" {
            if let [p] = r.fields.as_slice() {
                if !params.iter().any(|x| x == p) {
                    self.push(
                        Diagnostic::warning(
                            format!("`{shown}` names no declared parameter"),
                            &d.path,
                            span,
                        )
                        .with_suggestion(suggest::nearest(p, params.iter().map(String::as_str)))
                        .with_help("declare it under `params:`"),
                    );
                }
            }
            return;
        }
        if r.name == "ITEM" {
            if !d.item_allowed {
                self.push(
                    Diagnostic::warning(
                        format!("`{shown}` is only set in the `with` of a `parallel` step"),
                        &d.path,
                        span,
                    )
                    .with_help("outside a fan-out it is left as written"),
                );
                return;
            }
            self.check_item_fields(d, r, steps);
            return;
        }
        if self.scope.contains(&r.name) || d.local.iter().any(|n| n == &r.name) {
            return;
        }
        if let Some(producers) = outputs.get(r.name.as_str()) {
            match d.step {
                None => self.push(
                    Diagnostic::warning(
                        format!("`{shown}` is a step output, but this field is read before any step runs"),
                        &d.path,
                        span,
                    )
                    .with_help("DAG-level settings are expanded when the run starts; move the setting to the step that needs it"),
                ),
                Some(i) => {
                    if !producers.iter().any(|&p| p != i && depends_on(steps, i, p)) {
                        let p = producers[0];
                        self.push(
                            Diagnostic::warning(
                                format!(
                                    "`{shown}` is the output of step `{}`, which step `{}` does not depend on",
                                    steps[p].id, steps[i].id
                                ),
                                &d.path,
                                span,
                            )
                            .with_help(format!("add `depends: {}` so that the output is set before this step runs", steps[p].id)),
                        );
                    }
                }
            }
            return;
        }
        match d.kind {
            RefKind::Command => {}
            RefKind::VolumeSource => {
                if r.fields.is_empty() && self.host.var(&r.name).is_some() {
                    return;
                }
                self.push(
                    Diagnostic::error(
                        format!("unresolved environment variable `{}` in volume source `{}`", r.name, d.text.raw),
                        &d.path,
                        span,
                    )
                    .with_help(format!(
                        "set `{}` in tug's environment, or define it under the workflow's `env:`; the volume would otherwise mount the wrong path",
                        r.name
                    )),
                );
            }
            RefKind::Plain => {
                let mut names: Vec<&str> = self.scope.names().collect();
                names.extend(outputs.keys().copied());
                names.extend(d.local.iter().map(String::as_str));
                let near = suggest::nearest(&r.name, names.iter().copied());
                let mut diag = Diagnostic::warning(
                    format!("`{shown}` is not defined in the workflow, so it is left as written"),
                    &d.path,
                    span,
                )
                .with_suggestion(near);
                if near.is_none() {
                    diag = diag.with_help(format!(
                        "tug's own environment is not visible here; to import a value from it, add `- {0}: ${{{0}}}` to the top-level `env:`",
                        r.name
                    ));
                }
                self.push(diag);
            }
        }
    }

    fn check_item_fields(&mut self, d: &Deferred, r: &expand::Reference, steps: &[Step]) {
        let Some(i) = d.step else { return };
        let Some(parallel) = &steps[i].parallel else {
            return;
        };
        let ParallelItems::List(items) = &parallel.items else {
            return;
        };
        let Some(field) = r.fields.first() else {
            return;
        };
        if !matches!(steps[i].action, Action::DagRun(_)) {
            return;
        }
        for (k, item) in items.iter().enumerate() {
            match item {
                serde_json::Value::Object(map) => {
                    if !map.contains_key(field) {
                        let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                        self.push(
                            Diagnostic::error(
                                format!(
                                    "`${{{}}}`: item {} of `parallel.items` has no field `{field}`",
                                    r.display(),
                                    k + 1
                                ),
                                &d.path,
                                d.text.span,
                            )
                            .with_suggestion(suggest::nearest(field, keys.iter().copied()))
                            .with_allowed(
                                keys.iter()
                                    .map(|k| format!("`ITEM.{k}`"))
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            ),
                        );
                        return;
                    }
                }
                _ => {
                    self.push(
                        Diagnostic::error(
                            format!("`${{{}}}` reads a field, but item {} of `parallel.items` is not a mapping", r.display(), k + 1),
                            &d.path,
                            d.text.span,
                        )
                        .with_help("use `${ITEM}` for plain items"),
                    );
                    return;
                }
            }
        }
    }
}

/// True when step `i` waits (directly or not) for step `p`.
fn depends_on(steps: &[Step], i: usize, p: usize) -> bool {
    let mut seen = vec![false; steps.len()];
    let mut stack = vec![i];
    while let Some(s) = stack.pop() {
        for &d in &steps[s].depends {
            if d == p {
                return true;
            }
            if !seen[d] {
                seen[d] = true;
                stack.push(d);
            }
        }
    }
    false
}
