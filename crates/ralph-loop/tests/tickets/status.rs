//! `start`, `close` and `reopen`: the status line changes and nothing else.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use super::support::{Project, ticket_text};

/// A ticket with CRLF endings, body lines that begin with `status:` and no
/// final newline.
const TRICKY: &str = "---\r\nid: wa-k3f9\r\nstatus: open\r\npriority: 1\r\n---\r\n\
                      # Token refresh\r\n\r\nstatus: open\r\nstatus: closed\r\n---\r\nstatus: x";

#[test]
fn start_changes_only_status_line() {
    let project = Project::new();
    let path = project.write("wa-k3f9.md", TRICKY);

    let run = project.tickets(&["start", "wa-k3f9"]);

    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "Updated wa-k3f9 -> in_progress\n");
    let expected = TRICKY.replacen(
        "status: open\r\npriority",
        "status: in_progress\r\npriority",
        1,
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn close_then_reopen_restores_bytes() {
    let project = Project::new();
    let path = project.write("wa-k3f9.md", TRICKY);

    let close = project.tickets(&["close", "wa-k3f9"]);
    let closed = fs::read_to_string(&path).unwrap();
    let reopen = project.tickets(&["reopen", "wa-k3f9"]);

    assert_eq!(close.stdout, "Updated wa-k3f9 -> closed\n");
    assert!(closed.starts_with("---\r\nid: wa-k3f9\r\nstatus: closed\r\npriority"));
    assert_eq!(reopen.stdout, "Updated wa-k3f9 -> open\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), TRICKY);
}

#[test]
fn status_change_keeps_permissions() {
    let project = Project::new();
    let path = project.ticket("t-1", "open", 2, &[]);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();

    let run = project.tickets(&["close", "t-1"]);

    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
}

#[test]
fn status_change_leaves_no_temp_files() {
    let project = Project::new();
    project.ticket("t-1", "open", 2, &[]);

    project.tickets(&["close", "t-1"]);

    let names: Vec<_> = fs::read_dir(project.tickets_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["t-1.md"]);
}

#[test]
fn closing_unblocks_dependent_ticket() {
    let project = Project::new();
    project.ticket("t-1", "open", 2, &[]);
    project.ticket("t-2", "open", 1, &["t-1"]);

    project.tickets(&["close", "t-1"]);
    let ready = project.tickets(&["ready"]);

    assert_eq!(ready.stdout, "t-2      [P1][open] - Title of t-2\n");
}

#[test]
fn unique_partial_id_resolves() {
    let project = Project::new();
    let path = project.ticket("pt-k3f9", "open", 2, &[]);
    project.ticket("pt-7q2m", "open", 2, &[]);

    let run = project.tickets(&["start", "k3"]);

    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, "Updated pt-k3f9 -> in_progress\n");
    assert!(
        fs::read_to_string(path)
            .unwrap()
            .contains("status: in_progress\n")
    );
}

#[test]
fn exact_id_beats_longer_match() {
    let project = Project::new();
    project.ticket("pt-1", "open", 2, &[]);
    project.ticket("pt-10", "open", 2, &[]);

    let run = project.tickets(&["close", "pt-1"]);

    assert_eq!(run.stdout, "Updated pt-1 -> closed\n");
}

#[test]
fn ambiguous_id_lists_candidates() {
    let project = Project::new();
    let first = project.ticket("pt-k3f9", "open", 2, &[]);
    project.ticket("pt-k3aa", "open", 2, &[]);
    project.ticket("pt-7q2m", "open", 2, &[]);

    let run = project.tickets(&["close", "pt-k3"]);

    assert_eq!(run.code(), Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "Error: ambiguous ticket id 'pt-k3' matches 2 tickets: pt-k3aa, pt-k3f9\n"
    );
    assert_eq!(
        fs::read_to_string(first).unwrap(),
        ticket_text("pt-k3f9", "open", 2, &[])
    );
}

#[test]
fn unknown_id_is_not_found() {
    let project = Project::new();
    project.ticket("pt-k3f9", "open", 2, &[]);

    let run = project.tickets(&["start", "nope"]);

    assert_eq!(run.code(), Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "Error: ticket 'nope' not found\n");
}

#[test]
fn id_field_wins_over_file_name() {
    let project = Project::new();
    let path = project.write("renamed.md", ticket_text("t-1", "open", 2, &[]));

    let run = project.tickets(&["close", "t-1"]);

    assert_eq!(run.stdout, "Updated t-1 -> closed\n");
    assert!(
        fs::read_to_string(path)
            .unwrap()
            .contains("status: closed\n")
    );
}

/// Many processes change one ticket at once while this test, as an outside
/// reader, checks that every version it reads is a whole file.
#[test]
fn concurrent_updates_never_tear_file() {
    let project = Project::new();
    let path = project.ticket("t-1", "open", 2, &[]);
    let versions: Vec<String> = ["open", "in_progress", "closed"]
        .iter()
        .map(|status| ticket_text("t-1", status, 2, &[]))
        .collect();

    let root = project.path().to_path_buf();
    let writers: Vec<_> = (0..6)
        .map(|writer| {
            let root = root.clone();
            std::thread::spawn(move || {
                let commands = ["start", "close", "reopen"];
                for round in 0..8 {
                    let command = commands[(writer + round) % commands.len()];
                    let run = super::support::tickets(&root, &[command, "t-1"]);
                    assert_eq!(run.code(), Some(0), "{}", run.stderr);
                }
            })
        })
        .collect();

    let mut reads = 0;
    while writers.iter().any(|writer| !writer.is_finished()) {
        let text = fs::read_to_string(&path).unwrap();
        assert!(versions.contains(&text), "torn file:\n{text}");
        reads += 1;
    }
    for writer in writers {
        writer.join().unwrap();
    }
    assert!(reads > 0);
}

#[test]
fn empty_id_is_usage_error() {
    let project = Project::new();
    let path = project.ticket("t-1", "open", 2, &[]);
    let before = fs::read_to_string(&path).unwrap();

    for command in ["start", "close", "reopen"] {
        let run = project.tickets(&[command, ""]);

        assert_eq!(run.code(), Some(2), "{command}: {}", run.stderr);
        assert_eq!(run.stdout, "", "{command}");
        assert!(run.stderr.contains("<ID>"), "{command}: {}", run.stderr);
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), before);
}
