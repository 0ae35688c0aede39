//! What validation may learn about the machine: environment variables and whether a file
//! exists. Behind a trait so tests (and the fuzzer) can hand in a fixed environment.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The process environment and file system as validation sees them.
pub trait Host {
    /// An environment variable of the tug process.
    fn var(&self, name: &str) -> Option<String>;
    /// True when `path` is an existing file (for `dag.run` targets in other files).
    fn is_file(&self, path: &Path) -> bool;
}

/// The real process environment and file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessHost;

impl Host for ProcessHost {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// A fixed environment and no files.
impl Host for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn is_file(&self, _: &Path) -> bool {
        false
    }
}

/// A fixed environment and no files.
impl Host for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn is_file(&self, _: &Path) -> bool {
        false
    }
}

/// Any closure `name -> value` as an environment, with no files.
#[derive(Clone, Copy, Debug)]
pub struct EnvFn<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Host for EnvFn<F> {
    fn var(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    fn is_file(&self, _: &Path) -> bool {
        false
    }
}
