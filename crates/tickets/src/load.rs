//! Listing a tickets directory and reading every ticket file in it.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::thread;

use crate::read::Reader;
use crate::{Error, Ticket, Warning, WarningKind};

/// Below this many files, a second reader thread costs more than it saves.
const PARALLEL_MIN: usize = 512;

/// The readers that load a large directory in parallel.
const READER_THREADS: usize = 2;

/// Returns the ticket files of `dir` in file-name order: the `*.md` files,
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
    paths.sort_unstable();
    Ok(paths)
}

fn is_ticket_name(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.ends_with(b".md") && !name.starts_with(b".")
}

/// Reads every file in `paths`, returning the tickets and every problem
/// found, both in the order of `paths`.
pub(crate) fn read_files(paths: &[PathBuf]) -> (Vec<Ticket>, Vec<Warning>) {
    if paths.len() < PARALLEL_MIN {
        return read_chunk(paths);
    }
    let chunk_size = paths.len().div_ceil(READER_THREADS);
    thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(chunk_size)
            .map(|chunk| {
                let spawned = thread::Builder::new()
                    .name("ticket-reader".into())
                    .spawn_scoped(scope, || read_chunk(chunk));
                (chunk, spawned)
            })
            .collect();

        let mut tickets = Vec::with_capacity(paths.len());
        let mut warnings = Vec::new();
        for (chunk, spawned) in workers {
            // Without a thread the chunk is read on this one.
            let (more_tickets, more_warnings) = match spawned {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(_) => read_chunk(chunk),
            };
            tickets.extend(more_tickets);
            warnings.extend(more_warnings);
        }
        (tickets, warnings)
    })
}

fn read_chunk(paths: &[PathBuf]) -> (Vec<Ticket>, Vec<Warning>) {
    let mut reader = Reader::new();
    let mut tickets = Vec::with_capacity(paths.len());
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
            Err(error) => warnings.push(Warning {
                path: path.clone(),
                line: None,
                kind: WarningKind::Unreadable(error.to_string()),
            }),
        }
    }
    (tickets, warnings)
}
