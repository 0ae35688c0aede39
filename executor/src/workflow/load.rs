//! Entry points: a file or a string in, a [`Workflow`] (with its warnings) or every
//! [`Diagnostic`] out.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::host::{Host, ProcessHost};
use super::model::Workflow;
use super::validate::{file_dir, Checker, DocOptions};
use super::yaml;

/// Largest workflow file accepted (the fuzzer and real users alike).
pub const MAX_FILE_SIZE: usize = 16 * 1024 * 1024;

/// What loading may use beyond the file itself.
pub struct LoadOptions<'a> {
    /// Process environment (volume sources, `env` imports) and file lookups (`dag.run` files).
    pub host: &'a dyn Host,
    /// Parameters from the command line, `NAME=VALUE` split at the first `=`.
    pub params: Vec<(String, String)>,
    /// Directory that relative paths start from when the workflow has no file (load_str with
    /// no path) — by default the current directory.
    pub base_dir: Option<PathBuf>,
}

impl std::fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("params", &self.params)
            .field("base_dir", &self.base_dir)
            .finish_non_exhaustive()
    }
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            host: &ProcessHost,
            params: Vec::new(),
            base_dir: None,
        }
    }
}

/// A workflow that validated, with the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The workflow.
    pub workflow: Workflow,
    /// Warnings (no errors); render them with [`Diagnostics::render`].
    pub warnings: Diagnostics,
}

/// Why a file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("failed to read workflow file `{}`", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid workflow.
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl LoadError {
    /// The diagnostics, when the file was read but is invalid.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            LoadError::Invalid(d) => Some(d),
            LoadError::Read { .. } => None,
        }
    }

    /// True when the file could not be read at all.
    pub fn is_io(&self) -> bool {
        matches!(self, LoadError::Read { .. })
    }
}

/// Reads, parses and validates the workflow at `path`.
///
/// At most one byte over [`MAX_FILE_SIZE`] is read, so a huge or endless file (`/dev/zero`, a
/// pipe) is refused with bounded memory.
pub fn load_file(path: &Path, options: &LoadOptions<'_>) -> Result<Loaded, LoadError> {
    let name = path.display().to_string();
    let read_error = |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    // A regular file's size, for the message; a device or a pipe has none.
    let size = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() > MAX_FILE_SIZE {
        let size = match size {
            Some(n) if n > MAX_FILE_SIZE as u64 => n.to_string(),
            _ => format!("more than {MAX_FILE_SIZE}"),
        };
        return Err(LoadError::Invalid(too_large(&name, size)));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e.utf8_error(),
        ))
    })?;
    load_source(&text, &name, Some(path), options).map_err(LoadError::Invalid)
}

/// The diagnostic for a file over [`MAX_FILE_SIZE`]; `size` says how big it is.
fn too_large(name: &str, size: String) -> Diagnostics {
    let mut diags = Diagnostics::new(name, Arc::from(""));
    diags.push(Diagnostic::general(
        super::diagnostic::Severity::Error,
        format!("the file is {size} bytes; workflow files may be at most {MAX_FILE_SIZE}"),
    ));
    diags
}

/// Parses and validates a workflow held in memory; `name` is used in `file:line:col`.
pub fn load_str(
    source: &str,
    name: &str,
    options: &LoadOptions<'_>,
) -> Result<Loaded, Diagnostics> {
    load_source(source, name, None, options)
}

fn load_source(
    text: &str,
    name: &str,
    path: Option<&Path>,
    options: &LoadOptions<'_>,
) -> Result<Loaded, Diagnostics> {
    if text.len() > MAX_FILE_SIZE {
        return Err(too_large(name, text.len().to_string()));
    }
    let source: Arc<str> = Arc::from(text);
    let mut diags = Diagnostics::new(name, source.clone());
    let docs = match yaml::parse_documents(text) {
        Ok(d) => d,
        Err(e) => {
            let mut d = Diagnostic::error(e.message, "", e.span);
            if let Some(h) = e.help {
                d = d.with_help(h);
            }
            if let Some(p) = e.previous {
                d = d.with_note("first given here", Some(p));
            }
            diags.push(d);
            return Err(diags);
        }
    };
    let cwd = options
        .base_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = file_dir(path, &cwd);
    let stem = path
        .and_then(|p| p.file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or_else(|| {
            name.rsplit('/')
                .next()
                .unwrap_or(name)
                .split('.')
                .next()
                .unwrap_or(name)
        })
        .to_string();
    // Empty documents after the first (a trailing `---`) are ignored.
    let later: Vec<&yaml::Node> = docs.iter().skip(1).filter(|d| !d.is_null()).collect();
    let local: Vec<String> = later
        .iter()
        .filter_map(|d| d.get("name").and_then(|n| n.as_text()).map(str::to_string))
        .collect();

    let root = {
        let mut c = Checker::new(options.host, dir.clone());
        c.local_workflows = local.clone();
        let opts = DocOptions {
            file_stem: &stem,
            params: &options.params,
            is_sub: false,
        };
        let wf = c.document(&docs[0], &opts, name, &source);
        diags.extend(c.diags);
        wf
    };
    let mut subs: BTreeMap<String, Arc<Workflow>> = BTreeMap::new();
    let mut first_span: BTreeMap<String, super::span::Span> = BTreeMap::new();
    for doc in later {
        let mut c = Checker::new(options.host, dir.clone());
        c.local_workflows = local.clone();
        let opts = DocOptions {
            file_stem: &stem,
            params: &[],
            is_sub: true,
        };
        let wf = c.document(doc, &opts, name, &source);
        diags.extend(c.diags);
        let Some(wf) = wf else { continue };
        let Some(name_node) = doc.get("name") else {
            continue;
        };
        if let Some(first) = first_span.get(&wf.name) {
            diags.push(
                Diagnostic::error(
                    format!("two sub-workflows are named `{}`", wf.name),
                    "name",
                    name_node.span,
                )
                .with_note("the first is here", Some(*first))
                .with_help("`dag.run` finds sub-workflows by name, so names must be unique"),
            );
            continue;
        }
        first_span.insert(wf.name.clone(), name_node.span);
        subs.insert(wf.name.clone(), Arc::new(wf));
    }
    diags.sort();
    if diags.has_errors() {
        return Err(diags);
    }
    let Some(mut workflow) = root else {
        return Err(diags);
    };
    // Sub-workflows may call each other; the runner looks them all up in the root's table.
    workflow.sub_workflows = subs;
    Ok(Loaded {
        workflow,
        warnings: diags,
    })
}
