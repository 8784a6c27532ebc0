//! Process identity: a PID alone lies both ways, so a process is named by
//! its PID, its start time in clock ticks since boot, and the boot id.
//!
//! A PID is reused after its process exits, often quickly in containers, so
//! a PID that exists proves nothing until its start ticks match. A PID that
//! cannot be probed (permission denied, hidden `/proc`) is never read as
//! gone: the verdict is [`Liveness::CannotTell`], and callers fail closed.

use std::io;

use rustix::process::Signal;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::sys;

/// Identity of a process: alive only if the PID exists with the same start
/// ticks on this boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessIdentity {
    /// The process id.
    pub pid: u32,
    /// The start time in clock ticks since boot (field 22 of
    /// `/proc/PID/stat`).
    pub start_ticks: u64,
    /// The boot id (`/proc/sys/kernel/random/boot_id`) of the boot the
    /// process ran in.
    pub boot_id: String,
}

/// Whether the process an identity names is still running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// The PID exists with the same start ticks on this boot.
    Alive,
    /// No process has the PID, or it is a zombie.
    Gone,
    /// The PID belongs to another process, started at other ticks.
    Reused,
    /// The identity comes from another boot, so the process is gone.
    OtherBoot,
    /// The probe failed in a way that proves nothing, such as a permission
    /// error. The string describes the failure.
    CannotTell(String),
}

/// The result of one look at a PID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Observed {
    Running { start_ticks: u64 },
    Gone,
    CannotTell(String),
}

/// The OS calls an identity check makes, behind a seam so that unit tests
/// can return errors, such as `EACCES`, that root never gets from `/proc`.
pub(crate) trait Probe {
    /// Reads `/proc/PID/stat`.
    fn stat(&self, pid: u32) -> io::Result<String>;
    /// Tests whether `pid` exists, as `kill(pid, 0)` does.
    fn exists(&self, pid: u32) -> io::Result<()>;
    /// Reads this boot's id.
    fn boot_id(&self) -> io::Result<String>;
}

/// The probe that reads `/proc` and calls `kill(pid, 0)`.
pub(crate) struct SystemProbe;

impl Probe for SystemProbe {
    fn stat(&self, pid: u32) -> io::Result<String> {
        sys::read_proc_stat(pid)
    }

    fn exists(&self, pid: u32) -> io::Result<()> {
        sys::probe_pid(pid)
    }

    fn boot_id(&self) -> io::Result<String> {
        sys::read_boot_id()
    }
}

impl ProcessIdentity {
    /// Returns the identity of the calling process.
    pub fn current() -> Result<ProcessIdentity, Error> {
        let pid = sys::current_pid();
        ProcessIdentity::of(pid)?.ok_or_else(|| Error::Process {
            pid,
            source: io::Error::new(io::ErrorKind::NotFound, "own /proc entry missing"),
        })
    }

    /// Returns the identity of process `pid`, or `None` when no such
    /// process exists (or it is a zombie).
    pub fn of(pid: u32) -> Result<Option<ProcessIdentity>, Error> {
        let boot_id = boot_id()?;
        match observe(&SystemProbe, pid) {
            Observed::Running { start_ticks } => Ok(Some(ProcessIdentity {
                pid,
                start_ticks,
                boot_id,
            })),
            Observed::Gone => Ok(None),
            Observed::CannotTell(reason) => Err(Error::Process {
                pid,
                source: io::Error::new(io::ErrorKind::PermissionDenied, reason),
            }),
        }
    }

    /// Checks whether the process this identity names is still running.
    pub fn liveness(&self) -> Liveness {
        liveness_with(&SystemProbe, self)
    }
}

/// Judges an identity with the given probe.
pub(crate) fn liveness_with(probe: &dyn Probe, identity: &ProcessIdentity) -> Liveness {
    match probe.boot_id() {
        Ok(current) if current != identity.boot_id => return Liveness::OtherBoot,
        Ok(_) => {}
        Err(error) => return Liveness::CannotTell(format!("failed to read the boot id: {error}")),
    }
    match observe(probe, identity.pid) {
        Observed::Running { start_ticks } if start_ticks == identity.start_ticks => Liveness::Alive,
        Observed::Running { .. } => Liveness::Reused,
        Observed::Gone => Liveness::Gone,
        Observed::CannotTell(reason) => Liveness::CannotTell(reason),
    }
}

/// Looks at `pid` once: running with which start ticks, gone, or unknown.
pub(crate) fn observe(probe: &dyn Probe, pid: u32) -> Observed {
    if pid == 0 || i32::try_from(pid).is_err() {
        return Observed::Gone;
    }
    let error = match probe.stat(pid) {
        Ok(text) => return observe_stat(pid, &text),
        Err(error) => error,
    };
    if error.kind() != io::ErrorKind::NotFound {
        return Observed::CannotTell(format!("failed to read /proc/{pid}/stat: {error}"));
    }

    // A missing /proc entry is only proof when kill(pid, 0) agrees: with
    // `hidepid` or another PID namespace the entry is hidden, not gone.
    match probe.exists(pid) {
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error()) => {
            Observed::Gone
        }
        Err(error) => Observed::CannotTell(format!("failed to probe process {pid}: {error}")),
        Ok(()) => Observed::CannotTell(format!("process {pid} exists but /proc hides it")),
    }
}

fn observe_stat(pid: u32, text: &str) -> Observed {
    match parse_stat(text) {
        Ok(stat) if stat.state == 'Z' || stat.state == 'X' => Observed::Gone,
        Ok(stat) => Observed::Running {
            start_ticks: stat.start_ticks,
        },
        Err(reason) => Observed::CannotTell(format!("invalid /proc/{pid}/stat: {reason}")),
    }
}

/// The two fields of `/proc/PID/stat` an identity needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub state: char,
    pub start_ticks: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses
/// and may itself hold spaces and `)`, so the fields are counted after the
/// LAST `)`: the state is field 3 and the start time field 22.
pub(crate) fn parse_stat(text: &str) -> Result<Stat, String> {
    let close = text.rfind(')').ok_or("no `)` after the command name")?;
    let mut fields = text[close + 1..].split_ascii_whitespace();
    let state = fields
        .next()
        .and_then(|field| field.chars().next())
        .ok_or("missing field 3 (state)")?;

    // Fields 4 to 21 come before the start time.
    let start = fields.nth(18).ok_or("missing field 22 (start time)")?;
    let start_ticks = start
        .parse::<u64>()
        .map_err(|_| format!("field 22 (start time) is not an integer: {start:?}"))?;
    Ok(Stat { state, start_ticks })
}

/// Returns the clock ticks per second that `/proc` start times count in.
pub(crate) fn ticks_per_second() -> u64 {
    sys::clock_ticks_per_second()
}

/// Returns this boot's id (`/proc/sys/kernel/random/boot_id`).
pub fn boot_id() -> Result<String, Error> {
    sys::read_boot_id()
        .map_err(|source| Error::io("read", "/proc/sys/kernel/random/boot_id", source))
}

/// Returns this machine's host name (the `uname` node name).
pub fn hostname() -> Result<String, Error> {
    Ok(sys::node_name())
}

/// Signals a process only if it still has this identity (pidfd-pinned, so
/// a recycled PID is never signalled). Ok(false) if it is already gone.
///
/// The pidfd is opened first and the identity checked second, so the
/// process the check saw is the one the pidfd names.
pub fn signal_verified(identity: &ProcessIdentity, signal: Signal) -> Result<bool, Error> {
    let Some(pidfd) = open_verified(identity)? else {
        return Ok(false);
    };
    send_pidfd(identity.pid, &pidfd, signal)
}

/// Signals the identity's whole process group (killpg on its pgid,
/// after verifying the leader).
///
/// When the process shares the caller's own group, only the process itself
/// is signalled, so that the caller never signals itself.
pub fn signal_group_verified(identity: &ProcessIdentity, signal: Signal) -> Result<bool, Error> {
    use std::os::fd::AsFd;

    let Some(pidfd) = open_verified(identity)? else {
        return Ok(false);
    };
    let pgid = match sys::process_group(identity.pid) {
        Ok(pgid) => pgid,
        Err(error) if is_no_such_process(&error) => return Ok(false),
        Err(source) => {
            let pid = identity.pid;
            return Err(Error::Signal { pid, source });
        }
    };
    if pgid == sys::own_process_group() {
        return send_pidfd(identity.pid, &pidfd, signal);
    }

    // The group cannot vanish and be reused while the verified process is
    // still in it, so check once more that it has not exited.
    let exited = sys::pidfd_exited(pidfd.as_fd()).map_err(|source| Error::Signal {
        pid: identity.pid,
        source,
    })?;
    if exited {
        return Ok(false);
    }
    match sys::signal_group(pgid, signal) {
        Ok(()) => Ok(true),
        Err(error) if is_no_such_process(&error) => Ok(false),
        Err(source) => Err(Error::Signal { pid: pgid, source }),
    }
}

/// The way [`terminate_group_verified`] ended a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Termination {
    /// The process had already exited, or its PID was reused; nothing was
    /// signalled.
    AlreadyGone,
    /// The process exited within the grace period after SIGTERM.
    Terminated,
    /// The process outlived the grace period and was sent SIGKILL.
    Killed,
}

/// Ends the process group of a verified process: SIGTERM, then SIGCONT so
/// that a stopped group can act on it, then SIGKILL if the process is still
/// running after `grace`.
pub fn terminate_group_verified(
    identity: &ProcessIdentity,
    grace: std::time::Duration,
) -> Result<Termination, Error> {
    use std::os::fd::AsFd;
    use std::time::Duration;

    let Some(pidfd) = open_verified(identity)? else {
        return Ok(Termination::AlreadyGone);
    };
    if !signal_group_verified(identity, Signal::TERM)? {
        return Ok(Termination::AlreadyGone);
    }
    signal_group_verified(identity, Signal::CONT)?;
    let exited = |timeout| {
        sys::poll_readable(&[pidfd.as_fd()], Some(timeout))
            .map(|ready| ready.first().copied().unwrap_or(false))
            .map_err(|source| Error::Signal {
                pid: identity.pid,
                source,
            })
    };
    if exited(grace)? {
        return Ok(Termination::Terminated);
    }
    tracing::warn!("process {} ignored SIGTERM; sending SIGKILL", identity.pid);
    send_pidfd(identity.pid, &pidfd, Signal::KILL)?;
    signal_group_verified(identity, Signal::KILL)?;
    exited(Duration::from_secs(5))?;
    Ok(Termination::Killed)
}

fn open_verified(identity: &ProcessIdentity) -> Result<Option<std::os::fd::OwnedFd>, Error> {
    let pid = identity.pid;
    let pidfd = match sys::pidfd_open(pid) {
        Ok(pidfd) => pidfd,
        Err(error) if is_no_such_process(&error) => return Ok(None),
        Err(source) => return Err(Error::Signal { pid, source }),
    };
    match identity.liveness() {
        Liveness::Alive => Ok(Some(pidfd)),
        Liveness::Gone | Liveness::Reused | Liveness::OtherBoot => Ok(None),
        Liveness::CannotTell(reason) => Err(Error::Signal {
            pid,
            source: io::Error::new(io::ErrorKind::PermissionDenied, reason),
        }),
    }
}

fn send_pidfd(pid: u32, pidfd: &std::os::fd::OwnedFd, signal: Signal) -> Result<bool, Error> {
    use std::os::fd::AsFd;

    match sys::pidfd_signal(pidfd.as_fd(), signal) {
        Ok(()) => Ok(true),
        Err(error) if is_no_such_process(&error) => Ok(false),
        Err(source) => Err(Error::Signal { pid, source }),
    }
}

fn is_no_such_process(error: &io::Error) -> bool {
    error.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe that returns fixed results.
    struct FakeProbe {
        stat: io::Result<String>,
        exists: io::Result<()>,
    }

    impl Probe for FakeProbe {
        fn stat(&self, _pid: u32) -> io::Result<String> {
            match &self.stat {
                Ok(text) => Ok(text.clone()),
                Err(error) => Err(io::Error::from(error.kind())),
            }
        }

        fn exists(&self, _pid: u32) -> io::Result<()> {
            match &self.exists {
                Ok(()) => Ok(()),
                Err(error) => Err(clone_error(error)),
            }
        }

        fn boot_id(&self) -> io::Result<String> {
            Ok("boot-a".to_owned())
        }
    }

    fn clone_error(error: &io::Error) -> io::Error {
        match error.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::from(error.kind()),
        }
    }

    fn stat_line(comm: &str, state: char, start: u64) -> String {
        let middle = "1 1 1 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0";
        format!("4242 ({comm}) {state} {middle} {start} 1000 100 18446744073709551615")
    }

    fn identity(start_ticks: u64) -> ProcessIdentity {
        ProcessIdentity {
            pid: 4242,
            start_ticks,
            boot_id: "boot-a".to_owned(),
        }
    }

    #[test]
    fn parse_stat_plain_name() {
        let stat = parse_stat(&stat_line("sleep", 'S', 987_654)).unwrap();
        assert_eq!(stat.start_ticks, 987_654);
        assert_eq!(stat.state, 'S');
    }

    #[test]
    fn parse_stat_name_with_spaces_and_parens() {
        let stat = parse_stat(&stat_line("a) b (c) 1 2", 'R', 55)).unwrap();
        assert_eq!(stat.start_ticks, 55);
        assert_eq!(stat.state, 'R');
    }

    #[test]
    fn parse_stat_rejects_truncated_line() {
        assert!(parse_stat("12 (x) S 1 2 3").is_err());
        assert!(parse_stat("no parens at all").is_err());
    }

    #[test]
    fn permission_error_is_cannot_tell() {
        let probe = FakeProbe {
            stat: Err(io::Error::from(io::ErrorKind::PermissionDenied)),
            exists: Err(io::Error::from_raw_os_error(
                rustix::io::Errno::PERM.raw_os_error(),
            )),
        };
        let verdict = liveness_with(&probe, &identity(7));
        assert!(matches!(verdict, Liveness::CannotTell(_)), "{verdict:?}");
    }

    #[test]
    fn hidden_proc_entry_is_cannot_tell() {
        let probe = FakeProbe {
            stat: Err(io::Error::from(io::ErrorKind::NotFound)),
            exists: Err(io::Error::from_raw_os_error(
                rustix::io::Errno::PERM.raw_os_error(),
            )),
        };
        let verdict = liveness_with(&probe, &identity(7));
        assert!(matches!(verdict, Liveness::CannotTell(_)), "{verdict:?}");
    }

    #[test]
    fn missing_process_is_gone() {
        let probe = FakeProbe {
            stat: Err(io::Error::from(io::ErrorKind::NotFound)),
            exists: Err(io::Error::from_raw_os_error(
                rustix::io::Errno::SRCH.raw_os_error(),
            )),
        };
        assert_eq!(liveness_with(&probe, &identity(7)), Liveness::Gone);
    }

    #[test]
    fn zombie_is_gone() {
        let probe = FakeProbe {
            stat: Ok(stat_line("dead", 'Z', 7)),
            exists: Ok(()),
        };
        assert_eq!(liveness_with(&probe, &identity(7)), Liveness::Gone);
    }

    #[test]
    fn other_start_ticks_is_reused() {
        let probe = FakeProbe {
            stat: Ok(stat_line("sleep", 'S', 8)),
            exists: Ok(()),
        };
        assert_eq!(liveness_with(&probe, &identity(7)), Liveness::Reused);
        assert_eq!(liveness_with(&probe, &identity(8)), Liveness::Alive);
    }

    #[test]
    fn other_boot_id_is_other_boot() {
        let probe = FakeProbe {
            stat: Ok(stat_line("sleep", 'S', 7)),
            exists: Ok(()),
        };
        let mut other = identity(7);
        other.boot_id = "boot-b".to_owned();
        assert_eq!(liveness_with(&probe, &other), Liveness::OtherBoot);
    }
}
