//! `codex-guard self-update` against a fake release source on 127.0.0.1: a
//! GitHub-compatible releases API serving a real release archive (the programs of
//! this checkout, built by `cargo xtask dist` with a higher version).
//!
//! The release comes from `CODEX_GUARD_TEST_RELEASE_DIR` (scripts/test.sh builds it
//! once), else this suite builds it into the target directory. Either way it is signed
//! with a key made for that build (`test-release.seed` beside it), which its programs
//! carry as their built-in release key, as an official release carries the real one.

use codex_guard_e2e::http::{write_response, Request, Server};
use codex_guard_e2e::process::{self, Output};
use codex_guard_e2e::{codex_bin, guard, list_hooks, FakeAkto, FakeModel, TestCa, TestHome};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const CURRENT: &str = env!("CARGO_PKG_VERSION");
/// The version the test release is stamped with.
const NEXT: &str = "99.0.0";
const TIMEOUT: Duration = Duration::from_secs(120);
/// The secret seed (hex) beside the test release, made when it was built.
const SEED_FILE: &str = "test-release.seed";

/// One release a fake source publishes.
#[derive(Clone)]
struct Published {
    version: String,
    archive_name: String,
    archive: Vec<u8>,
    sums: String,
    /// `SHA256SUMS.sig`, when the release has one.
    signature: Option<String>,
}

struct TestRelease {
    published: Published,
    /// The seed the release is signed with, which its programs carry as their key.
    seed: Vec<u8>,
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

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut hex, b| {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The release archive, its SHA256SUMS and SHA256SUMS.sig, read once per test run.
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
        let rebuild = format!(
            "build it with scripts/test-packages.sh, or unset CODEX_GUARD_TEST_RELEASE_DIR so this suite builds it into {}",
            dir.display()
        );
        let archive = fs::read(dir.join(&archive_name))
            .unwrap_or_else(|e| panic!("{} has no {archive_name} ({e}): {rebuild}", dir.display()));
        let sums = fs::read_to_string(dir.join("SHA256SUMS")).expect("the release has SHA256SUMS");
        assert!(
            sums.contains(&format!("{:x}  {archive_name}", Sha256::digest(&archive))),
            "SHA256SUMS does not list {archive_name} with its checksum:\n{sums}"
        );
        let seed = fs::read_to_string(dir.join(SEED_FILE))
            .unwrap_or_else(|e| panic!("{} has no {SEED_FILE} ({e}): {rebuild}", dir.display()));
        let seed = unhex(seed.trim());
        let signature = fs::read_to_string(dir.join("SHA256SUMS.sig"))
            .unwrap_or_else(|e| panic!("{} is not signed ({e}): {rebuild}", dir.display()));
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("a seed");
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, pair.public_key())
            .verify(sums.as_bytes(), &unhex(signature.trim()))
            .expect("SHA256SUMS.sig is the test key's signature of SHA256SUMS");
        TestRelease {
            published: Published {
                version: NEXT.into(),
                archive_name,
                archive,
                sums,
                signature: Some(signature),
            },
            seed,
        }
    })
}

/// The key pair the test release is signed with.
fn release_pair() -> Ed25519KeyPair {
    Ed25519KeyPair::from_seed_unchecked(&release().seed).expect("a seed")
}

/// The test release key, as `update_public_key` takes it.
fn release_key() -> String {
    hex(release_pair().public_key().as_ref())
}

/// A key pair nobody else has, made now.
fn fresh_pair() -> Ed25519KeyPair {
    use ring::rand::SecureRandom;
    let mut seed = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut seed)
        .expect("randomness");
    Ed25519KeyPair::from_seed_unchecked(&seed).expect("a seed")
}

fn sign(pair: &Ed25519KeyPair, sums: &str) -> String {
    format!("{}\n", hex(pair.sign(sums.as_bytes()).as_ref()))
}

fn build_release() -> PathBuf {
    use ring::rand::SecureRandom;
    let target_dir = guard::bin_dir()
        .parent()
        .expect("the profile directory has a parent")
        .join("self-update-release");
    let out = target_dir.join("dist");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    // A key made for this build only: the release is signed with it, and its programs
    // carry it as their release key.
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out).unwrap();
    let mut seed = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut seed)
        .expect("randomness");
    let seed_file = out.join(SEED_FILE);
    fs::write(&seed_file, format!("{}\n", hex(&seed))).unwrap();
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(workspace)
        .env_remove("CODEX_GUARD_RELEASE_PUBLIC_KEY")
        .args([
            "xtask",
            "dist",
            "--version",
            NEXT,
            "--profile",
            "dev",
            "-j2",
        ])
        .arg("--sign-key")
        .arg(&seed_file)
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--out")
        .arg(&out);
    let output = process::run(command, Duration::from_secs(1800));
    output.assert_success();
    out
}

/// A release of `version` for this target holding `programs` (name, bytes), laid out
/// as `cargo xtask dist` lays it out, with its SHA256SUMS and no signature.
fn publish(version: &str, programs: &[(&str, Vec<u8>)]) -> Published {
    use std::os::unix::fs::PermissionsExt;
    let stem = format!("codex-guard-{version}-{}", target());
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join(&stem)).unwrap();
    for (name, bytes) in programs {
        let path = dir.path().join(&stem).join(name);
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let archive_name = format!("{stem}.tar.gz");
    let mut tar = Command::new("tar");
    tar.arg("-czf")
        .arg(dir.path().join(&archive_name))
        .arg("-C")
        .arg(dir.path())
        .arg(&stem);
    process::run(tar, TIMEOUT).assert_success();
    let archive = fs::read(dir.path().join(&archive_name)).unwrap();
    let sums = format!("{:x}  {archive_name}\n", Sha256::digest(&archive));
    Published {
        version: version.into(),
        archive_name,
        archive,
        sums,
        signature: None,
    }
}

/// This checkout's own programs, as a release of [`CURRENT`].
fn current_programs() -> Vec<(&'static str, Vec<u8>)> {
    ["codex-guard", "codex-guard-hook"]
        .into_iter()
        .map(|name| (name, fs::read(guard::bin(name)).unwrap()))
        .collect()
}

/// Programs that, if anything ever runs them, append a line to `marker` (and then say
/// the version they claim, so only running them can tell them apart).
fn marker_programs(marker: &Path) -> Vec<(&'static str, Vec<u8>)> {
    ["codex-guard", "codex-guard-hook"]
        .into_iter()
        .map(|name| {
            let script = format!(
                "#!/bin/sh\necho \"ran {name} $*\" >> '{}'\necho '{name} {CURRENT}'\n",
                marker.display()
            );
            (name, script.into_bytes())
        })
        .collect()
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
/// the asset downloads it points at, serving the test release (signed).
fn release_source(serve: Serve) -> Server {
    release_source_with(serve, release().published.signature.clone(), None)
}

/// [`release_source`], the test release carrying `signature` as `SHA256SUMS.sig` (none
/// when `None`), over HTTPS with `tls` when given.
fn release_source_with(
    serve: Serve,
    signature: Option<String>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Server {
    let mut published = release().published.clone();
    published.signature = signature;
    if serve == Serve::Corrupted {
        let middle = published.archive.len() / 2;
        published.archive[middle] ^= 0x55;
    }
    let listed = if serve == Serve::OnlyOlder {
        Vec::new()
    } else {
        vec![published]
    };
    source(listed, Links::default(), tls)
}

/// Where the release list sends a client besides its own assets.
#[derive(Default)]
struct Links {
    /// Base of every asset URL (default: the source itself).
    assets_at: Option<String>,
    /// A `Link: <...>; rel="next"` page after the first.
    next_page: Option<String>,
    /// Each asset download answers `302 Found` to this base.
    redirect_assets_to: Option<String>,
}

/// A releases API listing `releases` (newest first) and an older release `0.0.1`
/// that is never downloaded.
fn source(
    releases: Vec<Published>,
    links: Links,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Server {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let handler = move |request: &Request, stream: &mut dyn std::io::Write| {
        let host = request.header("host").unwrap_or("127.0.0.1");
        let base = format!("{scheme}://{host}");
        let path = request.path();
        if path == "/repos/codex-guard/codex-guard/releases" {
            let assets_at = links.assets_at.clone().unwrap_or_else(|| base.clone());
            let asset =
                |name: &str| json!({"name": name, "url": format!("{assets_at}/assets/{name}")});
            let older = "0.0.1";
            let target = target();
            let mut list: Vec<Value> = releases
                .iter()
                .map(|r| {
                    let mut assets = vec![asset(&r.archive_name), asset("SHA256SUMS")];
                    if r.signature.is_some() {
                        assets.push(asset("SHA256SUMS.sig"));
                    }
                    json!({
                        "tag_name": format!("v{}", r.version), "name": r.version,
                        "created_at": "2026-11-01T00:00:00Z", "assets": assets,
                    })
                })
                .collect();
            list.push(json!({
                "tag_name": format!("v{older}"), "name": older,
                "created_at": "2026-01-01T00:00:00Z",
                "assets": [asset(&format!("codex-guard-{older}-{target}.tar.gz")), asset("SHA256SUMS")],
            }));
            let body = serde_json::to_vec(&list).unwrap();
            if let Some(next) = &links.next_page {
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLink: <{next}>; rel=\"next\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )?;
                stream.write_all(&body)?;
                return stream.flush();
            }
            return write_response(stream, 200, "application/json", &body);
        }
        let Some(name) = path.strip_prefix("/assets/") else {
            return write_response(stream, 404, "text/plain", b"not found");
        };
        if let Some(to) = &links.redirect_assets_to {
            write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {to}/assets/{name}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
            return stream.flush();
        }
        let Some(release) = releases
            .iter()
            .find(|r| name == r.archive_name || name == "SHA256SUMS" || name == "SHA256SUMS.sig")
        else {
            return write_response(stream, 404, "text/plain", b"not found");
        };
        match name {
            "SHA256SUMS" => write_response(stream, 200, "text/plain", release.sums.as_bytes()),
            "SHA256SUMS.sig" => match &release.signature {
                Some(sig) => write_response(stream, 200, "text/plain", sig.as_bytes()),
                None => write_response(stream, 404, "text/plain", b"not found"),
            },
            _ => write_response(stream, 200, "application/octet-stream", &release.archive),
        }
    };
    match tls {
        Some(tls) => Server::start_tls(Arc::new(handler), tls),
        None => Server::start(Arc::new(handler)),
    }
}

/// The paths `server` was asked for.
fn asked(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect()
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

/// The test release's own programs (version [`NEXT`], the test key built in) where a
/// user would have installed them, with nothing set up: the machine an update from
/// [`NEXT`] to a later-published release starts from.
fn install_release_programs(home: &TestHome) -> PathBuf {
    let unpacked = tempfile::tempdir().unwrap();
    let archive = unpacked.path().join("release.tar.gz");
    fs::write(&archive, &release().published.archive).unwrap();
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg(&archive).arg("-C").arg(unpacked.path());
    process::run(tar, TIMEOUT).assert_success();
    let stem = format!("codex-guard-{NEXT}-{}", target());
    let dir = home.home.join("bin dir");
    fs::create_dir_all(&dir).unwrap();
    for name in ["codex-guard", "codex-guard-hook"] {
        fs::copy(unpacked.path().join(&stem).join(name), dir.join(name)).unwrap();
    }
    assert_eq!(
        version_of(&dir.join("codex-guard")),
        format!("codex-guard {NEXT}")
    );
    dir
}

/// `codex-guard self-update --source <server> <args>`, with `--allow-http` when the
/// server is a plain-http one on 127.0.0.1.
fn self_update(home: &TestHome, bin_dir: &Path, server: &Server, args: &[&str]) -> Output {
    let url = server.url();
    let mut all = vec!["self-update", "--source", &url];
    if url.starts_with("http://") {
        all.push("--allow-http");
    }
    all.extend_from_slice(args);
    run(home, bin_dir, &all)
}

fn run(home: &TestHome, bin_dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(bin_dir.join("codex-guard"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home.home)
        .env("TMPDIR", &home.tmpdir)
        .env("CODEX_HOME", &home.codex_home)
        .current_dir(&home.workdir)
        .args(args);
    process::run(command, TIMEOUT)
}

/// A user's machine: Codex talking to a fake model, the programs copied to a bin
/// directory, and their `codex-guard setup --url <fake Akto> <extra>` done, with the
/// test release key as `update_public_key` unless `extra` names one.
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
    let key = release_key();
    let mut args = vec!["setup", "--url", &url, "--silent", "--yes", "--json"];
    if !extra.contains(&"--update-public-key") {
        args.extend(["--update-public-key", &key]);
    }
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

    let check = self_update(&home, &bin_dir, &source, &["--check", "--json"]);
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
    let update = self_update(&home, &bin_dir, &source, &["--json", "--codex-bin", codex]);
    update.assert_success();
    let report = json_of(&update);
    assert_eq!(report["status"], "updated", "{update}");
    assert_eq!(report["from"], CURRENT);
    assert_eq!(report["to"], NEXT);
    assert_eq!(
        report["sha256"],
        format!("{:x}", Sha256::digest(&release().published.archive)),
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
    let again = self_update(&home, &bin_dir, &source, &["--json"]);
    again.assert_success();
    assert_eq!(json_of(&again)["status"], "unchanged", "{again}");
}

/// An install an earlier version made, with the rules file that version shipped: the
/// update's refresh replaces the file by the new template when nobody changed it, and
/// keeps it, saying its old pattern rules can go, when someone did.
#[test]
fn self_update_brings_unchanged_shipped_rules_up_to_date_and_keeps_changed_ones() {
    let before_packs = include_str!("../../../installer/tests/data/rules-before-packs.toml");
    let template = include_str!("../../../templates/rules.toml");
    let edited = before_packs.replace("action = \"deny\"", "action = \"warn\"");
    for (old, expected) in [(before_packs, template), (edited.as_str(), edited.as_str())] {
        let Installed {
            home,
            bin_dir,
            _model,
            _akto,
        } = installed(&[]);
        let rules = home.codex_home.join("codex-guard/rules.toml");
        fs::write(&rules, old).unwrap();
        let source = release_source(Serve::Intact);
        let update = self_update(&home, &bin_dir, &source, &["--json"]);
        update.assert_success();
        let report = json_of(&update);
        assert_eq!(report["status"], "updated", "{update}");
        assert_eq!(home.read(&rules), expected);
        let refreshed = &report["refreshed"][0];
        let changed: Vec<&str> = refreshed["changes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["path"].as_str())
            .collect();
        let rules_path = rules.display().to_string();
        if old == before_packs {
            assert!(changed.contains(&rules_path.as_str()), "{report:#}");
            assert_eq!(refreshed["notes"], json!([]), "{report:#}");
        } else {
            assert!(!changed.contains(&rules_path.as_str()), "{report:#}");
            let note = refreshed["notes"][0].as_str().unwrap_or_default();
            assert!(
                note.starts_with(&format!(
                    "{rules_path} is kept as you changed it; the rule packs now apply on top of it"
                )),
                "{report:#}"
            );
        }
        assert_eq!(report["doctor"]["status"], "healthy", "{update}");
    }
}

/// An enterprise mirror behind a private CA: trusted through the config's `ca_cert`
/// (`setup --ca-cert`), for the release list and the downloads alike, and refused,
/// with nothing changed, by a machine that does not trust that CA.
#[test]
fn a_mirror_behind_a_private_ca_is_trusted_through_ca_cert_only() {
    let ca = TestCa::new("codex-guard mirror CA");
    let source = release_source_with(
        Serve::Intact,
        release().published.signature.clone(),
        Some(ca.server_config(&["127.0.0.1"])),
    );
    assert!(source.url().starts_with("https://"));

    let untrusting = installed(&[]);
    let programs = snapshot(&untrusting.bin_dir);
    let update = self_update(&untrusting.home, &untrusting.bin_dir, &source, &[]);
    assert_eq!(update.status.code(), Some(1), "{update}");
    assert!(
        update.stderr.contains("cannot list the releases"),
        "{update}"
    );
    assert_eq!(snapshot(&untrusting.bin_dir), programs);

    let pem = untrusting.home.home.join("mirror ca.pem");
    ca.write_pem(&pem);
    let trusting = installed(&["--ca-cert", pem.to_str().unwrap()]);
    let update = self_update(&trusting.home, &trusting.bin_dir, &source, &["--json"]);
    update.assert_success();
    assert_eq!(json_of(&update)["status"], "updated", "{update}");
    assert_eq!(
        version_of(&trusting.bin_dir.join("codex-guard")),
        format!("codex-guard {}", release().published.version)
    );
    let downloads: Vec<String> = source
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .filter(|p| p.starts_with("/assets/"))
        .collect();
    assert!(
        downloads.contains(&format!("/assets/{}", release().published.archive_name)),
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

    let update = self_update(&home, &bin_dir, &source, &[]);
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

    let update = self_update(&home, &bin_dir, &source, &[]);
    assert_eq!(update.status.code(), Some(3), "{update}");
    assert!(update.stderr.contains("updates = \"mdm\""), "{update}");
    assert!(source.requests().is_empty(), "asked the source anyway");
    assert_eq!(snapshot(&bin_dir), programs);

    // --check still reports, and says an update would be refused.
    let check = self_update(&home, &bin_dir, &source, &["--check", "--json"]);
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

    let update = self_update(&home, &bin_dir, &source, &["--json"]);
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
    let update = self_update(&home, &bin_dir, &source, &[]);
    assert_eq!(update.status.code(), Some(3), "{update}");
    assert!(
        update.stderr.contains("update codex-guard with apt"),
        "{update}"
    );
    assert!(source.requests().is_empty());
}

/// A key in the config takes the place of the built-in one (an enterprise mirror that
/// signs what it serves): a release must then be signed with it.
#[test]
fn a_configured_key_requires_a_release_signed_with_it() {
    let ours = fresh_pair();
    let theirs = fresh_pair();
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
    let sums = &release().published.sums;

    for (signature, expected) in [
        (None, "is not signed"),
        (
            Some(sign(&theirs, sums)),
            "not signed by update_public_key in",
        ),
        // The release's own signature, by a key the config does not name.
        (
            release().published.signature.clone(),
            "not signed by update_public_key in",
        ),
        (Some("zz".repeat(64)), "not signed by update_public_key in"),
    ] {
        let source = release_source_with(Serve::Intact, signature, None);
        let update = self_update(&home, &bin_dir, &source, &[]);
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

    let source = release_source_with(Serve::Intact, Some(sign(&ours, sums)), None);
    let update = self_update(&home, &bin_dir, &source, &["--json"]);
    update.assert_success();
    let report = json_of(&update);
    assert_eq!(report["status"], "updated", "{update}");
    assert_eq!(report["signature"]["status"], "verified", "{update}");
    assert_eq!(
        version_of(&bin_dir.join("codex-guard")),
        format!("codex-guard {NEXT}")
    );
}

/// The attack: a release source (a compromised mirror, or anyone between it and the
/// machine) publishes programs without a signature. With the release key built in and
/// nothing configured, self-update refuses before fetching the archive, and nothing it
/// downloaded ever runs (the programs would leave a marker file if they did).
#[test]
fn an_unsigned_release_is_refused_by_default_and_never_run() {
    let home = TestHome::new();
    let bin_dir = install_release_programs(&home);
    let programs = snapshot(&bin_dir);
    let marker = home.home.join("the downloaded program ran");
    let evil = publish(CURRENT, &marker_programs(&marker));
    let archive = format!("/assets/{}", evil.archive_name);
    let source = source(vec![evil], Links::default(), None);

    let update = self_update(&home, &bin_dir, &source, &["--to", CURRENT]);
    assert!(!marker.exists(), "a downloaded program ran: {update}");
    assert_eq!(update.status.code(), Some(1), "{update}");
    assert!(
        update.stderr.contains(&format!(
            "release {CURRENT} at {} is not signed (SHA256SUMS.sig missing)",
            source.url()
        )),
        "{update}"
    );
    assert!(
        update
            .stderr
            .contains("signed with codex-guard's built-in release key"),
        "{update}"
    );
    assert!(update.stderr.contains("--allow-unsigned"), "{update}");
    assert!(!asked(&source).contains(&archive), "{:?}", asked(&source));
    assert_eq!(snapshot(&bin_dir), programs, "the programs changed");
}

/// The attack: the source signs its own programs with a key of its own. The built-in
/// key refuses them, before they run; the release genuinely signed with the built-in
/// key is then installed with no configuration at all.
#[test]
fn a_release_signed_by_another_key_is_refused_and_the_built_in_key_verifies() {
    let home = TestHome::new();
    let bin_dir = install_release_programs(&home);
    let programs = snapshot(&bin_dir);
    let marker = home.home.join("the downloaded program ran");
    let mut evil = publish(CURRENT, &marker_programs(&marker));
    evil.signature = Some(sign(&fresh_pair(), &evil.sums));
    let archive = format!("/assets/{}", evil.archive_name);
    let source = source(vec![evil], Links::default(), None);

    let update = self_update(&home, &bin_dir, &source, &["--to", CURRENT]);
    assert!(!marker.exists(), "a downloaded program ran: {update}");
    assert_eq!(update.status.code(), Some(1), "{update}");
    assert!(
        update.stderr.contains(&format!(
            "SHA256SUMS of release {CURRENT} is not signed by codex-guard's built-in release key (the signature does not verify)"
        )),
        "{update}"
    );
    assert!(!asked(&source).contains(&archive), "{:?}", asked(&source));
    assert_eq!(snapshot(&bin_dir), programs, "the programs changed");
    // --allow-unsigned is no way around a signature that is there and wrong.
    let update = self_update(
        &home,
        &bin_dir,
        &source,
        &["--to", CURRENT, "--allow-unsigned"],
    );
    assert_eq!(update.status.code(), Some(1), "{update}");
    assert!(!marker.exists(), "a downloaded program ran: {update}");
    assert_eq!(snapshot(&bin_dir), programs, "the programs changed");

    let mut genuine = publish(CURRENT, &current_programs());
    genuine.signature = Some(sign(&release_pair(), &genuine.sums));
    let source = self::source(vec![genuine], Links::default(), None);
    let update = self_update(&home, &bin_dir, &source, &["--to", CURRENT, "--json"]);
    update.assert_success();
    let report = json_of(&update);
    assert_eq!(report["status"], "updated", "{update}");
    assert_eq!(
        report["signature"],
        json!({"status": "verified", "key": "codex-guard's built-in release key"}),
        "{update}"
    );
    assert!(!update.stderr.contains("warning"), "{update}");
    assert_eq!(
        version_of(&bin_dir.join("codex-guard")),
        format!("codex-guard {CURRENT}")
    );
}

/// `--allow-unsigned` is the explicit way to take a release without a signature, and
/// it says so on stderr and in the JSON report.
#[test]
fn allow_unsigned_installs_an_unsigned_release_loudly() {
    let home = TestHome::new();
    let bin_dir = install_release_programs(&home);
    let unsigned = publish(CURRENT, &current_programs());
    let source = source(vec![unsigned], Links::default(), None);

    let update = self_update(
        &home,
        &bin_dir,
        &source,
        &["--to", CURRENT, "--allow-unsigned", "--json"],
    );
    update.assert_success();
    let warning = format!(
        "warning: installing release {CURRENT} from {} UNSIGNED (SHA256SUMS.sig missing), because of --allow-unsigned: nothing proves who made it",
        source.url()
    );
    assert!(update.stderr.contains(&warning), "{update}");
    let report = json_of(&update);
    assert_eq!(report["status"], "updated", "{update}");
    assert_eq!(
        report["signature"],
        json!({"status": "unsigned", "accepted_because": "--allow-unsigned"}),
        "{update}"
    );
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("UNSIGNED"))),
        "{update}"
    );
    assert_eq!(
        version_of(&bin_dir.join("codex-guard")),
        format!("codex-guard {CURRENT}")
    );
}

/// The attack: an https release source (or whoever controls what it lists) points a
/// download, the next page or a redirect at plain http, where anyone on the path could
/// swap the bytes. None of them is followed; nor is a plain-http source without
/// `--allow-http`.
#[test]
fn plain_http_links_from_an_https_source_are_never_followed() {
    let ca = TestCa::new("codex-guard mirror CA");
    let tls = ca.server_config(&["127.0.0.1"]);
    let pem = tempfile::tempdir().unwrap();
    let pem = pem.path().join("mirror ca.pem");
    ca.write_pem(&pem);
    let Installed {
        home,
        bin_dir,
        _model,
        _akto,
    } = installed(&["--ca-cert", pem.to_str().unwrap()]);
    let programs = snapshot(&bin_dir);
    let plain = release_source(Serve::Intact);
    let http = plain.url();
    assert!(http.starts_with("http://127.0.0.1:"), "{http}");
    let signed = || vec![release().published.clone()];

    for (what, links) in [
        (
            "an http asset URL",
            Links {
                assets_at: Some(http.clone()),
                ..Links::default()
            },
        ),
        (
            "an http next page",
            Links {
                next_page: Some(format!(
                    "{http}/repos/codex-guard/codex-guard/releases?page=2"
                )),
                ..Links::default()
            },
        ),
        (
            "a redirect to http",
            Links {
                redirect_assets_to: Some(http.clone()),
                ..Links::default()
            },
        ),
    ] {
        let source = source(signed(), links, Some(tls.clone()));
        assert!(source.url().starts_with("https://"));
        let update = self_update(&home, &bin_dir, &source, &[]);
        assert_eq!(update.status.code(), Some(1), "{what}: {update}");
        assert!(
            update
                .stderr
                .contains(&format!("refusing to follow {http}/")),
            "{what}: {update}"
        );
        assert!(
            plain.requests().is_empty(),
            "{what}: the http address was asked: {:?}",
            asked(&plain)
        );
        assert_eq!(snapshot(&bin_dir), programs, "{what}: the programs changed");
    }

    // A plain-http source itself needs --allow-http, even on loopback.
    let update = run(&home, &bin_dir, &["self-update", "--source", &http]);
    assert_eq!(update.status.code(), Some(1), "{update}");
    assert!(update.stderr.contains("--allow-http"), "{update}");
    assert!(plain.requests().is_empty(), "{:?}", asked(&plain));
    assert_eq!(snapshot(&bin_dir), programs);
}

/// The attack: another account writes its own config, naming its key, and root runs
/// self-update with that account's `HOME` and `CODEX_HOME` (as a `sudo` that keeps them
/// would). Root takes no setting from a file it does not own: the built-in key
/// decides, refuses the account's release, and nothing of it runs.
#[test]
fn root_ignores_a_key_from_a_config_another_account_owns() {
    let home = TestHome::new();
    let Some(user) = codex_guard_e2e::local_user_or_skip("updkey", &home.home) else {
        return;
    };
    let bin_dir = install_release_programs(&home);
    let programs = snapshot(&bin_dir);
    let theirs = fresh_pair();
    let config = user.home.join(".codex/codex-guard/config.toml");
    let written = user.sh(&format!(
        "mkdir -p .codex/codex-guard && printf 'update_public_key = \"%s\"\\n' {} > .codex/codex-guard/config.toml",
        hex(theirs.public_key().as_ref())
    ));
    assert!(written.status.success(), "{written:?}");
    let marker = home.home.join("the downloaded program ran");
    let mut evil = publish(CURRENT, &marker_programs(&marker));
    evil.signature = Some(sign(&theirs, &evil.sums));
    let source = source(vec![evil], Links::default(), None);

    let mut command = Command::new(bin_dir.join("codex-guard"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &user.home)
        .env("TMPDIR", &home.tmpdir)
        .env("CODEX_HOME", user.home.join(".codex"))
        .current_dir(&home.workdir)
        .args(["self-update", "--allow-http", "--to", CURRENT, "--source"])
        .arg(source.url());
    let update = process::run(command, TIMEOUT);
    assert!(!marker.exists(), "a downloaded program ran: {update}");
    assert_eq!(update.status.code(), Some(1), "{update}");
    assert!(
        update.stderr.contains(&format!(
            "warning: {} is ignored: it belongs to uid {}",
            config.display(),
            user.uid
        )),
        "{update}"
    );
    assert!(
        update
            .stderr
            .contains("is not signed by codex-guard's built-in release key"),
        "{update}"
    );
    assert_eq!(snapshot(&bin_dir), programs, "the programs changed");
}
