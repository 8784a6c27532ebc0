//! Acquiring the run lock: the options, the outcomes and the wait loop.

use std::fmt;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::attempt::{Locker, Sighting, Step, Won};
use crate::error::Error;
use crate::events::Event;
use crate::held::RunLock;
use crate::judge::{TakeoverReason, Verdict};
use crate::record::Record;
use crate::wait::{SilenceClock, Waiter, Woken};

/// The default heartbeat silence after which a live owner is reported as
/// silent: twelve heartbeat intervals.
pub const DEFAULT_SILENCE_THRESHOLD: Duration = Duration::from_secs(60);

/// The default interval between heartbeats; well below
/// [`DEFAULT_SILENCE_THRESHOLD`].
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// How many times an attempt that finds a replacement in progress is
/// repeated, 1 ms apart, before the lock is reported busy.
const TRANSIENT_RETRIES: u32 = 50;

/// How many times in a row the lock file may change under an attempt before
/// the acquisition gives up.
const MAX_RESTARTS: u32 = 10_000;

/// How to acquire the run lock.
#[derive(Clone, Debug)]
pub struct Options {
    /// `Some(id)`: continue that run if its holder is gone; `None`: a new
    /// run id.
    pub run_id: Option<Uuid>,
    /// How long to wait for a busy lock; `None` tries once.
    pub wait: Option<Duration>,
    /// The heartbeat silence after which a live owner is reported as
    /// silent.
    pub silence_threshold: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            run_id: None,
            wait: None,
            silence_threshold: DEFAULT_SILENCE_THRESHOLD,
        }
    }
}

/// Hooks into an acquisition, for callers that handle signals or print
/// their own messages.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Called once, when the lock is busy and the wait begins.
    pub on_wait: Option<&'a mut dyn FnMut(&Busy)>,
    /// Checked while waiting; when set, the wait ends with
    /// [`Error::Interrupted`]. A signal handler that sets it also wakes
    /// the wait.
    pub interrupted: Option<&'a AtomicBool>,
}

/// The outcome of [`acquire`].
// The variants keep their plain shapes for matching; an acquisition is
// made once per run, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[must_use]
pub enum Acquisition {
    /// No lock existed.
    Acquired(RunLock),
    /// The requested run id's earlier holder is gone: a re-entrant turn.
    Continued(RunLock),
    /// A stale lock was replaced.
    TookOver {
        /// The new lock.
        lock: RunLock,
        /// The replaced record; `None` when it was unreadable.
        previous: Option<Record>,
        /// The reason the old lock was stale.
        reason: TakeoverReason,
        /// How long ago the replaced record was taken.
        age: Option<Duration>,
    },
    /// Another run holds the lock.
    Busy(Busy),
}

impl Acquisition {
    /// Returns the outcome's stable name: `acquired`, `continued`,
    /// `took_over` or `busy`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Acquisition::Acquired(_) => "acquired",
            Acquisition::Continued(_) => "continued",
            Acquisition::TookOver { .. } => "took_over",
            Acquisition::Busy(_) => "busy",
        }
    }

    /// Returns the lock, or the busy report.
    pub fn into_lock(self) -> Result<RunLock, Box<Busy>> {
        match self {
            Acquisition::Acquired(lock) | Acquisition::Continued(lock) => Ok(lock),
            Acquisition::TookOver { lock, .. } => Ok(lock),
            Acquisition::Busy(busy) => Err(Box::new(busy)),
        }
    }
}

/// A report on a lock held by another run.
#[derive(Clone, Debug)]
pub struct Busy {
    /// The owner's record; `None` when a live holder's record is unreadable
    /// or the lock file is still being written.
    pub owner: Option<Record>,
    /// The reason the lock counts as held.
    pub verdict: Verdict,
    /// How long the owner's heartbeat has been silent, by this process's
    /// clock.
    pub silence: Option<Duration>,
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.owner {
            Some(owner) => write!(
                f,
                "the run lock is held by run {} (pid {}, started {}): {}",
                owner.run_id, owner.pid, owner.started_at, self.verdict
            ),
            None if matches!(self.verdict, Verdict::BeingWritten { .. }) => {
                write!(f, "the run lock is busy: {}", self.verdict)
            }
            None => write!(
                f,
                "the run lock is held by a live process whose record is unreadable: {}",
                self.verdict
            ),
        }
    }
}

/// Returns the line printed when a wait for a busy lock begins.
pub fn waiting_line(busy: &Busy) -> String {
    match &busy.owner {
        Some(owner) => format!(
            "waiting for the run lock held by run {} (pid {}, started {})",
            owner.run_id, owner.pid, owner.started_at
        ),
        None => "waiting for the run lock held by a process with an unreadable record".to_owned(),
    }
}

/// Acquires the run lock at `lock_path`, whose directory must exist.
///
/// With `options.wait`, a busy lock is waited for. When the wait begins,
/// one line naming the holder is printed on stderr. [`acquire_with`]
/// replaces that line or makes the wait interruptible.
/// A busy lock is not an error: it is [`Acquisition::Busy`].
pub fn acquire(lock_path: &Path, options: &Options) -> Result<Acquisition, Error> {
    let mut print = |busy: &Busy| eprintln!("{}", waiting_line(busy));
    let hooks = Hooks {
        on_wait: Some(&mut print),
        interrupted: None,
    };
    acquire_with(lock_path, options, hooks)
}

/// Acquires the run lock as [`acquire`] does, with hooks.
pub fn acquire_with(
    lock_path: &Path,
    options: &Options,
    mut hooks: Hooks<'_>,
) -> Result<Acquisition, Error> {
    let started = Instant::now();
    let deadline = options.wait.map(|wait| started + wait);
    let mut locker = Locker::new(lock_path, options.run_id)?;
    let mut clock = SilenceClock::default();
    let mut waiter: Option<Waiter> = None;
    let mut attempts = 0u32;
    loop {
        if is_set(hooks.interrupted) {
            return Err(interrupted(&mut locker, started, attempts));
        }
        let sighting = match settle(&mut locker, &mut attempts)? {
            Settled::Won(won) => return Ok(finish(locker, won, attempts, started)),
            Settled::Busy(sighting) => sighting,
        };
        let busy = measure(&mut clock, sighting, options.silence_threshold);
        let deadline = match deadline {
            Some(deadline) if Instant::now() < deadline => deadline,
            _ => return Ok(give_up(&mut locker, busy, started, attempts)),
        };
        let Some(waiter) = waiter.as_mut() else {
            // Watch first, then try once more, so that a release between
            // the busy attempt and the watch is not missed.
            if let Some(on_wait) = hooks.on_wait.as_mut() {
                on_wait(&busy);
            }
            waiter = Some(Waiter::new(&locker.dir_path));
            continue;
        };
        if let Woken::Interrupted = waiter.wait(deadline, hooks.interrupted) {
            return Err(interrupted(&mut locker, started, attempts));
        }
    }
}

/// The end of a run of attempts.
enum Settled {
    Won(Won),
    Busy(Sighting),
}

/// Attempts until the lock is won or found busy. An attempt is repeated at
/// once when the file changed under it, and after 1 ms when another
/// contender is replacing a stale record right then.
fn settle(locker: &mut Locker, attempts: &mut u32) -> Result<Settled, Error> {
    let mut restarts = 0u32;
    let mut transient = 0u32;
    loop {
        *attempts += 1;
        match locker.attempt()? {
            Step::Won(won) => return Ok(Settled::Won(won)),
            Step::Retry if restarts < MAX_RESTARTS => restarts += 1,
            Step::Retry => return Err(unstable(locker)),
            Step::Busy(sighting) if sighting.transient && transient < TRANSIENT_RETRIES => {
                transient += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Step::Busy(sighting) => return Ok(Settled::Busy(sighting)),
        }
    }
}

/// Logs a busy outcome and returns it.
fn give_up(locker: &mut Locker, busy: Busy, started: Instant, attempts: u32) -> Acquisition {
    let event = Event {
        owner: busy.owner.as_ref(),
        ..attempt_event("busy", attempts)
    };
    log_attempt(locker, started, event);
    Acquisition::Busy(busy)
}

/// Logs an interrupted wait and returns its error.
fn interrupted(locker: &mut Locker, started: Instant, attempts: u32) -> Error {
    log_attempt(locker, started, attempt_event("interrupted", attempts));
    Error::Interrupted {
        path: locker.path.clone(),
    }
}

fn is_set(flag: Option<&AtomicBool>) -> bool {
    flag.is_some_and(|flag| flag.load(Ordering::SeqCst))
}

fn unstable(locker: &Locker) -> Error {
    let source = std::io::Error::other("the lock file kept changing during every attempt");
    Error::io("lock", &locker.path, source)
}

/// Turns a sighting into a busy report with the heartbeat silence.
pub(crate) fn measure(clock: &mut SilenceClock, sighting: Sighting, threshold: Duration) -> Busy {
    let silence = clock.silence(sighting.file, sighting.mtime);
    let verdict = match sighting.verdict {
        Verdict::Alive if silence >= threshold => Verdict::Silent { silence },
        other => other,
    };
    Busy {
        owner: sighting.owner,
        verdict,
        silence: Some(silence),
    }
}

/// Logs a won attempt and turns it into the public outcome.
fn finish(mut locker: Locker, won: Won, attempts: u32, started: Instant) -> Acquisition {
    let (outcome, held, takeover) = match won {
        Won::Acquired(held) => ("acquired", held, None),
        Won::Continued(held) => ("continued", held, None),
        Won::TookOver {
            held,
            previous,
            reason,
        } => ("took_over", held, Some((previous, reason))),
    };
    let event = Event {
        record: Some(&held.record),
        previous: takeover
            .as_ref()
            .and_then(|(previous, _)| previous.as_ref()),
        reason: takeover
            .as_ref()
            .map(|(_, reason)| reason.as_str().to_owned()),
        ..attempt_event(outcome, attempts)
    };
    log_attempt(&mut locker, started, event);

    let lock = RunLock::new(locker, held);
    match takeover {
        Some((previous, reason)) => Acquisition::TookOver {
            age: previous.as_ref().and_then(record_age),
            lock,
            previous,
            reason,
        },
        None if outcome == "continued" => Acquisition::Continued(lock),
        None => Acquisition::Acquired(lock),
    }
}

/// Returns how long ago `record` was taken, if its time is in the past.
pub(crate) fn record_age(record: &Record) -> Option<Duration> {
    let elapsed = jiff::Timestamp::now().duration_since(record.started_at);
    Duration::try_from(elapsed).ok()
}

/// Logs the end of an acquisition.
fn log_attempt(locker: &mut Locker, started: Instant, event: Event<'_>) {
    let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let event = Event { waited_ms, ..event };
    let dir = locker.dir.as_fd();
    locker.events.append(dir, &locker.dir_path, &event);
}

fn attempt_event(outcome: &'static str, attempts: u32) -> Event<'static> {
    Event {
        kind: "acquire",
        outcome,
        record: None,
        owner: None,
        attempts,
        waited_ms: 0,
        previous: None,
        reason: None,
    }
}
