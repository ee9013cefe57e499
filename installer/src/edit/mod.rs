//! The editors of the files codex-guard changes: Codex's config.toml (its hooks
//! feature, trust records and inline hooks), hooks.json, and the rules file. Each
//! takes the file's text and gives the new text (or a typed refusal), without IO, so
//! the fuzz targets drive them directly.

pub mod codex_config;
pub mod hooks_json;
pub mod inline_hooks;
pub mod rules_file;
