//! Per-ticket git worktrees for parallel runs, and merging them back.
//!
//! Each session works in `<worktrees dir>/<ticket>` on its own branch
//! `ralph/<ticket>`, made from the branch the run started on (the base
//! branch). A completed ticket's branch is merged into the base branch in the
//! main checkout as a merge commit. The main checkout must stay free of
//! changes to tracked files, because merges need a clean index.
//!
//! The run directory `.tf/ralph/` lives inside the main checkout. It must be
//! ignored by git, so that neither `git worktree add`, a merge nor an agent's
//! `git add -A` in a worktree touches the lock, state and logs there. Opening
//! a repository adds it to `.git/info/exclude` when nothing ignores it yet.

mod error;
mod git;
mod ids;
mod leftovers;
mod paths;
mod session;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) use error::WorktreeError;
pub(crate) use ids::{BRANCH_PREFIX, branch_name, validate_ticket_id};

use git::{Git, first_line, stderr_of};
use paths::{append_line, canonical_dir, entry_exists, is_symlink};

/// The run directory, relative to the project directory.
const RUN_DIR: &str = ".tf/ralph";

/// The main checkout of a repository prepared for a parallel run.
#[derive(Clone, Debug)]
pub(crate) struct Repo {
    /// The project directory, canonical.
    root: PathBuf,
    /// Top directory of the main work tree, canonical.
    toplevel: PathBuf,
    /// `root` relative to `toplevel`: empty, or ending in `/`.
    prefix: String,
    /// The branch the run started on.
    base: String,
    /// The main checkout's git directory, whose `HEAD` names its branch.
    git_dir: PathBuf,
    git: Git,
}

/// Result of [`Repo::merge`] for a ticket's branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum MergeOutcome {
    /// The branch was merged; `commit` is the new merge commit.
    Merged { commit: String },
    /// The base branch already contains the branch tip, so nothing was done.
    AlreadyMerged,
    /// The merge conflicted and was aborted. `files` are the conflicting
    /// paths, relative to the top of the work tree.
    Conflict { files: Vec<String> },
}

/// A ticket's worktree, branch or both, as found in the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Leftover {
    pub ticket: String,
    /// The worktree directory, if git has a worktree registered there. The
    /// directory itself may be gone.
    pub worktree: Option<PathBuf>,
    /// The state of the branch `ralph/<ticket>`, if the branch exists.
    pub branch: Option<BranchState>,
}

/// Relation of a ticket's branch to the base branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BranchState {
    /// The branch has `commits` commits that the base branch does not contain.
    Unmerged { commits: usize },
    /// A merge commit on the base branch has the branch tip as its merged
    /// parent.
    Merged,
    /// The base branch contains the branch tip but never merged it, which
    /// means the branch has no commits of its own.
    Empty,
}

impl Repo {
    /// Opens the git checkout that contains `root` for a parallel run and
    /// checks it as [`Repo::open`] and [`Repo::check_for_new_run`] do.
    #[cfg(test)]
    pub(crate) fn open_for_parallel(root: &Path) -> Result<Repo, WorktreeError> {
        let repo = Repo::open(root)?;
        repo.check_for_new_run()?;
        Ok(repo)
    }

    /// Opens the git checkout that contains `root`, with its current branch
    /// as the base branch. Rejects a directory that is not inside a git
    /// work tree and a detached HEAD. This is all a run that goes on needs,
    /// because every merge checks the main checkout again.
    pub(crate) fn open(root: &Path) -> Result<Repo, WorktreeError> {
        let root = fs::canonicalize(root).map_err(|source| WorktreeError::Io {
            action: "open project directory",
            path: root.to_path_buf(),
            source,
        })?;
        let (toplevel, prefix, git_dir) = locate_work_tree(&root)?;
        let git = Git::new(&toplevel);
        let base = current_branch(&git, &toplevel)?;
        Ok(Repo {
            root,
            toplevel,
            prefix,
            base,
            git_dir,
            git,
        })
    }

    /// Checks what a new run needs before its first worktree.
    ///
    /// Rejects a branch without commits and a merge in progress. Also
    /// rejects staged or unstaged changes to tracked files, but untracked
    /// files are fine. Git must have a committer identity, because merges
    /// make commits. The run directory is added to `.git/info/exclude`
    /// unless git already ignores it.
    pub(crate) fn check_for_new_run(&self) -> Result<(), WorktreeError> {
        if tip_of(&self.git, &format!("refs/heads/{}", self.base))?.is_none() {
            return Err(WorktreeError::NoCommits {
                path: self.toplevel.clone(),
                branch: self.base.clone(),
            });
        }
        ensure_clean(&self.git, &self.toplevel)?;
        check_identity(&self.git, &self.toplevel)?;
        self.exclude_run_dir()
    }

    /// Returns the branch the run started on, which merges go into.
    pub(crate) fn base_branch(&self) -> &str {
        &self.base
    }

    /// Returns the project directory inside a worktree made by
    /// [`Repo::create`]: the directory where the agent runs and where its
    /// `.tickets/` lives. It differs from the worktree when the project is a
    /// subdirectory of the repository.
    pub(crate) fn project_dir_in(&self, worktree: &Path) -> PathBuf {
        worktree.join(&self.prefix)
    }

    /// Creates the worktree `<worktrees_dir>/<ticket>` on a new branch
    /// `ralph/<ticket>` from the base branch, and returns its path.
    ///
    /// Git reads the files of every worktree while it adds one, and fails
    /// on a worktree that another add has only half written, so worktrees
    /// are made one at a time, by the orchestrator.
    /// NOTE: an agent's git command that lists worktrees while an add runs
    /// may hit the same half-written worktree and fail.
    ///
    /// A relative `worktrees_dir` is taken from the project directory, and
    /// is created when missing. The ticket id is validated again here. An
    /// existing path or branch of that name is an error that names it.
    pub(crate) fn create(
        &self,
        worktrees_dir: &Path,
        ticket: &str,
    ) -> Result<PathBuf, WorktreeError> {
        validate_ticket_id(ticket)?;
        let dir = self.resolve(worktrees_dir);
        fs::create_dir_all(&dir).map_err(|source| WorktreeError::Io {
            action: "create worktrees directory",
            path: dir.clone(),
            source,
        })?;
        let dir = canonical_dir(&dir)?.ok_or_else(|| WorktreeError::Io {
            action: "open worktrees directory",
            path: dir.clone(),
            source: io::ErrorKind::NotFound.into(),
        })?;

        let path = dir.join(ticket);
        if entry_exists(&path)? {
            return Err(WorktreeError::PathExists { path });
        }
        let branch = branch_name(ticket);
        if self.branch_tip(&branch)?.is_some() {
            return Err(WorktreeError::BranchExists { branch });
        }

        // A worktree whose directory vanished stays registered until pruned,
        // and blocks adding one at the same path.
        self.git.run(["worktree", "prune"])?;
        let start = format!("refs/heads/{}", self.base);
        let args = [
            OsStr::new("worktree"),
            OsStr::new("add"),
            OsStr::new("-b"),
            OsStr::new(&branch),
            path.as_os_str(),
            OsStr::new(&start),
        ];
        self.git.run(args)?;
        tracing::debug!(ticket, path = %path.display(), "created worktree");
        Ok(path)
    }

    /// Merges `ralph/<ticket>` into the base branch in the main checkout.
    ///
    /// The merge is a merge commit (`--no-ff`) whose message names the
    /// ticket. A conflict aborts the merge and returns the conflicting files.
    /// A branch tip that the base branch already contains returns
    /// `AlreadyMerged` and changes nothing, so no branch is merged twice.
    ///
    /// Errors leave the branch, its worktree and the base branch as they
    /// were. Besides git failures, these are errors: a missing branch, a main
    /// checkout that left the base branch, has a merge in progress or has
    /// changes to tracked files. A branch that changes files in the run
    /// directory is an error too, because a merge overwrites ignored files.
    /// Git itself rejects a merge that would overwrite an untracked file in
    /// the main checkout, which is returned as a git failure.
    pub(crate) fn merge(&self, ticket: &str) -> Result<MergeOutcome, WorktreeError> {
        validate_ticket_id(ticket)?;
        let branch = branch_name(ticket);
        let tip = self
            .branch_tip(&branch)?
            .ok_or_else(|| WorktreeError::BranchNotFound {
                branch: branch.clone(),
            })?;
        self.ensure_ready_to_merge()?;

        if self
            .git
            .check(["merge-base", "--is-ancestor", &tip, "HEAD"])?
        {
            return Ok(MergeOutcome::AlreadyMerged);
        }
        let run_dir = format!(":(literal){}{RUN_DIR}", self.prefix);
        let changes = format!("HEAD...{tip}");
        let touched = self
            .git
            .run(["diff", "--name-only", "-z", &changes, "--", &run_dir])?;
        let touched = split_nul(&touched);
        if !touched.is_empty() {
            return Err(WorktreeError::TouchesRunDirectory {
                branch,
                files: touched,
            });
        }

        let message = format!("Merge ticket {ticket} from branch {branch}");
        let reference = format!("refs/heads/{branch}");
        let args = ["merge", "--no-ff", "--no-edit", "-m", &message, &reference];
        let output = self.git.output(args)?;
        if output.status.success() {
            let commit = first_line(&self.git.run(["rev-parse", "HEAD"])?).to_owned();
            tracing::debug!(ticket, commit, "merged branch {branch}");
            return Ok(MergeOutcome::Merged { commit });
        }
        self.abort_merge(args, &output)
    }

    /// Removes the worktree `<worktrees_dir>/<ticket>` and, unless
    /// `keep_branch`, deletes the branch `ralph/<ticket>`.
    ///
    /// The worktree is removed with `--force`, so uncommitted changes in it
    /// are lost; the branch keeps the committed work. A branch with commits
    /// that the base branch does not contain is never deleted: that is an
    /// error, checked before anything is removed. A missing worktree or
    /// branch is not an error. A directory at that path that is not a
    /// worktree of this repository is an error and is left in place.
    pub(crate) fn remove(
        &self,
        worktrees_dir: &Path,
        ticket: &str,
        keep_branch: bool,
    ) -> Result<(), WorktreeError> {
        validate_ticket_id(ticket)?;
        let branch = branch_name(ticket);
        let tip = self.branch_tip(&branch)?;
        if let (Some(tip), false) = (&tip, keep_branch) {
            let commits = self.commits_not_on_base(tip)?;
            if commits > 0 {
                return Err(WorktreeError::UnmergedBranch {
                    branch,
                    base: self.base.clone(),
                    commits,
                });
            }
        }

        self.git.run(["worktree", "prune"])?;
        if let Some(dir) = canonical_dir(&self.resolve(worktrees_dir))? {
            self.remove_worktree(&dir.join(ticket))?;
        }
        if tip.is_some() && !keep_branch {
            self.git.run(["branch", "-D", &branch])?;
        }
        tracing::debug!(ticket, keep_branch, "removed worktree");
        Ok(())
    }

    /// Returns the ticket whose worktree `path` is, after checking that
    /// `path` is `<worktrees_dir>/<valid ticket id>` and not a symbolic link.
    /// Use it on worktree paths read back from saved state.
    pub(crate) fn ticket_of_worktree(
        &self,
        worktrees_dir: &Path,
        path: &Path,
    ) -> Result<String, WorktreeError> {
        let dir = self.resolve(worktrees_dir);
        let path = self.resolve(path);
        let outside = || WorktreeError::OutsideWorktreesDir {
            path: path.clone(),
            dir: dir.clone(),
        };
        let ticket = path.file_name().and_then(|name| name.to_str());
        let ticket = ticket.ok_or_else(outside)?;
        validate_ticket_id(ticket)?;

        let parent = path.parent().ok_or_else(outside)?;
        let parent = canonical_dir(parent)?.unwrap_or_else(|| parent.to_path_buf());
        let canonical = canonical_dir(&dir)?.unwrap_or_else(|| dir.clone());
        if parent != canonical || is_symlink(&path)? {
            return Err(outside());
        }
        Ok(ticket.to_owned())
    }

    /// Resolves a path from configuration or state against the project dir.
    pub(crate) fn resolve(&self, path: &Path) -> PathBuf {
        self.root.join(path)
    }

    /// Returns the commit a local branch points at, if the branch exists.
    fn branch_tip(&self, branch: &str) -> Result<Option<String>, WorktreeError> {
        tip_of(&self.git, &format!("refs/heads/{branch}"))
    }

    /// Counts the commits reachable from `tip` but not from the base branch.
    fn commits_not_on_base(&self, tip: &str) -> Result<usize, WorktreeError> {
        let range = format!("refs/heads/{}..{tip}", self.base);
        let args = ["rev-list", "--count", &range];
        let output = self.git.run(args)?;
        first_line(&output)
            .parse()
            .map_err(|_| WorktreeError::UnexpectedOutput {
                args: args.join(" "),
                output,
            })
    }

    /// Checks that the main checkout is still on the base branch and clean.
    fn ensure_ready_to_merge(&self) -> Result<(), WorktreeError> {
        self.check_on_base()?;
        ensure_clean(&self.git, &self.toplevel)
    }

    /// Aborts a failed merge and returns its conflicting files, or the
    /// merge's own error when nothing conflicted.
    fn abort_merge(
        &self,
        args: [&str; 6],
        output: &std::process::Output,
    ) -> Result<MergeOutcome, WorktreeError> {
        // Abort even if listing the conflicts fails, so that the main
        // checkout is never left in the middle of a merge.
        let unmerged = self
            .git
            .run(["diff", "--name-only", "-z", "--diff-filter=U"]);
        if tip_of(&self.git, "MERGE_HEAD")?.is_some() {
            self.git.run(["merge", "--abort"])?;
        }
        let files = split_nul(&unmerged?);
        if files.is_empty() {
            return Err(self.git.failure(args, output));
        }
        tracing::debug!(?files, "merge conflicted and was aborted");
        Ok(MergeOutcome::Conflict { files })
    }

    /// Removes one worktree directory, which must be registered with git.
    fn remove_worktree(&self, path: &Path) -> Result<(), WorktreeError> {
        if !entry_exists(path)? {
            return Ok(());
        }
        if is_symlink(path)? {
            return Err(WorktreeError::OutsideWorktreesDir {
                path: path.to_path_buf(),
                dir: path.parent().unwrap_or(path).to_path_buf(),
            });
        }
        let registered = self.worktrees()?.iter().any(|w| w.path == path);
        if !registered {
            return Err(WorktreeError::NotAWorktree {
                path: path.to_path_buf(),
            });
        }
        let args = [
            OsStr::new("worktree"),
            OsStr::new("remove"),
            OsStr::new("--force"),
            path.as_os_str(),
        ];
        self.git.run(args)?;
        Ok(())
    }

    /// Adds the run directory to `.git/info/exclude` unless git ignores it.
    fn exclude_run_dir(&self) -> Result<(), WorktreeError> {
        self.exclude(&format!("{}{RUN_DIR}/", self.prefix), "the run directory")
    }

    /// Adds `dir`, relative to the top of the work tree and ending in `/`,
    /// to `.git/info/exclude` unless git ignores it. `what` names it in the
    /// log line.
    fn exclude(&self, run_dir: &str, what: &str) -> Result<(), WorktreeError> {
        if self.git.check(["check-ignore", "-q", run_dir])? {
            return Ok(());
        }
        let common = PathBuf::from(first_line(
            &self.git.run(["rev-parse", "--git-common-dir"])?,
        ));
        let exclude = self.toplevel.join(common).join("info").join("exclude");
        let pattern = format!("/{}\n", escape_pattern(run_dir));
        append_line(&exclude, &pattern)?;
        tracing::info!(
            "added {} to {} so that git ignores {what}",
            pattern.trim_end(),
            exclude.display()
        );
        if !self.git.check(["check-ignore", "-q", run_dir])? {
            tracing::warn!(
                "git still does not ignore {run_dir}; a negated pattern may re-include it"
            );
        }
        Ok(())
    }
}

/// Returns the top of the work tree containing `root`, and `root` relative
/// to it as git prints it.
fn locate_work_tree(root: &Path) -> Result<(PathBuf, String, PathBuf), WorktreeError> {
    let git = Git::new(root);
    let args = [
        "rev-parse",
        "--is-inside-work-tree",
        "--show-toplevel",
        "--show-prefix",
        "--absolute-git-dir",
    ];
    let output = git.output(args)?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    if !output.status.success() || lines.next() != Some("true") {
        let mut stderr = stderr_of(&output);
        if stderr.is_empty() {
            stderr = "it is inside a git directory".to_owned();
        }
        return Err(WorktreeError::NotARepository {
            path: root.to_path_buf(),
            stderr,
        });
    }
    let unexpected = || WorktreeError::UnexpectedOutput {
        args: args.join(" "),
        output: text.clone().into_owned(),
    };
    let toplevel = lines.next().ok_or_else(unexpected)?;
    let prefix = lines.next().ok_or_else(unexpected)?;
    let git_dir = lines.next().ok_or_else(unexpected)?;
    Ok((
        PathBuf::from(toplevel),
        prefix.to_owned(),
        PathBuf::from(git_dir),
    ))
}

/// Returns the branch HEAD is on; a detached HEAD is an error.
fn current_branch(git: &Git, path: &Path) -> Result<String, WorktreeError> {
    let args = ["symbolic-ref", "--quiet", "--short", "HEAD"];
    let output = git.output(args)?;
    match output.status.code() {
        Some(0) => Ok(first_line(&String::from_utf8_lossy(&output.stdout)).to_owned()),
        Some(1) => Err(WorktreeError::DetachedHead {
            path: path.to_path_buf(),
        }),
        _ => Err(git.failure(args, &output)),
    }
}

/// Returns the commit `reference` names, or `None` if it names none.
fn tip_of(git: &Git, reference: &str) -> Result<Option<String>, WorktreeError> {
    let commit = format!("{reference}^{{commit}}");
    let args = ["rev-parse", "--verify", "--quiet", &commit];
    let output = git.output(args)?;
    match output.status.code() {
        Some(0) => Ok(Some(
            first_line(&String::from_utf8_lossy(&output.stdout)).to_owned(),
        )),
        Some(1) => Ok(None),
        _ => Err(git.failure(args, &output)),
    }
}

/// Fails if a merge is in progress or tracked files have changes.
///
/// A merge in progress may be a person resolving a conflict by hand, so it
/// is reported and never aborted here.
fn ensure_clean(git: &Git, path: &Path) -> Result<(), WorktreeError> {
    if tip_of(git, "MERGE_HEAD")?.is_some() {
        return Err(WorktreeError::MergeInProgress {
            path: path.to_path_buf(),
        });
    }
    let files = tracked_changes(git)?;
    if !files.is_empty() {
        return Err(WorktreeError::Dirty {
            path: path.to_path_buf(),
            files,
        });
    }
    Ok(())
}

/// Lists tracked files with staged or unstaged changes, relative to the top
/// of the work tree.
fn tracked_changes(git: &Git) -> Result<Vec<String>, WorktreeError> {
    changed_paths(git, "--untracked-files=no")
}

/// Lists the paths `git status` reports, relative to the top of the work
/// tree; `untracked` is its `--untracked-files=` option.
fn changed_paths(git: &Git, untracked: &str) -> Result<Vec<String>, WorktreeError> {
    let status = git.run(["status", "--porcelain=v1", "-z", untracked, "--no-renames"])?;
    // Each entry is two status letters, a space and the path.
    Ok(split_nul(&status)
        .into_iter()
        .map(|entry| entry.get(3..).unwrap_or(&entry).to_owned())
        .collect())
}

/// Fails unless git can make commits, which needs an author and a committer
/// identity.
fn check_identity(git: &Git, path: &Path) -> Result<(), WorktreeError> {
    for variable in ["GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"] {
        let output = git.output(["var", variable])?;
        if !output.status.success() {
            return Err(WorktreeError::NoIdentity {
                path: path.to_path_buf(),
                stderr: stderr_of(&output),
            });
        }
    }
    Ok(())
}

/// Splits NUL-terminated git output into its fields.
fn split_nul(text: &str) -> Vec<String> {
    text.split('\0')
        .filter(|field| !field.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Backslash-escapes the characters that are special in a gitignore pattern.
fn escape_pattern(path: &str) -> String {
    let mut escaped = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '\\' | '*' | '?' | '[') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests;
