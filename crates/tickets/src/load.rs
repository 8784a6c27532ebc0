//! Listing a tickets directory and reading every ticket file in it.

use std::ffi::OsStr;
use std::fs;
use std::num::NonZero;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver};
use std::{mem, thread};

use rustix::fs::{FileType, Mode, OFlags};

use crate::read::{Reader, describe};
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
    fn read(&mut self, reader: &mut Reader<'_>, file: TicketFile) {
        match reader.read(file.path, file.listed_regular) {
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
/// (names that start with `.`). A `*.md` entry that is not a regular file,
/// such as a directory or a named pipe, gets a warning.
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
            Some(file) => first.push(file?),
            None => {
                let mut reader = Reader::in_dir(dir_fd.as_fd());
                let mut found = Found::default();
                for file in first {
                    found.read(&mut reader, file);
                }
                found.warnings.append(&mut files.skipped);
                return Ok(found);
            }
        }
    }
    let listed = first.into_iter().map(Ok).chain(files.by_ref());
    let mut found = read_parallel(dir_fd.as_fd(), listed)?;
    found.warnings.append(&mut files.skipped);
    Ok(found)
}

fn read_parallel(
    dir: BorrowedFd<'_>,
    files: impl Iterator<Item = Result<TicketFile, Error>>,
) -> Result<Found, Error> {
    let (sender, receiver) = mpsc::channel::<Vec<TicketFile>>();
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
        for file in files {
            batch.push(file?);
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
fn read_batches(dir: BorrowedFd<'_>, receiver: &Mutex<Receiver<Vec<TicketFile>>>) -> Found {
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
        for file in batch {
            found.read(&mut reader, file);
        }
    }
}

fn list_error(dir: &Path, source: std::io::Error) -> Error {
    Error::ReadDir {
        path: dir.to_path_buf(),
        source,
    }
}

/// A ticket file found by listing its directory.
struct TicketFile {
    path: PathBuf,
    /// Whether the listing showed a regular file, which saves the reader
    /// from checking the type once the file is open.
    listed_regular: bool,
}

/// An iterator over the ticket files in a directory.
struct TicketFiles<'a> {
    dir: &'a Path,
    entries: fs::ReadDir,
    /// Warnings for the entries that the listing shows are not regular
    /// files, which are never opened.
    skipped: Vec<Warning>,
}

impl<'a> TicketFiles<'a> {
    fn new(dir: &'a Path) -> Result<TicketFiles<'a>, Error> {
        let entries = fs::read_dir(dir).map_err(|error| list_error(dir, error))?;
        Ok(TicketFiles {
            dir,
            entries,
            skipped: Vec::new(),
        })
    }
}

impl Iterator for TicketFiles<'_> {
    type Item = Result<TicketFile, Error>;

    fn next(&mut self) -> Option<Result<TicketFile, Error>> {
        loop {
            let entry = match self.entries.next()? {
                Ok(entry) => entry,
                Err(error) => return Some(Err(list_error(self.dir, error))),
            };
            if !is_ticket_name(&entry.file_name()) {
                continue;
            }
            // The type comes from the listing, so this costs no system call
            // on file systems that report types there. A symbolic link, or
            // an entry whose type is unknown, is checked once it is open.
            let file_type = entry.file_type().ok();
            if let Some(special) = file_type.and_then(special_type) {
                self.skipped.push(Warning {
                    path: entry.path(),
                    line: None,
                    kind: WarningKind::NotRegularFile(describe(special)),
                });
                continue;
            }
            return Some(Ok(TicketFile {
                path: entry.path(),
                listed_regular: file_type.is_some_and(|kind| kind.is_file()),
            }));
        }
    }
}

/// Returns the type of an entry that is neither a regular file nor a
/// symbolic link, or `None` for those two.
fn special_type(file_type: fs::FileType) -> Option<FileType> {
    if file_type.is_dir() {
        Some(FileType::Directory)
    } else if file_type.is_fifo() {
        Some(FileType::Fifo)
    } else if file_type.is_socket() {
        Some(FileType::Socket)
    } else if file_type.is_char_device() {
        Some(FileType::CharacterDevice)
    } else if file_type.is_block_device() {
        Some(FileType::BlockDevice)
    } else {
        None
    }
}

fn is_ticket_name(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.ends_with(b".md") && !name.starts_with(b".")
}
