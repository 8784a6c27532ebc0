//! `ralph-loop lock status`: who holds the run lock, and is it alive.

use anyhow::{Context, Result};
use runlock::{LockState, LockStatus, Verdict};
use serde_json::{Value, json};

use super::{Threshold, format_seconds};
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
        runlock::status(&path, args.threshold.silence)
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

/// Returns the stable name of a verdict: `alive`, `silent`, `other_host` or
/// `cannot_tell`.
fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Alive => "alive",
        Verdict::Silent { .. } => "silent",
        Verdict::OtherHost { .. } => "other_host",
        Verdict::CannotTell { .. } => "cannot_tell",
    }
}

fn to_json(status: &LockStatus, events: &[Value]) -> Value {
    json!({
        "path": status.path,
        "state": status.state,
        "verdict": status.verdict.as_ref().map(verdict_name),
        "detail": status.verdict.as_ref().map(ToString::to_string),
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
        (LockState::Held, Some(verdict)) => format!("held ({verdict})"),
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
        println!("pid:       {} on {host}", holder.pid);
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

fn event_line(event: &Value) -> String {
    let field = |name: &str| match &event[name] {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    format!(
        "{} {} {} run {} pid {}",
        field("time"),
        field("event"),
        field("outcome"),
        field("runId"),
        field("pid")
    )
}
