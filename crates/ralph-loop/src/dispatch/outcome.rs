//! Session outcomes and the ways an agent ends.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Outcome of a session as the loop judges it. Only `Completed` is a success.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Exit 0 and the ticket is closed afterwards.
    Completed,
    /// Exit 0 but the ticket is not closed.
    NoProgress,
    /// A non-zero exit, or the agent could not be started.
    Failed,
    /// Stopped by the supervisor after the attempt timeout.
    TimedOut,
    /// Ended by a signal the loop did not send.
    Killed,
    /// Stopped because the run was interrupted.
    Interrupted,
    /// The supervisor vanished without writing a record.
    Lost,
    /// The agent completed in its worktree, but its branch could not be
    /// merged (a conflict, or a main checkout that changed); the worktree
    /// is kept.
    NotMerged,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Outcome::Completed => "completed",
            Outcome::NoProgress => "no progress",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed out",
            Outcome::Killed => "killed",
            Outcome::Interrupted => "interrupted",
            Outcome::Lost => "lost",
            Outcome::NotMerged => "not merged",
        };
        f.write_str(text)
    }
}

/// Cause of the agent's end, as recorded by its supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Termination {
    /// The agent exited by itself.
    Exited,
    /// The agent died of a signal the supervisor did not send.
    Signaled,
    /// The attempt timeout passed and SIGTERM ended the agent.
    TimeoutSigterm,
    /// The attempt timeout passed and the agent needed SIGKILL.
    TimeoutSigkill,
    /// The run was interrupted and SIGTERM ended the agent.
    InterruptSigterm,
    /// The run was interrupted and the agent needed SIGKILL.
    InterruptSigkill,
    /// The agent program could not be started.
    SpawnFailed,
    /// The supervisor vanished; the loop wrote the record for it.
    Lost,
}

impl Termination {
    /// Returns the name the records use, such as `timeout-sigkill`.
    pub fn as_str(self) -> &'static str {
        match self {
            Termination::Exited => "exited",
            Termination::Signaled => "signaled",
            Termination::TimeoutSigterm => "timeout-sigterm",
            Termination::TimeoutSigkill => "timeout-sigkill",
            Termination::InterruptSigterm => "interrupt-sigterm",
            Termination::InterruptSigkill => "interrupt-sigkill",
            Termination::SpawnFailed => "spawn-failed",
            Termination::Lost => "lost",
        }
    }

    /// Returns the outcome, given whether the ticket is closed now.
    pub fn outcome(self, exit_code: Option<i32>, ticket_closed: bool) -> Outcome {
        match self {
            Termination::Exited if exit_code == Some(0) && ticket_closed => Outcome::Completed,
            Termination::Exited if exit_code == Some(0) => Outcome::NoProgress,
            Termination::Exited | Termination::SpawnFailed => Outcome::Failed,
            Termination::Signaled => Outcome::Killed,
            Termination::TimeoutSigterm | Termination::TimeoutSigkill => Outcome::TimedOut,
            Termination::InterruptSigterm | Termination::InterruptSigkill => Outcome::Interrupted,
            Termination::Lost => Outcome::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_record_format() {
        let all = [
            Termination::Exited,
            Termination::Signaled,
            Termination::TimeoutSigterm,
            Termination::TimeoutSigkill,
            Termination::InterruptSigterm,
            Termination::InterruptSigkill,
            Termination::SpawnFailed,
            Termination::Lost,
        ];
        for termination in all {
            let json = serde_json::to_value(termination).unwrap();
            assert_eq!(json, termination.as_str());
        }
    }

    #[test]
    fn only_exit_zero_and_closed_completes() {
        assert_eq!(
            Termination::Exited.outcome(Some(0), true),
            Outcome::Completed
        );
        assert_eq!(
            Termination::Exited.outcome(Some(0), false),
            Outcome::NoProgress
        );
        assert_eq!(Termination::Exited.outcome(Some(1), true), Outcome::Failed);
        assert_eq!(Termination::Signaled.outcome(None, true), Outcome::Killed);
        assert_eq!(
            Termination::TimeoutSigkill.outcome(None, true),
            Outcome::TimedOut
        );
    }
}
