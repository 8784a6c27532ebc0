//! Ticket ids as they become path components and branch names.

use super::WorktreeError;
use crate::dispatch::ids::invalid_reason;

/// Prefix of the branch that each ticket's session works on.
pub(crate) const BRANCH_PREFIX: &str = "ralph/";

/// Returns the name of the branch for `ticket`: `ralph/<ticket>`.
pub(crate) fn branch_name(ticket: &str) -> String {
    format!("{BRANCH_PREFIX}{ticket}")
}

/// Checks that a ticket id is safe as a directory name and in a branch name,
/// by the rules of [`invalid_reason`], which the dispatch loop checks too.
pub(crate) fn validate_ticket_id(id: &str) -> Result<(), WorktreeError> {
    match invalid_reason(id) {
        None => Ok(()),
        Some(reason) => Err(WorktreeError::InvalidTicketId {
            id: id.to_owned(),
            reason,
        }),
    }
}
