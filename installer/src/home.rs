//! Which Codex home a command works on, spelled the way Codex itself spells it.

use crate::cli::HomeArgs;
use crate::failure::Failure;
use anyhow::{Context, Result};
use codex_guard_common::Layout;
use std::path::{Path, PathBuf};

/// `--codex-home`, else `$CODEX_HOME`, else `~/.codex`, canonicalized as Codex does
/// (its trust keys hold the canonical path), even when the directory does not exist yet.
pub fn resolve(args: &HomeArgs) -> Result<Layout> {
    let dir = match &args.codex_home {
        Some(dir) => dir.clone(),
        None => match std::env::var_os("CODEX_HOME").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                let home = std::env::var_os("HOME")
                    .or_else(|| std::env::var_os("USERPROFILE"))
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| {
                        Failure::bad_input("cannot tell where the Codex home is: HOME is not set")
                            .hint("pass --codex-home DIR or set CODEX_HOME")
                    })?;
                PathBuf::from(home).join(".codex")
            }
        },
    };
    Ok(Layout::new(canonical_path(&dir)?))
}

/// The canonical form of `path`: the longest existing prefix canonicalized, the rest
/// appended as given.
pub fn canonical_path(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path)
        .with_context(|| format!("cannot make {} absolute", path.display()))?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            return Ok(rest
                .iter()
                .rev()
                .fold(canonical, |p: PathBuf, part| p.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return Ok(absolute),
        }
    }
}
