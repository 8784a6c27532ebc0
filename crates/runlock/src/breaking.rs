//! Breaking a stale lock on request, after verifying it under the kernel
//! lock, so that a lock a live run took meanwhile is never removed.

use std::io;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use uuid::Uuid;

use crate::acquire::{Busy, measure};
use crate::attempt::{KernelLock, Locker, being_written, short_reason, sighting};
use crate::error::Error;
use crate::judge::{Judgment, TakeoverReason};
use crate::record::Record;
use crate::sys;
use crate::wait::SilenceClock;

/// The outcome of [`break_stale`].
#[derive(Debug)]
pub enum BreakOutcome {
    /// No lock file exists.
    Missing,
    /// The stale lock was removed (or, when unreadable, moved aside).
    Removed {
        /// The removed record; `None` when it was unreadable.
        previous: Option<Record>,
        /// The reason it was stale.
        reason: TakeoverReason,
    },
    /// A live run holds the lock, or its liveness is unknown. Nothing was
    /// removed.
    Held(Busy),
    /// The lock now belongs to another run than the one expected; nothing
    /// was removed.
    Changed(Record),
}

/// Removes the lock at `lock_path` if it is stale: its owner is dead, its
/// PID was reused or it comes from an earlier boot. An unreadable record
/// that no process holds is moved aside to `<name>.corrupt.<UTC time>`, never
/// deleted. With `expected`, only a lock of that run is removed.
pub fn break_stale(
    lock_path: &Path,
    expected: Option<Uuid>,
    silence_threshold: Duration,
) -> Result<BreakOutcome, Error> {
    let threshold = silence_threshold;
    let mut locker = Locker::new(lock_path, None)?;
    let mut clock = SilenceClock::default();
    for _ in 0..1000 {
        let Some(fd) = locker.open_existing()? else {
            return Ok(BreakOutcome::Missing);
        };
        let meta = locker.stat(&fd)?;
        let kernel = locker.lock(&fd)?;
        let bytes = locker.read(&fd)?;
        let parsed = Record::parse(&bytes, lock_path);
        if let KernelLock::Contended = kernel {
            let seen = sighting(parsed.ok(), crate::Verdict::Alive, meta);
            return Ok(BreakOutcome::Held(measure(&mut clock, seen, threshold)));
        }
        if !locker.names_file(meta.id)? || locker.stat(&fd)?.nlink == 0 {
            continue;
        }
        let record = match parsed {
            Ok(record) => record,
            Err(_) if let Some(verdict) = being_written(&bytes, meta) => {
                let seen = sighting(None, verdict, meta);
                return Ok(BreakOutcome::Held(measure(&mut clock, seen, threshold)));
            }
            Err(error) => return remove_unreadable(&locker, &error),
        };
        if expected.is_some_and(|run_id| run_id != record.run_id) {
            return Ok(BreakOutcome::Changed(record));
        }
        let seen = match locker.judge(&record) {
            Judgment::Stale(reason) => Err(reason),
            Judgment::Continue => Err(TakeoverReason::OwnerDead),
            Judgment::Held(verdict) | Judgment::HeldByMembers(verdict) => {
                Ok(sighting(Some(record.clone()), verdict, meta))
            }
        };
        let reason = match seen {
            Ok(seen) => return Ok(BreakOutcome::Held(measure(&mut clock, seen, threshold))),
            Err(reason) => reason,
        };
        let removed = match kernel {
            KernelLock::Taken => remove(&locker),
            _ => remove_unlocked(&locker, meta.id),
        }?;
        if removed {
            let previous = Some(record);
            return Ok(BreakOutcome::Removed { previous, reason });
        }
        drop(fd);
    }
    let source = io::Error::other("the lock file kept changing");
    Err(Error::io("break", lock_path, source))
}

/// Removes the lock path while the kernel lock on the file it names is held.
fn remove(locker: &Locker) -> Result<bool, Error> {
    match sys::unlink(locker.dir.as_fd(), &locker.name) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(Error::io("remove", &locker.path, source)),
    }
}

/// Removes a stale lock without a kernel lock: move it to a private name,
/// and delete it only if it is the file judged, else put it back.
fn remove_unlocked(locker: &Locker, judged: sys::FileId) -> Result<bool, Error> {
    let private = locker.temp_name("stale");
    let dir = locker.dir.as_fd();
    match sys::rename(dir, &locker.name, &private) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(Error::io("rename", &locker.path, source)),
    }
    let moved = sys::lstat_at(dir, &private)
        .map_err(|source| Error::io("stat", locker.dir_path.join(&private), source))?;
    if moved.id != judged {
        let _ = sys::link(dir, &private, &locker.name);
        let _ = sys::unlink(dir, &private);
        return Ok(false);
    }
    sys::unlink(dir, &private)
        .map(|()| true)
        .map_err(|source| Error::io("remove", locker.dir_path.join(&private), source))
}

fn remove_unreadable(locker: &Locker, error: &Error) -> Result<BreakOutcome, Error> {
    let moved_to = locker.keep_corrupt()?;
    remove(locker)?;
    let reason = TakeoverReason::Unreadable {
        reason: short_reason(error),
        moved_to,
    };
    Ok(BreakOutcome::Removed {
        previous: None,
        reason,
    })
}
