//! Owner identity: dead, reused, from another boot or host, older record
//! shapes, a SIGKILLed holder, a stopped holder, and odd command names.

mod support_lock;

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use support_lock::{
    Guard, Project, RUN_A, SIGKILL, SIGSTOP, boot_id, dead_record, hostname, record, sleeper,
    start_ticks, stderr, stdout, wait_for,
};

fn last_acquire(project: &Project) -> serde_json::Value {
    project
        .events()
        .into_iter()
        .rfind(|event| event["event"] == "acquire")
        .expect("an acquire event")
}

fn clock_ticks_per_second() -> f64 {
    let output = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("run getconf");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK is a number")
}

#[test]
fn sigkilled_holder_is_taken_over_at_once() {
    let project = Project::new();
    let script = r#"sleep 300 & echo $! > "$CHILD_PID"; wait"#;
    let mut holder = project.ralph(&["lock", "run", "--", "sh", "-c", script]);
    holder.env("CHILD_PID", project.path("child.pid"));
    let mut holder = Guard::spawn(holder);
    wait_for("the holder's child", Duration::from_secs(30), || {
        std::fs::read_to_string(project.path("child.pid")).is_ok_and(|text| text.ends_with('\n'))
    });
    let child_pid: u32 = std::fs::read_to_string(project.path("child.pid"))
        .expect("read the child's pid")
        .trim()
        .parse()
        .expect("the child's pid is a number");

    holder.signal(SIGKILL);
    holder.wait();

    // One attempt, no wait: the kernel dropped the dead holder's lock, and
    // the child still running did not inherit it.
    let output = project.run(&["lock", "run", "--", "true"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let event = last_acquire(&project);
    assert_eq!(event["outcome"], "took_over");
    assert_eq!(event["reason"], "owner_dead");
    let child = runlock::ProcessIdentity::of(child_pid).expect("probe the child");
    assert!(child.is_some(), "the holder's child should still run");
}

#[test]
fn live_process_with_other_start_ticks_is_reused() {
    let project = Project::new();
    let sleep = sleeper();
    let ticks = start_ticks(sleep.pid);
    project.write_lock(&record(
        RUN_A,
        sleep.pid,
        ticks + 1,
        &boot_id(),
        &hostname(),
    ));

    let output = project.run(&["lock", "run", "--", "true"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let event = last_acquire(&project);
    assert_eq!(event["outcome"], "took_over");
    assert_eq!(event["reason"], "pid_reused");
    assert_eq!(event["previous"]["runId"], RUN_A);
}

#[test]
fn live_process_with_its_identity_is_busy() {
    let project = Project::new();
    let sleep = sleeper();
    let content = record(
        RUN_A,
        sleep.pid,
        start_ticks(sleep.pid),
        &boot_id(),
        &hostname(),
    );
    project.write_lock(&content);

    let output = project.run(&["lock", "run", "--", "true"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(text.contains(RUN_A), "{text}");
    assert!(text.contains("alive"), "{text}");
    assert_eq!(project.read_lock().as_deref(), Some(content.as_str()));
}

#[test]
fn other_boot_is_taken_over() {
    let project = Project::new();
    let sleep = sleeper();
    let ticks = start_ticks(sleep.pid);
    project.write_lock(&record(
        RUN_A,
        sleep.pid,
        ticks,
        "an-earlier-boot",
        &hostname(),
    ));

    let output = project.run(&["lock", "run", "--", "true"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(last_acquire(&project)["reason"], "other_boot");
}

#[test]
fn fallback_without_flock_takes_over_dead_owner() {
    let project = Project::new();
    project.write_lock(&dead_record(RUN_A));
    let mut run = project.ralph(&["lock", "run", "--", "true"]);
    run.env("RUNLOCK_NO_FLOCK", "1");
    let output = run.output().expect("run ralph-loop");
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("flock is not supported"), "{text}");
    let event = last_acquire(&project);
    assert_eq!(event["outcome"], "took_over");
    assert_eq!(event["reason"], "owner_dead");
    assert!(!project.lock_path().exists());
}

#[test]
fn other_hostname_is_busy_cannot_tell() {
    let project = Project::new();
    let content = dead_record(RUN_A).replace(&hostname(), "some-other-host");
    project.write_lock(&content);

    let output = project.run(&["lock", "run", "--", "true"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(text.contains("cannot tell"), "{text}");
    assert!(text.contains("some-other-host"), "{text}");
    assert_eq!(project.read_lock().as_deref(), Some(content.as_str()));
}

/// Returns the three older record shapes for `pid`, whose start time in
/// seconds is `seconds`.
fn older_shapes(pid: u32, seconds: f64) -> Vec<(&'static str, String)> {
    let base = json!({"runId": RUN_A, "pid": pid, "startedAt": "2025-06-01T10:00:00Z"});
    let mut float = base.clone();
    float["processStartTime"] = json!(seconds);
    let mut null = base.clone();
    null["processStartTime"] = json!(null);
    vec![
        ("float seconds", float.to_string()),
        ("null start time", null.to_string()),
        ("missing start time", base.to_string()),
        ("text form", format!("{RUN_A} {pid} 2025-06-01T10:00:00Z\n")),
    ]
}

#[test]
fn older_shapes_with_live_owner_are_busy() {
    let project = Project::new();
    let sleep = sleeper();
    let seconds = start_ticks(sleep.pid) as f64 / clock_ticks_per_second();
    for (shape, content) in older_shapes(sleep.pid, seconds) {
        project.write_lock(&content);
        let output = project.run(&["lock", "run", "--", "true"]);
        assert_eq!(
            output.status.code(),
            Some(3),
            "{shape}: {}",
            stderr(&output)
        );
        assert_eq!(
            project.read_lock().as_deref(),
            Some(content.as_str()),
            "{shape}"
        );
    }
}

#[test]
fn older_shapes_with_dead_owner_are_taken_over() {
    let project = Project::new();
    let dead: serde_json::Value = serde_json::from_str(&dead_record(RUN_A)).expect("JSON");
    let pid = u32::try_from(dead["pid"].as_u64().expect("pid")).expect("pid fits");
    for (shape, content) in older_shapes(pid, 12.0) {
        project.write_lock(&content);
        let output = project.run(&["lock", "run", "--", "true"]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{shape}: {}",
            stderr(&output)
        );
        assert_eq!(last_acquire(&project)["outcome"], "took_over", "{shape}");
        assert!(!project.lock_path().exists(), "{shape}");
    }
}

#[test]
fn float_seconds_of_other_process_is_reused() {
    let project = Project::new();
    let sleep = sleeper();
    let seconds = start_ticks(sleep.pid) as f64 / clock_ticks_per_second();
    let (_, content) = older_shapes(sleep.pid, seconds - 30.0).remove(0);
    project.write_lock(&content);
    let output = project.run(&["lock", "run", "--", "true"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(last_acquire(&project)["reason"], "pid_reused");
}

/// Returns a record of run A whose owner has exited while `member` lives
/// on as its session supervisor.
fn record_kept_by(member: u32) -> String {
    let mut content: serde_json::Value =
        serde_json::from_str(&dead_record(RUN_A)).expect("a JSON record");
    content["members"] = json!([{
        "pid": member,
        "startTicks": start_ticks(member),
        "bootId": boot_id(),
    }]);
    content.to_string()
}

#[test]
fn exited_owner_kept_by_members_is_named() {
    let project = Project::new();
    std::fs::create_dir_all(project.path(".tickets")).expect("create .tickets");
    let member = sleeper();
    project.write_lock(&record_kept_by(member.pid));
    let kept = format!(
        "1 session supervisor (pid {}) keeps the run alive",
        member.pid
    );

    let status = project.status_json();
    assert_eq!(status["state"], "held");
    assert_eq!(status["verdict"], "kept_by_members");
    let detail = status["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("owner process has exited"), "{detail}");
    assert!(detail.contains(&kept), "{detail}");

    let human = stdout(&project.run(&["lock", "status"]));
    assert!(human.contains(", exited"), "{human}");
    assert!(
        human.contains(&format!("members:   {} alive", member.pid)),
        "{human}"
    );

    let overview = project.run(&["status"]);
    let text = stdout(&overview);
    assert!(overview.status.success(), "{}", stderr(&overview));
    assert!(text.contains(&kept), "{text}");
    assert!(!text.contains(": alive"), "{text}");
    assert!(!text.contains("heartbeat"), "{text}");

    let busy = project.run(&["lock", "run", "--", "true"]);
    let text = stderr(&busy);
    assert_eq!(busy.status.code(), Some(3), "{text}");
    assert!(
        text.starts_with("busy: the run lock is held by run"),
        "{text}"
    );
    assert!(text.contains(&kept), "{text}");

    let refused = project.run(&["lock", "break", "--yes"]);
    let text = stderr(&refused);
    assert_eq!(refused.status.code(), Some(3), "{text}");
    assert!(
        text.starts_with("busy: the run lock is held by run"),
        "{text}"
    );
    assert!(project.lock_path().exists());
}

#[test]
fn stopped_holder_and_break_hung() {
    let project = Project::new();
    let mut holder = project.ralph(&[
        "lock",
        "run",
        "--heartbeat-interval",
        "0.05",
        "--",
        "sleep",
        "300",
    ]);
    holder.env("RALPH_LOG", "off");
    let mut holder = Guard::spawn(holder);
    wait_for(
        "the holder to take the lock",
        Duration::from_secs(30),
        || project.lock_path().exists(),
    );
    let status = project.status_json();
    assert_eq!(status["state"], "held");
    assert_eq!(status["verdict"], "alive");

    holder.signal(SIGSTOP);
    let threshold = ["--silence-threshold", "0.5"];
    wait_for(
        "the heartbeat to fall silent",
        Duration::from_secs(30),
        || {
            let output = project.run(&["lock", "status", "--json", threshold[0], threshold[1]]);
            let status: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
            status["verdict"] == "silent"
        },
    );

    let busy = project.run(&["lock", "run", threshold[0], threshold[1], "--", "true"]);
    let text = stderr(&busy);
    assert_eq!(busy.status.code(), Some(3), "{text}");
    assert!(text.contains("silent"), "{text}");
    assert!(
        project.lock_path().exists(),
        "a silent owner is never taken over"
    );

    let refused = project.run(&["lock", "break", "--yes", threshold[0], threshold[1]]);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(project.lock_path().exists());

    let broken = project.run(&[
        "lock",
        "break",
        "--hung",
        "--yes",
        "--grace",
        "10",
        threshold[0],
        threshold[1],
    ]);
    assert_eq!(broken.status.code(), Some(0), "{}", stderr(&broken));
    let text = stdout(&broken);
    let released = format!(
        "process {} released the run lock itself after SIGTERM",
        holder.pid
    );
    assert!(text.contains(&released), "{text}");
    assert!(!text.contains("nothing to break"), "{text}");
    let ended = holder.wait();
    assert!(!ended.success(), "the hung holder should have been ended");
    assert!(!project.lock_path().exists());
}

#[test]
fn odd_command_name_parses_after_last_paren() {
    let project = Project::new();
    let odd = project.path("x) y (z");
    // The kernel names a process after the path it was executed by, so a
    // symlink gives `sleep` the odd name. A copied binary could fail with
    // ETXTBSY while another test thread forks.
    std::os::unix::fs::symlink("/bin/sleep", &odd).expect("link sleep");
    let mut command = Command::new(&odd);
    command.arg("300");
    let sleep = Guard::spawn(command);

    // Field 22 counted by hand, knowing the exact command name.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", sleep.pid)).expect("read stat");
    let prefix = format!("{} (x) y (z) ", sleep.pid);
    let rest = stat
        .strip_prefix(&prefix)
        .expect("stat starts with pid and name");
    let expected: u64 = rest
        .split(' ')
        .nth(19)
        .expect("field 22")
        .parse()
        .expect("a number");
    assert_eq!(start_ticks(sleep.pid), expected);

    let content = record(RUN_A, sleep.pid, expected, &boot_id(), &hostname());
    project.write_lock(&content);
    let output = project.run(&["lock", "run", "--", "true"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
}
