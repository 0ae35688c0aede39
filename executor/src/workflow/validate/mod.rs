//! Validation: the raw YAML tree of one document → a typed [`super::Workflow`], collecting
//! every diagnostic on the way.

mod actions;
mod checker;
mod container;
mod controls;
mod document;
mod graph;
mod refs;
mod step;

pub(crate) use checker::Checker;
pub(crate) use document::{file_dir, DocOptions};
