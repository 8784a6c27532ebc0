//! Finding the `.tickets` directory.

use std::env;
use std::path::{Component, Path, PathBuf};

use crate::Error;

/// The environment variable that names the tickets directory.
pub const TICKETS_DIR_ENV: &str = "TICKETS_DIR";

/// The name of the directory that contains the ticket files.
pub const TICKETS_DIR_NAME: &str = ".tickets";

/// Returns the tickets directory: the value of `TICKETS_DIR` if it is set and
/// not empty, else the first `.tickets/` directory found by walking up from
/// `start` (see [`search_up`]).
pub fn find_dir(start: &Path) -> Result<PathBuf, Error> {
    match env::var_os(TICKETS_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir)),
        _ => search_up(start),
    }
}

/// Returns the first `.tickets/` directory in `start` or one of its parents,
/// the filesystem root included.
///
/// A relative `start` is taken from the current directory, and `..` in it
/// removes the component before it, as in a shell's logical working directory.
pub fn search_up(start: &Path) -> Result<PathBuf, Error> {
    let start = normalize(&std::path::absolute(start).map_err(Error::CurrentDir)?);
    for dir in start.ancestors() {
        let candidate = dir.join(TICKETS_DIR_NAME);
        if candidate.is_dir() {
            return Ok(candidate);
        }
    }
    Err(Error::NoTicketsDir { start })
}

/// Drops `.` components and resolves `..` against the component before it.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots() {
        let path = normalize(Path::new("/a/./b/../c"));
        assert_eq!(path, Path::new("/a/c"));
    }

    #[test]
    fn normalize_stops_at_root() {
        assert_eq!(normalize(Path::new("/../a")), Path::new("/a"));
    }
}
