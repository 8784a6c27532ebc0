//! The verdict on a record that no live process holds a kernel lock on:
//! held, stale (and why), or ours to continue.
//!
//! The rules fail closed: a record from another host, or an owner the probe
//! cannot see, is held. Only an owner that is provably gone is replaced.

use std::fmt;
use std::time::Duration;

use uuid::Uuid;

use crate::identity::{self, Liveness, Observed, Probe, ProcessIdentity};
use crate::record::Record;

/// The reason a busy lock is considered held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The owner is alive and its heartbeat is recent.
    Alive,
    /// The owner is alive but its heartbeat has been silent this long,
    /// measured by the observer's clock. It is never taken over on its own.
    Silent {
        /// How long the heartbeat has been silent.
        silence: Duration,
    },
    /// The record comes from another host, whose processes cannot be probed.
    OtherHost {
        /// The host named in the record.
        hostname: String,
    },
    /// The owner's liveness could not be checked, for example because of a
    /// permission error.
    CannotTell {
        /// The failure.
        reason: String,
    },
    /// The owner process has exited, but member processes named in the
    /// record keep the run alive. No process refreshes the heartbeat of
    /// such a run, so its silence means nothing.
    KeptByMembers {
        /// The PIDs of the members that are alive, in record order.
        pids: Vec<u32>,
    },
    /// The lock file is empty and was modified moments ago, and no process
    /// holds its kernel lock. A holder of the older design, which created
    /// the file before writing it, may still be writing it.
    BeingWritten {
        /// How long ago the file was modified, by this process's clock.
        age: Duration,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Alive => f.write_str("alive"),
            Verdict::Silent { silence } => {
                write!(f, "alive but silent for {}s", silence.as_secs())
            }
            Verdict::OtherHost { hostname } => {
                write!(f, "cannot tell: held on another host ({hostname})")
            }
            Verdict::CannotTell { reason } => write!(f, "cannot tell: {reason}"),
            Verdict::KeptByMembers { pids } => write!(
                f,
                "the owner process has exited, and {} member processes keep the run \
                 alive (pids {})",
                pids.len(),
                join_pids(pids)
            ),
            Verdict::BeingWritten { age } => write!(
                f,
                "the lock file is empty and only {} ms old, so another process may be \
                 writing it; try again in a moment",
                age.as_millis()
            ),
        }
    }
}

/// Returns `pids` as a comma-separated list, such as `101, 102`.
pub(crate) fn join_pids(pids: &[u32]) -> String {
    let texts: Vec<String> = pids.iter().map(u32::to_string).collect();
    texts.join(", ")
}

/// The reason a lock was taken over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TakeoverReason {
    /// The owner process no longer exists.
    OwnerDead,
    /// The owner's PID now belongs to another process.
    PidReused,
    /// The record comes from an earlier boot.
    OtherBoot,
    /// The record could not be parsed and no process held the file; it was moved
    /// aside.
    Unreadable {
        /// The problem found in it.
        reason: String,
        /// The path the unreadable file was moved to.
        moved_to: std::path::PathBuf,
    },
}

impl TakeoverReason {
    /// Returns a short stable name for logs and JSON: `owner_dead`,
    /// `pid_reused`, `other_boot` or `unreadable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TakeoverReason::OwnerDead => "owner_dead",
            TakeoverReason::PidReused => "pid_reused",
            TakeoverReason::OtherBoot => "other_boot",
            TakeoverReason::Unreadable { .. } => "unreadable",
        }
    }
}

impl fmt::Display for TakeoverReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TakeoverReason::OwnerDead => f.write_str("the owner is dead"),
            TakeoverReason::PidReused => f.write_str("the owner's PID was reused"),
            TakeoverReason::OtherBoot => f.write_str("the lock is from an earlier boot"),
            TakeoverReason::Unreadable { reason, moved_to } => {
                write!(f, "{reason}; moved to {}", moved_to.display())
            }
        }
    }
}

/// The decision on a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Judgment {
    /// Leave it: the run is held. The verdict is `Alive` until the caller
    /// has measured the heartbeat.
    Held(Verdict),
    /// Leave it: the owner is gone but a member process keeps the run
    /// alive. No process refreshes the heartbeat of such a run, so its silence
    /// means nothing.
    HeldByMembers(Verdict),
    /// Replace it, keeping the run id.
    Continue,
    /// Replace it with a new run.
    Stale(TakeoverReason),
}

/// The process and machine a record is judged against.
pub(crate) struct Observer<'a> {
    pub probe: &'a dyn Probe,
    pub hostname: &'a str,
    pub boot_id: &'a str,
    pub own: &'a ProcessIdentity,
    pub requested: Option<Uuid>,
}

/// Judges a record that no process holds a kernel lock on.
pub(crate) fn judge(observer: &Observer<'_>, record: &Record) -> Judgment {
    if let Some(hostname) = &record.hostname
        && hostname != observer.hostname
    {
        let hostname = hostname.clone();
        return Judgment::Held(Verdict::OtherHost { hostname });
    }
    let same_run = observer.requested == Some(record.run_id);
    let reason = match owner_liveness(observer, record) {
        Liveness::Alive if same_run && is_self(observer, record) => return Judgment::Continue,
        Liveness::Alive => return Judgment::Held(Verdict::Alive),
        Liveness::CannotTell(reason) => return Judgment::Held(Verdict::CannotTell { reason }),
        Liveness::Gone => TakeoverReason::OwnerDead,
        Liveness::Reused => TakeoverReason::PidReused,
        Liveness::OtherBoot => TakeoverReason::OtherBoot,
    };
    if let Some(verdict) = members_verdict(observer, record) {
        return if same_run {
            Judgment::Continue
        } else {
            Judgment::HeldByMembers(verdict)
        };
    }
    if same_run {
        Judgment::Continue
    } else {
        Judgment::Stale(reason)
    }
}

fn is_self(observer: &Observer<'_>, record: &Record) -> bool {
    record.pid == observer.own.pid && record.process_start_time == Some(observer.own.start_ticks)
}

/// Judges the record's owner, using as much identity as the record has.
fn owner_liveness(observer: &Observer<'_>, record: &Record) -> Liveness {
    if let Some(boot_id) = &record.boot_id
        && boot_id != observer.boot_id
    {
        return Liveness::OtherBoot;
    }
    if let Some(owner) = record.owner() {
        return identity::liveness_with(observer.probe, &owner);
    }
    match identity::observe(observer.probe, record.pid) {
        Observed::Gone => Liveness::Gone,
        Observed::CannotTell(reason) => Liveness::CannotTell(reason),
        Observed::Running { start_ticks } => legacy_liveness(record, start_ticks),
    }
}

/// Judges an older record, which has no exact start ticks. Without any
/// start time a running PID counts as the owner, so the lock stays held.
fn legacy_liveness(record: &Record, start_ticks: u64) -> Liveness {
    let Some(seconds) = record.legacy_start_seconds else {
        return Liveness::Alive;
    };
    let running = start_ticks as f64 / identity::ticks_per_second() as f64;
    if (running - seconds).abs() <= 1.0 {
        Liveness::Alive
    } else {
        Liveness::Reused
    }
}

/// Returns a verdict when any member process may still be running: the
/// live members, or else the failure of a member probe.
fn members_verdict(observer: &Observer<'_>, record: &Record) -> Option<Verdict> {
    let mut pids = Vec::new();
    let mut unknown = None;
    for member in &record.members {
        match identity::liveness_with(observer.probe, member) {
            Liveness::Alive => pids.push(member.pid),
            Liveness::CannotTell(reason) => unknown = Some(reason),
            Liveness::Gone | Liveness::Reused | Liveness::OtherBoot => {}
        }
    }
    if !pids.is_empty() {
        return Some(Verdict::KeptByMembers { pids });
    }
    unknown.map(|reason| Verdict::CannotTell {
        reason: format!("the owner process has exited, and a member cannot be checked: {reason}"),
    })
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// A probe with one running process, or a fixed error for it.
    struct OneProcess {
        pid: u32,
        start_ticks: u64,
        error: Option<io::ErrorKind>,
    }

    impl Probe for OneProcess {
        fn stat(&self, pid: u32) -> io::Result<String> {
            if let Some(kind) = self.error {
                return Err(io::Error::from(kind));
            }
            if pid != self.pid {
                return Err(io::Error::from(io::ErrorKind::NotFound));
            }
            let middle = "1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0";
            Ok(format!("{pid} (x) S {middle} {} 1 1", self.start_ticks))
        }

        fn exists(&self, pid: u32) -> io::Result<()> {
            if pid == self.pid {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(
                    rustix::io::Errno::SRCH.raw_os_error(),
                ))
            }
        }

        fn boot_id(&self) -> io::Result<String> {
            Ok("boot".to_owned())
        }
    }

    fn own() -> ProcessIdentity {
        ProcessIdentity {
            pid: 10,
            start_ticks: 100,
            boot_id: "boot".to_owned(),
        }
    }

    fn record(pid: u32, start_ticks: u64) -> Record {
        let owner = ProcessIdentity {
            pid,
            start_ticks,
            boot_id: "boot".to_owned(),
        };
        Record::new(Uuid::new_v4(), &owner, "here")
    }

    fn judge_with(probe: &dyn Probe, record: &Record, requested: Option<Uuid>) -> Judgment {
        let own = own();
        let observer = Observer {
            probe,
            hostname: "here",
            boot_id: "boot",
            own: &own,
            requested,
        };
        judge(&observer, record)
    }

    fn alive(pid: u32, start_ticks: u64) -> OneProcess {
        OneProcess {
            pid,
            start_ticks,
            error: None,
        }
    }

    #[test]
    fn permission_error_is_held() {
        let probe = OneProcess {
            error: Some(io::ErrorKind::PermissionDenied),
            ..alive(20, 5)
        };
        let judgment = judge_with(&probe, &record(20, 5), None);
        assert!(
            matches!(judgment, Judgment::Held(Verdict::CannotTell { .. })),
            "{judgment:?}"
        );
    }

    #[test]
    fn permission_error_on_member_is_held() {
        let probe = OneProcess {
            error: Some(io::ErrorKind::PermissionDenied),
            ..alive(20, 5)
        };
        let mut stale = record(30, 5);
        stale.boot_id = Some("old boot".to_owned());
        stale.members.push(ProcessIdentity {
            pid: 20,
            start_ticks: 5,
            boot_id: "boot".to_owned(),
        });
        let judgment = judge_with(&probe, &stale, None);
        assert!(
            matches!(
                judgment,
                Judgment::HeldByMembers(Verdict::CannotTell { .. })
            ),
            "{judgment:?}"
        );
    }

    #[test]
    fn live_owner_is_held() {
        let judgment = judge_with(&alive(20, 5), &record(20, 5), None);
        assert_eq!(judgment, Judgment::Held(Verdict::Alive));
    }

    #[test]
    fn dead_owner_is_stale() {
        let judgment = judge_with(&alive(21, 5), &record(20, 5), None);
        assert_eq!(judgment, Judgment::Stale(TakeoverReason::OwnerDead));
    }

    #[test]
    fn reused_pid_is_stale() {
        let judgment = judge_with(&alive(20, 6), &record(20, 5), None);
        assert_eq!(judgment, Judgment::Stale(TakeoverReason::PidReused));
    }

    #[test]
    fn other_host_is_held() {
        let mut remote = record(20, 5);
        remote.hostname = Some("elsewhere".to_owned());
        let judgment = judge_with(&alive(99, 1), &remote, None);
        let expected = Verdict::OtherHost {
            hostname: "elsewhere".to_owned(),
        };
        assert_eq!(judgment, Judgment::Held(expected));
    }

    #[test]
    fn live_member_keeps_run_alive() {
        let mut kept = record(21, 5);
        kept.members.push(ProcessIdentity {
            pid: 20,
            start_ticks: 5,
            boot_id: "boot".to_owned(),
        });
        let probe = alive(20, 5);
        assert_eq!(
            judge_with(&probe, &kept, None),
            Judgment::HeldByMembers(Verdict::KeptByMembers { pids: vec![20] })
        );
        assert_eq!(
            judge_with(&probe, &kept, Some(kept.run_id)),
            Judgment::Continue
        );
    }

    #[test]
    fn same_run_with_dead_owner_continues() {
        let dead = record(21, 5);
        let judgment = judge_with(&alive(20, 5), &dead, Some(dead.run_id));
        assert_eq!(judgment, Judgment::Continue);
    }

    #[test]
    fn legacy_record_without_start_time() {
        let mut legacy = record(20, 5);
        legacy.process_start_time = None;
        legacy.boot_id = None;
        legacy.hostname = None;
        assert_eq!(
            judge_with(&alive(20, 999), &legacy, None),
            Judgment::Held(Verdict::Alive)
        );
        assert_eq!(
            judge_with(&alive(21, 999), &legacy, None),
            Judgment::Stale(TakeoverReason::OwnerDead)
        );
    }

    #[test]
    fn legacy_seconds_compare_within_one_second() {
        let ticks = identity::ticks_per_second();
        let mut legacy = record(20, 5);
        legacy.process_start_time = None;
        legacy.legacy_start_seconds = Some(50.5);
        assert_eq!(
            judge_with(&alive(20, 50 * ticks), &legacy, None),
            Judgment::Held(Verdict::Alive)
        );
        assert_eq!(
            judge_with(&alive(20, 80 * ticks), &legacy, None),
            Judgment::Stale(TakeoverReason::PidReused)
        );
    }
}
