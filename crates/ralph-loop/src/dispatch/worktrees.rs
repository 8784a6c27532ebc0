//! Sessions in per-ticket git worktrees: where a session runs, what
//! happens to its branch when it ends, and what earlier sessions left.
//!
//! A completed session's branch is merged into the run's base branch and
//! removed with its worktree. Any other ending removes the worktree and
//! keeps the branch only when it contains commits. A merge that fails keeps
//! both, for a person to finish. Before a worktree is removed, whatever the
//! agent left uncommitted is committed onto its branch, so no work is lost.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tickets::Ticket;

use super::outcome::Outcome;
use super::paths::Project;
use super::state::{Active, State};
use crate::worktree::{BranchState, MergeOutcome, Repo, WorktreeError, branch_name};

/// The directories and files of one session.
pub struct Placement {
    /// The agent's working directory.
    pub workdir: PathBuf,
    /// The ticket file read after the session.
    pub ticket_file: PathBuf,
    /// The tickets directory the agent is given as `TICKETS_DIR`.
    pub tickets_dir: Option<PathBuf>,
    pub worktree: Option<PathBuf>,
}

/// The outcome of a finished session after its branch was merged or kept.
pub struct Settled {
    pub outcome: Outcome,
    /// Added to the outcome's reason.
    pub note: Option<String>,
    pub kept_worktree: Option<PathBuf>,
    pub kept_branch: Option<String>,
}

impl Settled {
    /// Returns a result that keeps nothing and changes no outcome.
    pub fn unchanged(outcome: Outcome) -> Settled {
        Settled {
            outcome,
            note: None,
            kept_worktree: None,
            kept_branch: None,
        }
    }
}

/// Opens the repository of a run whose sessions use worktrees, or returns
/// `None` for a run in the main checkout.
///
/// Rejects what would make worktrees or merges go wrong. Besides the errors
/// of [`Repo::open`], these are a tickets directory outside the work tree
/// and a main checkout no longer on the run's branch. A saved worktree path
/// that is not a ticket's directory in the worktrees directory is rejected
/// too. A new run is also checked as
/// [`Repo::check_for_new_run`] does, and must have every ticket file
/// committed.
pub fn open(project: &Project, state: &mut State) -> anyhow::Result<Option<Repo>> {
    let Some(dir) = state.settings.worktrees.clone() else {
        return Ok(None);
    };
    let context = "sessions run in git worktrees (parallel above 1, or serialUseWorktree)";
    let repo = Repo::open(&project.root).context(context)?;
    if state.base_branch.is_none() {
        repo.check_for_new_run().context(context)?;
        repo.prepare_worktrees_dir(&dir)?;
    }
    if !repo.contains(&project.tickets) {
        anyhow::bail!(
            "the tickets directory {} is outside the git work tree, so worktrees would not \
             contain it; run serially without worktrees, or move the backlog into the repository",
            project.tickets.display()
        );
    }

    match &state.base_branch {
        None => {
            let untracked = repo.untracked_in(&project.tickets)?;
            if !untracked.is_empty() {
                anyhow::bail!(
                    "the backlog has ticket files that are not committed, and worktrees are \
                     made from commits: {}; commit them first",
                    untracked.join(", ")
                );
            }
            state.base_branch = Some(repo.base_branch().to_owned());
        }
        Some(base) if base != repo.base_branch() => anyhow::bail!(
            "the main checkout {} is on branch {}, but run {} started on {base} and merges \
             into it; check out {base} again",
            project.root.display(),
            repo.base_branch(),
            state.run_id
        ),
        Some(_) => {}
    }

    for active in &state.active {
        let Some(worktree) = &active.worktree else {
            continue;
        };
        let ticket = repo
            .ticket_of_worktree(&dir, worktree)
            .with_context(|| format!("invalid worktree for {} in the state file", active.ticket))?;
        if ticket != active.ticket {
            anyhow::bail!(
                "the state file gives ticket {} the worktree {}, which belongs to {ticket}",
                active.ticket,
                worktree.display()
            );
        }
    }
    Ok(Some(repo))
}

/// Returns whether a failure of [`place`] concerns only that ticket, so
/// the run records the ticket as failed and goes on.
pub fn is_ticket_problem(error: &WorktreeError) -> bool {
    matches!(
        error,
        WorktreeError::BranchExists { .. }
            | WorktreeError::PathExists { .. }
            | WorktreeError::TicketFileNotCommitted { .. }
            | WorktreeError::InvalidTicketId { .. }
    )
}

/// Creates the worktree of `ticket` and returns where its session runs.
///
/// A crash between making a worktree and saving the state leaves a branch
/// and worktree with no work in them, so such a pair is removed and made
/// anew.
pub fn place(
    repo: &Repo,
    dir: &Path,
    project: &Project,
    ticket: &Ticket,
) -> Result<Placement, WorktreeError> {
    let worktree = match repo.create(dir, &ticket.id) {
        Err(WorktreeError::BranchExists { .. } | WorktreeError::PathExists { .. })
            if holds_no_work(repo, dir, &ticket.id)? =>
        {
            tracing::info!("replacing the unused worktree of {}", ticket.id);
            repo.remove(dir, &ticket.id, false)?;
            repo.create(dir, &ticket.id)?
        }
        other => other?,
    };
    let ticket_file = repo.path_in(&worktree, &ticket.path);
    let ticket_file = match ticket_file {
        Some(file) if file.is_file() => file,
        _ => {
            // The ticket file is not on the base branch: remove the worktree
            // again so that a later run can create it.
            let _ = repo.remove(dir, &ticket.id, false);
            return Err(WorktreeError::TicketFileNotCommitted {
                path: ticket.path.clone(),
                branch: repo.base_branch().to_owned(),
            });
        }
    };
    Ok(Placement {
        workdir: repo.project_dir_in(&worktree),
        ticket_file,
        tickets_dir: repo.path_in(&worktree, &project.tickets),
        worktree: Some(worktree),
    })
}

/// Returns whether the ticket's branch has no commits of its own and its
/// worktree, if any, has no uncommitted changes.
fn holds_no_work(repo: &Repo, dir: &Path, ticket: &str) -> Result<bool, WorktreeError> {
    if repo.unmerged_commits(ticket)? > 0 {
        return Ok(false);
    }
    let worktree = repo.resolve(dir).join(ticket);
    if !worktree.join(".git").exists() {
        return Ok(!worktree.exists());
    }
    Ok(!repo.has_uncommitted(&worktree)?)
}

/// Returns the ticket file to read after a session: the worktree's, or the
/// main checkout's when the worktree is gone (removed after a merge by a
/// process that crashed before saving the state).
pub fn ticket_file_after(repo: Option<&Repo>, entry: &Active) -> PathBuf {
    if let (Some(repo), Some(worktree)) = (repo, &entry.worktree)
        && !worktree.exists()
        && let Some(main) = repo.main_path_of(worktree, &entry.ticket_file)
    {
        return main;
    }
    entry.ticket_file.clone()
}

/// Merges or keeps the branch of a finished session, then removes what is
/// no longer needed. Errors are folded into the result, because the
/// session's outcome must be recorded whatever git does.
pub fn settle(repo: &Repo, dir: &Path, entry: &Active, outcome: Outcome) -> Settled {
    let Some(worktree) = &entry.worktree else {
        return Settled::unchanged(outcome);
    };
    let ticket = entry.ticket.as_str();
    if worktree.exists()
        && let Err(error) = repo.commit_leftover_work(worktree, ticket)
    {
        // A completed session whose work cannot be committed is not merged,
        // so it must not count as a success.
        let outcome = match outcome {
            Outcome::Completed => Outcome::NotMerged,
            other => other,
        };
        return kept(
            outcome,
            worktree,
            ticket,
            format!("failed to commit the work left in the worktree: {error}"),
        );
    }
    if outcome == Outcome::Completed {
        merge(repo, dir, worktree, ticket)
    } else {
        drop_worktree(repo, dir, ticket, outcome)
    }
}

fn merge(repo: &Repo, dir: &Path, worktree: &Path, ticket: &str) -> Settled {
    if !worktree.exists() && !branch_exists(repo, ticket) {
        // Merged and removed by a process that crashed before it saved.
        return Settled::unchanged(Outcome::Completed);
    }
    match repo.merge(ticket) {
        Ok(MergeOutcome::Merged { .. } | MergeOutcome::AlreadyMerged) => {}
        Ok(MergeOutcome::Conflict { files }) => {
            let reason = format!("merge conflict in {}", files.join(", "));
            return kept(Outcome::NotMerged, worktree, ticket, reason);
        }
        Err(error) => {
            let reason = format!("merge failed: {error}");
            return kept(Outcome::NotMerged, worktree, ticket, reason);
        }
    }
    if let Err(error) = repo.remove(dir, ticket, false) {
        tracing::warn!("ticket {ticket} is merged, but its worktree stays: {error}");
    }
    Settled::unchanged(Outcome::Completed)
}

/// Removes the worktree of a session that did not complete, keeping its
/// branch if the agent committed anything.
fn drop_worktree(repo: &Repo, dir: &Path, ticket: &str, outcome: Outcome) -> Settled {
    let commits = match repo.unmerged_commits(ticket) {
        Ok(commits) => commits,
        Err(error) => {
            tracing::warn!("failed to inspect branch {}: {error}", branch_name(ticket));
            1
        }
    };
    let keep_branch = commits > 0;
    if let Err(error) = repo.remove(dir, ticket, keep_branch) {
        tracing::warn!("failed to remove the worktree of {ticket}: {error}");
    }
    let mut settled = Settled::unchanged(outcome);
    if keep_branch {
        let branch = branch_name(ticket);
        settled.note = Some(format!("branch {branch} kept with {commits} commit(s)"));
        settled.kept_branch = Some(branch);
    }
    settled
}

fn kept(outcome: Outcome, worktree: &Path, ticket: &str, reason: String) -> Settled {
    Settled {
        outcome,
        note: Some(format!("{reason}; worktree kept at {}", worktree.display())),
        kept_worktree: Some(worktree.to_owned()),
        kept_branch: Some(branch_name(ticket)),
    }
}

fn branch_exists(repo: &Repo, ticket: &str) -> bool {
    repo.branch_exists(ticket).unwrap_or(true)
}

/// Removes the worktree and branch of a session that never started.
pub fn withdraw(repo: &Repo, dir: &Path, ticket: &str) {
    if let Err(error) = repo.remove(dir, ticket, false) {
        tracing::warn!("failed to remove the worktree of {ticket}: {error}");
    }
}

/// Cleans up what sessions outside this run's active list left behind:
/// worktrees and branches with no work of their own are removed, and the
/// worktrees of this run's failed sessions too (their branches stay).
/// Branches with unmerged work are reported, loudly when the run is new.
pub fn tidy(repo: &Repo, dir: &Path, state: &State, new_run: bool) -> anyhow::Result<()> {
    let active: HashSet<&str> = state.active.iter().map(|a| a.ticket.as_str()).collect();
    for leftover in repo.leftovers(dir)? {
        let ticket = leftover.ticket.as_str();
        if active.contains(ticket) {
            continue;
        }
        let dirty = match &leftover.worktree {
            Some(path) if path.exists() => repo.has_uncommitted(path)?,
            _ => false,
        };
        match leftover.branch {
            Some(BranchState::Unmerged { commits }) => {
                let failed_here = state
                    .failed
                    .iter()
                    .any(|f| f.ticket == ticket && f.kept_worktree.is_none());
                if failed_here && !dirty && leftover.worktree.is_some() {
                    repo.remove(dir, ticket, true)?;
                    continue;
                }
                let place = match &leftover.worktree {
                    Some(path) => format!(" (worktree {})", path.display()),
                    None => String::new(),
                };
                let message = format!(
                    "branch {}{place} has {commits} commit(s) not merged into {}, from an \
                     earlier session; ticket {ticket} cannot run until it is merged or deleted",
                    branch_name(ticket),
                    repo.base_branch()
                );
                if new_run {
                    tracing::warn!("{message}");
                } else {
                    tracing::debug!("{message}");
                }
            }
            _ if dirty => tracing::warn!(
                "worktree of {ticket} has uncommitted changes from an earlier session; left \
                 in place"
            ),
            _ => {
                repo.remove(dir, ticket, false)?;
                tracing::info!("removed the leftover worktree or branch of {ticket}");
            }
        }
    }
    Ok(())
}
