//! `ralph-loop demo`: a small backlog in a scratch git repository, run
//! with the binary's own scripted agent.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use tickets::Status;

use crate::Globals;
use crate::dispatch::config::Config;
use crate::dispatch::paths::Project;
use crate::dispatch::report::Reporter;
use crate::exit::Exit;

/// Arguments of `ralph-loop demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory for the scratch repository, which must not contain a
    /// backlog yet [default: a new temporary directory, kept afterwards]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The ticket that fails on purpose, to show what a failure looks like.
const FAILING: &str = "demo-5";

/// Sessions the demo runs at once, each in its own worktree.
const PARALLEL: u32 = 2;

/// id, priority, deps, component, title.
const BACKLOG: [(&str, u32, &str, &str, &str); 6] = [
    ("demo-1", 1, "", "core", "Add a greeting module"),
    (
        "demo-2",
        2,
        "demo-1",
        "cli",
        "Read the user's name from the command line",
    ),
    ("demo-3", 2, "", "docs", "Write the README"),
    ("demo-4", 2, "demo-1", "tests", "Test the greeting"),
    (
        "demo-5",
        2,
        "demo-2, demo-4",
        "release",
        "Package a release",
    ),
    ("demo-6", 2, "demo-5", "release", "Announce the release"),
];

/// Runs `ralph-loop demo`.
pub fn run(globals: &Globals, args: Args) -> anyhow::Result<Exit> {
    let dir = match args.dir {
        Some(dir) => {
            fs::create_dir_all(&dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
            dir.canonicalize()?
        }
        None => tempfile::Builder::new()
            .prefix("ralph-loop-demo-")
            .tempdir()
            .context("failed to create a temporary directory")?
            .keep(),
    };
    let tickets = dir.join(".tickets");
    if tickets.exists() {
        anyhow::bail!(
            "{} already has a backlog; choose an empty --dir",
            dir.display()
        );
    }
    write_backlog(&tickets)?;
    let config = demo_config()?;
    let ralph = dir.join(".tf").join("ralph");
    fs::create_dir_all(&ralph)?;
    fs::write(ralph.join("config.json"), config.to_json())?;
    fs::write(dir.join(".gitignore"), ".tf/\n")?;
    git(&dir, &["init", "--quiet"])?;
    // Merges of the sessions' branches are commits made by ralph-loop.
    git(&dir, &["config", "user.name", "ralph-loop demo"])?;
    git(&dir, &["config", "user.email", "demo@ralph-loop.invalid"])?;
    git(&dir, &["add", "."])?;
    git(&dir, &["commit", "--quiet", "-m", "Add the demo backlog"])?;

    println!(
        "demo: a backlog of {} tickets in {}",
        BACKLOG.len(),
        dir.display()
    );
    println!(
        "demo: {PARALLEL} sessions at a time, each in its own git worktree, merged back when \
         it completes"
    );
    println!("demo: {FAILING} fails on purpose, so demo-6, which needs it, stays blocked\n");
    let project = Project::new(&dir, ralph.clone(), tickets.clone());
    let reporter = Reporter::new(true, globals.quiet);
    let exit = super::run::run_project(project, config, &reporter)?;

    let backlog = tickets::Backlog::load(&tickets)?;
    let closed = backlog
        .tickets()
        .filter(|t| t.status == Status::Closed)
        .count();
    let open: Vec<&str> = backlog
        .tickets()
        .filter(|t| t.status != Status::Closed)
        .map(|t| t.id.as_str())
        .collect();
    println!(
        "\ndemo: {closed} tickets closed; still open: {}",
        open.join(", ")
    );
    println!("demo: everything is in {}", dir.display());
    println!("  progress:  {}", ralph.join("progress.md").display());
    println!("  logs:      {}", ralph.join("logs").display());
    println!("  records:   {}", ralph.join("sessions").display());
    println!(
        "  commits:   git -C {} log --graph --oneline",
        dir.display()
    );
    Ok(exit)
}

fn write_backlog(tickets: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(tickets)?;
    for (id, priority, deps, component, title) in BACKLOG {
        let text = format!(
            "---\nid: {id}\nstatus: open\ndeps: [{deps}]\nlinks: []\n\
             created: 2026-01-01T00:00:00Z\ntype: task\npriority: {priority}\n\
             tags: [demo, component:{component}]\n---\n# {title}\n"
        );
        let path = tickets.join(format!("{id}.md"));
        fs::write(&path, text).with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(())
}

/// Returns the demo's config: the scripted agent, with short limits so
/// the demo takes seconds.
fn demo_config() -> anyhow::Result<Config> {
    let exe = std::env::current_exe().context("failed to find the ralph-loop executable")?;
    let agent = [
        exe.to_string_lossy().into_owned(),
        "__agent".to_owned(),
        "--fail-for".to_owned(),
        FAILING.to_owned(),
        "--sleep-ms".to_owned(),
        "400".to_owned(),
        "{ticket}".to_owned(),
    ];
    Ok(Config {
        attempt_timeout_ms: 60_000,
        grace_period_ms: 2_000,
        heartbeat_interval_ms: 1_000,
        agent_command: agent.to_vec(),
        parallel: PARALLEL,
        ..Config::default()
    })
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ralph-loop demo")
        .env("GIT_AUTHOR_EMAIL", "demo@ralph-loop.invalid")
        .env("GIT_COMMITTER_NAME", "ralph-loop demo")
        .env("GIT_COMMITTER_EMAIL", "demo@ralph-loop.invalid")
        .status()
        .context("failed to run git; the demo needs git installed")?;
    if !status.success() {
        anyhow::bail!("git {} failed with {status}", args.join(" "));
    }
    Ok(())
}
