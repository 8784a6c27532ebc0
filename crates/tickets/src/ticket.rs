//! One parsed ticket.

use std::path::PathBuf;

use crate::Status;

/// The tag prefix that marks a component tag, as in `component:auth`.
pub const COMPONENT_PREFIX: &str = "component:";

/// The priority of a ticket whose front matter has no `priority` field.
pub const DEFAULT_PRIORITY: u32 = 2;

/// One ticket: the front-matter fields the loop uses and the title line.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Ticket {
    /// The `id` field, which is the ticket's identity (not the file name).
    pub id: String,
    /// The `status` field.
    pub status: Status,
    /// The `priority` field: 0 is the highest. [`DEFAULT_PRIORITY`] when absent.
    pub priority: u32,
    /// The first body line that starts with `# `, without that prefix; empty if none.
    pub title: String,
    /// The `deps` field: ids of tickets that must be closed before this one is ready.
    pub deps: Vec<String>,
    /// The `links` field: ids of related tickets.
    pub links: Vec<String>,
    /// The `tags` field.
    pub tags: Vec<String>,
    /// The `assignee` field.
    pub assignee: Option<String>,
    /// The file the ticket was read from.
    pub path: PathBuf,
}

impl Ticket {
    /// Returns the components of the ticket: each tag `component:X` yields `X`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.tags
            .iter()
            .filter_map(|tag| tag.strip_prefix(COMPONENT_PREFIX))
    }

    /// Returns true if the ticket carries `tag` exactly.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|own| own == tag)
    }
}
