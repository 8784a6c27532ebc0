//! Writing command output to stdout.

use std::io::{self, BufWriter, Write};

use anyhow::Context;

/// Runs `write` on a buffered, locked stdout and flushes it.
///
/// A closed pipe, as when the output goes to `head`, ends the output
/// quietly instead of failing the command.
pub fn to_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> anyhow::Result<()> {
    let mut stdout = BufWriter::new(io::stdout().lock());
    let result = write(&mut stdout).and_then(|()| stdout.flush());
    match result {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        result => result.context("failed to write to stdout"),
    }
}
