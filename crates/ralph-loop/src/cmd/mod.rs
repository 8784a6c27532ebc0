//! One module per subcommand: its arguments and what it does.

pub mod lock;
pub mod tickets;
