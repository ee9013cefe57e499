//! `codex-guard self-update`: replaces both programs with a verified release.
//!
//! The release list comes from a GitHub-compatible releases API (GitHub itself, or
//! the enterprise mirror in the config's `update_url`), over https only. Nothing
//! downloaded runs, and nothing on disk changes, until the release's `SHA256SUMS` is
//! proven signed by the release key ([`BUILT_IN_KEY`], or the config's
//! `update_public_key`) and the archive matched it; only then do the new programs run
//! to say their version. Without any key, or with `--allow-unsigned` for a release that
//! has no signature, the checksum alone is checked and a warning says so, on stderr
//! and in the JSON report. Then both programs are replaced by renames (the hook first,
//! put back if the second rename fails), every install on this machine is refreshed
//! by the new `codex-guard setup --keep-settings` (the hooks' command, and so their
//! trust, stay the same), and the new `codex-guard doctor` has the last word.

use crate::cli::SelfUpdateArgs;
use crate::doctor::process;
use crate::failure::{ExitCode, Failure};
use crate::{fsutil, home, install::managed, releases, report, settings};
use anyhow::{Context, Result};
use codex_guard_common::config::{RuntimeConfig, Updates};
use codex_guard_common::layout::RUNTIME_BIN;
use codex_guard_common::VERSION;
use serde::Deserialize;
use serde_json::Value;
use std::ffi::OsString;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// Where releases come from when the config names no mirror.
pub const DEFAULT_SOURCE: &str = "https://api.github.com";
pub const REPO_OWNER: &str = "codex-guard";
pub const REPO_NAME: &str = "codex-guard";
/// The checksum list every release carries (`sha256sum` format).
pub const CHECKSUMS: &str = "SHA256SUMS";
/// The Ed25519 signature of [`CHECKSUMS`] (hex), required whenever a key is known.
pub const SIGNATURE: &str = "SHA256SUMS.sig";
/// The release public key compiled in at build time (installer/build.rs: the build's
/// `CODEX_GUARD_RELEASE_PUBLIC_KEY`, else `packaging/release-public-key`), if any.
pub const BUILT_IN_KEY: Option<&str> = if env!("CODEX_GUARD_RELEASE_KEY").is_empty() {
    None
} else {
    Some(env!("CODEX_GUARD_RELEASE_KEY"))
};
/// A file a system package installs beside the programs (`../share/codex-guard/`):
/// the package manager owns updates then.
pub const PACKAGE_MARKER: &str = "share/codex-guard/installed-by-package";
/// Longest wait for the release list, and for the download.
const LIST_DEADLINE: Duration = Duration::from_secs(60);
const DOWNLOAD_DEADLINE: Duration = Duration::from_secs(600);
/// Longest a new program may take to say its version, and a setup or doctor it runs.
const VERSION_DEADLINE: Duration = Duration::from_secs(10);
const CHILD_DEADLINE: Duration = Duration::from_secs(180);
/// Largest program a release may hold: anything bigger is not ours.
const MAX_PROGRAM_BYTES: u64 = 256 * 1024 * 1024;

/// The target triple this build runs on, as release archives are named.
pub fn target() -> &'static str {
    self_update::get_target()
}

/// `codex-guard-<version>-<target>`: the archive's name without `.tar.gz`, and its top directory.
pub fn archive_stem(version: &str, target: &str) -> String {
    format!("codex-guard-{version}-{target}")
}

/// This machine as self-update finds it: the programs, the installs they serve, and
/// the settings that decide where releases come from and who must sign them.
struct Machine {
    /// This codex-guard, and the directory it and the hook runtime are in.
    exe: PathBuf,
    bin_dir: PathBuf,
    root: PathBuf,
    layout: codex_guard_common::Layout,
    managed_install: Option<(
        managed::SystemLayout,
        codex_guard_common::receipt::ManagedReceipt,
    )>,
    /// Why self-update must leave the programs alone, if it must.
    owner: Option<String>,
    signer: Signer,
    source: String,
    ca_files: Vec<PathBuf>,
}

impl Machine {
    /// Who owns updates: the machine-wide config speaks for the fleet, then the user's.
    /// Run as root, a config only counts if root owns it: `sudo` may keep a user's HOME
    /// or `CODEX_HOME`, and that user's key, mirror or CA must not choose what root installs.
    fn read(args: &SelfUpdateArgs, loud: &mut Vec<String>) -> Result<Machine> {
        let exe = std::env::current_exe().context("cannot tell where this codex-guard is")?;
        let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
        let bin_dir = exe
            .parent()
            .context("this codex-guard has no parent directory")?
            .to_path_buf();
        let root = home::canonical_path(&args.home.system_root)?;
        let layout = home::resolve(&args.home)?;
        let managed_install = managed::installed(&root);
        let config_owner = (fsutil::current_uid() == Some(0)).then_some(0);
        let user_config = read_config(&layout.runtime_config(), config_owner, loud);
        let managed_config = managed_install
            .as_ref()
            .and_then(|(sys, _)| read_config(&sys.runtime_config(), config_owner, loud));
        let owner = owner_of_updates(&bin_dir, managed_config.as_ref(), user_config.as_ref());
        let signer = Signer::choose(
            managed_config
                .as_ref()
                .and_then(|c| c.update_public_key.as_deref()),
            user_config
                .as_ref()
                .and_then(|c| c.update_public_key.as_deref())
                .map(|key| (key, layout.runtime_config())),
            BUILT_IN_KEY,
        );
        let source = match &args.source {
            Some(url) => settings::validate_update_url(url)?,
            None => managed_config
                .as_ref()
                .and_then(|c| c.update_url.clone())
                .or_else(|| user_config.as_ref().and_then(|c| c.update_url.clone()))
                .unwrap_or_else(|| DEFAULT_SOURCE.to_string()),
        };
        // The source is trusted as the runtime trusts the service: the OS store plus
        // the configured CA bundles.
        let mut ca_files: Vec<PathBuf> = [&managed_config, &user_config]
            .into_iter()
            .filter_map(|c| c.as_ref().and_then(|c| c.ca_cert.clone()))
            .chain(
                std::env::var_os("SSL_CERT_PATH")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from),
            )
            .collect();
        ca_files.dedup();
        Ok(Machine {
            exe,
            bin_dir,
            root,
            layout,
            managed_install,
            owner,
            signer,
            source,
            ca_files,
        })
    }

    fn client(&self, allow_http: bool) -> Result<releases::Client> {
        releases::Client::new(&self.ca_files, allow_http).map_err(|e| {
            Failure::bad_input(format!("cannot set up TLS for the release source: {e:#}"))
                .hint(format!(
                    "point ca_cert in {} at a PEM file of CA certificates",
                    self.layout.runtime_config().display()
                ))
                .into()
        })
    }

    fn list_releases(
        &self,
        client: &releases::Client,
    ) -> Result<Vec<self_update::update::Release>> {
        let source = self.source.clone();
        with_deadline(LIST_DEADLINE, "listing the releases", {
            let client = client.clone();
            move || client.releases(&source, REPO_OWNER, REPO_NAME, target())
        })
        .map_err(|e| {
            Failure::degraded(format!("cannot list the releases at {}: {e:#}", self.source))
                .hint(format!(
                    "check the network, or the release source: update_url in {} (set with `codex-guard setup --update-url URL`), or pass --source URL",
                    self.layout.runtime_config().display()
                ))
                .into()
        })
    }

    /// The installs the new programs will refresh, as `setup` arguments: this user's,
    /// and the machine-wide one when run as root (else a warning says it stays old).
    fn refresh_targets(&self, warnings: &mut Vec<String>) -> Vec<(String, Vec<OsString>)> {
        let home = self.layout.codex_home.clone();
        let mut targets: Vec<(String, Vec<OsString>)> = Vec::new();
        if self.layout.receipt().is_file() {
            targets.push((
                home.display().to_string(),
                vec!["--codex-home".into(), home.into()],
            ));
        }
        if let Some((sys, _)) = &self.managed_install {
            if fsutil::current_uid() == Some(0) {
                targets.push(("machine-wide install".into(), vec!["--managed".into()]));
            } else {
                warnings.push(format!(
                    "the machine-wide runtime {} is still the old one: run `sudo codex-guard setup --managed --keep-settings`",
                    sys.runtime_bin().display()
                ));
            }
        }
        targets
    }

    /// `program setup --keep-settings` for one of [`Machine::refresh_targets`].
    fn setup_command(&self, program: &Path, target: &[OsString], dry_run: bool) -> Command {
        let mut command = Command::new(program);
        command
            .args(["setup", "--silent", "--json", "--keep-settings"])
            .args(target)
            .arg("--system-root")
            .arg(&self.root);
        if dry_run {
            command.arg("--dry-run");
        }
        command
    }
}

/// A release downloaded, checked and unpacked, its programs not yet in place.
struct Fetched {
    version: String,
    archive_name: String,
    /// The archive's sha256, as its checksum list gives it.
    sha256: String,
    /// How the checksum list was authenticated, for the report.
    signature: report::Signature,
    staged: Staged,
}

pub fn run(args: &SelfUpdateArgs) -> Result<ExitCode> {
    // Said on stderr as they happen, and in the JSON report's warnings.
    let mut loud = Vec::new();
    let machine = Machine::read(args, &mut loud)?;
    if !args.check {
        if let Some(owner) = &machine.owner {
            return Err(Failure::refused(format!("not updating: {owner}")).into());
        }
    }
    let client = machine.client(args.allow_http)?;
    let releases = machine.list_releases(&client)?;
    let choice = choose(&releases, VERSION, args.to.as_deref())?;
    if args.check {
        return Ok(report_check(
            args,
            &machine.source,
            &choice,
            machine.owner.as_deref(),
            &machine.signer,
        ));
    }
    let release = match choice {
        Choice::Install(release) => release,
        other => return report_unchanged(args, &machine.source, &other),
    };
    // `work` is the directory beside the programs it is all in (removed when dropped).
    let (fetched, work) = fetch(args, &machine, &client, &release, &mut loud)?;

    // Each refresh is rehearsed first (`--dry-run`) by the staged program: a release
    // that cannot take over an install's settings is not installed.
    let mut warnings = Vec::new();
    let targets = machine.refresh_targets(&mut warnings);
    for (what, target) in &targets {
        let rehearsal = run_json(machine.setup_command(&fetched.staged.main, target, true))?;
        if !rehearsal.success {
            return Err(Failure::degraded(format!(
                "codex-guard {} cannot take over the {what} ({}); nothing was changed",
                fetched.version,
                rehearsal.stderr.lines().next().unwrap_or("setup failed")
            ))
            .hint("install a release that supports this install's settings, or run setup with new settings first")
            .into());
        }
    }
    let hook_path = machine.bin_dir.join(RUNTIME_BIN);
    replace_both(&fetched.staged, &machine.exe, &hook_path, work.path())?;
    drop(work);

    // The new programs refresh what they serve, then check it.
    let mut exit = if machine.managed_install.is_some() && fsutil::current_uid() != Some(0) {
        ExitCode::Degraded
    } else {
        ExitCode::Ok
    };
    let refreshed: Vec<report::Refreshed> = targets
        .iter()
        .map(|(what, target)| {
            let command = machine.setup_command(&machine.exe, target, false);
            refresh(command, what, &mut warnings, &mut exit)
        })
        .collect();
    // Doctor checks what there is: with no install on this machine, there is nothing
    // for it to find healthy.
    let doctor = if refreshed.is_empty() {
        None
    } else {
        let doctor = run_doctor(args, &machine)?;
        if !doctor.success {
            exit = ExitCode::Degraded;
        }
        Some(doctor)
    };
    report_updated(
        args,
        &machine,
        &fetched,
        &Updated {
            hook_path,
            refreshed,
            doctor,
            loud,
            warnings,
        },
    );
    Ok(exit)
}

/// Downloads the release's checksum list, authenticates it (or refuses, or warns
/// loudly, as the signer and `--allow-unsigned` say), then the archive, checks it
/// against the list and unpacks our two programs, which must say the right version.
fn fetch(
    args: &SelfUpdateArgs,
    machine: &Machine,
    client: &releases::Client,
    release: &self_update::update::Release,
    loud: &mut Vec<String>,
) -> Result<(Fetched, tempfile::TempDir)> {
    let version = release.version.clone();
    let source = &machine.source;
    let stem = archive_stem(&version, target());
    let archive_name = format!("{stem}.tar.gz");
    let asset = |name: &str| {
        release
            .assets
            .iter()
            .find(|a| a.name == name)
            .cloned()
            .ok_or_else(|| {
                anyhow::Error::from(Failure::degraded(format!(
                    "release {version} at {source} has no {name}; nothing was changed"
                )))
            })
    };
    let archive_asset = asset(&archive_name)?;
    let sums_asset = asset(CHECKSUMS)?;
    let signature_asset = asset(SIGNATURE).ok();
    // Decided before any download: an unsigned release is refused, or accepted loudly.
    if let Some(warning) = unsigned_warning(args, machine, &version, signature_asset.is_some())? {
        eprintln!("warning: {warning}");
        loud.push(warning);
    }

    let work = tempfile::Builder::new()
        .prefix(".codex-guard-update-")
        .tempdir_in(&machine.bin_dir)
        .map_err(|e| writable_error(&machine.bin_dir, &e))?;
    let progress = !args.json && std::io::stderr().is_terminal();
    let download = |asset: &self_update::update::ReleaseAsset| {
        let path = work.path().join(&asset.name);
        let (url, to, client) = (asset.download_url.clone(), path.clone(), client.clone());
        with_deadline(DOWNLOAD_DEADLINE, "downloading the release", move || {
            client.download(&url, &to, progress)
        })
        .with_context(|| format!("cannot download {} from {source}", asset.name))?;
        Ok::<_, anyhow::Error>(path)
    };

    // The checksums are authenticated before the archive is even fetched.
    let sums = fs_err::read_to_string(download(&sums_asset)?)?;
    let signature = match (&machine.signer, &signature_asset) {
        (Signer::Key { key, from }, Some(signature_asset)) => {
            let signature = fs_err::read_to_string(download(signature_asset)?)?;
            verify_signature(key, sums.as_bytes(), &signature).map_err(|why| {
                Failure::degraded(format!(
                    "{CHECKSUMS} of release {version} is not signed by {from} ({why}); nothing was run, nothing was changed"
                ))
                .hint("the release was tampered with, or signed with another key: check the release source, and update_public_key with whoever runs it")
            })?;
            report::Signature {
                status: "verified".into(),
                key: Some(from.clone()),
                accepted_because: None,
            }
        }
        (Signer::Key { .. }, None) => report::Signature {
            status: "unsigned".into(),
            key: None,
            accepted_because: Some("--allow-unsigned".into()),
        },
        (Signer::None, _) => report::Signature {
            status: "unverified".into(),
            key: None,
            accepted_because: Some("no release key in this build or the config".into()),
        },
    };
    let archive_path = download(&archive_asset)?;
    let expected = checksum_for(&sums, &archive_name).ok_or_else(|| {
        Failure::degraded(format!(
            "{CHECKSUMS} of release {version} lists no {archive_name}; nothing was changed"
        ))
    })?;
    let actual = fsutil::sha256_hex(&fs_err::read(&archive_path)?);
    if !actual.eq_ignore_ascii_case(&expected) {
        return Err(Failure::degraded(format!(
            "{archive_name} does not match {CHECKSUMS} (expected sha256 {expected}, got {actual}); nothing was changed"
        ))
        .hint("the download was corrupted or tampered with: try again, or ask who runs the release source")
        .into());
    }
    let staged = stage(&archive_path, &stem, work.path())?;
    verify_version(&staged.main, "codex-guard", &version)?;
    verify_version(&staged.hook, "codex-guard-hook", &version)?;
    let fetched = Fetched {
        version,
        archive_name,
        sha256: actual,
        signature,
        staged,
    };
    Ok((fetched, work))
}

/// An unsigned release is refused when a key is known (unless `--allow-unsigned`), and
/// accepted with a loud warning when it is allowed or no key is known at all.
fn unsigned_warning(
    args: &SelfUpdateArgs,
    machine: &Machine,
    version: &str,
    signed: bool,
) -> Result<Option<String>> {
    let source = &machine.source;
    Ok(match (&machine.signer, signed) {
        (Signer::Key { .. }, true) => None,
        (Signer::Key { from, .. }, false) if args.allow_unsigned => Some(format!(
            "installing release {version} from {source} UNSIGNED ({SIGNATURE} missing), because of --allow-unsigned: nothing proves who made it, {from} had nothing to check"
        )),
        (Signer::Key { from, .. }, false) => {
            return Err(Failure::degraded(format!(
                "release {version} at {source} is not signed ({SIGNATURE} missing), and self-update installs only releases signed with {from}; nothing was downloaded or run, nothing was changed"
            ))
            .hint("ask who publishes the release source for its SHA256SUMS.sig; to install it anyway, knowing nothing proves who made it, pass --allow-unsigned")
            .into())
        }
        (Signer::None, _) => Some(format!(
            "installing release {version} from {source} UNVERIFIED: this codex-guard was built without a release key and no update_public_key is configured, so nothing proves who made the release (only its SHA256SUMS checksum is checked)"
        )),
    })
}

/// The new `codex-guard doctor --json` on this user's home.
fn run_doctor(args: &SelfUpdateArgs, machine: &Machine) -> Result<JsonRun> {
    let mut doctor = Command::new(&machine.exe);
    doctor
        .args(["doctor", "--json"])
        .arg("--codex-home")
        .arg(&machine.layout.codex_home)
        .arg("--system-root")
        .arg(&machine.root);
    if let Some(codex) = &args.codex_bin {
        doctor.arg("--codex-bin").arg(codex);
    }
    run_json(doctor)
}

/// What an update did after the programs were replaced.
struct Updated {
    hook_path: PathBuf,
    refreshed: Vec<report::Refreshed>,
    doctor: Option<JsonRun>,
    loud: Vec<String>,
    warnings: Vec<String>,
}

fn report_updated(args: &SelfUpdateArgs, machine: &Machine, fetched: &Fetched, done: &Updated) {
    let Fetched {
        version,
        archive_name,
        sha256,
        signature,
        ..
    } = fetched;
    let source = &machine.source;
    if args.json {
        report::print(&report::UpdateReport {
            schema_version: report::SCHEMA_VERSION,
            status: "updated".into(),
            from: VERSION.into(),
            to: version.clone(),
            source: source.clone(),
            sha256: sha256.clone(),
            signature: signature.clone(),
            replaced: vec![machine.exe.clone(), done.hook_path.clone()],
            refreshed: done.refreshed.clone(),
            doctor: done.doctor.as_ref().map(|d| d.json.clone()),
            warnings: done.loud.iter().chain(&done.warnings).cloned().collect(),
        });
        return;
    }
    println!("updated codex-guard {VERSION} -> {version} from {source}");
    match &signature.key {
        Some(key) => println!(
            "  verified {CHECKSUMS} (signed by {key}) and {archive_name} (sha256 {sha256})"
        ),
        None => {
            println!("  checked {archive_name} against an UNSIGNED {CHECKSUMS} (sha256 {sha256})");
        }
    }
    println!(
        "  replaced {} and {}",
        machine.exe.display(),
        done.hook_path.display()
    );
    for item in &done.refreshed {
        println!(
            "  refreshed {}: {} ({} file(s) changed)",
            item.what,
            item.status.as_str(),
            item.changes.len()
        );
        for note in &item.notes {
            eprintln!("note: {note}");
        }
    }
    let doctor_status = match &done.doctor {
        Some(run) => run.json["status"].as_str().unwrap_or("unknown").to_string(),
        None => "not run: no install of codex-guard on this machine to check".to_string(),
    };
    println!("  doctor: {doctor_status}");
    for warning in &done.warnings {
        eprintln!("warning: {warning}");
    }
    if done.doctor.as_ref().is_some_and(|d| !d.success) {
        eprintln!("run `codex-guard doctor` to see what needs attention");
    }
}

/// Why self-update must leave the programs alone, if it must.
fn owner_of_updates(
    bin_dir: &Path,
    managed: Option<&RuntimeConfig>,
    user: Option<&RuntimeConfig>,
) -> Option<String> {
    if let Some(marker) = bin_dir.parent().map(|p| p.join(PACKAGE_MARKER)) {
        if let Ok(text) = std::fs::read_to_string(&marker) {
            let how = text.trim();
            return Some(format!(
                "codex-guard was installed by a system package ({}): update it with the package manager",
                if how.is_empty() { "see the package manager" } else { how }
            ));
        }
    }
    if managed.is_some_and(|c| c.updates == Updates::Mdm) {
        return Some(
            "the machine-wide config says updates = \"mdm\": the fleet's device management updates codex-guard"
                .into(),
        );
    }
    if user.is_some_and(|c| c.updates == Updates::Mdm) {
        return Some(
            "the config says updates = \"mdm\": the fleet's device management updates codex-guard"
                .into(),
        );
    }
    None
}

/// The runtime config at `path`, if it is there, valid, and (with `owner`) owned by
/// that uid, judged on the file opened, so it cannot be swapped after the check.
/// Why a file is ignored goes to stderr at once and into `loud`.
fn read_config(path: &Path, owner: Option<u32>, loud: &mut Vec<String>) -> Option<RuntimeConfig> {
    let mut file = std::fs::File::open(path).ok()?;
    #[cfg(unix)]
    if let Some(owner) = owner {
        use std::os::unix::fs::MetadataExt;
        let uid = file.metadata().ok()?.uid();
        if uid != owner {
            let why = format!(
                "{} is ignored: it belongs to uid {uid}, and self-update run as root takes settings (update_public_key, update_url, ca_cert, updates) only from files root owns",
                path.display()
            );
            eprintln!("warning: {why}");
            loud.push(why);
            return None;
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    match RuntimeConfig::from_toml(&text) {
        Ok(config) => Some(config),
        Err(e) => {
            let why = format!("{} is invalid ({}): ignored", path.display(), e.message());
            eprintln!("warning: {why}");
            loud.push(why);
            None
        }
    }
}

/// What the release list offers against the running version.
#[derive(Debug)]
enum Choice {
    Install(self_update::update::Release),
    /// The newest release is this version.
    UpToDate(String),
    /// This version is newer than every release (never downgraded without `--to`).
    Newer(String),
    /// The source lists no release for this target.
    None,
}

fn choose(
    releases: &[self_update::update::Release],
    current: &str,
    to: Option<&str>,
) -> Result<Choice> {
    if let Some(wanted) = to {
        let wanted = wanted.trim().trim_start_matches('v');
        semver_check(wanted)?;
        return match releases.iter().find(|r| r.version == wanted) {
            Some(release) if release.version == current => Ok(Choice::UpToDate(current.into())),
            Some(release) => Ok(Choice::Install(release.clone())),
            None => Err(Failure::bad_input(format!(
                "there is no release {wanted} for {}; available: {}",
                target(),
                list(releases)
            ))
            .into()),
        };
    }
    let mut newest: Option<&self_update::update::Release> = None;
    for release in releases.iter().filter(|r| is_stable(&r.version)) {
        if semver_check(&release.version).is_err() {
            continue;
        }
        if newest.is_none_or(|n| greater(&n.version, &release.version)) {
            newest = Some(release);
        }
    }
    Ok(match newest {
        None => Choice::None,
        Some(r) if greater(current, &r.version) => Choice::Install(r.clone()),
        Some(r) if r.version == current => Choice::UpToDate(r.version.clone()),
        Some(r) => Choice::Newer(r.version.clone()),
    })
}

fn is_stable(version: &str) -> bool {
    !version.contains('-')
}

fn greater(current: &str, other: &str) -> bool {
    self_update::version::bump_is_greater(current, other).unwrap_or(false)
}

fn semver_check(version: &str) -> Result<()> {
    self_update::version::bump_is_greater(version, version)
        .map(|_| ())
        .map_err(|_| Failure::bad_input(format!("{version:?} is not a version (x.y.z)")).into())
}

fn list(releases: &[self_update::update::Release]) -> String {
    if releases.is_empty() {
        return "none".into();
    }
    releases
        .iter()
        .map(|r| r.version.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn report_check(
    args: &SelfUpdateArgs,
    source: &str,
    choice: &Choice,
    owner: Option<&str>,
    signer: &Signer,
) -> ExitCode {
    let release_key = match signer {
        Signer::Key { from, .. } => Some(from.as_str()),
        Signer::None => None,
    };
    let (status, latest) = match choice {
        Choice::Install(r) => ("update_available", Some(r.version.as_str())),
        Choice::UpToDate(v) => ("up_to_date", Some(v.as_str())),
        Choice::Newer(v) => ("newer_than_latest", Some(v.as_str())),
        Choice::None => ("no_release", None),
    };
    if args.json {
        report::print(&report::UpdateCheckReport {
            schema_version: report::SCHEMA_VERSION,
            status: status.into(),
            current: VERSION.into(),
            available: latest.map(str::to_string),
            source: source.into(),
            target: target().into(),
            updates_owned_by: owner.map(str::to_string),
            release_key: release_key.map(str::to_string),
        });
    } else {
        match choice {
            Choice::Install(r) => println!(
                "codex-guard {} is available (this is {VERSION}); `codex-guard self-update` installs it",
                r.version
            ),
            Choice::UpToDate(_) => println!("codex-guard {VERSION} is the latest release"),
            Choice::Newer(v) => {
                println!("codex-guard {VERSION} is newer than the latest release ({v})");
            }
            Choice::None => println!("{source} lists no release for {}", target()),
        }
        if let Some(owner) = owner {
            println!("note: self-update would refuse: {owner}");
        }
        if release_key.is_none() {
            eprintln!("warning: this codex-guard has no release key and no update_public_key is configured: self-update could not tell who made a release");
        }
    }
    ExitCode::Ok
}

fn report_unchanged(args: &SelfUpdateArgs, source: &str, choice: &Choice) -> Result<ExitCode> {
    let (status, message) = match choice {
        Choice::UpToDate(_) => ("unchanged", format!("codex-guard {VERSION} is up to date")),
        Choice::Newer(v) => (
            "unchanged",
            format!(
                "codex-guard {VERSION} is newer than the latest release ({v}): not downgrading (use --to {v} to)"
            ),
        ),
        Choice::None => {
            return Err(Failure::degraded(format!(
                "{source} lists no release for {}; nothing was changed",
                target()
            ))
            .into())
        }
        Choice::Install(_) => unreachable!("handled by the caller"),
    };
    if args.json {
        report::print(&report::UpdateUnchangedReport {
            schema_version: report::SCHEMA_VERSION,
            status: status.into(),
            current: VERSION.into(),
            source: source.into(),
            message,
        });
    } else {
        println!("{message}");
    }
    Ok(ExitCode::Ok)
}

/// Whose signature a release's [`CHECKSUMS`] must carry.
#[derive(Debug, PartialEq)]
enum Signer {
    /// The Ed25519 `key` (hex); `from` names it for people.
    Key { key: String, from: String },
    /// No key anywhere: the release cannot be authenticated.
    None,
}

impl Signer {
    /// The machine-wide config's key binds every user; a user's own key (with the
    /// config file it is in) comes next, then the key this build carries.
    fn choose(
        managed: Option<&str>,
        user: Option<(&str, PathBuf)>,
        built_in: Option<&str>,
    ) -> Signer {
        let key = |key: &str, from: String| Signer::Key {
            key: key.to_string(),
            from,
        };
        if let Some(managed) = managed {
            return key(
                managed,
                "the machine-wide config's update_public_key".into(),
            );
        }
        if let Some((user, path)) = user {
            return key(user, format!("update_public_key in {}", path.display()));
        }
        match built_in {
            Some(built_in) => key(built_in, "codex-guard's built-in release key".into()),
            None => Signer::None,
        }
    }
}

/// Checks `signature` (hex) of `message` against the Ed25519 `key` (hex).
pub fn verify_signature(key: &str, message: &[u8], signature: &str) -> Result<(), &'static str> {
    let key = from_hex(key).ok_or("the configured key is not hex")?;
    let signature = from_hex(signature.trim()).ok_or("the signature is not hex")?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
        .verify(message, &signature)
        .map_err(|_| "the signature does not verify")
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The sha256 `sums` (in `sha256sum` format) gives for `name`.
pub fn checksum_for(sums: &str, name: &str) -> Option<String> {
    sums.lines().find_map(|line| {
        let (hash, file) = line.trim().split_once(char::is_whitespace)?;
        let file = file.trim_start().trim_start_matches('*');
        (file == name && hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| hash.to_ascii_lowercase())
    })
}

struct Staged {
    main: PathBuf,
    hook: PathBuf,
}

/// Takes exactly our two programs out of the archive, as regular files, into `dir`.
fn stage(archive: &Path, stem: &str, dir: &Path) -> Result<Staged> {
    let exe = std::env::consts::EXE_SUFFIX;
    let main_name = format!("{stem}/codex-guard{exe}");
    let hook_name = format!("{stem}/{RUNTIME_BIN}");
    let main = dir.join(format!("codex-guard{exe}"));
    let hook = dir.join(RUNTIME_BIN);
    let file = fs_err::File::open(archive)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let (mut got_main, mut got_hook) = (false, false);
    let bad =
        |why: String| Failure::degraded(format!("the release archive {why}; nothing was changed"));
    for entry in tar
        .entries()
        .map_err(|e| bad(format!("cannot be read ({e})")))?
    {
        let mut entry = entry.map_err(|e| bad(format!("is damaged ({e})")))?;
        let name = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let into = if name == main_name {
            got_main = true;
            &main
        } else if name == hook_name {
            got_hook = true;
            &hook
        } else {
            continue;
        };
        if !entry.header().entry_type().is_file() || entry.size() > MAX_PROGRAM_BYTES {
            return Err(bad(format!("holds {name} as something else than a program")).into());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        (&mut entry)
            .take(MAX_PROGRAM_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| bad(format!("is damaged ({e})")))?;
        fsutil::write_atomic(into, &bytes, 0o755)?;
    }
    if !got_main || !got_hook {
        return Err(bad(format!("lacks {main_name} or {hook_name}")).into());
    }
    Ok(Staged { main, hook })
}

/// The staged program must run here and say it is `version`.
fn verify_version(program: &Path, name: &str, version: &str) -> Result<()> {
    let mut command = Command::new(program);
    command.arg("--version");
    let line = match process::run(command, VERSION_DEADLINE) {
        Ok(out) if out.status.success() => out.stdout.trim().to_string(),
        Ok(out) => format!("exit status {}", out.status),
        Err(e) => e,
    };
    if line != format!("{name} {version}") {
        return Err(Failure::degraded(format!(
            "the new {name} does not run as {name} {version} on this machine ({line}); nothing was changed"
        ))
        .into());
    }
    Ok(())
}

/// Renames the staged programs over the installed ones: the hook first, put back if
/// the program itself cannot be replaced.
fn replace_both(staged: &Staged, exe: &Path, hook: &Path, work: &Path) -> Result<()> {
    let previous_hook = work.join("previous-hook");
    let had_hook = hook.exists();
    if had_hook {
        std::fs::hard_link(hook, &previous_hook)
            .or_else(|_| std::fs::copy(hook, &previous_hook).map(|_| ()))
            .map_err(|e| writable_error(work, &e))?;
    }
    std::fs::rename(&staged.hook, hook).map_err(|e| writable_error(hook, &e))?;
    if let Err(e) = self_update::self_replace::self_replace(&staged.main) {
        let undo = if had_hook {
            std::fs::rename(&previous_hook, hook)
        } else {
            std::fs::remove_file(hook)
        };
        return Err(match undo {
            Ok(()) => writable_error(exe, &e),
            Err(undo) => anyhow::anyhow!(
                "cannot replace {} ({e}) and cannot put back {} ({undo}): reinstall codex-guard",
                exe.display(),
                hook.display()
            ),
        });
    }
    Ok(())
}

fn writable_error(path: &Path, e: &std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        Failure::needs_root(format!(
            "cannot write {}: {e}; nothing was changed",
            path.display()
        ))
        .hint("run self-update as the user who installed codex-guard (sudo for a system-wide install)")
        .into()
    } else {
        anyhow::anyhow!("cannot write {}: {e}", path.display())
    }
}

struct JsonRun {
    success: bool,
    json: Value,
    stderr: String,
}

/// Runs a `codex-guard ... --json` of the new version, within [`CHILD_DEADLINE`].
fn run_json(command: Command) -> Result<JsonRun> {
    let program = command.get_program().to_owned();
    let out = process::run(command, CHILD_DEADLINE)
        .map_err(|e| anyhow::anyhow!("{}: {e}", Path::new(&program).display()))?;
    Ok(JsonRun {
        success: out.status.success(),
        json: serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null),
        stderr: out.stderr.trim().to_string(),
    })
}

fn refresh(
    command: Command,
    what: &str,
    warnings: &mut Vec<String>,
    exit: &mut ExitCode,
) -> report::Refreshed {
    match run_json(command) {
        Ok(run) => {
            let summary = report::Summary::deserialize(&run.json).ok();
            if !run.success {
                *exit = ExitCode::Degraded;
                warnings.push(format!("refreshing the {what} failed: {}", run.stderr));
            }
            let (status, changes, notes) = match summary {
                Some(s) => (s.status, s.changes, s.notes),
                None => (report::Status::Failed, Vec::new(), Vec::new()),
            };
            report::Refreshed {
                what: what.into(),
                status,
                changes,
                notes,
            }
        }
        Err(e) => {
            *exit = ExitCode::Degraded;
            warnings.push(format!("refreshing the {what} failed: {e:#}"));
            report::Refreshed {
                what: what.into(),
                status: report::Status::Failed,
                changes: Vec::new(),
                notes: Vec::new(),
            }
        }
    }
}

/// Runs `work` on its own thread and gives up after `deadline`: a release source
/// that stops answering must not hang the command.
fn with_deadline<T: Send + 'static>(
    deadline: Duration,
    what: &str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    match rx.recv_timeout(deadline) {
        Ok(result) => result,
        Err(_) => Err(Failure::degraded(format!(
            "{what} took longer than {}s; nothing was changed",
            deadline.as_secs()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A stand-in for the new version's `setup --json` printing `report`.
    fn printing(report: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("printf '%s\\n' '{report}'"));
        command
    }

    #[test]
    fn a_refresh_passes_on_the_notes_of_the_setup_it_ran() {
        let mut warnings = Vec::new();
        let mut exit = ExitCode::Ok;
        let item = refresh(
            printing(r#"{"status":"unchanged","changes":[],"notes":["rules kept"]}"#),
            "per-user install",
            &mut warnings,
            &mut exit,
        );
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"what": "per-user install", "status": "unchanged", "changes": [],
                   "notes": ["rules kept"]})
        );
        // A setup from before notes existed says none.
        let item = refresh(
            printing(r#"{"status":"changed","changes":[]}"#),
            "managed install",
            &mut warnings,
            &mut exit,
        );
        assert!(item.notes.is_empty());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(exit, ExitCode::Ok);
    }

    fn release(version: &str) -> self_update::update::Release {
        self_update::update::Release {
            name: version.into(),
            version: version.into(),
            date: "2026-01-01T00:00:00Z".into(),
            body: None,
            assets: Vec::new(),
        }
    }

    #[test]
    fn checksums_are_read_in_sha256sum_format() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let sums = format!("{a}  codex-guard-1.0.0-x.tar.gz\n{b} *other.tar.gz\nnot a line\n");
        assert_eq!(checksum_for(&sums, "codex-guard-1.0.0-x.tar.gz"), Some(a));
        assert_eq!(checksum_for(&sums, "other.tar.gz"), Some("b".repeat(64)));
        assert_eq!(checksum_for(&sums, "codex-guard-1.0.0-x.tar"), None);
        assert_eq!(
            checksum_for("abc  f\n", "f"),
            None,
            "a short hash is no checksum"
        );
    }

    #[test]
    fn the_newest_stable_release_wins_and_nothing_is_downgraded() {
        let releases = [
            release("0.9.0"),
            release("1.2.0"),
            release("1.10.0"),
            release("2.0.0-rc.1"),
        ];
        match choose(&releases, "1.2.0", None).unwrap() {
            Choice::Install(r) => assert_eq!(r.version, "1.10.0"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            choose(&releases, "1.10.0", None).unwrap(),
            Choice::UpToDate(_)
        ));
        assert!(
            matches!(choose(&releases, "3.0.0", None).unwrap(), Choice::Newer(v) if v == "1.10.0")
        );
        assert!(matches!(choose(&[], "1.0.0", None).unwrap(), Choice::None));
    }

    #[test]
    fn signatures_verify_only_with_the_right_key_and_message() {
        use ring::signature::KeyPair;
        let hex = |bytes: &[u8]| codex_guard_common::trust::hex(bytes);
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[7; 32]).unwrap();
        let other = ring::signature::Ed25519KeyPair::from_seed_unchecked(&[8; 32]).unwrap();
        let key = hex(pair.public_key().as_ref());
        let sums = b"abc  codex-guard.tar.gz\n";
        let signature = hex(pair.sign(sums).as_ref());
        assert_eq!(
            verify_signature(&key, sums, &format!("{signature}\n")),
            Ok(())
        );
        assert!(verify_signature(&key, b"abd  codex-guard.tar.gz\n", &signature).is_err());
        assert!(verify_signature(&key, sums, &hex(other.sign(sums).as_ref())).is_err());
        assert!(verify_signature(&key, sums, "not hex").is_err());
        assert!(verify_signature(&hex(other.public_key().as_ref()), sums, &signature).is_err());
    }

    #[test]
    fn the_managed_key_comes_first_then_the_users_then_the_built_in_one() {
        let path = PathBuf::from("/home/u/.codex/codex-guard/config.toml");
        let chosen = |managed, user: Option<&str>, built_in| match Signer::choose(
            managed,
            user.map(|k| (k, path.clone())),
            built_in,
        ) {
            Signer::Key { key, from } => Some((key, from)),
            Signer::None => None,
        };
        let (key, from) = chosen(Some("aa"), Some("bb"), Some("cc")).unwrap();
        assert_eq!((key.as_str(), from.contains("machine-wide")), ("aa", true));
        let (key, from) = chosen(None, Some("bb"), Some("cc")).unwrap();
        assert_eq!(key, "bb");
        assert!(
            from.contains("/home/u/.codex/codex-guard/config.toml"),
            "{from}"
        );
        let (key, from) = chosen(None, None, Some("cc")).unwrap();
        assert_eq!((key.as_str(), from.contains("built-in")), ("cc", true));
        assert_eq!(chosen(None, None, None), None);
    }

    #[test]
    fn to_picks_an_exact_release_even_an_older_one() {
        let releases = [release("0.9.0"), release("1.2.0")];
        match choose(&releases, "1.2.0", Some("v0.9.0")).unwrap() {
            Choice::Install(r) => assert_eq!(r.version, "0.9.0"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            choose(&releases, "1.2.0", Some("1.2.0")).unwrap(),
            Choice::UpToDate(_)
        ));
        let missing = choose(&releases, "1.2.0", Some("5.0.0")).unwrap_err();
        assert!(
            missing.to_string().contains("available: 0.9.0, 1.2.0"),
            "{missing}"
        );
        assert!(choose(&releases, "1.2.0", Some("latest")).is_err());
    }
}
