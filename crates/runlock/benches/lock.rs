//! Run lock figures, printed as a table beside a baseline measured in the
//! same run. Nothing here asserts on time.
//!
//! - uncontended `acquire` + `release` in one process, beside the floor of a
//!   bare `open(O_CREAT | O_EXCL)` + `write` + `unlink`;
//! - 16 processes contending: handoffs per second and the longest wait;
//! - SIGKILL of the holder to the next acquisition by a waiting process.
//!
//! Run with `cargo bench -p runlock --bench lock`. The benchmark re-runs
//! its own executable as worker processes, selected by `RUNLOCK_BENCH_ROLE`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use runlock::{Options, acquire};

const ROLE: &str = "RUNLOCK_BENCH_ROLE";
const UNCONTENDED_ROUNDS: usize = 5_000;
const WORKERS: usize = 16;
const WORKER_ROUNDS: usize = 100;
const KILL_ROUNDS: usize = 20;

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("contend") => contend_worker(),
        Ok("hold") => hold_worker(),
        Ok("wait") => wait_worker(),
        _ => run_all(),
    }
}

fn lock_path() -> PathBuf {
    PathBuf::from(std::env::var_os("RUNLOCK_BENCH_LOCK").expect("lock path"))
}

fn run_all() {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let lock = dir.path().join("dispatch-loop.lock");
    println!("run lock benchmark in {}", dir.path().display());
    println!();
    println!("{:<44} {:>14} {:>14}", "measure", "value", "baseline");

    let (floor, locked) = uncontended_micros(dir.path(), &lock);
    println!(
        "{:<44} {:>11.1} µs {:>11.1} µs",
        "uncontended acquire+release (median)", locked, floor
    );
    println!(
        "{:<44} {:>13.2}x {:>14}",
        "  ratio to open(O_EXCL)+write+unlink",
        locked / floor,
        "goal <= 1.5x"
    );

    let events = event_log_micros(dir.path());
    println!(
        "{:<44} {:>14} {:>11.1} µs",
        "  of which the two event log lines", "", events
    );

    let (handoffs, longest) = contention(&lock);
    println!(
        "{:<44} {:>12.0}/s {:>14}",
        "16 processes: handoffs", handoffs, ""
    );
    println!(
        "{:<44} {:>11.1} ms {:>14}",
        "16 processes: longest wait",
        longest.as_secs_f64() * 1000.0,
        ""
    );

    let (median, max) = kill_latency(&lock);
    println!(
        "{:<44} {:>11.2} ms {:>14}",
        "SIGKILL of holder to next acquire (median)", median, "goal <= 5 ms"
    );
    println!(
        "{:<44} {:>11.2} ms {:>14}",
        "SIGKILL of holder to next acquire (max)", max, ""
    );
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Measures one round of the floor: a bare exclusive create, write and
/// remove of a record-sized file.
fn floor_round(path: &Path, line: &[u8]) -> f64 {
    let start = Instant::now();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .expect("create the floor file");
    file.write_all(line).expect("write");
    drop(file);
    std::fs::remove_file(path).expect("remove");
    start.elapsed().as_secs_f64() * 1e6
}

fn lock_round(lock: &Path, options: &Options) -> f64 {
    let start = Instant::now();
    let held = acquire(lock, options)
        .expect("acquire")
        .into_lock()
        .expect("the lock is free");
    held.release().expect("release");
    start.elapsed().as_secs_f64() * 1e6
}

/// Returns the median floor and the median acquire+release, in
/// microseconds, measured in alternating rounds.
///
/// Alternating keeps both sides on the same filesystem state. On ext4
/// without a journal, inode allocation skips inodes freed in the last few
/// minutes (`recently_deleted` in Linux's fs/ext4/ialloc.c). So every
/// round makes later creates slower, and of two loops run one after the
/// other, the second would also pay for the first one's removals.
fn uncontended_micros(dir: &Path, lock: &Path) -> (f64, f64) {
    let path = dir.join("floor.lock");
    let line = vec![b'x'; 240];
    let options = Options::default();
    let mut floor = Vec::with_capacity(UNCONTENDED_ROUNDS);
    let mut locked = Vec::with_capacity(UNCONTENDED_ROUNDS);
    for round in 0..UNCONTENDED_ROUNDS {
        // Swap the order every round, so that neither side always runs
        // right after the other's removal.
        if round % 2 == 0 {
            floor.push(floor_round(&path, &line));
            locked.push(lock_round(lock, &options));
        } else {
            locked.push(lock_round(lock, &options));
            floor.push(floor_round(&path, &line));
        }
    }
    (median(floor), median(locked))
}

/// Measures the two event log lines one acquire+release cycle writes:
/// open with `O_APPEND`, write, fstat, write, close.
fn event_log_micros(dir: &Path) -> f64 {
    let path = dir.join("events.jsonl");
    let line = vec![b'x'; 200];
    let mut samples = Vec::with_capacity(UNCONTENDED_ROUNDS);
    for _ in 0..UNCONTENDED_ROUNDS {
        let start = Instant::now();
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .expect("open the log");
        file.write_all(&line).expect("write");
        file.metadata().expect("stat");
        file.write_all(&line).expect("write");
        drop(file);
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let _ = std::fs::remove_file(&path);
    median(samples)
}

fn spawn(role: &str, lock: &Path) -> Child {
    Command::new(std::env::current_exe().expect("own executable"))
        .env(ROLE, role)
        .env("RUNLOCK_BENCH_LOCK", lock)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn a worker")
}

/// Returns handoffs per second and the longest single wait.
fn contention(lock: &Path) -> (f64, Duration) {
    let mut workers: Vec<Child> = (0..WORKERS).map(|_| spawn("contend", lock)).collect();
    let start = Instant::now();
    for worker in &mut workers {
        // Release all workers together.
        drop(worker.stdin.take());
    }
    let mut longest = Duration::ZERO;
    for worker in workers {
        let output = worker.wait_with_output().expect("wait for a worker");
        let text = String::from_utf8_lossy(&output.stdout);
        let nanos: u64 = text.trim().parse().expect("a worker's longest wait");
        longest = longest.max(Duration::from_nanos(nanos));
    }
    let handoffs = (WORKERS * WORKER_ROUNDS) as f64 / start.elapsed().as_secs_f64();
    (handoffs, longest)
}

fn contend_worker() {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let options = Options {
        wait: Some(Duration::from_secs(600)),
        ..Options::default()
    };
    let mut longest = Duration::ZERO;
    for _ in 0..WORKER_ROUNDS {
        let start = Instant::now();
        let mut silent = |_: &runlock::Busy| {};
        let hooks = runlock::Hooks {
            on_wait: Some(&mut silent),
            interrupted: None,
        };
        let held = runlock::acquire_with(&lock_path(), &options, hooks)
            .expect("acquire")
            .into_lock()
            .expect("acquired within the wait");
        longest = longest.max(start.elapsed());
        held.release().expect("release");
    }
    println!("{}", longest.as_nanos());
}

/// Returns the median and the largest latency, in milliseconds, from the
/// SIGKILL of a holder to the acquisition by a process already waiting.
fn kill_latency(lock: &Path) -> (f64, f64) {
    let mut samples = Vec::with_capacity(KILL_ROUNDS);
    for _ in 0..KILL_ROUNDS {
        let mut holder = spawn("hold", lock);
        expect_line(&mut holder, "held");
        let mut waiter = spawn("wait", lock);
        expect_line(&mut waiter, "waiting");
        std::thread::sleep(Duration::from_millis(20));

        let killed_at = epoch_nanos();
        holder.kill().expect("kill the holder");
        holder.wait().expect("reap the holder");
        let output = waiter.wait_with_output().expect("wait for the waiter");
        let acquired_at: u128 = String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("the waiter's acquisition time");
        samples.push(acquired_at.saturating_sub(killed_at) as f64 / 1e6);
    }
    let max = samples.iter().copied().fold(0.0, f64::max);
    (median(samples), max)
}

fn expect_line(child: &mut Child, expected: &str) {
    let stdout = child.stdout.as_mut().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read a line");
    assert_eq!(line.trim(), expected);
}

fn epoch_nanos() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
}

fn hold_worker() {
    let _held = acquire(&lock_path(), &Options::default())
        .expect("acquire")
        .into_lock()
        .expect("the lock is free");
    println!("held");
    std::thread::sleep(Duration::from_secs(600));
}

fn wait_worker() {
    let options = Options {
        wait: Some(Duration::from_secs(60)),
        ..Options::default()
    };
    let mut announce = |_: &runlock::Busy| println!("waiting");
    let hooks = runlock::Hooks {
        on_wait: Some(&mut announce),
        interrupted: None,
    };
    let held = runlock::acquire_with(&lock_path(), &options, hooks)
        .expect("acquire")
        .into_lock()
        .expect("acquired within the wait");
    println!("{}", epoch_nanos());
    held.release().expect("release");
}
