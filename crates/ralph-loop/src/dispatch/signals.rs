//! A self-pipe for SIGINT, SIGTERM and SIGHUP, so a `poll` loop wakes up
//! when one arrives and can tell which one it was.

use std::io::{self, Read as _};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use signal_hook::SigId;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The signals that stop a run or a session.
pub const STOP_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// Installed handlers; they are removed again on drop.
pub struct SignalPipe {
    reader: UnixStream,
    last: Arc<AtomicUsize>,
    handlers: Vec<SigId>,
}

impl SignalPipe {
    /// Installs handlers for [`STOP_SIGNALS`]. Each delivery writes one byte
    /// to the pipe and stores the signal number; that is all the handler
    /// does, which keeps it async-signal-safe.
    pub fn install() -> io::Result<SignalPipe> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let last = Arc::new(AtomicUsize::new(0));
        let mut handlers = Vec::new();
        for signal in STOP_SIGNALS {
            let number = usize::try_from(signal).unwrap_or_default();
            handlers.push(signal_hook::flag::register_usize(
                signal,
                Arc::clone(&last),
                number,
            )?);
            handlers.push(signal_hook::low_level::pipe::register(
                signal,
                writer.try_clone()?,
            )?);
        }
        Ok(SignalPipe {
            reader,
            last,
            handlers,
        })
    }

    /// Returns the descriptor that becomes readable when a signal arrives.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Empties the pipe and returns how many signals arrived since the last
    /// call.
    pub fn drain(&self) -> usize {
        let mut buffer = [0u8; 64];
        let mut count = 0;
        loop {
            match (&self.reader).read(&mut buffer) {
                Ok(0) => return count,
                Ok(n) => count += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return count,
            }
        }
    }

    /// Returns the number of the most recent signal, or 0 if none arrived.
    pub fn last(&self) -> i32 {
        i32::try_from(self.last.load(Ordering::SeqCst)).unwrap_or_default()
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for handler in self.handlers.drain(..) {
            signal_hook::low_level::unregister(handler);
        }
    }
}
