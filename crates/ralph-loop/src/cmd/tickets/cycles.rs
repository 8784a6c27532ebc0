//! `ralph-loop tickets cycles`.

use tickets::Backlog;

use super::output::to_stdout;
use crate::exit::Exit;

/// Output format of `cycles`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON array of cycles, each an array of ids
    #[arg(long)]
    json: bool,
}

/// Prints each dependency cycle as `a -> b -> a`, where each ticket depends
/// on the next, and exits 1 if there is any.
pub fn run(backlog: Backlog, args: &Args) -> anyhow::Result<Exit> {
    let cycles = backlog.cycles();

    to_stdout(|out| {
        if args.json {
            serde_json::to_writer(&mut *out, &cycles)?;
            return out.write_all(b"\n");
        }
        for cycle in &cycles {
            let first = cycle.first().copied().unwrap_or_default();
            writeln!(out, "{} -> {first}", cycle.join(" -> "))?;
        }
        Ok(())
    })?;

    if cycles.is_empty() {
        return Ok(Exit::Success);
    }
    let noun = if cycles.len() == 1 { "cycle" } else { "cycles" };
    eprintln!(
        "error: found {} dependency {noun}; their tickets stay blocked until a dependency is removed",
        cycles.len()
    );
    Ok(Exit::Error)
}
