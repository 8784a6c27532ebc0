//! Reading the head of ticket files with few system calls.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};

use crate::parse::{End, Outcome, parse};
use crate::warning::HEAD_LIMIT;
use crate::{Warning, WarningKind};

/// The size of the first read. Typical tickets are well under this, so one
/// `read` returns the front matter and the title.
const FIRST_READ: usize = 16 * 1024;

/// Reads ticket files into one buffer that is reused from file to file.
pub(crate) struct Reader<'dir> {
    buffer: Vec<u8>,
    /// The open directory of the files, when all of them lie in one
    /// directory.
    dir: Option<BorrowedFd<'dir>>,
}

impl<'dir> Reader<'dir> {
    /// Returns a reader that opens each path as given.
    pub fn new() -> Reader<'static> {
        Reader {
            buffer: vec![0; FIRST_READ],
            dir: None,
        }
    }

    /// Returns a reader that opens each path's file name inside `dir`, which
    /// must be the directory of every path it reads.
    pub fn in_dir(dir: BorrowedFd<'dir>) -> Reader<'dir> {
        Reader {
            buffer: vec![0; FIRST_READ],
            dir: Some(dir),
        }
    }

    /// Reads and parses the ticket file at `path`, which becomes the
    /// ticket's path. On failure the path is returned with the error.
    ///
    /// Reading stops as soon as the title line is in the buffer, and never
    /// goes past [`HEAD_LIMIT`] bytes. Opening never blocks, and a file that
    /// is not a regular one is skipped with a warning. With `listed_regular`
    /// the caller vouches that the file is regular, and its type is not
    /// checked again.
    pub fn read(
        &mut self,
        path: PathBuf,
        listed_regular: bool,
    ) -> Result<Outcome, (PathBuf, io::Error)> {
        let mut outcome = match self.read_head(&path, listed_regular) {
            Ok(outcome) => outcome,
            Err(error) => return Err((path, error)),
        };
        if let Ok(ticket) = &mut outcome.ticket {
            ticket.path = path;
        }
        Ok(outcome)
    }

    /// Opens `path` for reading without blocking, which matters for a named
    /// pipe: a blocking open would wait for a writer that may never come.
    /// A regular file reads the same with `O_NONBLOCK` as without.
    fn open(&self, path: &Path) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = match (self.dir, path.file_name()) {
            (Some(dir), Some(name)) => rustix::fs::openat(dir, name, flags, Mode::empty())?,
            _ => rustix::fs::open(path, flags, Mode::empty())?,
        };
        Ok(File::from(fd))
    }

    fn read_head(&mut self, path: &Path, listed_regular: bool) -> io::Result<Outcome> {
        let mut file = self.open(path)?;

        // An `fstat` per file measurably slows loading a large backlog, so a
        // file that the directory listing showed as regular is not checked.
        // NOTE: A named pipe or device swapped in after the listing is read
        // as a file: it cannot block, but its warning is then "no front
        // matter" or a read error rather than "not a regular file".
        if !listed_regular {
            let file_type = FileType::from_raw_mode(rustix::fs::fstat(&file)?.st_mode);
            if file_type != FileType::RegularFile {
                return Ok(not_regular(path, file_type));
            }
        }

        let mut filled = 0;
        loop {
            if filled == self.buffer.len() && !self.grow() {
                let end = if at_eof(&mut file)? {
                    End::Eof
                } else {
                    End::Limit
                };
                let outcome = parse(path, &self.buffer[..filled], end);
                // `End::Eof` and `End::Limit` always produce an outcome.
                return Ok(outcome.expect("parse completes at the end of input"));
            }
            let count = read_some(&mut file, &mut self.buffer[filled..])?;
            let end = if count == 0 { End::Eof } else { End::More };
            filled += count;
            if let Some(outcome) = parse(path, &self.buffer[..filled], end) {
                return Ok(outcome);
            }
        }
    }

    /// Doubles the buffer up to [`HEAD_LIMIT`]; returns false if it is there already.
    fn grow(&mut self) -> bool {
        let size = self.buffer.len();
        if size >= HEAD_LIMIT {
            return false;
        }
        self.buffer.resize((size * 2).min(HEAD_LIMIT), 0);
        true
    }
}

/// Returns the outcome for a path that is not a regular file.
fn not_regular(path: &Path, file_type: FileType) -> Outcome {
    let warning = Warning {
        path: path.to_path_buf(),
        line: None,
        kind: WarningKind::NotRegularFile(describe(file_type)),
    };
    Outcome {
        ticket: Err(warning),
        notes: Vec::new(),
    }
}

/// Returns the name of a kind of file, with its article, for messages.
pub(crate) fn describe(file_type: FileType) -> &'static str {
    match file_type {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a named pipe (FIFO)",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}

fn read_some(file: &mut File, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match file.read(buffer) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// Returns true if nothing is left to read from `file`.
fn at_eof(file: &mut File) -> io::Result<bool> {
    let mut probe = [0u8; 1];
    Ok(read_some(file, &mut probe)? == 0)
}
