//! What a release is made of: its targets, archive names and contents, download URLs and
//! the templates filled from its SHA256SUMS. `dist` and `manifests` build releases from
//! these and `check-packaging` checks packaging/ against them: one definition of each.

use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The targets a full release carries (the Homebrew formula and winget manifest name them).
pub const RELEASE_TARGETS: [&str; 5] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    WINDOWS_TARGET,
];
/// The targets released as `.tar.gz` (Homebrew's); the last one, Windows, as `.zip`.
pub const UNIX_TARGETS: &[&str] = RELEASE_TARGETS.split_at(4).0;
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-msvc";

/// The two programs, at the top of every archive (with `.exe` in the Windows one).
pub const PROGRAMS: [&str; 2] = ["codex-guard", "codex-guard-hook"];
/// Repository files every archive carries beside the programs.
pub const DOCS: [&str; 2] = ["README.md", "LICENSE"];
/// The shell completions, under `completions/` in the archive and packaging/.
pub const COMPLETIONS: &[(clap_complete::Shell, &str)] = &[
    (clap_complete::Shell::Bash, "codex-guard.bash"),
    (clap_complete::Shell::Zsh, "_codex-guard"),
    (clap_complete::Shell::Fish, "codex-guard.fish"),
    (clap_complete::Shell::PowerShell, "_codex-guard.ps1"),
];
/// Files of a release directory that SHA256SUMS covers.
pub const CHECKSUMMED: [&str; 6] = [".tar.gz", ".zip", ".deb", ".rpm", ".msi", ".pkg"];

/// The Homebrew formula template and where the filled one goes in a release directory.
pub const HOMEBREW_FORMULA: (&str, &str) = ("packaging/homebrew/codex-guard.rb", "homebrew");
/// The directory of winget manifest templates and where the filled ones go.
pub const WINGET_MANIFESTS: (&str, &str) = ("packaging/windows/winget", "winget");
pub const WINGET_ID: &str = "CodexGuard.CodexGuard";
/// winget's name for the Windows archive's checksum.
pub const WINGET_SHA256: &str = "sha256_windows_x64";
pub const VERSION_TOKEN: &str = "version";

/// The extension of `target`'s archive.
pub fn archive_extension(target: &str) -> &'static str {
    if target == WINDOWS_TARGET {
        "zip"
    } else {
        "tar.gz"
    }
}

/// The archive's top directory, and its file name without the extension.
pub fn archive_stem(version: &str, target: &str) -> String {
    format!("codex-guard-{version}-{target}")
}

pub fn archive_name(version: &str, target: &str) -> String {
    format!(
        "{}.{}",
        archive_stem(version, target),
        archive_extension(target)
    )
}

/// Where a published release's archive is downloaded from.
pub fn download_url(version: &str, target: &str) -> String {
    format!(
        "https://github.com/codex-guard/codex-guard/releases/download/v{version}/{}",
        archive_name(version, target)
    )
}

/// `{{name}}`, the way a template spells a token.
pub fn token(name: &str) -> String {
    format!("{{{{{name}}}}}")
}

/// The token of `target`'s archive checksum.
pub fn sha256_token(target: &str) -> String {
    format!("sha256_{target}")
}

/// The tokens the Homebrew formula must use: the version and each Unix archive's checksum.
pub fn homebrew_tokens() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = UNIX_TARGETS.iter().map(|t| sha256_token(t)).collect();
    names.insert(VERSION_TOKEN.to_string());
    names
}

/// The tokens the winget manifests may use.
pub fn winget_tokens() -> BTreeSet<String> {
    [VERSION_TOKEN, WINGET_SHA256]
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// A SHA256SUMS file: file name -> lower-case digest, and the lines that are not
/// `sha256sum` format.
pub fn parse_sums(text: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let mut sums = BTreeMap::new();
    let mut problems = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line.split_at_checked(64).and_then(|(digest, rest)| {
            let name = rest
                .strip_prefix("  ")
                .or_else(|| rest.strip_prefix(" *"))?;
            (digest.bytes().all(|b| b.is_ascii_hexdigit()) && !name.is_empty())
                .then(|| (name.to_string(), digest.to_ascii_lowercase()))
        });
        match parsed {
            Some((name, digest)) => {
                sums.insert(name, digest);
            }
            None => problems.push(format!(
                "line {}: {line:?} is not `<sha256>  <file>` (sha256sum format)",
                number + 1
            )),
        }
    }
    (sums, problems)
}

/// The values the release tool fills templates with: the version, and the checksum of
/// every target's archive SHA256SUMS lists (the Windows one also as winget's token).
pub fn fill_values(version: &str, sums: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::from([(VERSION_TOKEN.to_string(), version.to_string())]);
    for target in RELEASE_TARGETS {
        if let Some(digest) = sums.get(&archive_name(version, target)) {
            values.insert(sha256_token(target), digest.clone());
            if target == WINDOWS_TARGET {
                values.insert(WINGET_SHA256.to_string(), digest.clone());
            }
        }
    }
    values
}

/// Every template the release tool fills: (source under `root`, path in a release
/// directory), the formula first, then the winget manifests in name order.
pub fn templates(root: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let (formula, formula_out) = HOMEBREW_FORMULA;
    let formula = root.join(formula);
    let name = formula.file_name().context("the formula has a file name")?;
    let mut list = vec![(formula.clone(), Path::new(formula_out).join(name))];
    let (winget, winget_out) = WINGET_MANIFESTS;
    let dir = root.join(winget);
    let mut manifests: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    for source in manifests {
        let name = source.file_name().context("a manifest has a file name")?;
        list.push((source.clone(), Path::new(winget_out).join(name)));
    }
    Ok(list)
}

/// `text` with every `{{name}}` in `values` replaced; the names left open.
pub fn fill(text: &str, values: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut open = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = after[..end].trim();
        match values.get(name) {
            Some(value) => out.push_str(value),
            None => {
                open.push(name.to_string());
                out.push_str(&rest[start..start + 2 + end + 2]);
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    (out, open)
}

/// The token names `text` uses.
pub fn tokens(text: &str) -> BTreeSet<String> {
    fill(text, &BTreeMap::new()).1.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_reported() {
        let values = BTreeMap::from([("version".to_string(), "1.2.3".to_string())]);
        let (text, open) = fill("v{{version}} {{ sha256_x }} {{version}} {{", &values);
        assert_eq!(text, "v1.2.3 {{ sha256_x }} 1.2.3 {{");
        assert_eq!(open, ["sha256_x"]);
    }

    #[test]
    fn sums_parse_in_both_sha256sum_modes_and_bad_lines_are_named() {
        let digest = "AB".repeat(32);
        let text = format!("{digest}  a.tar.gz\n{digest} *b.zip\n\nnot a sum\n");
        let (sums, problems) = parse_sums(&text);
        assert_eq!(sums["a.tar.gz"], digest.to_ascii_lowercase());
        assert_eq!(sums["b.zip"], digest.to_ascii_lowercase());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("line 4:"), "{problems:?}");
    }

    #[test]
    fn windows_checksum_fills_both_of_its_tokens() {
        let name = archive_name("1.0.0", WINDOWS_TARGET);
        assert_eq!(name, "codex-guard-1.0.0-x86_64-pc-windows-msvc.zip");
        let sums = BTreeMap::from([(name, "f".repeat(64))]);
        let values = fill_values("1.0.0", &sums);
        assert_eq!(values[WINGET_SHA256], "f".repeat(64));
        assert_eq!(values[&sha256_token(WINDOWS_TARGET)], "f".repeat(64));
        assert!(!values.contains_key(&sha256_token(UNIX_TARGETS[0])));
    }
}
