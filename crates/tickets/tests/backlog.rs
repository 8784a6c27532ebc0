//! Loading a directory, resolving ids and finding the directory.

use std::fs;
use std::path::Path;

use tickets::{Backlog, Error, Status, WarningKind, read_ticket, search_up};

fn write_ticket(dir: &Path, id: &str, status: &str, priority: u32, deps: &str) {
    let text = format!(
        "---\nid: {id}\nstatus: {status}\ndeps: [{deps}]\npriority: {priority}\n\
         tags: [x, component:api, component:cli]\n---\n# Title {id}\n"
    );
    fs::write(dir.join(format!("{id}.md")), text).unwrap();
}

#[test]
fn parallel_load_matches_single_reads() {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..1500 {
        let deps = if index % 3 == 0 {
            String::new()
        } else {
            format!("n-{}", index / 2)
        };
        let status = ["open", "closed", "in_progress"][index % 3];
        write_ticket(
            dir.path(),
            &format!("n-{index}"),
            status,
            (index % 5) as u32,
            &deps,
        );
    }
    fs::write(dir.path().join("broken.md"), "no front matter").unwrap();

    let backlog = Backlog::load(dir.path()).unwrap();

    assert_eq!(backlog.len(), 1500);
    assert_eq!(backlog.warnings().len(), 1);
    assert_eq!(backlog.warnings()[0].kind, WarningKind::NoFrontMatter);
    for ticket in backlog.tickets() {
        assert_eq!(&read_ticket(&ticket.path).unwrap(), ticket);
    }
}

#[test]
fn tickets_are_ordered_by_priority_then_id() {
    let dir = tempfile::tempdir().unwrap();
    write_ticket(dir.path(), "b", "open", 1, "");
    write_ticket(dir.path(), "a", "open", 1, "");
    write_ticket(dir.path(), "B", "open", 1, "");
    write_ticket(dir.path(), "z", "open", 0, "");

    let backlog = Backlog::load(dir.path()).unwrap();
    let ids: Vec<&str> = backlog.tickets().map(|t| t.id.as_str()).collect();

    assert_eq!(ids, ["z", "B", "a", "b"]);
}

#[test]
fn components_strip_prefix() {
    let dir = tempfile::tempdir().unwrap();
    write_ticket(dir.path(), "a", "open", 1, "");

    let backlog = Backlog::load(dir.path()).unwrap();
    let ticket = backlog.get("a").unwrap();

    assert_eq!(ticket.components().collect::<Vec<_>>(), ["api", "cli"]);
    assert!(ticket.has_tag("x"));
    assert!(!ticket.has_tag("api"));
}

#[test]
fn dangling_dependency_blocks() {
    let dir = tempfile::tempdir().unwrap();
    write_ticket(dir.path(), "a", "open", 1, "ghost, b");
    write_ticket(dir.path(), "b", "closed", 1, "");

    let backlog = Backlog::load(dir.path()).unwrap();
    let blocked = backlog.blocked();

    assert!(backlog.ready().is_empty());
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].1, ["ghost"]);
}

#[test]
fn resolve_prefers_exact_then_unique() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["pt-1", "pt-10", "pt-abc", "pt-abd"] {
        write_ticket(dir.path(), id, "open", 2, "");
    }
    let backlog = Backlog::load(dir.path()).unwrap();

    assert_eq!(backlog.resolve("pt-1").unwrap().id, "pt-1");
    assert_eq!(backlog.resolve("10").unwrap().id, "pt-10");
    assert_eq!(backlog.resolve("bd").unwrap().id, "pt-abd");
}

#[test]
fn resolve_reports_ambiguity() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["pt-abc", "pt-abd", "pt-xyz"] {
        write_ticket(dir.path(), id, "open", 2, "");
    }
    let backlog = Backlog::load(dir.path()).unwrap();

    let error = backlog.resolve("pt-ab").unwrap_err();

    let Error::AmbiguousId {
        candidates,
        matches,
        ..
    } = &error
    else {
        panic!("expected an ambiguous id, got {error}");
    };
    assert_eq!(candidates, &["pt-abc", "pt-abd"]);
    assert_eq!(*matches, 2);
    assert_eq!(
        error.to_string(),
        "ambiguous ticket id 'pt-ab' matches 2 tickets: pt-abc, pt-abd"
    );
}

#[test]
fn resolve_caps_candidate_list() {
    let dir = tempfile::tempdir().unwrap();
    for index in 0..25 {
        write_ticket(dir.path(), &format!("m-{index:02}"), "open", 2, "");
    }
    let backlog = Backlog::load(dir.path()).unwrap();

    let error = backlog.resolve("m-").unwrap_err();

    let message = error.to_string();
    assert!(message.starts_with("ambiguous ticket id 'm-' matches 25 tickets: m-00, m-01"));
    assert!(message.ends_with("m-19 and 5 more"), "{message}");
}

#[test]
fn resolve_reports_unknown_id() {
    let dir = tempfile::tempdir().unwrap();
    write_ticket(dir.path(), "pt-1", "open", 2, "");
    let backlog = Backlog::load(dir.path()).unwrap();

    let error = backlog.resolve("zz").unwrap_err();

    assert!(matches!(error, Error::TicketNotFound { .. }));
    assert_eq!(error.to_string(), "ticket 'zz' not found");
}

#[test]
fn cycles_ignore_closed_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    write_ticket(dir.path(), "a", "open", 2, "b, ghost");
    write_ticket(dir.path(), "b", "open", 2, "a");
    write_ticket(dir.path(), "c", "open", 2, "d");
    write_ticket(dir.path(), "d", "closed", 2, "c");

    let backlog = Backlog::load(dir.path()).unwrap();

    assert_eq!(backlog.cycles(), [vec!["a", "b"]]);
}

#[test]
fn read_ticket_rejects_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.md");
    fs::write(&path, "---\nid: bad\nstatus: done\n---\n").unwrap();

    let error = read_ticket(&path).unwrap_err();

    assert!(matches!(error, Error::Invalid(_)));
    let expected = format!(
        "invalid ticket file {}:3: unknown status `done`",
        path.display()
    );
    assert!(error.to_string().starts_with(&expected), "{error}");
}

#[test]
fn read_ticket_reports_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.md");

    let error = read_ticket(&path).unwrap_err();

    assert!(matches!(error, Error::Read { .. }));
    assert_eq!(
        error.to_string(),
        format!("failed to read ticket file {}", path.display())
    );
}

#[test]
fn read_ticket_reads_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wa-k3f9.md");
    let text = "---\r\nid: wa-k3f9\r\nstatus: in_progress\r\ndeps: [wa-7q2m]\r\n\
                links: [wa-p0x1]\r\ntype: feature\r\npriority: 1\r\nassignee: dev\r\n\
                parent: wa-e001\r\ntags: [api, component:auth]\r\n---\r\n\
                # Add token refresh endpoint\r\n";
    fs::write(&path, text).unwrap();

    let ticket = read_ticket(&path).unwrap();

    assert_eq!(ticket.id, "wa-k3f9");
    assert_eq!(ticket.status, Status::InProgress);
    assert_eq!(ticket.priority, 1);
    assert_eq!(ticket.title, "Add token refresh endpoint");
    assert_eq!(ticket.deps, ["wa-7q2m"]);
    assert_eq!(ticket.links, ["wa-p0x1"]);
    assert_eq!(ticket.tags, ["api", "component:auth"]);
    assert_eq!(ticket.assignee.as_deref(), Some("dev"));
    assert_eq!(ticket.path, path);
}

#[test]
fn search_up_finds_nearest() {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir_all(root.path().join(".tickets")).unwrap();
    let nested = root.path().join("a/b");
    fs::create_dir_all(&nested).unwrap();

    let found = search_up(&nested.join("..").join("b")).unwrap();

    assert_eq!(found, root.path().join(".tickets"));
}

#[test]
fn load_reports_missing_dir() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("nope");

    let error = Backlog::load(&missing).unwrap_err();

    assert!(matches!(error, Error::ReadDir { .. }));
    assert!(error.to_string().contains("nope"), "{error}");
}

#[test]
fn title_without_final_newline_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.md");
    fs::write(&path, "---\nid: a\nstatus: open\n---\n# Last line").unwrap();

    let ticket = read_ticket(&path).unwrap();

    assert_eq!(ticket.title, "Last line");
}

#[test]
fn text_before_front_matter_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.md");
    fs::write(
        &path,
        "id: wrong\n\n---\nid: a\nstatus: open\n---\n# Title\n",
    )
    .unwrap();

    let ticket = read_ticket(&path).unwrap();

    assert_eq!(ticket.id, "a");
}

#[test]
fn title_is_first_hash_line_after_front_matter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.md");
    let text =
        "# Not this\n---\nid: a\nstatus: open\n---\n\n## Nor this\n#Nor\n# This one\n# Later\n";
    fs::write(&path, text).unwrap();

    let ticket = read_ticket(&path).unwrap();

    assert_eq!(ticket.title, "This one");
}

#[test]
fn long_body_before_title_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.md");
    let filler = "filler line\n".repeat(10_000);
    fs::write(
        &path,
        format!("---\nid: a\nstatus: open\n---\n{filler}# Far title\n"),
    )
    .unwrap();

    let ticket = read_ticket(&path).unwrap();

    assert_eq!(ticket.title, "Far title");
}
