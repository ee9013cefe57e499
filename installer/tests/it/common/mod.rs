//! A temporary Codex home and helpers shared by the installer's integration tests.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub struct TestEnv {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub codex_home: PathBuf,
    pub runtime: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv::in_dir(&std::env::temp_dir())
    }

    /// A [`TestEnv`] in a new temporary directory below `parent`.
    pub fn in_dir(parent: &Path) -> TestEnv {
        let dir = tempfile::tempdir_in(parent).unwrap();
        let root = dir.path().canonicalize().unwrap();
        let codex_home = root.join("my home").join(".codex");
        std::fs::create_dir_all(&codex_home).unwrap();
        std::fs::create_dir_all(root.join("system")).unwrap();
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        let runtime = root.join("fake-runtime");
        std::fs::write(&runtime, "#!/bin/sh\nexit 0\n").unwrap();
        TestEnv {
            _dir: dir,
            root,
            codex_home,
            runtime,
        }
    }

    pub fn file(self, name: &str, text: &str) -> TestEnv {
        std::fs::write(self.codex_home.join(name), text).unwrap();
        self
    }

    pub fn cmd(&self) -> Command {
        self.cmd_as(&assert_cmd::cargo::cargo_bin("codex-guard"))
    }

    /// [`TestEnv::cmd`] running the `codex-guard` at `exe` (a copy in a package layout).
    pub fn cmd_as(&self, exe: &Path) -> Command {
        let mut cmd = Command::new(exe);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root.join("my home"))
            .env("TMPDIR", self.tmpdir())
            .env("CODEX_GUARD_SYSTEM_ROOT", self.root.join("system"));
        cmd
    }

    /// The temporary directory the commands a test runs are given: inside the test's
    /// root, so whatever they leave there goes with it.
    pub fn tmpdir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// [`TestEnv::cmd`] as a plain process, for tests that spawn and kill it.
    pub fn process(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("codex-guard"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root.join("my home"))
            .env("TMPDIR", self.tmpdir())
            .env("CODEX_GUARD_SYSTEM_ROOT", self.root.join("system"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd
    }

    /// `setup --local-only --silent --json` on this home, as arguments for [`TestEnv::process`].
    pub fn setup_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["setup".into(), "--codex-home".into()];
        args.push(self.codex_home.display().to_string());
        args.extend(["--runtime".into(), self.runtime.display().to_string()]);
        args.extend(["--local-only", "--silent", "--json"].map(String::from));
        args
    }

    /// The arguments of [`TestEnv::uninstall`], for [`TestEnv::process`].
    pub fn uninstall_args(&self) -> Vec<String> {
        let backups = self.root.join("uninstall-backups");
        vec![
            "uninstall".into(),
            "--codex-home".into(),
            self.codex_home.display().to_string(),
            "--silent".into(),
            "--json".into(),
            "--backup-dir".into(),
            backups.display().to_string(),
        ]
    }

    pub fn setup(&self, extra: &[&str]) -> assert_cmd::assert::Assert {
        self.setup_with(&[], extra)
    }

    /// [`TestEnv::setup`] with these environment variables set.
    pub fn setup_with(&self, vars: &[(&str, &str)], extra: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd()
            .envs(vars.iter().copied())
            .arg("setup")
            .arg("--codex-home")
            .arg(&self.codex_home)
            .arg("--runtime")
            .arg(&self.runtime)
            .arg("--silent")
            .args(extra)
            .assert()
    }

    /// Runs `codex-guard <subcommand> --codex-home <home> <extra>`.
    pub fn run(&self, subcommand: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd()
            .arg(subcommand)
            .arg("--codex-home")
            .arg(&self.codex_home)
            .args(extra)
            .assert()
    }

    /// `uninstall --silent --json`, with its safety backup kept inside the test's directory.
    pub fn uninstall(&self, extra: &[&str]) -> assert_cmd::assert::Assert {
        self.cmd().args(self.uninstall_args()).args(extra).assert()
    }

    /// Writes `contents` to `rel` below the Codex home, creating its directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &TestEnv {
        let path = self.codex_home.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.codex_home.join(rel)).unwrap()
    }

    /// Every file below the Codex home with its bytes, for before/after comparisons.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        files_below(&self.codex_home)
    }

    /// [`TestEnv::snapshot`] without codex-guard's backups, which every command adds to.
    pub fn snapshot_without_backups(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let backups = self.codex_home.join("codex-guard/backups");
        self.snapshot()
            .into_iter()
            .filter(|(p, _)| !p.starts_with(&backups))
            .collect()
    }

    /// Replaces the temporary home and trust hashes by stable markers.
    pub fn normalize(&self, text: &str) -> String {
        let mut out = text.replace(&self.codex_home.display().to_string(), "[CODEX_HOME]");
        while let Some(pos) = out.find("sha256:") {
            let end = pos + "sha256:".len() + 64;
            assert!(
                out[pos + 7..end].chars().all(|c| c.is_ascii_hexdigit()),
                "{out}"
            );
            out.replace_range(pos..end, "SHA256[HASH]");
        }
        out
    }
}

/// A human report with its temporary paths and backup times replaced by markers:
/// the Codex home, the test's root, and the time in a backup's name.
pub fn normalize_report(env: &TestEnv, text: &str) -> String {
    let text = text
        .replace(&env.codex_home.display().to_string(), "[CODEX_HOME]")
        .replace(&env.root.display().to_string(), "[ROOT]");
    // Backup names start with a compact UTC time: 20261206T130812.123Z.
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("/backups/") {
        let (head, tail) = rest.split_at(at + "/backups/".len());
        out.push_str(head);
        let end = tail.find('Z').filter(|&end| {
            tail[..end]
                .chars()
                .all(|c| c.is_ascii_digit() || c == 'T' || c == '.')
        });
        match end {
            Some(end) => {
                out.push_str("[TIME]");
                rest = &tail[end + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

pub fn json_of(assert: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&assert.get_output().stdout).expect("stdout is one JSON object")
}

/// The check `id` of a doctor report.
pub fn check<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .expect("a doctor report has checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

pub fn tar_listing(path: &Path) -> std::collections::BTreeMap<String, String> {
    use std::io::Read;
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    let mut out = std::collections::BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        out.insert(entry.path().unwrap().to_string_lossy().into_owned(), text);
    }
    out
}

/// Every file below `dir`, sorted, with its bytes (a symlink as `symlink -> target`).
pub fn files_below(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                let mut bytes = b"symlink -> ".to_vec();
                bytes.extend_from_slice(target.to_string_lossy().as_bytes());
                out.push((path.clone(), bytes));
            } else if meta.is_dir() {
                walk(&path, out);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}
