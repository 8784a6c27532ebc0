//! An exclusive run lock file with verified process identity.
//!
//! The lock is one file, such as `.tf/ralph/dispatch-loop.lock`, that holds
//! a JSON [`Record`] naming the run and the process that holds it. At most
//! one process holds it at a time, a crashed holder is detected at once,
//! and a lock is replaced only when its owner is provably gone.
//!
//! # Protocol
//!
//! Every step below exists because a simpler lock fails without it.
//!
//! - **Kernel lock.** The holder keeps an exclusive `flock` on the file the
//!   path names, through one descriptor opened `O_CLOEXEC`. The kernel drops
//!   it when the holder dies, even by SIGKILL, so a dead holder is seen at
//!   once. Close-on-exec keeps spawned children from inheriting it and
//!   holding the lock after the holder is gone. `flock` is used rather than
//!   `fcntl` record locks, which vanish when the process closes any other
//!   descriptor of the file.
//! - **Whole records only.** A record appears at the path in one of two
//!   ways. A new lock is a fully written and locked file that no other
//!   process can see yet, given the path's name by a call that fails if a
//!   lock exists. It is an unnamed `O_TMPFILE` file linked with `linkat`,
//!   by its descriptor or else through `/proc/thread-self/fd`. That takes
//!   one directory change, and a crash leaves no temporary file behind.
//!   Where the kernel, the filesystem or a missing `/proc` rules that out,
//!   it is a hidden temporary file renamed with `RENAME_NOREPLACE` (or
//!   linked, where that flag is missing). A replacement is a locked
//!   temporary file renamed over the path by the process that holds the
//!   kernel lock on the file the path names. No reader ever sees a
//!   half-written record. The record is not fsynced, because it only
//!   matters during this boot: after a power loss, a torn record is either
//!   unreadable, so it is moved aside, or names an earlier boot, so it is
//!   taken over.
//! - **Acquire.** The first attempt creates the lock as above, which
//!   succeeds when no lock exists. Otherwise, or on a later attempt, open
//!   the existing file read-only with `O_NOFOLLOW` (a
//!   symlink at the path fails with `ELOOP` and is never followed), then
//!   `flock(LOCK_EX | LOCK_NB)`. Contended means a live process holds it:
//!   report busy. Taken means no process holds it, but the path may have been
//!   replaced or removed between the open and the lock, and a lock on a file
//!   the path no longer names excludes no one. So check that the path still
//!   names the same (device, inode) with a link count above zero, or start
//!   over. Then judge the record, read through the same descriptor (at most
//!   [`MAX_RECORD_BYTES`] + 1 bytes).
//! - **Judge.** Another hostname: busy, cannot tell. Another boot id: take
//!   over. PID gone, or running with other start ticks (reused): take over.
//!   Permission error on the probe: busy, cannot tell. Owner alive (it holds
//!   no kernel lock, so it is an older design or the no-flock fallback):
//!   busy. Any member alive: busy, unless the requested run id is the
//!   record's, which continues the run. Same run id and owner gone:
//!   continue. An unreadable record that no process holds is linked aside to
//!   `<name>.corrupt.<UTC time>`, with a warning, and replaced. The one
//!   exception is an empty file less than 2 s old: the older design created
//!   the file before writing it, so it is busy, cannot tell.
//! - **Replace.** Write the new record to a temporary file, lock it, rename
//!   it over the path, and only then close the old descriptor, so the path
//!   never names an unlocked file. Contenders that locked the old inode in
//!   between see that the path no longer names it and start over.
//! - **Heartbeat.** [`RunLock::heartbeat`] sets the file's modification
//!   time through the held descriptor. A contender measures silence as its
//!   own clock's now minus that time, then by its monotonic clock while the
//!   time stays unchanged. A live but silent owner is reported, never taken
//!   over on its own.
//! - **Wait.** Try once. When busy and a wait was requested, watch the
//!   directory with inotify, so that a removal, creation, rename or
//!   close-after-write of any file but the event log wakes the waiter at
//!   once. The kernel's close of a killed holder's descriptor counts, and
//!   is reported under the name the file had when it was opened: `#<inode>`
//!   for an `O_TMPFILE` file, so the waiter does not filter on the lock's
//!   name. Back
//!   off from 1 ms, doubling with jitter up to 1 s, until the deadline.
//! - **Release.** Remove the file only if the path still names the held
//!   (device, inode) and the record read through the held descriptor has
//!   our run id and PID; remove it while still holding the kernel lock,
//!   then close. Otherwise leave it and warn.
//! - **No working flock** (`EOPNOTSUPP`, `ENOLCK`, as on some network
//!   filesystems): warn once, then let the record decide alone. A stale
//!   file is renamed to a private name, checked to be the file judged, and
//!   only then replaced by a rename that fails if a lock exists. Setting the environment variable
//!   `RUNLOCK_NO_FLOCK=1` forces this mode, for tests.
//!
//! Every attempt and release is logged as one JSON line in
//! `lock-events.jsonl` beside the lock, and as one `tracing` event.
//!
//! All raw OS calls live in one private module; identity checks go through
//! a seam so that errors root never sees can be tested.

#![warn(missing_docs)]

mod acquire;
mod attempt;
mod breaking;
mod error;
mod events;
mod held;
mod identity;
mod judge;
mod record;
mod status;
mod sys;
mod wait;

pub use uuid::Uuid;

pub use acquire::{
    Acquisition, Busy, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_SILENCE_THRESHOLD, Hooks, Options,
    acquire, acquire_with, waiting_line,
};
pub use breaking::{BreakOutcome, break_stale};
pub use error::Error;
pub use events::{EVENT_LOG_NAME, MAX_EVENT_LOG_BYTES, event_log_path, recent_events};
pub use held::RunLock;
pub use identity::{
    Liveness, ProcessIdentity, Termination, boot_id, hostname, signal_group_verified,
    signal_verified, terminate_group_verified,
};
pub use judge::{TakeoverReason, Verdict};
pub use record::{MAX_RECORD_BYTES, RECORD_VERSION, Record};
pub use status::{LockState, LockStatus, status};
pub use sys::NO_FLOCK_ENV;

/// The lock file's name inside `.tf/ralph/`.
pub const LOCK_FILE_NAME: &str = "dispatch-loop.lock";
