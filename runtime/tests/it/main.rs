//! The hook runtime's integration tests: `codex-guard-hook` run as Codex runs it, against local services.
//!
//! One test binary (linked once), one module per area, as
//! `cargo test -p <crate> --test it -- <module>::` selects.

mod common;
mod concurrency;
mod contract;
mod corpus;
mod delivery;
mod faults;
mod hook;
mod hostile_input;
mod modify;
mod outage;
mod packs;
mod tls;
