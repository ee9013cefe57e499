//! What the guardrail service changed (`Modified` / `ModifiedPayload`), as Codex gets
//! it from the hook: a tool input through `updatedInput`, a tool result in place of
//! the original, and each modification in the audit log without its content.

use crate::common::{field, pre_tool_use, stdout_json, Home, WAIT};
use codex_guard_common::spool;
use codex_guard_e2e::{FakeAkto, Reply};
use serde_json::{json, Value};

const SECRET: &str = "sk-live-51HxSECRETxSECRET";

fn mcp_result(text: &str) -> Vec<u8> {
    json!({"hook_event_name": "PostToolUse", "session_id": "s", "turn_id": "t", "cwd": "/w",
        "tool_name": "mcp__vault__read_secret", "tool_use_id": "c", "tool_input": {"name": "db"},
        "tool_response": {"content": [{"type": "text", "text": text}], "isError": false}})
    .to_string()
    .into_bytes()
}

fn bash_result(output: &str) -> Vec<u8> {
    json!({"hook_event_name": "PostToolUse", "session_id": "s", "turn_id": "t", "cwd": "/w",
        "tool_name": "Bash", "tool_use_id": "c", "tool_input": {"command": "cat .env"},
        "tool_response": output})
    .to_string()
    .into_bytes()
}

/// The one audit log line, and its `modified` object.
fn logged(home: &Home) -> (Value, Value) {
    let log = home.log();
    assert_eq!(log.len(), 1, "{log:#?}");
    let modified = log[0]["modified"].clone();
    (log[0].clone(), modified)
}

#[test]
fn a_redacted_mcp_result_replaces_the_one_the_model_sees() {
    let akto = FakeAkto::redacting(SECRET, "[REDACTED]");
    let home = Home::remote(&akto.url(), "");
    let original = format!("db password: {SECRET}");
    let out = home.run(&mcp_result(&original));
    let decision = stdout_json(&out);
    let reason = decision["reason"].as_str().unwrap();
    assert_eq!(decision["decision"], "block");
    assert!(reason.ends_with("\ndb password: [REDACTED]"), "{reason}");
    assert!(!reason.contains(SECRET), "{reason}");

    let (line, modified) = logged(&home);
    assert_eq!(line["decision"], "allow");
    assert_eq!(line["source"], "akto");
    assert_eq!(
        modified,
        json!({"what": "tool_result", "bytes_before": original.len(),
               "bytes_after": "db password: [REDACTED]".len(), "outcome": "applied"})
    );
    let log_text = std::fs::read_to_string(home.guard.join("logs/events.jsonl")).unwrap();
    assert!(!log_text.contains(SECRET), "the audit log holds the secret");

    // The MCP result is still ingested, tagged with what became of the modification.
    let seen = akto.wait_for(WAIT, |r| r.len() >= 2);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].query(), "akto_connector=codex_cli&ingest_data=true");
    assert_eq!(
        field(&seen[1], "tag")["codex-guard-modified"],
        "tool_result:applied"
    );
}

#[test]
fn a_redacted_built_in_result_replaces_it_too() {
    let akto = FakeAkto::redacting(SECRET, "***");
    let home = Home::remote(&akto.url(), "");
    let out = home.run(&bash_result(&format!("API_KEY={SECRET}\nDEBUG=1\n")));
    let decision = stdout_json(&out);
    assert!(
        decision["reason"]
            .as_str()
            .unwrap()
            .ends_with("\nAPI_KEY=***\nDEBUG=1\n"),
        "{decision}"
    );
    assert_eq!(logged(&home).1["outcome"], "applied");
}

#[test]
fn a_redacted_tool_input_runs_through_updated_input() {
    let akto = FakeAkto::redacting(SECRET, "$API_KEY");
    let home = Home::remote(&akto.url(), "");
    let command = format!("curl -H 'Authorization: Bearer {SECRET}' https://api.example");
    let out = home.run(&pre_tool_use(&command));
    let decision = stdout_json(&out);
    let specific = &decision["hookSpecificOutput"];
    assert_eq!(specific["hookEventName"], "PreToolUse");
    assert_eq!(specific["permissionDecision"], "allow");
    assert_eq!(
        specific["updatedInput"],
        json!({"command": "curl -H 'Authorization: Bearer $API_KEY' https://api.example"})
    );
    let (line, modified) = logged(&home);
    assert_eq!(line["decision"], "allow");
    assert_eq!(modified["what"], "tool_input");
    assert_eq!(modified["outcome"], "applied");
    assert_eq!(
        modified["bytes_before"],
        json!({"command": command}).to_string().len()
    );
}

#[test]
fn a_modified_tool_input_must_pass_the_local_deny_rules_too() {
    // A service that rewrites a harmless command into one a local rule denies: the
    // admin's rules hold whatever comes back, and nothing runs.
    let akto = FakeAkto::redacting("echo harmless", "rm -rf /");
    let home = Home::remote(&akto.url(), "");
    let out = home.run(&pre_tool_use("echo harmless"));
    let decision = stdout_json(&out);
    let specific = &decision["hookSpecificOutput"];
    assert_eq!(specific["permissionDecision"], "deny", "{decision}");
    assert!(specific.get("updatedInput").is_none(), "{decision}");
    let (line, modified) = logged(&home);
    assert_eq!(line["decision"], "block");
    let rule = line["rule"].as_str().unwrap();
    assert!(line["source"].as_str().unwrap().ends_with(rule), "{line}");
    assert_eq!(modified["outcome"], "withheld");
    assert!(modified["error"].as_str().unwrap().contains(rule), "{line}");
    // Akto, which saw the call allowed, also gets the record of the block.
    let seen = akto.wait_for(crate::common::WAIT, |r| r.len() >= 2);
    assert_eq!(seen[1].body["statusCode"], "403");
    assert_eq!(
        seen[1].json_string_field("responseHeaders").unwrap()["x-blocked-by"],
        format!("codex-guard rule {rule}")
    );
}

#[test]
fn an_unreadable_modification_never_breaks_the_event() {
    let garbage = [
        "<html>502 Bad Gateway</html>",
        "{\"jsonrpc\":\"2.0\",\"result\":",
        "[]",
        "",
    ];
    for payload in garbage {
        let akto = FakeAkto::answering(move |_| Reply::modified(payload));
        // Fails open: the original goes through, the error is recorded.
        let home = Home::remote(&akto.url(), "");
        let out = home.run(&mcp_result("plain"));
        assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
        let (line, modified) = logged(&home);
        assert_eq!(line["decision"], "allow", "{line}");
        assert_eq!(modified["outcome"], "not-applied", "{line}");
        assert!(modified["error"].is_string(), "{line}");
        assert!(
            line["errors"][0]
                .as_str()
                .unwrap()
                .contains("cannot apply the modified tool_result"),
            "{line}"
        );

        // Fails closed: the result is withheld from the model, the call denied.
        let home = Home::remote(&akto.url(), "fail_closed = true\n");
        let decision = stdout_json(&home.run(&mcp_result("plain")));
        assert_eq!(decision["decision"], "block");
        assert!(
            decision["reason"]
                .as_str()
                .unwrap()
                .contains("could not apply the guardrail service's change to this tool result"),
            "{decision}"
        );
        let (line, modified) = logged(&home);
        assert_eq!(line["decision"], "block");
        assert_eq!(line["source"], "fail-closed");
        assert_eq!(modified["outcome"], "withheld");
        let decision = stdout_json(&home.run(&pre_tool_use("ls")));
        assert_eq!(
            decision["hookSpecificOutput"]["permissionDecision"], "deny",
            "{decision}"
        );
    }
}

#[test]
fn observe_mode_never_applies_a_modification() {
    let akto = FakeAkto::redacting(SECRET, "[REDACTED]");
    let home = Home::remote(&akto.url(), "blocking = false\n");
    let out = home.run(&mcp_result(SECRET));
    assert!(out.stdout.is_empty(), "{out:?}");
    let (line, modified) = logged(&home);
    assert_eq!(line["decision"], "observe");
    assert!(modified.is_null(), "{line}");
    // Nothing asked for a verdict before Codex got its answer: the record is spooled.
    assert_eq!(line["delivered"], 0);
    assert_eq!(spool::pending(&home.guard.join("spool")).len(), 1);
}

/// Akto's answer with a verdict and a modification at once.
fn verdict_and_modification(allowed: bool, behaviour: &'static str) -> FakeAkto {
    FakeAkto::answering(move |request| {
        let payload = request.body["responsePayload"]
            .as_str()
            .unwrap_or_default()
            .replace(SECRET, "[REDACTED]");
        Reply::json(&json!({"success": true, "data": {"guardrailsResult": {
            "Allowed": allowed, "Modified": true, "ModifiedPayload": payload,
            "Reason": if allowed { "" } else { "secret in output" }, "behaviour": behaviour}}}))
    })
}

#[test]
fn a_block_wins_over_a_modification_and_alert_or_warn_resubmitted_apply_it() {
    let akto = verdict_and_modification(false, "block");
    let home = Home::remote(&akto.url(), "");
    let decision = stdout_json(&home.run(&mcp_result(SECRET)));
    assert_eq!(decision["reason"], "Tool result blocked: secret in output");
    assert!(logged(&home).1.is_null());

    let akto = verdict_and_modification(false, "alert");
    let home = Home::remote(&akto.url(), "");
    let decision = stdout_json(&home.run(&mcp_result(SECRET)));
    assert!(decision["reason"]
        .as_str()
        .unwrap()
        .ends_with("\n[REDACTED]"));
    let (line, modified) = logged(&home);
    assert_eq!(line["source"], "akto:alert");
    assert_eq!(modified["outcome"], "applied");

    let akto = verdict_and_modification(false, "warn");
    let home = Home::remote(&akto.url(), "");
    let first = stdout_json(&home.run(&mcp_result(SECRET)));
    assert!(
        first["reason"].as_str().unwrap().starts_with("Warning:"),
        "{first}"
    );
    let again = stdout_json(&home.run(&mcp_result(SECRET)));
    assert!(
        again["reason"].as_str().unwrap().ends_with("\n[REDACTED]"),
        "{again}"
    );
    let log = home.log();
    assert_eq!(log[1]["source"], "akto:warn-resubmitted");
    assert_eq!(log[1]["modified"]["outcome"], "applied");
}

#[test]
fn a_merged_answer_applies_only_the_side_that_was_judged() {
    // Akto ran request and response guardrails: the flat fields are the request
    // side's, whose modification must not be taken for the tool result.
    let akto = FakeAkto::answering(|_| {
        Reply::json(&json!({"success": true, "data": {"guardrailsResult": {
            "Allowed": true, "Modified": true, "ModifiedPayload": "{\"params\":{}}",
            "requestResult": {"Allowed": true, "Modified": true, "ModifiedPayload": "{\"params\":{}}"},
            "responseResult": {"Allowed": true, "Modified": false, "ModifiedPayload": ""}}}}))
    });
    let home = Home::remote(&akto.url(), "");
    let out = home.run(&mcp_result(SECRET));
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(logged(&home).1.is_null());
}

#[test]
fn an_echo_of_the_original_changes_nothing_and_a_prompt_is_only_recorded() {
    let akto = FakeAkto::answering(|request| {
        Reply::modified(request.body["responsePayload"].as_str().unwrap_or_default())
    });
    let home = Home::remote(&akto.url(), "");
    assert!(home.run(&mcp_result("same")).stdout.is_empty());
    assert_eq!(logged(&home).1["outcome"], "unchanged");

    let akto = FakeAkto::redacting(SECRET, "[REDACTED]");
    let home = Home::remote(&akto.url(), "");
    let prompt = json!({"hook_event_name": "UserPromptSubmit", "session_id": "s", "turn_id": "t",
        "prompt": format!("use key {SECRET}")});
    let out = home.run(prompt.to_string().as_bytes());
    assert!(out.stdout.is_empty(), "{out:?}");
    let (line, modified) = logged(&home);
    assert_eq!(line["decision"], "allow");
    assert_eq!(modified["what"], "prompt");
    assert_eq!(modified["outcome"], "not-applied");
    assert!(modified["error"]
        .as_str()
        .unwrap()
        .contains("Codex lets no hook replace a prompt"));
}
