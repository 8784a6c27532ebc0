//! Reads and updates tk-format ticket backlogs.
//!
//! A backlog is a `.tickets/` directory with one Markdown file per ticket:
//!
//! ```text
//! ---
//! id: wa-k3f9
//! status: open
//! deps: [wa-7q2m]
//! priority: 1
//! tags: [api, component:auth]
//! ---
//! # Add token refresh endpoint
//! ```
//!
//! [`find_dir`] locates the directory, [`Backlog::load`] reads it once, and
//! the [`Backlog`] then reports what is ready, what is blocked and by what,
//! and which tickets depend on each other in a cycle. [`set_status`] changes
//! one ticket's status without touching any other byte of its file.
//!
//! # Format
//!
//! - The front matter is the block between the first two lines that are
//!   exactly `---`. Lines may end in `\n` or `\r\n`.
//! - A field line is `name: value`, split at the first `": "`; `name:` alone
//!   has an empty value. The value is trimmed of surrounding whitespace.
//! - Lists are one line, `[a, b, c]`; brackets and spaces are not part of the
//!   items, and empty items are dropped.
//! - `status` is `open`, `in_progress` or `closed`; `priority` is a whole
//!   number, 0 the highest, and 2 when absent or empty.
//! - The title is the first line after the front matter that starts with
//!   `# `, without that prefix, and empty if there is none.
//! - Only `*.md` files count, not hidden ones (names starting with `.`).
//!
//! A ticket is ready when it is open or in progress and every id in its
//! `deps` names a closed ticket. An id that names no ticket is not closed.
//! Ready and blocked tickets are ordered by priority, then by id in byte
//! order.
//!
//! # Ids
//!
//! The tk format does not define partial ids, so [`Backlog::resolve`] uses
//! its own rule. A ticket whose id equals the request wins. Otherwise the
//! one ticket whose id contains the request is the match. Several matches
//! are an [`Error::AmbiguousId`] that lists them, and none is
//! [`Error::TicketNotFound`].
//!
//! # Malformed files
//!
//! Loading never fails because of one file. Each problem becomes a
//! [`Warning`] naming the file, and the line where there is one:
//!
//! | problem | rule |
//! | --- | --- |
//! | no line is exactly `---` | ticket skipped |
//! | a UTF-8 byte order mark before a first line of `---` | ticket skipped; line 1 |
//! | front matter opened but never closed | ticket skipped; the line of the opening `---` |
//! | no `id`, or an empty one | ticket skipped |
//! | no `status`, or one other than the three | ticket skipped |
//! | `priority` not made of ASCII digits, such as `-1` | ticket skipped |
//! | front-matter or title line not valid UTF-8 | ticket skipped; body lines after the title are never read |
//! | two files with one id | the file named `<id>.md` is kept, else the first by path; each other file is skipped |
//! | a field given twice | the first is used, the ticket kept |
//! | a non-blank front-matter line that is not a field | the line is ignored, the ticket kept |
//! | front matter not closed within the first [`HEAD_LIMIT`] bytes | ticket skipped |
//! | no title within the first [`HEAD_LIMIT`] bytes | title left empty, the ticket kept |
//! | the file cannot be opened or read | ticket skipped |
//! | the path is not a regular file, such as a directory or a named pipe | ticket skipped; opening never blocks |
//!
//! A skipped ticket is absent from the backlog, so a dependency on its id
//! blocks like a dependency on any id that no ticket has.
//!
//! Reading stops after the title line, so the body of a large file costs
//! nothing; a file without a title is read to its end or to [`HEAD_LIMIT`].

#![warn(missing_docs)]

mod backlog;
mod cycles;
mod discover;
mod error;
mod lines;
mod load;
mod order;
mod parse;
mod read;
mod status;
mod ticket;
mod warning;
mod write;

use std::path::Path;

pub use backlog::Backlog;
pub use discover::{TICKETS_DIR_ENV, TICKETS_DIR_NAME, find_dir, search_up};
pub use error::Error;
pub use status::{ParseStatusError, Status};
pub use ticket::{COMPONENT_PREFIX, DEFAULT_PRIORITY, Ticket};
pub use warning::{HEAD_LIMIT, Warning, WarningKind};
pub use write::set_status;

/// Parses the ticket file at `path`, for example to check a ticket's status
/// after a session has worked on it.
///
/// A file that [`Backlog::load`] would skip gives [`Error::Invalid`]. Problems
/// that do not skip a ticket are ignored here.
pub fn read_ticket(path: &Path) -> Result<Ticket, Error> {
    let outcome = read::Reader::new()
        .read(path.to_path_buf(), false)
        .map_err(|(path, source)| Error::Read { path, source })?;
    outcome.ticket.map_err(Error::Invalid)
}
