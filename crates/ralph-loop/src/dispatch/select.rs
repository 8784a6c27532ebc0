//! Selection of the ready tickets the loop launches next.

use tickets::{Backlog, Ticket};

use super::state::State;

/// Picks up to `slots` tickets to launch: ready order (priority, then id),
/// skipping tickets this run has dispatched already.
///
/// This is the one place that chooses; a selection with more rules (such
/// as keeping parallel sessions apart) replaces this function.
pub fn select<'b>(backlog: &'b Backlog, state: &State, slots: usize) -> Vec<&'b Ticket> {
    backlog
        .ready()
        .into_iter()
        .filter(|ticket| !state.was_dispatched(&ticket.id))
        .take(slots)
        .collect()
}
