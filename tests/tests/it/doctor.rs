//! `codex-guard doctor` against the real Codex CLI: after setup, Codex itself (asked
//! through `codex app-server`) must report every guard hook trusted; after a hand edit
//! of one handler, doctor must report what Codex reports, and `--fix` must bring the
//! guard back to a state Codex trusts.

use codex_guard_e2e::guard::run_guard;
use codex_guard_e2e::{codex_bin, list_hooks, FakeAkto, FakeModel, Output, TestHome};
use serde_json::Value;

/// `codex-guard doctor --json` on the test's home, asking the Codex under test.
#[track_caller]
fn doctor(home: &TestHome, extra: &[&str]) -> (Output, Value) {
    let codex_home = home.codex_home.display().to_string();
    let codex = codex_bin().display().to_string();
    // A system root of its own: the machine's /etc/codex must not decide the result.
    let system_root = home.home.join("system root");
    std::fs::create_dir_all(&system_root).expect("create the system root");
    let system_root = system_root.display().to_string();
    let mut args = vec![
        "doctor",
        "--json",
        "--codex-home",
        &codex_home,
        "--system-root",
        &system_root,
        "--codex-bin",
        &codex,
    ];
    args.extend_from_slice(extra);
    let output = run_guard(home, &args);
    let report = serde_json::from_str(output.stdout.trim()).unwrap_or_else(|e| {
        panic!("doctor did not print one JSON document on stdout ({e}): {output}")
    });
    (output, report)
}

#[track_caller]
fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

/// A home with the user's own trusted hook, set up against a fake Akto.
fn set_up() -> (TestHome, FakeModel, FakeAkto) {
    let model = FakeModel::start("true");
    let home = TestHome::with_model(&model);
    let akto = FakeAkto::start();
    let (output, report) = codex_guard_e2e::guard::setup(&home, &akto.url(), &[]);
    output.assert_success();
    assert_eq!(report["status"], "changed", "{output}");
    (home, model, akto)
}

#[test]
fn doctor_reports_every_guard_hook_trusted_by_codex() {
    let (home, _model, _akto) = set_up();
    let (output, report) = doctor(&home, &[]);
    assert_eq!(output.status.code(), Some(0), "{output}");
    assert_eq!(report["status"], "healthy", "{report:#}");
    let listed = check(&report, "codex.hooks_list");
    assert_eq!(listed["status"], "pass", "{report:#}");
    assert!(
        listed["message"]
            .as_str()
            .is_some_and(|m| m.contains("all 6")),
        "{listed}"
    );
    assert_eq!(check(&report, "codex.cli")["status"], "pass", "{report:#}");
    assert_eq!(
        check(&report, "service.reachable")["status"],
        "pass",
        "{report:#}"
    );
    let failures: Vec<&Value> = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert!(failures.is_empty(), "{report:#}");
}

#[test]
fn doctor_reports_what_codex_says_of_an_edited_handler_and_fix_restores_trust() {
    let (home, _model, _akto) = set_up();
    let mut hooks: Value =
        serde_json::from_str(&home.read(&home.hooks_json())).expect("hooks.json is JSON");
    let groups = hooks["hooks"]["PreToolUse"]
        .as_array_mut()
        .expect("PreToolUse groups");
    let ours = groups
        .iter_mut()
        .find(|g| {
            g["hooks"][0]["command"]
                .as_str()
                .is_some_and(|c| c.contains("codex-guard-hook"))
        })
        .expect("our PreToolUse group");
    let command = ours["hooks"][0]["command"].as_str().unwrap_or_default();
    ours["hooks"][0]["command"] = format!("{command} --x").into();
    codex_guard_e2e::home::write(
        &home.hooks_json(),
        &(serde_json::to_string_pretty(&hooks).expect("serialize") + "\n"),
    );

    // What Codex 0.169 itself says of the edited handler.
    let codex_status = list_hooks(&home)
        .into_iter()
        .find(|h| {
            h["eventName"] == "preToolUse"
                && h["command"]
                    .as_str()
                    .is_some_and(|c| c.contains("codex-guard-hook"))
        })
        .map(|h| h["trustStatus"].as_str().unwrap_or_default().to_string())
        .expect("Codex lists our PreToolUse hook");
    assert_ne!(codex_status, "trusted");

    let (output, report) = doctor(&home, &[]);
    assert_eq!(output.status.code(), Some(1), "{output}");
    assert_eq!(report["status"], "unprotected", "{report:#}");
    let listed = check(&report, "codex.hooks_list");
    assert_eq!(listed["status"], "fail", "{report:#}");
    let expected = format!("PreToolUse={codex_status}");
    assert!(
        listed["message"]
            .as_str()
            .is_some_and(|m| m.contains(&expected)),
        "expected {expected:?} in {listed}"
    );
    let trust = check(&report, "hooks.trust");
    assert_eq!(trust["status"], "fail", "{report:#}");
    assert!(
        trust["message"]
            .as_str()
            .is_some_and(|m| m.contains("PreToolUse")),
        "{trust}"
    );

    let (output, report) = doctor(&home, &["--fix"]);
    assert_eq!(output.status.code(), Some(0), "{output}");
    assert_eq!(report["status"], "healthy", "{report:#}");
    assert!(
        report["fixed"].as_array().is_some_and(|f| !f.is_empty()),
        "{report:#}"
    );
    let untrusted: Vec<String> = list_hooks(&home)
        .iter()
        .filter(|h| h["trustStatus"] != "trusted")
        .map(|h| format!("{} {} {}", h["eventName"], h["trustStatus"], h["command"]))
        .collect();
    assert!(untrusted.is_empty(), "after --fix: {untrusted:?}");
}
