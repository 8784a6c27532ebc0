//! Running the command of `lock run` while the lock is held.

use std::ffi::OsString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::Duration;

use anyhow::{Context, Result};
use runlock::RunLock;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags, Signal};

use super::signals::Signals;
use crate::exit::Exit;

/// The exit code when the command is not found, as shells use it.
const NOT_FOUND: u8 = 127;

/// The exit code when the command exists but cannot be executed, as shells
/// use it.
const CANNOT_EXECUTE: u8 = 126;

/// Runs `command` while holding `lock`, refreshing the heartbeat every
/// `interval` and forwarding caught signals, then releases the lock and
/// returns the command's exit: its code, or 128 + N after signal N. A
/// command that fails to start exits 127 when it is not found and 126
/// otherwise.
///
/// The lock's descriptor is close-on-exec, so the command never inherits
/// it.
pub fn run_holding(
    command: &[OsString],
    mut lock: RunLock,
    signals: &Signals,
    interval: Duration,
) -> Result<Exit> {
    let (program, arguments) = command.split_first().context("no command given")?;
    let mut child = match std::process::Command::new(program).args(arguments).spawn() {
        Ok(child) => child,
        Err(error) => {
            lock.release().context("failed to release the run lock")?;
            let program = program.to_string_lossy();
            eprintln!("error: failed to run {program}: {error}");
            return Ok(Exit::Code(spawn_failure_code(&error)));
        }
    };
    let status = supervise(&mut child, &mut lock, signals, interval);
    if let Err(error) = lock.release() {
        tracing::warn!("failed to release the run lock: {error:#}");
    }
    Ok(exit_of(status?))
}

/// Waits for the child, waking every `interval` to refresh the heartbeat
/// and whenever a signal arrives to forward it.
fn supervise(
    child: &mut Child,
    lock: &mut RunLock,
    signals: &Signals,
    interval: Duration,
) -> Result<ExitStatus> {
    let pidfd = open_pidfd(child)?;
    let mut heartbeat_warned = false;
    loop {
        let exited = match wait_readable(&pidfd, signals, interval) {
            Ok(exited) => exited,
            Err(rustix::io::Errno::INTR) => false,
            Err(error) => return Err(error).context("failed to wait for the command"),
        };
        for signal in signals.take() {
            forward(&pidfd, signal);
        }
        if exited {
            break;
        }
        if let Err(error) = lock.heartbeat()
            && !heartbeat_warned
        {
            heartbeat_warned = true;
            tracing::warn!("failed to refresh the run lock heartbeat: {error:#}");
        }
    }
    child.wait().context("failed to wait for the command")
}

fn open_pidfd(child: &Child) -> Result<OwnedFd> {
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(Pid::from_raw)
        .context("the command has an invalid process id")?;
    rustix::process::pidfd_open(pid, PidfdFlags::empty())
        .context("failed to open a pidfd for the command")
}

/// Polls the child's pidfd and the signal socket; returns whether the child
/// has exited.
fn wait_readable(
    pidfd: &OwnedFd,
    signals: &Signals,
    interval: Duration,
) -> rustix::io::Result<bool> {
    let wake = signals.wake_fd();
    let mut fds = [
        PollFd::new(pidfd, PollFlags::IN),
        PollFd::from_borrowed_fd(wake, PollFlags::IN),
    ];
    let timeout = Timespec {
        tv_sec: i64::try_from(interval.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(interval.subsec_nanos()),
    };
    rustix::event::poll(&mut fds, Some(&timeout))?;
    Ok(!fds[0].revents().is_empty())
}

/// Forwards `signal` to the child through its pidfd, so that a reused PID
/// is never signalled.
fn forward(pidfd: &OwnedFd, signal: i32) {
    let Some(signal) = Signal::from_named_raw(signal) else {
        return;
    };
    match rustix::process::pidfd_send_signal(pidfd.as_fd(), signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => {}
        Err(error) => tracing::warn!("failed to forward signal {signal:?} to the command: {error}"),
    }
}

/// Returns the exit code for a command that failed to start with `error`.
fn spawn_failure_code(error: &std::io::Error) -> u8 {
    match error.kind() {
        std::io::ErrorKind::NotFound => NOT_FOUND,
        _ => CANNOT_EXECUTE,
    }
}

fn exit_of(status: ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(u8::try_from(code).unwrap_or(1)),
        (None, Some(signal)) => Exit::signaled(signal),
        (None, None) => Exit::Error,
    }
}
