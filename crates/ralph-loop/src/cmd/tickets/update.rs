//! `ralph-loop tickets start|close|reopen`.

use anyhow::Context;
use tickets::{Backlog, Error, Status};

use crate::exit::Exit;

/// The ticket to update.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Ticket id, or part of an id that matches only one ticket
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new())]
    id: String,
}

/// Sets the status of the ticket `args.id` names and reports it on stdout.
///
/// A missing or ambiguous id is reported as tk reports it, `Error: ...` on
/// stderr with exit status 1.
pub fn run(backlog: &Backlog, args: &Args, status: Status) -> anyhow::Result<Exit> {
    let ticket = match backlog.resolve(&args.id) {
        Ok(ticket) => ticket,
        Err(error @ (Error::TicketNotFound { .. } | Error::AmbiguousId { .. })) => {
            eprintln!("Error: {error}");
            return Ok(Exit::Error);
        }
        Err(error) => return Err(error.into()),
    };

    tickets::set_status(&ticket.path, status)
        .with_context(|| format!("failed to set the status of {}", ticket.id))?;
    println!("Updated {} -> {status}", ticket.id);
    Ok(Exit::Success)
}
