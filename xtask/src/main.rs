//! Release tooling, run as `cargo xtask <command>`:
//!
//! - `dist`: builds both programs and packs `codex-guard-<version>-<target>.tar.gz`
//!   (with README.md, LICENSE, man pages and shell completions) and `SHA256SUMS`;
//!   with `--deb` / `--rpm` also the Debian and RPM packages (cargo-deb,
//!   cargo-generate-rpm), then fills the Homebrew formula and winget manifests.
//!   `codex-guard` carries the release public key (installer/build.rs); with
//!   `--sign-key` it is that seed's key, so a signed release always verifies the next.
//! - `gen`: writes the man pages and completions committed under `packaging/`
//!   (`--check` fails when they are out of date).
//! - `manifests`: fills the Homebrew formula and winget manifests from a release
//!   directory's `SHA256SUMS`.
//! - `check-packaging`: checks packaging/ (Homebrew, `WiX`, winget, macOS, Debian and
//!   RPM scripts) against the release layout, or against a release directory.

#[allow(dead_code)]
#[path = "../../installer/src/cli.rs"]
mod cli;

mod check_packaging;
mod dist;
mod release;

use anyhow::{ensure, Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use release::COMPLETIONS;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Xtask {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the release archive (and packages) for one target.
    Dist(DistArgs),
    /// Write the man pages and shell completions under packaging/.
    Gen {
        /// Fail if the committed files differ from what the CLI generates.
        #[arg(long)]
        check: bool,
        /// Write here instead of packaging/man and packaging/completions.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Make an Ed25519 key pair for signing releases: the secret seed goes to FILE
    /// (0600, never overwritten), the public key (for `update_public_key`) is printed.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Fill the Homebrew formula and winget manifests from a release directory.
    Manifests {
        #[arg(long, value_name = "DIR")]
        release_dir: PathBuf,
        /// Version of the release (default: this workspace's).
        #[arg(long)]
        version: Option<String>,
        /// Leave the checksums of targets missing from SHA256SUMS unfilled instead of failing.
        #[arg(long)]
        allow_missing: bool,
    },
    /// Check packaging/ against the release layout `dist` builds; with --release-dir,
    /// against a release directory's archives, packages and filled manifests.
    CheckPackaging(check_packaging::Options),
}

#[derive(clap::Args)]
pub struct DistArgs {
    /// Target triple (default: this machine's).
    #[arg(long)]
    target: Option<String>,
    /// Version stamped into both programs and the archive name (default: Cargo.toml's).
    #[arg(long)]
    version: Option<String>,
    /// Cargo profile to build with.
    #[arg(long, default_value = "release")]
    profile: String,
    /// Cargo target directory (default: $`CARGO_TARGET_DIR`, else target/).
    #[arg(long, value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Where the archive, packages and SHA256SUMS go (default: target/dist).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also build the Debian package (needs cargo-deb).
    #[arg(long)]
    deb: bool,
    /// Also build the RPM package (needs cargo-generate-rpm).
    #[arg(long)]
    rpm: bool,
    /// Parallel jobs for cargo.
    #[arg(long, short = 'j')]
    jobs: Option<u32>,
    /// Sign SHA256SUMS with this Ed25519 seed (from `cargo xtask keygen`) into
    /// SHA256SUMS.sig, and build its public key into codex-guard as the release key.
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
}

fn main() -> Result<()> {
    match Xtask::parse().command {
        Task::Dist(args) => dist::dist(args),
        Task::Gen { check, out } => gen(check, out),
        Task::Keygen { out } => dist::keygen(&out),
        Task::Manifests {
            release_dir,
            version,
            allow_missing,
        } => {
            let version = version.unwrap_or_else(|| codex_guard_common::VERSION.to_string());
            dist::manifests(&release_dir, &version, allow_missing)
        }
        Task::CheckPackaging(options) => check_packaging::run(&options),
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Every generated file (relative name, bytes) for the CLI as built now.
pub fn generated() -> Result<Vec<(String, Vec<u8>)>> {
    let mut command = cli::Cli::command();
    command.build();
    let mut files = Vec::new();
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    files.push(("man/codex-guard.1".to_string(), page));
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("codex-guard-{}", sub.get_name());
        let mut page = Vec::new();
        // clap names are 'static; a few leaked bytes in a one-shot tool.
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
        clap_mangen::Man::new(sub.clone().name(static_name)).render(&mut page)?;
        files.push((format!("man/{name}.1"), page));
    }
    for (shell, file) in COMPLETIONS {
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut command, "codex-guard", &mut script);
        files.push((format!("completions/{file}"), script));
    }
    Ok(files)
}

fn gen(check: bool, out: Option<PathBuf>) -> Result<()> {
    let base = out.unwrap_or_else(|| root().join("packaging"));
    let mut stale = Vec::new();
    for (name, bytes) in generated()? {
        let path = base.join(&name);
        if check {
            if fs::read(&path).ok().as_deref() != Some(bytes.as_slice()) {
                stale.push(name);
            }
            continue;
        }
        fs::create_dir_all(path.parent().expect("has a parent"))?;
        fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if check {
        ensure!(
            stale.is_empty(),
            "out of date under {}: {} (run `cargo xtask gen`)",
            base.display(),
            stale.join(", ")
        );
        println!(
            "man pages and completions under {} are current",
            base.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_a_man_page() {
        let files = generated().unwrap();
        for name in ["setup", "doctor", "uninstall", "self-update"] {
            assert!(
                files
                    .iter()
                    .any(|(f, _)| *f == format!("man/codex-guard-{name}.1")),
                "{name}"
            );
        }
        assert!(files.iter().any(|(f, _)| f == "completions/_codex-guard"));
    }
}
