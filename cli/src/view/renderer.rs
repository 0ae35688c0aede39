//! What every renderer of a run implements, and how forwarded child-run names map to the
//! workflow's own steps.

use executor::run::Event;

/// Something that renders a run's events.
pub trait View {
    /// One event from the runner.
    fn event(&mut self, event: &Event);
    /// Ctrl-C (or SIGTERM) arrived: the run stops gracefully, or (`kill`) at once.
    fn interrupted(&mut self, kill: bool, message: &str);
    /// A timer tick (about ten a second): spinners and elapsed times move.
    fn tick(&mut self) {}
    /// The events queued so far have been handed over: draw what they changed.
    fn flush(&mut self) {}
    /// The run is over: flush partial lines, clear the live area.
    fn finish(&mut self) {}
}

/// The index of the step of `steps` that `name` belongs to: the step itself, or for output
/// forwarded from a child run (`fan[2]/child-step`, `sub/child-step`) the step that started it.
pub fn owner(steps: &[String], name: &str) -> Option<usize> {
    if let Some(i) = steps.iter().position(|s| s == name) {
        return Some(i);
    }
    steps
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            name.strip_prefix(s.as_str())
                .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('/'))
        })
        .max_by_key(|(_, s)| s.len())
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_names_belong_to_their_step() {
        let steps = vec!["fan".to_string(), "fan-out".to_string(), "b".to_string()];
        assert_eq!(owner(&steps, "b"), Some(2));
        assert_eq!(owner(&steps, "fan[3]/child"), Some(0));
        assert_eq!(owner(&steps, "fan-out/x"), Some(1));
        assert_eq!(owner(&steps, "fanx"), None);
    }
}
