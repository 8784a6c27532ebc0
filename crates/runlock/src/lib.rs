//! Placeholder until the run lock lands.
