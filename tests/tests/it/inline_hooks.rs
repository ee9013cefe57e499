//! A user whose hooks live inline in config.toml (`[[hooks.<Event>]]`), and a config
//! Codex itself rejects, with the real Codex CLI: setup keeps codex-guard's handlers in
//! config.toml (a hooks.json beside them makes Codex warn on every session), Codex runs
//! them trusted, doctor checks them there and uninstall gives the file back byte for
//! byte; setup reports in Codex's words a config Codex cannot load.

use codex_guard_e2e::codex::codex_command;
use codex_guard_e2e::guard::{self, run_guard};
use codex_guard_e2e::{codex_bin, list_hooks, process, FakeAkto, FakeModel, Output, TestHome};
use serde_json::Value;
use std::time::Duration;

const GUARD_EVENTS: [&str; 6] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "Stop",
];

/// Codex's warning when one layer has hooks in both hooks.json and config.toml.
const BOTH_WARNING: &str = "loading hooks from both";

/// `setup` asking the Codex under test afterwards.
#[track_caller]
fn setup(home: &TestHome, akto: &FakeAkto) -> (Output, Value) {
    let codex = codex_bin().display().to_string();
    guard::setup(home, &akto.url(), &["--codex-bin", &codex])
}

#[track_caller]
fn doctor(home: &TestHome) -> (Output, Value) {
    let codex_home = home.codex_home.display().to_string();
    let codex = codex_bin().display().to_string();
    let system_root = home.home.join("system root");
    std::fs::create_dir_all(&system_root).expect("create the system root");
    let system_root = system_root.display().to_string();
    let output = run_guard(
        home,
        &[
            "doctor",
            "--json",
            "--codex-home",
            &codex_home,
            "--system-root",
            &system_root,
            "--codex-bin",
            &codex,
        ],
    );
    let report = serde_json::from_str(output.stdout.trim())
        .unwrap_or_else(|e| panic!("doctor did not print one JSON document ({e}): {output}"));
    (output, report)
}

#[track_caller]
fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

/// `codex exec --json`: one JSON event per stdout line.
#[track_caller]
fn exec_json(home: &TestHome, prompt: &str) -> (Output, Vec<Value>) {
    let mut command = codex_command(home);
    command.args([
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        prompt,
    ]);
    let output = process::run(command, Duration::from_secs(120));
    let items = output
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    (output, items)
}

/// The `error` items of a `codex exec --json` run about hooks (Codex's warning about
/// both files is one; the fake model's missing metadata is not about hooks).
fn hook_errors(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter(|e| e["type"] == "error" || e["item"]["type"] == "error")
        .map(Value::to_string)
        .filter(|text| text.to_lowercase().contains("hook"))
        .collect()
}

#[test]
fn inline_hooks_home_gets_inline_handlers_codex_runs_without_the_both_warning() {
    let home = TestHome::new();
    let target = home.workdir.join("inline.txt");
    let command = format!("echo inline-e2e | tee {}", target.display());
    let model = FakeModel::start(&command);
    home.configure_inline(&model);
    let akto = FakeAkto::start();

    let (output, report) = setup(&home, &akto);
    output.assert_success();
    assert_eq!(report["status"], "changed", "{output}");
    assert!(
        !home.hooks_json().exists(),
        "setup created hooks.json beside the user's inline hooks: {output}"
    );
    let config = home.read(&home.config_toml());
    assert_eq!(
        config.matches("[[hooks.PreToolUse]]").count(),
        2,
        "the user's group and ours:\n{config}"
    );

    // Codex sees ours trusted, under config.toml's keys, and the user's still trusted.
    let hooks = list_hooks(&home);
    let config_path = home.config_toml().display().to_string();
    for event in GUARD_EVENTS {
        let camel = event[..1].to_ascii_lowercase() + &event[1..];
        let ours: Vec<&Value> = hooks
            .iter()
            .filter(|h| {
                h["eventName"] == camel.as_str()
                    && h["command"]
                        .as_str()
                        .is_some_and(|c| c.contains("codex-guard-hook"))
            })
            .collect();
        assert_eq!(ours.len(), 1, "{event}: {hooks:#?}");
        assert_eq!(ours[0]["trustStatus"], "trusted", "{event}: {:#}", ours[0]);
        assert_eq!(ours[0]["sourcePath"], config_path.as_str());
    }
    let user = hooks
        .iter()
        .find(|h| h["command"] == home.user_hook_command().as_str())
        .expect("the user's hook is listed");
    assert_eq!(user["trustStatus"], "trusted", "{user:#}");

    // A real turn: our hook runs, the user's too, and Codex warns about nothing.
    let (output, items) = exec_json(&home, "write the file");
    output.assert_success();
    assert_eq!(
        std::fs::read_to_string(&target).ok().as_deref(),
        Some("inline-e2e\n"),
        "{output}"
    );
    assert_eq!(home.user_hook_runs(), 1, "{output}");
    let pre = akto.requests_for("PreToolUse");
    assert!(
        pre.iter()
            .any(codex_guard_e2e::AktoRequest::asks_guardrails),
        "codex-guard's PreToolUse hook did not run: {output}"
    );
    let errors = hook_errors(&items);
    assert!(
        errors.is_empty(),
        "Codex reported errors about hooks: {errors:#?}"
    );
    // The runtime's own check at SessionStart finds our inline handlers as setup left them.
    let start = home
        .events()
        .into_iter()
        .find(|e| e["event"] == "SessionStart" && e["integrity"].is_object())
        .unwrap_or_else(|| panic!("no SessionStart check in the log: {:#?}", home.events()));
    assert_eq!(
        start["integrity"]["drift"],
        serde_json::json!([]),
        "{start:#}"
    );
    assert_eq!(start["integrity"]["intact"], true, "{start:#}");
    assert!(
        !output.stdout.contains(BOTH_WARNING) && !output.stderr.contains(BOTH_WARNING),
        "{output}"
    );
}

#[test]
fn setup_doctor_and_uninstall_on_an_inline_home() {
    let home = TestHome::new();
    let model = FakeModel::start("true");
    let original = home.configure_inline(&model);
    let akto = FakeAkto::start();

    let (output, report) = setup(&home, &akto);
    output.assert_success();
    assert_eq!(report["status"], "changed", "{output}");
    let receipt: Value =
        serde_json::from_str(&home.read(&home.codex_home.join("codex-guard/receipt.json")))
            .expect("the receipt is JSON");
    assert_eq!(
        receipt["hooks_json"]["layout"], "config_toml",
        "{receipt:#}"
    );
    assert_eq!(
        receipt["hooks_json"]["path"],
        home.config_toml().display().to_string().as_str()
    );
    let installed = home.read(&home.config_toml());
    // Every line the user wrote is still there, in order.
    let mut lines = installed.lines();
    for line in original.lines() {
        assert!(
            lines.any(|l| l == line),
            "line {line:?} lost or moved:\n{installed}"
        );
    }

    // A second run changes nothing.
    let (output, report) = setup(&home, &akto);
    output.assert_success();
    assert_eq!(report["status"], "unchanged", "{output}");
    assert_eq!(home.read(&home.config_toml()), installed);

    let (output, report) = doctor(&home);
    for id in [
        "hooks_json.valid",
        "hooks_json.handlers",
        "hooks.trust",
        "codex.hooks_list",
    ] {
        assert_eq!(check(&report, id)["status"], "pass", "{id}: {output}");
    }

    // A handler of ours edited by hand is found where it is: its trust no longer holds.
    let stop_at = installed
        .find("[[hooks.Stop.hooks]]")
        .expect("our Stop handler");
    let timeout_at = stop_at
        + installed[stop_at..]
            .find("timeout = ")
            .expect("its timeout");
    let line_end = timeout_at + installed[timeout_at..].find('\n').expect("a line end");
    let mut edited = installed.clone();
    edited.replace_range(timeout_at..line_end, "timeout = 9");
    assert_ne!(edited, installed);
    std::fs::write(home.config_toml(), &edited).expect("edit config.toml");
    let (_, report) = doctor(&home);
    assert_eq!(
        check(&report, "hooks.trust")["status"],
        "fail",
        "{report:#}"
    );
    assert_eq!(
        check(&report, "codex.hooks_list")["status"],
        "fail",
        "{report:#}"
    );
    std::fs::write(home.config_toml(), &installed).expect("restore config.toml");

    let backups = home.home.join("uninstall backups").display().to_string();
    let codex_home = home.codex_home.display().to_string();
    let output = run_guard(
        &home,
        &[
            "uninstall",
            "--codex-home",
            &codex_home,
            "--silent",
            "--json",
            "--backup-dir",
            &backups,
        ],
    );
    output.assert_success();
    assert_eq!(
        home.read(&home.config_toml()),
        original,
        "uninstall did not give config.toml back byte for byte"
    );
    assert!(!home.hooks_json().exists());
}

#[test]
fn hooks_in_both_files_stay_put_and_setup_and_doctor_say_so() {
    let home = TestHome::new();
    let model = FakeModel::start("true");
    home.configure_inline(&model);
    // The user also has a hooks.json of their own.
    std::fs::write(
        home.hooks_json(),
        "{\"hooks\": {\"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"echo mine\"}]}]}}\n",
    )
    .expect("write hooks.json");
    let config_before = home.read(&home.config_toml());
    let akto = FakeAkto::start();

    let (output, report) = setup(&home, &akto);
    output.assert_success();
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("both"),
        "no note about both files: {report:#}"
    );
    // Ours went to hooks.json; the user's inline hooks are where they were.
    let hooks = home.read(&home.hooks_json());
    assert!(hooks.contains("codex-guard-hook"), "{hooks}");
    assert!(hooks.contains("echo mine"), "{hooks}");
    let config = home.read(&home.config_toml());
    assert_eq!(
        config.matches("[[hooks.PreToolUse]]").count(),
        1,
        "{config}"
    );
    assert!(config.starts_with(&config_before[..config_before.find("# I reviewed").unwrap()]));

    // What the user sees on every session, and why setup says so.
    let (output, items) = exec_json(&home, "run true");
    output.assert_success();
    let errors = hook_errors(&items);
    assert!(
        errors.iter().any(|e| e.contains(BOTH_WARNING)),
        "Codex no longer warns about hooks in both files: {output}"
    );

    let (output, report) = doctor(&home);
    let listed = check(&report, "codex.hooks_list");
    assert_eq!(listed["status"], "warn", "{output}");
    assert!(
        listed.to_string().contains(BOTH_WARNING),
        "doctor does not pass on Codex's warning: {listed:#}"
    );
}

#[test]
fn a_config_codex_rejects_makes_setup_warn_in_codexs_words() {
    let home = TestHome::new();
    let model = FakeModel::start("true");
    home.configure(&model);
    // A stale setting of the wrong type: valid TOML, but Codex refuses the file.
    let config = format!(
        "model_reasoning_effort = 5\n{}",
        home.read(&home.config_toml())
    );
    std::fs::write(home.config_toml(), config).expect("write config.toml");
    let akto = FakeAkto::start();

    let started = std::time::Instant::now();
    let (output, report) = setup(&home, &akto);
    let with_codex = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "degraded: {output}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("cannot load its configuration")
            && warnings.contains("invalid type: integer `5`, expected a string"),
        "setup does not quote Codex: {report:#}"
    );
    assert!(warnings.contains("hint:"), "{warnings}");

    // Fixed by hand: setup is quiet again.
    let fixed = home
        .read(&home.config_toml())
        .replacen("model_reasoning_effort = 5\n", "", 1);
    std::fs::write(home.config_toml(), fixed).expect("write config.toml");
    let (output, report) = setup(&home, &akto);
    output.assert_success();
    assert_eq!(report["warnings"], serde_json::json!([]), "{output}");

    // Without a Codex CLI (none on PATH, no --codex-bin) nothing is asked.
    let started = std::time::Instant::now();
    let (output, report) = guard::setup(&home, &akto.url(), &[]);
    let without = started.elapsed();
    output.assert_success();
    assert_eq!(report["warnings"], serde_json::json!([]), "{output}");
    eprintln!("setup with the Codex probe: {with_codex:?}; without a Codex CLI: {without:?}");
}

#[test]
fn handlers_an_earlier_setup_put_in_hooks_json_move_to_the_users_inline_hooks() {
    let home = TestHome::new();
    let model = FakeModel::start("true");
    // No hook of the user's yet: ours go to a new hooks.json.
    let inline = home.configure_inline(&model);
    let start = inline.find("# My own hook").expect("the user's hook");
    let end = inline.find("# I reviewed").expect("its trust record");
    let plain = format!("{}{}", &inline[..start], &inline[end..]);
    let plain = plain[..plain.find("[hooks.state").expect("trust")].to_string();
    std::fs::write(home.config_toml(), &plain).expect("write config.toml");
    let akto = FakeAkto::start();
    let (output, _) = setup(&home, &akto);
    output.assert_success();
    assert!(home.hooks_json().exists(), "{output}");

    // Then the user writes their hook inline: a re-run moves ours beside it.
    let installed = home.read(&home.config_toml());
    std::fs::write(
        home.config_toml(),
        format!("{installed}\n{}", &inline[start..]),
    )
    .expect("add the user's inline hook");
    let with_user_hook = home.read(&home.config_toml());
    let (output, report) = setup(&home, &akto);
    output.assert_success();
    assert_eq!(report["warnings"], serde_json::json!([]), "{output}");
    assert!(
        report["notes"].to_string().contains("move from"),
        "{report:#}"
    );
    assert!(
        !home.hooks_json().exists(),
        "the hooks.json setup created is left: {output}"
    );
    let hooks = list_hooks(&home);
    let ours: Vec<&Value> = hooks
        .iter()
        .filter(|h| {
            h["command"]
                .as_str()
                .is_some_and(|c| c.contains("codex-guard-hook"))
        })
        .collect();
    assert_eq!(ours.len(), GUARD_EVENTS.len(), "{hooks:#?}");
    assert!(
        ours.iter().all(|h| h["trustStatus"] == "trusted"),
        "{hooks:#?}"
    );
    let (output, items) = exec_json(&home, "run true");
    output.assert_success();
    assert_eq!(hook_errors(&items), Vec::<String>::new());
    assert_eq!(home.user_hook_runs(), 1, "{output}");

    // Uninstall leaves the user's config as they wrote it.
    let codex_home = home.codex_home.display().to_string();
    let backups = home.home.join("uninstall backups").display().to_string();
    let output = run_guard(
        &home,
        &[
            "uninstall",
            "--codex-home",
            &codex_home,
            "--silent",
            "--json",
            "--backup-dir",
            &backups,
        ],
    );
    output.assert_success();
    assert_eq!(
        home.read(&home.config_toml()),
        format!("{plain}\n{}", &inline[start..]),
        "config.toml is not the user's, byte for byte (it was, with ours:\n{with_user_hook})"
    );
    assert!(!home.hooks_json().exists());
}
