//! Progress output of `run` and `turn`: a live progress bar on a terminal,
//! plain lines on stderr otherwise.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::engine::{Event, Summary};
use super::outcome::Outcome;
use super::state::State;

/// Destination of progress output.
pub enum Reporter {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

impl Reporter {
    /// Creates a bar when stderr is a terminal and `bar` is allowed, else
    /// plain lines, and nothing at all when `quiet`.
    pub fn new(bar: bool, quiet: bool) -> Reporter {
        if quiet {
            return Reporter::Quiet;
        }
        if !bar || !std::io::stderr().is_terminal() {
            return Reporter::Lines;
        }
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} done  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::new(0).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Reporter::Bar(bar)
    }

    /// Shows what happened in a step, then the counts.
    pub fn show(&self, events: &[Event], summary: &Summary, state: &State) {
        for event in events {
            self.line(&describe(event));
        }
        if let Reporter::Bar(bar) = self {
            bar.set_length(summary.total as u64);
            bar.set_position(summary.closed as u64);
            let current: Vec<&str> = state.active.iter().map(|a| a.ticket.as_str()).collect();
            bar.set_message(format!(
                "ready {}  active {}  failed {}  [{}]",
                summary.ready,
                state.active.len(),
                state.failed_count,
                current.join(" ")
            ));
        }
    }

    /// Prints one line above the bar, or on stderr.
    pub fn line(&self, text: &str) {
        match self {
            Reporter::Bar(bar) => bar.println(text),
            Reporter::Lines => eprintln!("{text}"),
            Reporter::Quiet => {}
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Reporter::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Launched { ticket, session } => format!("started {ticket} (session {session})"),
        Event::Withdrawn { ticket } => {
            format!("withdrawn {ticket}: its session never started, so it may run again")
        }
        Event::Finished(finished) if finished.outcome == Outcome::Completed => {
            format!("completed {}", finished.ticket)
        }
        Event::Finished(finished) => {
            format!(
                "{} {}: {}",
                finished.outcome, finished.ticket, finished.reason
            )
        }
    }
}

/// Writes `text` to stdout. A closed pipe (as with `| head`) is not an
/// error, because the reader has all it wanted.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;

    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(error).context("failed to write to stdout"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withdrawn_line_names_outcome_first() {
        let event = Event::Withdrawn {
            ticket: "ok-b".to_owned(),
        };

        assert_eq!(
            describe(&event),
            "withdrawn ok-b: its session never started, so it may run again"
        );
    }
}
