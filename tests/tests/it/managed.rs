//! End-to-end: the machine-wide (managed) install with the real Codex CLI.
//!
//! `codex-guard setup --managed` writes a test system root; Codex then runs with that
//! root's `etc` mounted over `/etc` in a private mount namespace (root only; the
//! machine's own `/etc` is never touched). The user's Codex home has no codex-guard
//! handler and no trust record of ours: only the managed layer can fire our hooks.

use codex_guard_e2e::guard::run_guard;
use codex_guard_e2e::{run_codex_exec_with_etc, wait_until, FakeAkto, FakeModel, TestHome};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(10);

/// A system root whose `etc` is a copy of the machine's (Codex needs its resolver,
/// users and certificates) plus an admin's existing requirements.toml.
struct SystemRoot {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

const ADMIN_REQUIREMENTS: &str =
    "# Fleet policy, owned by the admin\nallowed_web_search_modes = [\"disabled\"]\n";

impl SystemRoot {
    fn new() -> SystemRoot {
        assert_root();
        let dir = tempfile::Builder::new()
            .prefix("codex-guard-root-")
            .tempdir()
            .unwrap();
        let root = dir.path().canonicalize().unwrap();
        let status = Command::new("cp")
            .args(["-a", "/etc"])
            .arg(root.join("etc"))
            .status()
            .unwrap();
        assert!(status.success(), "cannot copy /etc into the test root");
        std::fs::create_dir_all(root.join("etc/codex")).unwrap();
        std::fs::write(root.join("etc/codex/requirements.toml"), ADMIN_REQUIREMENTS).unwrap();
        SystemRoot { _dir: dir, root }
    }

    fn requirements(&self) -> String {
        std::fs::read_to_string(self.root.join("etc/codex/requirements.toml")).unwrap()
    }
}

/// Mounting over /etc in a private namespace needs root; CI runs as root.
#[track_caller]
fn assert_root() {
    let out = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "the managed end-to-end tests mount a test /etc in a private mount namespace and need root"
    );
}

#[track_caller]
fn guard_json(home: &TestHome, args: &[&str]) -> Value {
    let output = run_guard(home, args);
    output.assert_success();
    serde_json::from_str(output.stdout.trim())
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {output}"))
}

fn root_arg(root: &Path) -> String {
    root.display().to_string()
}

/// `codex-guard COMMAND --managed --silent --json --system-root ROOT`, then `extra`.
fn managed_json(home: &TestHome, root: &str, command: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        command,
        "--managed",
        "--silent",
        "--json",
        "--system-root",
        root,
    ];
    args.extend_from_slice(extra);
    guard_json(home, &args)
}

/// The user's event log has a whole session whose PreToolUse was blocked.
fn assert_logged_a_blocking_session(home: &TestHome) {
    wait_until(SETTLE, || {
        home.events().iter().any(|l| l["event"] == "Stop")
    });
    let events = home.events();
    let pre = events
        .iter()
        .find(|l| l["event"] == "PreToolUse")
        .unwrap_or_else(|| {
            panic!(
                "no PreToolUse in {}: {events:#?}",
                home.events_log().display()
            )
        });
    assert_eq!(pre["decision"], "block", "{pre}");
    for event in ["SessionStart", "UserPromptSubmit", "PreToolUse", "Stop"] {
        assert!(
            events.iter().any(|l| l["event"] == event),
            "{event} missing: {events:#?}"
        );
    }
}

#[test]
fn managed_hooks_fire_without_any_per_user_install_and_managed_only_silences_user_hooks() {
    let system = SystemRoot::new();
    let root = root_arg(&system.root);
    let home = TestHome::new();
    let target = home.workdir.join("rm-me-marker");
    let model = FakeModel::start(&format!("touch {}", target.display()));
    home.configure(&model);
    let config_before = std::fs::read_to_string(home.config_toml()).unwrap();
    let hooks_before = std::fs::read_to_string(home.hooks_json()).unwrap();
    let akto = FakeAkto::deny_containing("rm-me-marker", "dangerous command");

    let report = managed_json(&home, &root, "setup", &["--url", &akto.url()]);
    assert_eq!(report["changed"], true, "{report}");
    assert!(system.requirements().starts_with(ADMIN_REQUIREMENTS));

    let output = run_codex_exec_with_etc(&home, &system.root.join("etc"), "create the marker");
    output.assert_success();
    assert!(!target.exists(), "the managed hook did not block: {output}");
    assert_eq!(
        home.user_hook_runs(),
        1,
        "the user's own hook must still run: {output}"
    );
    // Nothing of ours in the user's files: the managed layer alone fired the hook.
    assert_eq!(
        std::fs::read_to_string(home.config_toml()).unwrap(),
        config_before
    );
    assert_eq!(
        std::fs::read_to_string(home.hooks_json()).unwrap(),
        hooks_before
    );
    // The runtime ran as the user, with the machine's settings, logging in the user's home.
    assert_logged_a_blocking_session(&home);
    assert!(
        !akto.requests_for("PreToolUse").is_empty(),
        "Akto was not asked"
    );

    // --managed-only: Codex now ignores the user's own hooks; ours still block.
    let report = managed_json(&home, &root, "setup", &["--managed-only"]);
    assert_eq!(report["changed"], true, "{report}");
    assert!(system
        .requirements()
        .contains("allow_managed_hooks_only = true"));
    let output =
        run_codex_exec_with_etc(&home, &system.root.join("etc"), "create the marker again");
    output.assert_success();
    assert!(!target.exists(), "the managed hook did not block: {output}");
    assert_eq!(
        home.user_hook_runs(),
        1,
        "allow_managed_hooks_only must silence user hooks: {output}"
    );

    // Uninstall gives the admin's file back byte for byte and removes our files.
    let report = managed_json(&home, &root, "uninstall", &[]);
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(system.requirements(), ADMIN_REQUIREMENTS);
    assert!(!system.root.join("etc/codex-guard").exists());
    assert!(!system.root.join("usr/local/lib/codex-guard").exists());
    let output = run_codex_exec_with_etc(&home, &system.root.join("etc"), "create the marker now");
    output.assert_success();
    assert!(
        target.exists(),
        "after uninstall nothing should block: {output}"
    );
    assert_eq!(
        home.user_hook_runs(),
        2,
        "the user's hook runs again: {output}"
    );
}
