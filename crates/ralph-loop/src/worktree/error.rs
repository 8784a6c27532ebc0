//! Errors of the worktree module.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// A failure to prepare, create, merge or remove a ticket's worktree.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorktreeError {
    #[error("failed to run git in {dir}; is git installed and on PATH?")]
    Spawn {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("`git {args}` failed in {dir} ({status}): {stderr}")]
    Git {
        dir: PathBuf,
        args: String,
        status: ExitStatus,
        stderr: String,
    },

    #[error("`git {args}` printed {output:?}, which is not what it prints normally")]
    UnexpectedOutput { args: String, output: String },

    #[error("{path} is not inside a git work tree: {stderr}")]
    NotARepository { path: PathBuf, stderr: String },

    #[error("{path} is on a detached HEAD; check out a branch before a parallel run")]
    DetachedHead { path: PathBuf },

    #[error("branch {branch} in {path} has no commits yet; commit something first")]
    NoCommits { path: PathBuf, branch: String },

    #[error(
        "{path} has uncommitted changes to tracked files: {}; commit or stash them first",
        list_files(files)
    )]
    Dirty { path: PathBuf, files: Vec<String> },

    #[error(
        "a merge is in progress in {path}; finish it with `git commit` \
         or cancel it with `git merge --abort`"
    )]
    MergeInProgress { path: PathBuf },

    #[error("git in {path} has no identity for commits; set user.name and user.email: {stderr}")]
    NoIdentity { path: PathBuf, stderr: String },

    #[error("invalid ticket id {id:?}: {reason}")]
    InvalidTicketId { id: String, reason: String },

    #[error("worktree path {path} is outside the worktrees directory {dir}")]
    OutsideWorktreesDir { path: PathBuf, dir: PathBuf },

    #[error("branch {branch} already exists; merge or delete it before running its ticket again")]
    BranchExists { branch: String },

    #[error(
        "ticket file {path} is not committed on branch {branch}, so the worktree lacks it; \
         commit the backlog first"
    )]
    TicketFileNotCommitted { path: PathBuf, branch: String },

    #[error(
        "the worktrees directory {path} contains tracked files ({}); set \
         parallelWorktreesDir to a directory of its own", files.join(", ")
    )]
    TrackedWorktreesDir { path: PathBuf, files: Vec<String> },

    #[error("{path} already exists; remove it before running its ticket again")]
    PathExists { path: PathBuf },

    #[error("{path} is not a worktree of this repository; remove it by hand if it is not needed")]
    NotAWorktree { path: PathBuf },

    #[error("branch {branch} not found")]
    BranchNotFound { branch: String },

    #[error("branch {branch} has {commits} commit(s) that {base} does not contain; not deleted")]
    UnmergedBranch {
        branch: String,
        base: String,
        commits: usize,
    },

    #[error(
        "branch {branch} changes files in the run directory: {}; merge it by hand",
        list_files(files)
    )]
    TouchesRunDirectory { branch: String, files: Vec<String> },

    #[error("{path} is on {current}, not on the run's branch {base}; check out {base} again")]
    BranchChanged {
        path: PathBuf,
        base: String,
        current: String,
    },

    #[error("failed to {action} {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Joins file names for a message, naming at most ten of them.
fn list_files(files: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut list = files
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > SHOWN {
        list.push_str(&format!(" and {} more", files.len() - SHOWN));
    }
    list
}
