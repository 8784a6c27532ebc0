//! The error type of this crate.

use std::io;
use std::path::PathBuf;

use crate::Warning;

/// An error from finding, reading or updating a backlog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither `TICKETS_DIR` nor any `.tickets/` directory from `start` upward exists.
    #[error("no .tickets directory found (searched parent directories)")]
    NoTicketsDir {
        /// The directory the search started from.
        start: PathBuf,
    },
    /// The working directory, needed to resolve a relative start, is unavailable.
    #[error("failed to get the current directory")]
    CurrentDir(#[source] io::Error),
    /// The tickets directory could not be listed.
    #[error("failed to list ticket directory {}", path.display())]
    ReadDir {
        /// The tickets directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A ticket file could not be read.
    #[error("failed to read ticket file {}", path.display())]
    Read {
        /// The ticket file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A ticket file could not be written.
    #[error("failed to write ticket file {}", path.display())]
    Write {
        /// The file or temporary file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A ticket file is not a valid ticket.
    #[error("invalid ticket file {0}")]
    Invalid(Warning),
    /// The front matter of a ticket file has no `status:` line to change.
    #[error("no `status:` line in the front matter of {}", path.display())]
    NoStatusLine {
        /// The ticket file.
        path: PathBuf,
    },
    /// No ticket id equals or contains the requested id.
    #[error("ticket '{id}' not found")]
    TicketNotFound {
        /// The requested id.
        id: String,
    },
    /// More than one ticket id contains the requested id and none equals it.
    #[error(
        "ambiguous ticket id '{id}' matches {matches} tickets: {}{}",
        candidates.join(", "),
        more_candidates(*matches, candidates.len())
    )]
    AmbiguousId {
        /// The requested id.
        id: String,
        /// How many ticket ids contain the requested id.
        matches: usize,
        /// The first matching ids, in byte order.
        candidates: Vec<String>,
    },
}

fn more_candidates(matches: usize, listed: usize) -> String {
    match matches - listed {
        0 => String::new(),
        more => format!(" and {more} more"),
    }
}
