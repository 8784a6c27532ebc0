//! `--dry-run`: the order in which tickets would be dispatched, worked out
//! from the backlog alone.

use std::collections::HashSet;

use tickets::{Backlog, Status, Ticket};

/// Returns up to `limit` tickets in dispatch order, assuming every session
/// closes its ticket. The ids in `skip` were dispatched already; those in
/// `in_flight` count as closed.
///
/// NOTE: with `parallel` above 1 sessions end in any order; the list is the
/// serial order, which is the order launches start in.
pub fn plan<'b>(
    backlog: &'b Backlog,
    skip: &HashSet<&'b str>,
    in_flight: &HashSet<&'b str>,
    limit: usize,
) -> Vec<&'b Ticket> {
    let mut closed: HashSet<&str> = backlog
        .tickets()
        .filter(|ticket| ticket.status == Status::Closed)
        .map(|ticket| ticket.id.as_str())
        .collect();
    closed.extend(in_flight);
    let mut candidates: Vec<&Ticket> = backlog
        .tickets()
        .filter(|ticket| ticket.status != Status::Closed && !skip.contains(ticket.id.as_str()))
        .collect();
    candidates.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.id.cmp(&b.id)));

    let mut order = Vec::new();
    while order.len() < limit {
        let next = candidates
            .iter()
            .position(|ticket| ticket.deps.iter().all(|dep| closed.contains(dep.as_str())));
        let Some(index) = next else {
            break;
        };
        let ticket = candidates.remove(index);
        closed.insert(ticket.id.as_str());
        order.push(ticket);
    }
    order
}
