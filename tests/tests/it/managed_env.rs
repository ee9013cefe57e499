//! Attacks on a managed install through the environment: an ordinary user runs the
//! managed hook (exactly the command Codex runs, `bash -c`) with Akto's override
//! variables set, trying to switch blocking off, turn fail-closed into fail-open or
//! move the audit log. The machine config must win, and the attempt must be in the
//! user's audit log once per session. A per-user install keeps honouring them.
//!
//! The managed install is set up by root under a temporary system root; the hook runs
//! as a throwaway account made with useradd (root only: CI runs as root).

use codex_guard_e2e::guard::{run_guard, setup};
use codex_guard_e2e::process::{deny_reason, run_with_stdin};
use codex_guard_e2e::{local_user_or_skip, FakeAkto, LocalUser, TestHome};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What Akto's fake rejects: a command containing it is denied by the guardrails.
const NEEDLE: &str = "evil-marker";

/// A managed install (blocking, fail-closed, asking a fake Akto that denies
/// [`NEEDLE`]) and an ordinary user of that machine.
struct ManagedMachine {
    temp_home: tempfile::TempDir,
    user: LocalUser,
    akto: FakeAkto,
    /// The hook command the install registered with Codex.
    command: String,
}

impl ManagedMachine {
    fn new(test: &str) -> Option<ManagedMachine> {
        let dir = tempfile::Builder::new()
            .prefix("codex-guard-env-")
            .tempdir()
            .unwrap();
        let root = dir.path().canonicalize().unwrap();
        // The user runs the runtime from below this root, as from `/`.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let homes = root.join("home");
        std::fs::create_dir(&homes).unwrap();
        let user = local_user_or_skip(test, &homes)?;
        let akto = FakeAkto::deny_containing(NEEDLE, "exfiltration");
        let admin = TestHome::new();
        let out = run_guard(
            &admin,
            &[
                "setup",
                "--managed",
                "--silent",
                "--json",
                "--url",
                &akto.url(),
                "--fail-closed",
                "--system-root",
                &root.display().to_string(),
            ],
        );
        out.assert_success();
        let receipt: Value = serde_json::from_slice(
            &std::fs::read(root.join("etc/codex-guard/managed-receipt.json")).unwrap(),
        )
        .unwrap();
        let command = receipt["command"].as_str().unwrap().to_string();
        assert!(command.contains("--machine-config"), "{command}");
        Some(ManagedMachine {
            temp_home: dir,
            user,
            akto,
            command,
        })
    }

    /// Runs the managed hook as the user, as Codex does, with `env` added to the
    /// user's environment.
    fn hook(&self, event: &Value, env: &[(&str, &str)]) -> Output {
        let mut cmd = self.user.command("bash");
        cmd.arg("-c").arg(&self.command).envs(env.iter().copied());
        run_with_stdin(cmd, event.to_string().as_bytes())
    }

    fn guard_dir(&self) -> PathBuf {
        self.user.home.join(".codex/codex-guard")
    }

    fn log(&self) -> Vec<Value> {
        read_log(&self.guard_dir().join("logs/events.jsonl"))
    }
}

fn read_log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn bash(session: &str, command: &str) -> Value {
    json!({
        "session_id": session, "turn_id": "t1", "cwd": "/tmp", "transcript_path": null,
        "hook_event_name": "PreToolUse", "model": "gpt-5.4", "permission_mode": "default",
        "tool_name": "Bash", "tool_use_id": "call-1", "tool_input": {"command": command}
    })
}

fn ignored(line: &Value) -> Vec<String> {
    line["ignored_env"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn akto_sync_mode_false_turns_neither_admin_rules_nor_akto_blocks_off() {
    let Some(m) = ManagedMachine::new("syncmode") else {
        return;
    };
    let env = [("AKTO_SYNC_MODE", "false")];
    let reason = deny_reason(&m.hook(&bash("s1", "rm -rf ~"), &env));
    assert!(
        reason.starts_with("Blocked by codex-guard rule filesystem/recursive-delete: "),
        "{reason}"
    );
    let reason = deny_reason(&m.hook(&bash("s1", &format!("echo {NEEDLE}")), &env));
    assert_eq!(reason, "exfiltration");
    assert!(!m.akto.requests_for("PreToolUse").is_empty());
    // The attempt is recorded once for the session, and again in the next one.
    m.hook(&bash("s2", "ls"), &env);
    let log = m.log();
    assert_eq!(log.len(), 3, "{log:#?}");
    assert!(log.iter().all(|l| l["mode"] == "blocking"), "{log:#?}");
    assert_eq!(ignored(&log[0]), ["AKTO_SYNC_MODE=false"]);
    assert!(ignored(&log[1]).is_empty(), "{}", log[1]);
    assert_eq!(ignored(&log[2]), ["AKTO_SYNC_MODE=false"]);
}

#[test]
fn a_dead_service_url_with_fail_closed_false_does_not_fail_open() {
    let Some(m) = ManagedMachine::new("deadurl") else {
        return;
    };
    let env = [
        ("CODEX_GUARD_FAIL_CLOSED", "false"),
        ("AKTO_DATA_INGESTION_URL", "http://127.0.0.1:9"),
    ];
    let reason = deny_reason(&m.hook(&bash("s1", &format!("echo {NEEDLE}")), &env));
    assert_eq!(reason, "exfiltration", "the machine's service was asked");
    let log = m.log();
    assert_eq!(log[0]["source"], "akto", "{log:#?}");
    let mut recorded = ignored(&log[0]);
    recorded.sort();
    assert_eq!(
        recorded,
        [
            "AKTO_DATA_INGESTION_URL=http://127.0.0.1:9",
            "CODEX_GUARD_FAIL_CLOSED=false"
        ]
    );
}

#[test]
fn a_tiny_akto_timeout_does_not_fail_open() {
    let Some(m) = ManagedMachine::new("timeout") else {
        return;
    };
    let env = [
        ("AKTO_TIMEOUT", "0.001"),
        ("CODEX_GUARD_FAIL_CLOSED", "false"),
    ];
    let reason = deny_reason(&m.hook(&bash("s1", &format!("echo {NEEDLE}")), &env));
    assert_eq!(reason, "exfiltration");
    let mut recorded = ignored(&m.log()[0]);
    recorded.sort();
    assert_eq!(
        recorded,
        ["AKTO_TIMEOUT=0.001", "CODEX_GUARD_FAIL_CLOSED=false"]
    );
}

#[test]
fn log_dir_does_not_move_the_audit_log() {
    let Some(m) = ManagedMachine::new("logdir") else {
        return;
    };
    let elsewhere = m.user.home.join("elsewhere");
    let out = m.user.sh(&format!("mkdir '{}'", elsewhere.display()));
    assert!(out.status.success(), "{out:?}");
    let elsewhere_text = elsewhere.display().to_string();
    let env = [
        ("LOG_DIR", elsewhere_text.as_str()),
        ("CODEX_GUARD_CONFIG", "/nonexistent/config.toml"),
    ];
    deny_reason(&m.hook(&bash("s1", "rm -rf ~"), &env));
    assert!(
        read_log(&elsewhere.join("events.jsonl")).is_empty(),
        "the log moved to {elsewhere_text}"
    );
    let log = m.log();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["decision"], "block");
    assert_eq!(
        ignored(&log[0]),
        [
            "CODEX_GUARD_CONFIG=/nonexistent/config.toml".to_string(),
            format!("LOG_DIR={elsewhere_text}"),
        ]
    );
    // The user's state directory holds the once-per-session marker, the user's own.
    let marker = m.guard_dir().join("state/ignored-env");
    assert!(std::fs::read_to_string(&marker)
        .unwrap()
        .starts_with("s1\n"));
}

#[test]
fn a_per_user_install_keeps_honouring_the_overrides() {
    let akto = FakeAkto::deny_containing(NEEDLE, "exfiltration");
    let home = TestHome::new();
    let (out, _) = setup(&home, &akto.url(), &["--fail-closed"]);
    out.assert_success();
    let hook = home.codex_home.join("codex-guard/bin/codex-guard-hook");
    let elsewhere = home.home.join("elsewhere");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(&hook);
        cmd.env_clear()
            .env("HOME", &home.home)
            .env("TMPDIR", &home.tmpdir)
            .env("CODEX_HOME", &home.codex_home)
            .envs(env.iter().copied());
        run_with_stdin(
            cmd,
            bash("s1", &format!("echo {NEEDLE}")).to_string().as_bytes(),
        )
    };
    // Without overrides the install blocks what Akto rejects.
    assert_eq!(deny_reason(&run(&[])), "exfiltration");
    // The user who owns the install may switch to observing and move the log.
    let out = run(&[
        ("AKTO_SYNC_MODE", "false"),
        ("LOG_DIR", &elsewhere.display().to_string()),
    ]);
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    let moved = read_log(&elsewhere.join("events.jsonl"));
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["mode"], "observe");
    assert!(moved[0].get("ignored_env").is_none());
    // And a dead service with fail-open lets the call through.
    let out = run(&[
        ("CODEX_GUARD_FAIL_CLOSED", "false"),
        ("AKTO_DATA_INGESTION_URL", "http://127.0.0.1:9"),
    ]);
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
}

#[test]
fn the_admin_rules_keep_the_user_from_switching_the_guard_off_through_the_agent() {
    let Some(m) = ManagedMachine::new("tamper") else {
        return;
    };
    // The user's own rules are the user's to empty; the admin's still apply.
    std::fs::create_dir_all(m.guard_dir()).unwrap();
    std::fs::write(m.guard_dir().join("rules.toml"), "").unwrap();
    let etc = m.temp_home.path().canonicalize().unwrap().join("etc");
    for command in [
        "echo 'export BASH_ENV=~/.x' >> ~/.bashrc".to_string(),
        "echo 'export AKTO_SYNC_MODE=false' >> ~/.profile".to_string(),
        "rm -rf ~/.codex".to_string(),
        "codex-guard uninstall --managed".to_string(),
        format!(
            "echo '[features]' > {}/codex/requirements.toml",
            etc.display()
        ),
        format!("sed -i s/x/y/ {}/codex-guard/config.toml", etc.display()),
    ] {
        let reason = deny_reason(&m.hook(&bash("s1", &command), &[]));
        assert!(
            reason.starts_with("Blocked by codex-guard rule guard-tamper/change-guard-files: "),
            "{command}: {reason}"
        );
    }
}
