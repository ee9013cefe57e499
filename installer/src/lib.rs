//! The implementation of the `codex-guard` command: each module is one command or one
//! kind of file it edits. Public so the fuzz targets and tests can drive the parsers and
//! the merges directly; not a stable API.

pub mod cli;
pub mod codex_probe;
pub mod commands;
pub mod diff;
pub mod doctor;
pub mod edit;
pub mod failure;
pub mod fsutil;
pub mod home;
pub mod install;
pub mod machine_id;
pub mod releases;
pub mod report;
pub mod safe_fs;
pub mod service;
pub mod settings;
pub use codex_guard_common::trust;
pub mod ui;
