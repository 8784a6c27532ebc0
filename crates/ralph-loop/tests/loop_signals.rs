//! Ctrl-C during `run`, and a second run while the first is alive.

mod support_loop;

use std::fs;
use std::time::Duration;

use serde_json::{Value, json};
use support_loop::{BIN, TestProject, stderr, wait_for};

fn sleeping_agent() -> Vec<&'static str> {
    vec![
        BIN,
        "__agent",
        "--behavior",
        "close",
        "--sleep-ms",
        "60000",
        "{ticket}",
    ]
}

/// Waits until `count` sessions have written their agent's identity.
fn wait_agents_started(project: &TestProject, count: usize) -> bool {
    wait_for(Duration::from_secs(20), || {
        let Ok(entries) = fs::read_dir(project.ralph().join("sessions")) else {
            return false;
        };
        let started = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|ext| ext == "started"))
            .filter_map(|e| fs::read_to_string(e.path()).ok())
            .filter_map(|text| serde_json::from_str::<Value>(&text).ok())
            .filter(|started| !started["agent"].is_null())
            .count();
        started >= count
    })
}

/// Counts the sessions in flight, from their `.lock` files.
fn sessions_in_flight(project: &TestProject) -> usize {
    let Ok(entries) = fs::read_dir(project.ralph().join("sessions")) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|ext| ext == "lock"))
        .count()
}

#[test]
fn sigint_stops_every_session() {
    let project = TestProject::empty();
    project.add_ticket("s-1", &[]);
    project.add_ticket("s-2", &[]);
    project.git_init();
    project.configure(
        &sleeping_agent(),
        json!({"parallel": 2, "parallelAllowUntagged": true, "gracePeriodMs": 500}),
    );

    let run = project.spawn(&["run"]);
    assert!(
        wait_agents_started(&project, 2),
        "the sessions did not start"
    );
    run.signal("INT");
    let output = run.wait_output(Duration::from_secs(20));

    assert_eq!(
        output.status.code(),
        Some(130),
        "stderr:\n{}",
        stderr(&output)
    );
    assert!(
        !project.ralph().join("dispatch-loop.lock").exists(),
        "lock not released"
    );
    assert_eq!(
        project.wait_no_processes(Duration::from_secs(2)),
        Vec::<u32>::new()
    );
    for ticket in ["s-1", "s-2"] {
        let record = project.record_of(ticket);
        assert_eq!(record["termination"], "interrupt-sigterm", "{record}");
    }
    let state = fs::read_to_string(project.ralph().join("dispatch-loop-state.json")).unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["failed"].as_array().unwrap().len(), 2);
    assert_eq!(state["failed"][0]["outcome"], "interrupted");
    let worktrees = project.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    assert_eq!(project.git(&["branch", "--list", "ralph/*"]), "");
}

#[test]
fn second_run_is_busy() {
    let project = TestProject::empty();
    project.add_ticket("b-1", &[]);
    project.configure(&sleeping_agent(), json!({}));

    let first = project.spawn(&["run"]);
    assert!(
        wait_agents_started(&project, 1),
        "the session did not start"
    );
    let second = project.run(&["run"], Duration::from_secs(20));

    assert_eq!(
        second.status.code(),
        Some(3),
        "stderr:\n{}",
        stderr(&second)
    );
    let holder = format!("(pid {}, ", first.pid());
    assert!(
        stderr(&second).contains(&holder),
        "holder pid not named: {}",
        stderr(&second)
    );
    let turn = project.run(&["turn"], Duration::from_secs(20));
    assert_eq!(turn.status.code(), Some(3), "stderr:\n{}", stderr(&turn));
    assert!(
        stderr(&turn).contains(&holder),
        "holder pid not named: {}",
        stderr(&turn)
    );
    assert_eq!(
        sessions_in_flight(&project),
        1,
        "a busy command launched a session"
    );
    drop(first);
}

#[test]
fn run_between_turns_is_busy() {
    let project = TestProject::empty();
    project.add_ticket("b-1", &[]);
    project.configure(&sleeping_agent(), json!({}));

    let turn = project.run(&["turn"], Duration::from_secs(20));
    assert_eq!(turn.status.code(), Some(0), "stderr:\n{}", stderr(&turn));
    assert!(
        wait_agents_started(&project, 1),
        "the session did not start"
    );
    let state = fs::read_to_string(project.ralph().join("dispatch-loop-state.json")).unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    let run_id = state["runId"].as_str().unwrap().to_owned();
    let run = project.run(&["run"], Duration::from_secs(20));

    assert_eq!(run.status.code(), Some(3), "stderr:\n{}", stderr(&run));
    assert!(stderr(&run).contains("busy"), "{}", stderr(&run));
    assert!(
        stderr(&run).contains(&format!("held by run {run_id}")),
        "run {run_id} not named: {}",
        stderr(&run)
    );
    assert_eq!(
        sessions_in_flight(&project),
        1,
        "the busy run launched a session"
    );
    let again = project.run(&["turn"], Duration::from_secs(20));
    assert_eq!(
        again.status.code(),
        Some(0),
        "the next turn must continue the run"
    );
}

#[test]
fn second_signal_skips_the_grace() {
    let project = TestProject::empty();
    project.add_ticket("g-1", &[]);
    let agent = [BIN, "__agent", "--behavior", "ignore-term", "{ticket}"];
    // A grace period far beyond the wait below: only the second signal can
    // end the run in time.
    project.configure(&agent, json!({"gracePeriodMs": 600000}));

    let run = project.spawn(&["run"]);
    assert!(
        wait_agents_started(&project, 1),
        "the session did not start"
    );
    run.signal("TERM");
    let log = project.ralph().join("logs/g-1.log");
    std::thread::sleep(Duration::from_millis(300));
    run.signal("TERM");
    let output = run.wait_output(Duration::from_secs(30));

    assert_eq!(
        output.status.code(),
        Some(143),
        "stderr:\n{}",
        stderr(&output)
    );
    assert_eq!(
        project.wait_no_processes(Duration::from_secs(2)),
        Vec::<u32>::new()
    );
    let record = project.record_of("g-1");
    assert_eq!(record["termination"], "interrupt-sigkill", "{record}");
    assert!(log.exists());
}

#[test]
fn failed_turn_keeps_the_lock() {
    let project = TestProject::empty();
    project.add_ticket("k-1", &[]);
    project.add_ticket("k-2", &[]);
    project.configure(&sleeping_agent(), json!({"parallel": 1}));
    let first = project.run(&["turn"], Duration::from_secs(20));
    assert_eq!(first.status.code(), Some(0), "stderr:\n{}", stderr(&first));
    assert!(
        wait_agents_started(&project, 1),
        "the session did not start"
    );

    // A directory where progress.md belongs makes the next step fail after
    // it has checked the sessions.
    let progress = project.ralph().join("progress.md");
    fs::remove_file(&progress).unwrap();
    fs::create_dir(&progress).unwrap();
    let failed = project.run(&["turn"], Duration::from_secs(20));

    assert_eq!(
        failed.status.code(),
        Some(1),
        "stderr:\n{}",
        stderr(&failed)
    );
    assert!(
        stderr(&failed).contains("1 session is still in flight"),
        "{}",
        stderr(&failed)
    );
    assert!(
        stderr(&failed).contains("ralph-loop status"),
        "{}",
        stderr(&failed)
    );
    assert!(
        project.ralph().join("dispatch-loop.lock").exists(),
        "the lock was removed"
    );
    let other = project.run(&["run"], Duration::from_secs(20));
    assert_eq!(other.status.code(), Some(3), "stderr:\n{}", stderr(&other));
}
