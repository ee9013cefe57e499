//! `cargo xtask check-packaging`: checks the OS packaging in packaging/ (Homebrew formula,
//! `WiX` source, winget manifests, macOS payload, Debian and RPM scripts) against the
//! release layout `dist` builds. With `--release-dir` (a `dist` output: archives,
//! packages, SHA256SUMS, filled formula and manifests) every check runs against the real
//! archives, and the macOS payload is laid out from the real Linux archive.
//!
//! Prints one line per check (ok / FAIL / skip) and fails when any check failed.

mod homebrew;
mod macos;
mod release_dir;
mod scripts;
#[cfg(test)]
mod tests;
mod windows;

use crate::release::{COMPLETIONS, DOCS, PROGRAMS};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Default)]
pub struct Options {
    /// A `cargo xtask dist` output: archives, packages and SHA256SUMS.
    #[arg(long, value_name = "DIR")]
    release_dir: Option<PathBuf>,
    /// The man pages to check [default: packaging/man].
    #[arg(long, value_name = "DIR")]
    man_dir: Option<PathBuf>,
    /// The shell completions to check [default: packaging/completions].
    #[arg(long, value_name = "DIR")]
    completions_dir: Option<PathBuf>,
    /// With --release-dir: a release that lacks some targets is not a failure.
    #[arg(long)]
    allow_missing_targets: bool,
}

pub fn run(options: &Options) -> Result<()> {
    let tree = Tree::new(crate::root());
    if let Some(dir) = &options.release_dir {
        if !dir.is_dir() {
            bail!("--release-dir {} is not a directory", dir.display());
        }
    }
    let mut report = Report::default();
    check_all(&tree, options, &mut report)?;
    if !report.failures.is_empty() {
        bail!("{} check(s) failed", report.failures.len());
    }
    println!("\nall checks passed");
    Ok(())
}

fn check_all(tree: &Tree, options: &Options, report: &mut Report) -> Result<()> {
    let work = tempfile::Builder::new()
        .prefix("codex-guard-check.")
        .tempdir()
        .context("cannot make a temporary directory")?;
    let man_dir = options
        .man_dir
        .clone()
        .unwrap_or_else(|| tree.packaging.join("man"));
    let completions_dir = options
        .completions_dir
        .clone()
        .unwrap_or_else(|| tree.packaging.join("completions"));
    scripts::check_files(tree, report);
    scripts::check_scripts(tree, report);
    scripts::check_rooted(tree, report);
    let committed = committed_layout(tree, &man_dir, &completions_dir, report)?;

    let release = match &options.release_dir {
        Some(dir) => Some(release_dir::Release::read(
            dir,
            work.path(),
            options.allow_missing_targets,
            report,
        )?),
        None => None,
    };
    let (layout, archive) = match &release {
        Some(release) => match &release.linux {
            Some((layout, archive)) => (layout.clone(), Some(archive.clone())),
            None => {
                report.fail(
                    "release: Linux archive",
                    "no Linux archive in the release directory to check the layout against",
                );
                (committed.clone(), None)
            }
        },
        None => {
            let archive = macos::synthetic_archive(
                tree,
                &committed,
                &man_dir,
                &completions_dir,
                work.path(),
            )?;
            (committed.clone(), Some(archive))
        }
    };
    let windows = release.as_ref().and_then(|r| r.windows.as_ref());
    homebrew::check(tree, &layout, release.as_ref(), report)?;
    windows::check_wix(tree, &layout, windows, report);
    windows::check_winget(tree, &layout, windows, release.as_ref(), report);
    macos::check(tree, &layout, archive.as_deref(), work.path(), report)?;
    if let Some(release) = &release {
        release_dir::check_filled(tree, release, options.allow_missing_targets, report)?;
        release_dir::check_deb(tree, release, report)?;
        release_dir::check_rpm(tree, release, report)?;
    }
    check_readme(tree, report);
    Ok(())
}

/// The repository checked: its root and its packaging/ directory.
pub struct Tree {
    repo: PathBuf,
    packaging: PathBuf,
}

impl Tree {
    pub fn new(repo: PathBuf) -> Self {
        let packaging = repo.join("packaging");
        Self { repo, packaging }
    }

    /// `path` as the repository names it (packaging/…), for messages.
    fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.repo)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    fn read(&self, relative: &str) -> Result<String> {
        let path = self.packaging.join(relative);
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", self.rel(&path)))
    }
}

/// The outcome of every check, printed as it is made.
#[derive(Default)]
pub struct Report {
    failures: Vec<String>,
    skipped: Vec<String>,
}

impl Report {
    // A method like `fail` and `skip`, though a pass records nothing.
    #[allow(clippy::unused_self)]
    fn ok(&mut self, name: &str, detail: &str) {
        if detail.is_empty() {
            println!("ok   {name}");
        } else {
            println!("ok   {name}: {detail}");
        }
    }

    fn fail(&mut self, name: &str, detail: &str) {
        println!("FAIL {name}: {detail}");
        self.failures.push(format!("{name}: {detail}"));
    }

    fn skip(&mut self, name: &str, detail: &str) {
        println!("skip {name}: {detail}");
        self.skipped.push(format!("{name}: {detail}"));
    }

    /// Fails `name` with every problem (one per line), or passes it with `detail`.
    fn check(&mut self, name: &str, problems: &[String], detail: &str) {
        if problems.is_empty() {
            self.ok(name, detail);
        } else {
            self.fail(name, &problems.join("\n     "));
        }
    }
}

/// The files of a release archive, relative to its top directory.
#[derive(Clone)]
pub struct Layout {
    description: String,
    files: BTreeSet<String>,
    /// The files with an executable bit, when the archive records modes (not a zip).
    executables: Option<BTreeSet<String>>,
}

impl Layout {
    fn exists(&self, path: &str) -> bool {
        self.files.contains(path)
    }

    /// The files `pattern` matches, as Homebrew's `Dir[...]` would (`*` within a name).
    fn glob(&self, pattern: &str) -> Vec<String> {
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..glob::MatchOptions::new()
        };
        match glob::Pattern::new(pattern) {
            Ok(pattern) => self
                .files
                .iter()
                .filter(|f| pattern.matches_with(f, options))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn man_pages(&self) -> Vec<String> {
        self.glob("man/*.1")
            .iter()
            .map(|f| f.trim_start_matches("man/").to_string())
            .collect()
    }
}

/// The man pages the CLI generates (`cargo xtask gen`), by file name.
fn expected_man_pages() -> Result<Vec<String>> {
    Ok(crate::generated()?
        .into_iter()
        .filter_map(|(name, _)| name.strip_prefix("man/").map(str::to_string))
        .collect())
}

fn list_dir(dir: &Path, prefix: &str) -> BTreeSet<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| format!("{prefix}{}", e.file_name().to_string_lossy()))
        .collect()
}

/// The archive `dist` builds from this tree: the programs, the docs, and the man pages
/// and completions in `man_dir` and `completions_dir`.
fn committed_layout(
    tree: &Tree,
    man_dir: &Path,
    completions_dir: &Path,
    report: &mut Report,
) -> Result<Layout> {
    let pages = expected_man_pages()?;
    let missing = |dir: &Path, names: &mut dyn Iterator<Item = &str>| -> Vec<String> {
        names
            .filter(|n| !dir.join(n).is_file())
            .map(|n| {
                format!(
                    "{} is missing (run `cargo xtask gen`)",
                    tree.rel(&dir.join(n))
                )
            })
            .collect()
    };
    let problems = missing(man_dir, &mut pages.iter().map(String::as_str));
    let detail = format!("{} pages in {}", pages.len(), tree.rel(man_dir));
    report.check("committed man pages", &problems, &detail);
    let problems = missing(completions_dir, &mut COMPLETIONS.iter().map(|(_, n)| *n));
    let detail = format!(
        "{} files in {}",
        COMPLETIONS.len(),
        tree.rel(completions_dir)
    );
    report.check("committed completions", &problems, &detail);
    let mut files: BTreeSet<String> = PROGRAMS
        .iter()
        .chain(&DOCS)
        .map(std::string::ToString::to_string)
        .collect();
    files.extend(list_dir(man_dir, "man/"));
    files.extend(list_dir(completions_dir, "completions/"));
    if !tree.repo.join("LICENSE").is_file() {
        report.skip(
            "LICENSE",
            "no LICENSE at the repository root: the release tool must put one in every archive",
        );
    }
    Ok(Layout {
        description: "the committed tree (programs, README.md, LICENSE, packaging/man, packaging/completions)".into(),
        files,
        executables: None,
    })
}

/// Every relative link in packaging/README.md names a file that exists.
fn check_readme(tree: &Tree, report: &mut Report) {
    let name = "packaging/README.md links resolve";
    let Ok(text) = tree.read("README.md") else {
        report.fail(name, "packaging/README.md is missing");
        return;
    };
    let link = regex_lite::Regex::new(r"\]\(([^)\s]+)\)").expect("a valid pattern");
    let scheme = regex_lite::Regex::new(r"^[a-z]+:").expect("a valid pattern");
    let problems: Vec<String> = link
        .captures_iter(&text)
        .map(|c| c[1].to_string())
        .filter(|t| !scheme.is_match(t) && !t.starts_with('#'))
        .filter(|t| !tree.packaging.join(t.split('#').next().unwrap_or_default()).exists())
        .map(|t| format!("packaging/README.md links to {t}, which does not exist: fix the link or add the file"))
        .collect();
    report.check(name, &problems, "");
}
