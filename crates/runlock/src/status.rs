//! Inspecting the run lock without taking it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::acquire::record_age;
use crate::attempt::{Locker, being_written, short_reason};
use crate::error::Error;
use crate::judge::{Judgment, TakeoverReason, Verdict};
use crate::record::Record;
use crate::sys;
use crate::wait::SilenceClock;

/// The state of the run lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockState {
    /// No lock file exists.
    Free,
    /// A live run holds the lock, or its liveness is unknown.
    Held,
    /// The lock file's owner is gone; the next acquisition takes it over.
    Stale,
    /// The lock file is unreadable and no process holds it; the next
    /// acquisition moves it aside.
    Unreadable,
}

/// The result of [`status`].
#[derive(Clone, Debug)]
pub struct LockStatus {
    /// The lock path.
    pub path: PathBuf,
    /// The state of the lock.
    pub state: LockState,
    /// The record at the path, when readable.
    pub holder: Option<Record>,
    /// The reason the lock counts as held, when [`LockState::Held`].
    pub verdict: Option<Verdict>,
    /// The reason the lock is stale, when [`LockState::Stale`].
    pub stale_reason: Option<TakeoverReason>,
    /// Whether a process holds a kernel lock on the file, from
    /// `/proc/locks`; `None` when that cannot be read.
    pub kernel_lock: Option<bool>,
    /// How long ago the holder took the lock.
    pub age: Option<Duration>,
    /// How long the holder's heartbeat (the file's modification time) has
    /// been silent.
    pub heartbeat_silence: Option<Duration>,
    /// The problem found in an unreadable record.
    pub problem: Option<String>,
}

impl LockStatus {
    /// Returns the status of a lock that does not exist at `lock_path`.
    pub fn free(lock_path: &Path) -> LockStatus {
        LockStatus {
            path: lock_path.to_owned(),
            state: LockState::Free,
            holder: None,
            verdict: None,
            stale_reason: None,
            kernel_lock: None,
            age: None,
            heartbeat_silence: None,
            problem: None,
        }
    }
}

/// Reports the holder, verdict, age and heartbeat silence of the lock at
/// `lock_path`; never takes the lock.
pub fn status(lock_path: &Path, silence_threshold: Duration) -> Result<LockStatus, Error> {
    let locker = Locker::new(lock_path, None)?;
    let mut report = LockStatus::free(lock_path);
    let Some(fd) = locker.open_existing()? else {
        return Ok(report);
    };
    let meta = locker.stat(&fd)?;
    let bytes = locker.read(&fd)?;
    let kernel_lock = sys::has_flock(meta.id);
    let silence = SilenceClock::default().silence(meta.id, meta.mtime);
    report.kernel_lock = kernel_lock;
    report.heartbeat_silence = Some(silence);
    let alive = if silence >= silence_threshold {
        Verdict::Silent { silence }
    } else {
        Verdict::Alive
    };

    let record = match Record::parse(&bytes, lock_path) {
        Ok(record) => record,
        Err(_) if let Some(verdict) = being_written(&bytes, meta) => {
            report.state = LockState::Held;
            report.verdict = Some(verdict);
            return Ok(report);
        }
        Err(error) => {
            report.problem = Some(short_reason(&error));
            report.state = match kernel_lock {
                Some(true) => LockState::Held,
                _ => LockState::Unreadable,
            };
            if kernel_lock == Some(true) {
                report.verdict = Some(alive);
            }
            return Ok(report);
        }
    };
    report.age = record_age(&record);
    match (kernel_lock, locker.judge(&record)) {
        (Some(true), _) | (_, Judgment::Held(Verdict::Alive)) => {
            report.state = LockState::Held;
            report.verdict = Some(alive);
        }
        (_, Judgment::Held(verdict) | Judgment::HeldByMembers(verdict)) => {
            report.state = LockState::Held;
            report.verdict = Some(verdict);
        }
        (_, Judgment::Stale(reason)) => {
            report.state = LockState::Stale;
            report.stale_reason = Some(reason);
        }
        (_, Judgment::Continue) => report.state = LockState::Stale,
    }
    report.holder = Some(record);
    Ok(report)
}
