//! `ralph-loop tickets ready` and `ralph-loop tickets blocked`.

use std::io::{self, Write};
use std::path::Path;

use tickets::{Backlog, Status, Ticket};

use super::output::to_stdout;
use crate::exit::Exit;

/// Filters and output format of `ready` and `blocked`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep only tickets assigned to NAME
    #[arg(short = 'a', long, value_name = "NAME")]
    assignee: Option<String>,

    /// Keep only tickets tagged TAG
    #[arg(short = 'T', long, value_name = "TAG")]
    tag: Option<String>,

    /// Print one JSON array of ticket objects instead of lines
    #[arg(long)]
    json: bool,
}

impl Args {
    fn keeps(&self, ticket: &Ticket) -> bool {
        let assignee_matches = self
            .assignee
            .as_deref()
            .is_none_or(|name| ticket.assignee.as_deref() == Some(name));
        let tag_matches = self.tag.as_deref().is_none_or(|tag| ticket.has_tag(tag));
        assignee_matches && tag_matches
    }
}

/// A ticket as `--json` prints it.
#[derive(serde::Serialize)]
struct TicketJson<'a> {
    id: &'a str,
    status: Status,
    priority: u32,
    title: &'a str,
    deps: &'a [String],
    tags: &'a [String],
    components: Vec<&'a str>,
    path: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    unclosed_deps: Option<&'a [&'a str]>,
}

impl<'a> TicketJson<'a> {
    fn new(ticket: &'a Ticket, unclosed_deps: Option<&'a [&'a str]>) -> Self {
        TicketJson {
            id: &ticket.id,
            status: ticket.status,
            priority: ticket.priority,
            title: &ticket.title,
            deps: &ticket.deps,
            tags: &ticket.tags,
            components: ticket.components().collect(),
            path: &ticket.path,
            unclosed_deps,
        }
    }
}

/// Runs `ralph-loop tickets ready`.
pub fn ready(backlog: Backlog, args: &Args) -> anyhow::Result<Exit> {
    let ready: Vec<&Ticket> = backlog
        .ready()
        .into_iter()
        .filter(|ticket| args.keeps(ticket))
        .collect();

    to_stdout(|out| {
        if args.json {
            let objects: Vec<_> = ready.iter().map(|t| TicketJson::new(t, None)).collect();
            return write_json(out, &objects);
        }
        for ticket in ready {
            write_line(out, ticket)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })?;
    super::discard(backlog);
    Ok(Exit::Success)
}

/// Runs `ralph-loop tickets blocked`.
pub fn blocked(backlog: Backlog, args: &Args) -> anyhow::Result<Exit> {
    let mut blocked = backlog.blocked();
    blocked.retain(|(ticket, _)| args.keeps(ticket));

    to_stdout(|out| {
        if args.json {
            let objects: Vec<_> = blocked
                .iter()
                .map(|(ticket, unclosed)| TicketJson::new(ticket, Some(unclosed)))
                .collect();
            return write_json(out, &objects);
        }
        for (ticket, unclosed) in &blocked {
            write_line(out, ticket)?;
            writeln!(out, " <- [{}]", unclosed.join(", "))?;
        }
        Ok(())
    })?;
    drop(blocked);
    super::discard(backlog);
    Ok(Exit::Success)
}

/// Writes `wa-k3f9  [P1][open] - Title`, the line format of tk, without a newline.
fn write_line(out: &mut dyn Write, ticket: &Ticket) -> io::Result<()> {
    write!(
        out,
        "{:<8} [P{}][{}] - {}",
        ticket.id, ticket.priority, ticket.status, ticket.title
    )
}

fn write_json(out: &mut dyn Write, objects: &[TicketJson<'_>]) -> io::Result<()> {
    serde_json::to_writer(&mut *out, objects)?;
    out.write_all(b"\n")
}
