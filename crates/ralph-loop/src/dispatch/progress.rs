//! `.tf/ralph/progress.md`: a page a person can read to see how the run
//! is going, rewritten on every launch and every completion.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use jiff::{SignedDuration, Timestamp};
use tickets::Backlog;

use super::fsutil;
use super::state::{Finished, State};

/// How many finished tickets of each kind the page lists.
const SHOWN: usize = 10;

/// The run's state as the page names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Sessions are in flight.
    Running,
    /// No session is in flight and the run is not complete.
    Idle,
    /// The run has ended.
    Complete,
}

/// Renders and atomically writes the page.
pub fn write(
    path: &Path,
    state: &State,
    backlog: Option<&Backlog>,
    phase: Phase,
) -> anyhow::Result<()> {
    let text = render(state, backlog, phase, Timestamp::now());
    fsutil::write_atomic(path, text.as_bytes())
        .with_context(|| format!("failed to write {}", path.display()))
}

/// Renders the page as of `now`.
pub fn render(state: &State, backlog: Option<&Backlog>, phase: Phase, now: Timestamp) -> String {
    let mut page = String::new();
    let phase = match phase {
        Phase::Running => "RUNNING",
        Phase::Idle => "IDLE",
        Phase::Complete => "COMPLETE",
    };
    let settings = &state.settings;
    let _ = writeln!(page, "# Ralph loop progress\n");
    let _ = writeln!(page, "- State: {phase}");
    let _ = writeln!(page, "- Run: {}", state.run_id);
    let _ = writeln!(page, "- Started: {}", state.started_at);
    let _ = writeln!(page, "- Last update: {now}");
    let _ = writeln!(
        page,
        "- Sessions started: {} of at most {}",
        state.started_count, settings.max_iterations
    );
    let _ = writeln!(page, "- Completed: {}", state.completed_count);
    let _ = writeln!(page, "- Failed: {}", state.failed_count);
    if let Some(backlog) = backlog {
        let _ = writeln!(page, "- Ready: {}", backlog.ready().len());
        let _ = writeln!(page, "- Blocked: {}", backlog.blocked().len());
    }

    let _ = writeln!(page, "\n## Active sessions ({})\n", state.active.len());
    if state.active.is_empty() {
        let _ = writeln!(page, "None.");
    }
    for active in &state.active {
        let elapsed = elapsed(active.launched_at, now);
        let _ = writeln!(
            page,
            "- {} for {elapsed} (session {})",
            active.ticket, active.session
        );
    }
    list(&mut page, "Last completed", &state.completed);
    list(&mut page, "Last failed", &state.failed);
    page
}

fn list(page: &mut String, heading: &str, entries: &[Finished]) {
    let _ = writeln!(page, "\n## {heading}\n");
    if entries.is_empty() {
        let _ = writeln!(page, "None.");
    }
    for entry in entries.iter().rev().take(SHOWN) {
        let _ = writeln!(
            page,
            "- {}: {} ({}) at {}",
            entry.ticket, entry.outcome, entry.reason, entry.ended_at
        );
    }
}

/// Formats the time since `since` as `1h02m03s`, `2m03s` or `3s`.
pub fn elapsed(since: Timestamp, now: Timestamp) -> String {
    let seconds = now
        .duration_since(since)
        .max(SignedDuration::ZERO)
        .as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}h{minutes:02}m{seconds:02}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds:02}s")
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_picks_the_largest_unit() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(elapsed(start, at("2026-01-01T00:00:05Z")), "5s");
        assert_eq!(elapsed(start, at("2026-01-01T00:02:05Z")), "2m05s");
        assert_eq!(elapsed(start, at("2026-01-01T01:02:05Z")), "1h02m05s");
        assert_eq!(elapsed(at("2026-01-01T00:00:09Z"), start), "0s");
    }
}
