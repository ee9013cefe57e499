//! The implementation of the `codex-guard` command: each module is one command or one
//! kind of file it edits. Public so the fuzz targets and tests can drive the parsers and
//! the merges directly; not a stable API.

pub mod all_users;
pub mod backup;
pub mod cli;
pub mod codex_config;
pub mod codex_probe;
pub mod diff;
pub mod doctor;
pub mod events;
pub mod failure;
pub mod fsutil;
pub mod home;
pub mod hooks_json;
pub mod inline_hooks;
pub mod install;
pub mod machine_id;
pub mod managed;
pub mod releases;
pub mod report;
pub mod restore;
pub mod rules_file;
pub mod safe_fs;
pub mod service;
pub mod settings;
pub mod setup;
pub use codex_guard_common::trust;
pub mod ui;
pub mod uninstall;
pub mod update;
