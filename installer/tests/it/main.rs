//! The installer's integration tests: `codex-guard` run as a process in temporary homes.
//!
//! One test binary (linked once), one module per area, as
//! `cargo test -p <crate> --test it -- <module>::` selects.

mod attacks;
mod bad_state;
mod common;
mod concurrency;
mod crash;
mod doctor;
mod events;
mod fleet;
mod lifecycle;
mod prompts;
mod service;
mod setup;
