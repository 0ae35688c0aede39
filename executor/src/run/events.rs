//! What a run reports while it happens. The executor sends [`Event`]s; the CLI renders them.

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

/// Which output stream a piece of step output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The state of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Waiting for its dependencies.
    Pending,
    /// Pulling its image.
    Pulling,
    /// Running.
    Running,
    /// Finished with exit code 0 (or a failure `continue_on` marked as success).
    Succeeded,
    /// Failed.
    Failed,
    /// Not run: a precondition did not hold, or a dependency failed.
    Skipped,
    /// Stopped by an interrupt or a timeout.
    Cancelled,
}

impl StepStatus {
    /// True once the step will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded
                | StepStatus::Failed
                | StepStatus::Skipped
                | StepStatus::Cancelled
        )
    }

    /// The word users see.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Pulling => "pulling",
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Cancelled => "cancelled",
        }
    }
}

/// The outcome of a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going (only ever seen in a record of a live or crashed run).
    Running,
    /// Every step succeeded or was skipped by a precondition.
    Succeeded,
    /// Some step failed, but every failure was allowed by `continue_on`.
    PartiallySucceeded,
    /// A step failed.
    Failed,
    /// Interrupted or timed out.
    Cancelled,
}

impl RunStatus {
    /// The word users see.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::PartiallySucceeded => "partially succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// Something that happened during a run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The run started; its record lives in `dir`.
    RunStarted {
        /// The run id.
        run_id: String,
        /// The workflow's name.
        workflow: String,
        /// The run's record directory.
        dir: String,
    },
    /// A step changed state.
    Step {
        /// The step id.
        step: String,
        /// Its new state.
        status: StepStatus,
        /// The exit code, once known.
        exit_code: Option<i64>,
        /// For failures: what went wrong.
        error: Option<String>,
    },
    /// A piece of a step's output.
    Output {
        /// The step id.
        step: String,
        /// stdout or stderr.
        stream: OutputStream,
        /// The bytes, as the step wrote them.
        #[serde(serialize_with = "lossy")]
        data: Bytes,
    },
    /// Progress of an image pull.
    Pull {
        /// The step pulling (`None` for the DAG-level container).
        step: Option<String>,
        /// The image.
        image: String,
        /// The layer the line is about, when it is about one.
        layer: Option<String>,
        /// The registry's status line (`Downloading`, `Pull complete`, …).
        status: String,
        /// Bytes done and total of the current layer, when known.
        current: Option<u64>,
        /// Total bytes of the current layer.
        total: Option<u64>,
    },
    /// A child run of a `dag.run` or `parallel` step started or ended.
    Child {
        /// The parent step.
        step: String,
        /// The `parallel` item's index, for fan-out.
        index: Option<usize>,
        /// The child's run id.
        run_id: String,
        /// The sub-workflow.
        workflow: String,
        /// `running` when it starts, then its final status.
        status: RunStatus,
        /// The name of the engine it runs on, when engines were named (`tug start --engine`).
        #[serde(skip_serializing_if = "Option::is_none")]
        engine: Option<String>,
    },
    /// Something worth telling (waiting for a container, retrying, stopping).
    Notice {
        /// The step concerned, if any.
        step: Option<String>,
        /// The text.
        message: String,
    },
    /// The run ended.
    RunFinished {
        /// Its status.
        status: RunStatus,
        /// How long it took.
        #[serde(serialize_with = "secs")]
        duration: Duration,
    },
}

fn lossy<S: serde::Serializer>(data: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(data))
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Where events go. Bounded: a consumer that falls behind slows the run down rather than
/// letting memory grow. A closed channel is ignored (nobody is listening).
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: Option<tokio::sync::mpsc::Sender<Event>>,
}

impl EventSink {
    /// Events go to `tx`.
    pub fn new(tx: tokio::sync::mpsc::Sender<Event>) -> EventSink {
        EventSink { tx: Some(tx) }
    }

    /// Events are dropped.
    pub fn none() -> EventSink {
        EventSink { tx: None }
    }

    /// Sends one event.
    pub async fn send(&self, event: Event) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(event).await;
        }
    }

    /// A notice.
    pub async fn notice(&self, step: Option<&str>, message: impl Into<String>) {
        self.send(Event::Notice {
            step: step.map(str::to_string),
            message: message.into(),
        })
        .await;
    }
}
