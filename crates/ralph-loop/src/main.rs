//! `ralph-loop`: runs an AI coding agent over a tk backlog, one fresh agent
//! session per ticket, under an exclusive run lock.

mod agent;
mod cmd;
mod dispatch;
mod exit;
mod project;
mod select;
mod worktree;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::Exit;

/// Runs an AI coding agent over a tk backlog, one fresh session per ticket.
#[derive(Debug, Parser)]
#[command(name = "ralph-loop", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    globals: Globals,

    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct Globals {
    /// Project directory [default: the nearest ancestor holding `.tf/`]
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Print more log lines (-v info, -vv debug, -vvv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print errors only
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Dispatch one agent session per ready ticket until the backlog is done
    Run(cmd::run::Args),

    /// Take one re-entrant step of a run and exit
    Turn(cmd::turn::Args),

    /// Show the run lock, the active sessions and the backlog counts
    Status(cmd::status::Args),

    /// Write .tf/ralph/config.json with every key and its default
    Init(cmd::init::Args),

    /// Run a small backlog in a scratch git repository with a scripted agent
    Demo(cmd::demo::Args),

    /// Inspect, hold or break the run lock
    #[command(subcommand)]
    Lock(cmd::lock::Command),

    /// List and update the tk backlog
    #[command(subcommand)]
    Tickets(cmd::tickets::Command),

    /// Supervise one agent session (started by `run` and `turn`)
    #[command(name = "__supervise", hide = true)]
    Supervise(dispatch::supervisor::SuperviseArgs),

    /// Act as a scripted agent (used by `demo` and the tests)
    #[command(name = "__agent", hide = true)]
    Agent(agent::AgentArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let exit = if error.use_stderr() {
                Exit::Usage
            } else {
                Exit::Success
            };
            let _ = error.print();
            return exit.into();
        }
    };
    init_logging(&cli.globals);

    let result = match cli.command {
        Command::Run(args) => cmd::run::run(&cli.globals, args),
        Command::Turn(args) => cmd::turn::run(&cli.globals, args),
        Command::Status(args) => cmd::status::run(&cli.globals, args),
        Command::Init(args) => cmd::init::run(&cli.globals, args),
        Command::Demo(args) => cmd::demo::run(&cli.globals, args),
        Command::Supervise(args) => dispatch::supervisor::run(args).map(|()| Exit::Success),
        Command::Agent(args) => agent::run(args),
        Command::Lock(command) => cmd::lock::run(&cli.globals, command),
        Command::Tickets(command) => cmd::tickets::run(&cli.globals, command),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprintln!("error: {error:#}");
            Exit::Error.into()
        }
    }
}

/// Sends log lines to stderr: warnings by default, more with `-v`, or what
/// `RALPH_LOG` selects (an env-filter directive such as `runlock=debug`).
/// Levels are coloured only on a terminal, and never when `NO_COLOR` is set
/// to a non-empty value.
fn init_logging(globals: &Globals) {
    use std::io::IsTerminal as _;
    use tracing_subscriber::EnvFilter;

    let level = match (globals.quiet, globals.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("RALPH_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    let color = std::io::stderr().is_terminal() && !no_color;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .without_time()
        .init();
}
