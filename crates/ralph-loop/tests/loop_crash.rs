//! SIGKILL of the orchestrator at random moments: the next `run` resumes
//! the same run, and no ticket runs twice or is lost.

mod support_loop;

use std::collections::HashMap;
use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support_loop::{BIN, TestProject, assert_started_after_deps, stderr, stdout};

const KILLS: usize = 20;
const REPLAY_TICKETS: usize = 238;

/// A small xorshift generator, so a failing round can be replayed from
/// the printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn seed() -> u64 {
    match std::env::var("RALPH_TEST_SEED") {
        Ok(text) => text.parse().expect("RALPH_TEST_SEED must be a number"),
        Err(_) => {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        }
    }
}

fn closed_count(project: &TestProject) -> usize {
    let statuses = project.statuses();
    statuses.iter().filter(|(_, s)| s == "closed").count()
}

#[test]
fn sigkill_at_random_moments_loses_nothing() {
    let seed = seed();
    println!("seed: {seed} (set RALPH_TEST_SEED to repeat)");
    let mut rng = Rng(seed);
    let project = TestProject::replay();
    let agent = [
        BIN,
        "__agent",
        "--behavior",
        "close",
        "--require-deps-closed",
        "--sleep-ms",
        "60",
        "{ticket}",
    ];
    project.configure(&agent, json!({"parallel": 1}));
    let state_path = project.ralph().join("dispatch-loop-state.json");

    let mut run_ids = Vec::new();
    for round in 0..KILLS {
        let run = project.spawn(&["run"]);
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        run.signal("KILL");
        let output = run.wait_output(Duration::from_secs(10));
        assert_eq!(
            output.status.code(),
            None,
            "round {round} ended early: {}",
            stderr(&output)
        );

        if let Ok(text) = fs::read_to_string(&state_path) {
            let state: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("round {round}: state does not parse: {e}\n{text}"));
            run_ids.push(state["runId"].clone());
            let mut dispatched: Vec<&str> = state["dispatched"]
                .as_array()
                .unwrap_or_else(|| panic!("round {round}: no dispatched list\n{text}"))
                .iter()
                .map(|id| id.as_str().unwrap())
                .collect();
            let count = dispatched.len();
            dispatched.sort_unstable();
            dispatched.dedup();
            assert_eq!(
                dispatched.len(),
                count,
                "round {round}: a ticket is dispatched twice\n{text}"
            );
        }
    }
    println!(
        "{} of {REPLAY_TICKETS} tickets closed before the last run",
        closed_count(&project)
    );
    let output = project.run(&["run"], Duration::from_secs(120));
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{}",
        stderr(&output)
    );
    assert_eq!(
        stdout(&output)
            .matches("<promise>COMPLETE</promise>")
            .count(),
        1
    );

    run_ids.dedup();
    assert_eq!(
        run_ids.len(),
        1,
        "the run id changed across resumes: {run_ids:?}"
    );
    let open: Vec<_> = project
        .statuses()
        .into_iter()
        .filter(|(_, s)| s != "closed")
        .collect();
    assert!(open.is_empty(), "not closed: {open:?}");
    let mut per_ticket: HashMap<String, usize> = HashMap::new();
    for record in project.records() {
        assert_eq!(record["exitCode"], 0, "{record}");
        *per_ticket
            .entry(record["ticket"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_ticket.len(), REPLAY_TICKETS);
    let repeated: Vec<_> = per_ticket.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        repeated.is_empty(),
        "dispatched more than once: {repeated:?}"
    );
    assert_started_after_deps(&project);
    assert!(
        !project.ralph().join("dispatch-loop.lock").exists(),
        "lock left behind"
    );
    assert!(!state_path.exists(), "state left behind");
    assert_eq!(
        project.wait_no_processes(Duration::from_secs(2)),
        Vec::<u32>::new()
    );
}

#[test]
fn killed_supervisor_is_recorded_lost() {
    let project = TestProject::empty();
    project.add_ticket("l-1", &[]);
    let agent = [
        BIN,
        "__agent",
        "--behavior",
        "close",
        "--sleep-ms",
        "60000",
        "{ticket}",
    ];
    project.configure(&agent, json!({}));
    let turn = project.run(&["turn"], Duration::from_secs(20));
    assert_eq!(turn.status.code(), Some(0), "{}", stderr(&turn));

    let sessions = project.ralph().join("sessions");
    let started_agent = || -> Option<Value> {
        let entry = fs::read_dir(&sessions)
            .ok()?
            .flatten()
            .find(|e| e.path().extension().is_some_and(|ext| ext == "started"))?;
        let started: Value = serde_json::from_str(&fs::read_to_string(entry.path()).ok()?).ok()?;
        (!started["agent"].is_null()).then_some(started)
    };
    assert!(support_loop::wait_for(Duration::from_secs(10), || {
        started_agent().is_some()
    }));
    let started = started_agent().unwrap();
    let supervisor = started["supervisor"]["pid"].as_u64().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &supervisor])
        .status();
    assert!(status.unwrap().success());
    assert!(support_loop::wait_for(Duration::from_secs(5), || {
        !std::path::Path::new(&format!("/proc/{supervisor}")).exists()
    }));

    let output = project.run(&["turn"], Duration::from_secs(20));

    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("<promise>COMPLETE</promise>"),
        "{}",
        stderr(&output)
    );
    let record = project.record_of("l-1");
    assert_eq!(record["termination"], "lost", "{record}");
    assert_eq!(
        project.wait_no_processes(Duration::from_secs(2)),
        Vec::<u32>::new()
    );
    let progress = fs::read_to_string(project.ralph().join("progress.md")).unwrap();
    assert!(progress.contains("- l-1: lost ("), "{progress}");
}
