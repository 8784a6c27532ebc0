//! `.tf/ralph/dispatch-loop-state.json`: what one run has started and what
//! came of it, kept across turns and crashes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::fsutil;
use super::outcome::Outcome;

/// The state file format this version writes.
pub const VERSION: u32 = 2;

/// How many finished tickets of each kind the state file keeps for display.
pub const HISTORY_LIMIT: usize = 50;

/// The persisted state of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub version: u32,
    pub run_id: Uuid,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    /// The settings the run started with; a resumed run keeps them.
    pub settings: Settings,
    /// Sessions launched so far, counted against `maxIterations`.
    pub started_count: u32,
    pub completed_count: u32,
    pub failed_count: u32,
    /// Every ticket this run has launched, so none is launched twice. Its
    /// length is bounded by `maxIterations`.
    pub dispatched: Vec<String>,
    /// The most recent completed tickets, newest last, at most
    /// [`HISTORY_LIMIT`].
    pub completed: Vec<Finished>,
    /// The most recent tickets that ended any other way, newest last, at
    /// most [`HISTORY_LIMIT`].
    pub failed: Vec<Finished>,
    /// Sessions launched and not yet reconciled.
    pub active: Vec<Active>,
    /// Set when `run` was stopped by this signal; the next run starts anew.
    #[serde(default)]
    pub stopped_by_signal: Option<i32>,
    /// Whether `turn` drives the run. Only `turn` continues such a run
    /// while its sessions are alive; `run` finds it busy.
    #[serde(default)]
    pub driven_by_turns: bool,
    /// The branch the run started on, which completed tickets are merged
    /// into; set when sessions run in worktrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<String>,
    /// Set when the file was in the version-1 format, which kept only
    /// `maxIterations` and `parallel`; the other settings then come from
    /// the config.
    #[serde(skip)]
    pub from_version_1: bool,
}

/// The run-defining settings, fixed when the run starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub max_iterations: u32,
    pub parallel: u32,
    pub attempt_timeout_ms: u64,
    pub grace_period_ms: u64,
    pub agent_command: Vec<String>,
    /// Whether a ticket without components may run beside others.
    #[serde(default)]
    pub allow_untagged: bool,
    /// The directory of per-ticket worktrees, or `None` when sessions run
    /// in the main checkout.
    #[serde(default)]
    pub worktrees: Option<PathBuf>,
}

/// A session the run has launched (or is about to launch).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Active {
    pub ticket: String,
    pub session: Uuid,
    pub launched_at: Timestamp,
    /// The agent's working directory.
    pub workdir: PathBuf,
    /// The ticket file read after the session to see whether it closed.
    pub ticket_file: PathBuf,
    /// The session's worktree, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<PathBuf>,
    /// The ticket's `component:` tags, which no other active ticket shares.
    #[serde(default)]
    pub components: Vec<String>,
}

/// A ticket whose session has ended.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finished {
    pub ticket: String,
    /// `None` for entries read from a version-1 file.
    pub session: Option<Uuid>,
    pub outcome: Outcome,
    pub reason: String,
    pub ended_at: Timestamp,
    /// The worktree left in place for a person to finish the work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_worktree: Option<PathBuf>,
    /// The branch kept because it contains commits that were not merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_branch: Option<String>,
}

impl Finished {
    /// Returns an entry with nothing kept.
    pub fn new(
        ticket: String,
        session: Option<Uuid>,
        outcome: Outcome,
        reason: String,
        ended_at: Timestamp,
    ) -> Finished {
        Finished {
            ticket,
            session,
            outcome,
            reason,
            ended_at,
            kept_worktree: None,
            kept_branch: None,
        }
    }
}

impl State {
    /// Starts the state of a new run.
    pub fn new(run_id: Uuid, settings: Settings) -> State {
        let now = Timestamp::now();
        State {
            version: VERSION,
            run_id,
            started_at: now,
            updated_at: now,
            settings,
            started_count: 0,
            completed_count: 0,
            failed_count: 0,
            dispatched: Vec::new(),
            completed: Vec::new(),
            failed: Vec::new(),
            active: Vec::new(),
            stopped_by_signal: None,
            driven_by_turns: false,
            base_branch: None,
            from_version_1: false,
        }
    }

    /// Reads the state file. A missing file is `None`; a file that cannot
    /// be parsed is moved aside with a warning and is `None` too.
    pub fn load(path: &Path) -> anyhow::Result<Option<State>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("failed to read {}", path.display()));
            }
        };
        match parse(&text) {
            Ok(state) => Ok(Some(state)),
            Err(reason) => {
                let aside = set_aside(path)?;
                tracing::warn!(
                    "unreadable state file {} ({reason}); moved to {} and starting afresh",
                    path.display(),
                    aside.display()
                );
                Ok(None)
            }
        }
    }

    /// Reads the state file without changing anything; a file that cannot
    /// be parsed is `None`.
    pub fn peek(path: &Path) -> Option<State> {
        parse(&fs::read_to_string(path).ok()?).ok()
    }

    /// Writes the state file atomically.
    pub fn save(&mut self, path: &Path) -> anyhow::Result<()> {
        self.updated_at = Timestamp::now();
        let mut text = serde_json::to_vec_pretty(self).context("failed to encode the state")?;
        text.push(b'\n');
        fsutil::write_atomic(path, &text)
            .with_context(|| format!("failed to write {}", path.display()))
    }

    /// Returns whether this run has launched `ticket` already.
    pub fn was_dispatched(&self, ticket: &str) -> bool {
        self.dispatched.iter().any(|id| id == ticket)
    }

    /// Records a session's end and drops it from the active list.
    pub fn finish(&mut self, entry: Finished) {
        self.active
            .retain(|active| Some(active.session) != entry.session);
        let list = if entry.outcome == Outcome::Completed {
            self.completed_count += 1;
            &mut self.completed
        } else {
            self.failed_count += 1;
            &mut self.failed
        };
        list.push(entry);
        if list.len() > HISTORY_LIMIT {
            let excess = list.len() - HISTORY_LIMIT;
            list.drain(..excess);
        }
    }

    /// Forgets a launch intent whose session never started, so the ticket
    /// can be launched again.
    pub fn forget(&mut self, session: Uuid) {
        let Some(index) = self.active.iter().position(|a| a.session == session) else {
            return;
        };
        let active = self.active.remove(index);
        self.dispatched.retain(|id| *id != active.ticket);
        self.started_count = self.started_count.saturating_sub(1);
    }
}

/// Parses the current format, or the version-1 format of the earlier
/// Python loop (no `version` key).
fn parse(text: &str) -> Result<State, String> {
    let value: Value = serde_json::from_str(text).map_err(|error| error.to_string())?;
    match value.get("version").and_then(Value::as_u64) {
        Some(2) => serde_json::from_value(value).map_err(|error| error.to_string()),
        Some(1) | None => parse_v1(&value),
        Some(other) => Err(format!("unsupported state version {other}")),
    }
}

/// Converts a version-1 file: `runId`, `startedAt`, `maxIterations`,
/// `parallel`, `startedCount`, and lists `completed`, `failed` and `active`
/// of ticket ids (or of objects with a `ticket` or `id` key).
///
/// Version 1 kept no session uuid, so its active sessions cannot be
/// checked. They are recorded as lost and are not launched again by this
/// run.
fn parse_v1(value: &Value) -> Result<State, String> {
    let run_id = value
        .get("runId")
        .and_then(Value::as_str)
        .ok_or("missing runId")?;
    let run_id = Uuid::parse_str(run_id).unwrap_or_else(|_| Uuid::new_v4());
    let started_at = value
        .get("startedAt")
        .and_then(Value::as_str)
        .and_then(|text| text.parse::<Timestamp>().ok())
        .unwrap_or_else(Timestamp::now);

    let defaults = super::config::Config::default();
    let number = |key: &str, default: u32| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(default)
    };
    let settings = Settings {
        max_iterations: number("maxIterations", defaults.max_iterations),
        parallel: number("parallel", defaults.parallel).max(1),
        attempt_timeout_ms: defaults.attempt_timeout_ms,
        grace_period_ms: defaults.grace_period_ms,
        agent_command: defaults.agent_command,
        allow_untagged: defaults.parallel_allow_untagged,
        worktrees: None,
    };

    let mut state = State::new(run_id, settings);
    state.started_at = started_at;
    state.started_count = number("startedCount", 0);
    state.from_version_1 = true;

    let now = Timestamp::now();
    let lists = [
        ("completed", Outcome::Completed, "completed"),
        ("failed", Outcome::Failed, "failed"),
        ("active", Outcome::Lost, "active in a version-1 state file"),
    ];
    for (key, outcome, reason) in lists {
        for ticket in v1_tickets(value.get(key))? {
            if !state.was_dispatched(&ticket) {
                state.dispatched.push(ticket.clone());
            }
            state.finish(Finished::new(ticket, None, outcome, reason.to_owned(), now));
        }
    }
    Ok(state)
}

fn v1_tickets(list: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let items = list.as_array().ok_or("a ticket list is not an array")?;
    items
        .iter()
        .map(|item| {
            let id = match item {
                Value::String(id) => Some(id.as_str()),
                Value::Object(map) => map
                    .get("ticket")
                    .or_else(|| map.get("id"))
                    .and_then(Value::as_str),
                _ => None,
            };
            id.map(str::to_owned)
                .ok_or_else(|| format!("invalid ticket entry {item}"))
        })
        .collect()
}

/// Renames an unreadable state file to `<name>.unreadable-<unix seconds>`.
fn set_aside(path: &Path) -> anyhow::Result<PathBuf> {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".unreadable-{}", Timestamp::now().as_second()));
    let aside = PathBuf::from(name);
    fs::rename(path, &aside).with_context(|| format!("failed to move aside {}", path.display()))?;
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            max_iterations: 5,
            parallel: 1,
            attempt_timeout_ms: 1000,
            grace_period_ms: 100,
            agent_command: vec!["true".to_owned()],
            allow_untagged: false,
            worktrees: None,
        }
    }

    #[test]
    fn round_trip_keeps_active_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = State::new(Uuid::new_v4(), settings());
        state.active.push(Active {
            ticket: "a-1".to_owned(),
            session: Uuid::new_v4(),
            launched_at: Timestamp::now(),
            workdir: dir.path().to_owned(),
            ticket_file: dir.path().join("a-1.md"),
            worktree: None,
            components: Vec::new(),
        });
        state.save(&path).unwrap();
        let loaded = State::load(&path).unwrap().unwrap();
        assert_eq!(loaded.run_id, state.run_id);
        assert_eq!(loaded.active.len(), 1);
    }

    #[test]
    fn version_one_file_is_read() {
        let text = r#"{"runId": "run-abc", "startedAt": "2026-02-01T10:00:00Z",
            "maxIterations": 7, "parallel": 2, "startedCount": 3,
            "completed": ["a-1"], "failed": [{"id": "a-2"}],
            "active": [{"ticket": "a-3", "sessionId": "x1"}]}"#;
        let state = parse(text).unwrap();
        assert_eq!(state.settings.max_iterations, 7);
        assert_eq!(state.settings.parallel, 2);
        assert_eq!(state.started_count, 3);
        assert_eq!(state.completed.len(), 1);
        assert_eq!(state.failed.len(), 2);
        assert!(state.was_dispatched("a-3"));
        assert!(state.active.is_empty());
    }

    #[test]
    fn unreadable_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fs::write(&path, "{ not json").unwrap();
        assert!(State::load(&path).unwrap().is_none());
        assert!(!path.exists());
        let moved = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(moved, 1);
    }

    #[test]
    fn history_is_bounded() {
        let mut state = State::new(Uuid::new_v4(), settings());
        for n in 0..(HISTORY_LIMIT + 10) {
            state.finish(Finished::new(
                format!("t-{n}"),
                Some(Uuid::new_v4()),
                Outcome::Failed,
                "exit code 1".to_owned(),
                Timestamp::now(),
            ));
        }
        assert_eq!(state.failed.len(), HISTORY_LIMIT);
        assert_eq!(state.failed_count as usize, HISTORY_LIMIT + 10);
    }
}
