//! Tests against real git repositories in temporary directories.
//!
//! Every git command the tests run themselves gets a fixed identity and no
//! system configuration, and each repository has its own `user.name` and
//! `user.email`, so the tests need no global git identity.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::*;

const WORKTREES: &str = ".tf/ralph/worktrees";

/// Runs git in `dir` and returns its stdout; panics with stderr on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.invalid")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A repository on branch `main` with one commit: a README, a shared file
/// and one open ticket file per id in `TICKETS`.
struct Fixture {
    _temp: TempDir,
    root: PathBuf,
}

const TICKETS: [&str; 4] = ["a", "b", "c", "d"];

impl Fixture {
    fn new() -> Fixture {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = fs::canonicalize(temp.path()).expect("canonical temp dir");
        init_repo(&root);
        Fixture { _temp: temp, root }
    }

    fn open(&self) -> Repo {
        Repo::open_for_parallel(&self.root).expect("open repository")
    }

    fn worktree(&self, ticket: &str) -> PathBuf {
        self.root.join(WORKTREES).join(ticket)
    }

    fn head(&self) -> String {
        git(&self.root, &["rev-parse", "HEAD"]).trim().to_owned()
    }

    fn branches(&self) -> String {
        git(
            &self.root,
            &["branch", "--list", "--format=%(refname:short)"],
        )
    }

    fn tracked_changes(&self) -> String {
        git(
            &self.root,
            &["status", "--porcelain", "--untracked-files=no"],
        )
    }
}

fn init_repo(root: &Path) {
    git(root, &["-c", "init.defaultBranch=main", "init", "-q"]);
    git(root, &["config", "user.name", "Test Committer"]);
    git(root, &["config", "user.email", "committer@example.invalid"]);
    git(root, &["config", "commit.gpgsign", "false"]);
    fs::write(root.join("README.md"), "readme\n").expect("write README");
    fs::write(root.join("shared.txt"), "one\ntwo\n").expect("write shared.txt");
    fs::create_dir_all(root.join(".tickets")).expect("create .tickets");
    for ticket in TICKETS {
        fs::write(ticket_file(root, ticket), ticket_text(ticket, "open")).expect("write ticket");
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "Start"]);
}

fn ticket_file(dir: &Path, ticket: &str) -> PathBuf {
    dir.join(".tickets").join(format!("{ticket}.md"))
}

fn ticket_text(ticket: &str, status: &str) -> String {
    format!("---\nid: {ticket}\nstatus: {status}\n---\n# Ticket {ticket}\n")
}

/// Does what an agent does in its worktree: writes `file`, closes the
/// ticket and commits both.
fn complete(worktree: &Path, ticket: &str, file: &str, text: &str) {
    fs::write(worktree.join(file), text).expect("write file in worktree");
    fs::write(ticket_file(worktree, ticket), ticket_text(ticket, "closed")).expect("close");
    git(worktree, &["add", "-A"]);
    git(worktree, &["commit", "-q", "-m", &format!("Do {ticket}")]);
}

#[test]
fn open_rejects_directory_outside_repository() {
    let temp = tempfile::tempdir().expect("temp dir");
    let error = Repo::open_for_parallel(temp.path()).expect_err("not a repository");
    assert!(
        matches!(error, WorktreeError::NotARepository { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("not inside a git work tree"),
        "{error}"
    );
}

#[test]
fn open_rejects_missing_directory() {
    let temp = tempfile::tempdir().expect("temp dir");
    let error = Repo::open_for_parallel(&temp.path().join("missing")).expect_err("missing");
    assert!(matches!(error, WorktreeError::Io { .. }), "{error:?}");
}

#[test]
fn open_rejects_modified_tracked_file() {
    let fixture = Fixture::new();
    fs::write(fixture.root.join("README.md"), "changed\n").expect("modify");
    let error = Repo::open_for_parallel(&fixture.root).expect_err("dirty checkout");
    let WorktreeError::Dirty { files, .. } = &error else {
        panic!("expected Dirty, got {error:?}");
    };
    assert_eq!(files, &["README.md"]);
    assert!(error.to_string().contains("README.md"), "{error}");
}

#[test]
fn open_rejects_staged_file() {
    let fixture = Fixture::new();
    fs::write(fixture.root.join("new.txt"), "new\n").expect("write");
    git(&fixture.root, &["add", "new.txt"]);
    let error = Repo::open_for_parallel(&fixture.root).expect_err("staged file");
    let WorktreeError::Dirty { files, .. } = &error else {
        panic!("expected Dirty, got {error:?}");
    };
    assert_eq!(files, &["new.txt"]);
}

#[test]
fn open_accepts_untracked_files() {
    let fixture = Fixture::new();
    fs::write(fixture.root.join("notes.txt"), "scratch\n").expect("write");
    let repo = fixture.open();
    assert_eq!(repo.base_branch(), "main");
}

#[test]
fn open_rejects_detached_head() {
    let fixture = Fixture::new();
    git(&fixture.root, &["checkout", "-q", "--detach"]);
    let error = Repo::open_for_parallel(&fixture.root).expect_err("detached");
    assert!(
        matches!(error, WorktreeError::DetachedHead { .. }),
        "{error:?}"
    );
}

#[test]
fn open_rejects_branch_without_commits() {
    let temp = tempfile::tempdir().expect("temp dir");
    git(
        temp.path(),
        &["-c", "init.defaultBranch=main", "init", "-q"],
    );
    let error = Repo::open_for_parallel(temp.path()).expect_err("no commits");
    assert!(
        matches!(error, WorktreeError::NoCommits { .. }),
        "{error:?}"
    );
}

#[test]
fn open_rejects_merge_in_progress() {
    let fixture = Fixture::new();
    git(&fixture.root, &["checkout", "-q", "-b", "side"]);
    fs::write(fixture.root.join("shared.txt"), "side\n").expect("write");
    git(&fixture.root, &["commit", "-q", "-am", "Side"]);
    git(&fixture.root, &["checkout", "-q", "main"]);
    fs::write(fixture.root.join("shared.txt"), "main\n").expect("write");
    git(&fixture.root, &["commit", "-q", "-am", "Main"]);
    let merge = Command::new("git")
        .arg("-C")
        .arg(&fixture.root)
        .args(["merge", "-q", "side"])
        .output()
        .expect("git runs");
    assert!(!merge.status.success(), "the merge conflicts");

    let error = Repo::open_for_parallel(&fixture.root).expect_err("merge in progress");
    assert!(
        matches!(error, WorktreeError::MergeInProgress { .. }),
        "{error:?}"
    );
    assert!(
        fixture.root.join(".git/MERGE_HEAD").exists(),
        "the merge is not aborted"
    );
}

/// Set in the child process of `open_rejects_missing_identity` to the
/// repository it opens.
const NO_IDENTITY_REPO: &str = "RALPH_LOOP_TEST_NO_IDENTITY_REPO";

/// Runs the check in a child process of this test binary, because the
/// identity comes from the environment and the global git configuration,
/// which this process must not change.
#[test]
fn open_rejects_missing_identity() {
    if let Some(root) = std::env::var_os(NO_IDENTITY_REPO) {
        let error = Repo::open_for_parallel(Path::new(&root)).expect_err("no identity");
        assert!(
            matches!(error, WorktreeError::NoIdentity { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("user.email"), "{error}");
        return;
    }

    let fixture = Fixture::new();
    git(&fixture.root, &["config", "--unset", "user.name"]);
    git(&fixture.root, &["config", "--unset", "user.email"]);
    // Without this, git makes up an identity from the host name when it can.
    git(&fixture.root, &["config", "user.useConfigOnly", "true"]);
    let home = tempfile::tempdir().expect("temp home");
    let mut child = Command::new(std::env::current_exe().expect("test binary"));
    child
        .args(["--exact", "worktree::tests::open_rejects_missing_identity"])
        .env(NO_IDENTITY_REPO, &fixture.root)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    for variable in [
        "EMAIL",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    ] {
        child.env_remove(variable);
    }
    let output = child.output().expect("run test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn open_uses_current_branch_as_base() {
    let fixture = Fixture::new();
    git(&fixture.root, &["checkout", "-q", "-b", "feature"]);
    assert_eq!(fixture.open().base_branch(), "feature");
}

#[test]
fn open_excludes_run_dir_once() {
    let fixture = Fixture::new();
    fixture.open();
    fixture.open();

    let exclude = fs::read_to_string(fixture.root.join(".git/info/exclude")).expect("exclude");
    let lines = exclude
        .lines()
        .filter(|line| *line == "/.tf/ralph/")
        .count();
    assert_eq!(lines, 1, "{exclude}");
    let ignored = git(&fixture.root, &["check-ignore", ".tf/ralph/state.json"]);
    assert_eq!(ignored.trim(), ".tf/ralph/state.json");
}

#[test]
fn open_keeps_exclude_when_gitignore_covers_run_dir() {
    let fixture = Fixture::new();
    fs::write(fixture.root.join(".gitignore"), ".tf/\n").expect("write .gitignore");
    git(&fixture.root, &["add", ".gitignore"]);
    git(&fixture.root, &["commit", "-q", "-m", "Ignore .tf"]);
    let exclude = fixture.root.join(".git/info/exclude");
    let before = fs::read_to_string(&exclude).unwrap_or_default();

    fixture.open();

    let after = fs::read_to_string(&exclude).unwrap_or_default();
    assert_eq!(before, after);
}

#[test]
fn round_trip_merges_and_cleans_up() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let start = fixture.head();

    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    assert_eq!(path, fixture.worktree("a"));
    assert!(fixture.branches().lines().any(|b| b == "ralph/a"));
    assert_eq!(repo.project_dir_in(&path), path);
    complete(&path, "a", "a.txt", "done\n");

    let outcome = repo.merge("a").expect("merge");
    let MergeOutcome::Merged { commit } = outcome else {
        panic!("expected Merged, got {outcome:?}");
    };
    assert_eq!(commit, fixture.head());
    let parents = git(&fixture.root, &["rev-list", "--parents", "-n1", "HEAD"]);
    assert_eq!(parents.split_whitespace().nth(1), Some(start.as_str()));
    assert_eq!(
        parents.split_whitespace().count(),
        3,
        "a merge commit: {parents}"
    );
    let subject = git(&fixture.root, &["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), "Merge ticket a from branch ralph/a");
    assert!(fixture.root.join("a.txt").is_file());
    let ticket = fs::read_to_string(ticket_file(&fixture.root, "a")).expect("ticket");
    assert!(ticket.contains("status: closed"), "{ticket}");

    repo.remove(Path::new(WORKTREES), "a", false)
        .expect("remove");
    assert!(!path.exists());
    assert_eq!(fixture.branches().trim(), "main");
    let worktrees = git(&fixture.root, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "{worktrees}");
    assert!(
        repo.leftovers(Path::new(WORKTREES))
            .expect("leftovers")
            .is_empty()
    );
    assert!(fixture.tracked_changes().is_empty());
}

#[test]
fn merge_twice_returns_already_merged() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    complete(&path, "a", "a.txt", "done\n");
    assert!(matches!(repo.merge("a"), Ok(MergeOutcome::Merged { .. })));
    let head = fixture.head();

    assert_eq!(
        repo.merge("a").expect("merge again"),
        MergeOutcome::AlreadyMerged
    );
    assert_eq!(fixture.head(), head);
}

#[test]
fn merge_of_branch_without_commits_does_nothing() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    repo.create(Path::new(WORKTREES), "a").expect("create");
    let head = fixture.head();

    assert_eq!(repo.merge("a").expect("merge"), MergeOutcome::AlreadyMerged);
    assert_eq!(fixture.head(), head);
}

#[test]
fn merges_of_different_files_both_succeed() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let a = repo.create(Path::new(WORKTREES), "a").expect("create a");
    let b = repo.create(Path::new(WORKTREES), "b").expect("create b");
    complete(&a, "a", "a.txt", "a\n");
    complete(&b, "b", "b.txt", "b\n");

    assert!(matches!(repo.merge("a"), Ok(MergeOutcome::Merged { .. })));
    assert!(matches!(repo.merge("b"), Ok(MergeOutcome::Merged { .. })));
    for ticket in ["a", "b"] {
        let text = fs::read_to_string(ticket_file(&fixture.root, ticket)).expect("ticket");
        assert!(text.contains("status: closed"), "{ticket}: {text}");
    }
}

#[test]
fn conflicting_merge_is_aborted_and_names_file() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let a = repo.create(Path::new(WORKTREES), "a").expect("create a");
    let b = repo.create(Path::new(WORKTREES), "b").expect("create b");
    complete(&a, "a", "shared.txt", "one from a\ntwo\n");
    complete(&b, "b", "shared.txt", "one from b\ntwo\n");

    assert!(matches!(repo.merge("a"), Ok(MergeOutcome::Merged { .. })));
    let head = fixture.head();
    let outcome = repo.merge("b").expect("merge b");

    assert_eq!(
        outcome,
        MergeOutcome::Conflict {
            files: vec!["shared.txt".to_owned()]
        }
    );
    assert_eq!(fixture.head(), head);
    assert!(
        fixture.tracked_changes().is_empty(),
        "{}",
        fixture.tracked_changes()
    );
    assert!(!fixture.root.join(".git/MERGE_HEAD").exists());
    let shared = fs::read_to_string(fixture.root.join("shared.txt")).expect("shared");
    assert_eq!(shared, "one from a\ntwo\n");
    assert!(b.join("shared.txt").is_file(), "worktree b is kept");
    assert!(fixture.branches().lines().any(|b| b == "ralph/b"));
}

#[test]
fn merge_rejects_dirty_main_checkout() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    complete(&path, "a", "a.txt", "done\n");
    fs::write(fixture.root.join("README.md"), "changed\n").expect("modify");

    let error = repo.merge("a").expect_err("dirty");
    assert!(matches!(error, WorktreeError::Dirty { .. }), "{error:?}");
}

#[test]
fn merge_rejects_changed_base_branch() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    complete(&path, "a", "a.txt", "done\n");
    git(&fixture.root, &["checkout", "-q", "-b", "other"]);

    let error = repo.merge("a").expect_err("other branch");
    let WorktreeError::BranchChanged { current, .. } = &error else {
        panic!("expected BranchChanged, got {error:?}");
    };
    assert_eq!(current, "other");
}

#[test]
fn merge_fails_on_untracked_file_in_the_way() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    complete(&path, "a", "a.txt", "from a\n");
    fs::write(fixture.root.join("a.txt"), "untracked\n").expect("write");
    let head = fixture.head();

    let error = repo.merge("a").expect_err("untracked file in the way");
    assert!(matches!(error, WorktreeError::Git { .. }), "{error:?}");
    assert_eq!(fixture.head(), head);
    let text = fs::read_to_string(fixture.root.join("a.txt")).expect("read");
    assert_eq!(text, "untracked\n");
    assert!(!fixture.root.join(".git/MERGE_HEAD").exists());
}

#[test]
fn merge_rejects_missing_branch() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let error = repo.merge("a").expect_err("no branch");
    assert!(
        matches!(error, WorktreeError::BranchNotFound { .. }),
        "{error:?}"
    );
}

#[test]
fn merge_rejects_branch_changing_run_dir() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    fs::create_dir_all(path.join(".tf/ralph")).expect("create run dir");
    fs::write(path.join(".tf/ralph/state.json"), "{}").expect("write");
    git(&path, &["add", "-f", ".tf/ralph/state.json"]);
    git(&path, &["commit", "-q", "-m", "Add state"]);
    let head = fixture.head();

    let error = repo.merge("a").expect_err("run dir");
    let WorktreeError::TouchesRunDirectory { files, .. } = &error else {
        panic!("expected TouchesRunDirectory, got {error:?}");
    };
    assert_eq!(files, &[".tf/ralph/state.json"]);
    assert_eq!(fixture.head(), head);
}

#[test]
fn run_dir_survives_create_merge_remove() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let state = fixture.root.join(".tf/ralph/dispatch-loop-state.json");
    fs::create_dir_all(state.parent().expect("parent")).expect("create run dir");
    fs::write(&state, "{\"version\":2}").expect("write state");

    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    complete(&path, "a", "a.txt", "done\n");
    repo.merge("a").expect("merge");
    repo.remove(Path::new(WORKTREES), "a", false)
        .expect("remove");

    assert_eq!(
        fs::read_to_string(&state).expect("state"),
        "{\"version\":2}"
    );
    let tracked = git(&fixture.root, &["ls-files", ".tf"]);
    assert!(tracked.is_empty(), "{tracked}");
}

#[test]
fn ticket_ids_are_validated() {
    let valid = ["a", "ptw-5pax", "T_1.2", "x-"];
    for id in valid {
        assert!(validate_ticket_id(id).is_ok(), "{id:?} is valid");
    }
    let invalid = [
        "", "../x", "a/b", "a;b", "-rf", ".hidden", "a b", "a\nb", "a..b", "x.lock", "x.", "ü",
        "a\\b", "$(id)",
    ];
    for id in invalid {
        let error = validate_ticket_id(id).expect_err(id);
        assert!(
            matches!(error, WorktreeError::InvalidTicketId { .. }),
            "{id:?}"
        );
    }
}

#[test]
fn hostile_ids_touch_nothing() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    for id in ["../x", "a;b", "-rf", "..", "/etc"] {
        let create = repo.create(Path::new(WORKTREES), id).expect_err(id);
        assert!(
            matches!(create, WorktreeError::InvalidTicketId { .. }),
            "{id:?}"
        );
        let merge = repo.merge(id).expect_err(id);
        assert!(
            matches!(merge, WorktreeError::InvalidTicketId { .. }),
            "{id:?}"
        );
        let remove = repo.remove(Path::new(WORKTREES), id, false).expect_err(id);
        assert!(
            matches!(remove, WorktreeError::InvalidTicketId { .. }),
            "{id:?}"
        );
    }
    assert_eq!(fixture.branches().trim(), "main");
    assert!(!fixture.root.join(".tf").exists());
    assert!(!fixture.root.parent().expect("parent").join("x").exists());
}

#[test]
fn create_rejects_existing_path_and_branch() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    repo.create(Path::new(WORKTREES), "a").expect("create");

    let error = repo
        .create(Path::new(WORKTREES), "a")
        .expect_err("path exists");
    assert!(
        matches!(error, WorktreeError::PathExists { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(WORKTREES), "{error}");

    repo.remove(Path::new(WORKTREES), "a", true)
        .expect("remove");
    let error = repo
        .create(Path::new(WORKTREES), "a")
        .expect_err("branch exists");
    let WorktreeError::BranchExists { branch } = &error else {
        panic!("expected BranchExists, got {error:?}");
    };
    assert_eq!(branch, "ralph/a");
}

#[test]
fn symlink_in_worktrees_dir_is_rejected() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let outside = tempfile::tempdir().expect("temp dir");
    fs::write(outside.path().join("keep.txt"), "keep\n").expect("write");
    let dir = fixture.root.join(WORKTREES);
    fs::create_dir_all(&dir).expect("create worktrees dir");
    std::os::unix::fs::symlink(outside.path(), dir.join("a")).expect("symlink");

    let create = repo.create(Path::new(WORKTREES), "a").expect_err("symlink");
    assert!(
        matches!(create, WorktreeError::PathExists { .. }),
        "{create:?}"
    );
    let remove = repo
        .remove(Path::new(WORKTREES), "a", true)
        .expect_err("symlink");
    assert!(
        matches!(remove, WorktreeError::OutsideWorktreesDir { .. }),
        "{remove:?}"
    );
    let saved = repo.ticket_of_worktree(Path::new(WORKTREES), &dir.join("a"));
    assert!(
        matches!(saved, Err(WorktreeError::OutsideWorktreesDir { .. })),
        "{saved:?}"
    );
    assert!(outside.path().join("keep.txt").is_file());
}

#[test]
fn remove_rejects_unregistered_directory() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let dir = fixture.worktree("a");
    fs::create_dir_all(&dir).expect("create");
    fs::write(dir.join("keep.txt"), "keep\n").expect("write");

    let error = repo
        .remove(Path::new(WORKTREES), "a", true)
        .expect_err("not a worktree");
    assert!(
        matches!(error, WorktreeError::NotAWorktree { .. }),
        "{error:?}"
    );
    assert!(dir.join("keep.txt").is_file());
}

#[test]
fn saved_worktree_paths_are_checked() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let dir = Path::new(WORKTREES);
    let inside = fixture.worktree("a");

    assert_eq!(repo.ticket_of_worktree(dir, &inside).expect("inside"), "a");
    let relative = Path::new(WORKTREES).join("a");
    assert_eq!(
        repo.ticket_of_worktree(dir, &relative).expect("relative"),
        "a"
    );

    let escapes = [
        fixture.root.join(WORKTREES).join("..").join("a"),
        fixture.root.join("a"),
        PathBuf::from("/tmp/a"),
        fixture.root.join(WORKTREES).join("a").join("b"),
        fixture.root.join(WORKTREES),
    ];
    for path in &escapes {
        let error = repo.ticket_of_worktree(dir, path).expect_err("outside");
        assert!(
            matches!(error, WorktreeError::OutsideWorktreesDir { .. }),
            "{}: {error:?}",
            path.display()
        );
    }
    let hostile = fixture.root.join(WORKTREES).join("-rf");
    let error = repo.ticket_of_worktree(dir, &hostile).expect_err("hostile");
    assert!(
        matches!(error, WorktreeError::InvalidTicketId { .. }),
        "{error:?}"
    );
}

#[test]
fn remove_keeps_unmerged_branch() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    complete(&path, "a", "a.txt", "done\n");

    let error = repo
        .remove(Path::new(WORKTREES), "a", false)
        .expect_err("unmerged");
    let WorktreeError::UnmergedBranch { commits, .. } = &error else {
        panic!("expected UnmergedBranch, got {error:?}");
    };
    assert_eq!(*commits, 1);
    assert!(path.is_dir(), "nothing is removed");

    repo.remove(Path::new(WORKTREES), "a", true)
        .expect("remove keeping branch");
    assert!(!path.exists());
    assert!(fixture.branches().lines().any(|b| b == "ralph/a"));
}

#[test]
fn remove_discards_uncommitted_changes() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let path = repo.create(Path::new(WORKTREES), "a").expect("create");
    fs::write(path.join("README.md"), "half done\n").expect("modify");
    fs::write(path.join("scratch.txt"), "scratch\n").expect("write");

    repo.remove(Path::new(WORKTREES), "a", false)
        .expect("remove");
    assert!(!path.exists());
    assert_eq!(fixture.branches().trim(), "main");
}

#[test]
fn remove_of_missing_worktree_is_not_an_error() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    repo.remove(Path::new(WORKTREES), "a", false)
        .expect("nothing to remove");
    let path = repo.create(Path::new(WORKTREES), "b").expect("create");
    fs::remove_dir_all(&path).expect("delete worktree by hand");
    repo.remove(Path::new(WORKTREES), "b", false)
        .expect("remove vanished worktree");
    assert_eq!(fixture.branches().trim(), "main");
}

#[test]
fn leftovers_report_each_branch_state() {
    let fixture = Fixture::new();
    let repo = fixture.open();
    let dir = Path::new(WORKTREES);

    // a: merged, worktree removed, branch kept.
    let a = repo.create(dir, "a").expect("create a");
    complete(&a, "a", "a.txt", "a\n");
    repo.merge("a").expect("merge a");
    repo.remove(dir, "a", true).expect("remove a");
    // b: two commits not merged, worktree kept.
    let b = repo.create(dir, "b").expect("create b");
    complete(&b, "b", "b.txt", "b\n");
    fs::write(b.join("b2.txt"), "b2\n").expect("write");
    git(&b, &["add", "-A"]);
    git(&b, &["commit", "-q", "-m", "More b"]);
    // c: no commits, worktree kept.
    let c = repo.create(dir, "c").expect("create c");
    // d: worktree directory deleted by hand, branch without commits.
    let d = repo.create(dir, "d").expect("create d");
    fs::remove_dir_all(&d).expect("delete d");
    // Not listed: another branch, a worktree elsewhere, an invalid name.
    git(&fixture.root, &["branch", "feature"]);
    git(&fixture.root, &["branch", "ralph/x/y"]);
    let elsewhere = fixture.root.join("elsewhere");
    let elsewhere = elsewhere.to_str().expect("UTF-8 temp path");
    git(
        &fixture.root,
        &["worktree", "add", "-q", "-b", "side", elsewhere],
    );

    let leftovers = repo.leftovers(dir).expect("leftovers");

    let expected = vec![
        Leftover {
            ticket: "a".to_owned(),
            worktree: None,
            branch: Some(BranchState::Merged),
        },
        Leftover {
            ticket: "b".to_owned(),
            worktree: Some(b),
            branch: Some(BranchState::Unmerged { commits: 2 }),
        },
        Leftover {
            ticket: "c".to_owned(),
            worktree: Some(c),
            branch: Some(BranchState::Empty),
        },
        Leftover {
            ticket: "d".to_owned(),
            worktree: Some(d),
            branch: Some(BranchState::Empty),
        },
    ];
    assert_eq!(leftovers, expected);
}

#[test]
fn subdirectory_project_maps_into_worktree() {
    let temp = tempfile::tempdir().expect("temp dir");
    let top = fs::canonicalize(temp.path()).expect("canonical");
    let project = top.join("project");
    fs::create_dir_all(&project).expect("create project dir");
    init_repo(&top);
    fs::create_dir_all(project.join(".tickets")).expect("create .tickets");
    fs::write(ticket_file(&project, "a"), ticket_text("a", "open")).expect("write ticket");
    git(&top, &["add", "-A"]);
    git(&top, &["commit", "-q", "-m", "Add project"]);

    let repo = Repo::open_for_parallel(&project).expect("open");
    let path = repo.create(Path::new(WORKTREES), "a").expect("create");

    assert_eq!(path, project.join(WORKTREES).join("a"));
    let inner = repo.project_dir_in(&path);
    assert_eq!(inner, path.join("project"));
    assert!(ticket_file(&inner, "a").is_file());
    let exclude = fs::read_to_string(top.join(".git/info/exclude")).expect("exclude");
    assert!(
        exclude.lines().any(|line| line == "/project/.tf/ralph/"),
        "{exclude}"
    );
}

/// Agent processes of a test, killed and reaped on drop so that a failing
/// test leaves none behind.
struct Agents {
    running: Vec<(String, Vec<&'static str>, std::process::Child)>,
}

impl Drop for Agents {
    fn drop(&mut self) {
        for (_, _, child) in &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts an agent in `worktree` that writes `<ticket>.txt`, closes its
/// ticket and commits both.
fn spawn_agent(worktree: &Path, ticket: &str) -> std::process::Child {
    let script = r#"
        printf '%s\n' "$TICKET" > "$TICKET.txt"
        printf -- '---\nid: %s\nstatus: closed\n---\n' "$TICKET" > ".tickets/$TICKET.md"
        git add -A && git commit -q -m "Do $TICKET"
    "#;
    Command::new("sh")
        .args(["-c", script])
        .current_dir(worktree)
        .env("TICKET", ticket)
        .env("GIT_AUTHOR_NAME", "Test Agent")
        .env("GIT_AUTHOR_EMAIL", "agent@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test Agent")
        .env("GIT_COMMITTER_EMAIL", "agent@example.invalid")
        .spawn()
        .expect("spawn agent")
}

/// Drives a small parallel run: selection picks tickets with disjoint
/// components, real agent processes commit in their worktrees while
/// finished ones are merged into the main checkout.
#[test]
fn parallel_run_merges_every_ticket() {
    use crate::select::{Candidate, select};

    const PARALLEL: usize = 4;
    let pool = ["api", "cli", "docs", "tests", "config"];
    let tickets: Vec<(String, Vec<&'static str>)> = (0..24)
        .map(|i| {
            let components = match i % 6 {
                0 => vec![],
                1 => vec![pool[i % 5], pool[(i + 1) % 5]],
                _ => vec![pool[i % 5]],
            };
            (format!("t{i:02}"), components)
        })
        .collect();

    let fixture = Fixture::new();
    for (ticket, _) in &tickets {
        let path = ticket_file(&fixture.root, ticket);
        fs::write(path, ticket_text(ticket, "open")).expect("write ticket");
    }
    git(&fixture.root, &["add", "-A"]);
    git(&fixture.root, &["commit", "-q", "-m", "Add backlog"]);
    let repo = fixture.open();
    let dir = Path::new(WORKTREES);

    let mut agents = Agents {
        running: Vec::new(),
    };
    let mut pending: Vec<&(String, Vec<&'static str>)> = tickets.iter().collect();
    let mut merged = 0;
    let mut max_active = 0;
    while merged < tickets.len() {
        let ready: Vec<Candidate<'_>> = pending
            .iter()
            .map(|(id, components)| Candidate {
                id,
                components: components.clone(),
            })
            .collect();
        let active: Vec<Candidate<'_>> = agents
            .running
            .iter()
            .map(|(id, components, _)| Candidate {
                id,
                components: components.clone(),
            })
            .collect();
        let slots = PARALLEL - active.len();
        let picked: Vec<String> = select(&ready, &active, slots, false)
            .into_iter()
            .map(str::to_owned)
            .collect();
        drop(active);

        for ticket in picked {
            let index = pending
                .iter()
                .position(|(id, _)| *id == ticket)
                .expect("pending");
            let components = pending.remove(index).1.clone();
            for (other, other_components, _) in &agents.running {
                let shared = components.iter().any(|c| other_components.contains(c));
                assert!(!shared, "{ticket} shares a component with {other}");
                let untagged = components.is_empty() || other_components.is_empty();
                assert!(!untagged, "untagged {ticket} or {other} ran beside another");
            }
            let worktree = repo.create(dir, &ticket).expect("create");
            let child = spawn_agent(&worktree, &ticket);
            agents.running.push((ticket, components, child));
        }
        max_active = max_active.max(agents.running.len());

        let finished = agents
            .running
            .iter_mut()
            .position(|(_, _, child)| child.try_wait().expect("wait").is_some());
        let Some(position) = finished else {
            std::thread::sleep(std::time::Duration::from_millis(2));
            continue;
        };
        let (ticket, _, mut child) = agents.running.remove(position);
        assert!(
            child.wait().expect("wait").success(),
            "agent for {ticket} failed"
        );
        let text = fs::read_to_string(ticket_file(&fixture.worktree(&ticket), &ticket))
            .expect("ticket in worktree");
        assert!(text.contains("status: closed"), "{ticket}: {text}");
        let outcome = repo.merge(&ticket).expect("merge");
        assert!(
            matches!(outcome, MergeOutcome::Merged { .. }),
            "{ticket}: {outcome:?}"
        );
        repo.remove(dir, &ticket, false).expect("remove");
        merged += 1;
    }

    assert!(max_active > 1, "sessions ran in parallel");
    for (ticket, _) in &tickets {
        assert!(
            fixture.root.join(format!("{ticket}.txt")).is_file(),
            "{ticket}"
        );
        let text = fs::read_to_string(ticket_file(&fixture.root, ticket)).expect("ticket");
        assert!(text.contains("status: closed"), "{ticket}: {text}");
    }
    assert!(repo.leftovers(dir).expect("leftovers").is_empty());
    assert_eq!(fixture.branches().trim(), "main");
    assert!(fixture.tracked_changes().is_empty());
}
