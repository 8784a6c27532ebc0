//! Integration tests of `ralph-loop tickets`, run against the built binary.

mod tickets {
    pub mod backlogs;
    pub mod cycles;
    pub mod discovery;
    pub mod malformed;
    pub mod status;
    pub mod support;
}
