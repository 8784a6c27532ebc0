//! Helpers shared by the run lock tests: a project in a temporary
//! directory, the built binary, process guards and lock records.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ralph-loop");

/// A project directory with `.tf/ralph/`, removed on drop.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        std::fs::create_dir_all(dir.path().join(".tf/ralph")).expect("create .tf/ralph");
        Project { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn ralph_dir(&self) -> PathBuf {
        self.root().join(".tf/ralph")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.ralph_dir().join("dispatch-loop.lock")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root().join(name)
    }

    /// Returns a `ralph-loop -C ROOT ARGS...` command with a clean
    /// environment.
    pub fn ralph(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.arg("-C").arg(self.root()).args(args);
        for name in [
            "RALPH_LOG",
            "RALPH_LOCK_WAIT",
            "RALPH_HEARTBEAT_INTERVAL",
            "RALPH_SILENCE_THRESHOLD",
            "RUNLOCK_NO_FLOCK",
        ] {
            command.env_remove(name);
        }
        command.stdin(Stdio::null());
        command
    }

    /// Runs `ralph-loop -C ROOT ARGS...` to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.ralph(args).output().expect("run ralph-loop")
    }

    pub fn write_lock(&self, content: &str) {
        std::fs::write(self.lock_path(), content).expect("write the lock file");
    }

    /// Sets the lock file's modification time `seconds` into the past.
    pub fn age_lock(&self, seconds: u64) {
        let file = std::fs::File::open(self.lock_path()).expect("open the lock file");
        let then = std::time::SystemTime::now() - Duration::from_secs(seconds);
        file.set_modified(then).expect("set the modification time");
    }

    pub fn read_lock(&self) -> Option<String> {
        std::fs::read_to_string(self.lock_path()).ok()
    }

    /// Returns the lines of the lock event log, parsed.
    pub fn events(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.ralph_dir().join("lock-events.jsonl")).unwrap_or_default();
        text.lines()
            .map(|line| serde_json::from_str(line).expect("event line is JSON"))
            .collect()
    }

    /// Returns the outcomes of the `acquire` events, in order.
    pub fn acquire_outcomes(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter(|event| event["event"] == "acquire")
            .map(|event| event["outcome"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    pub fn status_json(&self) -> Value {
        let output = self.run(&["lock", "status", "--json"]);
        assert!(
            output.status.success(),
            "status failed: {}",
            stderr(&output)
        );
        serde_json::from_slice(&output.stdout).expect("status --json prints JSON")
    }
}

/// A spawned process, in its own process group, killed with its group and
/// waited for on drop.
pub struct Guard {
    pub child: Option<Child>,
    pub pid: u32,
}

impl Guard {
    /// Spawns `command` in a new process group.
    pub fn spawn(mut command: Command) -> Guard {
        command.process_group(0);
        let child = command.spawn().expect("spawn a process");
        let pid = child.id();
        Guard {
            child: Some(child),
            pid,
        }
    }

    /// Waits for the process to exit and returns its status; panics (and
    /// so kills it) after two minutes, so that a hung test fails.
    pub fn wait(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("process not yet waited for");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("wait for a process") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "process {} did not exit within two minutes",
                self.pid
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the process and returns its output.
    pub fn output(&mut self) -> Output {
        let child = self.child.take().expect("process not yet waited for");
        child.wait_with_output().expect("wait for a process")
    }

    pub fn signal(&self, signal: i32) {
        let _ = rustix::process::kill_process(pid(self.pid), named(signal));
    }

    pub fn signal_group(&self, signal: i32) {
        let _ = rustix::process::kill_process_group(pid(self.pid), named(signal));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.signal_group(SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;

fn pid(raw: u32) -> rustix::process::Pid {
    let raw = i32::try_from(raw).expect("PID fits in i32");
    rustix::process::Pid::from_raw(raw).expect("PID is not zero")
}

fn named(signal: i32) -> rustix::process::Signal {
    rustix::process::Signal::from_named_raw(signal).expect("a named signal")
}

/// Polls `condition` every 5 ms until it holds; panics after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn boot_id() -> String {
    runlock::boot_id().expect("read the boot id")
}

pub fn hostname() -> String {
    runlock::hostname().expect("read the host name")
}

/// Returns the start ticks of a running process.
pub fn start_ticks(pid: u32) -> u64 {
    runlock::ProcessIdentity::of(pid)
        .expect("read a process identity")
        .expect("the process is running")
        .start_ticks
}

/// Returns a current-format lock record as JSON text.
pub fn record(run_id: &str, pid: u32, ticks: u64, boot: &str, host: &str) -> String {
    json!({
        "version": 2,
        "runId": run_id,
        "pid": pid,
        "startedAt": "2026-01-02T03:04:05Z",
        "processStartTime": ticks,
        "bootId": boot,
        "hostname": host,
        "members": [],
    })
    .to_string()
}

/// Returns a record whose owner is a process that has exited.
pub fn dead_record(run_id: &str) -> String {
    let mut child = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let ticks = start_ticks(pid);
    let _ = child.kill();
    let _ = child.wait();
    record(run_id, pid, ticks, &boot_id(), &hostname())
}

/// Spawns a sleeping process, killed on drop.
pub fn sleeper() -> Guard {
    let mut command = Command::new("sleep");
    command.arg("300");
    Guard::spawn(command)
}

pub const RUN_A: &str = "11111111-1111-4111-8111-111111111111";
pub const RUN_B: &str = "22222222-2222-4222-8222-222222222222";

/// Parses a checker log of `enter PID` / `leave PID` lines and returns the
/// first overlap, if any, and the number of complete entries.
pub fn check_log(text: &str) -> (Option<String>, usize) {
    let mut inside: Option<&str> = None;
    let mut entries = 0;
    for (number, line) in text.lines().enumerate() {
        let (kind, pid) = line.split_once(' ').unwrap_or((line, ""));
        match (kind, inside) {
            ("enter", None) => inside = Some(pid),
            ("leave", Some(holder)) if holder == pid => {
                inside = None;
                entries += 1;
            }
            _ => {
                let overlap = format!("line {}: {line:?} while inside {inside:?}", number + 1);
                return (Some(overlap), entries);
            }
        }
    }
    (None, entries)
}
