//! End-to-end scenarios: `codex-guard setup` on a user's Codex home, then the real Codex
//! running a scripted turn against a fake model, with the hook runtime talking to a fake
//! Akto. Each test has its own servers and temp home, so they run in parallel.

use codex_guard_e2e::fake_model::FINAL_MESSAGE;
use codex_guard_e2e::guard;
use codex_guard_e2e::{
    list_hooks, run_codex_exec, run_codex_exec_with_approvals, wait_until, AktoRequest, FakeAkto,
    FakeModel, TestHome,
};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::fs;
use std::time::Duration;

/// How long to wait for effects that may land just after Codex exits.
const SETTLE: Duration = Duration::from_secs(10);

/// The events one `codex exec` turn with one tool call fires (without approvals).
const TURN_EVENTS: [&str; 5] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Stop",
];

/// Every event setup registers.
const GUARD_EVENTS: [&str; 6] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "Stop",
];

/// Runs setup and checks it reports a change.
#[track_caller]
fn setup_changed(home: &TestHome, akto: &FakeAkto, extra: &[&str]) {
    let (output, report) = guard::setup(home, &akto.url(), extra);
    output.assert_success();
    assert_eq!(report["status"], "changed", "{output}");
}

/// One line per Akto call, for failure messages.
fn summary(requests: &[AktoRequest]) -> String {
    requests
        .iter()
        .map(|r| {
            format!(
                "  {} {} hook={:?} statusCode={}",
                r.method,
                r.target,
                r.hook(),
                r.body["statusCode"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until the fake Akto has heard about every one of `events`.
#[track_caller]
fn assert_akto_saw(akto: &FakeAkto, events: &[&str]) {
    let all_seen = wait_until(SETTLE, || {
        events.iter().all(|e| !akto.requests_for(e).is_empty())
    });
    assert!(
        all_seen,
        "Akto did not receive all of {events:?}; it got:\n{}",
        summary(&akto.requests())
    );
}

/// Waits until the runtime's log has a line for every one of `events`, each with a decision.
#[track_caller]
fn assert_logged(home: &TestHome, events: &[&str]) -> Vec<Value> {
    let has = |lines: &[Value], event: &str| lines.iter().any(|l| l["event"] == event);
    wait_until(SETTLE, || {
        let lines = home.events();
        events.iter().all(|e| has(&lines, e))
    });
    let lines = home.events();
    for event in events {
        assert!(
            has(&lines, event),
            "{} has no line for {event}:\n{lines:#?}",
            home.events_log().display()
        );
    }
    for line in &lines {
        assert!(
            line.get("event").is_some() && line.get("decision").is_some(),
            "events.jsonl line without `event` and `decision`: {line}"
        );
    }
    lines
}

#[test]
fn setup_then_a_harmless_command_is_guarded_end_to_end() {
    let home = TestHome::new();
    let target = home.workdir.join("harmless.txt");
    // `tee` rather than `>`: the command must print something, as the runtime sends no
    // PostToolUse for a tool that returned nothing (there is no result to check).
    let command = format!("echo e2e-harmless | tee {}", target.display());
    let model = FakeModel::start(&command);
    home.configure(&model);
    let akto = FakeAkto::start();
    setup_changed(&home, &akto, &[]);

    let output = run_codex_exec(&home, "write the harmless file");
    output.assert_success();

    assert_eq!(
        fs::read_to_string(&target).ok().as_deref(),
        Some("e2e-harmless\n"),
        "the allowed command did not run: {output}"
    );
    assert_eq!(
        home.user_hook_runs(),
        1,
        "the user's own hook stopped firing after setup: {output}"
    );
    assert_akto_saw(&akto, &TURN_EVENTS);
    assert!(
        akto.requests_for("SessionStart")
            .iter()
            .any(|r| r.has_query_pair("client_hook=SessionStart")),
        "no SessionStart call with client_hook=SessionStart:\n{}",
        summary(&akto.requests())
    );
    assert_logged(&home, &TURN_EVENTS);

    // The PreToolUse verdict request, field by field against the Akto contract.
    let pre = akto.requests_for("PreToolUse");
    let request = pre
        .iter()
        .find(|r| r.asks_guardrails())
        .unwrap_or_else(|| panic!("no PreToolUse verdict request:\n{}", summary(&pre)));
    assert_eq!(request.method, "POST");
    assert_eq!(request.path(), "/api/http-proxy");
    assert_eq!(
        request.query(),
        "guardrails=true&akto_connector=codex_cli&ingest_data=true"
    );
    assert_eq!(request.body["path"], "/tool/Bash", "{:#}", request.body);
    let payload = request
        .request_payload()
        .unwrap_or_else(|| panic!("requestPayload is not a JSON string: {:#}", request.body));
    assert_eq!(
        payload["body"],
        json!({ "command": command }),
        "{payload:#}"
    );
    assert_eq!(payload["toolName"], "Bash", "{payload:#}");
    let headers = request
        .request_headers()
        .unwrap_or_else(|| panic!("requestHeaders is not a JSON string: {:#}", request.body));
    assert!(headers.get("host").is_some(), "{headers:#}");
    assert_eq!(headers["x-codex-hook"], "PreToolUse", "{headers:#}");
    assert!(headers.get("content-type").is_some(), "{headers:#}");
    // Every record of the session names it where Akto's guardrail service reads it,
    // with the permission mode Codex ran under.
    let session = headers["x-akto-installer-session_id"].clone();
    assert!(
        session.as_str().is_some_and(|s| !s.is_empty()),
        "{headers:#}"
    );
    for record in akto.requests() {
        let headers = record.request_headers().expect("requestHeaders");
        if headers.get("x-codex-guard-probe").is_some() {
            continue; // setup's check of the service, which stores nothing
        }
        assert_eq!(
            headers["x-akto-installer-akto_session_id"], session,
            "{headers:#}"
        );
        if record.hook().as_deref() != Some("SessionStart") {
            assert!(
                headers["x-akto-installer-permission_mode"].is_string(),
                "{headers:#}"
            );
        }
    }

    // The prompt, and at Stop the prompt read back from Codex's transcript with the answer.
    let prompt_request = &akto.requests_for("UserPromptSubmit")[0];
    assert_eq!(
        prompt_request.request_payload(),
        Some(json!({ "body": "write the harmless file" })),
        "{:#}",
        prompt_request.body
    );
    let stop = &akto.requests_for("Stop")[0];
    assert_eq!(
        stop.request_payload(),
        Some(json!({ "body": "write the harmless file" })),
        "{:#}",
        stop.body
    );
    assert_eq!(
        stop.json_string_field("responsePayload"),
        Some(json!({ "body": FINAL_MESSAGE })),
        "{:#}",
        stop.body
    );
}

#[test]
fn akto_deny_blocks_the_command_and_tells_the_model() {
    let home = TestHome::new();
    let target = home.workdir.join("rm-me-marker");
    let model = FakeModel::start(&format!("touch {}", target.display()));
    home.configure(&model);
    let akto = FakeAkto::deny_containing("rm-me-marker", "dangerous command");
    setup_changed(&home, &akto, &[]);

    let output = run_codex_exec(&home, "create the marker");
    output.assert_success();

    assert!(!target.exists(), "the denied command ran anyway: {output}");
    assert!(
        model
            .tool_outputs()
            .iter()
            .any(|o| o.contains("dangerous command")),
        "the block reason never reached the model; tool outputs: {:?}",
        model.tool_outputs()
    );
    let reingested = wait_until(SETTLE, || {
        akto.requests()
            .iter()
            .any(|r| r.body["statusCode"] == "403" && !r.has_query_pair("guardrails=true"))
    });
    assert!(
        reingested,
        "no 403 re-ingest of the block:\n{}",
        summary(&akto.requests())
    );
    let lines = assert_logged(&home, &["PreToolUse"]);
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "PreToolUse" && l["decision"] == "block"),
        "no PreToolUse block in events.jsonl:\n{lines:#?}"
    );
}

#[test]
fn observe_mode_reports_but_never_blocks() {
    let home = TestHome::new();
    let target = home.workdir.join("rm-me-marker");
    let model = FakeModel::start(&format!("touch {}", target.display()));
    home.configure(&model);
    let akto = FakeAkto::deny_containing("rm-me-marker", "dangerous command");
    setup_changed(&home, &akto, &["--observe"]);

    let output = run_codex_exec(&home, "create the marker");
    output.assert_success();

    assert!(
        target.exists(),
        "observe mode blocked the command: {output}"
    );
    assert_akto_saw(&akto, &["PreToolUse"]);
    let pre = akto.requests_for("PreToolUse");
    assert!(
        pre.iter()
            .any(|r| r.query() == "akto_connector=codex_cli&ingest_data=true"),
        "no PreToolUse ingest with query akto_connector=codex_cli&ingest_data=true:\n{}",
        summary(&pre)
    );
    assert!(
        pre.iter().all(|r| !r.asks_guardrails()),
        "observe mode asked for a verdict:\n{}",
        summary(&pre)
    );
    assert_logged(&home, &["PreToolUse"]);
}

#[test]
fn second_setup_changes_nothing() {
    let model = FakeModel::start("true");
    let home = TestHome::with_model(&model);
    let original_config = home.read(&home.config_toml());
    let akto = FakeAkto::start();
    setup_changed(&home, &akto, &[]);

    let config = home.read(&home.config_toml());
    for line in original_config.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            config.lines().any(|l| l == line),
            "setup lost the user's line {line:?} from config.toml:\n{config}"
        );
    }
    let hooks = home.read(&home.hooks_json());
    assert!(
        hooks.contains("user-hook-ran"),
        "setup dropped the user's own hook from hooks.json:\n{hooks}"
    );

    let (output, report) = guard::setup(&home, &akto.url(), &[]);
    output.assert_success();
    assert_eq!(report["status"], "unchanged", "{output}");
    assert_eq!(
        home.read(&home.config_toml()),
        config,
        "config.toml changed"
    );
    assert_eq!(home.read(&home.hooks_json()), hooks, "hooks.json changed");
}

#[test]
fn codex_lists_every_guard_hook_as_trusted() {
    let model = FakeModel::start("true");
    let home = TestHome::with_model(&model);
    let akto = FakeAkto::start();
    setup_changed(&home, &akto, &[]);

    let hooks = list_hooks(&home);
    let describe = || {
        hooks
            .iter()
            .map(|h| format!("  {} {} {}", h["eventName"], h["trustStatus"], h["command"]))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for event in GUARD_EVENTS {
        // hooks/list names events in camelCase.
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
        assert_eq!(
            ours.len(),
            1,
            "expected one codex-guard {event} hook:\n{}",
            describe()
        );
        assert_eq!(
            ours[0]["trustStatus"],
            "trusted",
            "codex-guard's {event} hook will not run:\n{}",
            describe()
        );
    }
    let user = hooks
        .iter()
        .find(|h| h["command"] == home.user_hook_command().as_str())
        .unwrap_or_else(|| panic!("the user's hook is gone:\n{}", describe()));
    assert_eq!(user["trustStatus"], "trusted", "{}", describe());
}

/// What one escalated command came to.
struct Escalation {
    /// The command ran.
    ran: bool,
    /// The runtime's log line for the PermissionRequest.
    line: Value,
    /// Verdicts Codex's own approval reviewer was asked for.
    reviewer_asked: usize,
}

/// Sets codex-guard up, adds a PermissionRequest rule `(id, action)` for
/// `touch <workdir>/<file>` when given, and runs `codex exec --approve-for-me` with a
/// model that asks to run that command outside the sandbox.
fn escalate(file: &str, rule: Option<(&str, &str)>) -> Escalation {
    let home = TestHome::new();
    let target = home.workdir.join(file);
    let model = FakeModel::with_calls(&[json!({
        "cmd": format!("touch {}", target.display()),
        "sandbox_permissions": "require_escalated",
        "justification": "the test needs it",
    })]);
    home.configure(&model);
    let akto = FakeAkto::start();
    setup_changed(&home, &akto, &[]);
    if let Some((id, action)) = rule {
        let rules_file = home.codex_home.join("codex-guard/rules.toml");
        let mut text = fs::read_to_string(&rules_file).unwrap();
        // Writing to a String cannot fail.
        let _ = write!(
            text,
            "\n[[rule]]\nid = \"{id}\"\naction = \"{action}\"\nevents = [\"PermissionRequest\"]\n\
             command = '^touch \\S*/{}$'\n",
            file.replace('.', "\\.")
        );
        fs::write(&rules_file, text).unwrap();
    }
    run_codex_exec_with_approvals(&home, "escalate").assert_success();
    let line = assert_logged(&home, &["PreToolUse", "PermissionRequest"])
        .into_iter()
        .find(|l| l["event"] == "PermissionRequest")
        .unwrap();
    Escalation {
        ran: target.exists(),
        line,
        reviewer_asked: model.guardian_requests(),
    }
}

#[test]
fn permission_request_without_a_rule_is_left_to_codex() {
    let e = escalate("escalated.txt", None);
    assert!(e.ran, "the approved command did not run: {}", e.line);
    assert_eq!(e.line["decision"], "allow", "{}", e.line);
    assert!(e.line["rule"].is_null(), "{}", e.line);
    assert!(
        e.reviewer_asked > 0,
        "with no decision from the hook, Codex's own reviewer decides"
    );
}

#[test]
fn permission_request_allow_rule_approves_without_asking() {
    let e = escalate("approved.txt", Some(("allow-touch-approved", "allow")));
    assert!(e.ran, "the approved command did not run: {}", e.line);
    assert_eq!(e.line["rule"], "allow-touch-approved", "{}", e.line);
    assert_eq!(
        e.reviewer_asked, 0,
        "the rule approved it, nobody was asked"
    );
}

#[test]
fn permission_request_deny_rule_refuses() {
    let e = escalate("refused.txt", Some(("no-escalated-touch", "deny")));
    assert!(!e.ran, "the refused command ran: {}", e.line);
    assert_eq!(e.line["decision"], "block", "{}", e.line);
    assert_eq!(e.line["rule"], "no-escalated-touch", "{}", e.line);
    assert_eq!(e.reviewer_asked, 0);
}

#[test]
fn setup_through_a_symlinked_codex_home_writes_trust_codex_accepts() {
    let model = FakeModel::start("true");
    let home = TestHome::with_model(&model);
    // Codex canonicalizes CODEX_HOME before it builds trust keys (on macOS /tmp itself is
    // a symlink), so setup given a symlinked path must still write keys Codex matches.
    let link = home
        .home
        .parent()
        .expect("home has a parent")
        .join("linked home");
    std::os::unix::fs::symlink(&home.home, &link).expect("create a symlink to the home");
    let linked_codex_home = link.join(".codex").display().to_string();
    let akto = FakeAkto::start();
    let output = guard::run_guard(
        &home,
        &[
            "setup",
            "--codex-home",
            &linked_codex_home,
            "--url",
            &akto.url(),
            "--silent",
            "--yes",
            "--json",
        ],
    );
    output.assert_success();

    let hooks = list_hooks(&home);
    let ours = hooks
        .iter()
        .filter(|h| {
            h["command"]
                .as_str()
                .is_some_and(|c| c.contains("codex-guard-hook"))
        })
        .count();
    assert_eq!(
        ours,
        GUARD_EVENTS.len(),
        "setup did not register every hook: {hooks:#?}"
    );
    let untrusted: Vec<String> = hooks
        .iter()
        .filter(|h| h["trustStatus"] != "trusted")
        .map(|h| format!("  {} {} {}", h["eventName"], h["trustStatus"], h["key"]))
        .collect();
    assert!(
        untrusted.is_empty(),
        "hooks Codex will not run after setup via {linked_codex_home}:\n{}",
        untrusted.join("\n")
    );
}
