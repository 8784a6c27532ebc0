//! Process exit codes, the same for every subcommand.

use std::process::ExitCode;

/// The exit status of a `ralph-loop` invocation.
///
/// A child's own exit code is passed through unchanged by `lock run`, and a
/// run stopped by signal N exits with 128 + N, as shells report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The command did what was asked.
    Success,
    /// The command failed; the error chain was printed on stderr.
    Error,
    /// The command line was invalid.
    Usage,
    /// The run lock is held by another live run.
    Busy,
    /// An exact code, such as a child's exit code or 128 + a signal number.
    Code(u8),
}

impl Exit {
    /// Returns the numeric status this exit stands for.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Busy => 3,
            Exit::Code(code) => code,
        }
    }

    /// Returns the exit for a process that was stopped by signal `signal`.
    pub fn signaled(signal: i32) -> Exit {
        Exit::Code(128u8.saturating_add(u8::try_from(signal).unwrap_or(127)))
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}
