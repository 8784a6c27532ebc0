//! `ralph-loop turn`: one re-entrant step of the loop.

use crate::Globals;
use crate::cmd::loop_args::{self, LoopArgs};
use crate::dispatch::engine::{Engine, Opening};
use crate::dispatch::report::Reporter;
use crate::exit::Exit;

/// Arguments of `ralph-loop turn`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub loop_args: LoopArgs,
}

/// Runs `ralph-loop turn`: reconcile, launch into free slots, save, exit.
pub fn run(globals: &Globals, args: Args) -> anyhow::Result<Exit> {
    let project = loop_args::project(globals, !args.loop_args.dry_run)?;
    let config = loop_args::config(&project, &args.loop_args)?;
    if args.loop_args.dry_run {
        loop_args::dry_run(&project, &config, true)?;
        return Ok(Exit::Success);
    }
    let backlog = loop_args::checked_backlog(&project)?;
    loop_args::check_agent(&project, &config)?;
    let mut engine = match Engine::open(project, config, true)? {
        Opening::Ready(engine) => engine,
        Opening::Busy(busy) => {
            eprintln!("{}", crate::cmd::lock::busy_message(&busy));
            return Ok(Exit::Busy);
        }
    };

    let reporter = Reporter::new(false, globals.quiet);
    let summary = match engine.step(Some(backlog)) {
        Ok(summary) => summary,
        Err(error) => {
            engine.abandon();
            return Err(error);
        }
    };
    reporter.show(&engine.take_events(), &summary, &engine.state);
    if summary.complete {
        engine.complete()?;
    } else {
        engine.suspend()?;
    }
    Ok(Exit::Success)
}
