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
    match command {
        Command::Ready(args) => list::ready(&dir, &args),
        Command::Blocked(args) => list::blocked(&dir, &args),
        Command::Start(args) => update::run(&dir, &args, tickets::Status::InProgress),
        Command::Close(args) => update::run(&dir, &args, tickets::Status::Closed),
        Command::Reopen(args) => update::run(&dir, &args, tickets::Status::Open),
        Command::Cycles(args) => cycles::run(&dir, &args),
    }
}

/// Finds the tickets directory from `-C DIR` or the working directory.
///
/// A relative `TICKETS_DIR` is taken relative to that start directory, as if
/// the command had been started there.
fn tickets_dir(globals: &Globals) -> anyhow::Result<PathBuf> {
    let start = globals.directory.as_deref().unwrap_or(Path::new("."));
    let dir = tickets::find_dir(start)?;
    Ok(start.join(dir))
}

/// Loads the backlog and logs a warning for each malformed file.
fn load(dir: &Path) -> anyhow::Result<Backlog> {
    let backlog = Backlog::load(dir).context("failed to load the backlog")?;
    for warning in backlog.warnings() {
        tracing::warn!("{warning}");
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
