//! Interrupts: the caller (the CLI's signal handler) asks the run to stop gracefully, then, if
//! asked again, to kill at once. Every waiting point of the run selects on [`Cancel`].

use tokio::sync::watch;

/// How hard the run is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelLevel {
    /// Not stopping.
    None,
    /// Stop: send each step its stop signal, wait the grace period, then kill.
    Graceful,
    /// Kill now.
    Kill,
}

/// The caller's side: raise the level.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    tx: std::sync::Arc<watch::Sender<CancelLevel>>,
}

/// The run's side: observe the level.
#[derive(Debug, Clone)]
pub struct Cancel {
    rx: watch::Receiver<CancelLevel>,
}

/// A new pair.
pub fn cancel_pair() -> (CancelHandle, Cancel) {
    let (tx, rx) = watch::channel(CancelLevel::None);
    (
        CancelHandle {
            tx: std::sync::Arc::new(tx),
        },
        Cancel { rx },
    )
}

impl CancelHandle {
    /// Raises the level to `level` (never lowers it).
    pub fn raise(&self, level: CancelLevel) {
        self.tx.send_if_modified(|cur| {
            if level > *cur {
                *cur = level;
                true
            } else {
                false
            }
        });
    }

    /// The next level up from the current one: the first Ctrl-C stops, the second kills.
    pub fn escalate(&self) -> CancelLevel {
        let next = match *self.tx.borrow() {
            CancelLevel::None => CancelLevel::Graceful,
            _ => CancelLevel::Kill,
        };
        self.raise(next);
        next
    }
}

impl Cancel {
    /// A receiver that never fires.
    pub fn never() -> Cancel {
        let (tx, rx) = watch::channel(CancelLevel::None);
        std::mem::forget(tx);
        Cancel { rx }
    }

    /// The current level.
    pub fn level(&self) -> CancelLevel {
        *self.rx.borrow()
    }

    /// True once a stop was asked.
    pub fn is_cancelled(&self) -> bool {
        self.level() > CancelLevel::None
    }

    /// Resolves when the level reaches at least `level`.
    pub async fn reached(&self, level: CancelLevel) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|l| *l >= level).await;
        if *rx.borrow() < level {
            // The sender is gone: no stop will ever come.
            std::future::pending::<()>().await;
        }
    }

    /// Resolves when any stop is asked.
    pub async fn cancelled(&self) {
        self.reached(CancelLevel::Graceful).await
    }
}
