//! Crash safety: `setup`, `uninstall` and `restore` killed with SIGKILL at random
//! moments. After every kill, config.toml and hooks.json each hold exactly the bytes
//! they had before the command or exactly the bytes an uninterrupted run leaves, never
//! a mix; the next run of the same command finishes the job; and the install it leaves
//! still uninstalls back to the user's own files.
//!
//! `CODEX_GUARD_CRASH_RUNS` sets the kills per command (default 200);
//! `CODEX_GUARD_CRASH_SEED` replays a run (every run prints its seed).
#![cfg(unix)]

use crate::common::TestEnv;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CONFIG: &str = "# my settings, by hand\nmodel = \"o3\"\n\n[features]\n# keep this comment\nweb_search = true\n";
const HOOKS: &str = "{\n  \"hooks\": {\n    \"PreToolUse\": [\n      {\"matcher\": \"Bash\", \"hooks\": [{\"type\": \"command\", \"command\": \"my-linter\"}]}\n    ]\n  }\n}\n";

/// The two files a kill must never leave half-changed, with their bytes.
#[derive(Clone, PartialEq, Eq)]
struct Watched(Vec<(PathBuf, Option<Vec<u8>>)>);

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (path, bytes) in &self.0 {
            let text = bytes.as_deref().map(String::from_utf8_lossy);
            writeln!(f, "--- {}:\n{text:?}", path.display())?;
        }
        Ok(())
    }
}

impl Watched {
    fn of(files: &[PathBuf; 2]) -> Watched {
        Watched(
            files
                .iter()
                .map(|p| (p.clone(), std::fs::read(p).ok()))
                .collect(),
        )
    }

    fn bytes(&self, i: usize) -> Option<&Vec<u8>> {
        self.0[i].1.as_ref()
    }
}

/// A small xorshift generator: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn new() -> (Rng, u64) {
        let seed = std::env::var("CODEX_GUARD_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
                    .into()
            });
        (Rng(seed | 1), seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn runs() -> usize {
    std::env::var("CODEX_GUARD_CRASH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Puts `tree` (the Codex home, or the system root) back to `template` (same path,
/// so every recorded path holds).
fn reset(tree: &Path, template: &Path) {
    if tree.exists() {
        std::fs::remove_dir_all(tree).unwrap();
    }
    copy_tree(template, tree);
}

/// Files (and renamed directories) a killed run may leave behind that a finished run
/// must have cleaned up.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(".removing-") {
            // A directory uninstall renamed before deleting it.
            out.push(path);
        } else if entry.file_type().unwrap().is_dir() {
            out.extend(temp_files(&path));
        } else if entry.file_name().to_string_lossy().ends_with(".tmp") {
            out.push(path);
        }
    }
    out
}

fn describe(
    now: Option<&Vec<u8>>,
    before: Option<&Vec<u8>>,
    after: Option<&Vec<u8>>,
) -> &'static str {
    if now == after {
        "new"
    } else if now == before {
        "old"
    } else {
        "MIXED"
    }
}

/// A command to kill, and how to know the job is done.
struct Scenario<'a> {
    name: &'a str,
    env: &'a TestEnv,
    /// What the command changes: the Codex home, or the system root.
    tree: PathBuf,
    /// The state every run starts `tree` from.
    template: PathBuf,
    /// The two files to watch.
    files: [PathBuf; 2],
    command: Vec<String>,
    /// Checks, after the command finished, that what it left is whole.
    verify: &'a dyn Fn(&TestEnv),
}

impl Scenario<'_> {
    fn spawn(&self) -> std::process::Child {
        self.env.process().args(&self.command).spawn().unwrap()
    }

    fn run_to_end(&self) -> Duration {
        let started = Instant::now();
        let status = self.env.process().args(&self.command).status().unwrap();
        let took = started.elapsed();
        assert!(status.success(), "{}: {status}", self.name);
        took
    }

    fn check(&self) {
        let env = self.env;
        reset(&self.tree, &self.template);
        let before = Watched::of(&self.files);
        // What an uninterrupted run leaves, and how long it takes.
        let mut took: Vec<Duration> = (0..5)
            .map(|_| {
                reset(&self.tree, &self.template);
                self.run_to_end()
            })
            .collect();
        took.sort();
        let after = Watched::of(&self.files);
        assert_ne!(
            before, after,
            "{}: the command must change something",
            self.name
        );
        (self.verify)(env);
        let window = u64::try_from(took[2].as_micros()).unwrap() * 5 / 4;

        let (mut rng, seed) = Rng::new();
        let runs = runs();
        eprintln!(
            "{}: {runs} kills over 0..{window} us (an uninterrupted run: {:?}), seed {seed}",
            self.name, took[2]
        );
        let mut states: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let mut interrupted = 0;
        let started = Instant::now();
        for run in 0..runs {
            reset(&self.tree, &self.template);
            let mut child = self.spawn();
            std::thread::sleep(Duration::from_micros(rng.below(window)));
            let _ = child.kill();
            let status = child.wait().unwrap();
            if status.code().is_none() {
                interrupted += 1;
            }
            let now = Watched::of(&self.files);
            let state = (
                describe(now.bytes(0), before.bytes(0), after.bytes(0)),
                describe(now.bytes(1), before.bytes(1), after.bytes(1)),
            );
            assert!(
                state.0 != "MIXED" && state.1 != "MIXED",
                "{} run {run} (seed {seed}): a kill left a file that is neither the old nor the new one: {state:?}\n{now:?}",
                self.name
            );
            *states.entry(state).or_default() += 1;

            // The same command again finishes the job.
            self.run_to_end();
            assert_eq!(
                Watched::of(&self.files),
                after,
                "{} run {run} (seed {seed}): the run after the kill left another result",
                self.name
            );
            let leftovers = temp_files(&self.tree);
            assert!(
                leftovers.is_empty(),
                "{} run {run}: temporary files left behind: {leftovers:?}",
                self.name
            );
            (self.verify)(env);
        }
        eprintln!(
            "{}: {runs} runs in {:?}, {interrupted} killed before they finished; ({}, {}) after the kill: {states:?}",
            self.name,
            started.elapsed(),
            self.files[0].file_name().unwrap().to_string_lossy(),
            self.files[1].file_name().unwrap().to_string_lossy(),
        );
        assert!(interrupted > 0, "{}: no kill landed mid-run", self.name);
        assert!(
            states.keys().any(|s| *s != ("old", "old")),
            "{}: no kill landed after a change",
            self.name
        );
    }
}

/// The Codex files a per-user command changes.
fn codex_files(env: &TestEnv) -> [PathBuf; 2] {
    [
        env.codex_home.join("config.toml"),
        env.codex_home.join("hooks.json"),
    ]
}

/// The user's files as they were before codex-guard.
fn original(env: &TestEnv) -> PathBuf {
    let template = env.root.join("original");
    std::fs::create_dir_all(&template).unwrap();
    std::fs::write(template.join("config.toml"), CONFIG).unwrap();
    std::fs::write(template.join("hooks.json"), HOOKS).unwrap();
    template
}

#[test]
fn setup_killed_at_any_moment_leaves_old_or_new_files_and_the_next_run_finishes() {
    let env = TestEnv::new();
    let template = original(&env);
    let setup = env.setup_args();
    // What setup leaves must also be a whole install: it uninstalls back to the
    // user's own bytes.
    let verify = |env: &TestEnv| {
        let status = env.process().args(env.uninstall_args()).status().unwrap();
        assert!(status.success());
        assert_eq!(env.read("config.toml"), CONFIG);
        assert_eq!(env.read("hooks.json"), HOOKS);
        assert!(!env.codex_home.join("codex-guard").exists());
    };
    Scenario {
        name: "setup",
        env: &env,
        tree: env.codex_home.clone(),
        files: codex_files(&env),
        template,
        command: setup,
        verify: &verify,
    }
    .check();
}

#[test]
fn uninstall_killed_at_any_moment_leaves_old_or_new_files_and_the_next_run_finishes() {
    let env = TestEnv::new();
    let template = original(&env);
    reset(&env.codex_home, &template);
    let status = env.process().args(env.setup_args()).status().unwrap();
    assert!(status.success());
    // A hook the user added after setup, behind ours, with Codex's trust record:
    // uninstall has to move that record when our handler before it goes.
    let hooks_path = env.codex_home.join("hooks.json");
    let mut hooks: serde_json::Value = serde_json::from_str(&env.read("hooks.json")).unwrap();
    hooks["hooks"]["PreToolUse"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"hooks": [{"type": "command", "command": "audit-later"}]}));
    std::fs::write(&hooks_path, serde_json::to_string_pretty(&hooks).unwrap()).unwrap();
    let mut config = env.read("config.toml");
    _ = write!(
        config,
        "\n[hooks.state.\"{}:pre_tool_use:2:0\"]\ntrusted_hash = \"sha256:{}\"\n",
        hooks_path.display(),
        "ab".repeat(32)
    );
    std::fs::write(env.codex_home.join("config.toml"), config).unwrap();
    let installed = env.root.join("installed");
    copy_tree(&env.codex_home, &installed);

    let verify = |env: &TestEnv| {
        assert!(!env.codex_home.join("codex-guard").exists());
        let config = env.read("config.toml");
        assert!(config.starts_with(CONFIG), "{config}");
        assert!(
            config.contains(&format!("{}:pre_tool_use:1:0", hooks_path.display())),
            "the user's trust record follows their hook: {config}"
        );
        assert!(!config.contains("codex-guard"), "{config}");
        let hooks = env.read("hooks.json");
        assert!(hooks.contains("audit-later") && hooks.contains("my-linter"));
        assert!(!hooks.contains("codex-guard-hook"), "{hooks}");
    };
    Scenario {
        name: "uninstall",
        env: &env,
        tree: env.codex_home.clone(),
        files: codex_files(&env),
        template: installed,
        command: env.uninstall_args(),
        verify: &verify,
    }
    .check();
}

#[test]
fn restore_killed_at_any_moment_leaves_old_or_new_files_and_the_next_run_finishes() {
    let env = TestEnv::new();
    let template = original(&env);
    reset(&env.codex_home, &template);
    let status = env.process().args(env.setup_args()).status().unwrap();
    assert!(status.success());
    let backups = env.codex_home.join("codex-guard/backups");
    let archive = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-setup.tar.gz"))
        .expect("setup's backup");
    let installed = env.root.join("installed");
    copy_tree(&env.codex_home, &installed);

    let restore = vec![
        "restore".to_string(),
        archive.display().to_string(),
        "--codex-home".into(),
        env.codex_home.display().to_string(),
        "--json".into(),
    ];
    let verify = |env: &TestEnv| {
        assert_eq!(env.read("config.toml"), CONFIG);
        assert_eq!(env.read("hooks.json"), HOOKS);
        assert!(!env.codex_home.join("codex-guard/receipt.json").exists());
        assert!(!env
            .codex_home
            .join("codex-guard/bin/codex-guard-hook")
            .exists());
    };
    Scenario {
        name: "restore",
        env: &env,
        tree: env.codex_home.clone(),
        files: codex_files(&env),
        template: installed,
        command: restore,
        verify: &verify,
    }
    .check();
}

#[test]
fn restore_latest_after_an_interrupted_restore_finishes_it_instead_of_undoing_it() {
    let env = TestEnv::new();
    reset(&env.codex_home, &original(&env));
    env.setup(&["--local-only"]).success();
    // A restore that stopped after writing its safety copy and before any file.
    let safety = env
        .codex_home
        .join("codex-guard/backups/29990101T000000.000Z-restore.tar.gz");
    let setup_backup = std::fs::read_dir(env.codex_home.join("codex-guard/backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .next()
        .unwrap();
    std::fs::copy(&setup_backup, &safety).unwrap();
    env.run("restore", &["--latest", "--json"]).success();
    assert_eq!(env.read("config.toml"), CONFIG);
    assert_eq!(env.read("hooks.json"), HOOKS);
}

/// An admin's requirements.toml, as a managed install finds it.
const REQUIREMENTS: &str = "# set by IT\n[features]\nweb_search = false\n\n[mcp_servers.docs]\nurl = \"https://docs.example.com/mcp\"\n";

/// A system root with the admin's requirements.toml and nothing of codex-guard.
fn admin_system(env: &TestEnv) -> PathBuf {
    let template = env.root.join("admin-system");
    std::fs::create_dir_all(template.join("etc/codex")).unwrap();
    std::fs::write(template.join("etc/codex/requirements.toml"), REQUIREMENTS).unwrap();
    template
}

/// The machine-wide files a managed command changes.
fn system_files(system: &Path) -> [PathBuf; 2] {
    [
        system.join("etc/codex/requirements.toml"),
        system.join("etc/codex-guard/config.toml"),
    ]
}

fn managed_args(env: &TestEnv, command: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = command
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    args.extend(["--managed", "--silent", "--json", "--system-root"].map(String::from));
    args.push(env.root.join("system").display().to_string());
    args
}

fn managed_setup_args(env: &TestEnv) -> Vec<String> {
    let mut args = managed_args(env, &["setup", "--local-only"]);
    args.extend(["--runtime".into(), env.runtime.display().to_string()]);
    args
}

fn managed_uninstall_args(env: &TestEnv) -> Vec<String> {
    let mut args = managed_args(env, &["uninstall"]);
    args.extend([
        "--backup-dir".into(),
        env.root.join("uninstall-backups").display().to_string(),
    ]);
    args
}

/// Nothing of codex-guard's left under the system root, and the admin's file whole.
fn assert_no_managed_install(system: &Path) {
    assert_eq!(
        std::fs::read_to_string(system.join("etc/codex/requirements.toml")).unwrap(),
        REQUIREMENTS
    );
    for ours in ["etc/codex-guard", "usr/local/lib/codex-guard"] {
        assert!(!system.join(ours).exists(), "{ours} is left");
    }
}

#[test]
fn managed_setup_killed_at_any_moment_leaves_old_or_new_files_and_the_next_run_finishes() {
    let env = TestEnv::new();
    let system = env.root.join("system");
    let verify = |env: &TestEnv| {
        let requirements =
            std::fs::read_to_string(system.join("etc/codex/requirements.toml")).unwrap();
        assert!(
            requirements.starts_with("# set by IT\n[features]\nweb_search = false\n")
                && requirements
                    .contains("\n[mcp_servers.docs]\nurl = \"https://docs.example.com/mcp\"\n"),
            "{requirements}"
        );
        assert!(requirements.contains("codex-guard-hook"), "{requirements}");
        assert!(system
            .join("usr/local/lib/codex-guard/codex-guard-hook")
            .is_file());
        let status = env
            .process()
            .args(managed_uninstall_args(env))
            .status()
            .unwrap();
        assert!(status.success());
        assert_no_managed_install(&system);
    };
    Scenario {
        name: "setup --managed",
        env: &env,
        tree: system.clone(),
        files: system_files(&system),
        template: admin_system(&env),
        command: managed_setup_args(&env),
        verify: &verify,
    }
    .check();
}

#[test]
fn managed_uninstall_killed_at_any_moment_leaves_old_or_new_files_and_the_next_run_finishes() {
    let env = TestEnv::new();
    let system = env.root.join("system");
    reset(&system, &admin_system(&env));
    let status = env
        .process()
        .args(managed_setup_args(&env))
        .status()
        .unwrap();
    assert!(status.success());
    let installed = env.root.join("installed-system");
    copy_tree(&system, &installed);
    let verify = |_: &TestEnv| assert_no_managed_install(&system);
    Scenario {
        name: "uninstall --managed",
        env: &env,
        tree: system.clone(),
        files: system_files(&system),
        template: installed,
        command: managed_uninstall_args(&env),
        verify: &verify,
    }
    .check();
}
