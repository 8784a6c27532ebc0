//! Signal handling for `lock run`.
//!
//! SIGTERM, SIGINT and SIGHUP are caught before the first lock attempt, so
//! that no signal can arrive while the lock is held but the handler is not
//! yet in place. The handlers only set a flag and write one byte to a
//! socket pair (both async-signal-safe); everything else happens in the
//! main flow:
//!
//! - While acquiring, a signal ends the wait; nothing is held, so the
//!   process exits with 128 + the signal number.
//! - While the command runs, every delivery, the first and any later one,
//!   is forwarded to the command, and the lock is kept until the command
//!   exits. Only then is the lock released, with the ownership check, so a
//!   second signal cannot skip or interrupt that check.
//!
//! NOTE: Ctrl-C in a terminal reaches both this process and the command,
//! which shares its process group, so the command gets SIGINT twice.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals `lock run` catches.
const CAUGHT: [i32; 3] = [SIGTERM, SIGINT, SIGHUP];

/// Caught signals, waiting to be handled by the main flow.
pub struct Signals {
    any: Arc<AtomicBool>,
    flags: Vec<(i32, Arc<AtomicBool>)>,
    wake: UnixStream,
    first: std::cell::Cell<Option<i32>>,
}

impl Signals {
    /// Installs the handlers.
    pub fn install() -> Result<Signals> {
        let (wake, notify) = UnixStream::pair().context("failed to create a signal socket")?;
        wake.set_nonblocking(true)
            .context("failed to configure the signal socket")?;
        let any = Arc::new(AtomicBool::new(false));
        let mut flags = Vec::new();
        for signal in CAUGHT {
            let flag = Arc::new(AtomicBool::new(false));
            let notify = notify
                .try_clone()
                .context("failed to clone the signal socket")?;
            let install = || -> std::io::Result<()> {
                signal_hook::flag::register(signal, Arc::clone(&flag))?;
                signal_hook::flag::register(signal, Arc::clone(&any))?;
                signal_hook::low_level::pipe::register(signal, notify)?;
                Ok(())
            };
            install()
                .with_context(|| format!("failed to install a handler for signal {signal}"))?;
            flags.push((signal, flag));
        }
        Ok(Signals {
            any,
            flags,
            wake,
            first: std::cell::Cell::new(None),
        })
    }

    /// Returns the flag that any caught signal sets.
    pub fn interrupted(&self) -> &AtomicBool {
        &self.any
    }

    /// Returns the descriptor that becomes readable when a signal arrives.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Returns the signals that arrived since the last call.
    pub fn take(&self) -> Vec<i32> {
        let mut buffer = [0u8; 64];
        while matches!((&self.wake).read(&mut buffer), Ok(count) if count > 0) {}
        let arrived: Vec<i32> = self
            .flags
            .iter()
            .filter(|(_, flag)| flag.swap(false, Ordering::SeqCst))
            .map(|(signal, _)| *signal)
            .collect();
        if self.first.get().is_none() {
            self.first.set(arrived.first().copied());
        }
        arrived
    }

    /// Returns the first signal that arrived, if any.
    pub fn first(&self) -> Option<i32> {
        self.take();
        self.first.get()
    }
}
