//! Finding the tickets directory: `TICKETS_DIR`, walking up, and `-C DIR`.

use std::fs;

use super::support::{Project, ralph_loop, ready_line, run};

#[test]
fn walks_up_from_subdirectory() {
    let project = Project::new();
    project.ticket("t-1", "open", 2, &[]);
    let nested = project.path().join("src/deep/er");
    fs::create_dir_all(&nested).unwrap();

    let run = super::support::tickets(&nested, &["ready"]);

    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, ready_line("t-1", "open", 2));
}

#[test]
fn nearest_tickets_dir_wins() {
    let outer = Project::new();
    outer.ticket("outer", "open", 2, &[]);
    let inner = outer.path().join("inner");
    fs::create_dir_all(inner.join(".tickets")).unwrap();
    fs::write(
        inner.join(".tickets/inner.md"),
        super::support::ticket_text("inner", "open", 2, &[]),
    )
    .unwrap();

    let run = super::support::tickets(&inner, &["ready"]);

    assert_eq!(run.stdout, ready_line("inner", "open", 2));
}

#[test]
fn tickets_dir_variable_wins() {
    let project = Project::new();
    project.ticket("here", "open", 2, &[]);
    let elsewhere = Project::new();
    elsewhere.ticket("there", "open", 2, &[]);

    let mut command = ralph_loop(project.path());
    command.env("TICKETS_DIR", elsewhere.tickets_dir());
    let run = run(command.args(["tickets", "ready"]));

    assert_eq!(run.stdout, ready_line("there", "open", 2));
}

#[test]
fn empty_tickets_dir_variable_is_ignored() {
    let project = Project::new();
    project.ticket("here", "open", 2, &[]);

    let mut command = ralph_loop(project.path());
    command.env("TICKETS_DIR", "");
    let run = run(command.args(["tickets", "ready"]));

    assert_eq!(run.stdout, ready_line("here", "open", 2));
}

#[test]
fn directory_flag_sets_start() {
    let project = Project::new();
    project.ticket("t-1", "open", 2, &[]);
    let elsewhere = tempfile::tempdir().unwrap();

    let mut command = ralph_loop(elsewhere.path());
    command.arg("-C").arg(project.path());
    let run = run(command.args(["tickets", "ready"]));

    assert_eq!(run.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, ready_line("t-1", "open", 2));
}

#[test]
fn relative_tickets_dir_follows_directory_flag() {
    let project = Project::new();
    project.ticket("t-1", "open", 2, &[]);
    let elsewhere = tempfile::tempdir().unwrap();

    let mut command = ralph_loop(elsewhere.path());
    command.env("TICKETS_DIR", ".tickets");
    command.arg("-C").arg(project.path());
    let run = run(command.args(["tickets", "ready"]));

    assert_eq!(run.stdout, ready_line("t-1", "open", 2));
}

#[test]
fn missing_tickets_dir_is_error() {
    let empty = tempfile::tempdir().unwrap();

    let run = super::support::tickets(empty.path(), &["ready"]);

    assert_eq!(run.code(), Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "error: no .tickets directory found (searched parent directories)\n"
    );
}

#[test]
fn missing_directory_flag_is_error() {
    let project = Project::new();
    let missing = project.path().join("missing");

    let mut command = ralph_loop(project.path());
    command.arg("-C").arg(&missing);
    let run = run(command.args(["tickets", "ready"]));

    assert_eq!(run.code(), Some(1));
    let expected = format!(
        "error: the project directory {} does not exist\n",
        missing.display()
    );
    assert_eq!(run.stderr, expected);
}

#[test]
fn file_as_directory_flag_is_error() {
    let project = Project::new();
    let file = project.write("t.md", "not a directory");

    let mut command = ralph_loop(project.path());
    command.arg("-C").arg(&file);
    let run = run(command.args(["tickets", "ready"]));

    assert_eq!(run.code(), Some(1));
    let expected = format!(
        "error: the project directory {} is not a directory\n",
        file.display()
    );
    assert_eq!(run.stderr, expected);
}
