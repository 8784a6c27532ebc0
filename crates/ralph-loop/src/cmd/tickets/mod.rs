//! `ralph-loop tickets`: lists and updates the tk backlog.

mod cycles;
mod list;
mod output;
mod update;

use std::path::{Path, PathBuf};

use anyhow::Context;
use tickets::Backlog;

use crate::Globals;
use crate::exit::Exit;

/// Subcommands of `ralph-loop tickets`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List open and in-progress tickets whose dependencies are all closed
    Ready(list::Args),

    /// List open and in-progress tickets waiting on a dependency that is not closed
    Blocked(list::Args),

    /// Set a ticket's status to in_progress
    Start(update::Args),

    /// Set a ticket's status to closed
    Close(update::Args),

    /// Set a ticket's status to open
    Reopen(update::Args),

    /// List dependency cycles among tickets that are not closed (exits 1 if there are any)
    Cycles(cycles::Args),
}

/// Runs `ralph-loop tickets`.
pub fn run(globals: &Globals, command: Command) -> anyhow::Result<Exit> {
    let dir = tickets_dir(globals)?;
    let backlog = load(&dir, globals.verbose > 0)?;
    match command {
        Command::Ready(args) => list::ready(backlog, &args),
        Command::Blocked(args) => list::blocked(backlog, &args),
        Command::Start(args) => update::run(&backlog, &args, tickets::Status::InProgress),
        Command::Close(args) => update::run(&backlog, &args, tickets::Status::Closed),
        Command::Reopen(args) => update::run(&backlog, &args, tickets::Status::Open),
        Command::Cycles(args) => cycles::run(backlog, &args),
    }
}

/// Finds the tickets directory from `-C DIR` or the working directory.
///
/// A relative `TICKETS_DIR` is taken relative to that start directory, as if
/// the command had been started there.
fn tickets_dir(globals: &Globals) -> anyhow::Result<PathBuf> {
    if let Some(directory) = &globals.directory {
        crate::project::check_directory(directory)?;
    }
    let start = globals.directory.as_deref().unwrap_or(Path::new("."));
    let dir = tickets::find_dir(start)?;
    Ok(start.join(dir))
}

/// The number of file warnings printed before the rest are counted instead.
const MAX_WARNINGS: usize = 50;

/// Loads the backlog and logs a warning for each malformed file: the first
/// [`MAX_WARNINGS`], or all of them with `-v`.
fn load(dir: &Path, verbose: bool) -> anyhow::Result<Backlog> {
    let backlog = Backlog::load(dir).context("failed to load the backlog")?;
    let warnings = backlog.warnings();
    let shown = if verbose {
        warnings.len()
    } else {
        MAX_WARNINGS
    };
    for warning in warnings.iter().take(shown) {
        tracing::warn!("{warning}");
    }
    if warnings.len() > shown {
        let hidden = warnings.len() - shown;
        tracing::warn!("{hidden} more problems in ticket files not shown; run with -v to see all");
    }
    Ok(backlog)
}

/// Leaves the backlog's memory to the operating system.
///
/// The command exits right after, and the kernel reclaims the memory at exit
/// faster than freeing ten thousand tickets one allocation at a time.
fn discard(backlog: Backlog) {
    std::mem::forget(backlog);
}
