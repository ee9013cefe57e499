//! The guardrail service's modifications, end to end: the real Codex CLI with
//! codex-guard's own setup, a stdio MCP server whose tool returns a secret, a fake
//! model that calls tools, and a fake Akto that redacts as Akto's guardrails do
//! (`Modified: true`, the judged payload rewritten in `ModifiedPayload`). What counts
//! is what the model receives next and what the tools really ran with.

use codex_guard_e2e::guard;
use codex_guard_e2e::{run_codex_exec, wait_until, FakeAkto, FakeModel, TestHome};
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

/// How long to wait for a log line that may land just after Codex exits.
const SETTLE: Duration = Duration::from_secs(10);

const SECRET: &str = "sk-live-51HxE2ExSECRETxVALUE";

/// A Codex home talking to `model`, with the fake MCP server registered as `vault`
/// (its calls logged to the returned file), set up by codex-guard against `akto`.
fn guarded_home(model: &FakeModel, akto: &FakeAkto) -> (TestHome, PathBuf) {
    let home = TestHome::new();
    let calls = guard_home(&home, model, akto);
    (home, calls)
}

/// [`guarded_home`] for a home that already exists.
fn guard_home(home: &TestHome, model: &FakeModel, akto: &FakeAkto) -> PathBuf {
    home.configure(model);
    let calls = home.workdir.join("mcp-calls.jsonl");
    home.add_mcp_server(
        "vault",
        std::path::Path::new(env!("CARGO_BIN_EXE_fake-mcp-server")),
        &[SECRET, &calls.display().to_string()],
    );
    let (output, report) = guard::setup(home, &akto.url(), &[]);
    output.assert_success();
    assert_eq!(report["status"], "changed", "{output}");
    calls
}

/// The audit log line of `event`, once it is there.
#[track_caller]
fn logged(home: &TestHome, event: &str) -> Value {
    wait_until(SETTLE, || home.events().iter().any(|l| l["event"] == event));
    home.events()
        .into_iter()
        .find(|l| l["event"] == event)
        .unwrap_or_else(|| panic!("no {event} line in {}", home.events_log().display()))
}

/// The arguments of every call the MCP server received.
fn mcp_calls(calls: &PathBuf) -> Vec<Value> {
    fs::read_to_string(calls)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a logged call is JSON")["arguments"].clone()
        })
        .collect()
}

#[test]
fn a_redacted_mcp_result_reaches_the_model_instead_of_the_secret() {
    let model = FakeModel::with_mcp_calls(&[("vault", "read_secret", json!({"name": "db"}))]);
    let akto = FakeAkto::redacting(SECRET, "[REDACTED]");
    let (home, calls) = guarded_home(&model, &akto);

    let output = run_codex_exec(&home, "read the db secret");
    output.assert_success();

    assert_eq!(
        mcp_calls(&calls),
        vec![json!({"name": "db"})],
        "the MCP tool did not run: {output}"
    );
    let outputs = model.tool_outputs();
    assert!(
        outputs
            .iter()
            .any(|o| o.contains("secret for db: [REDACTED]")),
        "the model never got the redacted result; tool outputs: {outputs:?}"
    );
    assert!(
        !model.saw_text(SECRET),
        "the secret reached the model; tool outputs: {outputs:?}"
    );
    let line = logged(&home, "PostToolUse");
    assert_eq!(line["tool"], "mcp__vault__read_secret", "{line}");
    assert_eq!(line["decision"], "allow", "{line}");
    assert_eq!(
        line["modified"],
        json!({"what": "tool_result", "outcome": "applied",
               "bytes_before": format!("secret for db: {SECRET}").len(),
               "bytes_after": "secret for db: [REDACTED]".len()}),
        "{line}"
    );
    assert!(
        !fs::read_to_string(home.events_log())
            .unwrap()
            .contains(SECRET),
        "the audit log holds the secret"
    );
}

#[test]
fn a_modified_mcp_input_is_what_the_server_receives() {
    let model = FakeModel::with_mcp_calls(&[("vault", "read_secret", json!({"name": "prod-db"}))]);
    // The service rewrites the tool call (PreToolUse's requestPayload) only.
    let akto = FakeAkto::redacting("prod-db", "staging-db");
    let (home, calls) = guarded_home(&model, &akto);

    run_codex_exec(&home, "read the prod secret").assert_success();

    assert_eq!(mcp_calls(&calls), vec![json!({"name": "staging-db"})]);
    assert!(
        model
            .tool_outputs()
            .iter()
            .any(|o| o.contains("secret for staging-db")),
        "tool outputs: {:?}",
        model.tool_outputs()
    );
    let line = logged(&home, "PreToolUse");
    assert_eq!(line["modified"]["what"], "tool_input", "{line}");
    assert_eq!(line["modified"]["outcome"], "applied", "{line}");
}

#[test]
fn a_modified_command_runs_instead_of_the_original() {
    let home = TestHome::new();
    let target = home.workdir.join("written.txt");
    // `tee`, so the command prints and its result is checked too.
    let model = FakeModel::start(&format!("echo original-marker | tee {}", target.display()));
    let akto = FakeAkto::redacting("original-marker", "modified-marker");
    guard_home(&home, &model, &akto);

    let output = run_codex_exec(&home, "write the marker");
    output.assert_success();

    assert_eq!(
        fs::read_to_string(&target).ok().as_deref(),
        Some("modified-marker\n"),
        "the original command ran: {output}"
    );
    let line = logged(&home, "PreToolUse");
    assert_eq!(line["modified"]["what"], "tool_input", "{line}");
    assert_eq!(line["modified"]["outcome"], "applied", "{line}");
    let outputs = model.tool_outputs();
    assert!(
        outputs.iter().any(|o| o.contains("modified-marker"))
            && outputs.iter().all(|o| !o.contains("original-marker")),
        "{outputs:?}"
    );
}

/// `permissionDecision: allow` is how a hook hands Codex an `updatedInput`; it must not
/// also approve a command that asks to leave the sandbox.
#[test]
fn a_modified_escalated_command_still_needs_approval() {
    let home = TestHome::new();
    let target = home.workdir.join("escalated.txt");
    let model = FakeModel::with_calls(&[json!({
        "cmd": format!("echo original-marker | tee {}", target.display()),
        "sandbox_permissions": "require_escalated",
        "justification": "the test needs it",
    })]);
    let akto = FakeAkto::redacting("original-marker", "modified-marker");
    guard_home(&home, &model, &akto);

    codex_guard_e2e::run_codex_exec_with_approvals(&home, "escalate").assert_success();

    assert_eq!(
        fs::read_to_string(&target).ok().as_deref(),
        Some("modified-marker\n")
    );
    // Codex asked for approval of the command as modified, not as the model wrote it.
    let line = logged(&home, "PermissionRequest");
    assert!(
        line["command"]
            .as_str()
            .is_some_and(|c| c.contains("modified-marker") && !c.contains("original")),
        "{line}"
    );
    assert!(
        model.guardian_requests() > 0,
        "the modified command skipped Codex's approval: {line}"
    );
}

/// Why a modified result travels as a blocked result's reason: Codex (0.169 to 0.171)
/// reports a command hook that answers `updatedMCPToolOutput` as failed and gives the
/// model the original result. Should this test
/// start failing, Codex honours the field and the runtime can use it instead.
#[test]
fn codex_ignores_updated_mcp_tool_output_from_a_command_hook() {
    let model = FakeModel::with_mcp_calls(&[("vault", "read_secret", json!({"name": "db"}))]);
    let home = TestHome::with_model(&model);
    home.add_mcp_server(
        "vault",
        std::path::Path::new(env!("CARGO_BIN_EXE_fake-mcp-server")),
        &[SECRET],
    );
    let script = home.workdir.join("replace-output.sh");
    let seen = home.workdir.join("hook-input.json");
    let replacement = json!({"hookSpecificOutput": {"hookEventName": "PostToolUse",
        "updatedMCPToolOutput": {"content": [{"type": "text", "text": "replaced-by-hook"}],
                                 "structuredContent": null}}});
    fs::write(
        &script,
        format!(
            "cat > '{}'\nprintf '%s\\n' '{replacement}'\n",
            seen.display()
        ),
    )
    .unwrap();
    home.add_user_hook("PostToolUse", None, &format!("sh '{}'", script.display()));

    let output = run_codex_exec(&home, "read the db secret");
    output.assert_success();

    let event = fs::read_to_string(&seen).unwrap_or_default();
    assert!(
        event.contains("\"tool_name\":\"mcp__vault__read_secret\""),
        "the hook did not run for the MCP result: {event:?} {output}"
    );
    assert!(
        model.saw_text(SECRET) && !model.saw_text("replaced-by-hook"),
        "Codex now applies updatedMCPToolOutput; tool outputs: {:?}",
        model.tool_outputs()
    );
}

#[test]
fn a_modified_mcp_call_still_needs_approval() {
    let model = FakeModel::with_mcp_calls(&[("vault", "read_secret", json!({"name": "prod-db"}))]);
    let akto = FakeAkto::redacting("prod-db", "staging-db");
    let (home, calls) = guarded_home(&model, &akto);

    codex_guard_e2e::run_codex_exec_with_approvals(&home, "read the prod secret").assert_success();

    assert_eq!(mcp_calls(&calls), vec![json!({"name": "staging-db"})]);
    let line = logged(&home, "PermissionRequest");
    assert!(
        line["command"]
            .as_str()
            .is_some_and(|c| c.contains("staging-db") && !c.contains("prod-db")),
        "{line}"
    );
    assert!(
        model.guardian_requests() > 0,
        "the modified MCP call skipped Codex's approval: {line}"
    );
}

#[test]
fn a_modified_patch_is_what_apply_patch_writes() {
    let home = TestHome::new();
    let target = home.workdir.join("notes.txt");
    let patch = format!(
        "*** Begin Patch\n*** Add File: {}\n+token: original-marker\n*** End Patch\n",
        target.display()
    );
    let model = FakeModel::with_patches(&[&patch]);
    let akto = FakeAkto::redacting("original-marker", "modified-marker");
    guard_home(&home, &model, &akto);
    // Codex offers apply_patch as a freeform tool to this model.
    let config = fs::read_to_string(home.config_toml())
        .unwrap()
        .replace("gpt-5.4", "gpt-5.5");
    fs::write(home.config_toml(), config).unwrap();

    let output = run_codex_exec(&home, "write the notes");
    output.assert_success();

    assert_eq!(
        fs::read_to_string(&target).ok().as_deref(),
        Some("token: modified-marker\n"),
        "the original patch was applied: {output}"
    );
    let line = logged(&home, "PreToolUse");
    assert_eq!(line["tool"], "apply_patch", "{line}");
    assert_eq!(line["modified"]["outcome"], "applied", "{line}");
}
