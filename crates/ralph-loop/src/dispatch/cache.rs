//! The backlog kept between the steps of `run`, so that a wake-up with no
//! session ended does not read every ticket file again.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context as _;
use tickets::Backlog;

/// A parsed backlog and the modification time its directory had before it
/// was read.
pub struct CachedBacklog {
    pub backlog: Backlog,
    dir: PathBuf,
    dir_mtime: Option<SystemTime>,
}

impl CachedBacklog {
    /// Reads the backlog in `dir`, noting the directory's modification time
    /// first so that a change made during the read is seen later.
    pub fn load(dir: &Path) -> anyhow::Result<CachedBacklog> {
        let dir_mtime = modified(dir);
        let backlog =
            Backlog::load(dir).with_context(|| format!("failed to read {}", dir.display()))?;
        Ok(CachedBacklog {
            backlog,
            dir: dir.to_owned(),
            dir_mtime,
        })
    }

    /// Wraps a backlog read elsewhere; it is never taken as current.
    pub fn unchecked(backlog: Backlog) -> CachedBacklog {
        CachedBacklog {
            dir: backlog.dir().to_owned(),
            backlog,
            dir_mtime: None,
        }
    }

    /// Returns whether the directory is unchanged since the read.
    ///
    /// Adding, removing or renaming a ticket file changes the directory's
    /// modification time, and so does a status change by tk or ralph-loop,
    /// which rename a new file into place.
    /// NOTE: an editor that rewrites a ticket file in place leaves the
    /// directory's time alone, so `run` reads that edit only after the next
    /// session ends.
    pub fn is_current(&self) -> bool {
        self.dir_mtime.is_some() && modified(&self.dir) == self.dir_mtime
    }
}

fn modified(dir: &Path) -> Option<SystemTime> {
    fs::metadata(dir).and_then(|meta| meta.modified()).ok()
}
