//! One module per subcommand: its arguments and what it does.

pub mod demo;
pub mod init;
pub mod lock;
pub mod loop_args;
pub mod run;
pub mod status;
pub mod tickets;
pub mod turn;
