//! `codex-guard doctor` as a real process against a home set up by `codex-guard setup`:
//! healthy first, then each way the guard silently stops working, provoked by hand,
//! must show up as its own check with the right status and exit code; `--fix` must
//! repair what setup can repair.
//!
//! Codex itself is replaced by a missing path (Codex Desktop users have no CLI) or by
//! a small script speaking just enough of `codex app-server`; the real Codex is asked
//! in the end-to-end suite (`tests/tests/it/doctor.rs`).

use crate::common::{check, json_of, TestEnv};
use codex_guard::doctor::CheckId;
use codex_guard_common::events::Event;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Every check doctor runs on a per-user install, in its order.
fn check_ids() -> Vec<&'static str> {
    CheckId::USER.iter().map(|id| id.as_str()).collect()
}

/// A hook runtime that answers `--version` like the real one.
fn runtime_script() -> String {
    format!(
        "#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then echo \"codex-guard-hook {}\"; fi\nexit 0\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// A fresh home whose runtime answers `--version`, with modes that do not depend on
/// the umask of the machine running the tests.
fn fresh() -> TestEnv {
    let env = TestEnv::new();
    std::fs::write(&env.runtime, runtime_script()).unwrap();
    set_mode(&env.codex_home, 0o755);
    env
}

/// A home after `setup --local-only` (plus `extra`).
fn installed(extra: &[&str]) -> TestEnv {
    let env = fresh();
    let mut args = vec!["--local-only"];
    args.extend_from_slice(extra);
    env.setup(&args).success();
    env
}

fn missing_codex(env: &TestEnv) -> String {
    format!("--codex-bin={}", env.root.join("no-codex/codex").display())
}

/// `doctor --json` with no Codex CLI; returns the exit code and the report.
fn doctor_json(env: &TestEnv, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["--json".to_string(), missing_codex(env)];
    args.extend(extra.iter().map(std::string::ToString::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.run("doctor", &args);
    let code = out.get_output().status.code().expect("doctor exited");
    let report = json_of(&out);
    (code, report)
}

/// Asserts one check's status and that its message holds `needle`.
#[track_caller]
fn assert_check(report: &Value, id: &str, status: &str, needle: &str) {
    let c = check(report, id);
    assert_eq!(c["status"], status, "{id}: {c:#}\n{report:#}");
    assert!(
        c["message"].as_str().unwrap().contains(needle),
        "{id}: {:?} lacks {needle:?}",
        c["message"]
    );
}

/// Ids of the checks that did not pass.
fn not_passing(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The only non-passing checks of a healthy home without a Codex CLI.
fn no_codex_warnings() -> Vec<(String, String)> {
    vec![
        ("codex.cli".into(), "warn".into()),
        ("codex.hooks_list".into(), "warn".into()),
    ]
}

fn edit_hooks(env: &TestEnv, edit: impl FnOnce(&mut Value)) {
    let path = env.codex_home.join("hooks.json");
    let mut hooks: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut hooks);
    std::fs::write(&path, serde_json::to_string_pretty(&hooks).unwrap()).unwrap();
}

fn runtime_bin(env: &TestEnv) -> PathBuf {
    env.codex_home.join("codex-guard/bin/codex-guard-hook")
}

fn system_file(env: &TestEnv, name: &str, text: &str) {
    let dir = env.root.join("system/etc/codex");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

/// A stand-in for the Codex CLI: `--version` prints `version`; `app-server` answers
/// `initialize` (after a notification, as Codex does) and then `hooks/list` with
/// `hooks`, or never answers when `hang` is set.
fn fake_codex(env: &TestEnv, version: &str, hooks: &[Value], hang: bool) -> PathBuf {
    let dir = env.root.join("fake-codex");
    std::fs::create_dir_all(&dir).unwrap();
    let answer = json!({"id": 2, "result": {"data": [
        {"cwd": env.codex_home, "hooks": hooks, "warnings": [], "errors": []}
    ]}});
    std::fs::write(dir.join("hooks-list.json"), format!("{answer}\n")).unwrap();
    let list = if hang {
        "sleep 600".to_string()
    } else {
        format!("cat '{}'", dir.join("hooks-list.json").display())
    };
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "codex-cli {version}"; exit 0; fi
[ "$1" = "app-server" ] || exit 2
[ -n "$CODEX_HOME" ] || exit 3
while IFS= read -r line; do
  case "$line" in
    *'"id":1,'*) echo '{{"jsonrpc":"2.0","method":"configWarning","params":{{}}}}'; echo '{{"id":1,"result":{{}}}}' ;;
    *'"id":2,'*) {list}; exit 0 ;;
  esac
done
"#
    );
    let bin = dir.join("codex");
    std::fs::write(&bin, script).unwrap();
    set_mode(&bin, 0o755);
    bin
}

/// The six hooks as Codex lists them for this home, each with `status`.
fn listed(env: &TestEnv, status: impl Fn(&str) -> &'static str) -> Vec<Value> {
    let command = format!("'{}'", runtime_bin(env).display());
    Event::ALL
        .iter()
        .map(|event| {
            let event = event.name();
            let camel = event[..1].to_ascii_lowercase() + &event[1..];
            json!({
                "key": format!("{}/hooks.json:x:0:0", env.codex_home.display()),
                "eventName": camel,
                "command": command,
                "trustStatus": status(event),
                "enabled": true,
                "isManaged": false,
            })
        })
        .collect()
}

#[test]
fn a_fresh_setup_is_healthy_without_a_codex_cli() {
    let env = installed(&[]);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["status"], "healthy");
    assert_eq!(not_passing(&report), no_codex_warnings(), "{report:#}");
    assert_check(
        &report,
        "service.reachable",
        "pass",
        "local-only: no service configured",
    );
    assert_check(&report, "spool.backlog", "pass", "no undelivered events");
    assert_eq!(
        check(&report, "codex.cli")["fix"],
        "npm install -g @openai/codex"
    );
}

#[test]
fn json_has_a_schema_version_and_every_check_in_order() {
    let env = installed(&[]);
    let (_, report) = doctor_json(&env, &[]);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(
        report["codex_home"],
        env.codex_home.display().to_string().as_str()
    );
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, check_ids());
    for c in report["checks"].as_array().unwrap() {
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        // rules.packs also carries each pack's effective level.
        let expected: &[&str] = if c["id"] == "rules.packs" {
            &["id", "status", "message", "fix", "packs"]
        } else {
            &["id", "status", "message", "fix"]
        };
        assert_eq!(keys, expected, "{c}");
        assert!(c["fix"].is_null() || c["fix"].is_string(), "{c}");
    }
    assert!(
        report.get("fixed").is_none(),
        "`fixed` only comes with --fix"
    );
}

#[test]
fn an_override_in_the_environment_is_named_but_does_not_degrade_the_install() {
    let env = installed(&[]);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(check(&report, "environment.overrides")["status"], "pass");
    let out = env
        .cmd()
        .env("AKTO_SYNC_MODE", "false")
        .env("AKTO_API_TOKEN", "secret-token")
        .args(["doctor", "--codex-home"])
        .arg(&env.codex_home)
        .args(["--json", &missing_codex(&env)])
        .assert()
        .success();
    let report = json_of(&out);
    let c = check(&report, "environment.overrides");
    assert_eq!(c["status"], "warn", "{c}");
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("AKTO_API_TOKEN=[REDACTED], AKTO_SYNC_MODE=false"),
        "{message}"
    );
    assert!(!report.to_string().contains("secret-token"));
}

#[test]
fn human_output_is_one_line_per_check_and_a_verdict() {
    let env = installed(&[]);
    let missing = missing_codex(&env);
    let out = env.run("doctor", &[&missing]).success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), check_ids().len() + 1, "{stdout}");
    for (line, id) in lines.iter().zip(check_ids()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[1], id, "{line}");
        assert!(
            ["pass", "warn", "fail", "skip"].contains(&words[0]),
            "{line}"
        );
    }
    assert!(
        lines[0].contains("[fix: npm install -g @openai/codex]"),
        "{}",
        lines[0]
    );
    assert!(lines.last().unwrap().starts_with("healthy: "), "{stdout}");
    assert!(out.get_output().stderr.is_empty());
}

#[test]
fn doctor_changes_nothing() {
    let env = installed(&[]);
    let before = env.snapshot();
    doctor_json(&env, &[]);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn hooks_turned_off_in_the_user_config_leave_codex_unprotected() {
    let env = installed(&[]);
    let config = env
        .read("config.toml")
        .replace("hooks = true", "hooks = false");
    std::fs::write(env.codex_home.join("config.toml"), config).unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "unprotected");
    assert_check(&report, "codex.hooks_feature", "fail", "hooks = false");
    let fix = check(&report, "codex.hooks_feature")["fix"]
        .as_str()
        .unwrap();
    assert!(fix.starts_with("codex-guard setup --codex-home "), "{fix}");
}

#[test]
fn requirements_that_turn_hooks_off_are_a_machine_policy() {
    let env = installed(&[]);
    system_file(&env, "requirements.toml", "[features]\nhooks = false\n");
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "unprotected");
    assert_check(&report, "codex.hooks_feature", "fail", "requirements.toml");
    let fix = check(&report, "codex.hooks_feature")["fix"]
        .as_str()
        .unwrap();
    assert!(fix.contains("administrator"), "{fix}");
}

#[test]
fn managed_config_overrides_the_user_config() {
    let env = installed(&[]);
    system_file(&env, "managed_config.toml", "[features]\nhooks = false\n");
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "codex.hooks_feature",
        "fail",
        "managed_config.toml",
    );
    // The machine's plain config.toml is overridden by the user's `hooks = true`.
    std::fs::remove_file(env.root.join("system/etc/codex/managed_config.toml")).unwrap();
    system_file(&env, "config.toml", "[features]\nhooks = false\n");
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_check(&report, "codex.hooks_feature", "pass", "config.toml");
}

#[test]
fn allow_managed_hooks_only_silently_disables_a_user_install() {
    for requirements in [
        "allow_managed_hooks_only = true\n",
        "[hooks]\nallow_managed_hooks_only = true\n",
    ] {
        let env = installed(&[]);
        system_file(&env, "requirements.toml", requirements);
        let (code, report) = doctor_json(&env, &[]);
        assert_eq!(code, 1, "{requirements}");
        assert_eq!(report["status"], "unprotected");
        assert_check(
            &report,
            "codex.managed_policy",
            "fail",
            "allow_managed_hooks_only",
        );
    }
}

#[test]
fn an_invalid_hooks_json_is_reported_with_its_reason() {
    let env = installed(&[]);
    let text = env
        .read("hooks.json")
        .replacen('{', "{\"$schema\": \"x\",", 1);
    std::fs::write(env.codex_home.join("hooks.json"), text).unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "unprotected");
    assert_check(&report, "hooks_json.valid", "fail", "\"$schema\"");
    assert_check(&report, "hooks_json.handlers", "fail", "hooks_json.valid");
}

#[test]
fn a_removed_handler_is_named() {
    let env = installed(&[]);
    edit_hooks(&env, |hooks| {
        hooks["hooks"].as_object_mut().unwrap().shift_remove("Stop");
    });
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "unprotected");
    assert_check(&report, "hooks_json.handlers", "fail", "Stop");
    // The other five keep their trust.
    assert_check(&report, "hooks.trust", "pass", "all 5");
}

#[test]
fn an_edited_handler_loses_codex_trust() {
    let env = installed(&[]);
    edit_hooks(&env, |hooks| {
        let command = &mut hooks["hooks"]["PreToolUse"][0]["hooks"][0]["command"];
        *command = format!("{} --x", command.as_str().unwrap()).into();
    });
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "unprotected");
    assert_check(&report, "hooks.trust", "fail", "PreToolUse=modified");
    assert_check(&report, "hooks_json.handlers", "warn", "PreToolUse");

    // A changed timeout is a change too; so is a missing trust record.
    let env = installed(&[]);
    edit_hooks(&env, |hooks| {
        hooks["hooks"]["Stop"][0]["hooks"][0]["timeout"] = 60.into();
    });
    let config = env.read("config.toml");
    let key = format!(
        "[hooks.state.\"{}/hooks.json:session_start:0:0\"]",
        env.codex_home.display()
    );
    let start = config.find(&key).unwrap();
    let end = start
        + config[start..]
            .find("\n\n")
            .map_or(config.len() - start, |n| n + 2);
    let mut trimmed = config.clone();
    trimmed.replace_range(start..end, "");
    std::fs::write(env.codex_home.join("config.toml"), trimmed).unwrap();
    let (_, report) = doctor_json(&env, &[]);
    let message = check(&report, "hooks.trust")["message"].as_str().unwrap();
    assert!(message.contains("Stop=modified"), "{message}");
    assert!(message.contains("SessionStart=untrusted"), "{message}");
}

#[test]
fn a_hook_disabled_in_codex_is_reported() {
    let env = installed(&[]);
    let key = format!(
        "[hooks.state.\"{}/hooks.json:stop:0:0\"]\n",
        env.codex_home.display()
    );
    let config = env
        .read("config.toml")
        .replace(&key, &format!("{key}enabled = false\n"));
    std::fs::write(env.codex_home.join("config.toml"), config).unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_check(&report, "hooks.trust", "fail", "disabled in Codex: Stop");
    let fix = check(&report, "hooks.trust")["fix"].as_str().unwrap();
    assert!(fix.contains("/hooks"), "{fix}");
}

#[test]
fn a_deleted_runtime_means_no_protection() {
    let env = installed(&[]);
    std::fs::remove_file(runtime_bin(&env)).unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "unprotected");
    assert_check(&report, "runtime.binary", "fail", "does not exist");
    assert_check(&report, "runtime.version", "fail", "missing");
    assert_check(
        &report,
        "runtime.checksum",
        "fail",
        "the runtime is missing",
    );
}

#[test]
fn a_changed_runtime_fails_its_checksum() {
    let env = installed(&[]);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(runtime_bin(&env))
        .unwrap();
    file.write_all(b"# replaced\n").unwrap();
    drop(file);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "degraded");
    assert_check(&report, "runtime.checksum", "fail", "replaced or damaged");
    assert_check(&report, "runtime.version", "pass", "codex-guard-hook");
}

#[test]
fn a_runtime_that_does_not_answer_its_version_fails() {
    let env = installed(&[]);
    std::fs::write(runtime_bin(&env), "#!/bin/sh\necho hello\n").unwrap();
    let (_, report) = doctor_json(&env, &[]);
    assert_check(&report, "runtime.version", "fail", "\"hello\"");
}

#[test]
fn a_writable_runtime_is_a_privilege_escalation() {
    let env = installed(&[]);
    set_mode(&runtime_bin(&env), 0o777);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "degraded");
    assert_check(
        &report,
        "runtime.permissions",
        "fail",
        "writable by group or others (mode 0777)",
    );
    let fix = check(&report, "runtime.permissions")["fix"]
        .as_str()
        .unwrap();
    assert!(fix.starts_with("chmod 755 "), "{fix}");

    // A writable directory above it is just as bad.
    let env = installed(&[]);
    set_mode(&env.codex_home.join("codex-guard/bin"), 0o777);
    let (_, report) = doctor_json(&env, &[]);
    assert_check(
        &report,
        "runtime.permissions",
        "fail",
        "codex-guard/bin is writable",
    );
}

#[test]
fn an_invalid_runtime_config_is_reported() {
    let env = installed(&[]);
    std::fs::write(
        env.codex_home.join("codex-guard/config.toml"),
        "blockng = true\n",
    )
    .unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "degraded");
    assert_check(&report, "config.valid", "fail", "blockng");
    assert_check(&report, "service.reachable", "warn", "config.valid");
}

#[test]
fn a_token_readable_by_others_fails() {
    let env = installed(&["--token", "secret-token"]);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "{report:#}");
    set_mode(&env.codex_home.join("codex-guard/token"), 0o644);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_check(
        &report,
        "config.permissions",
        "fail",
        "readable by group or others (mode 0644)",
    );
    assert!(
        !report.to_string().contains("secret-token"),
        "the token never appears in the report"
    );
}

/// A web server on 127.0.0.1 that is not Akto: it answers every request with 404.
fn answering_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    url
}

/// Answering is not enough: the hooks' calls must be taken (the faults of a real
/// service are in tests/service.rs).
#[test]
fn a_server_that_answers_but_is_not_akto_is_degraded() {
    let url = answering_server();
    let env = fresh();
    env.setup(&["--url", &url]).code(1);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["status"], "degraded");
    assert_check(
        &report,
        "service.reachable",
        "fail",
        "has no Akto ingestion endpoint (HTTP 404 to /api/http-proxy)",
    );
}

#[test]
fn an_unreachable_service_is_degraded() {
    let url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let env = fresh();
    // Setup installs anyway and says the service is unreachable (exit 1).
    env.setup(&["--url", &url]).code(1);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "degraded");
    assert_check(&report, "service.reachable", "fail", "unreachable");
}

#[test]
fn a_missing_machine_id_fails() {
    let env = installed(&[]);
    std::fs::remove_file(env.codex_home.join("codex-guard/machine-id")).unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_check(&report, "machine_id", "fail", "does not exist");
}

#[test]
fn a_missing_receipt_is_a_warning() {
    let env = installed(&[]);
    std::fs::remove_file(env.codex_home.join("codex-guard/receipt.json")).unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_check(
        &report,
        "receipt",
        "warn",
        "uninstall will remove only what it can prove is ours",
    );
    assert_check(&report, "runtime.checksum", "warn", "no install receipt");
}

#[test]
fn broken_rules_are_reported_even_when_no_event_reached_them() {
    let env = installed(&[]);
    let (_, report) = doctor_json(&env, &[]);
    assert_check(&report, "rules.valid", "pass", "user rule(s)");
    let rules = env.codex_home.join("codex-guard/rules.toml");
    let mut text = std::fs::read_to_string(&rules).unwrap();
    text.push_str(
        "\n[[rule]]\nid = \"lazy\"\naction = \"deny\"\nrequires = \"x\"\ncommand = \"(\"\n",
    );
    std::fs::write(&rules, &text).unwrap();
    let (_, report) = doctor_json(&env, &[]);
    assert_check(
        &report,
        "rules.valid",
        "warn",
        "\"lazy\": invalid `command` regex",
    );
    std::fs::write(&rules, "[[rule]\n").unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_check(&report, "rules.valid", "fail", "not valid TOML");
}

/// The packs' effective levels as `rules.packs` reports them in `--json`.
fn pack_levels(report: &Value) -> Value {
    check(report, "rules.packs")["packs"].clone()
}

#[test]
fn the_effective_level_of_every_pack_is_reported() {
    let env = installed(&[]);
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "{report:#}");
    let packs = check(&report, "rules.packs");
    assert_eq!(packs["status"], "pass");
    assert_eq!(
        packs["message"],
        "packs: filesystem deny, disks deny, download deny, credentials deny, \
         guard-tamper deny, git-history deny, git-work-loss warn"
    );
    assert_eq!(
        pack_levels(&report),
        json!({"filesystem": "deny", "disks": "deny", "download": "deny", "credentials": "deny",
               "guard-tamper": "deny", "git-history": "deny", "git-work-loss": "warn"})
    );
    // The same line for a person.
    let out = env.run("doctor", &[&missing_codex(&env)]);
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.lines().any(|l| l.starts_with("pass  rules.packs")
            && l.ends_with("  packs: filesystem deny, disks deny, download deny, credentials deny, guard-tamper deny, git-history deny, git-work-loss warn")),
        "{text}"
    );

    // git-work-loss off is a choice; any other pack off is a warning, not a failure.
    let rules = env.codex_home.join("codex-guard/rules.toml");
    std::fs::write(&rules, "[packs]\ngit-work-loss = \"off\"\n").unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(check(&report, "rules.packs")["status"], "pass");
    assert_eq!(pack_levels(&report)["git-work-loss"], "off");
    std::fs::write(
        &rules,
        "[packs]\ndownload = \"off\"\ndisks = \"off\"\ngit-history = \"warn\"\n",
    )
    .unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "a warning keeps the verdict: {report:#}");
    let packs = check(&report, "rules.packs");
    assert_eq!(packs["status"], "warn");
    assert_eq!(
        packs["message"],
        "packs: filesystem deny, disks off, download off, credentials deny, guard-tamper deny, \
         git-history warn, git-work-loss warn; disks, download are off, so no local check stops \
         the calls those packs would catch"
    );
    assert_eq!(
        packs["fix"],
        format!(
            "set disks = \"deny\", download = \"deny\" in [packs] of {} (docs/rules.md), \
             then run codex-guard doctor again",
            rules.display()
        )
    );
    assert_check(&report, "rules.tamper", "pass", "guard-tamper pack denies");

    // The admin's file raises what the user's lowers: the stricter wins per pack.
    let admin = env.root.join("system/etc/codex-guard");
    std::fs::create_dir_all(&admin).unwrap();
    std::fs::write(admin.join("rules.toml"), "[packs]\ndownload = \"deny\"\n").unwrap();
    let (_, report) = doctor_json(&env, &[]);
    assert_eq!(pack_levels(&report)["download"], "deny");
    assert_eq!(pack_levels(&report)["disks"], "off");
}

#[test]
fn a_guard_tamper_pack_that_does_not_deny_is_a_warning() {
    let env = installed(&[]);
    let (_, report) = doctor_json(&env, &[]);
    assert_check(
        &report,
        "rules.tamper",
        "pass",
        "the guard-tamper pack denies changing the Codex home, the shell startup files and codex-guard",
    );
    let rules = env.codex_home.join("codex-guard/rules.toml");
    let fix = format!(
        "set guard-tamper = \"deny\" in [packs] of {} (docs/rules.md), then run codex-guard doctor again",
        rules.display()
    );
    let every_probe = "delete the Codex home, rewrite hooks.json, run codex-guard uninstall, \
                       patch config.toml, start Codex with its hooks off, export BASH_ENV from ~/.bashrc";
    std::fs::write(&rules, "[packs]\nguard-tamper = \"off\"\n").unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0, "a warning keeps the verdict: {report:#}");
    let tamper = check(&report, "rules.tamper");
    assert_eq!(tamper["status"], "warn");
    assert_eq!(
        tamper["message"],
        format!("the guard-tamper pack is off: the agent can switch the guard off: {every_probe}")
    );
    assert_eq!(tamper["fix"], fix.as_str());
    assert_eq!(check(&report, "rules.packs")["status"], "warn");

    // Warning is not enough: the model makes the same call again.
    std::fs::write(&rules, "[packs]\nguard-tamper = \"warn\"\n").unwrap();
    let (_, report) = doctor_json(&env, &[]);
    let tamper = check(&report, "rules.tamper");
    assert_eq!(
        tamper["message"],
        format!(
            "the guard-tamper pack only warns (the same call made again goes through): \
             the agent can switch the guard off: {every_probe}"
        )
    );
    assert_eq!(tamper["fix"], fix.as_str());

    // The user's own deny rule stops one probe; the rest still pass.
    std::fs::write(
        &rules,
        "[packs]\nguard-tamper = \"off\"\n\n[[rule]]\nid = \"no-uninstall\"\naction = \"deny\"\ncommand = 'codex-guard'\n",
    )
    .unwrap();
    let (_, report) = doctor_json(&env, &[]);
    assert_eq!(
        check(&report, "rules.tamper")["message"],
        "the guard-tamper pack is off: the agent can switch the guard off: delete the Codex home, \
         rewrite hooks.json, patch config.toml, start Codex with its hooks off, export BASH_ENV from ~/.bashrc"
    );

    // An admin file that sets the pack to deny protects whatever the user's says.
    let admin = env.root.join("system/etc/codex-guard");
    std::fs::create_dir_all(&admin).unwrap();
    std::fs::write(
        admin.join("rules.toml"),
        "[packs]\nguard-tamper = \"deny\"\n",
    )
    .unwrap();
    let (_, report) = doctor_json(&env, &[]);
    assert_eq!(check(&report, "rules.tamper")["status"], "pass");
}

#[test]
fn undelivered_events_are_counted() {
    let env = installed(&[]);
    let spool = env.codex_home.join("codex-guard/spool");
    std::fs::create_dir_all(&spool).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    std::fs::write(spool.join(format!("{now:013}-a.json")), "{}").unwrap();
    std::fs::write(spool.join(format!("{now:013}-b.json")), "{}").unwrap();
    std::fs::write(spool.join(".tmp-c"), "partial").unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0);
    assert_check(&report, "spool.backlog", "warn", "2 undelivered");

    // What left the spool undelivered is reported too.
    std::fs::write(
        spool.join("stats.json"),
        r#"{"dropped_age": 3, "rejected": 1, "last_error": "HTTP 503: down"}"#,
    )
    .unwrap();
    let (_, report) = doctor_json(&env, &[]);
    assert_check(&report, "spool.backlog", "warn", "3 dropped for age");
    assert_check(&report, "spool.backlog", "warn", "HTTP 503: down");
}

#[test]
fn an_unwritable_logs_directory_fails() {
    if std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    {
        // root writes anywhere: make the path a file instead.
        let env = installed(&[]);
        let logs = env.codex_home.join("codex-guard/logs");
        std::fs::remove_dir_all(&logs).unwrap();
        std::fs::write(&logs, "").unwrap();
        let (_, report) = doctor_json(&env, &[]);
        assert_check(&report, "logs.writable", "fail", "cannot write");
        return;
    }
    let env = installed(&[]);
    set_mode(&env.codex_home.join("codex-guard/logs"), 0o500);
    let (_, report) = doctor_json(&env, &[]);
    assert_check(&report, "logs.writable", "fail", "cannot write");
}

#[test]
fn an_empty_codex_home_is_unprotected_and_a_bad_path_is_bad_input() {
    let env = fresh();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["status"], "unprotected");
    assert_eq!(report["installed"], false);
    assert_eq!(report["checks"].as_array().unwrap().len(), 1, "{report:#}");
    assert_check(&report, "receipt", "fail", "nothing installed in");

    // A home that does not exist yet is the same: nothing installed.
    let missing = env.root.join("nowhere/.codex");
    let out = env
        .cmd()
        .args(["doctor", "--json"])
        .arg("--codex-home")
        .arg(&missing)
        .arg(missing_codex(&env))
        .assert()
        .code(1);
    assert_eq!(json_of(&out)["status"], "unprotected");
    assert!(!missing.exists(), "doctor created the home");

    // A file where the home should be, or a missing system root, is bad input.
    let file = env.root.join("a-file");
    std::fs::write(&file, "").unwrap();
    env.cmd()
        .args(["doctor", "--json"])
        .arg("--codex-home")
        .arg(&file)
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("is not a directory"));
    env.run("doctor", &["--system-root", "/nonexistent/root"])
        .code(2)
        .stderr(predicates::str::contains("--system-root"));
}

#[test]
fn codex_own_view_of_the_hooks_is_reported() {
    let env = installed(&[]);
    let codex = fake_codex(&env, "0.169.0", &listed(&env, |_| "trusted"), false);
    let codex_flag = format!("--codex-bin={}", codex.display());
    let out = env.run("doctor", &["--json", &codex_flag]).success();
    let report = json_of(&out);
    assert_eq!(not_passing(&report), vec![], "{report:#}");
    assert_check(&report, "codex.cli", "pass", "codex-cli 0.169.0");
    assert_check(&report, "codex.hooks_list", "pass", "all 6");

    let codex = fake_codex(
        &env,
        "0.169.0",
        &listed(&env, |e| {
            if e == "PreToolUse" {
                "modified"
            } else {
                "trusted"
            }
        }),
        false,
    );
    let codex_flag = format!("--codex-bin={}", codex.display());
    let out = env.run("doctor", &["--json", &codex_flag]).code(1);
    let report = json_of(&out);
    assert_eq!(report["status"], "unprotected");
    assert_check(&report, "codex.hooks_list", "fail", "PreToolUse=modified");

    let codex = fake_codex(&env, "0.169.0", &[], false);
    let codex_flag = format!("--codex-bin={}", codex.display());
    let report = json_of(&env.run("doctor", &["--json", &codex_flag]).code(1));
    assert_check(
        &report,
        "codex.hooks_list",
        "fail",
        "none of codex-guard's hooks",
    );
}

#[test]
fn an_old_codex_is_a_warning() {
    let env = installed(&[]);
    let codex = fake_codex(&env, "0.150.2", &listed(&env, |_| "trusted"), false);
    let codex_flag = format!("--codex-bin={}", codex.display());
    let report = json_of(&env.run("doctor", &["--json", &codex_flag]).success());
    assert_check(&report, "codex.cli", "warn", "older than 0.169.0");
}

#[test]
fn a_codex_that_never_answers_is_a_warning_not_a_hang() {
    let env = installed(&[]);
    let codex = fake_codex(&env, "0.169.0", &[], true);
    let started = Instant::now();
    let out = env
        .cmd()
        .arg("doctor")
        .arg("--json")
        .arg("--codex-home")
        .arg(&env.codex_home)
        .arg("--codex-bin")
        .arg(&codex)
        .timeout(Duration::from_mins(1))
        .assert()
        .success();
    assert!(started.elapsed() < Duration::from_secs(40));
    assert_check(
        &json_of(&out),
        "codex.hooks_list",
        "warn",
        "no answer to hooks/list",
    );
}

/// A copy of `codex-guard` with a hook runtime beside it, as a release puts them, so
/// `--fix` has a runtime to reinstall.
fn relocated_guard(env: &TestEnv) -> PathBuf {
    let dir = env.root.join("release");
    std::fs::create_dir_all(&dir).unwrap();
    let guard = dir.join("codex-guard");
    std::fs::copy(assert_cmd::cargo::cargo_bin("codex-guard"), &guard).unwrap();
    std::fs::copy(&env.runtime, dir.join("codex-guard-hook")).unwrap();
    set_mode(&dir.join("codex-guard-hook"), 0o755);
    guard
}

/// `doctor --fix --json` run by the relocated `codex-guard`.
fn fix_json(env: &TestEnv, guard: &Path) -> (i32, Value) {
    let out = assert_cmd::Command::new(guard)
        .env_clear()
        .env("TMPDIR", env.tmpdir())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.root.join("my home"))
        .env("CODEX_GUARD_SYSTEM_ROOT", env.root.join("system"))
        .arg("doctor")
        .args(["--fix", "--json"])
        .arg("--codex-home")
        .arg(&env.codex_home)
        .arg(missing_codex(env))
        .assert();
    let code = out.get_output().status.code().expect("doctor exited");
    (code, json_of(&out))
}

#[test]
fn fix_repairs_an_edited_handler_and_a_deleted_runtime() {
    let env = installed(&[]);
    let guard = relocated_guard(&env);
    let hooks_before = env.read("hooks.json");
    edit_hooks(&env, |hooks| {
        let command = &mut hooks["hooks"]["PreToolUse"][0]["hooks"][0]["command"];
        *command = format!("{} --x", command.as_str().unwrap()).into();
    });
    std::fs::remove_file(runtime_bin(&env)).unwrap();

    let (code, report) = fix_json(&env, &guard);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["status"], "healthy");
    assert_eq!(not_passing(&report), no_codex_warnings(), "{report:#}");
    let fixed: Vec<String> = report["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["action"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    let hooks = env.codex_home.join("hooks.json").display().to_string();
    let runtime = runtime_bin(&env).display().to_string();
    assert!(fixed.contains(&format!("updated {hooks}")), "{fixed:?}");
    assert!(fixed.contains(&format!("created {runtime}")), "{fixed:?}");
    // Put back in place, not added beside the edited one.
    let after: Value = serde_json::from_str(&env.read("hooks.json")).unwrap();
    let before: Value = serde_json::from_str(&hooks_before).unwrap();
    assert_eq!(after, before);

    // A healthy home needs nothing.
    let (code, report) = fix_json(&env, &guard);
    assert_eq!(code, 0);
    assert_eq!(report["fixed"], json!([]));
}

#[test]
fn fix_tightens_modes_and_leaves_machine_policy_alone() {
    let env = installed(&["--token", "secret-token"]);
    let guard = relocated_guard(&env);
    set_mode(&runtime_bin(&env), 0o777);
    set_mode(&env.codex_home.join("codex-guard/token"), 0o644);
    set_mode(&env.codex_home.join("codex-guard/config.toml"), 0o644);
    system_file(&env, "requirements.toml", "[features]\nhooks = false\n");

    let (code, report) = fix_json(&env, &guard);
    assert_eq!(code, 1, "the machine policy stays: {report:#}");
    assert_eq!(
        not_passing(&report)
            .into_iter()
            .filter(|(id, _)| !id.starts_with("codex."))
            .collect::<Vec<_>>(),
        vec![],
        "{report:#}"
    );
    assert_check(&report, "codex.hooks_feature", "fail", "requirements.toml");
    assert_eq!(mode_of(&runtime_bin(&env)), 0o755);
    assert_eq!(mode_of(&env.codex_home.join("codex-guard/token")), 0o600);
    assert_eq!(
        mode_of(&env.codex_home.join("codex-guard/config.toml")),
        0o600
    );
    let actions: Vec<&str> = report["fixed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["chmod 755", "chmod 600", "chmod 600"],
        "{report:#}"
    );
}

#[test]
fn fix_cannot_invent_a_missing_url() {
    let env = installed(&[]);
    let guard = relocated_guard(&env);
    std::fs::remove_file(env.codex_home.join("codex-guard/config.toml")).unwrap();
    std::fs::remove_file(runtime_bin(&env)).unwrap();
    let out = assert_cmd::Command::new(&guard)
        .env_clear()
        .env("TMPDIR", env.tmpdir())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CODEX_GUARD_SYSTEM_ROOT", env.root.join("system"))
        .arg("doctor")
        .arg("--fix")
        .arg("--codex-home")
        .arg(&env.codex_home)
        .arg(missing_codex(&env))
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("setup could not repair"), "{stderr}");
    assert!(stderr.contains("--local-only"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("fail  config.valid"), "{stdout}");
}

/// Writes `text` to `path`, creating its directories.
fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn bash_env_in_the_environment_is_a_warning() {
    let env = installed(&[]);
    let missing = missing_codex(&env);
    let out = env
        .cmd()
        .env("BASH_ENV", "/tmp/stop-every-hook")
        .args(["doctor", "--json", "--codex-home"])
        .arg(&env.codex_home)
        .arg(&missing)
        .assert()
        .code(0);
    let report = json_of(&out);
    assert_check(
        &report,
        "shell.startup_env",
        "warn",
        "BASH_ENV=/tmp/stop-every-hook is set in this environment: bash runs that file before every hook",
    );
    assert!(check(&report, "shell.startup_env")["fix"].is_string());
    assert_eq!(report["status"], "healthy", "a warning, not a failure");
}

#[test]
fn startup_files_that_export_bash_env_or_env_are_named_with_their_line() {
    let env = installed(&[]);
    let (_, report) = doctor_json(&env, &[]);
    assert_check(
        &report,
        "shell.startup_env",
        "pass",
        "BASH_ENV and ENV are not set here",
    );

    let home = env.root.join("my home");
    write_file(
        &home.join(".bashrc"),
        "# my settings\nalias ll='ls -l'\nexport BASH_ENV=~/.x\n",
    );
    write_file(&home.join(".zshenv"), "ENV=$HOME/.shrc; export ENV\n");
    write_file(
        &home.join(".config/fish/config.fish"),
        "if status is-interactive\n    set -gx BASH_ENV /tmp/fish-env\nend\n",
    );
    write_file(
        &home.join(".config/fish/conf.d/late.fish"),
        "set --export ENV /tmp/late\n",
    );
    let system = env.root.join("system/etc");
    write_file(
        &system.join("profile.d/zz-env.sh"),
        "export BASH_ENV=/etc/hook-env\n",
    );
    write_file(
        &system.join("environment"),
        "PATH=/usr/bin\nBASH_ENV=/etc/e\n",
    );
    // Lines that only look alike are not reported.
    write_file(
        &home.join(".profile"),
        "# export BASH_ENV=/commented\nexport MY_ENV=x\necho BASH_ENV=/printed\n",
    );

    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 0);
    let message = check(&report, "shell.startup_env")["message"]
        .as_str()
        .unwrap();
    let at = |path: PathBuf, line: usize| format!("{}:{line}", path.display());
    for expected in [
        format!("{} sets BASH_ENV=~/.x", at(home.join(".bashrc"), 3)),
        format!("{} sets ENV=$HOME/.shrc", at(home.join(".zshenv"), 1)),
        format!("{} sets ENV;", at(home.join(".zshenv"), 1)),
        format!(
            "{} sets BASH_ENV=/tmp/fish-env",
            at(home.join(".config/fish/config.fish"), 2)
        ),
        format!(
            "{} sets ENV=/tmp/late",
            at(home.join(".config/fish/conf.d/late.fish"), 1)
        ),
        format!(
            "{} sets BASH_ENV=/etc/hook-env",
            at(system.join("profile.d/zz-env.sh"), 1)
        ),
        format!("{} sets BASH_ENV=/etc/e", at(system.join("environment"), 2)),
    ] {
        assert!(message.contains(&expected), "{expected:?} not in {message}");
    }
    assert!(!message.contains(".profile"), "{message}");
    assert_eq!(check(&report, "shell.startup_env")["status"], "warn");
}

/// The user's hooks inline in config.toml: doctor finds ours there, trusted.
#[test]
fn inline_handlers_are_checked_in_config_toml() {
    let env = fresh();
    std::fs::write(
        env.codex_home.join("config.toml"),
        "# mine\n[[hooks.Stop]]\n[[hooks.Stop.hooks]]\ntype = \"command\"\ncommand = \"echo mine\"\n",
    )
    .unwrap();
    env.setup(&["--local-only"]).success();
    assert!(!env.codex_home.join("hooks.json").exists());
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(not_passing(&report), no_codex_warnings(), "{report:#}");
    assert_eq!(code, 0, "{report:#}");
    assert_check(&report, "hooks_json.valid", "pass", "inline in");
    assert_check(&report, "hooks.trust", "pass", "trusts all 6");

    // Our Stop handler edited by hand: its trust no longer holds.
    let config = env.read("config.toml");
    let at = config
        .find("[[hooks.Stop.hooks]]\ntype = \"command\"\ncommand = \"'")
        .unwrap();
    let timeout = at + config[at..].find("timeout = ").unwrap();
    let mut edited = config.clone();
    edited.insert(timeout + "timeout = ".len(), '1');
    std::fs::write(env.codex_home.join("config.toml"), edited).unwrap();
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_check(&report, "hooks.trust", "fail", "Stop=modified");
}

// ---------------------------------------------------------------------------
// The report itself, as people and scripts read it: snapshots of the human and
// the JSON output, with temporary paths, hashes, times and ids filtered out.

/// Human and `--json` output of `doctor` (no Codex CLI) with `home` as the Codex home.
fn doctor_outputs(env: &TestEnv, home: &Path, code: i32) -> (String, String) {
    let run = |json: bool| {
        let mut cmd = env.cmd();
        cmd.arg("doctor").arg("--codex-home").arg(home);
        cmd.arg(missing_codex(env));
        if json {
            cmd.arg("--json");
        }
        let out = cmd.assert().code(code);
        let output = out.get_output();
        assert!(
            output.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout.clone()).unwrap()
    };
    let human = run(false);
    let json: Value = serde_json::from_str(&run(true)).expect("one JSON object");
    (human, serde_json::to_string_pretty(&json).unwrap())
}

/// Snapshots `human` and `json` as `<name>_human` and `<name>_json`.
fn assert_report_snapshots(env: &TestEnv, name: &str, (human, json): (String, String)) {
    let root = env.root.display().to_string();
    let version = regex_syntax::escape(env!("CARGO_PKG_VERSION"));
    let filters = [
        (regex_syntax::escape(&root), "[ROOT]".to_string()),
        (r"sha256 [0-9a-f]{64}".to_string(), "sha256 [SHA256]".into()),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)".to_string(),
            "[TIME]".into(),
        ),
        (
            format!(r"codex-guard(-hook)? {version}"),
            "codex-guard$1 [VERSION]".into(),
        ),
    ];
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(from, to)| (from.as_str(), to.as_str()))
        .collect();
    insta::with_settings!({filters => filters, prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(format!("doctor_{name}_human"), human);
        insta::assert_snapshot!(format!("doctor_{name}_json"), json);
    });
}

#[test]
fn report_of_an_empty_home_is_one_line() {
    let env = fresh();
    let outputs = doctor_outputs(&env, &env.codex_home, 1);
    assert_eq!(outputs.0.lines().count(), 1, "{}", outputs.0);
    assert_report_snapshots(&env, "empty_home", outputs);
}

#[test]
fn report_of_a_codex_home_that_does_not_exist_is_one_line() {
    let env = fresh();
    let missing = env.root.join("nowhere/.codex");
    let outputs = doctor_outputs(&env, &missing, 1);
    assert_eq!(outputs.0.lines().count(), 1, "{}", outputs.0);
    assert!(!missing.exists(), "doctor created the home");
    assert_report_snapshots(&env, "missing_home", outputs);
}

#[test]
fn report_of_a_healthy_install() {
    let env = installed(&["--device-id", "snapshot-device"]);
    let outputs = doctor_outputs(&env, &env.codex_home, 0);
    assert_report_snapshots(&env, "healthy", outputs);
}

#[test]
fn report_of_a_broken_install() {
    let env = installed(&["--device-id", "snapshot-device"]);
    std::fs::remove_file(runtime_bin(&env)).unwrap();
    std::fs::remove_file(env.codex_home.join("codex-guard/machine-id")).unwrap();
    edit_hooks(&env, |hooks| {
        hooks["hooks"]
            .as_object_mut()
            .unwrap()
            .remove("PostToolUse");
    });
    let outputs = doctor_outputs(&env, &env.codex_home, 1);
    assert_report_snapshots(&env, "broken", outputs);
}

#[test]
fn a_home_uninstalled_with_its_logs_kept_has_nothing_installed() {
    let env = installed(&[]);
    env.uninstall(&["--keep-logs"]).success();
    assert!(env.codex_home.join("codex-guard/logs").is_dir());
    let (code, report) = doctor_json(&env, &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["installed"], false, "{report:#}");
    assert_check(&report, "receipt", "fail", "nothing installed in");
}
