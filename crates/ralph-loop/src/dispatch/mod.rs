//! The dispatch loop: one agent session per ready ticket, under the run
//! lock, with outcomes recorded so that no ticket runs twice in a run.

pub mod cache;
pub mod config;
pub mod engine;
pub mod fsutil;
pub mod ids;
pub mod outcome;
pub mod paths;
pub mod plan;
pub mod progress;
pub mod report;
pub mod run;
pub mod select;
pub mod session;
pub mod signals;
pub mod state;
pub mod supervisor;
pub mod worktrees;
