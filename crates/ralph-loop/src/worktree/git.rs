//! Runs `git` as a child process, without a shell, in one directory.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::WorktreeError;

/// Variables that point git at another repository, index or work tree than
/// the one found from its working directory. A git hook, for example, runs
/// with `GIT_DIR` set, so they are cleared for every command.
const REPOSITORY_VARIABLES: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

/// A directory in which git commands run.
#[derive(Clone, Debug)]
pub(super) struct Git {
    dir: PathBuf,
}

impl Git {
    pub(super) fn new(dir: &Path) -> Git {
        Git {
            dir: dir.to_path_buf(),
        }
    }

    /// Runs git and returns its output whatever its exit status.
    ///
    /// Git writes its output to unnamed temporary files, not pipes. If this
    /// process dies while git runs, git's next write to a pipe would kill
    /// it with SIGPIPE, which can leave a merge half made. With files, git
    /// finishes what it started.
    pub(super) fn output<I, S>(&self, args: I) -> Result<Output, WorktreeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let spawn_error = |source| WorktreeError::Spawn {
            dir: self.dir.clone(),
            source,
        };
        let mut stdout = tempfile::tempfile().map_err(spawn_error)?;
        let mut stderr = tempfile::tempfile().map_err(spawn_error)?;
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().map_err(spawn_error)?)
            .stderr(stderr.try_clone().map_err(spawn_error)?);
        for variable in REPOSITORY_VARIABLES {
            command.env_remove(variable);
        }
        tracing::trace!(dir = %self.dir.display(), ?command, "running git");
        let status = command.status().map_err(spawn_error)?;
        Ok(Output {
            status,
            stdout: read_back(&mut stdout).map_err(spawn_error)?,
            stderr: read_back(&mut stderr).map_err(spawn_error)?,
        })
    }

    /// Runs git and returns its stdout, failing unless it exits 0.
    pub(super) fn run<I, S>(&self, args: I) -> Result<String, WorktreeError>
    where
        I: IntoIterator<Item = S> + Clone,
        S: AsRef<OsStr>,
    {
        let output = self.output(args.clone())?;
        if !output.status.success() {
            return Err(self.failure(args, &output));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs a git command whose exit status is a yes or no: true for 0,
    /// false for 1 and an error for anything else.
    pub(super) fn check<I, S>(&self, args: I) -> Result<bool, WorktreeError>
    where
        I: IntoIterator<Item = S> + Clone,
        S: AsRef<OsStr>,
    {
        let output = self.output(args.clone())?;
        match output.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.failure(args, &output)),
        }
    }

    /// Builds the error for a git command that exited with `output.status`.
    pub(super) fn failure<I, S>(&self, args: I, output: &Output) -> WorktreeError
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = args
            .into_iter()
            .map(|arg| arg.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        WorktreeError::Git {
            dir: self.dir.clone(),
            args,
            status: output.status,
            stderr: stderr_of(output),
        }
    }
}

/// Reads a temporary output file from its start.
fn read_back(file: &mut File) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Returns git's stderr as one trimmed line of text.
pub(super) fn stderr_of(output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stderr);
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Returns the first line of `text` without its line ending.
pub(super) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
