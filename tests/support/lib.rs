//! Shared helpers for the integration tests (engine selection, test images, cleanup).
