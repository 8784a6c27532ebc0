//! Ticket ids as they become path components and branch names.

use super::WorktreeError;

/// Prefix of the branch that each ticket's session works on.
pub(crate) const BRANCH_PREFIX: &str = "ralph/";

/// Returns the name of the branch for `ticket`: `ralph/<ticket>`.
pub(crate) fn branch_name(ticket: &str) -> String {
    format!("{BRANCH_PREFIX}{ticket}")
}

/// Checks that a ticket id is safe as a directory name and in a branch name.
///
/// A valid id is made of ASCII letters, digits, `.`, `_` and `-`, and does
/// not start with `.` or `-`. Ids that git rejects in a branch name (with
/// `..`, or ending in `.` or `.lock`) are invalid too.
pub(crate) fn validate_ticket_id(id: &str) -> Result<(), WorktreeError> {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-');
    let reason = if id.is_empty() {
        "it is empty"
    } else if !id.bytes().all(allowed) {
        "only ASCII letters, digits, `.`, `_` and `-` are allowed"
    } else if id.starts_with(['.', '-']) {
        "it starts with `.` or `-`"
    } else if id.contains("..") || id.ends_with('.') || id.ends_with(".lock") {
        "git does not accept it in a branch name"
    } else {
        return Ok(());
    };
    Err(WorktreeError::InvalidTicketId {
        id: id.to_owned(),
        reason,
    })
}
