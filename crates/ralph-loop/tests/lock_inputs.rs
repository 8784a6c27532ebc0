//! Hostile or broken paths and records, the event log, `lock status
//! --json`, and project directory discovery.

mod support_lock;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use support_lock::{BIN, Guard, Project, RUN_A, dead_record, stderr, stdout, wait_for};

#[test]
fn symlink_at_lock_path_is_rejected() {
    let project = Project::new();
    let precious = project.path("precious.txt");
    std::fs::write(&precious, "keep me").expect("write the target");
    std::os::unix::fs::symlink(&precious, project.lock_path()).expect("plant a symlink");

    for args in [
        &["lock", "run", "--", "true"][..],
        &["lock", "status"],
        &["lock", "break", "--yes"],
    ] {
        let output = project.run(args);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.contains("symbolic link"), "{args:?}: {text}");
        assert!(
            text.contains(&project.lock_path().display().to_string()),
            "{text}"
        );
    }
    assert_eq!(std::fs::read_to_string(&precious).expect("read"), "keep me");
    let meta = std::fs::symlink_metadata(project.lock_path()).expect("the link remains");
    assert!(meta.file_type().is_symlink());
}

#[test]
fn directory_at_lock_path_is_rejected() {
    let project = Project::new();
    std::fs::create_dir(project.lock_path()).expect("make a directory");
    let output = project.run(&["lock", "run", "--", "true"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("not a regular file (directory)"), "{text}");
    assert!(project.lock_path().is_dir());
}

/// Root ignores directory permissions, so as root the binary runs as
/// `nobody`; the temporary directories are opened up for it.
fn run_unprivileged(project: &Project, args: &[&str]) -> std::process::Output {
    let mut command = project.ralph(args);
    if rustix::process::geteuid().is_root() {
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(project.root(), open).expect("open the project directory");
        command.uid(65534).gid(65534);
    }
    command.output().expect("run ralph-loop")
}

#[test]
fn read_only_directory_gives_clear_error() {
    let project = Project::new();
    let read_only = std::fs::Permissions::from_mode(0o555);
    std::fs::set_permissions(project.ralph_dir(), read_only).expect("make it read-only");
    let output = run_unprivileged(&project, &["lock", "run", "--", "true"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
    assert!(
        text.contains(&project.lock_path().display().to_string()),
        "{text}"
    );
    let writable = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(project.ralph_dir(), writable).expect("restore permissions");
}

#[test]
fn read_only_directory_still_reports_busy() {
    let project = Project::new();
    let mut holder = project.ralph(&["lock", "run", "--", "sleep", "300"]);
    holder.env("RALPH_LOG", "off");
    let _holder = Guard::spawn(holder);
    wait_for("the holder", Duration::from_secs(30), || {
        project.lock_path().exists()
    });
    let read_only = std::fs::Permissions::from_mode(0o555);
    std::fs::set_permissions(project.ralph_dir(), read_only).expect("make it read-only");

    let output = run_unprivileged(&project, &["lock", "run", "--", "true"]);
    let writable = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(project.ralph_dir(), writable).expect("restore permissions");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(text.contains("alive"), "{text}");
}

/// Fills a small tmpfs in a private mount namespace, then runs the lock.
const DISK_FULL: &str = r#"
mount -t tmpfs -o size=64k tmpfs "$DIR" || exit 90
mkdir -p "$DIR/.tf/ralph"
dd if=/dev/zero of="$DIR/fill" bs=1k 2>/dev/null
"$BIN" -C "$DIR" lock run -- true
"#;

#[test]
fn full_disk_gives_clear_error() {
    let project = Project::new();
    let dir = project.path("small");
    std::fs::create_dir(&dir).expect("make the mount point");
    let mut attempts = vec![
        vec!["--mount"],
        vec!["--user", "--map-root-user", "--mount"],
    ];
    if !rustix::process::geteuid().is_root() {
        attempts.reverse();
    }
    for flags in attempts {
        let output = Command::new("unshare")
            .args(&flags)
            .args(["sh", "-c", DISK_FULL])
            .env("DIR", &dir)
            .env("BIN", BIN)
            .env_remove("RALPH_LOG")
            .output();
        let Ok(output) = output else {
            break;
        };
        let text = stderr(&output);
        let no_namespace = text.starts_with("unshare:");
        if output.status.code() == Some(90) || no_namespace {
            continue;
        }
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(text.contains("No space left on device"), "{text}");
        assert!(text.contains("dispatch-loop.lock"), "{text}");
        return;
    }
    eprintln!("skipped: no `unshare` or mount namespace for a small tmpfs here");
}

fn assert_moved_aside(project: &Project, content: &[u8]) {
    let output = project.run(&["lock", "run", "--", "true"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("moved the unreadable run lock"), "{text}");
    assert!(
        text.contains(&project.lock_path().display().to_string()),
        "{text}"
    );
    let moved: Vec<_> = std::fs::read_dir(project.ralph_dir())
        .expect("list .tf/ralph")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().contains(".corrupt."))
        .collect();
    assert_eq!(moved.len(), 1, "one file moved aside");
    let kept = std::fs::read(moved[0].path()).expect("read the moved file");
    assert!(kept == content, "the moved file must keep its content");
    std::fs::remove_file(moved[0].path()).expect("clean up");
}

#[test]
fn oversized_record_is_reported_and_moved_aside() {
    let project = Project::new();
    let garbage: Vec<u8> = (0..10 * 1024 * 1024u32)
        .map(|i| (i * 7 + 3) as u8)
        .collect();
    std::fs::write(project.lock_path(), &garbage).expect("write garbage");

    let status = project.status_json();
    assert_eq!(status["state"], "unreadable");
    let problem = status["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("larger than 65536 bytes"), "{problem}");
    assert_moved_aside(&project, &garbage);
}

#[test]
fn unreadable_records_are_moved_aside() {
    let project = Project::new();
    let truncated = &dead_record(RUN_A)[..40];
    for content in ["", "not json at all {", truncated, "{\"runId\": 5}"] {
        project.write_lock(content);
        project.age_lock(60);
        let status = project.status_json();
        assert_eq!(status["state"], "unreadable", "{content:?}");
        assert_moved_aside(&project, content.as_bytes());
    }
}

#[test]
fn fresh_empty_file_is_busy() {
    let project = Project::new();
    project.write_lock("");
    let output = project.run(&["lock", "run", "--", "true"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(
        text.starts_with("busy: the lock file is empty and only "),
        "{text}"
    );
    assert!(
        text.contains("another ralph-loop may be writing it"),
        "{text}"
    );
    assert!(!text.contains("held by a live process"), "{text}");
    assert_eq!(project.read_lock().as_deref(), Some(""));

    project.age_lock(60);
    let output = project.run(&["lock", "run", "--", "true"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn events_log_every_attempt_and_release() {
    let project = Project::new();
    project.write_lock(&dead_record(RUN_A));
    let output = project.run(&["lock", "run", "--", "true"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let events = project.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let (acquire, release) = (&events[0], &events[1]);
    assert_eq!(acquire["event"], "acquire");
    assert_eq!(acquire["outcome"], "took_over");
    assert_eq!(acquire["attempts"], 1);
    assert!(acquire["waited_ms"].is_u64());
    assert!(acquire["time"].is_string());
    assert_eq!(acquire["previous"]["runId"], RUN_A);
    assert_eq!(release["event"], "release");
    assert_eq!(release["outcome"], "released");
    assert_eq!(release["runId"], acquire["runId"]);
    assert_eq!(release["pid"], acquire["pid"]);
}

#[test]
fn busy_event_names_the_holder() {
    let project = Project::new();
    let sleep = support_lock::sleeper();
    let ticks = support_lock::start_ticks(sleep.pid);
    let (boot, host) = (support_lock::boot_id(), support_lock::hostname());
    project.write_lock(&support_lock::record(RUN_A, sleep.pid, ticks, &boot, &host));
    let busy = project.run(&["lock", "run", "--", "true"]);
    assert_eq!(busy.status.code(), Some(3), "{}", stderr(&busy));

    let status = stdout(&project.run(&["lock", "status"]));
    assert!(
        status.contains(&format!("acquire busy held by run {RUN_A} pid")),
        "{status}"
    );
    assert!(!status.contains("run -"), "{status}");
}

/// Starts `lock run` holding the lock for 300 s with heartbeats 600 s apart,
/// and sets its heartbeat 45 s into the past.
fn holder_silent_for_45s(project: &Project) -> Guard {
    let mut holder = project.ralph(&[
        "lock",
        "run",
        "--heartbeat-interval",
        "600",
        "--",
        "sleep",
        "300",
    ]);
    holder.env("RALPH_LOG", "off");
    let holder = Guard::spawn(holder);
    wait_for("the holder", Duration::from_secs(30), || {
        project.lock_path().exists()
    });
    project.age_lock(45);
    holder
}

#[test]
fn silence_threshold_comes_from_config() {
    let project = Project::new();
    let _holder = holder_silent_for_45s(&project);
    assert_eq!(project.status_json()["verdict"], "alive", "default is 60 s");

    let config = project.ralph_dir().join("config.json");
    std::fs::write(&config, r#"{"silenceThresholdMs": 30000}"#).expect("write the config");
    assert_eq!(project.status_json()["verdict"], "silent");
    let busy = project.run(&["lock", "run", "--", "true"]);
    assert!(
        stderr(&busy).contains("silent for 45s"),
        "{}",
        stderr(&busy)
    );

    let flag = project.run(&["lock", "status", "--json", "--silence-threshold", "50"]);
    let status: serde_json::Value = serde_json::from_slice(&flag.stdout).expect("JSON");
    assert_eq!(status["verdict"], "alive", "the option wins over the file");

    std::fs::write(&config, r#"{"silenceThresholdMs": "soon"}"#).expect("write the config");
    let invalid = project.run(&["lock", "status"]);
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        stderr(&invalid).contains("silenceThresholdMs"),
        "{}",
        stderr(&invalid)
    );
}

#[test]
fn events_log_is_rotated() {
    let project = Project::new();
    let log = project.ralph_dir().join("lock-events.jsonl");
    let line = "{\"event\":\"filler\"}\n";
    std::fs::write(&log, line.repeat(1024 * 1024 / line.len() + 1)).expect("fill the log");
    let output = project.run(&["lock", "run", "--", "true"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rotated = project.ralph_dir().join("lock-events.jsonl.1");
    assert!(rotated.exists(), "the full log was rotated");
    let size = std::fs::metadata(&log).expect("a fresh log").len();
    assert!(
        size < 4096,
        "the fresh log holds only new events: {size} bytes"
    );
}

#[test]
fn status_json_reports_a_live_holder() {
    let project = Project::new();
    let free = project.status_json();
    assert_eq!(free["state"], "free");
    assert!(free["holder"].is_null());

    let mut holder = project.ralph(&["lock", "run", "--", "sleep", "300"]);
    holder.env("RALPH_LOG", "off");
    let _holder = Guard::spawn(holder);
    wait_for("the holder", Duration::from_secs(30), || {
        project.lock_path().exists()
    });
    let held = project.status_json();
    assert_eq!(held["state"], "held");
    assert_eq!(held["verdict"], "alive");
    assert_eq!(held["kernel_lock"], true);
    assert!(held["holder"]["runId"].is_string());
    assert!(held["holder"]["processStartTime"].is_u64());
    assert!(held["age_seconds"].is_f64());
    assert!(held["heartbeat_silence_seconds"].is_f64());
    assert!(
        held["events"]
            .as_array()
            .is_some_and(|events| !events.is_empty())
    );

    let human = project.run(&["lock", "status"]);
    assert!(
        stdout(&human).contains("held (alive)"),
        "{}",
        stdout(&human)
    );
}

#[test]
fn status_reports_a_stale_lock() {
    let project = Project::new();
    project.write_lock(&dead_record(RUN_A));
    let status = project.status_json();
    assert_eq!(status["state"], "stale");
    assert_eq!(status["stale_reason"], "owner_dead");
    assert_eq!(status["holder"]["runId"], RUN_A);

    let broken = project.run(&["lock", "break", "--yes"]);
    assert_eq!(broken.status.code(), Some(0), "{}", stderr(&broken));
    assert!(stdout(&broken).contains(RUN_A));
    assert!(!project.lock_path().exists());
}

#[test]
fn break_moves_unreadable_record_aside() {
    let project = Project::new();
    project.write_lock("{ torn");
    let output = project.run(&["lock", "break", "--yes"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains(".corrupt."), "{}", stdout(&output));
    assert!(!project.lock_path().exists());
    let kept = std::fs::read_dir(project.ralph_dir())
        .expect("list .tf/ralph")
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().contains(".corrupt."))
        .expect("the record was moved aside");
    assert_eq!(
        std::fs::read_to_string(kept.path()).expect("read"),
        "{ torn"
    );
}

#[test]
fn break_without_yes_and_terminal_refuses() {
    let project = Project::new();
    let content = dead_record(RUN_A);
    project.write_lock(&content);
    let output = project.run(&["lock", "break"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--yes"), "{}", stderr(&output));
    assert_eq!(project.read_lock().as_deref(), Some(content.as_str()));
}

#[test]
fn project_found_by_walking_up() {
    let project = Project::new();
    let nested = project.path("a/b");
    std::fs::create_dir_all(&nested).expect("make nested directories");
    let output = Command::new(BIN)
        .args(["lock", "run", "--", "true"])
        .current_dir(&nested)
        .output()
        .expect("run ralph-loop");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(project.ralph_dir().join("lock-events.jsonl").exists());
    assert!(!nested.join(".tf").exists());
}

#[test]
fn lock_run_creates_state_directory() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let output = Command::new(BIN)
        .args(["lock", "run", "--", "true"])
        .current_dir(dir.path())
        .output()
        .expect("run ralph-loop");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join(".tf/ralph").is_dir());

    let outside = tempfile::tempdir().expect("create a temporary directory");
    let status = Command::new(BIN)
        .args(["lock", "status"])
        .current_dir(outside.path())
        .output()
        .expect("run ralph-loop");
    assert_eq!(status.status.code(), Some(1));
    assert!(
        stderr(&status).contains("no `.tf/` directory"),
        "{}",
        stderr(&status)
    );
}
