//! Step identity and dependencies: duplicate ids, `depends` on missing steps, `type: chain`,
//! cycles (reported as the path of step ids), and an execution order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::super::diagnostic::Diagnostic;
use super::super::model::DagType;
use super::super::span::Span;
use super::super::suggest;
use super::checker::Checker;
use super::step::StepDraft;

/// The most steps a cycle's message names; a longer one shows its start and end.
const CYCLE_SHOWN: usize = 12;

impl Checker<'_> {
    /// Resolves `depends`, fills [`super::super::model::Step::depends`], and returns an order
    /// of the steps, or `None` when there is a cycle.
    pub(crate) fn graph(
        &mut self,
        drafts: &mut [StepDraft],
        dag_type: DagType,
        type_span: Option<Span>,
    ) -> Option<Vec<usize>> {
        // Every id and name must point at one step.
        let mut keys: HashMap<String, (usize, Span)> = HashMap::new();
        for (i, d) in drafts.iter().enumerate() {
            let mut own: Vec<(String, Span, &str)> = Vec::new();
            own.push((
                d.step.id.clone(),
                d.id_span.or(d.name_span).unwrap_or(d.step.span),
                "id",
            ));
            if d.step.name != d.step.id {
                own.push((
                    d.step.name.clone(),
                    d.name_span.unwrap_or(d.step.span),
                    "name",
                ));
            }
            for (key, span, what) in own {
                match keys.get(&key) {
                    Some((j, first)) if *j != i => {
                        let other = &drafts[*j].step;
                        let first_what = if other.id == key { "id" } else { "name" };
                        self.push(
                            Diagnostic::error(
                                format!("duplicate step {what} `{key}`"),
                                format!("steps[{i}].{what}"),
                                span,
                            )
                            .with_note(
                                format!("step {} has the {first_what} `{key}`", j + 1),
                                Some(*first),
                            )
                            .with_help(
                                "ids and names must be unique so that `depends` can name one step",
                            ),
                        );
                    }
                    _ => {
                        keys.insert(key, (i, span));
                    }
                }
            }
        }

        let all: Vec<String> = drafts
            .iter()
            .flat_map(|d| [d.step.id.clone(), d.step.name.clone()])
            .collect();
        // (from, to, span of the depends entry): `from` waits for `to`.
        let mut edge_span: HashMap<(usize, usize), Span> = HashMap::new();
        for (i, draft) in drafts.iter_mut().enumerate() {
            if dag_type == DagType::Chain {
                if let Some(span) = draft.depends_span {
                    let mut d = Diagnostic::error(
                        "depends field is not allowed for DAGs with type 'chain'",
                        format!("steps[{i}].depends"),
                        span,
                    )
                    .with_help("in a chain every step runs after the one before it; use `type: graph` for explicit dependencies");
                    if let Some(ts) = type_span {
                        d = d.with_note("`type: chain` is set here", Some(ts));
                    }
                    self.push(d);
                }
                if i > 0 {
                    draft.step.depends.push(i - 1);
                }
                continue;
            }
            let wanted = std::mem::take(&mut draft.depends);
            for (name, span, field) in wanted {
                match keys.get(&name) {
                    Some((j, _)) => {
                        if !draft.step.depends.contains(j) {
                            draft.step.depends.push(*j);
                            edge_span.insert((i, *j), span);
                        }
                    }
                    None => {
                        let near = suggest::nearest(&name, all.iter().map(String::as_str));
                        self.push(
                            Diagnostic::error(
                                format!(
                                    "step `{}` depends on `{name}`, which does not exist",
                                    draft.step.id
                                ),
                                field,
                                span,
                            )
                            .with_suggestion(near)
                            .with_help("`depends` names steps by `id` or `name`"),
                        );
                    }
                }
            }
        }
        self.cycles(drafts, &edge_span)
    }

    /// Kahn's algorithm in file order; on leftovers, finds and reports each cycle.
    fn cycles(
        &mut self,
        drafts: &[StepDraft],
        edge_span: &HashMap<(usize, usize), Span>,
    ) -> Option<Vec<usize>> {
        let n = drafts.len();
        let mut indegree = vec![0usize; n];
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, d) in drafts.iter().enumerate() {
            for &j in &d.step.depends {
                indegree[i] += 1;
                dependents[j].push(i);
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Reverse(i)) = ready.pop() {
            order.push(i);
            for &k in &dependents[i] {
                indegree[k] -= 1;
                if indegree[k] == 0 {
                    ready.push(Reverse(k));
                }
            }
        }
        if order.len() == n {
            return Some(order);
        }
        // Walk `depends` edges among the leftover steps until one repeats: that is a cycle.
        let mut reported = vec![false; n];
        for start in 0..n {
            if indegree[start] == 0 || reported[start] {
                continue;
            }
            let mut pos_in_path: HashMap<usize, usize> = HashMap::new();
            let mut path = Vec::new();
            let mut cur = start;
            let cycle = loop {
                if let Some(&p) = pos_in_path.get(&cur) {
                    break path[p..].to_vec();
                }
                pos_in_path.insert(cur, path.len());
                path.push(cur);
                match drafts[cur].step.depends.iter().find(|&&j| indegree[j] > 0) {
                    Some(&j) => cur = j,
                    None => break Vec::new(),
                }
            };
            if cycle.is_empty() || cycle.iter().any(|&c| reported[c]) {
                for c in path {
                    reported[c] = true;
                }
                continue;
            }
            for &c in &cycle {
                reported[c] = true;
            }
            // Start at the step named at the caret (`to`), then follow "must finish before".
            let first = cycle[0];
            let to = cycle.get(1).copied().unwrap_or(first);
            let mut order: Vec<usize> = cycle.iter().rev().copied().collect();
            let at = order.iter().position(|&c| c == to).unwrap_or(0);
            order.rotate_left(at);
            let mut ids: Vec<&str> = order.iter().map(|&c| drafts[c].step.id.as_str()).collect();
            ids.push(ids[0]);
            let span = edge_span
                .get(&(first, to))
                .copied()
                .or(drafts[first].depends_span)
                .unwrap_or(drafts[first].step.span);
            let msg = if cycle.len() == 1 {
                format!("step `{}` depends on itself", drafts[first].step.id)
            } else if ids.len() > CYCLE_SHOWN + 1 {
                // A long cycle keeps its start and its closing steps; the middle is counted.
                let tail = CYCLE_SHOWN / 2;
                format!(
                    "dependency cycle of {} steps: {} → … ({} more) … → {}",
                    cycle.len(),
                    ids[..CYCLE_SHOWN - tail].join(" → "),
                    ids.len() - CYCLE_SHOWN,
                    ids[ids.len() - tail..].join(" → ")
                )
            } else {
                format!("dependency cycle: {}", ids.join(" → "))
            };
            self.push(
                Diagnostic::error(msg, format!("steps[{first}].depends"), span)
                    .with_help("each arrow reads \"must finish before\"; remove one of these `depends` entries to break the cycle"),
            );
        }
        None
    }
}
