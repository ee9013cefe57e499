//! Checks of the harness itself against the real Codex, with no codex-guard involved: the
//! fakes, the trust records and the hook plumbing the e2e scenarios stand on.

use codex_guard_e2e::fake_model::FINAL_MESSAGE;
use codex_guard_e2e::trust::{trust_hash, trust_key};
use codex_guard_e2e::{
    list_hooks, run_codex_exec, run_codex_exec_with_approvals, FakeModel, TestHome,
};
use serde_json::{json, Value};
use std::fs;

/// A hook command appending each event's stdin as one line to `log`.
fn logging_hook(log: &std::path::Path) -> String {
    format!("sh -c 'cat >> \"{0}\"; echo >> \"{0}\"'", log.display())
}

fn logged_events(log: &std::path::Path) -> Vec<Value> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("hook input is JSON"))
        .collect()
}

#[test]
fn user_hook_is_trusted_with_our_hash_and_runs() {
    let model = FakeModel::start("echo harness-ok > harness.txt");
    let home = TestHome::with_model(&model);

    let hooks = list_hooks(&home);
    let user_hook = hooks
        .iter()
        .find(|h| h["command"] == home.user_hook_command().as_str())
        .unwrap_or_else(|| panic!("the user's hook is not listed: {hooks:#?}"));
    let group = json!({
        "matcher": "Bash",
        "hooks": [{ "type": "command", "command": home.user_hook_command(), "timeout": 10 }],
    });
    assert_eq!(
        user_hook["key"],
        trust_key(&home.hooks_json(), "PreToolUse", 0, 0).as_str()
    );
    assert_eq!(
        user_hook["currentHash"],
        trust_hash("PreToolUse", &group, 0).as_str()
    );
    assert_eq!(user_hook["trustStatus"], "trusted", "{user_hook:#}");

    let output = run_codex_exec(&home, "write the file");
    output.assert_success();
    assert!(output.stdout.contains(FINAL_MESSAGE), "{output}");
    assert_eq!(
        fs::read_to_string(home.workdir.join("harness.txt"))
            .ok()
            .as_deref(),
        Some("harness-ok\n"),
        "the scripted command did not run: {output}"
    );
    assert_eq!(home.user_hook_runs(), 1, "{output}");
    assert_eq!(model.requests().len(), 2, "one tool call, one answer");
    assert!(
        model.tool_outputs()[0].contains("Process exited with code 0"),
        "{:?}",
        model.tool_outputs()
    );
}

#[test]
fn every_event_reaches_a_hook_with_the_documented_input() {
    let model = FakeModel::start("echo events > events.txt");
    let home = TestHome::with_model(&model);
    let log = home.home.join("events log.jsonl");
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
        "SessionEnd",
    ] {
        home.add_user_hook(event, None, &logging_hook(&log));
    }

    let output = run_codex_exec(&home, "log every event");
    output.assert_success();
    let events = logged_events(&log);
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["hook_event_name"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        names,
        [
            "SessionStart",
            "UserPromptSubmit",
            "PreToolUse",
            "PostToolUse",
            "Stop",
            "SessionEnd"
        ],
        "{output}"
    );
    assert_eq!(events[1]["prompt"], "log every event");
    assert_eq!(events[2]["tool_name"], "Bash");
    assert_eq!(
        events[2]["tool_input"],
        json!({ "command": "echo events > events.txt" })
    );
    assert_eq!(events[4]["last_assistant_message"], FINAL_MESSAGE);

    // By Stop, the rollout transcript already holds the turn's prompt as a user
    // `response_item` message (after Codex's own `<environment_context>` user message).
    let transcript = events[4]["transcript_path"]
        .as_str()
        .expect("transcript_path");
    let prompts: Vec<String> = fs::read_to_string(transcript)
        .expect("read the transcript")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["type"] == "response_item" && l["payload"]["role"] == "user")
        .filter_map(|l| {
            l["payload"]["content"][0]["text"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(
        prompts.last().map(String::as_str),
        Some("log every event"),
        "{prompts:?}"
    );
}

#[test]
fn hook_deny_reaches_the_model() {
    let model = FakeModel::start("touch denied.txt");
    let home = TestHome::with_model(&model);
    let deny = r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"harness says no"}}"#;
    home.add_user_hook(
        "PreToolUse",
        Some("Bash"),
        &format!("sh -c 'cat > /dev/null; echo '\\''{deny}'\\'''"),
    );

    let output = run_codex_exec(&home, "try it");
    output.assert_success();
    assert!(!home.workdir.join("denied.txt").exists(), "{output}");
    assert!(
        model.saw_text("Command blocked by PreToolUse hook: harness says no"),
        "{:?}",
        model.tool_outputs()
    );
    // The user's own hook runs alongside the denying one.
    assert_eq!(home.user_hook_runs(), 1);
}

#[test]
fn permission_request_fires_with_approve_for_me() {
    let model = FakeModel::with_calls(&[json!({
        "cmd": "touch escalated.txt",
        "sandbox_permissions": "require_escalated",
        "justification": "the test needs it",
    })]);
    let home = TestHome::with_model(&model);
    let log = home.home.join("permission log.jsonl");
    home.add_user_hook("PermissionRequest", None, &logging_hook(&log));

    let output = run_codex_exec_with_approvals(&home, "escalate");
    output.assert_success();
    let events = logged_events(&log);
    assert_eq!(events.len(), 1, "{output}");
    assert_eq!(events[0]["hook_event_name"], "PermissionRequest");
    assert_eq!(events[0]["tool_name"], "Bash");
    assert_eq!(
        events[0]["tool_input"],
        json!({ "command": "touch escalated.txt", "description": "the test needs it" })
    );
    // The hook gave no decision, so the reviewer decided (allow) and the command ran.
    assert!(model.guardian_requests() >= 1);
    assert!(home.workdir.join("escalated.txt").exists(), "{output}");
}
