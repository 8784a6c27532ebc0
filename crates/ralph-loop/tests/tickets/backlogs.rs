//! `ready` and `blocked` on real backlogs, compared byte for byte with tk.

use std::fs;

use serde_json::Value;

use super::support::{
    Project, copy_backlog, ralph_loop, run_with_closed_stdout, shared_dir, tickets,
};

const BACKLOGS: [&str; 2] = ["ticketflow-replay", "ticketflow-2026-02-05"];

fn expected(backlog: &str, file: &str) -> String {
    let path = shared_dir()
        .join("backlogs")
        .join(backlog)
        .join("expected")
        .join(file);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
}

#[test]
fn ready_matches_tk_byte_for_byte() {
    for backlog in BACKLOGS {
        let dir = tempfile::tempdir().unwrap();
        copy_backlog(backlog, dir.path());

        let run = tickets(dir.path(), &["ready"]);

        assert_eq!(run.code(), Some(0), "{backlog}: {}", run.stderr);
        assert_eq!(run.stdout, expected(backlog, "ready.txt"), "{backlog}");
        assert_eq!(run.stderr, "", "{backlog}");
    }
}

#[test]
fn blocked_matches_tk_byte_for_byte() {
    for backlog in BACKLOGS {
        let dir = tempfile::tempdir().unwrap();
        copy_backlog(backlog, dir.path());

        let run = tickets(dir.path(), &["blocked"]);

        assert_eq!(run.code(), Some(0), "{backlog}: {}", run.stderr);
        assert_eq!(run.stdout, expected(backlog, "blocked.txt"), "{backlog}");
        assert_eq!(run.stderr, "", "{backlog}");
    }
}

fn json(stdout: &str) -> Vec<Value> {
    let value: Value = serde_json::from_str(stdout).expect("stdout is JSON");
    value.as_array().expect("stdout is a JSON array").clone()
}

#[test]
fn ready_json_lists_same_tickets() {
    let dir = tempfile::tempdir().unwrap();
    copy_backlog("ticketflow-replay", dir.path());

    let objects = json(&tickets(dir.path(), &["ready", "--json"]).stdout);
    let ids: Vec<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let expected_ids: Vec<String> = expected("ticketflow-replay", "ready.txt")
        .lines()
        .map(|line| line.split_whitespace().next().unwrap().to_owned())
        .collect();

    assert_eq!(ids, expected_ids);
}

#[test]
fn ready_json_has_every_field() {
    let dir = tempfile::tempdir().unwrap();
    copy_backlog("ticketflow-replay", dir.path());

    let objects = json(&tickets(dir.path(), &["ready", "--json"]).stdout);
    let first = &objects[0];

    assert_eq!(first["id"], "pt-e7hj");
    assert_eq!(first["status"], "open");
    assert_eq!(first["priority"], 0);
    assert_eq!(
        first["title"],
        "CLN-01: Define runtime artifact policy for .tf/.tickets/generated outputs"
    );
    assert_eq!(first["deps"], serde_json::json!([]));
    assert_eq!(first["components"], serde_json::json!(["docs", "config"]));
    assert!(
        first["tags"]
            .as_array()
            .unwrap()
            .contains(&"component:docs".into())
    );
    let path = first["path"].as_str().unwrap();
    assert!(path.ends_with(".tickets/pt-e7hj.md"), "{path}");
    assert!(first.get("unclosed_deps").is_none());
}

#[test]
fn blocked_json_adds_unclosed_deps() {
    let dir = tempfile::tempdir().unwrap();
    copy_backlog("ticketflow-replay", dir.path());

    let objects = json(&tickets(dir.path(), &["blocked", "--json"]).stdout);
    let mej4 = objects
        .iter()
        .find(|o| o["id"] == "pt-mej4")
        .expect("pt-mej4 is blocked");

    assert_eq!(
        mej4["unclosed_deps"],
        serde_json::json!(["pt-np39", "pt-pa5v"])
    );
    assert_eq!(
        objects.len(),
        expected("ticketflow-replay", "blocked.txt").lines().count()
    );
}

#[test]
fn filters_keep_matching_tickets() {
    let project = Project::new();
    project.write(
        "a.md",
        "---\nid: a\nstatus: open\nassignee: ann\ntags: [x, component:ui]\n---\n# A\n",
    );
    project.write(
        "b.md",
        "---\nid: b\nstatus: open\nassignee: bob\ntags: [x]\n---\n# B\n",
    );
    project.write(
        "c.md",
        "---\nid: c\nstatus: open\ndeps: [z]\nassignee: ann\n---\n# C\n",
    );

    let by_assignee = project.tickets(&["ready", "-a", "ann"]);
    let by_tag = project.tickets(&["ready", "-T", "x"]);
    let both = project.tickets(&["ready", "-a", "ann", "-T", "component:ui"]);
    let blocked = project.tickets(&["blocked", "--assignee", "bob"]);

    assert_eq!(by_assignee.stdout, "a        [P2][open] - A\n");
    assert_eq!(
        by_tag.stdout,
        "a        [P2][open] - A\nb        [P2][open] - B\n"
    );
    assert_eq!(both.stdout, "a        [P2][open] - A\n");
    assert_eq!(blocked.stdout, "");
}

#[test]
fn in_progress_tickets_stay_listed() {
    let project = Project::new();
    project.ticket("t-1", "in_progress", 1, &[]);
    project.ticket("t-2", "closed", 0, &[]);
    project.ticket("t-3", "in_progress", 0, &["t-1"]);

    let ready = project.tickets(&["ready"]);
    let blocked = project.tickets(&["blocked"]);

    assert_eq!(ready.stdout, "t-1      [P1][in_progress] - Title of t-1\n");
    assert_eq!(
        blocked.stdout,
        "t-3      [P0][in_progress] - Title of t-3 <- [t-1]\n"
    );
}

#[test]
fn output_to_closed_pipe_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    copy_backlog("ticketflow-replay", dir.path());

    let mut command = ralph_loop(dir.path());
    let run = run_with_closed_stdout(command.args(["tickets", "blocked"]));

    assert_eq!(run.code(), Some(0));
    assert_eq!(run.stderr, "");
}
