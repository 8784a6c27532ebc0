//! Paths of the files the loop keeps under `.tf/ralph/`.

use std::path::{Path, PathBuf};

/// A project's directories: its root, `.tf/ralph/` and the tickets.
#[derive(Clone, Debug)]
pub struct Project {
    pub root: PathBuf,
    pub ralph: PathBuf,
    pub tickets: PathBuf,
}

impl Project {
    pub fn new(root: &Path, ralph: PathBuf, tickets: PathBuf) -> Project {
        Project {
            root: root.to_owned(),
            ralph,
            tickets,
        }
    }

    pub fn config(&self) -> PathBuf {
        self.ralph.join("config.json")
    }

    pub fn lock(&self) -> PathBuf {
        self.ralph.join(runlock::LOCK_FILE_NAME)
    }

    pub fn state(&self) -> PathBuf {
        self.ralph.join("dispatch-loop-state.json")
    }

    pub fn progress(&self) -> PathBuf {
        self.ralph.join("progress.md")
    }

    pub fn logs(&self) -> PathBuf {
        self.ralph.join("logs")
    }

    pub fn sessions(&self) -> PathBuf {
        self.ralph.join("sessions")
    }

    /// Returns the log shared by every session of `ticket`, which must be a
    /// validated id.
    pub fn log(&self, ticket: &str) -> PathBuf {
        self.logs().join(format!("{ticket}.log"))
    }
}
