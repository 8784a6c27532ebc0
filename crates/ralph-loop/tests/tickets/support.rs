//! Running the binary and writing ticket files for the tests.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one command may run before the test kills it and fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The finished run of one command.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// A child process that is killed and reaped when dropped, even if the test
/// fails while it runs.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Returns a command for the `ralph-loop` binary, started in `dir`, with
/// `TICKETS_DIR` removed from its environment.
pub fn ralph_loop(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ralph-loop"));
    command
        .current_dir(dir)
        .env_remove("TICKETS_DIR")
        .env_remove("RALPH_LOG")
        .env("NO_COLOR", "1");
    command
}

/// Runs `command` to the end and collects its output.
pub fn run(command: &mut Command) -> Run {
    run_with(command, false)
}

/// Runs `command` with the read end of its stdout pipe closed from the start.
pub fn run_with_closed_stdout(command: &mut Command) -> Run {
    run_with(command, true)
}

fn run_with(command: &mut Command, close_stdout: bool) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut guard = ChildGuard(command.spawn().expect("spawn ralph-loop"));
    if close_stdout {
        drop(guard.0.stdout.take());
    }
    let stdout = drain(guard.0.stdout.take());
    let stderr = drain(guard.0.stderr.take());

    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = guard.0.try_wait().expect("wait for ralph-loop") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "ralph-loop ran longer than {COMMAND_TIMEOUT:?}"
        );
        thread::sleep(Duration::from_millis(5));
    };
    Run {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_string(&mut text).expect("read child output");
        }
        text
    })
}

/// Runs `ralph-loop tickets ARGS...` in `dir`.
pub fn tickets(dir: &Path, args: &[&str]) -> Run {
    run(ralph_loop(dir).arg("tickets").args(args))
}

/// Returns the shared directory that sits beside the repository.
pub fn shared_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")).to_path_buf()
}

/// Copies a shared backlog's `.tickets` into `dest/.tickets`, writable.
pub fn copy_backlog(name: &str, dest: &Path) {
    let source = shared_dir().join("backlogs").join(name).join(".tickets");
    let target = dest.join(".tickets");
    fs::create_dir_all(&target).expect("create .tickets");
    for entry in fs::read_dir(&source).expect("list shared backlog") {
        let entry = entry.expect("read shared backlog entry");
        let bytes = fs::read(entry.path()).expect("read shared ticket");
        fs::write(target.join(entry.file_name()), bytes).expect("write ticket copy");
    }
}

/// A scratch project directory with an empty `.tickets/` inside.
pub struct Project {
    pub root: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Project {
        let root = tempfile::tempdir().expect("create temp dir");
        fs::create_dir(root.path().join(".tickets")).expect("create .tickets");
        Project { root }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn tickets_dir(&self) -> PathBuf {
        self.root.path().join(".tickets")
    }

    /// Writes `contents` to `.tickets/NAME` and returns the file's path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.tickets_dir().join(name);
        fs::write(&path, contents).expect("write ticket file");
        path
    }

    /// Writes a well-formed ticket `id.md`.
    pub fn ticket(&self, id: &str, status: &str, priority: u32, deps: &[&str]) -> PathBuf {
        let text = ticket_text(id, status, priority, deps);
        self.write(&format!("{id}.md"), text)
    }

    /// Runs `ralph-loop tickets ARGS...` in the project root.
    pub fn tickets(&self, args: &[&str]) -> Run {
        tickets(self.path(), args)
    }
}

/// Returns the text of a well-formed ticket titled `Title of ID`.
pub fn ticket_text(id: &str, status: &str, priority: u32, deps: &[&str]) -> String {
    format!(
        "---\nid: {id}\nstatus: {status}\ndeps: [{}]\nlinks: []\ntype: task\n\
         priority: {priority}\nassignee: dev\ntags: [component:core]\n---\n\
         # Title of {id}\n\nBody.\n",
        deps.join(", ")
    )
}

/// Returns the `ready` line tk prints for a ticket made by [`ticket_text`].
pub fn ready_line(id: &str, status: &str, priority: u32) -> String {
    format!("{id:<8} [P{priority}][{status}] - Title of {id}\n")
}
