//! The library API in one process: outcomes, members, heartbeat, release
//! checks and verified signals.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use runlock::{
    Acquisition, Liveness, Options, ProcessIdentity, TakeoverReason, Uuid, Verdict, acquire,
};

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    fn lock(&self) -> PathBuf {
        self.dir.path().join("dispatch-loop.lock")
    }
}

/// A `sleep` child, killed and reaped on drop.
struct Sleeper(Child);

impl Sleeper {
    fn new() -> Sleeper {
        Sleeper(
            Command::new("sleep")
                .arg("300")
                .spawn()
                .expect("spawn sleep"),
        )
    }

    fn identity(&self) -> ProcessIdentity {
        ProcessIdentity::of(self.0.id())
            .expect("probe sleep")
            .expect("sleep runs")
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn options(run_id: Option<Uuid>) -> Options {
    Options {
        run_id,
        ..Options::default()
    }
}

#[test]
fn own_pid_from_another_boot_is_taken_over() {
    let dir = Dir::new();
    let me = ProcessIdentity::current().expect("own identity");
    let mut stale = acquire(&dir.lock(), &options(None))
        .expect("acquire")
        .into_lock()
        .expect("free lock")
        .record()
        .clone();
    stale.boot_id = Some("an-earlier-boot".to_owned());
    assert_eq!(stale.pid, me.pid);
    std::fs::write(dir.lock(), stale.to_json()).expect("write the old record");

    match acquire(&dir.lock(), &options(None)).expect("acquire") {
        Acquisition::TookOver {
            previous, reason, ..
        } => {
            assert_eq!(reason, TakeoverReason::OtherBoot);
            assert_eq!(previous.map(|record| record.run_id), Some(stale.run_id));
        }
        other => panic!("expected a takeover, got {}", other.outcome()),
    }
}

#[test]
fn second_acquire_in_process_is_busy() {
    let dir = Dir::new();
    let held = acquire(&dir.lock(), &options(None)).expect("acquire");
    assert_eq!(held.outcome(), "acquired");
    match acquire(&dir.lock(), &options(None)).expect("acquire") {
        Acquisition::Busy(busy) => {
            assert_eq!(busy.verdict, Verdict::Alive);
            let owner = busy.owner.clone().expect("the owner's record");
            let lock = held.into_lock().expect("held");
            assert_eq!(owner.run_id, lock.run_id());
            assert!(busy.to_string().contains(&owner.run_id.to_string()));
        }
        other => panic!("expected busy, got {}", other.outcome()),
    }
}

#[test]
fn kept_run_with_live_member_continues_only_itself() {
    let dir = Dir::new();
    let member = Sleeper::new();
    let mut lock = acquire(&dir.lock(), &options(None))
        .expect("acquire")
        .into_lock()
        .expect("free lock");
    let run_id = lock.run_id();
    lock.set_members(&[member.identity()]).expect("set members");
    assert_eq!(lock.record().members, vec![member.identity()]);
    let mut kept = lock.record().clone();
    lock.keep().expect("keep");
    assert!(dir.lock().exists(), "keep leaves the record");

    // The owner has gone; only the member keeps the run alive.
    kept.pid = identity_of_dead_process();
    std::fs::write(dir.lock(), kept.to_json()).expect("write the record");

    // No process refreshes a kept run's heartbeat, so an old modification
    // time must not make it look hung.
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    let file = std::fs::File::open(dir.lock()).expect("open the lock");
    file.set_modified(old).expect("age the lock");
    match acquire(&dir.lock(), &options(None)).expect("acquire") {
        Acquisition::Busy(busy) => {
            let pids = vec![member.identity().pid];
            assert_eq!(busy.verdict, Verdict::KeptByMembers { pids });
        }
        other => panic!("expected busy, got {}", other.outcome()),
    }

    match acquire(&dir.lock(), &options(Some(run_id))).expect("acquire") {
        Acquisition::Continued(lock) => {
            assert_eq!(lock.run_id(), run_id);
            assert_eq!(lock.record().members, vec![member.identity()]);
            assert_eq!(lock.record().pid, std::process::id());
            lock.release().expect("release");
        }
        other => panic!("expected continued, got {}", other.outcome()),
    }
    assert!(!dir.lock().exists());
}

#[test]
fn dead_members_do_not_hold_the_lock() {
    let dir = Dir::new();
    let mut member = Sleeper::new();
    let identity = member.identity();
    let mut lock = acquire(&dir.lock(), &options(None))
        .expect("acquire")
        .into_lock()
        .expect("free lock");
    lock.set_members(&[identity]).expect("set members");
    let mut record = lock.record().clone();
    lock.keep().expect("keep");

    // The record's owner is a process that no longer exists.
    let _ = member.0.kill();
    let _ = member.0.wait();
    record.pid = identity_of_dead_process();
    std::fs::write(dir.lock(), record.to_json()).expect("write the record");

    let next = acquire(&dir.lock(), &options(None)).expect("acquire");
    assert_eq!(next.outcome(), "took_over");
}

fn identity_of_dead_process() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("reap true");
    pid
}

#[test]
fn heartbeat_moves_the_modification_time() {
    let dir = Dir::new();
    let mut lock = acquire(&dir.lock(), &options(None))
        .expect("acquire")
        .into_lock()
        .expect("free lock");
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let file = std::fs::File::open(dir.lock()).expect("open the lock");
    file.set_modified(old).expect("age the lock");
    lock.heartbeat().expect("heartbeat");
    let modified = std::fs::metadata(dir.lock())
        .expect("stat")
        .modified()
        .expect("mtime");
    assert!(modified > old + Duration::from_secs(60));
}

#[test]
fn status_sees_silence_by_its_own_clock() {
    let dir = Dir::new();
    let lock = acquire(&dir.lock(), &options(None))
        .expect("acquire")
        .into_lock()
        .expect("free lock");
    let old = std::time::SystemTime::now() - Duration::from_secs(120);
    std::fs::File::open(dir.lock())
        .expect("open")
        .set_modified(old)
        .expect("age the lock");
    let status = runlock::status(&dir.lock(), Duration::from_secs(60)).expect("status");
    assert_eq!(status.state, runlock::LockState::Held);
    assert_eq!(status.kernel_lock, Some(true));
    assert!(
        matches!(status.verdict, Some(Verdict::Silent { .. })),
        "{status:?}"
    );
    drop(lock);
}

#[test]
fn release_leaves_a_replaced_record() {
    let dir = Dir::new();
    let lock = acquire(&dir.lock(), &options(None))
        .expect("acquire")
        .into_lock()
        .expect("free lock");
    let mut other = lock.record().clone();
    other.run_id = Uuid::new_v4();
    let staged = dir.dir.path().join("staged");
    std::fs::write(&staged, other.to_json()).expect("stage");
    std::fs::rename(&staged, dir.lock()).expect("replace");
    lock.release().expect("release warns but succeeds");
    assert_eq!(
        std::fs::read_to_string(dir.lock()).expect("still there"),
        other.to_json()
    );
}

#[test]
fn wait_times_out_as_busy() {
    let dir = Dir::new();
    let _held = acquire(&dir.lock(), &options(None)).expect("acquire");
    let waiting = Options {
        wait: Some(Duration::from_millis(50)),
        ..Options::default()
    };
    let mut notices = 0;
    let mut notice = |_: &runlock::Busy| notices += 1;
    let hooks = runlock::Hooks {
        on_wait: Some(&mut notice),
        interrupted: None,
    };
    let outcome = runlock::acquire_with(&dir.lock(), &waiting, hooks).expect("acquire");
    assert_eq!(outcome.outcome(), "busy");
    assert_eq!(notices, 1, "one waiting notice");
}

#[test]
fn signal_verified_spares_a_different_identity() {
    let sleeper = Sleeper::new();
    let real = sleeper.identity();
    let mut recycled = real.clone();
    recycled.start_ticks += 1;
    assert_eq!(recycled.liveness(), Liveness::Reused);
    let signalled =
        runlock::signal_verified(&recycled, rustix::process::Signal::TERM).expect("signal check");
    assert!(!signalled, "a different start time must not be signalled");
    assert_eq!(real.liveness(), Liveness::Alive);

    let signalled = runlock::signal_verified(&real, rustix::process::Signal::TERM).expect("signal");
    assert!(signalled);
}

#[test]
fn missing_directory_names_it() {
    let error = acquire(
        std::path::Path::new("/nonexistent/dir/x.lock"),
        &options(None),
    )
    .err()
    .expect("an error");
    assert!(error.to_string().contains("/nonexistent/dir"), "{error}");
}
