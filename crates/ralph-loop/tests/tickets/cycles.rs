//! `cycles`: dependency loops among tickets that are not closed.

use super::support::Project;

#[test]
fn cycles_are_listed_with_exit_one() {
    let project = Project::new();
    project.ticket("c-2", "open", 2, &["c-3"]);
    project.ticket("c-3", "in_progress", 2, &["c-1"]);
    project.ticket("c-1", "open", 2, &["c-2"]);
    project.ticket("s-1", "open", 2, &["s-1"]);
    project.ticket("free", "open", 2, &["c-1"]);

    let run = project.tickets(&["cycles"]);

    assert_eq!(run.code(), Some(1));
    assert_eq!(run.stdout, "c-1 -> c-2 -> c-3 -> c-1\ns-1 -> s-1\n");
    assert!(
        run.stderr.contains("found 2 dependency cycles"),
        "{}",
        run.stderr
    );
}

#[test]
fn closed_ticket_breaks_cycle() {
    let project = Project::new();
    project.ticket("c-1", "open", 2, &["c-2"]);
    project.ticket("c-2", "closed", 2, &["c-1"]);

    let run = project.tickets(&["cycles"]);

    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");
}

#[test]
fn cycles_json_is_array_of_ids() {
    let project = Project::new();
    project.ticket("b", "open", 2, &["a"]);
    project.ticket("a", "open", 2, &["b"]);

    let run = project.tickets(&["cycles", "--json"]);

    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value, serde_json::json!([["a", "b"]]));
}

#[test]
fn shared_backlog_has_no_cycles() {
    let dir = tempfile::tempdir().unwrap();
    super::support::copy_backlog("ticketflow-replay", dir.path());

    let run = super::support::tickets(dir.path(), &["cycles"]);

    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}
