//! `codex-guard self-update` against a fake release source on 127.0.0.1: a
//! GitHub-compatible releases API serving a real release archive (the programs of
//! this checkout, built by `cargo xtask dist` with a higher version).
//!
//! The release comes from `CODEX_GUARD_TEST_RELEASE_DIR` (scripts/test.sh builds it
//! once), else this suite builds it into the target directory.

use codex_guard_e2e::http::{write_response, Request, Server};
use codex_guard_e2e::process::{self, Output};
use codex_guard_e2e::{codex_bin, guard, list_hooks, FakeAkto, FakeModel, TestCa, TestHome};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const CURRENT: &str = env!("CARGO_PKG_VERSION");
/// The version the test release is stamped with.
const NEXT: &str = "99.0.0";
const TIMEOUT: Duration = Duration::from_secs(120);

struct TestRelease {
    version: String,
    archive_name: String,
    archive: Vec<u8>,
    sums: String,
}

fn target() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc names its host")
}

/// The release archive and its SHA256SUMS, built once per test run.
fn release() -> &'static TestRelease {
    static RELEASE: OnceLock<TestRelease> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let target = target();
        let archive_name = format!("codex-guard-{NEXT}-{target}.tar.gz");
        let dir = match std::env::var_os("CODEX_GUARD_TEST_RELEASE_DIR").filter(|d| !d.is_empty())
        {
            Some(dir) => PathBuf::from(dir),
            None => build_release(),
        };
        let archive = fs::read(dir.join(&archive_name)).unwrap_or_else(|e| {
            panic!(
                "{} has no {archive_name} ({e}): build it with `cargo xtask dist --version {NEXT} --out DIR`",
                dir.display()
            )
        });
        let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("the release has SHA256SUMS");
        assert!(
            sums.contains(&format!("{:x}  {archive_name}", Sha256::digest(&archive))),
            "SHA256SUMS does not list {archive_name} with its checksum:\n{sums}"
        );
        TestRelease {
            version: NEXT.into(),
            archive_name,
            archive,
            sums,
        }
    })
}

fn build_release() -> PathBuf {
    let target_dir = guard::bin_dir()
        .parent()
        .expect("the profile directory has a parent")
        .join("self-update-release");
    let out = target_dir.join("dist");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(workspace)
        .args([
            "xtask",
            "dist",
            "--version",
            NEXT,
            "--profile",
            "dev",
            "-j2",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--out")
        .arg(&out);
    let output = process::run(command, Duration::from_secs(1800));
    output.assert_success();
    out
}

/// How the fake source answers.
#[derive(Clone, Copy, PartialEq)]
enum Serve {
    /// The release as built.
    Intact,
    /// The archive with one byte changed (SHA256SUMS still the original's).
    Corrupted,
    /// Only a release older than this build.
    OnlyOlder,
}

/// A GitHub-compatible releases API: `/repos/codex-guard/codex-guard/releases` and
/// the asset downloads it points at.
fn release_source(serve: Serve) -> Server {
    release_source_signed(serve, None)
}

/// [`release_source`], the newest release also carrying `SHA256SUMS.sig` when given.
fn release_source_signed(serve: Serve, signature: Option<String>) -> Server {
    release_source_with(serve, signature, None)
}

/// [`release_source_signed`], over HTTPS with `tls` when given.
fn release_source_with(
    serve: Serve,
    signature: Option<String>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Server {
    let release = release();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let handler = move |request: &Request, stream: &mut dyn std::io::Write| {
        let host = request.header("host").unwrap_or("127.0.0.1");
        let base = format!("{scheme}://{host}");
        let path = request.path();
        if path == "/repos/codex-guard/codex-guard/releases" {
            let asset = |name: &str| json!({"name": name, "url": format!("{base}/assets/{name}")});
            let older = "0.0.1";
            let target = target();
            let mut releases = vec![json!({
                "tag_name": format!("v{older}"), "name": older,
                "created_at": "2026-01-01T00:00:00Z",
                "assets": [asset(&format!("codex-guard-{older}-{target}.tar.gz")), asset("SHA256SUMS")],
            })];
            if serve != Serve::OnlyOlder {
                let mut assets = vec![asset(&release.archive_name), asset("SHA256SUMS")];
                if signature.is_some() {
                    assets.push(asset("SHA256SUMS.sig"));
                }
                releases.insert(
                    0,
                    json!({
                        "tag_name": format!("v{}", release.version), "name": release.version,
                        "created_at": "2026-11-01T00:00:00Z",
                        "assets": assets,
                    }),
                );
            }
            let body = serde_json::to_vec(&releases).unwrap();
            return write_response(stream, 200, "application/json", &body);
        }
        match path.strip_prefix("/assets/") {
            Some(name) if name == release.archive_name => {
                let mut bytes = release.archive.clone();
                if serve == Serve::Corrupted {
                    let middle = bytes.len() / 2;
                    bytes[middle] ^= 0x55;
                }
                write_response(stream, 200, "application/octet-stream", &bytes)
            }
            Some("SHA256SUMS") => {
                write_response(stream, 200, "text/plain", release.sums.as_bytes())
            }
            Some("SHA256SUMS.sig") => match &signature {
                Some(sig) => write_response(stream, 200, "text/plain", sig.as_bytes()),
                None => write_response(stream, 404, "text/plain", b"not found"),
            },
            _ => write_response(stream, 404, "text/plain", b"not found"),
        }
    };
    match tls {
        Some(tls) => Server::start_tls(Arc::new(handler), tls),
        None => Server::start(Arc::new(handler)),
    }
}

/// Both programs copied where a user would have installed them (a path with a space),
/// so self-update replaces the copies and never the build's own.
fn install_programs(home: &TestHome) -> PathBuf {
    let dir = home.home.join("bin dir");
    fs::create_dir_all(&dir).unwrap();
    for name in ["codex-guard", "codex-guard-hook"] {
        fs::copy(guard::bin(name), dir.join(name)).unwrap();
    }
    dir
}

fn run(home: &TestHome, bin_dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(bin_dir.join("codex-guard"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home.home)
        .env("CODEX_HOME", &home.codex_home)
        .current_dir(&home.workdir)
        .args(args);
    process::run(command, TIMEOUT)
}

/// A user's machine: Codex talking to a fake model, the programs copied to a bin
/// directory, and their `codex-guard setup --url <fake Akto> <extra>` done.
struct Installed {
    _model: FakeModel,
    _akto: FakeAkto,
    home: TestHome,
    bin_dir: PathBuf,
}

fn installed(extra: &[&str]) -> Installed {
    let model = FakeModel::start("true");
    let home = TestHome::with_model(&model);
    let akto = FakeAkto::start();
    let bin_dir = install_programs(&home);
    let url = akto.url();
    let mut args = vec!["setup", "--url", &url, "--silent", "--yes", "--json"];
    args.extend_from_slice(extra);
    run(&home, &bin_dir, &args).assert_success();
    Installed {
        _model: model,
        _akto: akto,
        home,
        bin_dir,
    }
}

fn version_of(program: &Path) -> String {
    let out = Command::new(program).arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn digest(path: &Path) -> String {
    format!("{:x}", Sha256::digest(fs::read(path).unwrap()))
}

/// Every file under `dir` with its sha256, to show nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), digest(&path)));
            }
        }
    }
    files.sort();
    files
}

fn json_of(output: &Output) -> Value {
    serde_json::from_str(output.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {output}"))
}

#[test]
fn self_update_installs_the_verified_release_and_keeps_the_hooks_trusted() {
    let Installed {
        home,
        bin_dir,
        _model,
        _akto,
    } = installed(&[]);
    let hooks_before = home.read(&home.hooks_json());
    let config_before = home.read(&home.config_toml());
    let source = release_source(Serve::Intact);

    let check = run(
        &home,
        &bin_dir,
        &[
            "self-update",
            "--check",
            "--json",
            "--source",
            &source.url(),
        ],
    );
    check.assert_success();
    let report = json_of(&check);
    assert_eq!(report["status"], "update_available", "{check}");
    assert_eq!(report["available"], NEXT, "{check}");
    assert_eq!(
        version_of(&bin_dir.join("codex-guard")),
        format!("codex-guard {CURRENT}")
    );

    let codex = codex_bin();
    let codex = codex.to_str().unwrap();
    let update = run(
        &home,
        &bin_dir,
        &[
            "self-update",
            "--json",
            "--source",
            &source.url(),
            "--codex-bin",
            codex,
        ],
    );
    update.assert_success();
    let report = json_of(&update);
    assert_eq!(report["status"], "updated", "{update}");
    assert_eq!(report["from"], CURRENT);
    assert_eq!(report["to"], NEXT);
    assert_eq!(
        report["sha256"],
        format!("{:x}", Sha256::digest(&release().archive)),
        "{update}"
    );
    assert_eq!(report["doctor"]["status"], "healthy", "{update}");
    // Downloads asked for the binary form of the asset, as GitHub's API wants.
    assert!(source
        .requests()
        .iter()
        .filter(|r| r.path().starts_with("/assets/"))
        .all(|r| r.header("accept") == Some("application/octet-stream")));

    // Both programs and the installed runtime are the new release.
    assert_eq!(
        version_of(&bin_dir.join("codex-guard")),
        format!("codex-guard {NEXT}")
    );
    assert_eq!(
        version_of(&bin_dir.join("codex-guard-hook")),
        format!("codex-guard-hook {NEXT}")
    );
    let runtime = home.codex_home.join("codex-guard/bin/codex-guard-hook");
    assert_eq!(version_of(&runtime), format!("codex-guard-hook {NEXT}"));
    assert_eq!(digest(&runtime), digest(&bin_dir.join("codex-guard-hook")));
    // No staging left beside the programs.
    let leftovers: Vec<_> = fs::read_dir(&bin_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "codex-guard" && n != "codex-guard-hook")
        .collect();
    assert!(
        leftovers.is_empty(),
        "left beside the programs: {leftovers:?}"
    );

    // Same command, same hash: Codex still trusts every hook of ours.
    assert_eq!(
        home.read(&home.hooks_json()),
        hooks_before,
        "hooks.json changed"
    );
    assert_eq!(
        home.read(&home.config_toml()),
        config_before,
        "config.toml changed"
    );
    let ours: Vec<Value> = list_hooks(&home)
        .into_iter()
        .filter(|h| {
            h["command"]
                .as_str()
                .is_some_and(|c| c.contains("codex-guard-hook"))
        })
        .collect();
    assert_eq!(ours.len(), 6, "{ours:?}");
    assert!(
        ours.iter().all(|h| h["trustStatus"] == "trusted"),
        "{ours:?}"
    );

    // Doctor of the new version agrees, and a second run has nothing to do.
    let again = run(
        &home,
        &bin_dir,
        &["self-update", "--json", "--source", &source.url()],
    );
    again.assert_success();
    assert_eq!(json_of(&again)["status"], "unchanged", "{again}");
}

/// An enterprise mirror behind a private CA: trusted through the config's `ca_cert`
/// (`setup --ca-cert`), for the release list and the downloads alike, and refused,
/// with nothing changed, by a machine that does not trust that CA.
#[test]
fn a_mirror_behind_a_private_ca_is_trusted_through_ca_cert_only() {
    let ca = TestCa::new("codex-guard mirror CA");
    let source = release_source_with(Serve::Intact, None, Some(ca.server_config(&["127.0.0.1"])));
    assert!(source.url().starts_with("https://"));

    let untrusting = installed(&[]);
    let programs = snapshot(&untrusting.bin_dir);
    let update = run(
        &untrusting.home,
        &untrusting.bin_dir,
        &["self-update", "--source", &source.url()],
    );
    assert_eq!(update.status.code(), Some(1), "{update}");
    assert!(
        update.stderr.contains("cannot list the releases"),
        "{update}"
    );
    assert_eq!(snapshot(&untrusting.bin_dir), programs);

    let pem = untrusting.home.home.join("mirror ca.pem");
    ca.write_pem(&pem);
    let trusting = installed(&["--ca-cert", pem.to_str().unwrap()]);
    let update = run(
        &trusting.home,
        &trusting.bin_dir,
        &["self-update", "--json", "--source", &source.url()],
    );
    update.assert_success();
    assert_eq!(json_of(&update)["status"], "updated", "{update}");
    assert_eq!(
        version_of(&trusting.bin_dir.join("codex-guard")),
        format!("codex-guard {}", release().version)
    );
    let downloads: Vec<String> = source
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .filter(|p| p.starts_with("/assets/"))
        .collect();
    assert!(
        downloads.contains(&format!("/assets/{}", release().archive_name)),
        "{downloads:?}"
    );
}

#[test]
fn a_corrupted_archive_is_refused_and_nothing_changes() {
    let Installed {
        home,
        bin_dir,
        _model,
        _akto,
    } = installed(&[]);
    let programs = snapshot(&bin_dir);
    let codex_home = snapshot(&home.codex_home);
    let source = release_source(Serve::Corrupted);

    let update = run(&home, &bin_dir, &["self-update", "--source", &source.url()]);
    assert_eq!(update.status.code(), Some(1), "{update}");
    assert!(
        update.stderr.contains("does not match SHA256SUMS"),
        "{update}"
    );
    assert!(update.stderr.contains("nothing was changed"), "{update}");
    assert_eq!(snapshot(&bin_dir), programs, "the programs changed");
    assert_eq!(
        snapshot(&home.codex_home),
        codex_home,
        "the Codex home changed"
    );
}

#[test]
fn updates_owned_by_mdm_are_refused_before_any_download() {
    let Installed {
        home,
        bin_dir,
        _model,
        _akto,
    } = installed(&["--updates", "mdm"]);
    let programs = snapshot(&bin_dir);
    let source = release_source(Serve::Intact);

    let update = run(&home, &bin_dir, &["self-update", "--source", &source.url()]);
    assert_eq!(update.status.code(), Some(3), "{update}");
    assert!(update.stderr.contains("updates = \"mdm\""), "{update}");
    assert!(source.requests().is_empty(), "asked the source anyway");
    assert_eq!(snapshot(&bin_dir), programs);

    // --check still reports, and says an update would be refused.
    let check = run(
        &home,
        &bin_dir,
        &[
            "self-update",
            "--check",
            "--json",
            "--source",
            &source.url(),
        ],
    );
    check.assert_success();
    let report = json_of(&check);
    assert_eq!(report["status"], "update_available", "{check}");
    assert!(
        report["updates_owned_by"]
            .as_str()
            .is_some_and(|s| s.contains("mdm")),
        "{check}"
    );
}

#[test]
fn an_older_release_is_never_installed_without_to() {
    let Installed {
        home,
        bin_dir,
        _model,
        _akto,
    } = installed(&[]);
    let programs = snapshot(&bin_dir);
    let source = release_source(Serve::OnlyOlder);

    let update = run(
        &home,
        &bin_dir,
        &["self-update", "--json", "--source", &source.url()],
    );
    update.assert_success();
    let report = json_of(&update);
    assert_eq!(report["status"], "unchanged", "{update}");
    assert!(
        report["message"]
            .as_str()
            .unwrap()
            .contains("not downgrading"),
        "{update}"
    );
    assert_eq!(snapshot(&bin_dir), programs);
    assert!(
        source
            .requests()
            .iter()
            .all(|r| !r.path().starts_with("/assets/")),
        "downloaded an older release"
    );
}

#[test]
fn a_package_installed_codex_guard_is_left_to_the_package_manager() {
    let home = TestHome::new();
    // The layout a .deb gives: <prefix>/bin and <prefix>/share/codex-guard/.
    let prefix = home.home.join("usr");
    let bin_dir = prefix.join("bin");
    fs::create_dir_all(&bin_dir).unwrap();
    for name in ["codex-guard", "codex-guard-hook"] {
        fs::copy(guard::bin(name), bin_dir.join(name)).unwrap();
    }
    fs::create_dir_all(prefix.join("share/codex-guard")).unwrap();
    fs::write(
        prefix.join("share/codex-guard/installed-by-package"),
        "deb: update codex-guard with apt\n",
    )
    .unwrap();
    let source = release_source(Serve::Intact);
    let update = run(&home, &bin_dir, &["self-update", "--source", &source.url()]);
    assert_eq!(update.status.code(), Some(3), "{update}");
    assert!(
        update.stderr.contains("update codex-guard with apt"),
        "{update}"
    );
    assert!(source.requests().is_empty());
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_configured_key_requires_a_release_signed_with_it() {
    use ring::signature::{Ed25519KeyPair, KeyPair};
    let ours = Ed25519KeyPair::from_seed_unchecked(&[42; 32]).unwrap();
    let theirs = Ed25519KeyPair::from_seed_unchecked(&[43; 32]).unwrap();
    let key = hex(ours.public_key().as_ref());
    let Installed {
        home,
        bin_dir,
        _model,
        _akto,
    } = installed(&["--update-public-key", &key]);
    assert!(
        home.read(&home.codex_home.join("codex-guard/config.toml"))
            .contains(&format!("update_public_key = \"{key}\"")),
        "the key is not in the runtime config"
    );
    let programs = snapshot(&bin_dir);
    let codex_home = snapshot(&home.codex_home);
    let sums = release().sums.as_bytes();

    for (signature, expected) in [
        (None, "is not signed"),
        (
            Some(hex(theirs.sign(sums).as_ref())),
            "not signed by the configured key",
        ),
        (Some("zz".repeat(64)), "not signed by the configured key"),
    ] {
        let source = release_source_signed(Serve::Intact, signature);
        let update = run(&home, &bin_dir, &["self-update", "--source", &source.url()]);
        assert_eq!(update.status.code(), Some(1), "{update}");
        assert!(update.stderr.contains(expected), "{update}");
        assert!(update.stderr.contains("nothing was changed"), "{update}");
        assert_eq!(snapshot(&bin_dir), programs, "the programs changed");
        assert_eq!(
            snapshot(&home.codex_home),
            codex_home,
            "the Codex home changed"
        );
    }

    let source = release_source_signed(
        Serve::Intact,
        Some(format!("{}\n", hex(ours.sign(sums).as_ref()))),
    );
    let update = run(
        &home,
        &bin_dir,
        &["self-update", "--json", "--source", &source.url()],
    );
    update.assert_success();
    assert_eq!(json_of(&update)["status"], "updated", "{update}");
    assert_eq!(
        version_of(&bin_dir.join("codex-guard")),
        format!("codex-guard {NEXT}")
    );
}
