//! The error type of every fallible call in this crate.

use std::io;
use std::path::PathBuf;

/// An error from the run lock or from a process identity check.
///
/// Every variant names the file or process involved, and carries the OS
/// error when there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A symbolic link is at the lock path; it is never followed.
    #[error("the run lock {path} is a symbolic link, which is never followed; remove it")]
    Symlink {
        /// The lock path.
        path: PathBuf,
    },

    /// Something other than a regular file is at the lock path.
    #[error("the run lock {path} is not a regular file ({kind}); remove or rename it")]
    NotAFile {
        /// The lock path.
        path: PathBuf,
        /// The kind of file found instead, such as "directory".
        kind: &'static str,
    },

    /// The directory that holds the lock is missing or cannot be opened.
    #[error("failed to open the lock directory {path}")]
    Directory {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// A file operation on the lock, a temporary file or the event log
    /// failed.
    #[error("failed to {action} {path}")]
    Io {
        /// The operation that failed, such as "create" or "read".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The lock record is larger than [`MAX_RECORD_BYTES`](crate::MAX_RECORD_BYTES).
    #[error("the run lock record {path} is larger than {limit} bytes")]
    RecordTooLarge {
        /// The lock path.
        path: PathBuf,
        /// The size limit in bytes.
        limit: usize,
    },

    /// The lock record is not in any known shape.
    #[error("the run lock record {path} is invalid: {reason}")]
    RecordInvalid {
        /// The lock path.
        path: PathBuf,
        /// The problem found in it.
        reason: String,
    },

    /// Reading a process's identity from `/proc` failed.
    #[error("failed to read the identity of process {pid}")]
    Process {
        /// The process id.
        pid: u32,
        /// The OS error, or a parse error as `InvalidData`.
        #[source]
        source: io::Error,
    },

    /// Signalling a process failed for a reason other than it being gone.
    #[error("failed to signal process {pid}")]
    Signal {
        /// The process id (or process group id).
        pid: u32,
        /// The OS error.
        #[source]
        source: io::Error,
    },

    /// The lock path no longer names the file this process holds.
    #[error("the run lock {path} no longer belongs to this run")]
    Lost {
        /// The lock path.
        path: PathBuf,
    },

    /// A signal arrived while waiting for the lock.
    #[error("interrupted while waiting for the run lock {path}")]
    Interrupted {
        /// The lock path.
        path: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
