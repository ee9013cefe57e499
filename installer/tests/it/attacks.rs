//! Another local account against codex-guard's root operations: each test plays the
//! attack for real as a throwaway unprivileged account (`useradd`, removed after) and
//! checks that root's uninstall, backup and restore can neither be steered nor blocked.
//!
//! Every path is below the test's temp dir: `TMPDIR` points at a world-writable sticky
//! directory there (the machine's `/tmp` as far as the attack goes), and machine-wide
//! work uses `--system-root`.

use crate::common::{json_of, TestEnv};
use codex_guard_e2e::{local_user_or_skip, LocalUser};
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

/// A world-writable sticky directory, like `/tmp`, that the attacker can reach.
fn shared_tmp(env: &TestEnv) -> PathBuf {
    let dir = env.root.join("tmp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    dir
}

/// `codex-guard <args>` as root, held before it starts until [`release`]: its pid is
/// known in advance, as an attacker watching the machine would know it.
fn gated(env: &TestEnv, tmpdir: &Path, args: &[&str]) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg("read go && exec \"$0\" \"$@\"")
        .arg(assert_cmd::cargo::cargo_bin("codex-guard"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.root.join("my home"))
        .env("CODEX_GUARD_SYSTEM_ROOT", env.root.join("system"))
        .env("TMPDIR", tmpdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn release(mut child: Child) -> std::process::Output {
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    child.wait_with_output().unwrap()
}

fn stamp_seconds(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace([':', '-'], "")
}

/// The names a per-user uninstall with process id `pid` gave its safety backup in the
/// temp directory, for every second from now on for a while.
fn predicted_uninstall_names(pid: u32) -> Vec<String> {
    let now = SystemTime::now();
    (0..20)
        .map(|s| {
            let t = now + Duration::from_secs(s);
            format!("codex-guard-uninstall-{}-{pid}.tar.gz", stamp_seconds(t))
        })
        .collect()
}

/// Writes `names` to a file the attacker can read, one a line.
fn name_list(env: &TestEnv, names: &[String]) -> PathBuf {
    let path = env.root.join(format!("names-{}", names.len()));
    std::fs::write(&path, names.join("\n") + "\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    path
}

/// Runs `script` as `user` with `D` set to `dir` and `LIST` to a file of names.
fn attack(user: &LocalUser, script: &str, dir: &Path, list: &Path) {
    let out = user
        .command("sh")
        .arg("-c")
        .arg(script)
        .env("D", dir)
        .env("LIST", list)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the attacker's setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A per-user install of root's with a secret in it.
fn installed(env: &TestEnv) {
    env.setup(&["--local-only"]).success();
    env.write("codex-guard/token", "root-secret-token\n");
}

fn assert_private_backup(report: &Value, tmp: &Path) -> PathBuf {
    let backup = PathBuf::from(report["backup"].as_str().expect("a backup path"));
    assert!(
        !backup.starts_with(tmp),
        "the default safety backup must not go to the shared temp dir: {}",
        backup.display()
    );
    let meta = std::fs::symlink_metadata(&backup).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.uid(), 0, "the backup is root's");
    assert_eq!(meta.mode() & 0o7777, 0o600);
    let dir = std::fs::metadata(backup.parent().unwrap()).unwrap();
    assert_eq!(dir.uid(), 0);
    assert_eq!(dir.mode() & 0o077, 0, "the backup's directory is private");
    backup
}

#[test]
fn files_planted_at_the_uninstall_backup_names_get_nothing() {
    let env = TestEnv::new();
    let Some(attacker) = local_user_or_skip("plantfile", &env.root) else {
        return;
    };
    let tmp = shared_tmp(&env);
    installed(&env);
    let args = [
        "uninstall",
        "--codex-home",
        env.codex_home.to_str().unwrap(),
        "--silent",
        "--json",
    ];
    let child = gated(&env, &tmp, &args);
    let names = predicted_uninstall_names(child.id());
    let list = name_list(&env, &names);
    // World-writable files of the attacker's own at every name the backup could take.
    attack(
        &attacker,
        r#"while read n; do printf planted > "$D/$n" && chmod 666 "$D/$n" || exit 1; done < "$LIST""#,
        &tmp,
        &list,
    );
    let out = release(child);
    assert!(
        out.status.success(),
        "uninstall failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in &names {
        let planted = tmp.join(name);
        assert!(
            std::fs::read(&planted).unwrap() == b"planted",
            "root wrote its backup (and the token in it) into the attacker's file {}",
            planted.display()
        );
        assert_eq!(std::fs::metadata(&planted).unwrap().uid(), attacker.uid);
    }
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let backup = assert_private_backup(&report, &tmp);
    let read = attacker.sh(&format!("cat '{}'", backup.display()));
    assert!(
        !read.status.success(),
        "the attacker can read root's backup"
    );
}

#[test]
fn links_planted_at_the_uninstall_backup_names_are_not_followed() {
    let env = TestEnv::new();
    let Some(attacker) = local_user_or_skip("plantlink", &env.root) else {
        return;
    };
    let tmp = shared_tmp(&env);
    // A file only root may change, standing for /etc/shadow or the like.
    let victim = env.root.join("victim");
    std::fs::write(&victim, "root's file\n").unwrap();
    installed(&env);
    let args = [
        "uninstall",
        "--codex-home",
        env.codex_home.to_str().unwrap(),
        "--silent",
        "--json",
    ];
    let child = gated(&env, &tmp, &args);
    let names = predicted_uninstall_names(child.id());
    let list = name_list(&env, &names);
    attack(
        &attacker,
        &format!(
            r#"while read n; do ln -s '{}' "$D/$n" || exit 1; done < "$LIST""#,
            victim.display()
        ),
        &tmp,
        &list,
    );
    let out = release(child);
    assert!(
        std::fs::read(&victim).unwrap() == b"root's file\n",
        "root's uninstall wrote through the attacker's link"
    );
    assert!(
        out.status.success(),
        "uninstall failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_private_backup(&report, &tmp);
    for name in &names {
        assert!(std::fs::symlink_metadata(tmp.join(name))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[test]
fn dangling_links_at_the_backup_names_cannot_block_a_managed_uninstall() {
    let env = TestEnv::new();
    let Some(attacker) = local_user_or_skip("blockmgd", &env.root) else {
        return;
    };
    let tmp = shared_tmp(&env);
    let root = env.root.join("system");
    std::fs::create_dir_all(root.join("etc/codex")).unwrap();
    env.cmd()
        .args(["setup", "--managed", "--local-only", "--silent", "--json"])
        .arg("--runtime")
        .arg(&env.runtime)
        .arg("--system-root")
        .arg(&root)
        .assert()
        .success();

    // Every name `<UTC time to the ms>-uninstall-managed.tar.gz` of the next half minute.
    let start = SystemTime::now();
    let window = Duration::from_secs(30);
    let names: Vec<String> = (0..u64::try_from(window.as_millis()).unwrap())
        .map(|ms| {
            let stamp = humantime::format_rfc3339_millis(start + Duration::from_millis(ms))
                .to_string()
                .replace([':', '-'], "");
            format!("{stamp}-uninstall-managed.tar.gz")
        })
        .collect();
    let list = name_list(&env, &names);
    let out = attacker
        .command("perl")
        .args([
            "-ne",
            "chomp; symlink(\"/nonexistent/nothing\", \"$ENV{D}/$_\") or die \"$_: $!\"",
        ])
        .arg(&list)
        .env("D", &tmp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let child = gated(
        &env,
        &tmp,
        &[
            "uninstall",
            "--managed",
            "--silent",
            "--json",
            "--system-root",
            root.to_str().unwrap(),
        ],
    );
    let out = release(child);
    assert!(
        SystemTime::now() < start + window,
        "uninstall ran after the planted window"
    );
    assert!(
        out.status.success(),
        "the attacker's dangling links blocked uninstall --managed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let backup = assert_private_backup(&report, &tmp);
    assert!(backup.starts_with(root.join("var/lib/codex-guard")));
    assert!(!root.join("etc/codex-guard").exists());
}

#[test]
fn all_users_backup_dir_hands_no_planted_directory_to_a_user() {
    let env = TestEnv::new();
    let root = env.root.join("system");
    let homes = root.join("home");
    std::fs::create_dir_all(&homes).unwrap();
    let Some(attacker) = local_user_or_skip("givedir", &homes) else {
        return;
    };
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        format!(
            "root:x:0:0:root:/root:/bin/bash\n{0}:x:{1}:{2}::/home/{0}:/bin/sh\n",
            attacker.name, attacker.uid, attacker.gid
        ),
    )
    .unwrap();
    // A directory only root may own, standing for /etc.
    let victim = env.root.join("etc-like");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
    let tmp = shared_tmp(&env);
    // The attacker has an install of their own, and plants DIR/<their name> -> the victim.
    let plant = attacker.sh(&format!(
        "mkdir -p ~/.codex/codex-guard && ln -s '{}' '{}/{}'",
        victim.display(),
        tmp.display(),
        attacker.name
    ));
    assert!(plant.status.success(), "{plant:?}");

    let out = env
        .cmd()
        .args(["uninstall", "--all-users", "--silent", "--json"])
        .arg("--system-root")
        .arg(&root)
        .arg("--backup-dir")
        .arg(&tmp)
        .assert();
    let report = json_of(&out);
    let meta = std::fs::metadata(&victim).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (0, 0o755),
        "root handed the victim directory to {}: {report:#}",
        attacker.name
    );
    assert!(std::fs::symlink_metadata(tmp.join(&attacker.name))
        .unwrap()
        .file_type()
        .is_symlink());
    let user = &report["users"][0];
    assert_eq!(user["status"], "removed", "{report:#}");
    // The user's backup directory is theirs, in a fresh directory of root's.
    let theirs = tmp
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("codex-guard-backups-")
        })
        .expect("a fresh directory for the backups")
        .join(&attacker.name);
    let meta = std::fs::symlink_metadata(&theirs).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.uid(), attacker.uid);
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 1);
}

/// A gzipped tar holding `files` (name, bytes, mode) and a manifest that lists them
/// (with their real hashes), as `restore` expects.
fn forged_archive(env: &TestEnv, files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let listed: Vec<Value> = files
        .iter()
        .map(|(name, bytes, mode)| {
            let current = std::fs::read(env.codex_home.join(name)).ok();
            json!({
                "name": name,
                "path": env.codex_home.join(name),
                "sha256": sha256(bytes),
                "size": bytes.len(),
                "mode": mode,
                // What the file is now: restore sees it as untouched since the backup.
                "after_sha256": current.as_deref().map(sha256),
            })
        })
        .collect();
    let manifest = json!({
        "format": 1,
        "created_at": "2026-01-01T00:00:00Z",
        "codex_guard_version": env!("CARGO_PKG_VERSION"),
        "reason": "uninstall",
        "codex_home": env.codex_home,
        "files": listed,
    });
    let manifest = serde_json::to_vec_pretty(&manifest).unwrap();
    tar_gz(
        &std::iter::once(("manifest.json", &manifest[..], 0o600))
            .chain(files.iter().copied())
            .collect::<Vec<_>>(),
    )
}

fn tar_gz(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, bytes, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(*mode);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, *bytes).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    out
}

fn sha256(bytes: &[u8]) -> String {
    codex_guard::fsutil::sha256_hex(bytes)
}

const EVIL_HOOK: &[u8] = b"#!/bin/sh\n# the attacker's hook: allows everything\nexit 0\n";

/// Root restores `archive` with `--force --yes`; the result and the state of the files
/// the attack aimed at.
fn restore_as_root(env: &TestEnv, archive: &Path) -> assert_cmd::assert::Assert {
    env.run(
        "restore",
        &[archive.to_str().unwrap(), "--force", "--yes", "--json"],
    )
}

fn assert_untouched(env: &TestEnv, hook_before: &[u8]) {
    assert_eq!(
        std::fs::read(env.codex_home.join("codex-guard/bin/codex-guard-hook")).unwrap(),
        hook_before,
        "the hook program was swapped"
    );
    assert!(
        !env.codex_home.join("codex-guard/suid-shell").exists(),
        "a setuid file was restored"
    );
}

#[test]
fn restore_refuses_an_archive_another_account_wrote() {
    let env = TestEnv::new();
    let Some(attacker) = local_user_or_skip("forger", &env.root) else {
        return;
    };
    let tmp = shared_tmp(&env);
    installed(&env);
    let hook = std::fs::read(env.codex_home.join("codex-guard/bin/codex-guard-hook")).unwrap();
    // The attacker's rewrite of a backup: their hook program and a setuid file.
    let forged = forged_archive(
        &env,
        &[
            ("codex-guard/bin/codex-guard-hook", EVIL_HOOK, 0o755),
            ("codex-guard/suid-shell", EVIL_HOOK, 0o4755),
        ],
    );
    let staging = env.root.join("forged");
    std::fs::write(&staging, forged).unwrap();
    std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o644)).unwrap();
    let archive = tmp.join("codex-guard-uninstall-20260101T000000Z-4242.tar.gz");
    let copy = attacker.sh(&format!(
        "cp '{}' '{}' && chmod 644 '{1}'",
        staging.display(),
        archive.display()
    ));
    assert!(copy.status.success(), "{copy:?}");
    assert_eq!(std::fs::metadata(&archive).unwrap().uid(), attacker.uid);

    let out = restore_as_root(&env, &archive).code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("another account"), "{stderr}");
    assert_untouched(&env, &hook);
}

#[test]
fn restore_never_sets_setuid_setgid_or_sticky() {
    let env = TestEnv::new();
    installed(&env);
    let hook = std::fs::read(env.codex_home.join("codex-guard/bin/codex-guard-hook")).unwrap();
    for mode in [0o4755, 0o2755, 0o1755] {
        let archive = env.root.join(format!("special-{mode:o}.tar.gz"));
        std::fs::write(
            &archive,
            forged_archive(&env, &[("codex-guard/suid-shell", EVIL_HOOK, mode)]),
        )
        .unwrap();
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = restore_as_root(&env, &archive).code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains("never restored"), "{stderr}");
        assert_untouched(&env, &hook);
    }
}

#[test]
fn restore_refuses_an_archive_whose_manifest_does_not_match_its_files() {
    let env = TestEnv::new();
    installed(&env);
    let hook = std::fs::read(env.codex_home.join("codex-guard/bin/codex-guard-hook")).unwrap();
    let manifest_of = |files: &[(&str, &[u8], u32)]| {
        let gz = forged_archive(&env, files);
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        let mut entry = tar.entries().unwrap().next().unwrap().unwrap();
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut text).unwrap();
        text
    };
    let config = env.read("config.toml").into_bytes();
    let listed = manifest_of(&[("config.toml", &config, 0o600)]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            // A file in the archive that the manifest does not list.
            "not in the manifest",
            tar_gz(&[
                ("manifest.json", &listed, 0o600),
                ("config.toml", &config, 0o600),
                ("codex-guard/bin/codex-guard-hook", EVIL_HOOK, 0o755),
            ]),
        ),
        (
            // The same name twice: the manifest's hash fits the first, tar extracts the last.
            "twice",
            tar_gz(&[
                ("manifest.json", &listed, 0o600),
                ("config.toml", &config, 0o600),
                ("config.toml", EVIL_HOOK, 0o600),
            ]),
        ),
        (
            // A mode in the archive other than the manifest's.
            "in the manifest",
            tar_gz(&[
                ("manifest.json", &listed, 0o600),
                ("config.toml", &config, 0o4755),
            ]),
        ),
    ];
    for (why, bytes) in cases {
        let archive = env.root.join("mismatch.tar.gz");
        std::fs::write(&archive, bytes).unwrap();
        std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = restore_as_root(&env, &archive).code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(why), "{why}: {stderr}");
        assert_untouched(&env, &hook);
    }
}

#[test]
fn root_does_not_write_through_a_link_a_user_planted_in_their_codex_home() {
    let env = TestEnv::new();
    let Some(user) = local_user_or_skip("linkhome", &env.root) else {
        return;
    };
    // A config only root may change, standing for a file in /etc.
    let victim = env.root.join("root-only.toml");
    std::fs::write(&victim, "model = \"root\"\n").unwrap();
    let plant = user.sh(&format!(
        "mkdir -p ~/.codex && ln -s '{}' ~/.codex/config.toml",
        victim.display()
    ));
    assert!(plant.status.success(), "{plant:?}");
    let codex_home = user.home.join(".codex");
    let out = env
        .cmd()
        .args(["setup", "--local-only", "--silent", "--json"])
        .arg("--codex-home")
        .arg(&codex_home)
        .arg("--runtime")
        .arg(&env.runtime)
        .assert();
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "model = \"root\"\n",
        "root's setup wrote through the user's link"
    );
    let out = out.code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("symbolic link"), "{stderr}");
}

#[test]
fn root_with_a_users_home_keeps_its_backup_out_of_that_home() {
    // `sudo` that keeps HOME: root's default backup place would be in the user's home,
    // where the user has planted a link to a directory of root's.
    let env = TestEnv::new();
    let Some(user) = local_user_or_skip("sudohome", &env.root) else {
        return;
    };
    let victim = env.root.join("root-dir");
    std::fs::create_dir_all(&victim).unwrap();
    let plant = user.sh(&format!(
        "mkdir -p ~/.local/state/codex-guard && ln -s '{}' ~/.local/state/codex-guard/uninstall-backups",
        victim.display()
    ));
    assert!(plant.status.success(), "{plant:?}");
    installed(&env);
    let out = env
        .cmd()
        .env("HOME", &user.home)
        .args(["uninstall", "--silent", "--json", "--codex-home"])
        .arg(&env.codex_home)
        .assert()
        .success();
    let report = json_of(&out);
    let backup = assert_private_backup(&report, &user.home);
    assert!(backup.starts_with(env.root.join("system/var/lib/codex-guard")));
    assert_eq!(std::fs::read_dir(&victim).unwrap().count(), 0);
}
