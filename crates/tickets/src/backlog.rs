//! One parsed snapshot of a tickets directory.

use std::path::{Path, PathBuf};

use crate::cycles::Graph;
use crate::load::load_dir;
use crate::order::{self, IdEntry, compare_id, id_key};
use crate::{Error, Status, Ticket, Warning, WarningKind};

/// The maximum number of candidate ids an [`Error::AmbiguousId`] lists.
const MAX_CANDIDATES: usize = 20;

/// One parsed snapshot of a `.tickets` directory.
///
/// Loading reads every ticket file once, and every query after that works
/// on memory only, so a caller loads once per decision and then queries
/// freely.
#[derive(Clone, Debug)]
pub struct Backlog {
    dir: PathBuf,
    /// The tickets, in the order they were read.
    tickets: Vec<Ticket>,
    /// Indexes into `tickets`, ordered by priority, then id.
    by_priority: Vec<usize>,
    /// Indexes into `tickets`, ordered by id.
    by_id: Vec<IdEntry>,
    warnings: Vec<Warning>,
}

impl Backlog {
    /// Reads every ticket file in `tickets_dir`.
    ///
    /// Files that are not valid tickets, and all but one of the files that
    /// share an id, are left out and reported by [`Backlog::warnings`]. Only
    /// failing to list the directory is an error.
    pub fn load(tickets_dir: &Path) -> Result<Backlog, Error> {
        let found = load_dir(tickets_dir)?;
        Ok(Backlog::from_tickets(
            tickets_dir,
            found.tickets,
            found.warnings,
        ))
    }

    /// Builds a backlog from tickets read elsewhere, applying the same
    /// duplicate-id rule as [`Backlog::load`].
    pub fn from_tickets(dir: &Path, mut tickets: Vec<Ticket>, mut warnings: Vec<Warning>) -> Self {
        let mut by_id = order::by_id(&tickets);
        let duplicates = remove_duplicates(&mut tickets, &by_id);
        if !duplicates.is_empty() {
            warnings.extend(duplicates);
            by_id = order::by_id(&tickets);
        }
        warnings.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));

        Backlog {
            dir: dir.to_path_buf(),
            by_priority: order::by_priority_then_id(&tickets),
            tickets,
            by_id,
            warnings,
        }
    }

    /// Returns the directory the backlog was read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns the problems found in single files, ordered by file and line.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Returns every ticket, ordered by priority, then id.
    pub fn tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.by_priority.iter().map(|&index| &self.tickets[index])
    }

    /// Returns the number of tickets.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Returns true if the backlog has no tickets.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    /// Returns the ticket whose id is exactly `id`.
    pub fn get(&self, id: &str) -> Option<&Ticket> {
        self.position(id).map(|index| &self.tickets[index])
    }

    fn position(&self, id: &str) -> Option<usize> {
        let key = id_key(id);
        let found = self
            .by_id
            .binary_search_by(|&entry| compare_id(&self.tickets, entry, key, id));
        found.ok().map(|slot| self.by_id[slot].1)
    }

    /// Finds the ticket a user means by `id`.
    ///
    /// A ticket whose id equals `id` wins. Otherwise the tickets whose id
    /// contains `id` are the candidates. A single candidate is returned,
    /// several give [`Error::AmbiguousId`] (listing up to 20, in byte order)
    /// and none gives [`Error::TicketNotFound`].
    pub fn resolve(&self, id: &str) -> Result<&Ticket, Error> {
        if let Some(ticket) = self.get(id) {
            return Ok(ticket);
        }
        let mut matches = self
            .by_id
            .iter()
            .map(|&(_, index)| &self.tickets[index])
            .filter(|ticket| ticket.id.contains(id));
        let Some(first) = matches.next() else {
            return Err(Error::TicketNotFound { id: id.to_owned() });
        };
        let Some(second) = matches.next() else {
            return Ok(first);
        };
        let mut candidates = vec![first.id.clone(), second.id.clone()];
        let mut count = candidates.len();
        for ticket in matches {
            count += 1;
            if candidates.len() < MAX_CANDIDATES {
                candidates.push(ticket.id.clone());
            }
        }
        Err(Error::AmbiguousId {
            id: id.to_owned(),
            matches: count,
            candidates,
        })
    }

    /// Returns true if a ticket with id `id` exists and is closed.
    pub fn is_closed(&self, id: &str) -> bool {
        self.get(id)
            .is_some_and(|ticket| ticket.status == Status::Closed)
    }

    /// Returns the open and in-progress tickets whose dependencies are all
    /// closed, ordered by priority, then id (byte order).
    ///
    /// A dependency on an id that no ticket has is never closed.
    pub fn ready(&self) -> Vec<&Ticket> {
        self.active()
            .filter(|ticket| ticket.deps.iter().all(|dep| self.is_closed(dep)))
            .collect()
    }

    /// Returns the open and in-progress tickets with at least one dependency
    /// that is not closed, each with those dependencies in their listed
    /// order, ordered like [`Backlog::ready`].
    pub fn blocked(&self) -> Vec<(&Ticket, Vec<&str>)> {
        self.active()
            .filter_map(|ticket| {
                let unclosed: Vec<&str> = ticket
                    .deps
                    .iter()
                    .filter(|dep| !self.is_closed(dep))
                    .map(String::as_str)
                    .collect();
                (!unclosed.is_empty()).then_some((ticket, unclosed))
            })
            .collect()
    }

    /// Returns the dependency cycles among the tickets that are not closed.
    ///
    /// These tickets stay blocked until a dependency in the cycle is removed.
    /// Each cycle lists ids in dependency order: each ticket depends on the
    /// next and the last on the first. It starts at its smallest id, and the
    /// cycles are ordered by that id.
    ///
    /// NOTE: Tickets that form several interlocking cycles are reported by
    /// one shortest cycle; the others show once that one is broken.
    pub fn cycles(&self) -> Vec<Vec<&str>> {
        // Nodes are the active tickets in id order, so node order is id order.
        let nodes: Vec<usize> = self
            .by_id
            .iter()
            .map(|&(_, index)| index)
            .filter(|&index| self.tickets[index].status.is_active())
            .collect();
        let mut node_of = vec![usize::MAX; self.tickets.len()];
        for (node, &index) in nodes.iter().enumerate() {
            node_of[index] = node;
        }
        let edges = nodes
            .iter()
            .map(|&index| {
                let deps = self.tickets[index].deps.iter();
                let dep_indexes = deps.filter_map(|dep| self.position(dep));
                dep_indexes
                    .map(|dep| node_of[dep])
                    .filter(|&node| node != usize::MAX)
                    .collect()
            })
            .collect();

        let id_of = |node: usize| self.tickets[nodes[node]].id.as_str();
        Graph { edges }
            .cycles()
            .into_iter()
            .map(|cycle| cycle.into_iter().map(id_of).collect())
            .collect()
    }

    fn active(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets().filter(|ticket| ticket.status.is_active())
    }
}

/// Keeps one ticket per id and returns a warning for each ticket removed.
///
/// `by_id` orders `tickets` by id. Of the tickets that share an id, the one
/// read from `<id>.md` is kept if there is one, else the first by path.
fn remove_duplicates(tickets: &mut Vec<Ticket>, by_id: &[IdEntry]) -> Vec<Warning> {
    let mut removed = vec![false; tickets.len()];
    let mut warnings = Vec::new();
    for group in by_id.chunk_by(|a, b| a.0 == b.0 && tickets[a.1].id == tickets[b.1].id) {
        if group.len() < 2 {
            continue;
        }
        let keep = group
            .iter()
            .map(|&(_, index)| index)
            .min_by(|&a, &b| preference(&tickets[a]).cmp(&preference(&tickets[b])))
            .unwrap_or(group[0].1);
        for &(_, index) in group.iter().filter(|&&(_, index)| index != keep) {
            removed[index] = true;
            warnings.push(Warning {
                path: tickets[index].path.clone(),
                line: None,
                kind: WarningKind::DuplicateId {
                    id: tickets[index].id.clone(),
                    kept_path: tickets[keep].path.clone(),
                },
            });
        }
    }
    if !warnings.is_empty() {
        let mut index = 0;
        tickets.retain(|_| {
            index += 1;
            !removed[index - 1]
        });
    }
    warnings
}

/// Returns the sort key that puts the ticket to keep first among duplicates.
fn preference(ticket: &Ticket) -> (bool, &Path) {
    let named_after_id = ticket
        .path
        .file_stem()
        .is_some_and(|stem| stem == ticket.id.as_str());
    (!named_after_id, &ticket.path)
}
