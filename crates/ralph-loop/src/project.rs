//! Finding the project directory: `-C DIR`, or the nearest ancestor of the
//! working directory that holds `.tf/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::Globals;

/// The directory inside a project that marks it and holds its state.
const MARKER: &str = ".tf";

/// Returns the project directory: `-C DIR` when given, else the nearest
/// ancestor of the working directory (itself included) that holds `.tf/`.
pub fn find(globals: &Globals) -> Result<PathBuf> {
    if let Some(directory) = &globals.directory {
        return explicit(directory);
    }
    let cwd = std::env::current_dir().context("failed to read the working directory")?;
    match nearest(&cwd) {
        Some(root) => Ok(root),
        None => bail!(
            "no `{MARKER}/` directory in {} or any parent; run inside a project or pass -C DIR",
            cwd.display()
        ),
    }
}

/// Returns the project directory as [`find`] does, falling back to the
/// working directory when no ancestor holds `.tf/`, and creates
/// `.tf/ralph/` in it when missing.
pub fn find_or_create(globals: &Globals) -> Result<PathBuf> {
    let root = match &globals.directory {
        Some(directory) => explicit(directory)?,
        None => {
            let cwd = std::env::current_dir().context("failed to read the working directory")?;
            nearest(&cwd).unwrap_or(cwd)
        }
    };
    let dir = ralph_dir(&root);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("failed to create the directory {}", dir.display()))?;
    Ok(root)
}

/// Returns the directory of ralph-loop's own state: `ROOT/.tf/ralph`.
pub fn ralph_dir(root: &Path) -> PathBuf {
    root.join(MARKER).join("ralph")
}

/// Returns the run lock path: `ROOT/.tf/ralph/dispatch-loop.lock`.
pub fn lock_path(root: &Path) -> PathBuf {
    ralph_dir(root).join(runlock::LOCK_FILE_NAME)
}

/// Checks that `directory`, given with `-C`, is a directory.
pub fn check_directory(directory: &Path) -> Result<()> {
    match std::fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => bail!(
            "the project directory {} is not a directory",
            directory.display()
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => bail!(
            "the project directory {} does not exist",
            directory.display()
        ),
        Err(error) => Err(error).with_context(|| {
            format!(
                "failed to read the project directory {}",
                directory.display()
            )
        }),
    }
}

fn explicit(directory: &Path) -> Result<PathBuf> {
    check_directory(directory)?;
    std::path::absolute(directory)
        .with_context(|| format!("failed to resolve the directory {}", directory.display()))
}

fn nearest(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(MARKER).is_dir())
        .map(Path::to_path_buf)
}
