//! The macOS package: `build-pkg.sh --layout-only` lays a release archive out as the
//! .pkg payload; every file must land where the payload table says.

use super::{Layout, Report, Tree};
use crate::release::{self, DOCS, PROGRAMS, UNIX_TARGETS};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Payload path of every archive file the .pkg installs (man pages aside).
const PAYLOAD: [&str; 7] = [
    "usr/local/bin/codex-guard",
    "usr/local/bin/codex-guard-hook",
    "usr/local/share/bash-completion/completions/codex-guard",
    "usr/local/share/zsh/site-functions/_codex-guard",
    "usr/local/share/fish/vendor_completions.d/codex-guard.fish",
    "usr/local/share/doc/codex-guard/README.md",
    "usr/local/share/doc/codex-guard/LICENSE",
];
const MARKER: &str = "usr/local/share/codex-guard/installed-by-package";
const MAN_DIR: &str = "usr/local/share/man/man1/";

/// A stand-in Linux release archive from the committed tree (the programs are stubs),
/// written the way `dist` writes a real one.
pub fn synthetic_archive(
    tree: &Tree,
    layout: &Layout,
    man_dir: &Path,
    completions_dir: &Path,
    work: &Path,
) -> Result<PathBuf> {
    let (version, target) = ("0.0.0", UNIX_TARGETS[0]);
    let mut files: Vec<(String, Vec<u8>, u32)> = PROGRAMS
        .iter()
        .map(|p| {
            (
                p.to_string(),
                format!("#!/bin/sh\necho {p} {version}\n").into_bytes(),
                0o755,
            )
        })
        .collect();
    for doc in DOCS {
        let bytes = fs::read(tree.repo.join(doc)).unwrap_or_else(|_| b"stub\n".to_vec());
        files.push((doc.to_string(), bytes, 0o644));
    }
    for name in &layout.files {
        let source = if let Some(page) = name.strip_prefix("man/") {
            man_dir.join(page)
        } else if let Some(file) = name.strip_prefix("completions/") {
            completions_dir.join(file)
        } else {
            continue;
        };
        let bytes =
            fs::read(&source).with_context(|| format!("cannot read {}", source.display()))?;
        files.push((name.clone(), bytes, 0o644));
    }
    let archive = work.join(release::archive_name(version, target));
    crate::dist::write_archive(&archive, &release::archive_stem(version, target), &files)?;
    Ok(archive)
}

fn files_below(root: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                files.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    files
}

pub fn check(
    tree: &Tree,
    layout: &Layout,
    archive: Option<&Path>,
    work: &Path,
    report: &mut Report,
) -> Result<()> {
    let name = "macos: build-pkg.sh --layout-only payload";
    let Some(archive) = archive else {
        report.fail(name, "no archive to lay out");
        return Ok(());
    };
    let file_name = archive.file_name().unwrap_or_default().to_string_lossy();
    let version = UNIX_TARGETS.iter().find_map(|t| {
        file_name
            .strip_prefix("codex-guard-")?
            .strip_suffix(&format!("-{t}.tar.gz"))
    });
    let Some(version) = version else {
        report.fail(name, &format!("{file_name} is not a release archive name"));
        return Ok(());
    };
    let out = work.join("pkg-out");
    let result = Command::new("bash")
        .arg(tree.packaging.join("macos/build-pkg.sh"))
        .arg("--archive")
        .arg(archive)
        .args(["--version", version])
        .arg("--out")
        .arg(&out)
        .arg("--layout-only")
        .output()
        .context("cannot run bash")?;
    if !result.status.success() {
        let said = if result.stderr.is_empty() {
            &result.stdout
        } else {
            &result.stderr
        };
        report.fail(
            name,
            &format!(
                "packaging/macos/build-pkg.sh exited {}: {}",
                result.status,
                String::from_utf8_lossy(said).trim()
            ),
        );
        return Ok(());
    }
    let root = out.join("pkgroot");
    let got = files_below(&root);
    let mut want: BTreeSet<String> = PAYLOAD
        .iter()
        .chain([&MARKER])
        .map(std::string::ToString::to_string)
        .collect();
    want.extend(
        layout
            .man_pages()
            .into_iter()
            .map(|p| format!("{MAN_DIR}{p}")),
    );
    let mut problems: Vec<String> = want
        .difference(&got)
        .map(|p| format!("no {p} in the payload"))
        .collect();
    problems.extend(
        got.difference(&want)
            .map(|p| format!("unexpected {p} in the payload")),
    );
    for program in PROGRAMS {
        let path = root.join("usr/local/bin").join(program);
        if path.is_file() && !super::scripts::is_executable(&path) {
            problems.push(format!("usr/local/bin/{program} is not executable"));
        }
    }
    if !got.iter().any(|p| p.starts_with(MAN_DIR)) {
        problems.push("no man pages".into());
    }
    report.check(
        name,
        &problems,
        &format!("{} files from {file_name}", got.len()),
    );
    Ok(())
}
