//! Parallel runs in per-ticket git worktrees: component-safe selection,
//! merges back into the starting branch, conflicts, crashes and refusals.

mod support_loop;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use support_loop::{BIN, TestProject, processes_under, stderr, stdout, wait_for};

const SIGIL: &str = "<promise>COMPLETE</promise>";
const REPLAY_TICKETS: usize = 238;

/// Returns the argv of the scripted agent that writes `work/<ticket>.txt`, closes its ticket
/// and commits both, after checking that its deps are closed.
fn committing_agent(sleep_ms: &'static str) -> Vec<&'static str> {
    vec![
        BIN,
        "__agent",
        "--behavior",
        "commit",
        "--require-deps-closed",
        "--sleep-ms",
        sleep_ms,
        "{ticket}",
    ]
}

/// Reads `component:` tags per ticket id from a tickets directory.
fn components(dir: &Path) -> HashMap<String, Vec<String>> {
    let mut found = HashMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or("")
                .to_owned()
        };
        let tags = field("tags: ");
        let tags = tags.trim_start_matches('[').trim_end_matches(']');
        let list = tags
            .split(',')
            .filter_map(|tag| tag.trim().strip_prefix("component:"))
            .map(str::to_owned)
            .collect();
        found.insert(field("id: "), list);
    }
    found
}

/// A session's ticket and the span its agent ran.
struct Span {
    ticket: String,
    start: Timestamp,
    end: Timestamp,
}

fn spans(project: &TestProject) -> Vec<Span> {
    project
        .records()
        .into_iter()
        .map(|record| Span {
            ticket: record["ticket"].as_str().unwrap().to_owned(),
            start: record["startedAt"].as_str().unwrap().parse().unwrap(),
            end: record["endedAt"].as_str().unwrap().parse().unwrap(),
        })
        .collect()
}

/// Checks that no two overlapping sessions share a component and that an
/// untagged session overlapped no other; returns how many pairs overlapped.
fn assert_components_apart(spans: &[Span], components: &HashMap<String, Vec<String>>) -> usize {
    let mut overlaps = 0;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.end <= b.start || b.end <= a.start {
                continue;
            }
            overlaps += 1;
            let (ca, cb) = (&components[&a.ticket], &components[&b.ticket]);
            assert!(
                !ca.is_empty() && !cb.is_empty(),
                "untagged {} or {} ran beside the other",
                a.ticket,
                b.ticket
            );
            let shared: Vec<_> = ca.iter().filter(|c| cb.contains(c)).collect();
            assert!(
                shared.is_empty(),
                "{} and {} ran together sharing {shared:?}",
                a.ticket,
                b.ticket
            );
        }
    }
    overlaps
}

/// Counts the merge commits on the current branch per ticket.
fn merges_per_ticket(project: &TestProject) -> HashMap<String, usize> {
    let log = project.git(&["log", "--merges", "--format=%s"]);
    let mut merges = HashMap::new();
    for subject in log.lines() {
        let ticket = subject
            .strip_prefix("Merge ticket ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected merge subject {subject:?}"));
        *merges.entry(ticket.to_owned()).or_insert(0) += 1;
    }
    merges
}

/// Lists the `ralph/*` branches, one per line.
fn ticket_branches(project: &TestProject) -> String {
    project.git(&[
        "for-each-ref",
        "--format=%(refname:short)",
        "refs/heads/ralph/",
    ])
}

/// Checks that no worktree but the main one and no `ralph/*` branch is
/// left, and that the main checkout has no changes to tracked files.
fn assert_nothing_left(project: &TestProject) {
    let worktrees = project.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    assert_eq!(ticket_branches(project), "");
    assert_eq!(
        project.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
}

fn assert_all_closed(project: &TestProject) {
    let open: Vec<_> = project
        .statuses()
        .into_iter()
        .filter(|(_, status)| status != "closed")
        .collect();
    let progress = fs::read_to_string(project.ralph().join("progress.md")).unwrap_or_default();
    assert!(open.is_empty(), "tickets not closed: {open:?}\n{progress}");
}

#[test]
fn replay_parallel_merges_every_ticket() {
    let project = TestProject::replay();
    project.git_init();
    project.configure(&committing_agent("100"), json!({"parallel": 4}));

    let output = project.run(&["run", "--no-progress"], Duration::from_secs(600));

    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output).matches(SIGIL).count(), 1);
    assert_all_closed(&project);
    let records = project.records();
    assert_eq!(records.len(), REPLAY_TICKETS);
    for record in &records {
        assert_eq!(record["exitCode"], 0, "{record}");
    }

    let merges = merges_per_ticket(&project);
    assert_eq!(merges.len(), REPLAY_TICKETS);
    assert!(merges.values().all(|n| *n == 1), "{merges:?}");
    let files = project.git(&["ls-files", "work"]);
    assert_eq!(files.lines().count(), REPLAY_TICKETS, "{files}");
    assert_nothing_left(&project);

    let components = components(&project.tickets());
    let overlaps = assert_components_apart(&spans(&project), &components);
    assert!(overlaps > 0, "no two sessions ever ran at once");
    assert!(!project.ralph().join("dispatch-loop.lock").exists());
    assert!(!project.ralph().join("dispatch-loop-state.json").exists());
}

/// Writes a ticket with components.
fn add_tagged(project: &TestProject, id: &str, deps: &[&str], components: &[&str]) {
    let tags: Vec<String> = components
        .iter()
        .map(|c| format!("component:{c}"))
        .collect();
    let text = format!(
        "---\nid: {id}\nstatus: open\ndeps: [{}]\nlinks: []\ntype: task\npriority: 2\n\
         tags: [{}]\n---\n# Ticket {id}\n",
        deps.join(", "),
        tags.join(", ")
    );
    fs::write(project.tickets().join(format!("{id}.md")), text).unwrap();
}

#[test]
fn conflict_keeps_the_worktree() {
    let project = TestProject::empty();
    add_tagged(&project, "c-1", &[], &["api"]);
    add_tagged(&project, "c-2", &[], &["cli"]);
    fs::write(project.root().join("shared.txt"), "original\n").unwrap();
    project.git_init();
    let agent = project.script(
        "edit-shared.sh",
        &format!(
            "set -e\nsleep 0.3\necho \"$1 was here\" > shared.txt\n\
             {BIN} tickets close \"$1\"\ngit add -A\ngit commit -q -m \"Do $1\""
        ),
    );
    project.git(&["add", "edit-shared.sh"]);
    project.git(&["commit", "-q", "-m", "Add the agent"]);
    project.configure(&[&agent, "{ticket}"], json!({"parallel": 2}));

    let output = project.run(&["run", "--no-progress"], Duration::from_secs(60));

    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    let merges = merges_per_ticket(&project);
    assert_eq!(merges.len(), 1, "{merges:?}");
    let merged = merges.keys().next().unwrap().clone();
    let other = if merged == "c-1" { "c-2" } else { "c-1" };
    let shared = fs::read_to_string(project.root().join("shared.txt")).unwrap();
    assert_eq!(shared, format!("{merged} was here\n"));

    let worktree = project.ralph().join("worktrees").join(other);
    assert!(worktree.join("shared.txt").is_file(), "worktree not kept");
    let kept = fs::read_to_string(worktree.join("shared.txt")).unwrap();
    assert_eq!(kept, format!("{other} was here\n"));
    assert_eq!(ticket_branches(&project), format!("ralph/{other}\n"));
    assert_eq!(
        project.git(&["status", "--porcelain", "--untracked-files=no"]),
        ""
    );
    assert!(!project.root().join(".git/MERGE_HEAD").exists());

    let progress = fs::read_to_string(project.ralph().join("progress.md")).unwrap();
    let line = progress
        .lines()
        .find(|line| line.starts_with(&format!("- {other}: not merged")))
        .unwrap_or_else(|| panic!("no failed entry for {other}:\n{progress}"));
    assert!(line.contains("merge conflict in shared.txt"), "{line}");
    assert!(line.contains(&worktree.display().to_string()), "{line}");
}

/// Waits until no git process runs in the project, as after a crash the
/// git command the loop had started finishes on its own.
fn wait_git_done(project: &TestProject) {
    let quiet = wait_for(Duration::from_secs(20), || {
        processes_under(project.root()).into_iter().all(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            !cmdline.starts_with(b"git\0")
        })
    });
    assert!(quiet, "git still running in the project");
}

#[test]
fn sigkill_during_parallel_run_merges_once() {
    const TICKETS: usize = 18;
    let project = TestProject::empty();
    let pool = ["api", "cli", "docs", "tests", "db", "ui"];
    let mut ids = Vec::new();
    for i in 0..TICKETS {
        let id = format!("k-{i:02}");
        let deps: Vec<String> = if i >= 6 {
            vec![format!("k-{:02}", i - 6)]
        } else {
            Vec::new()
        };
        let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
        add_tagged(&project, &id, &deps, &[pool[i % pool.len()]]);
        ids.push(id);
    }
    project.git_init();
    project.configure(&committing_agent("150"), json!({"parallel": 3}));

    let mut seed = std::process::id() as u64;
    let mut completed = false;
    for round in 0..40 {
        let run = project.spawn(&["run", "--no-progress"]);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(100 + (seed >> 33) % 500));
        if round >= 6 {
            let output = run.wait_output(Duration::from_secs(120));
            assert_eq!(
                output.status.code(),
                Some(0),
                "stderr:\n{}",
                stderr(&output)
            );
            assert_eq!(stdout(&output).matches(SIGIL).count(), 1);
            completed = true;
            break;
        }
        run.signal("KILL");
        let output = run.wait_output(Duration::from_secs(10));
        if output.status.code() == Some(0) {
            completed = true;
            break;
        }
        wait_git_done(&project);
    }
    assert!(completed, "the run never completed");

    assert_all_closed(&project);
    let merges = merges_per_ticket(&project);
    let expected: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let merged: BTreeSet<&str> = merges.keys().map(String::as_str).collect();
    assert_eq!(merged, expected);
    assert!(merges.values().all(|n| *n == 1), "merged twice: {merges:?}");
    let mut per_ticket: HashMap<String, usize> = HashMap::new();
    for record in project.records() {
        let ticket = record["ticket"].as_str().unwrap().to_owned();
        assert_eq!(record["exitCode"], 0, "{record}");
        *per_ticket.entry(ticket).or_default() += 1;
    }
    assert_eq!(per_ticket.len(), TICKETS);
    assert!(per_ticket.values().all(|n| *n == 1), "{per_ticket:?}");
    assert_nothing_left(&project);
    assert_eq!(
        project.wait_no_processes(Duration::from_secs(5)),
        Vec::<u32>::new()
    );
}

#[test]
fn dirty_checkout_is_refused() {
    let project = TestProject::empty();
    project.add_ticket("d-1", &[]);
    fs::write(project.root().join("notes.txt"), "one\n").unwrap();
    project.git_init();
    fs::write(project.root().join("notes.txt"), "two\n").unwrap();
    project.configure(&committing_agent("0"), json!({"parallel": 2}));

    let output = project.run(&["run"], Duration::from_secs(30));

    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("notes.txt"), "{message}");
    assert!(message.contains("uncommitted"), "{message}");
    assert!(project.records().is_empty());
    assert!(!project.ralph().join("dispatch-loop.lock").exists());
    assert!(!project.ralph().join("dispatch-loop-state.json").exists());
}

#[test]
fn directory_outside_git_is_refused() {
    let project = TestProject::empty();
    project.add_ticket("n-1", &[]);
    project.configure(&committing_agent("0"), json!({"parallel": 2}));

    let output = project.run(&["run"], Duration::from_secs(30));

    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("not inside a git work tree"), "{message}");
    assert!(project.records().is_empty());
    assert!(!project.ralph().join("dispatch-loop.lock").exists());
}

#[test]
fn uncommitted_ticket_file_is_refused() {
    let project = TestProject::empty();
    project.add_ticket("u-1", &[]);
    project.git_init();
    project.add_ticket("u-2", &[]);
    project.configure(&committing_agent("0"), json!({"parallel": 2}));

    let output = project.run(&["run"], Duration::from_secs(30));

    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("ticket-u_2.md"), "{message}");
    assert!(message.contains("not committed"), "{message}");
    assert!(project.records().is_empty());
}

#[test]
fn serial_worktree_run_merges() {
    let project = TestProject::empty();
    project.add_ticket("w-1", &[]);
    project.add_ticket("w-2", &["w-1"]);
    project.git_init();
    project.configure(
        &committing_agent("0"),
        json!({"serialUseWorktree": true, "parallelWorktreesDir": "trees"}),
    );
    fs::write(
        project.root().join(".git/info/exclude"),
        "/.tf/ralph/\n/trees/\n",
    )
    .unwrap();

    let output = project.run(&["run", "--no-progress"], Duration::from_secs(60));

    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    assert_all_closed(&project);
    let merges = merges_per_ticket(&project);
    assert_eq!(merges.len(), 2, "{merges:?}");
    assert!(project.root().join("work/w-2.txt").is_file());
    assert_nothing_left(&project);
    let records: Vec<Value> = project.records();
    assert_eq!(records.len(), 2);
}

#[test]
fn branch_switch_stops_the_run() {
    let project = TestProject::empty();
    add_tagged(&project, "b-1", &[], &["api"]);
    add_tagged(&project, "b-2", &[], &["cli"]);
    add_tagged(&project, "b-3", &["b-1"], &["api"]);
    project.git_init();
    project.configure(&committing_agent("1500"), json!({"parallel": 2}));

    let run = project.spawn(&["run", "--no-progress"]);
    let launched = wait_for(Duration::from_secs(20), || {
        project.records().is_empty()
            && fs::read_dir(project.ralph().join("sessions"))
                .map(|entries| {
                    entries
                        .flatten()
                        .filter(|e| e.path().extension().is_some_and(|ext| ext == "started"))
                        .count()
                        == 2
                })
                .unwrap_or(false)
    });
    assert!(launched, "the sessions did not start");
    project.git(&["checkout", "-q", "-b", "elsewhere"]);
    let output = run.wait_output(Duration::from_secs(30));

    assert_eq!(
        output.status.code(),
        Some(1),
        "stderr:\n{}",
        stderr(&output)
    );
    let message = stderr(&output);
    assert!(
        message.contains("on elsewhere, not on the run's branch main"),
        "{message}"
    );
    assert!(merges_per_ticket(&project).is_empty());
    assert!(
        project.ralph().join("dispatch-loop-state.json").is_file(),
        "the run's state was dropped"
    );

    project.git(&["checkout", "-q", "main"]);
    let output = project.run(&["run", "--no-progress"], Duration::from_secs(60));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    assert_all_closed(&project);
    let merges = merges_per_ticket(&project);
    assert_eq!(merges.len(), 3, "{merges:?}");
    assert_eq!(project.records().len(), 3);
    assert_nothing_left(&project);
}

#[test]
fn freed_slot_is_filled_at_once() {
    let project = TestProject::empty();
    add_tagged(&project, "f-1", &[], &["a"]);
    add_tagged(&project, "f-2", &[], &["b"]);
    add_tagged(&project, "f-3", &[], &["c"]);
    add_tagged(&project, "f-4", &[], &["d"]);
    project.git_init();
    let agent = project.script(
        "agent.sh",
        &format!(
            "set -e\n[ \"$1\" = f-1 ] || sleep 3\n{BIN} tickets close \"$1\"\n\
             git add -A\ngit commit -q -m \"Do $1\""
        ),
    );
    project.git(&["add", "agent.sh"]);
    project.git(&["commit", "-q", "-m", "Add the agent"]);
    // A heartbeat far longer than the sessions: only a session's exit can
    // wake `run` in time.
    project.configure(
        &[&agent, "{ticket}"],
        json!({"parallel": 3, "heartbeatIntervalMs": 600000}),
    );

    let output = project.run(&["run", "--no-progress"], Duration::from_secs(60));

    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    let spans = spans(&project);
    let span = |ticket: &str| spans.iter().find(|s| s.ticket == ticket).unwrap();
    assert!(
        span("f-4").start < span("f-2").end,
        "f-4 waited for a slow session although f-1's slot was free"
    );
}

#[test]
fn unsafe_ids_are_rejected_upfront() {
    let project = TestProject::empty();
    add_tagged(&project, "ok-1", &[], &["a"]);
    add_tagged(&project, "a..b", &[], &["b"]);
    add_tagged(&project, "tr.", &[], &["c"]);
    add_tagged(&project, "x.lock", &[], &["d"]);
    project.git_init();
    project.configure(&committing_agent("0"), json!({"parallel": 2}));

    let output = project.run(&["run"], Duration::from_secs(30));

    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    for file in ["a..b.md", "tr..md", "x.lock.md"] {
        assert!(message.contains(file), "{file} not named: {message}");
    }
    assert!(project.records().is_empty());
}

#[test]
fn worktrees_dir_is_checked() {
    let project = TestProject::empty();
    add_tagged(&project, "w-1", &[], &["a"]);
    fs::create_dir_all(project.root().join("src")).unwrap();
    fs::write(project.root().join("src/main.rs"), "fn main() {}\n").unwrap();
    project.git_init();

    for (dir, expected) in [
        ("src", "contains tracked files (src/main.rs)"),
        ("../outside", "without `..`"),
        (".git/trees", "inside git's own directory"),
    ] {
        project.configure(
            &committing_agent("0"),
            json!({"parallel": 2, "parallelWorktreesDir": dir}),
        );
        let output = project.run(&["run"], Duration::from_secs(30));
        assert_eq!(output.status.code(), Some(1), "{dir}");
        let message = stderr(&output);
        assert!(message.contains(expected), "{dir}: {message}");
        assert!(project.records().is_empty(), "{dir}");
    }
    assert!(!project.root().join("../outside").exists());
}
