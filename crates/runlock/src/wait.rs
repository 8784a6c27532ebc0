//! Waiting for a busy lock without a hot loop, and measuring the owner's
//! heartbeat silence by this process's clock.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::sys::{self, DirWatch, FileId};

/// The first backoff step.
const MIN_BACKOFF: Duration = Duration::from_millis(1);

/// The largest backoff step.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Sleeps until the lock file changes or a jittered, growing backoff step
/// passes, whichever comes first.
///
/// An inotify watch on the lock's directory wakes the waiter at once when
/// the lock is removed, created or replaced, or when a holder that wrote it
/// closes it (which is also what the kernel does for a killed holder). The
/// backoff, from 1 ms doubling to at most 1 s, covers filesystems where
/// inotify misses remote changes.
pub(crate) struct Waiter {
    watch: Option<DirWatch>,
    backoff: Duration,
    seed: u64,
}

/// The reason a wait ended.
pub(crate) enum Woken {
    /// Time to try again.
    Retry,
    /// A signal arrived and the caller's interrupt flag is set.
    Interrupted,
}

impl Waiter {
    /// Starts watching the directory `dir`.
    pub fn new(dir: &Path) -> Waiter {
        let watch = match DirWatch::new(dir) {
            Ok(watch) => Some(watch),
            Err(error) => {
                tracing::debug!("no inotify watch on {}: {error}", dir.display());
                None
            }
        };
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        Waiter {
            watch,
            backoff: MIN_BACKOFF,
            seed: (u64::from(sys::current_pid()) << 32) ^ u64::from(nanos) | 1,
        }
    }

    /// Waits until something other than the event log changes in the
    /// directory, a backoff step passes, or `deadline` comes.
    pub fn wait(&mut self, deadline: Instant, interrupted: Option<&AtomicBool>) -> Woken {
        let step = self.next_step();
        let until = (Instant::now() + step).min(deadline);
        loop {
            if interrupted.is_some_and(|flag| flag.load(Ordering::SeqCst)) {
                return Woken::Interrupted;
            }
            let remaining = until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Woken::Retry;
            }
            match self.poll(remaining) {
                Ok(true) => {
                    self.backoff = MIN_BACKOFF;
                    return Woken::Retry;
                }
                Ok(false) => {}
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    tracing::debug!("inotify failed, backing off instead: {error}");
                    self.watch = None;
                }
            }
        }
    }

    /// Polls the watch, or sleeps when there is none; returns whether the
    /// directory changed.
    fn poll(&self, timeout: Duration) -> std::io::Result<bool> {
        let Some(watch) = &self.watch else {
            sys::poll_readable(&[], Some(timeout))?;
            return Ok(false);
        };
        let ready = sys::poll_readable(&[watch.fd()], Some(timeout))?;
        if ready.first().copied().unwrap_or(false) {
            return watch.drain(crate::events::EVENT_LOG_NAME);
        }
        Ok(false)
    }

    /// Returns the next backoff step, between half and all of the current
    /// backoff, and doubles the backoff up to its cap.
    fn next_step(&mut self) -> Duration {
        // xorshift64: enough to keep waiters from waking in step.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = self.backoff / 2;
        let jitter_nanos = self.seed % (u64::try_from(half.as_nanos()).unwrap_or(1).max(1));
        let step = half + Duration::from_nanos(jitter_nanos);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        step
    }
}

/// Measures how long the owner's heartbeat has been silent.
///
/// The first sighting of a modification time is judged by this process's
/// wall clock. After that, silence grows by this process's monotonic clock
/// until the modification time changes, so that neither a wall clock jump
/// nor the owner's clock can shorten it.
#[derive(Default)]
pub(crate) struct SilenceClock {
    last: Option<Sighted>,
}

struct Sighted {
    file: FileId,
    mtime: SystemTime,
    seen: Instant,
    silence_then: Duration,
}

impl SilenceClock {
    /// Returns the silence of the file `file` whose modification time is
    /// `mtime` now.
    pub fn silence(&mut self, file: FileId, mtime: SystemTime) -> Duration {
        if let Some(last) = &self.last
            && last.file == file
            && last.mtime == mtime
        {
            return last.silence_then + last.seen.elapsed();
        }
        let silence_then = SystemTime::now()
            .duration_since(mtime)
            .unwrap_or(Duration::ZERO);
        self.last = Some(Sighted {
            file,
            mtime,
            seen: Instant::now(),
            silence_then,
        });
        silence_then
    }
}
