//! `ralph-loop lock break`: remove a stale run lock after verifying it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use runlock::{BreakOutcome, LockState, LockStatus, Termination, Verdict};

use super::{Threshold, busy_message, format_seconds, parse_seconds};
use crate::Globals;
use crate::exit::Exit;
use crate::project;

/// Arguments of `ralph-loop lock break`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// First end a live owner whose heartbeat is silent: SIGTERM to its
    /// process group, a grace period, then SIGKILL
    #[arg(long)]
    hung: bool,

    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    yes: bool,

    /// Seconds to wait after SIGTERM before SIGKILL, with --hung
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    grace: Duration,

    #[command(flatten)]
    threshold: Threshold,
}

/// Runs `ralph-loop lock break`.
pub fn run(globals: &Globals, args: &Args) -> Result<Exit> {
    let root = project::find(globals)?;
    let path = project::lock_path(&root);
    if !path.parent().is_some_and(Path::is_dir) {
        println!("the run lock is free; nothing to break");
        return Ok(Exit::Success);
    }
    let silence = args.threshold.resolve(&root)?;
    let status = runlock::status(&path, silence).context("failed to read the run lock status")?;
    match status.state {
        LockState::Free => {
            println!("the run lock is free; nothing to break");
            Ok(Exit::Success)
        }
        LockState::Held => break_held(&path, &status, args, silence),
        LockState::Stale | LockState::Unreadable => {
            confirm(
                args.yes,
                &format!("remove the stale run lock {}?", path.display()),
            )?;
            remove(&path, &status, silence, None)
        }
    }
}

/// Ends a hung owner with `--hung`; any other held lock is left alone.
fn break_held(path: &Path, status: &LockStatus, args: &Args, threshold: Duration) -> Result<Exit> {
    let holder = status.holder.as_ref();
    let silence = match &status.verdict {
        Some(Verdict::Silent { silence }) if args.hung => *silence,
        Some(verdict) => {
            let busy = runlock::Busy {
                owner: status.holder.clone(),
                verdict: verdict.clone(),
                silence: status.heartbeat_silence,
            };
            eprintln!("{}", busy_message(&busy));
            if !args.hung && matches!(verdict, Verdict::Silent { .. }) {
                eprintln!("hint: pass --hung to end the silent owner first");
            }
            return Ok(Exit::Busy);
        }
        None => {
            eprintln!("busy: the run lock {} is held", path.display());
            return Ok(Exit::Busy);
        }
    };
    let Some(owner) = holder.and_then(runlock::Record::owner) else {
        bail!(
            "the record of {} has no full process identity, so its owner cannot be verified",
            path.display()
        );
    };
    let run_id = holder.map(|record| record.run_id);
    let question = format!(
        "end the hung run {} (pid {}, silent for {}) and remove its lock?",
        run_id.map(|id| id.to_string()).unwrap_or_default(),
        owner.pid,
        format_seconds(silence)
    );
    confirm(args.yes, &question)?;
    let termination = runlock::terminate_group_verified(&owner, args.grace)
        .with_context(|| format!("failed to end process {}", owner.pid))?;
    match termination {
        Termination::AlreadyGone => {}
        Termination::Terminated => println!(
            "process {} and its process group exited after SIGTERM",
            owner.pid
        ),
        Termination::Killed => println!(
            "process {} outlived the {} grace period; killed it and its process group",
            owner.pid,
            format_seconds(args.grace)
        ),
    }
    remove(path, status, threshold, Some((owner.pid, termination)))
}

/// Removes a stale lock after verifying it. `ended` is the owner's PID and
/// how it was ended, when `--hung` ended it first.
fn remove(
    path: &Path,
    status: &LockStatus,
    threshold: Duration,
    ended: Option<(u32, Termination)>,
) -> Result<Exit> {
    let expected = status.holder.as_ref().map(|record| record.run_id);
    let outcome =
        runlock::break_stale(path, expected, threshold).context("failed to break the run lock")?;
    match outcome {
        BreakOutcome::Missing => match ended {
            Some((pid, Termination::Terminated)) => println!(
                "process {pid} released the run lock itself after SIGTERM; nothing left to break"
            ),
            _ => println!("the run lock is free; nothing to break"),
        },
        BreakOutcome::Removed {
            previous: Some(previous),
            reason,
        } => println!(
            "removed the run lock of run {} (pid {}): {reason}",
            previous.run_id, previous.pid
        ),
        BreakOutcome::Removed { reason, .. } => println!("removed the run lock: {reason}"),
        BreakOutcome::Held(busy) => {
            eprintln!("{}", busy_message(&busy));
            return Ok(Exit::Busy);
        }
        BreakOutcome::Changed(record) => {
            eprintln!(
                "busy: the run lock now belongs to run {} (pid {}); nothing was removed",
                record.run_id, record.pid
            );
            return Ok(Exit::Busy);
        }
    }
    Ok(Exit::Success)
}

/// Asks on the terminal, unless `yes`; without a terminal, requires `yes`.
fn confirm(yes: bool, question: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question} Pass --yes to confirm without a terminal");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr()
        .flush()
        .context("failed to write the question")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("failed to read the confirmation from stdin")?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        bail!("cancelled; nothing was removed")
    }
}
