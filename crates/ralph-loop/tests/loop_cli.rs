//! `init`, `--dry-run`, `status`, `demo`, config handling and resuming
//! from a state file of the earlier format.

mod support_loop;

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support_loop::{BIN, TestProject, replay_backlog, stderr, stdout, wait_for};

const SIGIL: &str = "<promise>COMPLETE</promise>";

fn listing(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in walk(dir) {
        names.push(
            entry
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    names
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            paths.extend(walk(&path));
        }
        paths.push(path);
    }
    paths
}

#[test]
fn init_writes_every_key() {
    let project = TestProject::empty();
    let path = project.ralph().join("config.json");

    let output = project.run(&["init"], Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let config: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(config["maxIterations"], 50);
    assert_eq!(config["parallel"], 1);
    assert_eq!(config["attemptTimeoutMs"], 600000);
    assert_eq!(config["gracePeriodMs"], 10000);
    assert!(config["heartbeatIntervalMs"].is_u64());
    assert!(config["silenceThresholdMs"].is_u64());
    assert_eq!(
        config["agentCommand"],
        json!(["pi", "-p", "/tf {ticket} --auto"])
    );

    let again = project.run(&["init"], Duration::from_secs(10));
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    let forced = project.run(&["init", "--force"], Duration::from_secs(10));
    assert_eq!(forced.status.code(), Some(0));
}

#[test]
fn dry_run_lists_order_and_writes_nothing() {
    let project = TestProject::empty();
    fs::remove_dir_all(project.ralph()).unwrap();
    fs::remove_dir_all(project.root().join(".tf")).unwrap();
    fs::remove_dir(project.tickets()).unwrap();
    std::os::unix::fs::symlink(replay_backlog(), project.tickets()).unwrap();
    let before = listing(project.root());

    let output = project.run(
        &["run", "--dry-run", "--max-iterations", "60"],
        Duration::from_secs(20),
    );

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("60 tickets would be dispatched"),
        "{text}"
    );
    let ids: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(ids.len(), 60);
    let ready = fs::read_to_string(replay_backlog().join("../expected/ready.txt")).unwrap();
    let first_ready = ready.split(' ').next().unwrap();
    assert_eq!(ids[0], first_ready);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "a ticket is listed twice");
    assert_eq!(listing(project.root()), before, "the dry run changed files");
}

#[test]
fn unknown_config_key_warns_once() {
    let project = TestProject::empty();
    project.add_ticket("c-1", &[]);
    let agent = [BIN, "__agent", "--behavior", "close", "{ticket}"];
    project.configure(&agent, json!({"futureKey": true}));

    let output = project.run(&["run"], Duration::from_secs(20));

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stderr(&output).matches("futureKey").count(),
        1,
        "{}",
        stderr(&output)
    );
    let config = fs::read_to_string(project.ralph().join("config.json")).unwrap();
    assert!(config.contains("futureKey"));
}

#[test]
fn status_shows_active_session() {
    let project = TestProject::empty();
    project.add_ticket("st-1", &[]);
    let agent = [BIN, "__agent", "--sleep-ms", "60000", "{ticket}"];
    project.configure(&agent, json!({}));
    let turn = project.run(&["turn"], Duration::from_secs(20));
    assert_eq!(turn.status.code(), Some(0), "{}", stderr(&turn));
    let log = project.ralph().join("logs/st-1.log");
    assert!(wait_for(Duration::from_secs(10), || {
        fs::read_to_string(&log).is_ok_and(|text| text.contains("agent: working"))
    }));

    let output = project.run(&["status", "--json"], Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let status: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(status["lock"]["state"], "held", "{status}");
    assert_eq!(status["active"][0]["ticket"], "st-1");
    assert_eq!(status["active"][0]["state"], "in-flight");
    assert_eq!(status["active"][0]["lastLogLine"], "agent: working on st-1");
    assert_eq!(status["run"]["startedCount"], 1);
    assert_eq!(status["backlog"]["total"], 1);

    let text = project.run(&["status"], Duration::from_secs(10));
    assert!(stdout(&text).contains("st-1"), "{}", stdout(&text));
    assert!(stdout(&text).contains("held by run"), "{}", stdout(&text));
}

#[test]
fn resumed_run_keeps_its_settings() {
    let project = TestProject::empty();
    for id in ["r-1", "r-2", "r-3"] {
        project.add_ticket(id, &[]);
    }
    let agent = [
        BIN,
        "__agent",
        "--behavior",
        "close",
        "--sleep-ms",
        "300",
        "{ticket}",
    ];
    project.configure(&agent, json!({}));
    let first = project.run(&["turn", "--max-iterations", "1"], Duration::from_secs(20));
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));

    let mut outputs = Vec::new();
    for _ in 0..200 {
        let output = project.run(&["turn", "--max-iterations", "5"], Duration::from_secs(20));
        let done = stdout(&output).contains(SIGIL);
        outputs.push(output);
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let notes = stderr(&outputs[0]).matches("saved settings").count();
    assert_eq!(notes, 1, "{}", stderr(&outputs[0]));
    assert!(stdout(outputs.last().unwrap()).contains(SIGIL));
    assert_eq!(
        project.records().len(),
        1,
        "maxIterations 1 of the run was not kept"
    );
}

#[test]
fn version_one_state_is_continued() {
    // The version-1 format has no `version` key. A file with `"version": 1`
    // must be read the same way.
    for version in [None, Some(1)] {
        let project = TestProject::empty();
        for id in ["v-1", "v-2", "v-3", "v-4"] {
            project.add_ticket(id, &[]);
        }
        let mut state = json!({
            "runId": "0f6b7c1e-2d9a-4a39-9a55-3b1c5f0e8d21",
            "startedAt": "2026-02-01T10:00:00Z",
            "maxIterations": 10,
            "parallel": 1,
            "startedCount": 3,
            "completed": ["v-1"],
            "failed": ["v-2"],
            "active": [{"ticket": "v-3", "sessionId": "a1b2"}],
        });
        if let Some(version) = version {
            state["version"] = json!(version);
        }
        let state_path = project.ralph().join("dispatch-loop-state.json");
        fs::write(&state_path, state.to_string()).unwrap();
        let agent = [BIN, "__agent", "--behavior", "close", "{ticket}"];
        project.configure(&agent, json!({}));

        let output = project.run(&["run"], Duration::from_secs(20));

        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert!(
            !stderr(&output).contains("unreadable state file"),
            "version {version:?}: {}",
            stderr(&output)
        );
        let tickets: Vec<Value> = project
            .records()
            .iter()
            .map(|r| r["ticket"].clone())
            .collect();
        assert_eq!(
            tickets,
            vec![json!("v-4")],
            "version {version:?}: only the undispatched ticket may run"
        );
        assert!(stdout(&output).contains(SIGIL), "{}", stdout(&output));
        let progress = fs::read_to_string(project.ralph().join("progress.md")).unwrap();
        assert!(progress.contains("- Completed: 2"), "{progress}");
        assert!(!state_path.exists(), "state left behind");
    }
}

#[test]
fn unreadable_state_is_moved_aside() {
    let project = TestProject::empty();
    project.add_ticket("u-1", &[]);
    let state_path = project.ralph().join("dispatch-loop-state.json");
    let garbage = "{\"runId\": \"0f6b7c1e-2d9a";
    fs::write(&state_path, garbage).unwrap();
    let agent = [BIN, "__agent", "--behavior", "close", "{ticket}"];
    project.configure(&agent, json!({}));

    let output = project.run(&["run"], Duration::from_secs(20));

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("unreadable state file"),
        "no warning: {}",
        stderr(&output)
    );
    let aside: Vec<_> = fs::read_dir(project.ralph())
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("dispatch-loop-state.json.unreadable-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "files set aside: {aside:?}");
    assert_eq!(fs::read_to_string(&aside[0]).unwrap(), garbage);
    let warning = format!("moved to {}", aside[0].display());
    assert!(
        stderr(&output).contains(&warning),
        "the warning does not name {}: {}",
        aside[0].display(),
        stderr(&output)
    );
    assert!(stdout(&output).contains(SIGIL), "{}", stdout(&output));
    assert_eq!(project.record_of("u-1")["exitCode"], 0);
    assert!(!state_path.exists(), "state left behind");
}

#[test]
fn demo_runs_in_given_directory() {
    let project = TestProject::empty();
    let dir = project.root().join("demo");

    let output = project.run(
        &["demo", "--dir", dir.to_str().unwrap()],
        Duration::from_secs(60),
    );

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains(SIGIL));
    let log = std::process::Command::new("git")
        .args(["-C", dir.to_str().unwrap(), "log", "--oneline"])
        .output()
        .unwrap();
    let commits = String::from_utf8_lossy(&log.stdout).lines().count();
    assert_eq!(
        commits, 9,
        "the initial commit, four closed tickets and their four merges"
    );
    let merges = std::process::Command::new("git")
        .args([
            "-C",
            dir.to_str().unwrap(),
            "log",
            "--merges",
            "--format=%s",
        ])
        .output()
        .unwrap();
    let merges = String::from_utf8_lossy(&merges.stdout).into_owned();
    for ticket in ["demo-1", "demo-2", "demo-3", "demo-4"] {
        let subject = format!("Merge ticket {ticket} from branch ralph/{ticket}");
        assert!(merges.contains(&subject), "{ticket} not merged: {merges}");
    }
    let worktrees = std::process::Command::new("git")
        .args(["-C", dir.to_str().unwrap(), "worktree", "list"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&worktrees.stdout).lines().count(),
        1
    );
    let progress = fs::read_to_string(dir.join(".tf/ralph/progress.md")).unwrap();
    assert!(progress.contains("- Completed: 4"), "{progress}");
    assert!(progress.contains("- demo-5: failed"), "{progress}");
}

#[test]
fn zero_parallel_flag_is_usage_error() {
    let project = TestProject::empty();
    project.add_ticket("c-1", &[]);

    let output = project.run(
        &["run", "--dry-run", "--parallel", "0"],
        Duration::from_secs(10),
    );

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--parallel"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn config_type_error_names_key() {
    let project = TestProject::empty();
    project.add_ticket("c-1", &[]);
    let cases = [
        (
            r#"{"parallel": "x"}"#,
            "parallel: invalid type: string \"x\"",
        ),
        (r#"{"parallel": 99999999999999999999}"#, "parallel: "),
        (
            r#"{"agentCommand": ["pi", 3]}"#,
            "agentCommand[1]: invalid type",
        ),
    ];

    for (config, expected) in cases {
        fs::write(project.ralph().join("config.json"), config).unwrap();

        let output = project.run(&["run", "--dry-run"], Duration::from_secs(10));

        assert_eq!(
            output.status.code(),
            Some(1),
            "{config}: {}",
            stderr(&output)
        );
        let message = stderr(&output);
        assert!(message.contains("invalid config file"), "{message}");
        assert!(message.contains(&format!(": {expected}")), "{message}");
    }
}

/// Makes a named pipe at `path`, which no process ever opens for writing.
fn make_fifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;

    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a valid NUL-terminated string.
    let result = unsafe { libc::mkfifo(path.as_ptr(), 0o644) };
    assert_eq!(result, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[test]
fn named_pipe_ticket_is_skipped() {
    let project = TestProject::empty();
    project.add_ticket("c-1", &[]);
    let fifo = project.tickets().join("fifo.md");
    make_fifo(&fifo);
    let warning = format!(
        "{}: not a regular file but a named pipe (FIFO); ticket skipped",
        fifo.display()
    );

    let dry_run = project.run(&["run", "--dry-run"], Duration::from_secs(20));
    let status = project.run(&["status"], Duration::from_secs(20));

    assert_eq!(dry_run.status.code(), Some(0), "{}", stderr(&dry_run));
    assert!(stderr(&dry_run).contains(&warning), "{}", stderr(&dry_run));
    assert_eq!(
        stdout(&dry_run),
        "1 ticket would be dispatched by this run, in order:\nc-1      [P2] Ticket c-1\n"
    );
    // `status` counts the backlog without printing file warnings.
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
}

#[test]
fn one_invalid_id_is_singular() {
    let project = TestProject::empty();
    project.add_ticket("-bad", &[]);

    let output = project.run(&["run", "--dry-run"], Duration::from_secs(10));

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("error: invalid id in 1 ticket, so nothing was dispatched"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn file_as_project_directory_is_error() {
    let project = TestProject::empty();
    let file = project.root().join("file");
    fs::write(&file, "").unwrap();

    let output = std::process::Command::new(BIN)
        .arg("-C")
        .arg(&file)
        .arg("status")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let expected = format!(
        "error: the project directory {} is not a directory\n",
        file.display()
    );
    assert_eq!(stderr(&output), expected);
}
