//! A release directory (`cargo xtask dist` output): its archives and SHA256SUMS, each
//! archive's layout, the .deb and .rpm it holds, and the formula and manifests filled
//! from its SHA256SUMS.

use super::{windows, Layout, Report, Tree};
use crate::release::{self, DOCS, PROGRAMS, RELEASE_TARGETS, WINDOWS_TARGET};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the Linux packages install the programs and the marker `self-update` reads.
const PACKAGE_FILES: [&str; 3] = [
    "/usr/bin/codex-guard",
    "/usr/bin/codex-guard-hook",
    "/usr/share/codex-guard/installed-by-package",
];

pub struct Release {
    pub dir: PathBuf,
    pub version: Option<String>,
    pub sums: BTreeMap<String, String>,
    /// The Linux archive's layout (`x86_64` preferred) and the archive.
    pub linux: Option<(Layout, PathBuf)>,
    pub windows: Option<Layout>,
}

impl Release {
    pub fn read(dir: &Path, work: &Path, allow_missing: bool, report: &mut Report) -> Result<Self> {
        let mut release = Release {
            dir: dir.to_path_buf(),
            version: None,
            sums: BTreeMap::new(),
            linux: None,
            windows: None,
        };
        let archives = release.find_archives(report)?;
        release.check_sums(&archives, allow_missing, report)?;
        if let Some(version) = &release.version {
            let missing: Vec<String> = RELEASE_TARGETS
                .iter()
                .map(|t| release::archive_name(version, t))
                .filter(|n| !release.sums.contains_key(n))
                .collect();
            let name = "all five targets released";
            if !missing.is_empty() && allow_missing {
                report.skip(name, &format!("missing (allowed): {}", missing.join(", ")));
            } else {
                let problems: Vec<String> = missing
                    .iter()
                    .map(|n| format!("no {n} in SHA256SUMS: build that target"))
                    .collect();
                report.check(name, &problems, "");
            }
        }
        for (target, path) in &archives {
            release.check_archive(target, path, work, report);
        }
        Ok(release)
    }

    /// The release archives (target -> file), all of one version.
    fn find_archives(&mut self, report: &mut Report) -> Result<BTreeMap<&'static str, PathBuf>> {
        let (mut versions, mut archives) = (BTreeSet::new(), BTreeMap::new());
        let mut entries: Vec<PathBuf> = fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            for target in RELEASE_TARGETS {
                let suffix = format!("-{target}.{}", release::archive_extension(target));
                if let Some(version) = name
                    .strip_prefix("codex-guard-")
                    .and_then(|n| n.strip_suffix(&suffix))
                {
                    versions.insert(version.to_string());
                    archives.insert(target, path.clone());
                }
            }
        }
        let problems = if versions.len() == 1 {
            self.version = versions.pop_first();
            Vec::new()
        } else {
            let listed = versions.iter().cloned().collect::<Vec<_>>().join(", ");
            vec![format!(
                "archives of {} versions ({}) in {}: a release directory holds one version",
                versions.len(),
                if listed.is_empty() { "none" } else { &listed },
                self.dir.display()
            )]
        };
        let detail = format!(
            "version {}: {}",
            self.version.as_deref().unwrap_or("?"),
            archives.keys().copied().collect::<Vec<_>>().join(", ")
        );
        report.check("release archives", &problems, &detail);
        Ok(archives)
    }

    fn check_sums(
        &mut self,
        archives: &BTreeMap<&str, PathBuf>,
        allow_missing: bool,
        report: &mut Report,
    ) -> Result<()> {
        let path = self.dir.join("SHA256SUMS");
        let Ok(text) = fs::read_to_string(&path) else {
            report.fail(
                "SHA256SUMS",
                &format!(
                    "no SHA256SUMS in {}: run `cargo xtask dist`",
                    self.dir.display()
                ),
            );
            return Ok(());
        };
        let (sums, mut problems) = release::parse_sums(&text);
        for (name, digest) in &sums {
            let file = self.dir.join(name);
            if !file.is_file() {
                if !allow_missing {
                    problems.push(format!("{name} is listed but missing"));
                }
                continue;
            }
            let actual = format!(
                "{:x}",
                Sha256::digest(
                    fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?
                )
            );
            if actual != *digest {
                problems.push(format!("{name}: sha256 {actual} != listed {digest}: the file changed after SHA256SUMS was written"));
            }
        }
        for archive in archives.values() {
            let name = archive.file_name().unwrap_or_default().to_string_lossy();
            if !sums.contains_key(name.as_ref()) {
                problems.push(format!("{name} is not listed"));
            }
        }
        report.check(
            "SHA256SUMS",
            &problems
                .iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect::<Vec<_>>(),
            &format!("{} entries verified", sums.len()),
        );
        self.sums = sums;
        Ok(())
    }

    fn check_archive(&mut self, target: &str, path: &Path, work: &Path, report: &mut Report) {
        let file_name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let stem = file_name
            .strip_suffix(&format!(".{}", release::archive_extension(target)))
            .unwrap_or(&file_name)
            .to_string();
        let name = format!("archive layout {file_name}");
        let read = if target == WINDOWS_TARGET {
            read_zip(path, &file_name)
        } else {
            read_tar(path, &file_name, &work.join(&stem))
        };
        let (tops, layout) = match read {
            Ok(read) => read,
            Err(e) => {
                report.fail(&name, &format!("cannot read it: {e:#}"));
                return;
            }
        };
        let mut problems = Vec::new();
        if tops != BTreeSet::from([stem.clone()]) {
            problems.push(format!("top directories {tops:?}, want only {stem}/"));
        }
        let exe = if target == WINDOWS_TARGET { ".exe" } else { "" };
        let programs: Vec<String> = PROGRAMS.iter().map(|p| format!("{p}{exe}")).collect();
        let completions = release::COMPLETIONS
            .iter()
            .map(|(_, c)| format!("completions/{c}"));
        for file in programs
            .iter()
            .cloned()
            .chain(DOCS.iter().map(std::string::ToString::to_string))
            .chain(completions)
        {
            if !layout.exists(&file) {
                problems.push(format!("no {stem}/{file}"));
            }
        }
        if let Some(executables) = &layout.executables {
            problems.extend(
                programs
                    .iter()
                    .filter(|p| layout.exists(p) && !executables.contains(*p))
                    .map(|p| format!("{stem}/{p} is not executable")),
            );
        }
        match super::expected_man_pages() {
            Ok(pages) => problems.extend(
                pages
                    .iter()
                    .filter(|p| !layout.exists(&format!("man/{p}")))
                    .map(|p| format!("no {stem}/man/{p}")),
            ),
            Err(e) => problems.push(format!("cannot list the man pages the CLI has: {e:#}")),
        }
        if layout.man_pages().is_empty() {
            problems.push(format!("no man pages in {stem}/man/"));
        }
        report.check(&name, &problems, &format!("{} files", layout.files.len()));
        if target == WINDOWS_TARGET {
            self.windows = Some(layout);
        } else if target.ends_with("linux-gnu")
            && (self.linux.is_none() || target.starts_with("x86_64"))
        {
            self.linux = Some((layout, path.to_path_buf()));
        }
    }
}

/// A zip's top directories and the layout below them.
fn read_zip(path: &Path, description: &str) -> Result<(BTreeSet<String>, Layout)> {
    let zip = zip::ZipArchive::new(fs::File::open(path)?)?;
    let names = zip
        .file_names()
        .map(|n| n.map(std::borrow::Cow::into_owned))
        .collect::<Result<Vec<String>, _>>()?;
    let names: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !n.ends_with('/'))
        .collect();
    let tops = names
        .iter()
        .map(|n| n.split('/').next().unwrap_or_default().to_string())
        .collect();
    let files = names
        .iter()
        .filter_map(|n| n.split_once('/'))
        .map(|(_, f)| f.to_string())
        .collect();
    Ok((
        tops,
        Layout {
            description: description.into(),
            files,
            executables: None,
        },
    ))
}

/// A tar.gz unpacked into `dest` (refusing absolute paths, `..` and links): its top
/// directories and the layout below the one named like the archive.
fn read_tar(path: &Path, description: &str, dest: &Path) -> Result<(BTreeSet<String>, Layout)> {
    let open = || -> Result<tar::Archive<flate2::read::GzDecoder<fs::File>>> {
        Ok(tar::Archive::new(flate2::read::GzDecoder::new(
            fs::File::open(path)?,
        )))
    };
    let (mut tops, mut files, mut executables) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for entry in open()?.entries()? {
        let entry = entry?;
        let name = entry.path()?.into_owned();
        anyhow::ensure!(
            !name.is_absolute()
                && !name
                    .components()
                    .any(|c| c == std::path::Component::ParentDir),
            "unsafe member {}",
            name.display()
        );
        let kind = entry.header().entry_type();
        anyhow::ensure!(
            !kind.is_symlink() && !kind.is_hard_link(),
            "link member {}",
            name.display()
        );
        let mut parts = name.components();
        if let Some(top) = parts.next() {
            tops.insert(top.as_os_str().to_string_lossy().into_owned());
        }
        let below = parts.as_path().to_string_lossy().into_owned();
        if kind.is_file() && !below.is_empty() {
            if entry.header().mode()? & 0o111 != 0 {
                executables.insert(below.clone());
            }
            files.insert(below);
        }
    }
    fs::create_dir_all(dest)?;
    open()?.unpack(dest)?;
    Ok((
        tops,
        Layout {
            description: description.into(),
            files,
            executables: Some(executables),
        },
    ))
}

/// The formula and manifests the release tool filled in (`release_dir/homebrew`, /winget).
pub fn check_filled(
    tree: &Tree,
    release: &Release,
    allow_missing: bool,
    report: &mut Report,
) -> Result<()> {
    let name = "filled formula and manifests match the templates and SHA256SUMS";
    let pairs = release::templates(&tree.repo)?;
    if !pairs.iter().any(|(_, out)| release.dir.join(out).exists()) {
        report.skip(name, "the release directory has no homebrew/ or winget/");
        return Ok(());
    }
    let Some(version) = &release.version else {
        report.fail(name, "no release version to check them against");
        return Ok(());
    };
    let values = release::fill_values(version, &release.sums);
    let mut problems = Vec::new();
    for (template, out) in &pairs {
        let Ok(text) = fs::read_to_string(release.dir.join(out)) else {
            problems.push(format!("no {}: run `cargo xtask manifests`", out.display()));
            continue;
        };
        let source = fs::read_to_string(template)
            .with_context(|| format!("cannot read {}", tree.rel(template)))?;
        if text != release::fill(&source, &values).0 {
            problems.push(format!(
                "{} is not {} filled from SHA256SUMS: run `cargo xtask manifests`",
                out.display(),
                tree.rel(template)
            ));
        }
        let left = release::tokens(&text);
        if !left.is_empty() && !allow_missing {
            problems.push(format!(
                "{} leaves {} unfilled",
                out.display(),
                left.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if out.extension().is_some_and(|e| e == "yaml") {
            if let Err(e) = windows::parse_manifest(&text) {
                problems.push(format!("{}: {e}", out.display()));
            }
        }
    }
    report.check(name, &problems, &format!("version {version}"));
    let formula = release.dir.join(&pairs[0].1);
    if let (Ok(ruby), true) = (which::which("ruby"), formula.is_file()) {
        let out = Command::new(ruby).arg("-c").arg(&formula).output()?;
        let problems = if out.status.success() {
            Vec::new()
        } else {
            vec![String::from_utf8_lossy(&out.stderr).trim().to_string()]
        };
        report.check("filled formula: ruby -c", &problems, "");
    }
    Ok(())
}

fn packages(release: &Release, extension: &str) -> Result<Vec<PathBuf>> {
    let mut list: Vec<PathBuf> = fs::read_dir(&release.dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    list.sort();
    Ok(list)
}

fn output(command: &mut Command) -> Result<String> {
    let out = command.output().with_context(|| {
        format!(
            "cannot run {}",
            std::path::Path::new(command.get_program()).display()
        )
    })?;
    anyhow::ensure!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn check_deb(tree: &Tree, release: &Release, report: &mut Report) -> Result<()> {
    let debs = packages(release, "deb")?;
    if debs.is_empty() {
        report.skip("deb package", "no .deb in the release directory");
        return Ok(());
    }
    let Ok(dpkg_deb) = which::which("dpkg-deb") else {
        report.skip("deb package", "dpkg-deb is not installed");
        return Ok(());
    };
    for deb in debs {
        let name = format!(
            "deb package {}",
            deb.file_name().unwrap_or_default().to_string_lossy()
        );
        let control = tempfile::tempdir()?;
        let listing = output(
            Command::new(&dpkg_deb)
                .arg("-e")
                .arg(&deb)
                .arg(control.path()),
        )
        .and_then(|_| output(Command::new(&dpkg_deb).arg("-c").arg(&deb)));
        let listing = match listing {
            Ok(listing) => listing,
            Err(e) => {
                report.fail(&name, &format!("{e:#}"));
                continue;
            }
        };
        let mut problems = Vec::new();
        for script in ["postinst", "prerm", "postrm"] {
            match fs::read(control.path().join(script)) {
                Err(_) => problems.push(format!("no {script}")),
                Ok(bytes)
                    if fs::read(tree.packaging.join("deb").join(script))
                        .ok()
                        .as_ref()
                        != Some(&bytes) =>
                {
                    problems.push(format!(
                        "{script} differs from packaging/deb/{script}: rebuild the package"
                    ));
                }
                Ok(_) => {}
            }
        }
        let paths: BTreeSet<&str> = listing
            .lines()
            .filter_map(|l| l.split_whitespace().last())
            .map(|p| p.trim_start_matches('.'))
            .collect();
        problems.extend(
            PACKAGE_FILES
                .iter()
                .filter(|p| !paths.contains(*p))
                .map(|p| format!("no {p}")),
        );
        report.check(&name, &problems, "maintainer scripts and files");
    }
    Ok(())
}

pub fn check_rpm(tree: &Tree, release: &Release, report: &mut Report) -> Result<()> {
    let rpms = packages(release, "rpm")?;
    if rpms.is_empty() {
        report.skip("rpm package", "no .rpm in the release directory");
        return Ok(());
    }
    let Ok(rpm) = which::which("rpm") else {
        report.skip("rpm package", "rpm is not installed");
        return Ok(());
    };
    for package in rpms {
        let name = format!(
            "rpm package {}",
            package.file_name().unwrap_or_default().to_string_lossy()
        );
        let read = output(Command::new(&rpm).args(["-qp", "--scripts"]).arg(&package))
            .and_then(|s| Ok((s, output(Command::new(&rpm).arg("-qlp").arg(&package))?)));
        let (scripts, listing) = match read {
            Ok(read) => read,
            Err(e) => {
                report.fail(&name, &format!("{e:#}"));
                continue;
            }
        };
        let mut problems = Vec::new();
        for ours in ["post.sh", "preun.sh"] {
            let body = tree.read(&format!("rpm/{ours}"))?;
            // rpm prints the scriptlet after its own header line: compare without the shebang.
            let body = body
                .trim()
                .split_once('\n')
                .map_or("", |(_, rest)| rest.trim());
            if !scripts.contains(body) {
                problems.push(format!(
                    "packaging/rpm/{ours} is not a scriptlet of the package: rebuild it"
                ));
            }
        }
        let files: BTreeSet<&str> = listing.split_whitespace().collect();
        problems.extend(
            PACKAGE_FILES
                .iter()
                .filter(|p| !files.contains(*p))
                .map(|p| format!("no {p}")),
        );
        report.check(&name, &problems, "scriptlets and files");
    }
    Ok(())
}
