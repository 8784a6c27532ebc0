//! `ralph-loop init`: write `.tf/ralph/config.json` with every key.

use anyhow::Context as _;

use crate::Globals;
use crate::dispatch::config::Config;
use crate::exit::Exit;

/// Arguments of `ralph-loop init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Replace an existing config file with the defaults
    #[arg(long)]
    pub force: bool,
}

/// Runs `ralph-loop init`.
pub fn run(globals: &Globals, args: Args) -> anyhow::Result<Exit> {
    let root = crate::project::find_or_create(globals)?;
    let path = crate::project::ralph_dir(&root).join("config.json");
    if path.exists() && !args.force {
        anyhow::bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    crate::dispatch::fsutil::write_atomic(&path, Config::default().to_json().as_bytes())
        .with_context(|| format!("failed to write {}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(Exit::Success)
}
