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
            None => user_codex_home().ok_or_else(|| {
                Failure::bad_input("cannot tell where the Codex home is: HOME is not set")
                    .hint("pass --codex-home DIR or set CODEX_HOME")
            })?,
        },
    };
    Ok(Layout::new(canonical_path(&dir)?))
}

/// `~/.codex`: the home Codex uses when `CODEX_HOME` is not set.
fn user_codex_home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".codex"))
}

/// How a person reaches `codex_home` from a new shell, for the next steps a command
/// prints: the `--codex-home` flag codex-guard needs (none when `codex_home` is
/// where codex-guard looks without one) and the `CODEX_HOME=` Codex needs (none when
/// it is `~/.codex`, where Codex looks in a shell without `CODEX_HOME`).
pub struct Reach {
    pub flag: Option<String>,
    pub codex_env: Option<String>,
}

impl Reach {
    pub fn of(codex_home: &Path) -> Reach {
        let same = |other: Option<PathBuf>| {
            other
                .and_then(|dir| canonical_path(&dir).ok())
                .is_some_and(|dir| dir == codex_home)
        };
        let without_flag = resolve(&HomeArgs {
            codex_home: None,
            system_root: PathBuf::from("/"),
        })
        .ok()
        .map(|layout| layout.codex_home);
        let quoted = quote_for_shell(codex_home);
        Reach {
            flag: (!same(without_flag)).then(|| format!(" --codex-home {quoted}")),
            codex_env: (!same(user_codex_home())).then(|| format!("CODEX_HOME={quoted} ")),
        }
    }
}

/// `path` as one word for a POSIX shell, quoted only when it needs to be.
pub fn quote_for_shell(path: &Path) -> String {
    let text = path.to_string_lossy();
    shlex::try_quote(&text).map_or_else(
        |_| crate::edit::hooks_json::shell_quote(path),
        std::borrow::Cow::into_owned,
    )
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
