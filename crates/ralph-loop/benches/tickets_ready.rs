//! Whole-process `ralph-loop tickets ready` on synthetic backlogs: wall time
//! and peak memory per backlog size, beside tk's reference figures.
//!
//! Run with `cargo bench -p ralph-loop --bench tickets_ready`. Backlogs come
//! from `gen-backlog.py` in the `shared/tools` directory beside the
//! repository, with 30% of the tickets closed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_ralph-loop");
const GENERATOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/tools/gen-backlog.py"
);

/// Backlog sizes, and tk's time for `tk ready` on each in seconds.
///
/// tk is not installed on build machines, so these are reference figures:
/// 3.8 s for 10,000 tickets measured on a build machine, and about a
/// twentieth of that for 1,000.
const SIZES: [(usize, f64); 2] = [(1_000, 3.8 / 20.0), (10_000, 3.8)];

const WARMUP_RUNS: usize = 3;
const RUNS: usize = 30;

/// One finished run: wall time and peak resident set size in KiB.
struct Sample {
    wall: Duration,
    max_rss_kib: i64,
}

fn main() {
    println!("ralph-loop tickets ready, {RUNS} runs per size after {WARMUP_RUNS} warm-up runs");
    println!("tk figures are reference numbers from a build machine: tk is not installed here.");
    println!();
    println!(
        "{:>8}  {:>7}  {:>11}  {:>8}  {:>13}  {:>10}  {:>8}  {:>8}",
        "tickets",
        "ready",
        "median (ms)",
        "min (ms)",
        "peak RSS (MB)",
        "floor (ms)",
        "tk (ms)",
        "speedup"
    );
    for (tickets, tk_seconds) in SIZES {
        let dir = tempfile::tempdir().expect("create temp dir");
        generate(dir.path(), tickets);
        // Write the new files out now, so the kernel's writeback of them
        // does not compete with the timed runs for the CPU.
        // SAFETY: sync has no preconditions.
        unsafe { libc::sync() };
        let ready = count_ready(dir.path());

        for _ in 0..WARMUP_RUNS {
            run_once(dir.path());
        }
        let mut samples: Vec<Sample> = (0..RUNS).map(|_| run_once(dir.path())).collect();
        samples.sort_by_key(|sample| sample.wall);

        let median = samples[RUNS / 2].wall.as_secs_f64() * 1e3;
        let min = samples[0].wall.as_secs_f64() * 1e3;
        let max_rss_kib = samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0);
        let floor = read_floor(&dir.path().join(".tickets")).as_secs_f64() * 1e3;
        let tk_ms = tk_seconds * 1e3;
        println!(
            "{tickets:>8}  {ready:>7}  {median:>11.2}  {min:>8.2}  {:>13.1}  {floor:>10.2}  \
             {tk_ms:>8.0}  {:>7.0}x",
            max_rss_kib as f64 / 1024.0,
            tk_ms / median
        );
    }
    println!();
    println!("floor: the median time for this process to open and read every ticket file on");
    println!("two threads, without parsing; the system calls alone cost that much.");
}

/// Returns the median time to open and read every file of `dir` on two
/// threads, the least any reader of the whole backlog pays.
fn read_floor(dir: &Path) -> Duration {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("list tickets")
        .map(|entry| entry.expect("read entry").path())
        .collect();
    let second_half = paths.split_off(paths.len() / 2);
    let read_all = |paths: &[std::path::PathBuf]| {
        let mut buffer = vec![0u8; 16 * 1024];
        for path in paths {
            let mut file = std::fs::File::open(path).expect("open ticket");
            std::io::Read::read(&mut file, &mut buffer).expect("read ticket");
        }
    };

    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            std::thread::scope(|scope| {
                scope.spawn(|| read_all(&second_half));
                read_all(&paths);
            });
            started.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn generate(dir: &Path, tickets: usize) {
    let status = Command::new("python3")
        .arg(GENERATOR)
        .arg(dir)
        .args(["--tickets", &tickets.to_string(), "--closed", "0.3"])
        .stdout(Stdio::null())
        .status()
        .expect("run gen-backlog.py");
    assert!(status.success(), "gen-backlog.py failed: {status}");
}

fn count_ready(dir: &Path) -> usize {
    let output = Command::new(BINARY)
        .args(["tickets", "ready"])
        .current_dir(dir)
        .env_remove("TICKETS_DIR")
        .output()
        .expect("run ralph-loop");
    assert!(output.status.success(), "ralph-loop tickets ready failed");
    output.stdout.iter().filter(|&&byte| byte == b'\n').count()
}

/// Runs `ralph-loop tickets ready` once and reaps it with `wait4` for its rusage.
fn run_once(dir: &Path) -> Sample {
    let started = Instant::now();
    let child = Command::new(BINARY)
        .args(["tickets", "ready"])
        .current_dir(dir)
        .env_remove("TICKETS_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn ralph-loop");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");

    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child, and both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(
        reaped,
        pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "run failed"
    );
    // `child` is reaped by wait4 above; dropping it neither waits nor kills.
    drop(child);

    Sample {
        wall,
        // Linux reports ru_maxrss in KiB.
        max_rss_kib: usage.ru_maxrss,
    }
}
