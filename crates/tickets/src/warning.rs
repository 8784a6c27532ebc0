//! Problems found in single ticket files while loading a backlog.

use std::fmt;
use std::path::PathBuf;

/// The number of bytes of a ticket file that the reader looks at: the front
/// matter and the title line must lie within them.
///
/// Front matter is a dozen short lines, so this bound only matters for files
/// that are not tickets. It keeps a stray large file from costing its full
/// size in memory and time.
pub const HEAD_LIMIT: usize = 1024 * 1024;

/// A problem in one ticket file, with the file and, where there is one, the line.
///
/// Displays as `PATH:LINE: message` (or `PATH: message`), the message saying
/// what was done about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The ticket file.
    pub path: PathBuf,
    /// The 1-based line the problem is on, if it is on one line.
    pub line: Option<usize>,
    /// The kind of problem.
    pub kind: WarningKind,
}

/// The kinds of problem a ticket file can have.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// No line of the file is exactly `---`. The ticket is skipped.
    NoFrontMatter,
    /// The front matter opened at `line` has no closing `---`. The ticket is skipped.
    UnclosedFrontMatter,
    /// The file starts with a UTF-8 byte order mark followed by `---`, so
    /// its first line is not exactly `---`. The ticket is skipped.
    ByteOrderMark,
    /// The front matter opened at `line` is not closed within [`HEAD_LIMIT`]
    /// bytes. The ticket is skipped.
    FrontMatterTooLong,
    /// The front matter has no non-empty `id` field. The ticket is skipped.
    MissingId,
    /// The front matter has no `status` field. The ticket is skipped.
    MissingStatus,
    /// The status is not `open`, `in_progress` or `closed`. The ticket is skipped.
    UnknownStatus(String),
    /// The priority is not a whole number of 0 or above. The ticket is skipped.
    InvalidPriority(String),
    /// A front-matter line or the title line is not valid UTF-8. The ticket is skipped.
    InvalidUtf8,
    /// Another file, `kept_path`, has the same id and is the one used. This
    /// file is skipped.
    DuplicateId {
        /// The shared id.
        id: String,
        /// The file that is used for the id.
        kept_path: PathBuf,
    },
    /// A field appears twice in the front matter. The first one, on
    /// `first_line`, is used and the ticket is kept.
    DuplicateField {
        /// The field name.
        name: String,
        /// The line of the occurrence that is used.
        first_line: usize,
    },
    /// A non-blank front-matter line is not a `name: value` field. The line is
    /// ignored and the ticket is kept.
    NotAField,
    /// No title line lies within [`HEAD_LIMIT`] bytes. The title is left empty
    /// and the ticket is kept.
    TitleTooFar,
    /// The file could not be opened or read. The ticket is skipped.
    Unreadable(String),
    /// The path is not a regular file but the named kind of file, such as
    /// a directory or a named pipe. The ticket is skipped.
    NotRegularFile(&'static str),
}

impl WarningKind {
    /// Returns true if a file with this problem is left out of the backlog.
    pub fn skips_ticket(&self) -> bool {
        !matches!(
            self,
            WarningKind::DuplicateField { .. } | WarningKind::NotAField | WarningKind::TitleTooFar
        )
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarningKind::NoFrontMatter => {
                f.write_str("no front matter (no line is exactly `---`); ticket skipped")
            }
            WarningKind::UnclosedFrontMatter => {
                f.write_str("front matter opened here is never closed; ticket skipped")
            }
            WarningKind::ByteOrderMark => f.write_str(
                "the file starts with a UTF-8 byte order mark, so its first line is not \
                 exactly `---`; remove the mark; ticket skipped",
            ),
            WarningKind::FrontMatterTooLong => write!(
                f,
                "front matter opened here is not closed within the first {} KiB; ticket skipped",
                HEAD_LIMIT / 1024
            ),
            WarningKind::MissingId => {
                f.write_str("no `id` field in the front matter; ticket skipped")
            }
            WarningKind::MissingStatus => {
                f.write_str("no `status` field in the front matter; ticket skipped")
            }
            WarningKind::UnknownStatus(value) => write!(
                f,
                "unknown status `{value}` (expected open, in_progress or closed); ticket skipped"
            ),
            WarningKind::InvalidPriority(value) => write!(
                f,
                "invalid priority `{value}` (expected a whole number, 0 or above, 0 the \
                 highest); ticket skipped"
            ),
            WarningKind::InvalidUtf8 => f.write_str("line is not valid UTF-8; ticket skipped"),
            WarningKind::DuplicateId { id, kept_path } => write!(
                f,
                "id `{id}` is also used by {}, which is kept; this file is skipped",
                kept_path.display()
            ),
            WarningKind::DuplicateField { name, first_line } => write!(
                f,
                "duplicate field `{name}`; the one on line {first_line} is used"
            ),
            WarningKind::NotAField => f.write_str("not a `name: value` field; line ignored"),
            WarningKind::TitleTooFar => write!(
                f,
                "no title line within the first {} KiB; title left empty",
                HEAD_LIMIT / 1024
            ),
            WarningKind::Unreadable(reason) => write!(f, "{reason}; ticket skipped"),
            WarningKind::NotRegularFile(kind) => {
                write!(f, "not a regular file but {kind}; ticket skipped")
            }
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.kind),
            None => write!(f, "{}: {}", self.path.display(), self.kind),
        }
    }
}
