//! `tug`: run Dagu-style YAML workflows in Docker or Podman containers.

fn main() {}
