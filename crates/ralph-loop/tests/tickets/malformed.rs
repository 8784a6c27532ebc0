//! Malformed ticket files: a warning naming the file and line, every other
//! ticket still listed, and no panic.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::support::{Project, Run, ralph_loop, ready_line, run};

/// Ten mebibytes, well past the reader's limit of one mebibyte.
const TEN_MB: usize = 10 * 1024 * 1024;

/// Returns a project with two good tickets and one file `bad.md` holding `bad`.
fn project_with(bad: impl AsRef<[u8]>) -> Project {
    let project = Project::new();
    project.ticket("good-1", "open", 1, &[]);
    project.ticket("good-2", "open", 3, &[]);
    project.write("bad.md", bad);
    project
}

fn good_lines() -> String {
    ready_line("good-1", "open", 1) + &ready_line("good-2", "open", 3)
}

/// Asserts that `run` listed the good tickets and warned once about
/// `bad.md` with `message`, at `line` if given.
fn assert_warned(project: &Project, run: &Run, line: Option<usize>, message: &str) {
    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    let path = project.tickets_dir().join("bad.md");
    let location = match line {
        Some(line) => format!("{}:{line}: ", path.display()),
        None => format!("{}: ", path.display()),
    };
    let warnings: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0].contains("WARN"), "{}", run.stderr);
    assert!(
        warnings[0].contains(&format!("{location}{message}")),
        "{}",
        run.stderr
    );
}

#[test]
fn no_front_matter_is_skipped() {
    let project = project_with("# Just a title\n\nNo front matter here.\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(&project, &run, None, "no front matter");
}

#[test]
fn unclosed_front_matter_is_skipped() {
    let project = project_with("\n---\nid: bad\nstatus: open\n# Title\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        Some(2),
        "front matter opened here is never closed",
    );
}

#[test]
fn missing_id_is_skipped() {
    let project = project_with("---\nstatus: open\npriority: 0\n---\n# No id\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(&project, &run, None, "no `id` field");
}

#[test]
fn empty_id_is_skipped() {
    let project = project_with("---\nid:\nstatus: open\n---\n# Empty id\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(&project, &run, None, "no `id` field");
}

#[test]
fn duplicate_id_keeps_named_file() {
    let project = Project::new();
    project.ticket("good-1", "open", 1, &[]);
    project.ticket("good-2", "open", 3, &[]);
    // Sorts before `good-1.md`, so only the name rule keeps `good-1.md`.
    let copy = super::support::ticket_text("good-1", "open", 0, &[]);
    let copy = project.write("a-copy.md", copy);

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    let kept_path = project.tickets_dir().join("good-1.md");
    let expected = format!(
        "{}: id `good-1` is also used by {}, which is kept; this file is skipped",
        copy.display(),
        kept_path.display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn duplicate_id_keeps_first_file() {
    let project = Project::new();
    project.write("x-1.md", super::support::ticket_text("dup", "open", 2, &[]));
    project.write(
        "x-2.md",
        super::support::ticket_text("dup", "closed", 2, &[]),
    );

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, ready_line("dup", "open", 2));
    assert!(
        run.stderr.contains("x-2.md: id `dup` is also used by"),
        "{}",
        run.stderr
    );
}

#[test]
fn invalid_priority_is_skipped() {
    let project = project_with("---\nid: bad\nstatus: open\npriority: high\n---\n# Title\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        Some(4),
        "invalid priority `high` (expected a whole number, 0 or above, 0 the highest)",
    );
}

#[test]
fn negative_priority_is_skipped() {
    let project = project_with("---\nid: bad\nstatus: open\npriority: -1\n---\n# Title\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        Some(4),
        "invalid priority `-1` (expected a whole number, 0 or above, 0 the highest)",
    );
}

#[test]
fn byte_order_mark_is_named() {
    let project = project_with("\u{feff}---\nid: bad\nstatus: open\n---\n# Title\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        Some(1),
        "the file starts with a UTF-8 byte order mark, so its first line is not exactly `---`",
    );
}

#[test]
fn unknown_status_is_skipped() {
    let project = project_with("---\nid: bad\nstatus: wip\n---\n# Title\n");

    let ready = project.tickets(&["ready"]);
    let blocked = project.tickets(&["blocked"]);

    assert_eq!(ready.stdout, good_lines());
    assert_eq!(blocked.stdout, "");
    assert_warned(&project, &ready, Some(3), "unknown status `wip`");
}

#[test]
fn missing_status_is_skipped() {
    let project = project_with("---\nid: bad\npriority: 1\n---\n# Title\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(&project, &run, None, "no `status` field");
}

#[test]
fn dependency_on_skipped_ticket_blocks() {
    let project = project_with("---\nid: bad\nstatus: closed\npriority: x\n---\n# Title\n");
    project.ticket("waits", "open", 2, &["bad"]);

    let run = project.tickets(&["blocked"]);

    assert_eq!(
        run.stdout,
        "waits    [P2][open] - Title of waits <- [bad]\n"
    );
}

#[test]
fn invalid_utf8_in_front_matter_is_skipped() {
    let project = project_with(b"---\nid: b\xffd\nstatus: open\n---\n# Title\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(&project, &run, Some(2), "line is not valid UTF-8");
}

#[test]
fn invalid_utf8_in_title_is_skipped() {
    let project = project_with(b"---\nid: bad\nstatus: open\n---\n\n# Caf\xe9\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(&project, &run, Some(6), "line is not valid UTF-8");
}

#[test]
fn invalid_utf8_after_title_is_ignored() {
    let project = project_with(b"---\nid: bad\nstatus: open\n---\n# Fine\n\n\xff\xfe body\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.code(), Some(0));
    assert_eq!(run.stderr, "");
    let expected = ready_line("good-1", "open", 1)
        + "bad      [P2][open] - Fine\n"
        + &ready_line("good-2", "open", 3);
    assert_eq!(run.stdout, expected);
}

#[test]
fn stray_front_matter_line_is_reported() {
    let project = project_with("---\nid: bad\nstatus: open\npriority 0\n---\n# Kept\n");

    let run = project.tickets(&["ready"]);

    assert!(
        run.stdout.contains("bad      [P2][open] - Kept\n"),
        "{}",
        run.stdout
    );
    assert_warned(
        &project,
        &run,
        Some(4),
        "not a `name: value` field; line ignored",
    );
}

#[test]
fn duplicate_field_uses_first() {
    let project = project_with("---\nid: bad\nstatus: open\nstatus: closed\n---\n# Kept\n");

    let run = project.tickets(&["ready"]);

    assert!(
        run.stdout.contains("bad      [P2][open] - Kept\n"),
        "{}",
        run.stdout
    );
    assert_warned(
        &project,
        &run,
        Some(4),
        "duplicate field `status`; the one on line 3 is used",
    );
}

fn ten_mb_file(project: &Project, head: &str, filler: &[u8]) {
    let mut file = fs::File::create(project.tickets_dir().join("bad.md")).unwrap();
    file.write_all(head.as_bytes()).unwrap();
    let mut written = head.len();
    while written < TEN_MB {
        file.write_all(filler).unwrap();
        written += filler.len();
    }
}

#[test]
fn large_body_is_not_read() {
    let project = project_with("");
    ten_mb_file(
        &project,
        "---\nid: big\nstatus: open\npriority: 0\n---\n# Big ticket\n",
        b"A long body line that nobody needs to read.\n",
    );

    let run = project.tickets(&["ready"]);

    assert_eq!(run.code(), Some(0));
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "big      [P0][open] - Big ticket\n".to_owned() + &good_lines()
    );
}

#[test]
fn large_front_matter_is_skipped() {
    let project = project_with("");
    ten_mb_file(&project, "---\nid: big\nstatus: open\n", b"note: filler\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        Some(1),
        "front matter opened here is not closed within the first 1024 KiB",
    );
}

#[test]
fn large_file_without_delimiter_is_skipped() {
    let project = project_with("");
    ten_mb_file(&project, "", b"just text, no front matter at all\n");

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(&project, &run, None, "no front matter");
}

#[test]
fn large_file_without_title_keeps_ticket() {
    let project = project_with("");
    ten_mb_file(
        &project,
        "---\nid: big\nstatus: open\n---\n",
        b"body without a title\n",
    );

    let run = project.tickets(&["ready"]);

    assert!(
        run.stdout.contains("big      [P2][open] - \n"),
        "{}",
        run.stdout
    );
    assert_warned(
        &project,
        &run,
        None,
        "no title line within the first 1024 KiB",
    );
}

#[test]
fn unreadable_file_is_skipped() {
    let project = project_with("");
    let bad = project.tickets_dir().join("bad.md");
    fs::remove_file(&bad).unwrap();
    // A dangling symbolic link fails to open like an unreadable file, even for root.
    std::os::unix::fs::symlink(project.path().join("missing"), &bad).unwrap();

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(&project, &run, None, "No such file or directory");
}

/// Makes a named pipe at `path`, which no process ever opens for writing.
fn make_fifo(path: &Path) {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a valid NUL-terminated string.
    let result = unsafe { libc::mkfifo(path.as_ptr(), 0o644) };
    assert_eq!(result, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

#[test]
fn named_pipe_is_skipped() {
    let project = project_with("");
    let bad = project.tickets_dir().join("bad.md");
    fs::remove_file(&bad).unwrap();
    make_fifo(&bad);

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        None,
        "not a regular file but a named pipe (FIFO); ticket skipped",
    );
}

#[test]
fn link_to_named_pipe_is_skipped() {
    let project = project_with("");
    let bad = project.tickets_dir().join("bad.md");
    fs::remove_file(&bad).unwrap();
    let fifo = project.path().join("fifo");
    make_fifo(&fifo);
    // The listing shows a link, so only the open file reveals the pipe.
    std::os::unix::fs::symlink(&fifo, &bad).unwrap();

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        None,
        "not a regular file but a named pipe (FIFO); ticket skipped",
    );
}

#[test]
fn character_device_is_skipped() {
    let project = project_with("");
    let bad = project.tickets_dir().join("bad.md");
    fs::remove_file(&bad).unwrap();
    std::os::unix::fs::symlink("/dev/null", &bad).unwrap();

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        None,
        "not a regular file but a character device; ticket skipped",
    );
}

#[test]
fn directory_is_reported() {
    let project = project_with("");
    let bad = project.tickets_dir().join("bad.md");
    fs::remove_file(&bad).unwrap();
    fs::create_dir(&bad).unwrap();

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_warned(
        &project,
        &run,
        None,
        "not a regular file but a directory; ticket skipped",
    );
}

#[test]
fn warnings_are_plain_in_a_pipe() {
    let project = project_with("no front matter");

    let mut command = ralph_loop(project.path());
    command.env_remove("NO_COLOR");
    let run = run(command.args(["tickets", "ready"]));

    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert!(run.stderr.contains("WARN"), "{}", run.stderr);
    assert!(!run.stderr.contains('\x1b'), "{:?}", run.stderr);
}

#[test]
fn other_files_are_ignored() {
    let project = project_with("");
    fs::remove_file(project.tickets_dir().join("bad.md")).unwrap();
    project.write("notes.txt", "not a ticket");
    project.write(".hidden.md", "---\nid: hidden\nstatus: open\n---\n");
    fs::create_dir(project.tickets_dir().join("dir.txt")).unwrap();

    let run = project.tickets(&["ready"]);

    assert_eq!(run.stdout, good_lines());
    assert_eq!(run.stderr, "");
}

#[test]
fn many_warnings_are_capped() {
    let project = project_with("no front matter");
    for index in 0..59 {
        project.write(&format!("junk-{index:02}.md"), "no front matter");
    }

    let quiet = project.tickets(&["ready"]);
    let verbose = project.tickets(&["-v", "ready"]);

    assert_eq!(quiet.stdout, good_lines());
    assert_eq!(quiet.stderr.lines().count(), 51, "{}", quiet.stderr);
    let last = quiet.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("10 more problems in ticket files not shown"),
        "{last}"
    );
    assert_eq!(verbose.stderr.lines().count(), 60, "{}", verbose.stderr);
}
