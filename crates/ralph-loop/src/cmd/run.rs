//! `ralph-loop run`: dispatch sessions until the backlog is done.

use crate::Globals;
use crate::cmd::loop_args::{self, LoopArgs};
use crate::dispatch::config::Config;
use crate::dispatch::engine::{Engine, Opening};
use crate::dispatch::paths::Project;
use crate::dispatch::report::Reporter;
use crate::exit::Exit;

/// Arguments of `ralph-loop run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub loop_args: LoopArgs,

    /// Print plain lines even on a terminal
    #[arg(long)]
    pub no_progress: bool,
}

/// Runs `ralph-loop run`.
pub fn run(globals: &Globals, args: Args) -> anyhow::Result<Exit> {
    let project = loop_args::project(globals, !args.loop_args.dry_run)?;
    let config = loop_args::config(&project, &args.loop_args)?;
    if args.loop_args.dry_run {
        loop_args::dry_run(&project, &config, false)?;
        return Ok(Exit::Success);
    }
    let reporter = Reporter::new(!args.no_progress, globals.quiet);
    run_project(project, config, &reporter)
}

/// Runs the loop on `project` until it is complete or stopped.
pub fn run_project(project: Project, config: Config, reporter: &Reporter) -> anyhow::Result<Exit> {
    let backlog = loop_args::checked_backlog(&project)?;
    loop_args::check_agent(&project, &config)?;
    let engine = match Engine::open(project, config, false)? {
        Opening::Ready(engine) => engine,
        Opening::Busy(busy) => {
            eprintln!("{}", crate::cmd::lock::busy_message(&busy));
            return Ok(Exit::Busy);
        }
    };
    crate::dispatch::run::run(*engine, backlog, reporter)
}
