//! Prints the cost of the dispatch loop with 8 sessions in flight:
//!
//! - the wall time of one `turn` on a 1,000-ticket synthetic backlog
//!   (goal: at most 20 ms), beside the start-up time of the binary itself
//!   and of `tickets ready` on the same backlog;
//! - the CPU time `run` uses over a 10-second window while its 8 sessions
//!   sleep, beside one supervisor's. The goal is under 0.5 % of one core
//!   over 60 s, and `RALPH_BENCH_CPU_SECONDS=60` sets that window.
//!
//! The synthetic backlog comes from `gen-backlog.py` in the shared tools,
//! so python3 must be installed. Nothing is asserted about time.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ralph-loop");
const SESSIONS: usize = 8;
const TURNS: usize = 30;
/// Returns the CPU window: `RALPH_BENCH_CPU_SECONDS`, or 10 s to keep the
/// benchmark short (the goal is stated for 60 s).
fn cpu_window() -> Duration {
    let seconds = std::env::var("RALPH_BENCH_CPU_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    Duration::from_secs(seconds.unwrap_or(10))
}

fn main() {
    let turn_dir = project(1000);
    let turn = measure_turns(&turn_dir);
    kill_under(&turn_dir);

    let run_dir = project(1000);
    let cpu = measure_run_cpu(&run_dir);
    kill_under(&run_dir);

    println!();
    println!("| measurement (1,000 tickets, {SESSIONS} sessions) | median | p90 | goal |");
    println!("| --- | --- | --- | --- |");
    for (name, samples, goal) in turn {
        println!(
            "| {name} | {} | {} | {goal} |",
            ms(percentile(&samples, 50)),
            ms(percentile(&samples, 90))
        );
    }
    println!();
    println!(
        "| CPU over {} s, {SESSIONS} sleeping sessions | share of one core | goal |",
        cpu_window().as_secs()
    );
    println!("| --- | --- | --- |");
    for (name, share, goal) in cpu {
        println!("| {name} | {share:.3} % | {goal} |");
    }
    let _ = fs::remove_dir_all(turn_dir);
    let _ = fs::remove_dir_all(run_dir);
}

/// Creates a temp project with a synthetic backlog and agents that sleep.
fn project(tickets: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ralph-loop-bench-{}-{tickets}-{}",
        std::process::id(),
        rand_suffix()
    ));
    fs::create_dir_all(dir.join(".tf/ralph")).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/tools/gen-backlog.py"
    );
    let status = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .args(["--tickets", &tickets.to_string()])
        .status()
        .expect("python3 is needed to generate the synthetic backlog");
    assert!(status.success(), "gen-backlog.py failed");
    git_init(&dir);
    let config = serde_json::json!({
        "maxIterations": 1000,
        "parallel": SESSIONS,
        "parallelAllowUntagged": true,
        "attemptTimeoutMs": 0,
        "gracePeriodMs": 200,
        "heartbeatIntervalMs": 5000,
        "agentCommand": [BIN, "__agent", "--behavior", "close", "--sleep-ms", "3600000", "{ticket}"],
    });
    fs::write(dir.join(".tf/ralph/config.json"), config.to_string()).unwrap();
    dir
}

/// Makes `dir` a git repository with the backlog committed, because
/// parallel sessions run in git worktrees.
fn git_init(dir: &Path) {
    fs::write(dir.join(".gitignore"), "/.tf/ralph/\n").unwrap();
    let steps: [&[&str]; 5] = [
        &["init", "--quiet", "--initial-branch=main"],
        &["config", "user.name", "Bench"],
        &["config", "user.email", "bench@example.invalid"],
        &["add", "--all"],
        &["commit", "--quiet", "-m", "Add the backlog"],
    ];
    for args in steps {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?} failed");
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000
}

fn ralph(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn time(mut command: Command) -> Duration {
    let start = Instant::now();
    let status = command.status().unwrap();
    let elapsed = start.elapsed();
    assert!(status.success(), "{command:?} failed");
    elapsed
}

fn measure_turns(dir: &Path) -> Vec<(&'static str, Vec<Duration>, &'static str)> {
    // The first turn launches the 8 sessions; the measured ones find them
    // in flight, reconcile them and launch nothing.
    time(ralph(dir, &["turn"]));
    wait_started(dir, SESSIONS);
    let mut version = Vec::new();
    let mut ready = Vec::new();
    let mut turns = Vec::new();
    for _ in 0..TURNS {
        version.push(time(ralph(dir, &["--version"])));
        ready.push(time(ralph(dir, &["tickets", "ready"])));
        turns.push(time(ralph(dir, &["turn"])));
    }
    vec![
        ("baseline: `ralph-loop --version`", version, "-"),
        ("baseline: `ralph-loop tickets ready`", ready, "-"),
        ("`ralph-loop turn`", turns, "<= 20 ms"),
    ]
}

fn measure_run_cpu(dir: &Path) -> Vec<(&'static str, f64, &'static str)> {
    let mut run = ralph(dir, &["run", "--no-progress"]).spawn().unwrap();
    wait_started(dir, SESSIONS);
    thread::sleep(Duration::from_secs(1));
    let supervisor = supervisor_pid(dir);
    let run_start = cpu_ticks(run.id());
    let supervisor_start = supervisor.map(cpu_ticks);
    thread::sleep(cpu_window());
    let run_used = cpu_ticks(run.id()) - run_start;
    let supervisor_used = supervisor
        .map(cpu_ticks)
        .zip(supervisor_start)
        .map(|(end, start)| end - start);

    let _ = Command::new("kill")
        .arg("-INT")
        .arg(run.id().to_string())
        .status();
    let _ = run.wait();
    let share =
        |ticks: u64| ticks as f64 / clock_ticks() as f64 / cpu_window().as_secs_f64() * 100.0;
    vec![
        (
            "baseline: one session supervisor",
            supervisor_used.map(share).unwrap_or(f64::NAN),
            "-",
        ),
        ("`ralph-loop run`", share(run_used), "< 0.5 %"),
    ]
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let field = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the command name, utime and stime are fields 12 and 13 (from 0).
    field(11) + field(12)
}

fn clock_ticks() -> u64 {
    let output = Command::new("getconf").arg("CLK_TCK").output();
    output
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

fn wait_started(dir: &Path, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let started = fs::read_dir(dir.join(".tf/ralph/sessions"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "started"))
                    .filter(|e| {
                        fs::read_to_string(e.path()).is_ok_and(|t| t.contains("\"agent\": {"))
                    })
                    .count()
            })
            .unwrap_or(0);
        if started >= count {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("the sessions did not start in {}", dir.display());
}

fn supervisor_pid(dir: &Path) -> Option<u32> {
    pids_under(dir).into_iter().find(|pid| {
        fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains("__supervise"))
    })
}

fn pids_under(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cwd.starts_with(dir) || String::from_utf8_lossy(&cmdline).contains(&needle) {
            pids.push(pid);
        }
    }
    pids
}

fn kill_under(dir: &Path) {
    for _ in 0..3 {
        let pids = pids_under(dir);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn percentile(samples: &[Duration], percent: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() - 1) * percent / 100]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}
