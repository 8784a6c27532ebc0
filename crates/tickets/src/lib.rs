//! Placeholder until the ticket reader lands.
