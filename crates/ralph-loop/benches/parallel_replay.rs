//! Wall time of a whole `ralph-loop run` over the replay backlog (238
//! tickets) with agents that sleep 200 ms, commit a file and close their
//! ticket, at several `parallel` settings. Serial in the main checkout is
//! the baseline for the speed-up figure. A second table runs a synthetic
//! backlog whose tickets have no dependencies and 8 components in turn, to
//! show the speed-up when components do not keep sessions apart.
//!
//! Run with `cargo bench -p ralph-loop --bench parallel_replay`. The
//! replay backlog comes from `shared/backlogs` beside the repository, and
//! git must be installed. Nothing is asserted about time.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ralph-loop");
const REPLAY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/backlogs/ticketflow-replay/.tickets"
);
const AGENT_SLEEP_MS: u64 = 200;

/// One configuration to time: its label and the config keys it sets.
struct Case {
    label: &'static str,
    config: serde_json::Value,
}

fn main() {
    let cases = [
        Case {
            label: "parallel 1, main checkout (baseline)",
            config: serde_json::json!({"parallel": 1}),
        },
        Case {
            label: "parallel 1, worktrees",
            config: serde_json::json!({"parallel": 1, "serialUseWorktree": true}),
        },
        Case {
            label: "parallel 2",
            config: serde_json::json!({"parallel": 2}),
        },
        Case {
            label: "parallel 4",
            config: serde_json::json!({"parallel": 4}),
        },
        Case {
            label: "parallel 4, parallelAllowUntagged",
            config: serde_json::json!({"parallel": 4, "parallelAllowUntagged": true}),
        },
    ];

    replay(&cases);
    println!();
    synthetic();
}

fn replay(cases: &[Case]) {
    let (tickets, path) = critical_path(Path::new(REPLAY));
    let agent_seconds = AGENT_SLEEP_MS as f64 / 1000.0;
    println!(
        "replay backlog: {tickets} tickets, agents sleep {AGENT_SLEEP_MS} ms; \
         sleeping alone takes {:.1} s serially, and the longest dependency chain \
         ({path} tickets) {:.1} s at any parallelism",
        tickets as f64 * agent_seconds,
        path as f64 * agent_seconds
    );
    println!();
    println!("| run | wall time | speed-up | sessions/s |");
    println!("| --- | ---: | ---: | ---: |");
    let mut baseline = None;
    for case in cases {
        let wall = time_run(&case.config, copy_replay);
        let baseline = *baseline.get_or_insert(wall);
        println!(
            "| {} | {:.1} s | {:.2}x | {:.1} |",
            case.label,
            wall.as_secs_f64(),
            baseline.as_secs_f64() / wall.as_secs_f64(),
            tickets as f64 / wall.as_secs_f64()
        );
    }
}

/// Tickets of the synthetic backlog, and how many components they share
/// out in turn.
const SYNTHETIC_TICKETS: usize = 96;
const SYNTHETIC_COMPONENTS: usize = 8;

fn synthetic() {
    println!(
        "synthetic backlog: {SYNTHETIC_TICKETS} tickets without dependencies, components \
         c0 to c{} in turn, agents sleep {AGENT_SLEEP_MS} ms",
        SYNTHETIC_COMPONENTS - 1
    );
    println!();
    println!("| run | wall time | speed-up | sessions/s |");
    println!("| --- | ---: | ---: | ---: |");
    let mut baseline = None;
    for parallel in [1, 2, 4] {
        let config = serde_json::json!({"parallel": parallel, "serialUseWorktree": true});
        let wall = time_run(&config, write_synthetic);
        let baseline = *baseline.get_or_insert(wall);
        println!(
            "| parallel {parallel}, worktrees | {:.1} s | {:.2}x | {:.1} |",
            wall.as_secs_f64(),
            baseline.as_secs_f64() / wall.as_secs_f64(),
            SYNTHETIC_TICKETS as f64 / wall.as_secs_f64()
        );
    }
}

fn copy_replay(tickets: &Path) {
    for entry in fs::read_dir(REPLAY).expect("read the replay backlog") {
        let entry = entry.unwrap();
        fs::copy(entry.path(), tickets.join(entry.file_name())).unwrap();
    }
}

fn write_synthetic(tickets: &Path) {
    for index in 0..SYNTHETIC_TICKETS {
        let id = format!("syn-{index:03}");
        let text = format!(
            "---\nid: {id}\nstatus: open\ndeps: []\nlinks: []\ntype: task\npriority: 2\n\
             tags: [component:c{}]\n---\n# Synthetic ticket {index}\n",
            index % SYNTHETIC_COMPONENTS
        );
        fs::write(tickets.join(format!("{id}.md")), text).unwrap();
    }
}

/// Sets up a fresh repository with the backlog `fill` writes, runs the
/// loop to its end and returns the wall time of the run.
fn time_run(config: &serde_json::Value, fill: fn(&Path)) -> Duration {
    let dir = tempfile::Builder::new()
        .prefix("ralph-loop-bench-")
        .tempdir()
        .expect("create temp dir");
    let root = dir.path();
    let tickets = root.join(".tickets");
    fs::create_dir_all(&tickets).unwrap();
    fill(&tickets);
    fs::write(root.join(".gitignore"), "/.tf/ralph/\n").unwrap();
    for args in [
        &["init", "--quiet", "--initial-branch=main"][..],
        &["config", "user.name", "Bench"],
        &["config", "user.email", "bench@example.invalid"],
        &["add", "--all"],
        &["commit", "--quiet", "-m", "Add the backlog"],
    ] {
        git(root, args);
    }

    let mut config = config.clone();
    let sleep = AGENT_SLEEP_MS.to_string();
    let agent = [
        BIN,
        "__agent",
        "--behavior",
        "commit",
        "--sleep-ms",
        &sleep,
        "{ticket}",
    ];
    config["agentCommand"] = serde_json::json!(agent);
    config["maxIterations"] = serde_json::json!(1000);
    let ralph = root.join(".tf/ralph");
    fs::create_dir_all(&ralph).unwrap();
    fs::write(ralph.join("config.json"), config.to_string()).unwrap();

    let start = Instant::now();
    let status = Command::new(BIN)
        .arg("-C")
        .arg(root)
        .args(["run", "--no-progress", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run ralph-loop");
    let wall = start.elapsed();
    assert!(status.success(), "ralph-loop run failed: {status}");
    assert_all_closed(&tickets);
    wall
}

/// Checks that the run closed every ticket, so that no figure comes from
/// a run whose sessions failed.
fn assert_all_closed(tickets: &Path) {
    for entry in fs::read_dir(tickets).expect("read the tickets") {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.lines().any(|line| line == "status: closed"),
            "{} is not closed after the run",
            path.display()
        );
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Returns the number of tickets not yet closed and the length of the
/// longest dependency chain among them.
fn critical_path(dir: &Path) -> (usize, usize) {
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    for entry in fs::read_dir(dir).expect("read the replay backlog") {
        let path: PathBuf = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or("")
                .to_owned()
        };
        if field("status: ") == "closed" {
            continue;
        }
        let list = field("deps: ");
        let list = list.trim_start_matches('[').trim_end_matches(']');
        let ids = list
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect();
        deps.insert(field("id: "), ids);
    }

    let mut depth: HashMap<String, usize> = HashMap::new();
    let ids: Vec<String> = deps.keys().cloned().collect();
    let longest = ids
        .iter()
        .map(|id| chain(id, &deps, &mut depth, 0))
        .max()
        .unwrap_or(0);
    (deps.len(), longest)
}

/// Returns the length of the longest chain of open tickets ending at `id`.
fn chain(
    id: &str,
    deps: &HashMap<String, Vec<String>>,
    depth: &mut HashMap<String, usize>,
    guard: usize,
) -> usize {
    if let Some(known) = depth.get(id) {
        return *known;
    }
    let Some(own) = deps.get(id) else {
        return 0;
    };
    // A cycle cannot run at all; the guard stops the walk around it.
    if guard > deps.len() {
        return 0;
    }
    let longest = own
        .iter()
        .map(|dep| chain(dep, deps, depth, guard + 1))
        .max()
        .unwrap_or(0);
    depth.insert(id.to_owned(), longest + 1);
    longest + 1
}
