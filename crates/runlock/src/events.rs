//! The event log: one JSON line per acquisition attempt and per release, in
//! `lock-events.jsonl` beside the lock, rotated to `lock-events.jsonl.1`
//! when it grows past [`MAX_EVENT_LOG_BYTES`].
//!
//! Each line is appended with one `write` on an `O_APPEND` descriptor, so
//! lines from concurrent processes never interleave on a local filesystem.
//! The log is a diagnostic aid: a failure to write it is logged as a warning
//! and never fails the lock.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::record::Record;
use crate::sys;

/// The event log's file name, in the lock's directory.
pub const EVENT_LOG_NAME: &str = "lock-events.jsonl";

/// The size past which the event log is rotated, in bytes.
pub const MAX_EVENT_LOG_BYTES: u64 = 1024 * 1024;

/// One line of the event log.
#[derive(Debug)]
pub(crate) struct Event<'a> {
    /// `acquire` or `release`.
    pub kind: &'static str,
    /// `acquired`, `continued`, `took_over`, `busy`, `interrupted`,
    /// `released`, `kept` or `left`.
    pub outcome: &'static str,
    /// The record this process holds, if any.
    pub record: Option<&'a Record>,
    /// The record of the run that holds the lock, on `busy`.
    pub owner: Option<&'a Record>,
    pub attempts: u32,
    pub waited_ms: u64,
    pub previous: Option<&'a Record>,
    pub reason: Option<String>,
}

impl Event<'_> {
    fn to_line(&self) -> String {
        let mut line = Map::new();
        let now = jiff::Timestamp::now();
        let now = now.round(jiff::Unit::Millisecond).unwrap_or(now);
        line.insert("time".into(), json!(now.to_string()));
        line.insert("event".into(), json!(self.kind));
        line.insert("outcome".into(), json!(self.outcome));
        let run_id = self.record.map(|record| record.run_id.to_string());
        line.insert("runId".into(), json!(run_id));
        line.insert("pid".into(), json!(sys::current_pid()));
        line.insert("attempts".into(), json!(self.attempts));
        line.insert("waited_ms".into(), json!(self.waited_ms));
        if let Some(owner) = self.owner {
            line.insert("owner".into(), owner.to_value());
        }
        if let Some(previous) = self.previous {
            line.insert("previous".into(), previous.to_value());
        }
        if let Some(reason) = &self.reason {
            line.insert("reason".into(), json!(reason));
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        text
    }
}

/// The event log of one lock directory, kept open between the events of
/// one acquisition and its release.
#[derive(Default)]
pub(crate) struct EventLog {
    fd: Option<OwnedFd>,
}

impl EventLog {
    /// Appends `event` to the log in `dir` and logs it with `tracing`.
    pub fn append(&mut self, dir: BorrowedFd<'_>, dir_path: &Path, event: &Event<'_>) {
        let run_id = event.record.map(|record| record.run_id);
        tracing::info!(
            event = event.kind,
            outcome = event.outcome,
            run_id = ?run_id,
            attempts = event.attempts,
            waited_ms = event.waited_ms,
            reason = event.reason.as_deref().unwrap_or(""),
            "run lock {} {}",
            event.kind,
            event.outcome,
        );
        if let Err(error) = self.write_line(dir, &event.to_line()) {
            let path = dir_path.join(EVENT_LOG_NAME);
            tracing::warn!(
                "failed to append to the lock event log {}: {error}",
                path.display()
            );
        }
    }

    /// Appends one line. The size is checked, and the log rotated, only
    /// when the log is opened, so once per acquisition.
    fn write_line(&mut self, dir: BorrowedFd<'_>, line: &str) -> std::io::Result<()> {
        if let Some(fd) = &self.fd {
            return sys::write_all(fd.as_fd(), line.as_bytes());
        }
        let fd = sys::open_append(dir, EVENT_LOG_NAME)?;
        sys::write_all(fd.as_fd(), line.as_bytes())?;
        let meta = sys::stat_fd(fd.as_fd())?;
        if meta.size <= MAX_EVENT_LOG_BYTES {
            self.fd = Some(fd);
            return Ok(());
        }

        // Rotate only the file this process just wrote to, so that two
        // processes rotating at once do not push a fresh log aside.
        let current = sys::lstat_at(dir, EVENT_LOG_NAME)?;
        if current.id == meta.id {
            sys::rename(dir, EVENT_LOG_NAME, &format!("{EVENT_LOG_NAME}.1"))?;
        }
        Ok(())
    }
}

/// Returns the last `count` events logged beside `lock_path`, oldest first.
/// Lines that are not JSON are skipped.
pub fn recent_events(lock_path: &Path, count: usize) -> Result<Vec<Value>, Error> {
    let path = event_log_path(lock_path);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::io("read", path, source)),
    };
    let mut events: Vec<Value> = text
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str(line).ok())
        .take(count)
        .collect();
    events.reverse();
    Ok(events)
}

/// Returns the event log path for the lock at `lock_path`.
pub fn event_log_path(lock_path: &Path) -> PathBuf {
    let dir = lock_path.parent().unwrap_or(Path::new("."));
    dir.join(EVENT_LOG_NAME)
}
