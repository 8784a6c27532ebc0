//! The replay backlog run to the end, by `run` and by repeated `turn`s.

mod support_loop;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use support_loop::{BIN, TestProject, assert_started_after_deps, stderr, stdout};

const SIGIL: &str = "<promise>COMPLETE</promise>";
const REPLAY_TICKETS: usize = 238;

fn closing_agent() -> Vec<&'static str> {
    vec![
        BIN,
        "__agent",
        "--behavior",
        "close",
        "--require-deps-closed",
        "{ticket}",
    ]
}

/// Checks that the promise is printed once, as the last line of `stdout`.
fn assert_promise_last(stdout: &str) {
    assert_eq!(stdout.matches(SIGIL).count(), 1, "stdout:\n{stdout}");
    assert_eq!(stdout.lines().last(), Some(SIGIL), "stdout:\n{stdout}");
}

/// Checks what every replay test expects at the end.
fn assert_all_done_once(project: &TestProject) {
    let statuses = project.statuses();
    assert_eq!(statuses.len(), REPLAY_TICKETS);
    let open: Vec<_> = statuses
        .iter()
        .filter(|(_, status)| status != "closed")
        .collect();
    assert!(open.is_empty(), "tickets not closed: {open:?}");

    let mut per_ticket: HashMap<String, usize> = HashMap::new();
    for record in project.records() {
        *per_ticket
            .entry(record["ticket"].as_str().unwrap().to_owned())
            .or_default() += 1;
        assert_eq!(record["termination"], "exited", "{record}");
        assert_eq!(
            record["exitCode"], 0,
            "a session started before its deps closed: {record}"
        );
    }
    assert_eq!(per_ticket.len(), REPLAY_TICKETS);
    let repeated: Vec<_> = per_ticket.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        repeated.is_empty(),
        "dispatched more than once: {repeated:?}"
    );
    assert_started_after_deps(project);

    assert!(
        !project.ralph().join("dispatch-loop.lock").exists(),
        "lock left behind"
    );
    assert!(
        !project.ralph().join("dispatch-loop-state.json").exists(),
        "state left behind"
    );
    assert_eq!(
        project.processes(),
        Vec::<u32>::new(),
        "processes left behind"
    );
}

#[test]
fn replay_run_closes_every_ticket() {
    let project = TestProject::replay();
    project.configure(&closing_agent(), json!({"parallel": 1}));

    let output = project.run(&["run"], Duration::from_secs(120));

    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    assert_promise_last(&stdout(&output));
    assert_all_done_once(&project);
    let progress = std::fs::read_to_string(project.ralph().join("progress.md")).unwrap();
    assert!(progress.contains("State: COMPLETE"), "{progress}");
}

#[test]
fn replay_turns_close_every_ticket() {
    let project = TestProject::replay();
    project.configure(&closing_agent(), json!({"parallel": 1}));

    let mut turns = 0;
    let last = loop {
        turns += 1;
        assert!(turns < 5000, "no COMPLETE after {turns} turns");
        let output = project.run(&["turn"], Duration::from_secs(30));
        assert_eq!(
            output.status.code(),
            Some(0),
            "stderr:\n{}",
            stderr(&output)
        );
        if stdout(&output).contains(SIGIL) {
            break stdout(&output);
        }
        assert!(project.ralph().join("dispatch-loop-state.json").exists());
        std::thread::sleep(Duration::from_millis(20));
    };

    assert_promise_last(&last);
    assert_all_done_once(&project);
}
