//! The package scripts (Debian maintainer scripts, RPM scriptlets, the macOS postinstall
//! and the helper scripts): present, executable, parsed by their shell, shellcheck-clean,
//! and every system path below the package root variable.

use super::{Report, Tree};
use crate::release::{HOMEBREW_FORMULA, WINGET_ID, WINGET_MANIFESTS};
use std::process::Command;

#[derive(Clone, Copy, PartialEq)]
pub enum Shell {
    /// POSIX sh: run by dpkg, rpm or the macOS Installer.
    Sh,
    Bash,
}

impl Shell {
    fn program(self) -> &'static str {
        match self {
            Shell::Sh => "sh",
            Shell::Bash => "bash",
        }
    }

    fn shebang(self) -> &'static str {
        match self {
            Shell::Sh => "#!/bin/sh",
            Shell::Bash => "#!/usr/bin/env bash",
        }
    }
}

/// Scripts under packaging/ and their shell. The POSIX sh ones are the ones dpkg, rpm
/// and the macOS Installer run against a root: every system path must go below it.
pub const SCRIPTS: [(&str, Shell); 8] = [
    ("deb/postinst", Shell::Sh),
    ("deb/prerm", Shell::Sh),
    ("deb/postrm", Shell::Sh),
    ("rpm/post.sh", Shell::Sh),
    ("rpm/preun.sh", Shell::Sh),
    ("macos/scripts/postinstall", Shell::Sh),
    ("macos/build-pkg.sh", Shell::Bash),
    ("test-scripts.sh", Shell::Bash),
];

pub const WIX_SOURCE: &str = "windows/codex-guard.wxs";

/// The winget manifests by kind (their `ManifestType`), relative to packaging/.
pub fn winget_files() -> [(&'static str, String); 3] {
    let dir = WINGET_MANIFESTS
        .0
        .strip_prefix("packaging/")
        .expect("the manifests are under packaging/");
    [
        ("version", format!("{dir}/{WINGET_ID}.yaml")),
        ("installer", format!("{dir}/{WINGET_ID}.installer.yaml")),
        (
            "defaultLocale",
            format!("{dir}/{WINGET_ID}.locale.en-US.yaml"),
        ),
    ]
}

pub fn formula_file() -> &'static str {
    HOMEBREW_FORMULA
        .0
        .strip_prefix("packaging/")
        .expect("the formula is under packaging/")
}

pub fn check_files(tree: &Tree, report: &mut Report) {
    let mut files = vec![
        "README.md".to_string(),
        formula_file().to_string(),
        WIX_SOURCE.to_string(),
    ];
    files.extend(winget_files().into_iter().map(|(_, f)| f));
    files.extend(SCRIPTS.iter().map(|(f, _)| f.to_string()));
    let problems: Vec<String> = files
        .iter()
        .filter(|f| !tree.packaging.join(f).is_file())
        .map(|f| format!("packaging/{f} is missing: restore it from git"))
        .collect();
    report.check(
        "packaging files exist",
        &problems,
        &format!("{} files", files.len()),
    );
}

pub fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

/// One script's shape: executable, its shebang, `set -e`, no debhelper token, parses.
fn script_problems(tree: &Tree, name: &str, shell: Shell) -> Vec<String> {
    let path = tree.packaging.join(name);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return vec![format!("packaging/{name} is missing")];
    };
    let mut problems = Vec::new();
    if !is_executable(&path) {
        problems.push(format!(
            "packaging/{name} is not executable: chmod +x it (and `git add --chmod=+x`)"
        ));
    }
    let first = text.lines().next().unwrap_or_default();
    if first != shell.shebang() {
        problems.push(format!(
            "packaging/{name} starts with {first:?}, want {:?}",
            shell.shebang()
        ));
    }
    if !text.lines().any(|l| l.starts_with("set -e")) {
        problems.push(format!(
            "packaging/{name} has no 'set -e' line: a failed step must stop it"
        ));
    }
    if name.starts_with("deb/") && text.contains("#DEBHELPER#") {
        problems.push(format!(
            "packaging/{name} holds #DEBHELPER#: cargo-deb does not fill it, remove it"
        ));
    }
    match Command::new(shell.program()).arg("-n").arg(&path).output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => problems.push(format!(
            "{} -n packaging/{name}: {}",
            shell.program(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => problems.push(format!("cannot run {}: {e}", shell.program())),
    }
    problems
}

pub fn check_scripts(tree: &Tree, report: &mut Report) {
    let problems: Vec<String> = SCRIPTS
        .iter()
        .flat_map(|(name, shell)| script_problems(tree, name, *shell))
        .collect();
    report.check(
        "package scripts exist, are executable and parse",
        &problems,
        &format!("{} scripts", SCRIPTS.len()),
    );

    let Ok(shellcheck) = which::which("shellcheck") else {
        report.skip("shellcheck", "shellcheck is not installed");
        return;
    };
    let mut problems = Vec::new();
    for (name, shell) in SCRIPTS {
        if !tree.packaging.join(name).is_file() {
            continue;
        }
        let mut command = Command::new(&shellcheck);
        command.current_dir(&tree.packaging).arg("-x");
        if shell == Shell::Sh {
            command.args(["-s", "sh"]);
        }
        match command.arg(name).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => problems.push(format!(
                "packaging/{name}:\n{}",
                String::from_utf8_lossy(&out.stdout).trim()
            )),
            Err(e) => problems.push(format!("cannot run shellcheck: {e}")),
        }
    }
    report.check("shellcheck", &problems, "POSIX sh for the package scripts");
}

/// A word of shell code that names a system path directly (`/etc/…`, `X=/usr/…`,
/// `>/var/…`) instead of below `${DPKG_ROOT:-}` / `${CODEX_GUARD_PKG_ROOT:-}`.
fn unrooted_paths(line: &str) -> Vec<String> {
    let system = regex_lite::Regex::new(r"^(\w+=)?[<>]*/(etc|usr|var|opt|Library)(/|$)")
        .expect("a valid pattern");
    let code = line.trim();
    if code.is_empty() || code.starts_with('#') {
        return Vec::new();
    }
    let words =
        shlex::split(code).unwrap_or_else(|| code.split_whitespace().map(str::to_string).collect());
    words
        .into_iter()
        .take_while(|w| !w.starts_with('#'))
        // A word with a space is a quoted message, not a path.
        .filter(|w| !w.contains(' ') && system.is_match(w))
        .collect()
}

pub fn check_rooted(tree: &Tree, report: &mut Report) {
    let mut problems = Vec::new();
    for (name, _) in SCRIPTS.iter().filter(|(_, shell)| *shell == Shell::Sh) {
        let Ok(text) = std::fs::read_to_string(tree.packaging.join(name)) else {
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            for word in unrooted_paths(line) {
                problems.push(format!(
                    "packaging/{name}:{}: {word} is not below the root variable: write \"${{DPKG_ROOT:-}}{word}\" (or ${{CODEX_GUARD_PKG_ROOT:-}})",
                    number + 1
                ));
            }
        }
    }
    report.check(
        "system paths are below ${DPKG_ROOT:-} / ${CODEX_GUARD_PKG_ROOT:-}",
        &problems,
        "",
    );
}
