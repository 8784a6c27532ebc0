//! `ralph-loop status`: the run lock, the run's sessions and the backlog,
//! read without changing anything.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use runlock::{LockState, Verdict};
use serde_json::{Value, json};
use tickets::{Backlog, Status};

use crate::Globals;
use crate::cmd::lock::{describe_verdict, verdict_name};
use crate::cmd::loop_args;
use crate::dispatch::config::Config;
use crate::dispatch::paths::Project;
use crate::dispatch::progress::elapsed;
use crate::dispatch::report::print_stdout;
use crate::dispatch::session::{self, Probe, SessionFiles};
use crate::dispatch::state::State;
use crate::exit::Exit;

/// Arguments of `ralph-loop status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// Runs `ralph-loop status`.
pub fn run(globals: &Globals, args: Args) -> anyhow::Result<Exit> {
    let project = loop_args::project(globals, false)?;
    let config = Config::load(&project.config())?;
    let silence = Duration::from_millis(config.silence_threshold_ms);
    let lock = lock_json(&project, silence)?;
    let state = State::peek(&project.state());
    let active = active_json(&project, state.as_ref());
    let backlog = backlog_json(&project);
    let run = state.as_ref().map(run_json);
    let report = json!({"lock": lock, "run": run, "active": active, "backlog": backlog});
    if args.json {
        print_stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        print_stdout(&render(&report))?;
    }
    Ok(Exit::Success)
}

fn lock_json(project: &Project, silence: Duration) -> anyhow::Result<Value> {
    if !project.ralph.is_dir() {
        return Ok(json!({"path": project.lock(), "state": LockState::Free}));
    }
    let status = runlock::status(&project.lock(), silence)?;
    let members = match &status.verdict {
        Some(Verdict::KeptByMembers { pids }) => Some(pids.clone()),
        _ => None,
    };
    Ok(json!({
        "path": status.path,
        "state": status.state,
        "verdict": status.verdict.as_ref().map(verdict_name),
        "detail": status.verdict.as_ref().map(describe_verdict),
        "liveMembers": members,
        "holder": status.holder,
        "staleReason": status.stale_reason.as_ref().map(|reason| reason.as_str()),
        "ageSeconds": status.age.map(|age| age.as_secs()),
        "heartbeatSilenceSeconds": status.heartbeat_silence.map(|silence| silence.as_secs()),
        "problem": status.problem,
    }))
}

fn run_json(state: &State) -> Value {
    json!({
        "runId": state.run_id,
        "startedAt": state.started_at,
        "updatedAt": state.updated_at,
        "startedCount": state.started_count,
        "maxIterations": state.settings.max_iterations,
        "parallel": state.settings.parallel,
        "completedCount": state.completed_count,
        "failedCount": state.failed_count,
        "drivenByTurns": state.driven_by_turns,
        "stoppedBySignal": state.stopped_by_signal,
    })
}

fn active_json(project: &Project, state: Option<&State>) -> Vec<Value> {
    let Some(state) = state else {
        return Vec::new();
    };
    let now = Timestamp::now();
    state
        .active
        .iter()
        .map(|active| {
            let files = SessionFiles::new(&project.sessions(), active.session);
            let phase = match session::probe(&files) {
                Ok(Probe::InFlight) => "in-flight",
                Ok(Probe::Finished(_)) => "finished",
                Ok(Probe::NeverStarted) => "not-started",
                Ok(Probe::Lost(_)) => "lost",
                Err(_) => "unknown",
            };
            let seconds = now.duration_since(active.launched_at).as_secs().max(0);
            json!({
                "ticket": active.ticket,
                "session": active.session,
                "launchedAt": active.launched_at,
                "elapsedSeconds": seconds,
                "elapsed": elapsed(active.launched_at, now),
                "state": phase,
                "worktree": active.worktree,
                "lastLogLine": last_line(&project.log(&active.ticket)),
            })
        })
        .collect()
}

fn backlog_json(project: &Project) -> Value {
    match Backlog::load(&project.tickets) {
        Ok(backlog) => json!({
            "total": backlog.len(),
            "closed": backlog.tickets().filter(|t| t.status == Status::Closed).count(),
            "ready": backlog.ready().len(),
            "blocked": backlog.blocked().len(),
        }),
        Err(error) => json!({"error": error.to_string()}),
    }
}

/// Reads the last non-empty line of a log from its final 4 KiB.
fn last_line(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let length = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(4096)))
        .ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(|line| line.trim().to_owned())
}

fn render(report: &Value) -> String {
    use std::fmt::Write as _;

    let mut out = String::new();
    let _ = writeln!(out, "lock:     {}", render_lock(&report["lock"]));
    match &report["run"] {
        Value::Null => {
            let _ = writeln!(out, "run:      none");
        }
        run => {
            let _ = writeln!(
                out,
                "run:      {} since {}; {} of at most {} sessions started, {} completed, {} \
                 failed",
                run["runId"].as_str().unwrap_or("?"),
                run["startedAt"].as_str().unwrap_or("?"),
                run["startedCount"],
                run["maxIterations"],
                run["completedCount"],
                run["failedCount"]
            );
        }
    }
    let active = report["active"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(out, "active:   {}", active.len());
    for session in &active {
        let line = session["lastLogLine"].as_str().unwrap_or("");
        let line: String = line.chars().take(60).collect();
        let _ = writeln!(
            out,
            "  {:<10} {:>8}  {:<11} {line}",
            session["ticket"].as_str().unwrap_or("?"),
            session["elapsed"].as_str().unwrap_or("?"),
            session["state"].as_str().unwrap_or("?"),
        );
    }
    let backlog = &report["backlog"];
    match backlog["error"].as_str() {
        Some(error) => {
            let _ = writeln!(out, "backlog:  unreadable: {error}");
        }
        None => {
            let _ = writeln!(
                out,
                "backlog:  {} ready, {} blocked, {} closed of {}",
                backlog["ready"], backlog["blocked"], backlog["closed"], backlog["total"]
            );
        }
    }
    out
}

fn render_lock(lock: &Value) -> String {
    let holder = &lock["holder"];
    // No process refreshes the heartbeat of a run kept alive by its
    // session supervisors alone, so its age is left out.
    let kept_by_members = lock["verdict"].as_str() == Some("kept_by_members");
    let silence = match lock["heartbeatSilenceSeconds"].as_u64() {
        Some(seconds) if !kept_by_members => format!(", heartbeat {seconds}s ago"),
        _ => String::new(),
    };
    let members = match holder["members"].as_array().map_or(0, Vec::len) {
        1 => "1 session supervisor".to_owned(),
        count => format!("{count} session supervisors"),
    };
    let owner = format!(
        "run {} (pid {}, since {}, {members})",
        holder["runId"].as_str().unwrap_or("?"),
        holder["pid"],
        holder["startedAt"].as_str().unwrap_or("?")
    );
    match lock["state"].as_str() {
        Some("held") => {
            let detail = lock["detail"].as_str().unwrap_or("held");
            format!("held by {owner}: {detail}{silence}")
        }
        Some("stale") => {
            let reason = lock["staleReason"].as_str().unwrap_or("its owner is gone");
            format!("stale, left by {owner}: {reason}; the next run takes it over")
        }
        Some("unreadable") => {
            let problem = lock["problem"].as_str().unwrap_or("unreadable");
            format!("unreadable ({problem}); the next run moves it aside")
        }
        _ => "free".to_owned(),
    }
}
