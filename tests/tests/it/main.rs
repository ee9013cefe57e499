//! End-to-end tests: the real Codex CLI against a local fake model server, with codex-guard's own setup.
//!
//! One test binary (linked once), one module per area, as
//! `cargo test -p <crate> --test it -- <module>::` selects.

mod doctor;
mod drift;
mod e2e;
mod harness;
mod inline_hooks;
mod managed;
mod managed_env;
mod modify;
mod self_update;
mod tamper;
mod uninstall;
