//! Several engines in one run: the engines `parallel` children are spread over.
//!
//! `tug start --engine NAME=ADDRESS …` names engines; the run's own steps use the first, and
//! each child run of a `parallel` step gets one from the [`EnginePool`] when it starts:
//!
//! * [`Spread::LeastBusy`] (the default): the engine running the fewest children of this run
//!   (nested fan-outs included) at that moment, ties going to the engine named first;
//! * [`Spread::RoundRobin`]: the engines in turn, in the order they were named, whatever
//!   they are doing (8 items over 2 engines are 4 and 4).
//!
//! A child keeps its engine to the end (its containers, pulls and teardown happen there); a
//! `dag.run` child without `parallel` runs on its parent's engine. Nothing here connects: an
//! engine that cannot be reached fails the children given to it, as a single engine would, and
//! once one of its children has failed that way it gets no more children while another engine
//! is left (otherwise least-busy would hand nearly every item to the dead engine, whose
//! children end at once). A child that failed that way before anything of it ran — its engine
//! never answered, no step started — runs again on another engine that still answers; a child
//! that lost its engine midway is not re-run (its steps may have had effects).

use std::sync::{Arc, Mutex};

use engine_api::Endpoint;

/// An engine with the name it was given (`--engine NAME=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedEngine {
    /// The name, as the records and the views show it.
    pub name: String,
    /// Where it listens.
    pub endpoint: Endpoint,
}

/// How `parallel` children are spread over the engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Spread {
    /// The engine with the fewest running children, ties by order.
    #[default]
    LeastBusy,
    /// Each engine in turn.
    RoundRobin,
}

impl Spread {
    /// `least-busy` or `round-robin`, as the command line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Spread::LeastBusy => "least-busy",
            Spread::RoundRobin => "round-robin",
        }
    }
}

/// The engines of a run and how busy each is; shared by the run and all its child runs.
#[derive(Debug)]
pub struct EnginePool {
    engines: Vec<NamedEngine>,
    spread: Spread,
    state: Mutex<PoolState>,
}

#[derive(Debug)]
struct PoolState {
    /// Children running on each engine.
    active: Vec<usize>,
    /// The next engine for round-robin.
    next: usize,
    /// Engines a child found unreachable.
    down: Vec<bool>,
}

impl EnginePool {
    /// A pool of `engines` (in the order they were named; at least one) spread by `spread`.
    ///
    /// # Panics
    ///
    /// When `engines` is empty: the caller checks that at least one was named.
    pub fn new(engines: Vec<NamedEngine>, spread: Spread) -> EnginePool {
        assert!(!engines.is_empty(), "an engine pool needs an engine");
        EnginePool {
            state: Mutex::new(PoolState {
                active: vec![0; engines.len()],
                next: 0,
                down: vec![false; engines.len()],
            }),
            engines,
            spread,
        }
    }

    /// The engines, in the order they were named.
    pub fn engines(&self) -> &[NamedEngine] {
        &self.engines
    }

    /// How children are spread.
    pub fn spread(&self) -> Spread {
        self.spread
    }

    /// Picks the engine for a child that is about to start; the engine counts the child as
    /// running until the lease is dropped.
    pub(crate) fn acquire(self: &Arc<Self>) -> Lease {
        let mut state = self.state.lock().unwrap();
        let n = self.engines.len();
        // Engines found unreachable are passed over while any other is left.
        let all_down = state.down.iter().all(|d| *d);
        let usable = |state: &PoolState, i: usize| all_down || !state.down[i];
        let index = match self.spread {
            Spread::RoundRobin => {
                let start = state.next % n;
                let i = (0..n)
                    .map(|k| (start + k) % n)
                    .find(|&i| usable(&state, i))
                    .unwrap_or(start);
                state.next = i + 1;
                i
            }
            Spread::LeastBusy => {
                // `min_by_key` keeps the first of equal keys: ties go to the engine named first.
                let (i, _) = state
                    .active
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| usable(&state, *i))
                    .min_by_key(|(_, n)| **n)
                    .expect("the pool has a usable engine");
                i
            }
        };
        state.active[index] += 1;
        Lease {
            pool: self.clone(),
            index,
        }
    }
}

/// One child's hold on its engine.
#[derive(Debug)]
pub(crate) struct Lease {
    pool: Arc<EnginePool>,
    index: usize,
}

impl Lease {
    /// The engine.
    pub(crate) fn engine(&self) -> &NamedEngine {
        &self.pool.engines[self.index]
    }

    /// True once a child found this engine unreachable.
    pub(crate) fn is_down(&self) -> bool {
        self.pool.state.lock().unwrap().down[self.index]
    }

    /// Records that a child found this engine unreachable; true the first time.
    pub(crate) fn mark_unreachable(&self) -> bool {
        let mut state = self.pool.state.lock().unwrap();
        !std::mem::replace(&mut state.down[self.index], true)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = self.pool.state.lock().unwrap();
        state.active[self.index] -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(names: &[&str], spread: Spread) -> Arc<EnginePool> {
        let engines = names
            .iter()
            .map(|n| NamedEngine {
                name: n.to_string(),
                endpoint: Endpoint::unix(format!("/run/{n}.sock")),
            })
            .collect();
        Arc::new(EnginePool::new(engines, spread))
    }

    fn names(leases: &[Lease]) -> Vec<&str> {
        leases.iter().map(|l| l.engine().name.as_str()).collect()
    }

    #[test]
    fn round_robin_takes_turns_whatever_is_running() {
        let p = pool(&["d", "p"], Spread::RoundRobin);
        let mut held: Vec<Lease> = (0..3).map(|_| p.acquire()).collect();
        assert_eq!(names(&held), ["d", "p", "d"]);
        // Releasing `d`'s children does not change the turn.
        held.remove(0);
        held.remove(1);
        held.push(p.acquire());
        assert_eq!(names(&held), ["p", "p"]);
        let eight: Vec<Lease> = (0..8).map(|_| p.acquire()).collect();
        let on_d = names(&eight).iter().filter(|n| **n == "d").count();
        assert_eq!(on_d, 4);
    }

    #[test]
    fn least_busy_fills_the_idlest_engine_first_ties_by_order() {
        let p = pool(&["a", "b", "c"], Spread::LeastBusy);
        let mut held: Vec<Lease> = (0..4).map(|_| p.acquire()).collect();
        assert_eq!(names(&held), ["a", "b", "c", "a"]);
        // `b` finishes: the next child goes there, not to the next in order.
        held.remove(1);
        held.push(p.acquire());
        assert_eq!(names(&held), ["a", "c", "a", "b"]);
        // Everything finishes: the counts are back to zero and `a` wins the tie.
        held.clear();
        assert_eq!(p.state.lock().unwrap().active, [0, 0, 0]);
        assert_eq!(p.acquire().engine().name, "a");
    }

    #[test]
    fn an_unreachable_engine_gets_no_more_children_while_another_is_left() {
        for spread in [Spread::LeastBusy, Spread::RoundRobin] {
            let p = pool(&["a", "b", "c"], spread);
            let first = p.acquire();
            assert_eq!(first.engine().name, "a");
            assert!(first.mark_unreachable(), "the first report counts");
            assert!(!first.mark_unreachable(), "a second one does not");
            drop(first);
            // `a` is idle again, but it does not answer: it is passed over.
            let held: Vec<Lease> = (0..4).map(|_| p.acquire()).collect();
            assert!(
                !names(&held).contains(&"a"),
                "{spread:?}: {:?}",
                names(&held)
            );
            // When every engine is down, children still go somewhere (and fail there).
            for l in &held {
                l.mark_unreachable();
            }
            let last = p.acquire();
            assert!(["a", "b", "c"].contains(&last.engine().name.as_str()));
        }
    }

    #[test]
    fn one_engine_takes_every_child() {
        for spread in [Spread::LeastBusy, Spread::RoundRobin] {
            let p = pool(&["only"], spread);
            let held: Vec<Lease> = (0..3).map(|_| p.acquire()).collect();
            assert_eq!(names(&held), ["only"; 3]);
        }
    }
}
