//! Filesystem checks and edits on the paths the worktree module handles.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::WorktreeError;

/// Appends `line` to a file, starting a new line first if the file does not
/// end with one, and creates the file and its directory when missing.
pub(super) fn append_line(path: &Path, line: &str) -> Result<(), WorktreeError> {
    let io_error = |action| {
        move |source| WorktreeError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(io_error("read")(error)),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_error("create directory for"))?;
    }
    fs::write(path, text).map_err(io_error("write"))
}

/// Returns the canonical form of a directory, or `None` if it is missing.
pub(super) fn canonical_dir(dir: &Path) -> Result<Option<PathBuf>, WorktreeError> {
    match fs::canonicalize(dir) {
        Ok(path) => Ok(Some(path)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(WorktreeError::Io {
            action: "resolve",
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Returns whether anything, even a dangling symbolic link, is at `path`.
pub(super) fn entry_exists(path: &Path) -> Result<bool, WorktreeError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(WorktreeError::Io {
            action: "inspect",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Returns whether `path` is a symbolic link. A missing path is not.
pub(super) fn is_symlink(path: &Path) -> Result<bool, WorktreeError> {
    match fs::symlink_metadata(path) {
        Ok(metadata) => Ok(metadata.file_type().is_symlink()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(WorktreeError::Io {
            action: "inspect",
            path: path.to_path_buf(),
            source,
        }),
    }
}
