//! `ralph-loop lock status`: who holds the run lock, and is it alive.

use anyhow::{Context, Result};
use runlock::{LockState, LockStatus, Verdict};
use serde_json::{Value, json};

use super::{Threshold, describe_verdict, format_seconds, verdict_name};
use crate::Globals;
use crate::exit::Exit;
use crate::project;

/// How many recent events the status shows.
const RECENT_EVENTS: usize = 10;

/// Arguments of `ralph-loop lock status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the status as one JSON object
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    threshold: Threshold,
}

/// Runs `ralph-loop lock status`.
pub fn run(globals: &Globals, args: &Args) -> Result<Exit> {
    let root = project::find(globals)?;
    let path = project::lock_path(&root);
    let status = if path.parent().is_some_and(|dir| dir.is_dir()) {
        runlock::status(&path, args.threshold.resolve(&root)?)
            .context("failed to read the run lock status")?
    } else {
        LockStatus::free(&path)
    };
    let events = runlock::recent_events(&path, RECENT_EVENTS).unwrap_or_else(|error| {
        tracing::warn!("{error:#}");
        Vec::new()
    });
    if args.json {
        println!("{}", to_json(&status, &events));
    } else {
        print_human(&status, &events);
    }
    Ok(Exit::Success)
}

fn to_json(status: &LockStatus, events: &[Value]) -> Value {
    json!({
        "path": status.path,
        "state": status.state,
        "verdict": status.verdict.as_ref().map(verdict_name),
        "detail": status.verdict.as_ref().map(describe_verdict),
        "holder": status.holder,
        "stale_reason": status.stale_reason.as_ref().map(|reason| reason.as_str()),
        "kernel_lock": status.kernel_lock,
        "age_seconds": status.age.map(|age| age.as_secs_f64()),
        "heartbeat_silence_seconds": status.heartbeat_silence.map(|silence| silence.as_secs_f64()),
        "problem": status.problem,
        "events": events,
    })
}

fn print_human(status: &LockStatus, events: &[Value]) {
    println!("lock:      {}", status.path.display());
    let state = match (&status.state, &status.verdict) {
        (LockState::Free, _) => "free".to_owned(),
        (LockState::Held, Some(verdict @ Verdict::BeingWritten { .. })) => {
            format!("busy ({})", describe_verdict(verdict))
        }
        (LockState::Held, Some(verdict)) => format!("held ({})", describe_verdict(verdict)),
        (LockState::Held, None) => "held".to_owned(),
        (LockState::Stale, _) => match &status.stale_reason {
            Some(reason) => format!("stale ({reason})"),
            None => "stale".to_owned(),
        },
        (LockState::Unreadable, _) => "unreadable, and no process holds it".to_owned(),
    };
    println!("state:     {state}");
    if let Some(problem) = &status.problem {
        println!("problem:   {problem}");
    }
    if let Some(holder) = &status.holder {
        println!("run:       {}", holder.run_id);
        let host = holder.hostname.as_deref().unwrap_or("unknown host");
        match &status.verdict {
            Some(Verdict::KeptByMembers { pids }) => {
                println!("pid:       {} on {host}, exited", holder.pid);
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                println!("members:   {} alive", pids.join(", "));
            }
            _ => println!("pid:       {} on {host}", holder.pid),
        }
        let age = status.age.map(format_seconds).unwrap_or_default();
        println!("started:   {} ({age} ago)", holder.started_at);
    }
    if let Some(silence) = status.heartbeat_silence {
        println!("heartbeat: {} ago", format_seconds(silence));
    }
    match status.kernel_lock {
        Some(true) => println!("flock:     held"),
        Some(false) => println!("flock:     not held"),
        None => {}
    }
    if !events.is_empty() {
        println!("recent events:");
    }
    for event in events {
        println!("  {}", event_line(event));
    }
}

/// Formats one event: time, event, outcome, the run id (on a busy
/// attempt, the holder's, as `held by run`) and the logging process's PID.
fn event_line(event: &Value) -> String {
    let field = |name: &str| match &event[name] {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let run = match (&event["runId"], &event["owner"]["runId"]) {
        (Value::String(run_id), _) => format!(" run {run_id}"),
        (_, Value::String(owner)) => format!(" held by run {owner}"),
        _ => String::new(),
    };
    format!(
        "{} {} {}{run} pid {}",
        field("time"),
        field("event"),
        field("outcome"),
        field("pid")
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn event_line_busy_names_holder() {
        let event = json!({
            "time": "2026-01-02T03:04:05Z", "event": "acquire", "outcome": "busy",
            "runId": null, "pid": 9954, "owner": {"runId": "R"},
        });
        let line = event_line(&event);
        assert_eq!(
            line,
            "2026-01-02T03:04:05Z acquire busy held by run R pid 9954"
        );
    }

    #[test]
    fn event_line_without_run_id() {
        let event = json!({
            "time": "2026-01-02T03:04:05Z", "event": "acquire", "outcome": "interrupted",
            "runId": null, "pid": 7,
        });
        assert_eq!(
            event_line(&event),
            "2026-01-02T03:04:05Z acquire interrupted pid 7"
        );
    }
}
