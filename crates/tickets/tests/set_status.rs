//! `set_status`: one line changes, atomically, and every other byte stays.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use tickets::{Error, Status, set_status};

fn write(dir: &std::path::Path, text: &[u8]) -> std::path::PathBuf {
    let path = dir.join("t.md");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn only_front_matter_status_changes() {
    let dir = tempfile::tempdir().unwrap();
    let text = "intro\nstatus: before\n---\nid: t\nstatus: open  \npriority: 1\n---\n\
                # Title\nstatus: open\n  status: open\n---\nstatus: open\n";
    let path = write(dir.path(), text.as_bytes());

    set_status(&path, Status::Closed).unwrap();

    let expected = text.replacen("status: open  \n", "status: closed\n", 1);
    assert_eq!(fs::read_to_string(&path).unwrap(), expected);
}

#[test]
fn crlf_and_missing_newline_survive() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"---\r\nid: t\r\nstatus: in_progress\r\n---\r\n# T\r\nbody \xff bytes";
    let path = write(dir.path(), text);

    set_status(&path, Status::Open).unwrap();

    let expected = b"---\r\nid: t\r\nstatus: open\r\n---\r\n# T\r\nbody \xff bytes";
    assert_eq!(fs::read(&path).unwrap(), expected);
}

#[test]
fn status_without_value_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), b"---\nid: t\nstatus:\n---\n");

    set_status(&path, Status::InProgress).unwrap();

    assert_eq!(
        fs::read(&path).unwrap(),
        b"---\nid: t\nstatus: in_progress\n---\n"
    );
}

#[test]
fn permissions_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), b"---\nid: t\nstatus: open\n---\n");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();

    set_status(&path, Status::Closed).unwrap();

    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o604);
}

#[test]
fn file_is_replaced_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), b"---\nid: t\nstatus: open\n---\n");
    let before = fs::metadata(&path).unwrap().ino();

    set_status(&path, Status::Closed).unwrap();

    assert_ne!(fs::metadata(&path).unwrap().ino(), before);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["t.md"]);
}

#[test]
fn unchanged_status_leaves_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), b"---\nid: t\nstatus: open\n---\n");
    let before = fs::metadata(&path).unwrap().ino();

    set_status(&path, Status::Open).unwrap();

    assert_eq!(fs::metadata(&path).unwrap().ino(), before);
}

#[test]
fn symlink_target_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let target = write(dir.path(), b"---\nid: t\nstatus: open\n---\n");
    let link = dir.path().join("link.md");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    set_status(&link, Status::Closed).unwrap();

    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        fs::read(&target).unwrap(),
        b"---\nid: t\nstatus: closed\n---\n"
    );
}

#[test]
fn missing_status_line_is_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"---\nid: t\n---\nstatus: open\n";
    let path = write(dir.path(), text);

    let error = set_status(&path, Status::Closed).unwrap_err();

    assert!(matches!(error, Error::NoStatusLine { .. }));
    assert_eq!(fs::read(&path).unwrap(), text);
}

#[test]
fn unclosed_front_matter_is_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"---\nid: t\nstatus: open\n";
    let path = write(dir.path(), text);

    let error = set_status(&path, Status::Closed).unwrap_err();

    assert!(matches!(error, Error::NoStatusLine { .. }));
    assert_eq!(fs::read(&path).unwrap(), text);
}

#[test]
fn missing_file_is_read_error() {
    let dir = tempfile::tempdir().unwrap();

    let error = set_status(&dir.path().join("gone.md"), Status::Closed).unwrap_err();

    assert!(matches!(error, Error::Read { .. }));
}

#[test]
fn owner_survives() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), b"---\nid: t\nstatus: open\n---\n");
    // Changing the owner needs root; elsewhere there is nothing to check.
    if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
        return;
    }

    set_status(&path, Status::Closed).unwrap();

    let metadata = fs::metadata(&path).unwrap();
    assert_eq!(metadata.uid(), 65534);
    assert_eq!(metadata.gid(), 65534);
}
