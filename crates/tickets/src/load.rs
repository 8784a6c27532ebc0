//! Listing a tickets directory and reading every ticket file in it.

use std::ffi::OsStr;
use std::fs;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::{mem, thread};

use rustix::fs::{Mode, OFlags};

use crate::read::Reader;
use crate::{Error, Ticket, Warning, WarningKind};

/// Below this many files, a second reader thread costs more than it saves.
const PARALLEL_MIN: usize = 512;

/// Returns the ticket files of `dir`, in directory order: the `*.md` files,
/// without hidden ones (names that start with `.`) and directories.
pub(crate) fn list_ticket_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read_dir_error = |source| Error::ReadDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_dir_error)? {
        let entry = entry.map_err(read_dir_error)?;
        if !is_ticket_name(&entry.file_name()) {
            continue;
        }
        // A symbolic link is followed when the file is opened.
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        paths.push(entry.path());
    }
    Ok(paths)
}

fn is_ticket_name(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.ends_with(b".md") && !name.starts_with(b".")
}

/// Opens `dir` for [`read_files`].
pub(crate) fn open_dir(dir: &Path) -> Result<OwnedFd, Error> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(dir, flags, Mode::empty()).map_err(|errno| Error::ReadDir {
        path: dir.to_path_buf(),
        source: errno.into(),
    })
}

/// Reads every file in `paths`, which all lie in the open directory `dir`,
/// returning the tickets and every problem found.
pub(crate) fn read_files(
    dir: BorrowedFd<'_>,
    mut paths: Vec<PathBuf>,
) -> (Vec<Ticket>, Vec<Warning>) {
    if paths.len() < PARALLEL_MIN {
        return read_chunk(dir, paths, 0);
    }

    // This thread reads the first half into a vector with room for all the
    // tickets, and a second thread reads the rest. The rest waits in a slot
    // so this thread can take it back if the second thread cannot start.
    let total = paths.len();
    let second_half = Mutex::new(paths.split_off(total / 2));
    let take_second_half =
        || mem::take(&mut *second_half.lock().unwrap_or_else(|e| e.into_inner()));
    thread::scope(|scope| {
        let spawned = thread::Builder::new()
            .name("ticket-reader".into())
            .spawn_scoped(scope, || read_chunk(dir, take_second_half(), 0));
        let (mut tickets, mut warnings) = read_chunk(dir, paths, total);
        let (more_tickets, more_warnings) = match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => read_chunk(dir, take_second_half(), 0),
        };
        tickets.extend(more_tickets);
        warnings.extend(more_warnings);
        (tickets, warnings)
    })
}

fn read_chunk(
    dir: BorrowedFd<'_>,
    paths: Vec<PathBuf>,
    capacity: usize,
) -> (Vec<Ticket>, Vec<Warning>) {
    let mut reader = Reader::in_dir(dir);
    let mut tickets = Vec::with_capacity(capacity.max(paths.len()));
    let mut warnings = Vec::new();
    for path in paths {
        match reader.read(path) {
            Ok(outcome) => {
                warnings.extend(outcome.notes);
                match outcome.ticket {
                    Ok(ticket) => tickets.push(ticket),
                    Err(warning) => warnings.push(warning),
                }
            }
            Err((path, error)) => warnings.push(Warning {
                path,
                line: None,
                kind: WarningKind::Unreadable(error.to_string()),
            }),
        }
    }
    (tickets, warnings)
}
