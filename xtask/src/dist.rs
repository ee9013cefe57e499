//! `cargo xtask dist`, `keygen` and `manifests`: build a release directory (archive,
//! packages, SHA256SUMS and its signature, the filled formula and manifests).

use crate::release::{self, DOCS, PROGRAMS};
use crate::{generated, root, DistArgs};
use anyhow::{bail, ensure, Context, Result};
use ring::signature::KeyPair;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn host_target() -> Result<String> {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .context("cannot run rustc -vV")?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .context("rustc -vV names no host")
}

fn run(command: &mut Command) -> Result<()> {
    eprintln!("+ {command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {}", Path::new(command.get_program()).display()))?;
    ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}

pub fn dist(args: DistArgs) -> Result<()> {
    let root = root();
    let host = host_target()?;
    // Building for the host without --target shares target/<profile> with other builds.
    let cross = args.target.clone().filter(|t| *t != host);
    let target = cross.clone().unwrap_or_else(|| host.clone());
    if target.contains("windows") {
        bail!("Windows is packaged by packaging/windows (WiX, winget) from binaries built there");
    }
    let version = args
        .version
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let target_dir = args
        .target_dir
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join("target"));
    let out = args.out.unwrap_or_else(|| target_dir.join("dist"));
    let signer = args.sign_key.as_deref().map(read_key).transpose()?;
    let release_key = release_key(&root, signer.as_ref())?;
    match &release_key {
        Some(key) => println!("codex-guard's release key: {key}"),
        None => eprintln!(
            "warning: no release key (packaging/release-public-key is empty, {RELEASE_KEY_ENV} unset, no --sign-key): the codex-guard built accepts unsigned releases"
        ),
    }
    let profile_dir = match args.profile.as_str() {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        other => other,
    };

    // One cargo run per program: built together, cargo would give the hook the ureq
    // features self_update needs (gzip, charset, socks), growing the program Codex
    // starts for every event.
    for package in ["codex-guard-hook", "codex-guard"] {
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build
            .current_dir(&root)
            .args(["build", "--locked", "-p", package])
            .args(["--profile", &args.profile])
            .arg("--target-dir")
            .arg(&target_dir);
        if let Some(target) = &cross {
            build.args(["--target", target]);
        }
        if let Some(jobs) = args.jobs {
            build.arg(format!("-j{jobs}"));
        }
        // Stamp the version only when it differs, so a normal release reuses the build.
        if version == env!("CARGO_PKG_VERSION") {
            build.env_remove("CODEX_GUARD_BUILD_VERSION");
        } else {
            build.env("CODEX_GUARD_BUILD_VERSION", &version);
        }
        build.env(RELEASE_KEY_ENV, release_key.as_deref().unwrap_or("none"));
        run(&mut build)?;
    }
    let bin_dir = match &cross {
        Some(target) => target_dir.join(target).join(profile_dir),
        None => target_dir.join(profile_dir),
    };

    // Both programs must say the version the archive is named for.
    for program in PROGRAMS {
        if cross.is_none() {
            let out = Command::new(bin_dir.join(program))
                .arg("--version")
                .output()?;
            let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
            ensure!(
                said == format!("{program} {version}"),
                "{program} --version says {said:?}, expected {version}"
            );
        }
    }

    fs::create_dir_all(&out)?;
    let stem = release::archive_stem(&version, &target);
    let files = archive_files(&root, &bin_dir)?;
    let archive = out.join(release::archive_name(&version, &target));
    write_archive(&archive, &stem, &files)?;
    println!("built {}", archive.display());

    let packages = Packages {
        root: &root,
        target_dir: &target_dir,
        profile: &args.profile,
        cross: cross.as_deref(),
        version: &version,
        out: &out,
    };
    if args.deb {
        packages.deb()?;
    }
    if args.rpm {
        packages.rpm()?;
    }

    write_checksums(&out)?;
    if let Some(pair) = &signer {
        let sums = fs::read(out.join("SHA256SUMS"))?;
        fs::write(
            out.join("SHA256SUMS.sig"),
            format!("{}\n", hex(pair.sign(&sums).as_ref())),
        )?;
        println!(
            "signed SHA256SUMS (public key {})",
            hex(pair.public_key().as_ref())
        );
    }
    manifests(&out, &version, true)?;
    Ok(())
}

/// What a release archive holds: (path below its top directory, bytes, mode).
fn archive_files(root: &Path, bin_dir: &Path) -> Result<Vec<(String, Vec<u8>, u32)>> {
    let mut files = Vec::new();
    for program in PROGRAMS {
        let bytes = fs::read(bin_dir.join(program))
            .with_context(|| format!("cannot read the built {program}"))?;
        files.push((program.to_string(), bytes, 0o755));
    }
    for doc in DOCS {
        let path = root.join(doc);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        files.push((doc.to_string(), bytes, 0o644));
    }
    for (name, bytes) in generated()? {
        files.push((name, bytes, 0o644));
    }
    Ok(files)
}

/// The Debian and RPM packages of the programs just built.
struct Packages<'a> {
    root: &'a Path,
    target_dir: &'a Path,
    profile: &'a str,
    cross: Option<&'a str>,
    version: &'a str,
    out: &'a Path,
}

impl Packages<'_> {
    fn cargo(&self) -> Command {
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        command
            .current_dir(self.root)
            .env("CARGO_TARGET_DIR", self.target_dir);
        command
    }

    fn deb(&self) -> Result<()> {
        run(self
            .cargo()
            .args(["deb", "-p", "codex-guard", "--no-build", "--no-strip"])
            .args(["--profile", self.profile])
            .args(self.cross.iter().flat_map(|t| ["--target", t]))
            .args(["--deb-version", self.version])
            .arg("--output")
            .arg(self.out))
    }

    fn rpm(&self) -> Result<()> {
        run(self
            .cargo()
            .args(["generate-rpm", "-p", "installer"])
            .args(["--profile", self.profile])
            .args(self.cross.iter().flat_map(|t| ["--target", t]))
            .args(["--set-metadata", &format!("version = {:?}", self.version)])
            .arg("--target-dir")
            .arg(self.target_dir)
            .arg("--output")
            .arg(self.out))
    }
}

/// Read at build time by installer/build.rs, in place of packaging/release-public-key.
const RELEASE_KEY_ENV: &str = "CODEX_GUARD_RELEASE_PUBLIC_KEY";

/// The release key the programs are built with: the signing seed's own (a signed
/// release must verify with the key it carries), else the environment's, else the
/// committed file's.
fn release_key(
    root: &Path,
    signer: Option<&ring::signature::Ed25519KeyPair>,
) -> Result<Option<String>> {
    let from_env = std::env::var(RELEASE_KEY_ENV)
        .ok()
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty());
    let configured = match from_env.as_deref() {
        Some("none") => None,
        Some(key) => Some(key.to_string()),
        None => {
            let text = fs::read_to_string(root.join("packaging/release-public-key"))
                .context("cannot read packaging/release-public-key")?;
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_ascii_lowercase)
        }
    };
    let Some(signer) = signer else {
        return Ok(configured);
    };
    let signing = hex(signer.public_key().as_ref());
    if let Some(env) = &from_env {
        ensure!(
            *env == signing,
            "{RELEASE_KEY_ENV}={env} is not the public key of --sign-key ({signing}): the release would not verify with the key it carries"
        );
    }
    if configured.as_ref().is_some_and(|k| *k != signing) {
        eprintln!(
            "note: --sign-key is not the key in packaging/release-public-key; these programs carry {signing}"
        );
    }
    Ok(Some(signing))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

pub fn keygen(out: &Path) -> Result<()> {
    use ring::rand::SecureRandom;
    let mut seed = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| anyhow::anyhow!("no randomness from the OS"))?;
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|_| anyhow::anyhow!("cannot make a key pair"))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(out)
        .with_context(|| format!("cannot create {} (it is never overwritten)", out.display()))?;
    std::io::Write::write_all(&mut file, format!("{}\n", hex(&seed)).as_bytes())?;
    println!("{}", hex(pair.public_key().as_ref()));
    eprintln!(
        "secret seed in {}; give the public key above to `codex-guard setup --update-public-key`",
        out.display()
    );
    Ok(())
}

fn read_key(path: &Path) -> Result<ring::signature::Ed25519KeyPair> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = text.trim();
    let seed: Vec<u8> = (0..text.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    ensure!(
        text.len() == 64 && seed.len() == 32,
        "{} is not an Ed25519 seed (64 hex digits, from `cargo xtask keygen`)",
        path.display()
    );
    ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
        .map_err(|_| anyhow::anyhow!("{} is not a usable Ed25519 seed", path.display()))
}

/// A reproducible tar.gz: fixed order, owner root, mtime from `SOURCE_DATE_EPOCH`.
pub fn write_archive(path: &Path, stem: &str, files: &[(String, Vec<u8>, u32)]) -> Result<()> {
    let mtime = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let gz = flate2::write::GzEncoder::new(
        fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        flate2::Compression::best(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut dirs: Vec<String> = vec![stem.to_string()];
    for (name, _, _) in files {
        if let Some((dir, _)) = name.rsplit_once('/') {
            let dir = format!("{stem}/{dir}");
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    for dir in &dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(mtime);
        header.set_size(0);
        tar.append_data(&mut header, format!("{dir}/"), std::io::empty())?;
    }
    let mut sorted: Vec<_> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, bytes, mode) in sorted {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(*mode);
        header.set_mtime(mtime);
        header.set_size(bytes.len() as u64);
        tar.append_data(&mut header, format!("{stem}/{name}"), bytes.as_slice())?;
    }
    tar.into_inner()?.finish()?.sync_all()?;
    Ok(())
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(bytes)))
}

/// `SHA256SUMS` over every archive and package in `dir`, in `sha256sum` format.
fn write_checksums(dir: &Path) -> Result<()> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(std::result::Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| release::CHECKSUMMED.iter().any(|s| n.ends_with(s)))
        .collect();
    names.sort();
    let mut text = String::new();
    for name in &names {
        _ = writeln!(text, "{}  {name}", sha256_file(&dir.join(name))?);
    }
    fs::write(dir.join("SHA256SUMS"), text)?;
    println!(
        "wrote {} ({} files)",
        dir.join("SHA256SUMS").display(),
        names.len()
    );
    Ok(())
}

/// Fills `{{version}}` and `{{sha256_<target>}}` (and winget's `{{sha256_windows_x64}}`)
/// in the Homebrew formula and winget manifests, from `release_dir/SHA256SUMS`.
pub fn manifests(release_dir: &Path, version: &str, allow_missing: bool) -> Result<()> {
    let sums_path = release_dir.join("SHA256SUMS");
    let text = fs::read_to_string(&sums_path)
        .with_context(|| format!("no SHA256SUMS in {}", release_dir.display()))?;
    let (sums, bad) = release::parse_sums(&text);
    ensure!(
        bad.is_empty(),
        "{}: {}",
        sums_path.display(),
        bad.join("; ")
    );
    let values = release::fill_values(version, &sums);
    let mut missing = Vec::new();
    for (source, to) in release::templates(&root())? {
        let text = fs::read_to_string(&source)
            .with_context(|| format!("cannot read {}", source.display()))?;
        let (filled, open) = release::fill(&text, &values);
        missing.extend(open);
        let dest = release_dir.join(to);
        fs::create_dir_all(dest.parent().expect("has a parent"))?;
        fs::write(&dest, filled).with_context(|| format!("cannot write {}", dest.display()))?;
        println!("wrote {}", dest.display());
    }
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        let message = format!("not in SHA256SUMS, left unfilled: {}", missing.join(", "));
        ensure!(allow_missing, "{message}");
        eprintln!("note: {message} (a full release builds every target)");
    }
    Ok(())
}
