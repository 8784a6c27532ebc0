//! Reading the head of ticket files with few system calls.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::parse::{End, Outcome, parse};
use crate::warning::HEAD_LIMIT;

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
    /// goes past [`HEAD_LIMIT`] bytes.
    pub fn read(&mut self, path: PathBuf) -> Result<Outcome, (PathBuf, io::Error)> {
        let mut outcome = match self.read_head(&path) {
            Ok(outcome) => outcome,
            Err(error) => return Err((path, error)),
        };
        if let Ok(ticket) = &mut outcome.ticket {
            ticket.path = path;
        }
        Ok(outcome)
    }

    fn open(&self, path: &Path) -> io::Result<File> {
        match (self.dir, path.file_name()) {
            (Some(dir), Some(name)) => {
                let flags = OFlags::RDONLY | OFlags::CLOEXEC;
                let fd = rustix::fs::openat(dir, name, flags, Mode::empty())?;
                Ok(File::from(fd))
            }
            _ => File::open(path),
        }
    }

    fn read_head(&mut self, path: &Path) -> io::Result<Outcome> {
        let mut file = self.open(path)?;
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
