//! Changing the status of a ticket file in place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::parse::find_status_line;
use crate::{Error, Status};

/// How many temporary names to try before giving up.
const TEMP_ATTEMPTS: u32 = 100;

/// Rewrites only the front-matter `status:` line of the ticket file at
/// `path`, atomically.
///
/// The line becomes `status: <status>`. Every other byte of the file,
/// including its line endings and body lines that begin with `status:`,
/// stays as it was. The new contents go to a temporary file in the same
/// directory. That file gets the old file's permissions and owner, is synced
/// and is renamed over the old file, and then the directory is synced.
///
/// A symbolic link is followed and its target rewritten. A file that
/// already has the status is left untouched.
///
/// NOTE: A change that another program writes to the file between the read
/// and the rename is lost.
pub fn set_status(path: &Path, status: Status) -> Result<(), Error> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let target = fs::canonicalize(path).map_err(read_error)?;
    let contents = fs::read(&target).map_err(read_error)?;

    let Some(line) = find_status_line(&contents) else {
        return Err(Error::NoStatusLine {
            path: path.to_path_buf(),
        });
    };
    let new_line = format!("status: {status}");
    if line.text == new_line.as_bytes() {
        return Ok(());
    }

    let line_end = line.start + line.text.len();
    let mut updated = Vec::with_capacity(contents.len() + new_line.len());
    updated.extend_from_slice(&contents[..line.start]);
    updated.extend_from_slice(new_line.as_bytes());
    updated.extend_from_slice(&contents[line_end..]);
    replace_file(&target, &updated)
}

/// Replaces the file at `path` with `contents` through a temporary file in
/// the same directory.
fn replace_file(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    let metadata = fs::metadata(path).map_err(write_error(path))?;
    let (temp_path, mut temp) = create_temp(path).map_err(write_error(path))?;

    let written = (|| {
        temp.write_all(contents)?;
        // The owner goes first, because changing it can clear mode bits.
        let created = temp.metadata()?;
        if (created.uid(), created.gid()) != (metadata.uid(), metadata.gid()) {
            std::os::unix::fs::fchown(&temp, Some(metadata.uid()), Some(metadata.gid()))?;
        }
        temp.set_permissions(metadata.permissions())?;
        temp.sync_all()?;
        drop(temp);
        fs::rename(&temp_path, path)
    })();
    if let Err(source) = written {
        let _ = fs::remove_file(&temp_path);
        return Err(Error::Write {
            path: temp_path,
            source,
        });
    }

    let dir = parent_dir(path);
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(write_error(dir))
}

/// Creates a new, empty, hidden file beside `path`, named after it, the
/// process id and an attempt counter, so concurrent writers never share one.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    let dir = parent_dir(path);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let pid = std::process::id();
    let mut attempt = 0;
    loop {
        let temp_path = dir.join(format!(".{name}.{pid}.{attempt}.tmp"));
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp_path);
        match opened {
            Ok(file) => return Ok((temp_path, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                attempt += 1;
                if attempt == TEMP_ATTEMPTS {
                    return Err(error);
                }
            }
            Err(error) => return Err(error),
        }
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}
