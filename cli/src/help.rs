//! The examples shown under each command's `--help`.

/// `tug --help`.
pub const TUG: &str = "\
Examples:
  tug validate ci.yaml                 check a workflow: every problem with file:line:column
  tug dry ci.yaml                      the plan and the Engine API requests, no engine needed
  tug start ci.yaml -- IMAGE=alpine:3  run it (alias: tug run)
  tug status                           how the latest run went
  tug logs RUN_ID build --follow       a step's output, as it is written
  tug history                          recent runs, newest first
  tug schema steps.container           the fields a step's `container:` accepts

The engine is chosen from the environment as Dagu and the docker CLI do:
DAGU_CONTAINER_RUNTIME (docker | podman), DAGU_PODMAN_HOST, DOCKER_HOST,
DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION. Run records live in
$TUG_DATA_DIR (default $XDG_DATA_HOME/tug, else ~/.local/share/tug).

Exit codes: 0 success (also partially succeeded), 1 a step failed, 2 invalid workflow
or usage, 3 engine unreachable, 130 interrupted.";

/// `tug start --help`.
pub const START: &str = "\
Examples:
  tug start ci.yaml
  tug start ci.yaml -- IMAGE=busybox:latest TAG=v2
  tug start ci.yaml -p 'IMAGE=busybox:latest TAG=v2' --run-id nightly-42
  tug run ci.yaml --quiet                    (only states and the summary)
  tug start ci.yaml --json | jq -c 'select(.event == \"step\")'
  DAGU_CONTAINER_RUNTIME=podman tug start ci.yaml
  tug start fan.yaml --engine d=unix:///var/run/docker.sock --engine p=podman
                                             (parallel children over both engines)

On a terminal the steps are shown live (pending, pulling, running, done, failed) with
their output above, prefixed by the step's name; elsewhere each line carries a
timestamp. NO_COLOR=1 or --color never turns colour off. Ctrl-C stops the run
gracefully and removes its containers; a second Ctrl-C kills at once.";

/// `tug dry --help`.
pub const DRY: &str = "\
Examples:
  tug dry ci.yaml
  tug dry ci.yaml -- IMAGE=busybox:latest
  tug dry ci.yaml --no-bodies          (only the requests, without their JSON bodies)

Bodies show what tug knows before the run: values that only a run produces (step
outputs, the id of a container) stay as written, e.g. ${VERSION} or {id}.";

/// `tug validate --help`.
pub const VALIDATE: &str = "\
Examples:
  tug validate ci.yaml
  tug validate dags/*.yaml

Every problem of every file is printed with its file:line:column, the line and a caret
under the fault, and a suggestion for near-miss names. Exit code 2 if any file is invalid.";

/// `tug status --help`.
pub const STATUS: &str = "\
Examples:
  tug status                             the latest run
  tug status 20261124-155908-63fa44      one run (a unique prefix of its id is enough)
  tug status ci.yaml                     the latest run of that workflow
  tug status --json | jq .status";

/// `tug logs --help`.
pub const LOGS: &str = "\
Examples:
  tug logs 20261124-155908-63fa44              every step, each line prefixed by the step
  tug logs 20261124-155908-63fa44 build        one step, as it wrote it (stderr to stderr)
  tug logs 20261124-155908-63fa44 -f           follow while the run is live
  tug logs latest build                        the latest run

Logs are the files <run dir>/<step>.out and <step>.err (see `tug status` for the run dir).";

/// `tug history --help`.
pub const HISTORY: &str = "\
Examples:
  tug history
  tug history ci.yaml                    runs of one workflow (a file or a workflow name)
  tug history -n 100 --json | jq -r '.[] | select(.status == \"failed\") | .run_id'";

/// `tug gc --help`.
pub const GC: &str = "\
Examples:
  tug gc --dry-run
  DAGU_CONTAINER_RUNTIME=podman tug gc
  tug gc --engine d=docker --engine p=podman --engine far=ssh://ci@build-1

Containers of live runs, and containers kept on purpose (keep_container: true), are left
alone, as are containers that tug on another machine or in another PID namespace created
(labels tug.machine, tug.host): only there can gc tell whether their run is live. Records of runs whose tug process died are marked failed.
An engine that does not answer is reported and the others are still swept (exit 3); a
container the engine refuses to remove is reported and counted apart (exit 1).";

/// `tug engine info --help`.
pub const ENGINE_INFO: &str = "\
Examples:
  tug engine info
  DAGU_CONTAINER_RUNTIME=podman tug engine info --json
  DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_TLS_VERIFY=1 tug engine info
  DOCKER_HOST=ssh://me@build-host tug engine info
  DOCKER_CONTEXT=remote tug engine info --json    which context, and why";

/// `tug schema --help`.
pub const SCHEMA: &str = "\
Examples:
  tug schema                            the top-level fields of a workflow
  tug schema steps                      the fields of a step
  tug schema steps.container            a step's container (also: tug schema container)
  tug schema container.healthcheck
  tug schema steps.with.docker.run      the `with:` of `action: docker.run`
  tug schema --json > tug.schema.json   a JSON Schema for editors";

/// `tug completions --help`.
pub const COMPLETIONS: &str = "\
Examples:
  tug completions bash > /etc/bash_completion.d/tug
  tug completions zsh > \"${fpath[1]}/_tug\"
  tug completions fish > ~/.config/fish/completions/tug.fish";
