//! Worktrees and `ralph/*` branches left over from earlier sessions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    BRANCH_PREFIX, BranchState, Leftover, Repo, WorktreeError, canonical_dir, split_nul,
    validate_ticket_id,
};

/// Returns the entry for `ticket`, adding an empty one if it is missing.
fn entry<'a>(found: &'a mut BTreeMap<String, Leftover>, ticket: &str) -> &'a mut Leftover {
    found.entry(ticket.to_owned()).or_insert_with(|| Leftover {
        ticket: ticket.to_owned(),
        worktree: None,
        branch: None,
    })
}

/// One entry of `git worktree list`.
#[derive(Clone, Debug)]
pub(super) struct WorktreeEntry {
    pub(super) path: PathBuf,
}

impl Repo {
    /// Lists the worktrees registered under `worktrees_dir` and the
    /// `ralph/*` branches, one entry per ticket in id order. Names that are
    /// not valid ticket ids are logged and skipped. Changes nothing.
    ///
    /// After a crash, a `Merged` or `Empty` branch contains no work that the
    /// base branch lacks, so it and its worktree can be removed. An
    /// `Unmerged` branch is merged if its session completed, and kept
    /// otherwise.
    pub(crate) fn leftovers(&self, worktrees_dir: &Path) -> Result<Vec<Leftover>, WorktreeError> {
        let mut found: BTreeMap<String, Leftover> = BTreeMap::new();

        if let Some(dir) = canonical_dir(&self.resolve(worktrees_dir))? {
            for worktree in self.worktrees()? {
                if worktree.path.parent() != Some(dir.as_path()) {
                    continue;
                }
                let name = worktree.path.file_name().and_then(|name| name.to_str());
                match name.filter(|name| validate_ticket_id(name).is_ok()) {
                    Some(ticket) => {
                        entry(&mut found, ticket).worktree = Some(worktree.path.clone())
                    }
                    None => tracing::warn!(
                        "skipping worktree {}: its name is not a valid ticket id",
                        worktree.path.display()
                    ),
                }
            }
        }

        for (ticket, tip) in self.ticket_branches()? {
            let state = self.branch_state(&tip)?;
            entry(&mut found, &ticket).branch = Some(state);
        }
        Ok(found.into_values().collect())
    }

    /// Lists the worktrees git has registered, the main one included.
    pub(super) fn worktrees(&self) -> Result<Vec<WorktreeEntry>, WorktreeError> {
        let list = self.git.run(["worktree", "list", "--porcelain", "-z"])?;
        let entries = split_nul(&list)
            .into_iter()
            .filter_map(|field| {
                let path = field.strip_prefix("worktree ")?;
                Some(WorktreeEntry {
                    path: PathBuf::from(path),
                })
            })
            .collect();
        Ok(entries)
    }

    /// Lists `(ticket, tip)` for each branch `ralph/<ticket>` with a valid id.
    fn ticket_branches(&self) -> Result<Vec<(String, String)>, WorktreeError> {
        let prefix = format!("refs/heads/{BRANCH_PREFIX}");
        let format = "--format=%(refname)%00%(objectname)";
        let list = self.git.run(["for-each-ref", format, &prefix])?;

        let mut branches = Vec::new();
        for line in list.lines() {
            let Some((name, tip)) = line.split_once('\0') else {
                continue;
            };
            let ticket = name.strip_prefix(&prefix).unwrap_or(name);
            if validate_ticket_id(ticket).is_err() {
                tracing::warn!("skipping branch {name}: its name is not a valid ticket id");
                continue;
            }
            branches.push((ticket.to_owned(), tip.to_owned()));
        }
        Ok(branches)
    }

    /// Classifies a branch tip against the base branch.
    fn branch_state(&self, tip: &str) -> Result<BranchState, WorktreeError> {
        let commits = self.commits_not_on_base(tip)?;
        if commits > 0 {
            return Ok(BranchState::Unmerged { commits });
        }

        // Only commits that descend from the tip can have merged it.
        let range = format!("{tip}..refs/heads/{}", self.base);
        let merges = self.git.run([
            "rev-list",
            "--merges",
            "--parents",
            "--ancestry-path",
            &range,
        ])?;
        let merged = merges.lines().any(|line| {
            let mut commits = line.split(' ');
            let _merge = commits.next();
            let _first_parent = commits.next();
            commits.any(|parent| parent == tip)
        });
        if merged {
            Ok(BranchState::Merged)
        } else {
            Ok(BranchState::Empty)
        }
    }
}
