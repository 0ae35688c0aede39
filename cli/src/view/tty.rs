//! The terminal's line discipline during the live view.
//!
//! On Ctrl-C the kernel echoes `^C` and, unless `NOFLSH` is set, throws away output still
//! queued for the terminal — half of a redraw, after which the live area on screen no longer
//! matches what the renderer believes and its next redraw leaves a stale copy behind. Keys
//! typed during the run would be echoed into the live area too. So while the live view is
//! shown, echo is off and `NOFLSH` on; [`Quiet`] restores the settings when dropped (a shell
//! restores them anyway if tug is killed).

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};

/// The terminal's settings before the live view, restored on drop.
pub struct Quiet {
    saved: Option<Termios>,
}

impl std::fmt::Debug for Quiet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quiet")
            .field("active", &self.saved.is_some())
            .finish()
    }
}

impl Quiet {
    /// Turns echo off and `NOFLSH` on for the terminal on stderr (does nothing when stderr is
    /// not a terminal).
    pub fn new() -> Quiet {
        let stderr = std::io::stderr();
        let Ok(saved) = tcgetattr(&stderr) else {
            return Quiet { saved: None };
        };
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ECHOCTL);
        quiet.local_flags.insert(LocalFlags::NOFLSH);
        match tcsetattr(&stderr, SetArg::TCSANOW, &quiet) {
            Ok(()) => Quiet { saved: Some(saved) },
            Err(_) => Quiet { saved: None },
        }
    }

    /// Leaves the terminal alone.
    #[cfg(test)]
    pub fn none() -> Quiet {
        Quiet { saved: None }
    }

    /// Puts the settings back now.
    pub fn restore(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = tcsetattr(std::io::stderr(), SetArg::TCSADRAIN, &saved);
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        self.restore();
    }
}
