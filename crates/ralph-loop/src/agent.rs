//! The hidden `__agent` mode: a scripted stand-in for a coding agent, used
//! by `demo` and by the tests. By default it commits a file and closes its
//! ticket; other behaviours reproduce the ways a real agent goes wrong.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::Duration;

use anyhow::Context as _;
use tickets::Status;

use crate::dispatch::supervisor::SIGIL;
use crate::exit::Exit;

/// Arguments of the hidden `__agent` subcommand.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// Behaviour of the agent
    #[arg(long, value_enum, default_value = "commit")]
    behavior: Behavior,

    /// Exit 1 without closing when the ticket is this one (repeatable)
    #[arg(long, value_name = "TICKET")]
    fail_for: Vec<String>,

    /// Sleep this long before acting, in milliseconds
    #[arg(long, default_value_t = 0, value_name = "MS")]
    sleep_ms: u64,

    /// Exit 3 without acting if a dependency of the ticket is not closed
    #[arg(long)]
    require_deps_closed: bool,

    /// The ticket to work on
    ticket: String,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Behavior {
    /// Write a file, close the ticket and commit both with git
    Commit,
    /// Close the ticket
    Close,
    /// Exit 0 without closing the ticket
    NoClose,
    /// Exit 1
    Fail,
    /// Kill itself with SIGKILL
    KillSelf,
    /// Sleep forever
    Hang,
    /// Print the completion promise, then exit 1
    PromiseThenFail,
    /// Ignore SIGTERM and sleep forever
    IgnoreTerm,
}

/// Runs the scripted agent in the current directory.
pub fn run(args: AgentArgs) -> anyhow::Result<Exit> {
    println!("agent: working on {}", args.ticket);
    thread::sleep(Duration::from_millis(args.sleep_ms));
    if args.fail_for.contains(&args.ticket) {
        println!("agent: {} fails on purpose", args.ticket);
        return Ok(Exit::Error);
    }
    if args.require_deps_closed {
        let open = open_deps(&args.ticket)?;
        if !open.is_empty() {
            println!(
                "agent: {} started before its deps closed: {open:?}",
                args.ticket
            );
            return Ok(Exit::Code(3));
        }
    }
    match args.behavior {
        Behavior::Commit => {
            let path = close_ticket(&args.ticket)?;
            commit(&args.ticket, &path)?;
        }
        Behavior::Close => {
            close_ticket(&args.ticket)?;
        }
        Behavior::NoClose => println!("agent: done, ticket left open"),
        Behavior::Fail => return Ok(Exit::Error),
        Behavior::KillSelf => {
            let me = rustix::process::getpid();
            rustix::process::kill_process(me, rustix::process::Signal::KILL)?;
        }
        Behavior::Hang => sleep_forever(),
        Behavior::PromiseThenFail => {
            println!("{SIGIL}");
            return Ok(Exit::Error);
        }
        Behavior::IgnoreTerm => {
            let flag = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGTERM, flag)?;
            sleep_forever();
        }
    }
    Ok(Exit::Success)
}

fn sleep_forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

fn load_backlog() -> anyhow::Result<tickets::Backlog> {
    let cwd = std::env::current_dir().context("failed to read the working directory")?;
    let dir = tickets::find_dir(&cwd)?;
    Ok(tickets::Backlog::load(&dir)?)
}

/// Returns the dependencies of `ticket` that are not closed.
fn open_deps(ticket: &str) -> anyhow::Result<Vec<String>> {
    let backlog = load_backlog()?;
    let found = backlog
        .get(ticket)
        .with_context(|| format!("ticket {ticket} not found"))?;
    let open = found
        .deps
        .iter()
        .filter(|dep| !backlog.is_closed(dep))
        .cloned()
        .collect();
    Ok(open)
}

/// Sets the ticket's status to closed and returns its file.
fn close_ticket(ticket: &str) -> anyhow::Result<std::path::PathBuf> {
    let backlog = load_backlog()?;
    let path = backlog
        .get(ticket)
        .with_context(|| format!("ticket {ticket} not found"))?
        .path
        .clone();
    tickets::set_status(&path, Status::Closed)?;
    println!("agent: closed {ticket}");
    Ok(path)
}

/// Writes `work/<ticket>.txt` and commits it with the ticket file.
fn commit(ticket: &str, ticket_file: &Path) -> anyhow::Result<()> {
    fs::create_dir_all("work").context("failed to create work/")?;
    let file = format!("work/{ticket}.txt");
    fs::write(&file, format!("{ticket} is done\n"))
        .with_context(|| format!("failed to write {file}"))?;
    git(&["add", "--", &file])?;
    git(&["add", "--", &ticket_file.to_string_lossy()])?;
    git(&["commit", "--quiet", "-m", &format!("Close {ticket}")])?;
    println!("agent: committed {file}");
    Ok(())
}

fn git(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("git")
        .args(args)
        .env("GIT_AUTHOR_NAME", "ralph-loop agent")
        .env("GIT_AUTHOR_EMAIL", "agent@ralph-loop.invalid")
        .env("GIT_COMMITTER_NAME", "ralph-loop agent")
        .env("GIT_COMMITTER_EMAIL", "agent@ralph-loop.invalid")
        .status()
        .context("failed to run git")?;
    if !status.success() {
        anyhow::bail!("git {} failed with {status}", args.join(" "));
    }
    Ok(())
}
