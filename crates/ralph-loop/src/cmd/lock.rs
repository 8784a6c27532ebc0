//! `ralph-loop lock`.

use crate::Globals;
use crate::exit::Exit;

/// Subcommands of `ralph-loop lock`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Runs `ralph-loop lock`.
pub fn run(_globals: &Globals, command: Command) -> anyhow::Result<Exit> {
    match command {}
}
