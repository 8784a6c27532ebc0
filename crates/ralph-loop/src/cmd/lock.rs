//! `ralph-loop lock`: inspect, hold or break the run lock.

mod break_lock;
mod child;
mod run;
mod signals;
mod status;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use runlock::{Busy, Verdict};
use serde_json::Value;

use crate::Globals;
use crate::dispatch::config::Config;
use crate::exit::Exit;
use crate::project;

/// Subcommands of `ralph-loop lock`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show who holds the run lock, whether it is alive, and recent events
    Status(status::Args),

    /// Hold the run lock while a command runs, as flock(1) does
    Run(run::Args),

    /// Remove a stale run lock after verifying it
    Break(break_lock::Args),
}

/// Runs `ralph-loop lock`.
pub fn run(globals: &Globals, command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Status(args) => status::run(globals, &args),
        Command::Run(args) => run::run(globals, &args),
        Command::Break(args) => break_lock::run(globals, &args),
    }
}

/// The heartbeat silence option, shared by the subcommands.
#[derive(Debug, clap::Args)]
pub struct Threshold {
    /// Report a live owner as silent after SECONDS without a heartbeat
    /// [default: `silenceThresholdMs` in .tf/ralph/config.json, else 60]
    #[arg(
        long = "silence-threshold",
        value_name = "SECONDS",
        env = "RALPH_SILENCE_THRESHOLD",
        value_parser = parse_seconds
    )]
    pub silence: Option<Duration>,
}

/// The config file key that sets the silence threshold, in milliseconds.
const SILENCE_KEY: &str = "silenceThresholdMs";

impl Threshold {
    /// Returns the silence threshold: the option, else the project's
    /// `silenceThresholdMs`, else the default that `ralph-loop status` and
    /// `run` use too.
    pub fn resolve(&self, root: &Path) -> Result<Duration> {
        if let Some(silence) = self.silence {
            return Ok(silence);
        }
        let path = project::ralph_dir(root).join("config.json");
        let millis = match std::fs::read_to_string(&path) {
            Ok(text) => configured_millis(&text)
                .with_context(|| format!("invalid config file {}", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(error).with_context(|| format!("failed to read {}", path.display()));
            }
        };
        let millis = millis.unwrap_or(Config::default().silence_threshold_ms);
        Ok(Duration::from_millis(millis))
    }
}

/// Reads only `silenceThresholdMs` from the config file's text, so that
/// the lock commands work whatever the file's other keys hold.
fn configured_millis(text: &str) -> Result<Option<u64>> {
    let config: Value = serde_json::from_str(text)?;
    match config.get(SILENCE_KEY) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(millis) => Ok(Some(millis)),
            None => bail!("{SILENCE_KEY} must be a whole number of milliseconds, not {value}"),
        },
    }
}

/// Returns the line printed when the lock is busy, the same for every
/// command: `busy: ` and what is known about the holder.
pub fn busy_message(busy: &Busy) -> String {
    format!("busy: {}", describe_busy(busy))
}

/// Describes a busy lock: who holds it and the verdict.
pub fn describe_busy(busy: &Busy) -> String {
    let Some(owner) = &busy.owner else {
        return match &busy.verdict {
            Verdict::BeingWritten { .. } => describe_verdict(&busy.verdict),
            verdict => format!(
                "the run lock is held by a live process whose record is unreadable: {}",
                describe_verdict(verdict)
            ),
        };
    };
    format!(
        "the run lock is held by run {} (pid {}, started {}): {}",
        owner.run_id,
        owner.pid,
        owner.started_at,
        describe_verdict(&busy.verdict)
    )
}

/// Describes a verdict in this program's terms: the record's members are
/// session supervisors, and the process that may be writing an empty lock
/// file is another ralph-loop.
pub fn describe_verdict(verdict: &Verdict) -> String {
    match verdict {
        Verdict::KeptByMembers { pids } => {
            let verb = if pids.len() == 1 { "keeps" } else { "keep" };
            format!(
                "its owner process has exited, and {} {verb} the run alive",
                supervisors(pids)
            )
        }
        Verdict::BeingWritten { age } => format!(
            "the lock file is empty and only {} ms old, so another ralph-loop may be writing \
             it; try again in a moment",
            age.as_millis()
        ),
        other => other.to_string(),
    }
}

/// Returns the stable name of a verdict for JSON output.
pub fn verdict_name(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Alive => "alive",
        Verdict::Silent { .. } => "silent",
        Verdict::OtherHost { .. } => "other_host",
        Verdict::CannotTell { .. } => "cannot_tell",
        Verdict::KeptByMembers { .. } => "kept_by_members",
        Verdict::BeingWritten { .. } => "being_written",
    }
}

/// Names session supervisors by PID, such as `2 session supervisors (pids
/// 101, 102)`.
fn supervisors(pids: &[u32]) -> String {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    match pids.len() {
        1 => format!("1 session supervisor (pid {})", list.join("")),
        count => format!("{count} session supervisors (pids {})", list.join(", ")),
    }
}

/// Parses a non-negative number of seconds, fractions allowed.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid number of seconds: {text:?}"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("seconds must be a finite number of at least 0: {text:?}"))
}

/// Formats a duration as whole seconds, or with one decimal under 10 s.
pub fn format_seconds(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 10.0 {
        format!("{seconds:.1}s")
    } else {
        format!("{}s", duration.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_seconds_accepts_fractions() {
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("3"), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn configured_millis_reads_only_its_key() {
        let text = r#"{"silenceThresholdMs": 45000, "parallel": "not a number"}"#;
        assert_eq!(configured_millis(text).expect("valid"), Some(45_000));
        assert_eq!(configured_millis("{}").expect("valid"), None);
        assert!(configured_millis(r#"{"silenceThresholdMs": -1}"#).is_err());
        assert!(configured_millis("not JSON").is_err());
    }

    #[test]
    fn parse_seconds_rejects_bad_values() {
        for text in ["-1", "abc", "NaN", "inf", ""] {
            assert!(parse_seconds(text).is_err(), "{text}");
        }
    }
}
