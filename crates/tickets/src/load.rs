//! Listing a tickets directory and reading every ticket file in it.

use std::ffi::OsStr;
use std::fs;
use std::num::NonZero;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver};
use std::{mem, thread};

use rustix::fs::{Mode, OFlags};

use crate::read::Reader;
use crate::{Error, Ticket, Warning, WarningKind};

/// Below this many files, more reader threads cost more than they save.
const PARALLEL_MIN: usize = 512;

/// The number of files handed to a reader thread at a time.
const BATCH: usize = 128;

/// The maximum number of threads that read files, this one included.
///
/// NOTE: The cap is a guess; only a 2-core machine was measured, where two
/// readers take about half the time of one.
const MAX_READERS: usize = 4;

/// The tickets and problems found by one reader.
#[derive(Default)]
pub(crate) struct Found {
    pub tickets: Vec<Ticket>,
    pub warnings: Vec<Warning>,
}

impl Found {
    fn read(&mut self, reader: &mut Reader<'_>, path: PathBuf) {
        match reader.read(path) {
            Ok(outcome) => {
                self.warnings.extend(outcome.notes);
                match outcome.ticket {
                    Ok(ticket) => self.tickets.push(ticket),
                    Err(warning) => self.warnings.push(warning),
                }
            }
            Err((path, error)) => self.warnings.push(Warning {
                path,
                line: None,
                kind: WarningKind::Unreadable(error.to_string()),
            }),
        }
    }

    fn merge(&mut self, other: Found) {
        self.tickets.extend(other.tickets);
        self.warnings.extend(other.warnings);
    }
}

/// Reads every ticket file of `dir`: the `*.md` files, without hidden ones
/// (names that start with `.`) and directories.
///
/// Large directories are read by several threads, which take batches of
/// files while this thread is still listing the directory.
pub(crate) fn load_dir(dir: &Path) -> Result<Found, Error> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir_fd: OwnedFd = rustix::fs::open(dir, flags, Mode::empty())
        .map_err(|errno| list_error(dir, errno.into()))?;
    let mut files = TicketFiles::new(dir)?;

    let mut first = Vec::with_capacity(PARALLEL_MIN);
    while first.len() < PARALLEL_MIN {
        match files.next() {
            Some(path) => first.push(path?),
            None => {
                let mut reader = Reader::in_dir(dir_fd.as_fd());
                let mut found = Found::default();
                for path in first {
                    found.read(&mut reader, path);
                }
                return Ok(found);
            }
        }
    }
    read_parallel(dir_fd.as_fd(), first.into_iter().map(Ok).chain(files))
}

fn read_parallel(
    dir: BorrowedFd<'_>,
    paths: impl Iterator<Item = Result<PathBuf, Error>>,
) -> Result<Found, Error> {
    let (sender, receiver) = mpsc::channel::<Vec<PathBuf>>();
    let receiver = Mutex::new(receiver);
    let readers = thread::available_parallelism().map_or(1, NonZero::get);
    let helpers = readers.clamp(1, MAX_READERS) - 1;

    // The sender lives inside the scope, so an early return drops it and
    // the helpers stop before the scope waits for them.
    thread::scope(|scope| {
        let sender = sender;
        let helpers: Vec<_> = (0..helpers)
            .filter_map(|_| {
                let spawned = thread::Builder::new()
                    .name("ticket-reader".into())
                    .spawn_scoped(scope, || read_batches(dir, &receiver));
                // Without a helper, the batches wait for this thread.
                spawned.ok()
            })
            .collect();

        let mut batch = Vec::with_capacity(BATCH);
        for path in paths {
            batch.push(path?);
            if batch.len() == BATCH {
                let full = mem::replace(&mut batch, Vec::with_capacity(BATCH));
                // `send` fails only once `receiver` is dropped, after the scope.
                let _ = sender.send(full);
            }
        }
        let _ = sender.send(batch);
        drop(sender);

        let mut found = read_batches(dir, &receiver);
        for helper in helpers {
            let helper_found = helper
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            found.merge(helper_found);
        }
        Ok(found)
    })
}

/// Reads batches of files from `receiver` until it is empty and closed.
fn read_batches(dir: BorrowedFd<'_>, receiver: &Mutex<Receiver<Vec<PathBuf>>>) -> Found {
    let mut reader = Reader::in_dir(dir);
    let mut found = Found::default();
    loop {
        let next = receiver
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok(batch) = next else {
            return found;
        };
        for path in batch {
            found.read(&mut reader, path);
        }
    }
}

fn list_error(dir: &Path, source: std::io::Error) -> Error {
    Error::ReadDir {
        path: dir.to_path_buf(),
        source,
    }
}

/// An iterator over the paths of the ticket files in a directory.
struct TicketFiles<'a> {
    dir: &'a Path,
    entries: fs::ReadDir,
}

impl<'a> TicketFiles<'a> {
    fn new(dir: &'a Path) -> Result<TicketFiles<'a>, Error> {
        let entries = fs::read_dir(dir).map_err(|error| list_error(dir, error))?;
        Ok(TicketFiles { dir, entries })
    }
}

impl Iterator for TicketFiles<'_> {
    type Item = Result<PathBuf, Error>;

    fn next(&mut self) -> Option<Result<PathBuf, Error>> {
        loop {
            let entry = match self.entries.next()? {
                Ok(entry) => entry,
                Err(error) => return Some(Err(list_error(self.dir, error))),
            };
            if !is_ticket_name(&entry.file_name()) {
                continue;
            }
            // A symbolic link is followed when the file is opened.
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            return Some(Ok(entry.path()));
        }
    }
}

fn is_ticket_name(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.ends_with(b".md") && !name.starts_with(b".")
}
