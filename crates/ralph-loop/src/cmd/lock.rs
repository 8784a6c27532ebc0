//! `ralph-loop lock`: inspect, hold or break the run lock.

mod break_lock;
mod child;
mod run;
mod signals;
mod status;

use std::time::Duration;

use crate::Globals;
use crate::exit::Exit;

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
    #[arg(
        long = "silence-threshold",
        value_name = "SECONDS",
        env = "RALPH_SILENCE_THRESHOLD",
        default_value = "30",
        value_parser = parse_seconds
    )]
    pub silence: Duration,
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
    fn parse_seconds_rejects_bad_values() {
        for text in ["-1", "abc", "NaN", "inf", ""] {
            assert!(parse_seconds(text).is_err(), "{text}");
        }
    }
}
