//! Events built to slip past the parser: nesting deeper than `serde_json`'s recursion
//! limit, malformed or oversized input. Each must still get the local rules and, in
//! an install that fails closed, a block.

use crate::common::{stdout_json, ClosedPort, Home};
use codex_guard_e2e::process::deny_reason;
use std::time::Instant;

/// An MCP write of `~/.codex/hooks.json` whose arguments carry `levels` nested arrays.
fn deep_mcp_write(levels: usize) -> Vec<u8> {
    let mut event = String::with_capacity(2 * levels + 300);
    event.push_str(
        r#"{"session_id":"s","turn_id":"t","cwd":"/work","hook_event_name":"PreToolUse","tool_name":"mcp__fs__write_file","tool_input":{"path":"~/.codex/hooks.json","content":"{}","pad":"#,
    );
    event.push_str(&"[".repeat(levels));
    event.push_str(&"]".repeat(levels));
    event.push_str("}}");
    event.into_bytes()
}

/// The pack check that protects the Codex home.
const GUARD_RULE: &str = "guard-tamper/change-guard-files";

fn guarded(reason: &str) -> bool {
    reason.starts_with(&format!("Blocked by codex-guard rule {GUARD_RULE}: "))
}

#[test]
fn a_deeply_nested_mcp_write_to_hooks_json_is_blocked_at_any_depth() {
    let home = Home::new("");
    for levels in [10, 125, 126, 1000, 100_000] {
        let out = home.run(&deep_mcp_write(levels));
        let reason = deny_reason(&out);
        assert!(guarded(&reason), "{levels}: {reason}");
    }
    let log = home.log();
    assert_eq!(log.len(), 5);
    assert!(
        log.iter().all(|l| l["decision"] == "block"
            && l["rule"] == GUARD_RULE
            && l["source"] == format!("rule:{GUARD_RULE}")),
        "{log:#?}"
    );
}

#[test]
fn millions_of_levels_are_no_bypass() {
    // 8 MiB of nesting, four million levels: the parser has no depth to exhaust (a
    // release build decides on a full 64 MiB of it in about 3 s, as fast as on
    // 64 MiB of flat text; a debug build takes ten times that, too long for here).
    let levels = 4 * 1024 * 1024;
    let event = deep_mcp_write(levels);
    let home = Home::new("");
    let started = Instant::now();
    let reason = deny_reason(&home.run(&event));
    assert!(guarded(&reason), "{reason}");
    eprintln!("{levels} levels decided in {:?}", started.elapsed());
}

/// A PreToolUse cut short, so it is no JSON at all.
fn truncated_pre_tool_use(command: &str) -> Vec<u8> {
    let mut event = crate::common::pre_tool_use(command);
    event.truncate(event.len() - 2);
    event
}

#[test]
fn an_unparsable_event_still_gets_the_deny_rules() {
    let home = Home::new("");
    let reason = deny_reason(&home.run(&truncated_pre_tool_use("rm -rf ~")));
    assert!(
        reason.starts_with("Blocked by codex-guard rule filesystem/recursive-delete: "),
        "{reason}"
    );
    // Nothing denies it and the install fails open: it goes through, logged as such.
    let out = home.run(&truncated_pre_tool_use("ls"));
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    let log = home.log();
    assert_eq!(log[1]["event"], "PreToolUse");
    assert_eq!(log[1]["source"], "fail-open");
    assert!(log[1]["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("stdin is not JSON"));
}

#[test]
fn an_unparsable_blockable_event_is_blocked_when_failing_closed() {
    let port = ClosedPort::reserve();
    let home = Home::remote(
        &format!("http://127.0.0.1:{}", port.port),
        "fail_closed = true\n",
    );
    let reason = deny_reason(&home.run(&truncated_pre_tool_use("ls")));
    assert!(reason.contains("could not read this event"), "{reason}");
    let prompt = br#"{"hook_event_name":"UserPromptSubmit","session_id":"s","prompt":"hi"#;
    assert_eq!(stdout_json(&home.run(prompt))["decision"], "block");
    // Larger than the input limit: read leniently from its beginning, and blocked.
    let mut big = crate::common::pre_tool_use("ls");
    big.resize(codex_guard_hook::input::MAX_INPUT_BYTES + 10, b' ');
    let reason = deny_reason(&home.run(&big));
    assert!(reason.contains("could not read this event"), "{reason}");
    // Not even an event name: exit 2, which Codex takes as a block of a tool call.
    let out = home.run(b"\xff\xfe not an event");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fail closed"));
    let log = home.log();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|l| l["decision"] == "block"), "{log:#?}");
    assert!(log.iter().all(|l| l["source"] == "fail-closed"), "{log:#?}");
    // An event that cannot be blocked is not: a session is never broken by it.
    let start = br#"{"hook_event_name":"SessionStart","session_id":"s""#;
    let out = home.run(start);
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
}
