//! `ralph-loop lock run`: hold the run lock while a command runs.

use std::ffi::OsString;
use std::time::Duration;

use anyhow::{Context, Result};
use runlock::{Acquisition, Busy, Hooks, Options, Verdict};
use uuid::Uuid;

use super::signals::Signals;
use super::{Threshold, busy_message, child, format_seconds, parse_seconds};
use crate::Globals;
use crate::exit::Exit;
use crate::project;

/// Arguments of `ralph-loop lock run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Wait up to SECONDS for a busy lock [default: try once]
    #[arg(long, value_name = "SECONDS", env = "RALPH_LOCK_WAIT", value_parser = parse_seconds)]
    wait: Option<Duration>,

    /// Refresh the lock's heartbeat every SECONDS while the command runs
    #[arg(
        long,
        value_name = "SECONDS",
        env = "RALPH_HEARTBEAT_INTERVAL",
        default_value = "5",
        value_parser = parse_seconds
    )]
    heartbeat_interval: Duration,

    #[command(flatten)]
    threshold: Threshold,

    /// Continue this run if its earlier holder is gone [default: a new run]
    #[arg(long, value_name = "UUID")]
    run_id: Option<Uuid>,

    /// The command to run while holding the lock, after `--`
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<OsString>,
}

/// Runs `ralph-loop lock run`.
pub fn run(globals: &Globals, args: &Args) -> Result<Exit> {
    // Handlers go in before the first attempt; see the signals module.
    let signals = Signals::install()?;
    let root = project::find_or_create(globals)?;
    let path = project::lock_path(&root);
    tracing::debug!("run lock: {}", path.display());

    let options = Options {
        run_id: args.run_id,
        wait: args.wait,
        silence_threshold: args.threshold.resolve(&root)?,
    };
    let mut print = |busy: &Busy| eprintln!("{}", runlock::waiting_line(busy));
    let hooks = Hooks {
        on_wait: Some(&mut print),
        interrupted: Some(signals.interrupted()),
    };
    let acquisition = match runlock::acquire_with(&path, &options, hooks) {
        Ok(acquisition) => acquisition,
        Err(runlock::Error::Interrupted { .. }) => {
            return Ok(Exit::signaled(signals.first().unwrap_or(libc_sigterm())));
        }
        Err(error) => return Err(error).context("failed to acquire the run lock"),
    };
    report(&acquisition);
    let lock = match acquisition.into_lock() {
        Ok(lock) => lock,
        Err(busy) => {
            print_busy(&busy, args.wait);
            return Ok(Exit::Busy);
        }
    };
    if let Some(signal) = signals.first() {
        lock.release().context("failed to release the run lock")?;
        return Ok(Exit::signaled(signal));
    }
    child::run_holding(&args.command, lock, &signals, args.heartbeat_interval)
}

fn libc_sigterm() -> i32 {
    signal_hook::consts::SIGTERM
}

/// Logs how the lock was obtained.
fn report(acquisition: &Acquisition) {
    match acquisition {
        Acquisition::Acquired(lock) => {
            tracing::info!("acquired the run lock, run {}", lock.run_id())
        }
        Acquisition::Continued(lock) => {
            tracing::info!("continued run {} under the run lock", lock.run_id());
        }
        Acquisition::TookOver {
            previous: Some(previous),
            reason,
            age,
            ..
        } => {
            let age = age
                .map(format_seconds)
                .unwrap_or_else(|| "unknown".to_owned());
            tracing::warn!(
                "took over the run lock from run {} (pid {}, taken {age} ago): {reason}",
                previous.run_id,
                previous.pid
            );
        }
        Acquisition::TookOver { .. } | Acquisition::Busy(_) => {}
    }
}

/// Prints why the lock is busy and what to do about it.
fn print_busy(busy: &Busy, waited: Option<Duration>) {
    let waited_for = waited
        .map(|wait| format!(" (timed out after waiting {})", format_seconds(wait)))
        .unwrap_or_default();
    eprintln!("{}{waited_for}", busy_message(busy));
    let hint = match (&busy.verdict, waited) {
        (Verdict::Silent { .. }, _) => {
            "hint: if that run is hung, end it with `ralph-loop lock break --hung`"
        }
        (Verdict::OtherHost { .. } | Verdict::CannotTell { .. }, _) => {
            "hint: check that run yourself; `ralph-loop lock break` removes only verified stale locks"
        }
        (Verdict::BeingWritten { .. }, _) => {
            "hint: a lock file still empty after 2 s is moved aside by the next attempt"
        }
        (Verdict::Alive | Verdict::KeptByMembers { .. }, Some(_)) => {
            "hint: raise --wait, or see `ralph-loop lock status`"
        }
        (Verdict::Alive | Verdict::KeptByMembers { .. }, None) => {
            "hint: wait for it with `--wait SECONDS`, or see `ralph-loop lock status`"
        }
    };
    eprintln!("{hint}");
}
