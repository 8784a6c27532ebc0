//! Selection of the ready tickets the loop launches next.

use tickets::{Backlog, Ticket};

use super::state::State;
use crate::select::{Candidate, select as pick};

/// Picks up to `slots` tickets to launch: the first fits in ready order
/// (priority, then id) among the tickets this run has not dispatched yet.
///
/// A ticket fits when it shares no `component:` tag with an active ticket
/// or an earlier pick; tickets without components follow the run's
/// `allow_untagged` setting.
pub fn select<'b>(backlog: &'b Backlog, state: &State, slots: usize) -> Vec<&'b Ticket> {
    let ready: Vec<&Ticket> = backlog
        .ready()
        .into_iter()
        .filter(|ticket| !state.was_dispatched(&ticket.id))
        .collect();
    let candidates: Vec<Candidate<'_>> = ready
        .iter()
        .map(|ticket| Candidate {
            id: &ticket.id,
            components: ticket.components().collect(),
        })
        .collect();
    let active: Vec<Candidate<'_>> = state
        .active
        .iter()
        .map(|active| Candidate {
            id: &active.ticket,
            components: active.components.iter().map(String::as_str).collect(),
        })
        .collect();

    let picked = pick(&candidates, &active, slots, state.settings.allow_untagged);
    picked
        .into_iter()
        .filter_map(|id| ready.iter().copied().find(|ticket| ticket.id == id))
        .collect()
}
