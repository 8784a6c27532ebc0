//! `ralph-loop tickets`.

use crate::Globals;
use crate::exit::Exit;

/// Subcommands of `ralph-loop tickets`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Runs `ralph-loop tickets`.
pub fn run(_globals: &Globals, command: Command) -> anyhow::Result<Exit> {
    match command {}
}
