//! One module per subcommand: its arguments and what it does.

pub mod demo;
pub mod init;
pub mod lock;
pub mod loop_args;
pub mod run;
pub mod status;
pub mod tickets;
pub mod turn;

/// Returns `count` and `noun`, the noun given an `s` unless `count` is 1.
pub fn count_of(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
    }
}
