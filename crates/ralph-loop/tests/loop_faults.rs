//! Agents that go wrong: none of them counts as completed, each ending is
//! recorded, and no agent process survives.

mod support_loop;

use std::fs;
use std::time::Duration;

use serde_json::json;
use support_loop::{BIN, TestProject, stderr, stdout};

/// ticket, `__agent` behaviour, expected outcome, expected termination.
const CORPUS: [(&str, &str, &str, &str); 7] = [
    ("f-noclose", "no-close", "no progress", "exited"),
    ("f-fail", "fail", "failed", "exited"),
    ("f-killself", "kill-self", "killed", "signaled"),
    ("f-hang", "hang", "timed out", "timeout-sigterm"),
    ("f-promise", "promise-then-fail", "failed", "exited"),
    (
        "f-ignoreterm",
        "ignore-term",
        "timed out",
        "timeout-sigkill",
    ),
    ("f-good", "close", "completed", "exited"),
];

/// Writes the corpus agent. It starts a background `sleep 600` in its own
/// process group before it runs the scripted agent, so the check for
/// leftover processes also covers the children an agent leaves behind.
fn corpus_agent(project: &TestProject) -> String {
    let mut cases = String::new();
    for (ticket, behavior, _, _) in CORPUS {
        cases.push_str(&format!("  {ticket}) behavior={behavior} ;;\n"));
    }
    project.script(
        "agent.sh",
        &format!(
            "case \"$1\" in\n{cases}esac\nsleep 600 &\n\
             exec {BIN} __agent --behavior $behavior \"$1\""
        ),
    )
}

#[test]
fn fault_corpus_records_each_ending() {
    let project = TestProject::empty();
    for (ticket, _, _, _) in CORPUS {
        project.add_ticket(ticket, &[]);
    }
    let agent = corpus_agent(&project);
    let extra = json!({"parallel": 1, "attemptTimeoutMs": 1500, "gracePeriodMs": 300});
    project.configure(&[&agent, "{ticket}"], extra);

    let output = project.run(&["run"], Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );

    let progress = fs::read_to_string(project.ralph().join("progress.md")).unwrap();
    for (ticket, _, outcome, termination) in CORPUS {
        let record = project.record_of(ticket);
        assert_eq!(record["termination"], termination, "{ticket}: {record}");
        let line = format!("- {ticket}: {outcome} (");
        assert!(
            progress.contains(&line),
            "{ticket} not {outcome} in:\n{progress}"
        );
    }
    assert!(progress.contains("- Completed: 1"), "{progress}");
    assert!(progress.contains("- Failed: 6"), "{progress}");
    assert_eq!(project.record_of("f-noclose")["exitCode"], 0);
    assert_eq!(project.record_of("f-fail")["exitCode"], 1);
    assert_eq!(project.record_of("f-killself")["signal"], 9);
    assert_eq!(project.record_of("f-hang")["signal"], 15);
    assert_eq!(project.record_of("f-promise")["sigil"], true);
    assert_eq!(project.record_of("f-promise")["exitCode"], 1);
    assert_eq!(project.record_of("f-ignoreterm")["signal"], 9);
    for (ticket, status) in project.statuses() {
        let expected = if ticket == "f-good" { "closed" } else { "open" };
        assert_eq!(status, expected, "{ticket}");
    }
    assert_eq!(
        project.wait_no_processes(Duration::from_secs(2)),
        Vec::<u32>::new()
    );
}

#[test]
fn hostile_ids_are_rejected_before_any_run() {
    let project = TestProject::empty();
    for id in ["../x", "a;b", "-rf"] {
        project.add_ticket(id, &[]);
    }
    project.add_ticket("fine-1", &[]);
    let marker = project.root().join("executed");
    let agent = project.script("agent.sh", &format!("touch {}", marker.display()));
    project.configure(&[&agent, "{ticket}"], json!({}));

    for command in ["run", "turn"] {
        let output = project.run(&[command], Duration::from_secs(20));
        assert_eq!(
            output.status.code(),
            Some(1),
            "{command}: {}",
            stdout(&output)
        );
        for id in ["../x", "a;b", "-rf"] {
            assert!(
                stderr(&output).contains(&format!("{id:?}")),
                "{command}: {id} not named"
            );
        }
    }
    assert!(!marker.exists(), "the agent ran");
    assert!(!project.ralph().join("dispatch-loop-state.json").exists());
    assert!(!project.ralph().join("sessions").exists());
}

#[test]
fn agent_placeholder_is_one_argument() {
    let project = TestProject::empty();
    project.add_ticket("t-1", &[]);
    let argv_file = project.root().join("argv");
    let agent = project.script(
        "agent.sh",
        &format!("printf '%s\\n' \"$@\" > {}\nexit 0", argv_file.display()),
    );
    project.configure(&[&agent, "-p", "/tf {ticket} --auto"], json!({}));

    let output = project.run(&["run"], Duration::from_secs(20));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    let argv = fs::read_to_string(argv_file).unwrap();
    assert_eq!(argv, "-p\n/tf t-1 --auto\n");
}
