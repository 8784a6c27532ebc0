//! One agent session's files under `.tf/ralph/sessions/` and how to tell
//! from them, without races, whether the session is in flight, finished,
//! never started or lost.
//!
//! The orchestrator creates `<uuid>.lock`, holds `flock` on it and hands
//! the descriptor to the supervisor, which keeps it until it exits. The
//! supervisor writes `<uuid>.started` before it spawns the agent and
//! `<uuid>.json` (the outcome record) before it exits. So:
//!
//! | lock held | `.started` | record | session is |
//! | --- | --- | --- | --- |
//! | yes | - | - | in flight |
//! | no | - | yes | finished |
//! | no | no | no | never started: safe to launch again |
//! | no | yes | no | lost |

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;
use jiff::Timestamp;
use runlock::ProcessIdentity;
use rustix::fs::FlockOperation;
use rustix::io::FdFlags;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::fsutil;
use super::outcome::Termination;

/// The paths of one session's files.
#[derive(Clone, Debug)]
pub struct SessionFiles {
    pub session: Uuid,
    dir: PathBuf,
}

impl SessionFiles {
    pub fn new(sessions_dir: &Path, session: Uuid) -> SessionFiles {
        SessionFiles {
            session,
            dir: sessions_dir.to_owned(),
        }
    }

    pub fn lock(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.session))
    }

    pub fn started(&self) -> PathBuf {
        self.dir.join(format!("{}.started", self.session))
    }

    pub fn record(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.session))
    }
}

/// The contents of `<uuid>.started`: who supervises the session and,
/// once spawned, which process is the agent.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    pub session: Uuid,
    pub ticket: String,
    pub supervisor: ProcessIdentity,
    pub agent: Option<ProcessIdentity>,
    pub started_at: Timestamp,
}

/// The outcome record `<uuid>.json`, written once when the session ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub session: Uuid,
    pub ticket: String,
    /// The supervisor process; `None` only when the loop wrote the record
    /// for a lost session whose `.started` file was unreadable.
    pub supervisor: Option<ProcessIdentity>,
    /// The agent process; `None` if it was never spawned.
    pub agent: Option<ProcessIdentity>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Timestamp,
    pub exit_code: Option<i32>,
    /// The signal that ended the agent, if one did.
    pub signal: Option<i32>,
    pub termination: Termination,
    /// Whether the output contained `<promise>COMPLETE</promise>`; a
    /// diagnostic only.
    pub sigil: bool,
    pub log: PathBuf,
    /// Error that kept the supervisor from finishing its work, if any.
    pub error: Option<String>,
}

impl SessionRecord {
    /// Writes the record atomically.
    pub fn save(&self, files: &SessionFiles) -> anyhow::Result<()> {
        let path = files.record();
        let mut text = serde_json::to_vec_pretty(self).context("failed to encode a record")?;
        text.push(b'\n');
        fsutil::write_atomic(&path, &text)
            .with_context(|| format!("failed to write {}", path.display()))
    }
}

impl Started {
    pub fn save(&self, files: &SessionFiles) -> anyhow::Result<()> {
        let path = files.started();
        let text = serde_json::to_vec_pretty(self).context("failed to encode a session")?;
        fsutil::write_atomic(&path, &text)
            .with_context(|| format!("failed to write {}", path.display()))
    }

    pub fn load(files: &SessionFiles) -> anyhow::Result<Option<Started>> {
        read_json(&files.started())
    }
}

/// State of a session, as read from its files.
#[derive(Debug)]
pub enum Probe {
    InFlight,
    Finished(Box<SessionRecord>),
    NeverStarted,
    /// The supervisor is gone without a record; `.started` is attached when
    /// it could be read.
    Lost(Option<Box<Started>>),
}

/// Classifies a session by its files; see the module documentation.
pub fn probe(files: &SessionFiles) -> anyhow::Result<Probe> {
    if is_locked(&files.lock())? {
        return Ok(Probe::InFlight);
    }
    if let Some(record) = read_json::<SessionRecord>(&files.record())? {
        return Ok(Probe::Finished(Box::new(record)));
    }
    if !files.started().exists() {
        return Ok(Probe::NeverStarted);
    }
    let started = Started::load(files).unwrap_or_else(|error| {
        tracing::warn!("{error:#}");
        None
    });
    Ok(Probe::Lost(started.map(Box::new)))
}

/// Returns whether a process has `flock` taken on `path`.
fn is_locked(path: &Path) -> anyhow::Result<bool> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(error) => {
            return Err(error).with_context(|| format!("failed to open {}", path.display()));
        }
    };
    // The probe's own lock, if it gets one, goes away when `file` closes.
    match rustix::fs::flock(&file, FlockOperation::NonBlockingLockShared) {
        Ok(()) => Ok(false),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(true),
        Err(error) => Err(io::Error::from(error))
            .with_context(|| format!("failed to probe the lock {}", path.display())),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("failed to read {}", path.display()));
        }
    };
    let value = serde_json::from_slice(&text)
        .with_context(|| format!("invalid session file {}", path.display()))?;
    Ok(Some(value))
}

/// Everything the supervisor needs to run one session.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    pub ticket: String,
    pub files: SessionFiles,
    pub workdir: PathBuf,
    /// Given to the agent as `TICKETS_DIR`, when set.
    pub tickets_dir: Option<PathBuf>,
    pub log: PathBuf,
    pub argv: Vec<String>,
    pub timeout_ms: u64,
    pub grace_ms: u64,
}

/// Creates and locks the session's lock file, then spawns the supervisor
/// with that descriptor as its only inherited one.
pub fn launch(spec: &LaunchSpec) -> anyhow::Result<Child> {
    let path = spec.files.lock();
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("failed to create {}", path.display()))?;
    rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive)
        .map_err(io::Error::from)
        .with_context(|| format!("failed to lock {}", path.display()))?;

    // std opens files close-on-exec; this one descriptor is meant to
    // survive the exec. The loop is single-threaded, so no other spawn can
    // inherit it in between.
    rustix::io::fcntl_setfd(&lock, FdFlags::empty()).map_err(io::Error::from)?;
    let exe = std::env::current_exe().context("failed to find the ralph-loop executable")?;
    let mut command = Command::new(exe);
    command
        .arg("__supervise")
        .arg("--session")
        .arg(spec.files.session.to_string())
        .arg("--ticket")
        .arg(&spec.ticket)
        .arg("--sessions-dir")
        .arg(&spec.files.dir)
        .arg("--lock-fd")
        .arg(lock.as_raw_fd().to_string())
        .arg("--workdir")
        .arg(&spec.workdir)
        .arg("--log")
        .arg(&spec.log)
        .arg("--timeout-ms")
        .arg(spec.timeout_ms.to_string())
        .arg("--grace-ms")
        .arg(spec.grace_ms.to_string())
        .arg("--")
        .args(&spec.argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(dir) = &spec.tickets_dir {
        command.env("TICKETS_DIR", dir);
    }
    let child = command
        .spawn()
        .context("failed to start a session supervisor");

    // Dropping `lock` closes this process's copy; the supervisor's copy
    // keeps the lock held until it exits.
    drop(lock);
    child
}
