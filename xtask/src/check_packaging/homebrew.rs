//! The Homebrew formula template: its tokens, one url and sha256 per platform block,
//! what `def install` installs exists in the archive, the test block and caveats, and
//! (when ruby is installed) `ruby -c` of the filled formula.
//!
//! The formula is read line by line with anchored patterns, not with a Ruby parser: the
//! template is not Ruby until it is filled, the check needs only block nesting
//! (`class`/`def`/`… do` … `end`, heredocs) and string literals of a few calls, and the
//! Ruby parsers in Rust are either unmaintained (lib-ruby-parser) or a C grammar for
//! editors (tree-sitter-ruby). `ruby -c` judges the filled file's syntax when present.

use super::release_dir::Release;
use super::{scripts, Layout, Report, Tree};
use crate::release::{self, PROGRAMS, UNIX_TARGETS};
use anyhow::Result;
use regex_lite::Regex;
use std::collections::BTreeMap;

/// One line of the formula: the blocks it is in, its first word, the rest.
struct Line {
    stack: Vec<String>,
    keyword: String,
    argument: String,
}

/// The formula's lines with their blocks, and its structural problems.
fn parse(text: &str) -> (Vec<Line>, Vec<String>) {
    let heredoc_start = Regex::new(r"<<[~-]?([A-Z_]+)\s*$").expect("a valid pattern");
    let block = Regex::new(r"^(class \w+ < \w+|def \w+|[\w.]+ do)(\s*\|[^|]*\|)?$")
        .expect("a valid pattern");
    let (mut lines, mut problems, mut stack) = (Vec::new(), Vec::new(), Vec::<String>::new());
    let mut heredoc: Option<String> = None;
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(end) = &heredoc {
            if line == end {
                heredoc = None;
            }
            lines.push(Line {
                stack: stack.clone(),
                keyword: "heredoc".into(),
                argument: line.into(),
            });
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(c) = heredoc_start.captures(line) {
            heredoc = Some(c[1].to_string());
        }
        if line == "end" {
            if stack.pop().is_none() {
                problems.push(format!("line {}: 'end' without a block", number + 1));
            }
            continue;
        }
        if let Some(c) = block.captures(line) {
            let word = &c[1];
            stack.push(word.strip_suffix(" do").unwrap_or(word).to_string());
            continue;
        }
        let (keyword, argument) = line.split_once(' ').unwrap_or((line, ""));
        lines.push(Line {
            stack: stack.clone(),
            keyword: keyword.into(),
            argument: argument.trim().into(),
        });
    }
    if !stack.is_empty() {
        problems.push(format!(
            "unclosed blocks: {} (add their 'end')",
            stack.join(", ")
        ));
    }
    if let Some(end) = heredoc {
        problems.push(format!("unterminated heredoc {end}"));
    }
    (lines, problems)
}

/// The double-quoted string literals of a Ruby argument list.
fn strings(argument: &str) -> Vec<String> {
    let literal = Regex::new(r#""((?:[^"\\]|\\.)*)""#).expect("a valid pattern");
    literal
        .captures_iter(argument)
        .map(|c| c[1].to_string())
        .collect()
}

/// The target an `on_macos`/`on_linux` + `on_arm`/`on_intel` block stands for.
fn block_target(stack: &[String]) -> Option<&'static str> {
    let os: Vec<&str> = stack
        .iter()
        .map(String::as_str)
        .filter(|s| s.starts_with("on_"))
        .collect();
    let arch = |a: &str| if a == "on_arm" { "aarch64" } else { "x86_64" };
    let (system, cpu) = match os.as_slice() {
        ["on_macos", a @ ("on_arm" | "on_intel")] => ("apple-darwin", arch(a)),
        ["on_linux", a @ ("on_arm" | "on_intel")] => ("unknown-linux-gnu", arch(a)),
        _ => return None,
    };
    UNIX_TARGETS
        .iter()
        .copied()
        .find(|t| *t == format!("{cpu}-{system}"))
}

pub fn check(
    tree: &Tree,
    layout: &Layout,
    release: Option<&Release>,
    report: &mut Report,
) -> Result<()> {
    let file = scripts::formula_file();
    let Ok(text) = tree.read(file) else {
        report.fail("homebrew formula", &format!("packaging/{file} is missing"));
        return Ok(());
    };
    check_tokens(&text, report);
    let (lines, problems) = parse(&text);
    check_urls(&text, &lines, problems, report);
    check_install(&lines, layout, report);
    check_test_and_caveats(&lines, report);
    check_ruby_syntax(&text, release, report)
}

fn check_tokens(text: &str, report: &mut Report) {
    let used = release::tokens(text);
    let known = release::homebrew_tokens();
    let mut problems: Vec<String> = used
        .difference(&known)
        .map(|t| {
            format!(
                "unknown token {}: the release tool fills only {}",
                release::token(t),
                known
                    .iter()
                    .map(|k| release::token(k))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    problems.extend(
        known
            .difference(&used)
            .map(|t| format!("token {} is never used", release::token(t))),
    );
    let detail = used.iter().cloned().collect::<Vec<_>>().join(", ");
    report.check(
        "homebrew: tokens are the release tool's",
        &problems,
        &detail,
    );
}

fn check_urls(text: &str, lines: &[Line], mut problems: Vec<String>, report: &mut Report) {
    if !text.lines().any(|l| l == "class CodexGuard < Formula") {
        problems.push("no 'class CodexGuard < Formula'".into());
    }
    let mut seen: BTreeMap<&str, (Option<String>, Option<String>)> = BTreeMap::new();
    let version = release::token(release::VERSION_TOKEN);
    for line in lines
        .iter()
        .filter(|l| l.keyword == "url" || l.keyword == "sha256")
    {
        let Some(target) = block_target(&line.stack) else {
            problems.push(format!(
                "{} outside an on_macos/on_linux + on_arm/on_intel block",
                line.keyword
            ));
            continue;
        };
        let value = strings(&line.argument)
            .into_iter()
            .next()
            .unwrap_or_default();
        let (url, sha) = seen.entry(target).or_default();
        let (slot, want) = if line.keyword == "url" {
            (url, release::download_url(&version, target))
        } else {
            (sha, release::token(&release::sha256_token(target)))
        };
        if slot.is_some() {
            problems.push(format!("two {} for {target}", line.keyword));
        } else if value != want {
            problems.push(format!(
                "{} for {target} is {value}, want {want}",
                line.keyword
            ));
        }
        *slot = Some(value);
    }
    for target in UNIX_TARGETS {
        if !seen
            .get(target)
            .is_some_and(|(u, s)| u.is_some() && s.is_some())
        {
            problems.push(format!("no url and sha256 pair for {target}"));
        }
    }
    report.check(
        "homebrew: one url and sha256 per platform block",
        &problems,
        &format!("{} targets", seen.len()),
    );
}

fn check_install(lines: &[Line], layout: &Layout, report: &mut Report) {
    let install = Regex::new(r"^(\w+)\.install$").expect("a valid pattern");
    let dir_glob = Regex::new(r#"Dir\["([^"]+)"\]"#).expect("a valid pattern");
    let source = Regex::new(r#""([^"]+)"\s*(?:=>\s*"[^"]+")?"#).expect("a valid pattern");
    let (mut problems, mut installed) = (Vec::new(), Vec::new());
    for line in lines
        .iter()
        .filter(|l| l.stack.iter().any(|s| s == "def install"))
    {
        let Some(c) = install.captures(&line.keyword) else {
            continue;
        };
        let dest = c[1].to_string();
        for pattern in dir_glob.captures_iter(&line.argument) {
            let matches = layout.glob(&pattern[1]);
            if matches.is_empty() {
                problems.push(format!(
                    "{dest}.install Dir[\"{}\"] matches nothing in the archive",
                    &pattern[1]
                ));
            }
            installed.extend(matches.into_iter().map(|m| (dest.clone(), m)));
        }
        let plain = dir_glob.replace_all(&line.argument, "");
        for c in source.captures_iter(&plain) {
            if !layout.exists(&c[1]) {
                problems.push(format!(
                    "{dest}.install \"{}\" is not in the archive",
                    &c[1]
                ));
            }
            installed.push((dest.clone(), c[1].to_string()));
        }
    }
    let mut want: Vec<(String, String)> = PROGRAMS
        .iter()
        .map(|p| ("bin".into(), p.to_string()))
        .collect();
    for (dest, file) in [
        ("bash_completion", "codex-guard.bash"),
        ("zsh_completion", "_codex-guard"),
        ("fish_completion", "codex-guard.fish"),
    ] {
        want.push((dest.into(), format!("completions/{file}")));
    }
    want.extend(
        layout
            .man_pages()
            .into_iter()
            .map(|p| ("man1".into(), format!("man/{p}"))),
    );
    for (dest, file) in want.iter().filter(|w| !installed.contains(w)) {
        problems.push(format!(
            "{file} is not installed by {dest}.install: add it to def install"
        ));
    }
    let detail = format!("{} files against {}", installed.len(), layout.description);
    report.check(
        "homebrew: every installed file is in the archive",
        &problems,
        &detail,
    );
}

fn check_test_and_caveats(lines: &[Line], report: &mut Report) {
    let within = |block: &str| -> String {
        lines
            .iter()
            .filter(|l| l.stack.iter().any(|s| s == block))
            .map(|l| l.argument.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let test = within("test");
    let mut problems: Vec<String> = PROGRAMS
        .iter()
        .filter(|p| !test.contains(&format!("{{bin}}/{p} --version")))
        .map(|p| format!("the test block does not run {p} --version"))
        .collect();
    if !within("def caveats").contains("codex-guard setup") {
        problems.push("the caveats do not say to run codex-guard setup".into());
    }
    report.check("homebrew: test block and caveats", &problems, "");
}

fn check_ruby_syntax(text: &str, release: Option<&Release>, report: &mut Report) -> Result<()> {
    let Ok(ruby) = which::which("ruby") else {
        report.skip("homebrew: ruby -c", "ruby is not installed");
        return Ok(());
    };
    let version = release
        .and_then(|r| r.version.as_deref())
        .unwrap_or("1.2.3");
    let mut values = release
        .map(|r| release::fill_values(version, &r.sums))
        .unwrap_or_default();
    values.insert(release::VERSION_TOKEN.into(), version.into());
    for target in UNIX_TARGETS {
        values
            .entry(release::sha256_token(target))
            .or_insert_with(|| "0".repeat(64));
    }
    let file = tempfile::Builder::new().suffix(".rb").tempfile()?;
    std::fs::write(file.path(), release::fill(text, &values).0)?;
    let out = std::process::Command::new(ruby)
        .arg("-c")
        .arg(file.path())
        .output()?;
    let problems = if out.status.success() {
        Vec::new()
    } else {
        vec![String::from_utf8_lossy(&out.stderr).trim().to_string()]
    };
    report.check("homebrew: ruby -c", &problems, "Syntax OK");
    Ok(())
}
