//! The replay backlog run to the end, by `run` and by repeated `turn`s.

mod support_loop;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use support_loop::{BIN, TestProject, stderr, stdout};

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
    assert_eq!(
        stdout(&output).matches(SIGIL).count(),
        1,
        "stdout:\n{}",
        stdout(&output)
    );
    assert_all_done_once(&project);
    let progress = std::fs::read_to_string(project.ralph().join("progress.md")).unwrap();
    assert!(progress.contains("State: COMPLETE"), "{progress}");
}

#[test]
fn replay_turns_close_every_ticket() {
    let project = TestProject::replay();
    project.configure(&closing_agent(), json!({"parallel": 1}));

    let mut sigils = 0;
    let mut turns = 0;
    while sigils == 0 {
        turns += 1;
        assert!(turns < 5000, "no COMPLETE after {turns} turns");
        let output = project.run(&["turn"], Duration::from_secs(30));
        assert_eq!(
            output.status.code(),
            Some(0),
            "stderr:\n{}",
            stderr(&output)
        );
        sigils += stdout(&output).matches(SIGIL).count();
        if sigils == 0 {
            assert!(project.ralph().join("dispatch-loop-state.json").exists());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    assert_eq!(sigils, 1);
    assert_all_done_once(&project);
}
