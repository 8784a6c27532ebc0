//! Worktree operations around one session: mapping the ticket's files into
//! the worktree, and committing what the agent left uncommitted.

use std::fs;
use std::path::{Path, PathBuf};

use super::git::Git;
use super::{Repo, WorktreeError, branch_name, split_nul, validate_ticket_id};

impl Repo {
    /// Returns the path inside `worktree` of `path`, a file or directory of
    /// the main checkout, or `None` when `path` is outside the main work
    /// tree (for example a `TICKETS_DIR` elsewhere).
    pub(crate) fn path_in(&self, worktree: &Path, path: &Path) -> Option<PathBuf> {
        let canonical = fs::canonicalize(path).ok()?;
        let relative = canonical.strip_prefix(&self.toplevel).ok()?;
        Some(worktree.join(relative))
    }

    /// Commits everything the session left uncommitted in `worktree`,
    /// untracked files included but ignored files not, onto the ticket's
    /// branch. Returns whether there was anything to commit.
    ///
    /// Removing a worktree discards its uncommitted changes, so this runs
    /// before every removal that keeps or merges the branch.
    pub(crate) fn commit_leftover_work(
        &self,
        worktree: &Path,
        ticket: &str,
    ) -> Result<bool, WorktreeError> {
        validate_ticket_id(ticket)?;
        let git = Git::new(worktree);
        if uncommitted(&git)?.is_empty() {
            return Ok(false);
        }
        git.run(["add", "--all"])?;
        let message = format!(
            "Keep the uncommitted work of ticket {ticket}\n\nThe agent's session ended \
             without committing these changes."
        );
        git.run(["commit", "--quiet", "--no-verify", "-m", &message])?;
        tracing::info!(
            ticket,
            "committed what the session left uncommitted on {}",
            branch_name(ticket)
        );
        Ok(true)
    }

    /// Returns whether `worktree` has uncommitted changes or untracked
    /// files that are not ignored.
    pub(crate) fn has_uncommitted(&self, worktree: &Path) -> Result<bool, WorktreeError> {
        Ok(!uncommitted(&Git::new(worktree))?.is_empty())
    }

    /// Counts the commits on the ticket's branch that the base branch does
    /// not contain; 0 when the branch does not exist.
    pub(crate) fn unmerged_commits(&self, ticket: &str) -> Result<usize, WorktreeError> {
        validate_ticket_id(ticket)?;
        match self.branch_tip(&branch_name(ticket))? {
            Some(tip) => self.commits_not_on_base(&tip),
            None => Ok(0),
        }
    }
}

/// Lists the changed and untracked (not ignored) paths in a work tree.
fn uncommitted(git: &Git) -> Result<Vec<String>, WorktreeError> {
    super::changed_paths(git, "--untracked-files=all")
}

impl Repo {
    /// Returns the path in the main checkout of `path`, a path inside
    /// `worktree`.
    pub(crate) fn main_path_of(&self, worktree: &Path, path: &Path) -> Option<PathBuf> {
        let relative = path.strip_prefix(worktree).ok()?;
        Some(self.toplevel.join(relative))
    }

    /// Lists the untracked files under `dir`, a directory of the main
    /// checkout, relative to the top of the work tree. Worktrees are made
    /// from commits, so they lack these files.
    pub(crate) fn untracked_in(&self, dir: &Path) -> Result<Vec<String>, WorktreeError> {
        let status = self.git.run([
            std::ffi::OsStr::new("ls-files"),
            std::ffi::OsStr::new("-z"),
            std::ffi::OsStr::new("--others"),
            std::ffi::OsStr::new("--exclude-standard"),
            std::ffi::OsStr::new("--"),
            dir.as_os_str(),
        ])?;
        Ok(split_nul(&status))
    }
}

impl Repo {
    /// Returns whether `path` exists inside the main work tree.
    pub(crate) fn contains(&self, path: &Path) -> bool {
        fs::canonicalize(path).is_ok_and(|path| path.starts_with(&self.toplevel))
    }

    /// Returns whether the branch of `ticket` exists.
    pub(crate) fn branch_exists(&self, ticket: &str) -> Result<bool, WorktreeError> {
        validate_ticket_id(ticket)?;
        Ok(self.branch_tip(&branch_name(ticket))?.is_some())
    }
}

impl Repo {
    /// Fails unless the main checkout is still on the base branch.
    pub(crate) fn check_on_base(&self) -> Result<(), WorktreeError> {
        // Reading `HEAD` settles the common case without starting git, which
        // matters because `run` and `turn` check before every step.
        let head = fs::read_to_string(self.git_dir.join("HEAD")).unwrap_or_default();
        if head.trim_end() == format!("ref: refs/heads/{}", self.base) {
            return Ok(());
        }
        let current = super::current_branch(&self.git, &self.toplevel)?;
        if current != self.base {
            return Err(WorktreeError::BranchChanged {
                path: self.toplevel.clone(),
                base: self.base.clone(),
                current,
            });
        }
        Ok(())
    }
}

impl Repo {
    /// Checks that the worktrees directory `dir`, relative to the project
    /// directory, contains no tracked files, and makes git ignore it, so that
    /// worktrees never show up as changes of the main checkout.
    pub(crate) fn prepare_worktrees_dir(&self, dir: &Path) -> Result<(), WorktreeError> {
        let relative = format!(
            "{}{}/",
            self.prefix,
            dir.to_string_lossy().trim_end_matches('/')
        );
        let literal = format!(":(literal){relative}");
        let tracked = split_nul(&self.git.run(["ls-files", "-z", "--", &literal])?);
        if !tracked.is_empty() {
            return Err(WorktreeError::TrackedWorktreesDir {
                path: self.root.join(dir),
                files: tracked,
            });
        }
        self.exclude(&relative, "the worktrees directory")
    }
}
