//! Shared helpers for the loop's integration tests: a project in a temp
//! directory, the built binary, and a guard that kills every process the
//! test left running under that directory.

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_ralph-loop");

/// Environment variable set to the project directory on every command a
/// test starts. Supervisors and agents inherit it, so a leftover process is
/// found by its environment even after it has left the project directory.
pub const MARKER_VARIABLE: &str = "RALPH_LOOP_TEST_PROJECT";

/// The replay backlog, found beside the repository.
pub fn replay_backlog() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/backlogs/ticketflow-replay"
    ))
    .join(".tickets")
}

/// A project in a temp directory; dropping it kills what is left running
/// there and removes it.
pub struct TestProject {
    pub dir: tempfile::TempDir,
}

impl TestProject {
    /// An empty project (no tickets yet).
    pub fn empty() -> TestProject {
        let dir = tempfile::Builder::new()
            .prefix("ralph-loop-test-")
            .tempdir()
            .unwrap();
        fs::create_dir_all(dir.path().join(".tickets")).unwrap();
        fs::create_dir_all(dir.path().join(".tf/ralph")).unwrap();
        TestProject { dir }
    }

    /// A project with a copy of the replay backlog.
    pub fn replay() -> TestProject {
        let project = TestProject::empty();
        for entry in fs::read_dir(replay_backlog()).unwrap() {
            let entry = entry.unwrap();
            fs::copy(entry.path(), project.tickets().join(entry.file_name())).unwrap();
        }
        project
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn tickets(&self) -> PathBuf {
        self.root().join(".tickets")
    }

    pub fn ralph(&self) -> PathBuf {
        self.root().join(".tf/ralph")
    }

    /// Writes a ticket file.
    pub fn add_ticket(&self, id: &str, deps: &[&str]) {
        let text = format!(
            "---\nid: {id}\nstatus: open\ndeps: [{}]\nlinks: []\ntype: task\npriority: 2\n---\n\
             # Ticket {id}\n",
            deps.join(", ")
        );
        let name: String = id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        fs::write(self.tickets().join(format!("ticket-{name}.md")), text).unwrap();
    }

    /// Writes config.json with short limits and the given agent argv.
    pub fn configure(&self, agent: &[&str], extra: Value) {
        let mut config = json!({
            "maxIterations": 1000,
            "parallel": 1,
            "attemptTimeoutMs": 60000,
            "gracePeriodMs": 300,
            "heartbeatIntervalMs": 500,
            "silenceThresholdMs": 60000,
            "agentCommand": agent,
        });
        if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        let text = serde_json::to_string_pretty(&config).unwrap();
        fs::write(self.ralph().join("config.json"), text).unwrap();
    }

    /// Makes the project a git repository on branch `main` with everything
    /// committed, and a committer identity, as parallel runs need.
    pub fn git_init(&self) {
        self.git(&["init", "--quiet", "--initial-branch=main"]);
        self.git(&["config", "user.name", "Test User"]);
        self.git(&["config", "user.email", "test@example.invalid"]);
        let exclude = self.root().join(".git/info/exclude");
        fs::write(&exclude, "/.tf/ralph/\n").unwrap();
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "-m", "Add the backlog"]);
    }

    /// Runs git in the project and returns its stdout; panics unless it
    /// exits 0.
    pub fn git(&self, args: &[&str]) -> String {
        let output = Command::new("git")
            .arg("-C")
            .arg(self.root())
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Writes an executable shell script and returns its path.
    pub fn script(&self, name: &str, body: &str) -> String {
        let path = self.root().join(name);
        fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        let status = Command::new("chmod").arg("+x").arg(&path).status().unwrap();
        assert!(status.success());
        path.to_string_lossy().into_owned()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .arg("-C")
            .arg(self.root())
            .args(args)
            .env_remove("TICKETS_DIR")
            .env(MARKER_VARIABLE, self.root());
        command.stdin(Stdio::null());
        command
    }

    /// Runs the binary to its end, killing it after `limit`.
    pub fn run(&self, args: &[&str], limit: Duration) -> Output {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let guard = ChildGuard(Some(child));
        guard.wait_output(limit)
    }

    /// Starts the binary in the background.
    pub fn spawn(&self, args: &[&str]) -> ChildGuard {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        ChildGuard(Some(child))
    }

    /// Ticket statuses as the files say.
    pub fn statuses(&self) -> Vec<(String, String)> {
        let mut statuses = Vec::new();
        for entry in fs::read_dir(self.tickets()).unwrap() {
            let text = fs::read_to_string(entry.unwrap().path()).unwrap();
            let field = |name: &str| {
                text.lines()
                    .find_map(|line| line.strip_prefix(name))
                    .unwrap_or("")
                    .to_owned()
            };
            statuses.push((field("id: "), field("status: ")));
        }
        statuses
    }

    /// Reads each ticket's dependencies from the one-line `deps: [a, b]`
    /// field that the replay backlog and [`TestProject::add_ticket`] write.
    pub fn deps(&self) -> HashMap<String, Vec<String>> {
        let mut deps = HashMap::new();
        for entry in fs::read_dir(self.tickets()).unwrap() {
            let text = fs::read_to_string(entry.unwrap().path()).unwrap();
            let field = |name: &str| text.lines().find_map(|line| line.strip_prefix(name));
            let id = field("id: ").unwrap_or("").to_owned();
            let list = field("deps: ").unwrap_or("[]");
            let list = list.trim_start_matches('[').trim_end_matches(']');
            let ids = list
                .split(',')
                .map(str::trim)
                .filter(|dep| !dep.is_empty())
                .map(str::to_owned)
                .collect();
            deps.insert(id, ids);
        }
        deps
    }

    /// Every outcome record, parsed.
    pub fn records(&self) -> Vec<Value> {
        let dir = self.ralph().join("sessions");
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .map(|path| serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap())
            .collect()
    }

    /// The record of the one session of `ticket`.
    pub fn record_of(&self, ticket: &str) -> Value {
        let records: Vec<Value> = self
            .records()
            .into_iter()
            .filter(|r| r["ticket"] == ticket)
            .collect();
        assert_eq!(records.len(), 1, "records of {ticket}: {records:?}");
        records.into_iter().next().unwrap()
    }

    /// Processes other than this test whose working directory, argv or
    /// environment names the project.
    pub fn processes(&self) -> Vec<u32> {
        processes_under(self.root())
    }

    /// Waits until no process runs inside the project, up to `limit`.
    pub fn wait_no_processes(&self, limit: Duration) -> Vec<u32> {
        let deadline = Instant::now() + limit;
        loop {
            let left = self.processes();
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        for _ in 0..3 {
            let pids = self.processes();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Pids whose cwd or command line mentions `dir`, or whose environment
/// sets [`MARKER_VARIABLE`] to `dir`, excluding this process and zombies.
pub fn processes_under(dir: &Path) -> Vec<u32> {
    let me = std::process::id();
    let needle = dir.to_string_lossy().into_owned();
    let marker = format!("{MARKER_VARIABLE}={needle}");
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || is_zombie(pid) {
            continue;
        }
        let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cwd.starts_with(dir) || cmdline.contains(&needle) || has_marker(pid, &marker) {
            pids.push(pid);
        }
    }
    pids
}

/// Returns whether the process's initial environment contains `entry`.
fn has_marker(pid: u32, entry: &str) -> bool {
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    environ
        .split(|byte| *byte == 0)
        .any(|variable| variable == entry.as_bytes())
}

fn is_zombie(pid: u32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
    matches!(state, Some(Some('Z')))
}

/// A child process that is killed and reaped when dropped.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Waits for the exit, killing the child after `limit`. The output is
    /// read on a thread, so a chatty child cannot block on a full pipe.
    pub fn wait_output(mut self, limit: Duration) -> Output {
        let child = self.0.take().unwrap();
        let pid = child.id();
        let (sender, receiver) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let _ = sender.send(child.wait_with_output());
        });
        match receiver.recv_timeout(limit) {
            Ok(output) => output.unwrap(),
            Err(_) => {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                let output = receiver.recv().unwrap().unwrap();
                panic!(
                    "timed out after {limit:?}; stderr:\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Checks from the outcome records that every ticket's session started
/// after the sessions of all its dependencies. A dependency is closed by
/// its own session, so a ticket launched while a dependency was still open
/// fails here even when that dependency closed before the agent checked.
/// Every ticket with dependencies must have a record.
pub fn assert_started_after_deps(project: &TestProject) {
    let mut started = HashMap::new();
    for record in project.records() {
        let ticket = record["ticket"].as_str().unwrap().to_owned();
        let at: jiff::Timestamp = record["startedAt"]
            .as_str()
            .unwrap_or_else(|| panic!("no startedAt in {record}"))
            .parse()
            .unwrap();
        started.insert(ticket, at);
    }
    for (ticket, deps) in project.deps() {
        if deps.is_empty() {
            continue;
        }
        let ticket_at = started
            .get(&ticket)
            .unwrap_or_else(|| panic!("{ticket} has no outcome record"));
        for dep in deps {
            let dep_at = started
                .get(&dep)
                .unwrap_or_else(|| panic!("{ticket} ran but its dependency {dep} did not"));
            assert!(
                ticket_at > dep_at,
                "{ticket} started at {ticket_at}, before its dependency {dep} at {dep_at}"
            );
        }
    }
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
pub fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    condition()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
