//! Exclusion under contention, proved with many real processes and an
//! external checker that logs `enter PID` / `leave PID` with `O_APPEND`.

mod support_lock;

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support_lock::{BIN, Guard, Project, RUN_A, check_log, dead_record, stderr, wait_for};

/// The checker: one `sh` that appends `enter` and `leave` lines to `$LOG`.
const CHECKER: &str = r#"echo "enter $$" >> "$LOG"; echo "leave $$" >> "$LOG""#;

/// A worker that runs the checker under the lock `$ROUNDS` times.
const WORKER: &str = r#"
i=0
while [ "$i" -lt "$ROUNDS" ]; do
  "$BIN" -C "$ROOT" lock run --wait 600 -- sh -c "$CHECKER" || exit 1
  i=$((i + 1))
done
"#;

fn spawn_workers(project: &Project, workers: usize, rounds: usize, no_flock: bool) -> Vec<Guard> {
    (0..workers)
        .map(|_| {
            let mut command = Command::new("sh");
            command
                .args(["-c", WORKER])
                .env("BIN", BIN)
                .env("ROOT", project.root())
                .env("LOG", project.path("checker.log"))
                .env("CHECKER", CHECKER)
                .env("ROUNDS", rounds.to_string())
                .env_remove("RALPH_LOG")
                .stderr(Stdio::null());
            if no_flock {
                command.env("RUNLOCK_NO_FLOCK", "1");
            } else {
                command.env_remove("RUNLOCK_NO_FLOCK");
            }
            Guard::spawn(command)
        })
        .collect()
}

fn assert_exclusive(project: &Project, workers: &mut [Guard], expected_entries: usize) {
    for worker in workers.iter_mut() {
        let status = worker.wait();
        assert!(status.success(), "a worker failed: {status}");
    }
    let log = std::fs::read_to_string(project.path("checker.log")).expect("read the checker log");
    let (overlap, entries) = check_log(&log);
    assert_eq!(overlap, None, "two holders at once");
    assert_eq!(entries, expected_entries);
    assert!(!project.lock_path().exists(), "the lock was left behind");
}

#[test]
fn sixteen_processes_never_overlap() {
    let project = Project::new();
    let mut workers = spawn_workers(&project, 16, 200, false);
    assert_exclusive(&project, &mut workers, 16 * 200);
}

#[test]
fn fallback_without_flock_still_excludes() {
    let project = Project::new();
    let mut workers = spawn_workers(&project, 4, 25, true);
    assert_exclusive(&project, &mut workers, 4 * 25);
}

/// Makes a FIFO and opens it read-write, so that readers can open it
/// without blocking and all see end of file when it is closed.
fn open_fifo(path: &Path) -> File {
    if !path.exists() {
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            path,
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .expect("make a FIFO");
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the FIFO")
}

/// A contender that waits at the barrier `$GO`, then tries the lock once;
/// the winner holds it until `$HOLD` is closed.
const CONTENDER: &str = r#"
exec 3< "$GO"
: > "$READY/$$"
read -r line <&3 || true
exec "$BIN" -C "$ROOT" lock run -- sh -c 'exec 4< "$HOLD"; : > "$HELD"; read -r line <&4 || true'
"#;

fn spawn_contender(project: &Project) -> Guard {
    let mut command = Command::new("sh");
    command
        .args(["-c", CONTENDER])
        .env("BIN", BIN)
        .env("ROOT", project.root())
        .env("GO", project.path("go"))
        .env("HOLD", project.path("hold"))
        .env("READY", project.path("ready"))
        .env("HELD", project.path("held"))
        .stderr(Stdio::null())
        .env_remove("RALPH_LOG")
        .env_remove("RUNLOCK_NO_FLOCK");
    Guard::spawn(command)
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[test]
fn eight_contenders_on_stale_lock_one_wins() {
    let project = Project::new();
    let stale = dead_record(RUN_A);
    let ready = project.path("ready");
    for round in 0..100 {
        std::fs::create_dir_all(&ready).expect("create the ready directory");
        project.write_lock(&stale);
        let go = open_fifo(&project.path("go"));
        let hold = open_fifo(&project.path("hold"));
        let mut contenders: Vec<Guard> = (0..8).map(|_| spawn_contender(&project)).collect();
        wait_for(
            "8 contenders at the barrier",
            Duration::from_secs(60),
            || count_files(&ready) == 8,
        );
        drop(go);

        // Seven must give up at once; the winner holds until `hold` closes.
        let mut codes = Vec::new();
        wait_for(
            "7 contenders to report busy",
            Duration::from_secs(60),
            || {
                for contender in contenders.iter_mut() {
                    if let Some(child) = contender.child.as_mut()
                        && let Ok(Some(status)) = child.try_wait()
                    {
                        codes.push(status.code());
                        contender.child = None;
                    }
                }
                codes.len() >= 7
            },
        );

        // The winner must have opened `hold` before it closes, or its
        // open would block with no writer left.
        wait_for("the winner to hold", Duration::from_secs(60), || {
            project.path("held").exists()
        });
        drop(hold);
        for contender in contenders.iter_mut() {
            if contender.child.is_some() {
                codes.push(contender.wait().code());
            }
        }
        let winners = codes.iter().filter(|code| **code == Some(0)).count();
        let busy = codes.iter().filter(|code| **code == Some(3)).count();
        assert_eq!(winners, 1, "round {round}: exit codes {codes:?}");
        assert_eq!(busy, 7, "round {round}: exit codes {codes:?}");
        std::fs::remove_dir_all(&ready).expect("clear the ready directory");
        std::fs::remove_file(project.path("held")).expect("remove the held marker");
    }
    let outcomes = project.acquire_outcomes();
    let took_over = outcomes.iter().filter(|o| *o == "took_over").count();
    let busy = outcomes.iter().filter(|o| *o == "busy").count();
    assert_eq!(took_over, 100);
    assert_eq!(busy, 700);
}

/// A holder that opens `$HOLD`, logs `enter`, waits for `$HOLD` to close,
/// then logs `leave`.
const HOLDER: &str = r#"exec 4< "$HOLD"; echo "enter $$" >> "$LOG"; read -r line <&4 || true; echo "leave $$" >> "$LOG""#;

#[test]
fn waiter_and_newcomer_after_release_never_overlap() {
    let project = Project::new();
    let log = project.path("checker.log");
    for round in 0..20 {
        let hold = open_fifo(&project.path("hold"));
        let mut holder = project.ralph(&["lock", "run", "--", "sh", "-c", HOLDER]);
        holder.env("LOG", &log).env("HOLD", project.path("hold"));
        let mut holder = Guard::spawn(holder);
        wait_for("the holder to enter", Duration::from_secs(30), || {
            std::fs::read_to_string(&log).is_ok_and(|text| text.lines().count() % 2 == 1)
        });

        let waiter_err = project.path("waiter.err");
        let mut waiter = project.ralph(&["lock", "run", "--wait", "60", "--", "sh", "-c", CHECKER]);
        waiter
            .env("LOG", &log)
            .stderr(File::create(&waiter_err).expect("create the waiter's stderr"));
        let mut waiter = Guard::spawn(waiter);
        wait_for("the waiter to wait", Duration::from_secs(30), || {
            std::fs::read_to_string(&waiter_err).is_ok_and(|text| text.contains("waiting for"))
        });

        // Release, and start a newcomer right away.
        drop(hold);
        let mut newcomer =
            project.ralph(&["lock", "run", "--wait", "60", "--", "sh", "-c", CHECKER]);
        newcomer.env("LOG", &log);
        let mut newcomer = Guard::spawn(newcomer);

        for (name, guard) in [
            ("holder", &mut holder),
            ("waiter", &mut waiter),
            ("newcomer", &mut newcomer),
        ] {
            let status = guard.wait();
            assert!(
                status.success(),
                "round {round}: the {name} failed: {status}"
            );
        }
        std::fs::remove_file(project.path("hold")).expect("remove the FIFO");
    }
    let text = std::fs::read_to_string(&log).expect("read the checker log");
    let (overlap, entries) = check_log(&text);
    assert_eq!(overlap, None, "two holders at once");
    assert_eq!(entries, 60);
}

#[test]
fn fallback_warns_once_and_reports_busy() {
    let project = Project::new();
    let hold = open_fifo(&project.path("hold"));
    let mut holder = project.ralph(&["lock", "run", "--", "sh", "-c", HOLDER]);
    holder
        .env("RUNLOCK_NO_FLOCK", "1")
        .env("LOG", project.path("checker.log"))
        .env("HOLD", project.path("hold"));
    let mut holder = Guard::spawn(holder);
    wait_for("the holder to enter", Duration::from_secs(30), || {
        project.path("checker.log").exists()
    });

    let mut contender = project.ralph(&["lock", "run", "--", "true"]);
    contender.env("RUNLOCK_NO_FLOCK", "1");
    let output = contender.output().expect("run a contender");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert_eq!(text.matches("flock is not supported").count(), 1, "{text}");
    assert!(text.contains("alive"), "{text}");

    drop(hold);
    assert!(holder.wait().success());
    assert!(!project.lock_path().exists());
}
