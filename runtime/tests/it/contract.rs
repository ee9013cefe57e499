//! The fields of Akto's ingestion contract that switch Akto features on: the session
//! keys its guardrail service reads, the agent that owns a collection, what a `warn`
//! counts as the same submission, who blocked an event, and what stays out of the API
//! schemas Akto learns. Each case runs the hook binary against the fake service.

use crate::common::{field, pre_tool_use, stdout_json, Home, WAIT};
use codex_guard_e2e::{AktoRequest, FakeAkto, Reply};
use serde_json::{json, Value};
use std::path::PathBuf;

/// Request header keys Akto would store as real API headers; everything else we send
/// lives under `x-akto-installer-`.
const API_HEADERS: [&str; 4] = ["host", "x-codex-hook", "content-type", "x-mcp-server"];

fn transcript(home: &Home, prompt: &str) -> PathBuf {
    let path = home.guard.join("rollout.jsonl");
    let line = json!({"type": "response_item", "payload": {"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": prompt}]}});
    std::fs::write(&path, format!("{line}\n")).unwrap();
    path
}

fn event(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn stop(home: &Home, answer: &str) -> Vec<u8> {
    event(
        &json!({"hook_event_name": "Stop", "session_id": "sess-1", "turn_id": "turn-1",
        "permission_mode": "default", "transcript_path": transcript(home, "what is up"),
        "stop_hook_active": false, "last_assistant_message": answer}),
    )
}

fn post_tool_use(tool: &str, call: &str, result: &Value) -> Vec<u8> {
    event(
        &json!({"hook_event_name": "PostToolUse", "session_id": "sess-1",
        "turn_id": "turn-1", "permission_mode": "default", "tool_name": tool,
        "tool_use_id": call, "tool_input": {"command": "cat notes"}, "tool_response": result}),
    )
}

fn headers(request: &AktoRequest) -> serde_json::Map<String, Value> {
    field(request, "requestHeaders")
        .as_object()
        .unwrap()
        .clone()
}

#[test]
fn every_record_carries_the_session_keys_akto_reads_and_nothing_outside_its_namespace() {
    let akto = FakeAkto::deny_containing("rm-me", "dangerous command");
    let home = Home::remote(&akto.url(), "ingest_non_mcp_tools = true\n");
    let start = json!({"hook_event_name": "SessionStart", "session_id": "sess-1",
        "source": "startup", "cwd": "/work", "permission_mode": "default", "model": "m"});
    let prompt = json!({"hook_event_name": "UserPromptSubmit", "session_id": "sess-1",
        "turn_id": "turn-1", "permission_mode": "default", "prompt": "hello"});
    let events = [
        event(&start),
        event(&prompt),
        pre_tool_use("touch rm-me"),
        post_tool_use("Bash", "call-2", &json!("notes")),
        post_tool_use("mcp__docs__read", "call-3", &json!({"content": []})),
        stop(&home, "done"),
    ];
    for stdin in &events {
        assert!(home.run(stdin).status.success());
    }
    // Session start, prompt, the denied call and its 403 record, two tool results
    // (checked, then ingested) and the response.
    let seen = akto.wait_for(WAIT, |r| r.len() >= 9);
    assert_eq!(seen.len(), 9, "{seen:#?}");
    for request in &seen {
        let headers = headers(request);
        assert_eq!(
            headers["x-akto-installer-akto_session_id"], "sess-1",
            "{headers:?}"
        );
        assert_eq!(headers["x-akto-installer-session_id"], "sess-1");
        assert_eq!(headers["x-akto-installer-permission_mode"], "default");
        assert_eq!(
            headers["x-akto-installer-codex_guard_event_id"].as_str(),
            request.header("x-codex-guard-event-id"),
            "the record names the id its call carries"
        );
        for key in headers.keys() {
            assert!(
                key.starts_with("x-akto-installer-") || API_HEADERS.contains(&key.as_str()),
                "{key} would become an API header in Akto's schemas"
            );
        }
    }
}

#[test]
fn built_in_tools_are_owned_by_the_agent_in_argus_mode_and_results_are_tool_executions() {
    let akto = FakeAkto::start();
    let home = Home::remote(&akto.url(), "ingest_non_mcp_tools = true\n");
    home.run(&pre_tool_use("ls"));
    home.run(&post_tool_use("Bash", "call-2", &json!("a b")));
    home.run(&stop(&home, "done"));
    let seen = akto.wait_for(WAIT, |r| r.len() >= 4);
    let by_hook = |hook: &str| -> Vec<&AktoRequest> {
        seen.iter()
            .filter(|r| r.hook().as_deref() == Some(hook))
            .collect()
    };
    let pre = by_hook("PreToolUse")[0];
    assert_eq!(
        field(pre, "tag"),
        json!({"gen-ai": "Gen AI", "ai-agent": "codexcli", "tool_name": "Bash"})
    );
    assert_eq!(
        field(pre, "responseHeaders"),
        json!({"x-codex-hook": "PreToolUse"})
    );
    let post = by_hook("PostToolUse");
    assert_eq!(post.len(), 2, "checked, then ingested");
    for request in post {
        assert_eq!(
            field(request, "tag"),
            json!({"gen-ai": "Gen AI", "ai-agent": "codexcli",
                "tool-use": "Tool Execution", "tool_name": "Bash"})
        );
        assert_eq!(
            field(request, "responseHeaders"),
            json!({"x-codex-hook": "PostToolUse", "content-type": "application/json"})
        );
    }
    let stop = by_hook("Stop")[0];
    // Prompts and responses name the agent in atlas mode only, as Akto's hooks do.
    assert_eq!(field(stop, "tag"), json!({"gen-ai": "Gen AI"}));
    assert_eq!(
        field(stop, "responseHeaders"),
        json!({"x-codex-hook": "Stop", "content-type": "application/json"})
    );
}

fn warned(out: &std::process::Output) -> bool {
    !out.stdout.is_empty()
}

#[test]
fn a_warned_response_lets_only_that_response_through_again() {
    let akto = FakeAkto::deny_with_behaviour("flagged", "check this", "warn");
    let home = Home::remote(&akto.url(), "");
    assert!(warned(&home.run(&stop(&home, "flagged answer one"))));
    assert!(
        warned(&home.run(&stop(&home, "flagged answer two"))),
        "another warned response is a new submission"
    );
    assert!(!warned(&home.run(&stop(&home, "flagged answer one"))));
    assert!(!warned(&home.run(&stop(&home, "flagged answer two"))));
}

#[test]
fn a_warned_tool_result_lets_only_the_same_result_of_the_same_call_through() {
    let akto = FakeAkto::deny_with_behaviour("flagged", "check this", "warn");
    let home = Home::remote(&akto.url(), "");
    let result = |text: &str| json!({"content": [{"type": "text", "text": text}]});
    let tool = "mcp__docs__read";
    assert!(warned(&home.run(&post_tool_use(
        tool,
        "call-1",
        &result("flagged a")
    ))));
    assert!(
        warned(&home.run(&post_tool_use(tool, "call-1", &result("flagged b")))),
        "a different result of the same call"
    );
    assert!(
        warned(&home.run(&post_tool_use(tool, "call-2", &result("flagged a")))),
        "the same result of another call"
    );
    assert!(!warned(&home.run(&post_tool_use(
        tool,
        "call-1",
        &result("flagged a")
    ))));
}

#[test]
fn a_blocked_tool_result_gives_the_model_the_reason_as_context() {
    let akto = FakeAkto::deny_containing("secret", "leaks a secret");
    let home = Home::remote(&akto.url(), "");
    let out = home.run(&post_tool_use(
        "mcp__docs__read",
        "call-1",
        &json!({"content": [{"type": "text", "text": "secret"}]}),
    ));
    let decision = stdout_json(&out);
    assert_eq!(decision["decision"], "block");
    assert_eq!(decision["reason"], "Tool result blocked: leaks a secret");
    assert_eq!(
        decision["hookSpecificOutput"],
        json!({"hookEventName": "PostToolUse", "additionalContext": "leaks a secret"})
    );
    let seen = akto.wait_for(WAIT, |r| r.len() >= 2);
    let record = &seen[1];
    assert_eq!(record.body["statusCode"], "403");
    // Akto's tool-result hook sends the block as JSON text in the body.
    let body = field(record, "responsePayload")["body"].clone();
    let body: Value = serde_json::from_str(body.as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"x-blocked-by": "Akto Proxy", "reason": "leaks a secret"})
    );
}

#[test]
fn a_local_block_is_reported_as_codex_guards_with_the_rule() {
    let akto = FakeAkto::answering(|_| Reply::verdict(true, "", "block"));
    let home = Home::remote(&akto.url(), "");
    let out = home.run(&pre_tool_use("rm -rf /"));
    let reason = stdout_json(&out)["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    let rule = home.log()[0]["rule"].as_str().unwrap().to_string();
    assert!(reason.contains(&rule), "{reason}");
    let seen = akto.wait_for(WAIT, |r| !r.is_empty());
    assert_eq!(seen.len(), 1, "a local deny asks no guardrails: {seen:#?}");
    let record = &seen[0];
    assert_eq!(record.body["statusCode"], "403");
    let label = format!("codex-guard rule {rule}");
    assert_eq!(field(record, "responseHeaders")["x-blocked-by"], label);
    let body = &field(record, "responsePayload")["body"];
    assert_eq!(body["x-blocked-by"], label);
    assert_eq!(body["rule"], rule);
    assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()));
}

#[test]
fn session_start_reports_the_guards_health() {
    let akto = FakeAkto::start();
    let home = Home::remote(&akto.url(), "mode = \"atlas\"\nfail_closed = true\n");
    let start = json!({"hook_event_name": "SessionStart", "session_id": "sess-1",
        "source": "startup", "cwd": "/work"});
    home.run(&event(&start));
    let seen = akto.wait_for(WAIT, |r| !r.is_empty());
    let guard = &field(&seen[0], "requestPayload")["codexGuard"];
    assert_eq!(guard["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(guard["scope"], "user");
    assert_eq!(guard["mode"], "blocking");
    assert_eq!(guard["akto_mode"], "atlas");
    assert_eq!(guard["blocking"], true);
    assert_eq!(guard["fail_closed"], true);
    // No setup receipt in this home: the registration cannot be shown intact.
    assert_eq!(guard["intact"], false);
    assert_eq!(guard["registration_intact"], false);
    let tags = field(&seen[0], "tag");
    assert_eq!(tags["hook"], "SessionStart");
    assert_eq!(tags["codex-guard-version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(tags["codex-guard-scope"], "user");
    assert_eq!(tags["codex-guard-mode"], "blocking");
    assert_eq!(tags["codex-guard-fail"], "closed");
    assert_eq!(tags["codex-guard-integrity"], "drift");
    assert_eq!(tags["codex-guard-registration"], "broken");
}
