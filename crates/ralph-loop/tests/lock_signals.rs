//! Signals, exit codes, release ownership checks and descriptor
//! inheritance of `lock run`.

mod support_lock;

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, SystemTime};

use support_lock::{
    Guard, Project, RUN_B, SIGHUP, SIGINT, SIGTERM, boot_id, hostname, record, sleeper,
    start_ticks, stderr, stdout, wait_for,
};

/// A small deterministic generator for signal delays, seeded from the clock
/// and printed so that a failing run can be repeated.
struct Delays(u64);

impl Delays {
    fn new() -> Delays {
        let seed = std::env::var("LOCK_SIGNAL_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|elapsed| elapsed.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("signal delays seeded with LOCK_SIGNAL_SEED={seed}");
        Delays(seed | 1)
    }

    fn below(&mut self, limit_ms: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_micros(self.0 % (limit_ms * 1000))
    }
}

/// Returns whether the lock was left behind, naming its owner if so.
fn leftover(project: &Project) -> Option<String> {
    project.read_lock()
}

#[test]
fn signals_at_random_moments_leave_no_lock() {
    let project = Project::new();
    let mut delays = Delays::new();
    let signals = [SIGTERM, SIGINT, SIGHUP];
    for round in 0..20 {
        let signal = signals[round % 3];
        let command: &[&str] = match round % 2 {
            0 => &[
                "lock",
                "run",
                "--heartbeat-interval",
                "0.01",
                "--",
                "sleep",
                "300",
            ],
            _ => &["lock", "run", "--", "true"],
        };
        let mut run = project.ralph(command);
        run.env("RALPH_LOG", "off");
        let mut run = Guard::spawn(run);
        std::thread::sleep(delays.below(40));
        run.signal(signal);
        if round % 4 == 1 {
            // A second signal during cleanup.
            std::thread::sleep(delays.below(3));
            run.signal(signal);
        }
        let status = run.wait();
        let expected = [Some(0), Some(128 + signal)];
        let killed_before_handlers = status.signal() == Some(signal);
        assert!(
            expected.contains(&status.code()) || killed_before_handlers,
            "round {round}: unexpected exit {status}"
        );
        assert_eq!(leftover(&project), None, "round {round}: lock left behind");
    }
}

#[test]
fn signal_while_waiting_leaves_holder_alone() {
    let project = Project::new();
    let mut delays = Delays::new();
    let mut holder = project.ralph(&["lock", "run", "--", "sleep", "300"]);
    holder.env("RALPH_LOG", "off");
    let _holder = Guard::spawn(holder);
    wait_for("the holder", Duration::from_secs(30), || {
        project.lock_path().exists()
    });
    let held = project.read_lock().expect("the holder's record");
    for round in 0..10 {
        let mut waiter = project.ralph(&["lock", "run", "--wait", "60", "--", "true"]);
        waiter.stderr(std::process::Stdio::null());
        let mut waiter = Guard::spawn(waiter);
        std::thread::sleep(delays.below(40));
        waiter.signal(SIGTERM);
        waiter.signal(SIGTERM);
        let status = waiter.wait();
        let by_handler = status.code() == Some(128 + SIGTERM);
        let by_default = status.signal() == Some(SIGTERM);
        assert!(
            by_handler || by_default,
            "round {round}: unexpected exit {status}"
        );
        assert_eq!(
            project.read_lock().as_deref(),
            Some(held.as_str()),
            "round {round}"
        );
    }
}

#[test]
fn signal_forwarded_to_command() {
    let project = Project::new();
    let script = r#"trap 'echo got-term > "$MARK"; exit 0' TERM; : > "$READY"; while :; do sleep 0.01; done"#;
    let mut run = project.ralph(&["lock", "run", "--", "sh", "-c", script]);
    run.env("MARK", project.path("mark"))
        .env("READY", project.path("ready"));
    let mut run = Guard::spawn(run);
    wait_for("the command to start", Duration::from_secs(30), || {
        project.path("ready").exists()
    });
    run.signal(SIGTERM);
    let status = run.wait();

    // The command trapped the forwarded SIGTERM and exited 0.
    assert_eq!(status.code(), Some(0));
    let mark = std::fs::read_to_string(project.path("mark")).expect("the trap ran");
    assert_eq!(mark.trim(), "got-term");
    assert!(!project.lock_path().exists());
}

#[test]
fn exit_codes_pass_through() {
    let project = Project::new();
    let code = project.run(&["lock", "run", "--", "sh", "-c", "exit 7"]);
    assert_eq!(code.status.code(), Some(7));

    let killed = project.run(&["lock", "run", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(killed.status.code(), Some(128 + SIGTERM));

    let usage = project.run(&["lock", "run"]);
    assert_eq!(usage.status.code(), Some(2));

    let missing = project.run(&["lock", "run", "--", "/nonexistent/command"]);
    assert_eq!(missing.status.code(), Some(127), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("/nonexistent/command"));
    assert!(!project.lock_path().exists());

    let not_executable = project.path("not-executable");
    std::fs::write(&not_executable, "#!/bin/sh\n").expect("write a script");
    let script = not_executable.to_str().expect("a UTF-8 path");
    let denied = project.run(&["lock", "run", "--", script]);
    assert_eq!(denied.status.code(), Some(126), "{}", stderr(&denied));
    assert!(stderr(&denied).contains(script), "{}", stderr(&denied));
    assert!(!project.lock_path().exists());
}

#[test]
fn command_does_not_inherit_the_lock() {
    let project = Project::new();
    let output = project.run(&["lock", "run", "--", "sh", "-c", "ls -l /proc/$$/fd"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let listing = stdout(&output);
    assert!(listing.contains("0 ->"), "{listing}");
    assert!(!listing.contains("dispatch-loop.lock"), "{listing}");
}

#[test]
fn release_after_replacement_leaves_file_untouched() {
    let project = Project::new();
    let script = r#": > "$READY"; while [ ! -e "$GO" ]; do sleep 0.01; done"#;
    let mut run = project.ralph(&["lock", "run", "--", "sh", "-c", script]);
    run.env("READY", project.path("ready"))
        .env("GO", project.path("go"))
        .stderr(File::create(project.path("run.err")).expect("create stderr file"));
    let mut run = Guard::spawn(run);
    wait_for("the command to start", Duration::from_secs(30), || {
        project.path("ready").exists()
    });

    // Another run's record, renamed over the path as a takeover would.
    let other = sleeper();
    let content = record(
        RUN_B,
        other.pid,
        start_ticks(other.pid),
        &boot_id(),
        &hostname(),
    );
    let staged = project.ralph_dir().join("staged");
    std::fs::write(&staged, &content).expect("write the other record");
    std::fs::rename(&staged, project.lock_path()).expect("replace the lock");

    std::fs::write(project.path("go"), "").expect("let the command finish");
    let status = run.wait();
    assert!(status.success(), "{status}");
    let text = std::fs::read_to_string(project.path("run.err")).expect("read stderr");
    assert!(text.contains("left the run lock"), "{text}");
    assert_eq!(project.read_lock().as_deref(), Some(content.as_str()));
    let release = project
        .events()
        .into_iter()
        .rfind(|e| e["event"] == "release");
    assert_eq!(release.expect("a release event")["outcome"], "left");
}
