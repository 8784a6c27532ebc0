//! Arguments and checks shared by `run` and `turn`.

use std::collections::HashSet;

use anyhow::Context as _;
use tickets::{Backlog, Status};

use crate::Globals;
use crate::dispatch::config::{Config, Overrides};
use crate::dispatch::ids;
use crate::dispatch::paths::Project;
use crate::dispatch::plan;
use crate::dispatch::report::print_stdout;
use crate::dispatch::state::State;

/// Options of `run` and `turn`.
#[derive(Debug, clap::Args)]
pub struct LoopArgs {
    /// Maximum number of sessions the run starts [config: maxIterations]
    #[arg(long, value_name = "N")]
    pub max_iterations: Option<u32>,

    /// Maximum number of sessions in flight at once, at least 1
    /// [config: parallel]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: Option<u32>,

    /// Time a session may run before it is stopped, in milliseconds; 0 means
    /// no limit [config: attemptTimeoutMs]
    #[arg(long, value_name = "MS")]
    pub attempt_timeout_ms: Option<u64>,

    /// Time between SIGTERM and SIGKILL when a session is stopped, in
    /// milliseconds [config: gracePeriodMs]
    #[arg(long, value_name = "MS")]
    pub grace_period_ms: Option<u64>,

    /// Print the tickets that would be dispatched, in order, and change
    /// nothing
    #[arg(long)]
    pub dry_run: bool,

    /// The agent's argv, `{ticket}` replaced by the ticket id
    /// [config: agentCommand]
    #[arg(last = true, value_name = "AGENT")]
    pub agent: Vec<String>,
}

impl LoopArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            max_iterations: self.max_iterations,
            parallel: self.parallel,
            attempt_timeout_ms: self.attempt_timeout_ms,
            grace_period_ms: self.grace_period_ms,
            agent_command: (!self.agent.is_empty()).then(|| self.agent.clone()),
        }
    }
}

/// Finds the project: `-C DIR`, else the nearest ancestor holding `.tf/`,
/// else the working directory. With `create`, makes `.tf/ralph/` there.
pub fn project(globals: &Globals, create: bool) -> anyhow::Result<Project> {
    let root = if create {
        crate::project::find_or_create(globals)?
    } else {
        match crate::project::find(globals) {
            Ok(root) => root,
            Err(_) if globals.directory.is_none() => {
                std::env::current_dir().context("failed to read the working directory")?
            }
            Err(error) => return Err(error),
        }
    };
    let tickets = tickets::find_dir(&root)?;
    Ok(Project::new(
        &root,
        crate::project::ralph_dir(&root),
        tickets,
    ))
}

/// Reads the config and applies the command-line overrides.
pub fn config(project: &Project, args: &LoopArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(&project.config())?;
    config.apply(&args.overrides())?;
    Ok(config)
}

/// Loads the backlog and rejects it if any ticket that could be dispatched
/// has an id that is unsafe as a file name or argv element.
pub fn checked_backlog(project: &Project) -> anyhow::Result<Backlog> {
    let backlog = Backlog::load(&project.tickets)
        .with_context(|| format!("failed to read {}", project.tickets.display()))?;
    for warning in backlog.warnings() {
        tracing::warn!("{warning}");
    }
    let invalid: Vec<String> = backlog
        .tickets()
        .filter(|ticket| ticket.status != Status::Closed)
        .filter_map(|ticket| {
            let error = ids::validate(&ticket.id).err()?;
            Some(format!("  {}: {error}", ticket.path.display()))
        })
        .collect();
    if !invalid.is_empty() {
        let ids = if invalid.len() == 1 { "id" } else { "ids" };
        anyhow::bail!(
            "invalid {ids} in {}, so nothing was dispatched\n{}\nids may contain only \
             letters, digits, '.', '_' and '-', and may not start with '.' or '-'",
            super::count_of(invalid.len(), "ticket"),
            invalid.join("\n")
        );
    }
    Ok(backlog)
}

/// Checks that the agent program the run would use can be found, so that a
/// missing agent is one clear error rather than a failed session per
/// ticket. A run being continued uses its saved command.
pub fn check_agent(project: &Project, config: &Config) -> anyhow::Result<()> {
    // A version-1 file keeps no command, and an interrupted run is not
    // continued, so both run the configured command.
    let saved = State::peek(&project.state())
        .filter(|state| state.stopped_by_signal.is_none() && !state.from_version_1);
    let command = match &saved {
        Some(state) => &state.settings.agent_command,
        None => &config.agent_command,
    };
    match command.first() {
        Some(program) => check_program(program, project),
        None => anyhow::bail!("agentCommand is empty"),
    }
}

fn check_program(program: &str, project: &Project) -> anyhow::Result<()> {
    let found = if program.contains('/') {
        project.root.join(program).is_file()
    } else {
        std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
            .unwrap_or(false)
    };
    if !found {
        anyhow::bail!(
            "agent program {program:?} not found; install it, or set agentCommand in {} \
             (`ralph-loop init` writes that file) or give the command after `--`",
            project.config().display()
        );
    }
    Ok(())
}

/// Prints the tickets a run (or, with `limit`, a turn) would dispatch.
/// Reads the state file without changing it.
pub fn dry_run(project: &Project, config: &Config, turn: bool) -> anyhow::Result<()> {
    let backlog = checked_backlog(project)?;

    // An interrupted run is not continued, so its state does not count.
    let state = State::peek(&project.state()).filter(|state| state.stopped_by_signal.is_none());
    let settings = match &state {
        Some(state) => state.settings.clone(),
        None => crate::dispatch::engine::settings_of(config),
    };
    let dispatched: HashSet<&str> = state
        .iter()
        .flat_map(|state| state.dispatched.iter().map(String::as_str))
        .collect();
    let in_flight: HashSet<&str> = state
        .iter()
        .flat_map(|state| state.active.iter().map(|active| active.ticket.as_str()))
        .collect();

    let started = state.as_ref().map_or(0, |state| state.started_count);
    let left = settings.max_iterations.saturating_sub(started) as usize;
    let limit = if turn {
        left.min((settings.parallel as usize).saturating_sub(in_flight.len()))
    } else {
        left
    };

    let order = plan::plan(&backlog, &dispatched, &in_flight, limit);
    let scope = if turn { "this turn" } else { "this run" };
    let mut text = format!(
        "{} would be dispatched by {scope}, in order:\n",
        super::count_of(order.len(), "ticket")
    );
    for ticket in order {
        text.push_str(&format!(
            "{:<8} [P{}] {}\n",
            ticket.id, ticket.priority, ticket.title
        ));
    }
    print_stdout(&text)
}
