//! The `filters` query parameter shared by list and event endpoints.

use std::collections::BTreeMap;

/// Filters for list and event endpoints: each name maps to the values it accepts
/// (`label=tug.run=abc`, `status=running`, …). Encoded as the engine expects, a JSON map of
/// name → list of values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// No filters.
    pub fn new() -> Filters {
        Filters::default()
    }

    /// Adds one value for `name` (builder style); repeated names accumulate.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Filters {
        self.add(name, value);
        self
    }

    /// Adds one value for `name`.
    pub fn add(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Filters {
        self.0.entry(name.into()).or_default().push(value.into());
        self
    }

    /// Shorthand for a `label` filter: `key` alone matches any value, `key=value` one value.
    pub fn label(self, label: impl Into<String>) -> Filters {
        self.with("label", label)
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The JSON encoding sent to the engine.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_a_json_map_of_lists() {
        let f = Filters::new()
            .label("tug.run=abc")
            .label("tug.step")
            .with("status", "running");
        assert_eq!(
            f.to_json(),
            r#"{"label":["tug.run=abc","tug.step"],"status":["running"]}"#
        );
    }
}
