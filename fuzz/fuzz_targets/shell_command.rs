//! A shell command as a Bash tool call: the parser, the expansion and every pack
//! (through the shipped rules) never panic on any text, and decide within the
//! hook's deadline however the text is built.
#![no_main]

use codex_guard_hook::input::HookInput;
use codex_guard_hook::protect::PathContext;
use codex_guard_hook::rules::Rules;
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

/// The hook's shortest deadline for its whole run; the analysis alone stays far
/// below it (a 1 MB command takes milliseconds).
const DEADLINE: Duration = Duration::from_secs(2);

thread_local! {
    static RULES: Rules = {
        let mut problems = Vec::new();
        let rules = Rules::parse(include_str!("../../templates/rules.toml"), None, &mut problems)
            .expect("the shipped rules parse");
        assert!(problems.is_empty(), "{problems:?}");
        rules
    };
}

fn paths() -> PathContext {
    let env = |k: &str| match k {
        "HOME" => Some("/nonexistent/home/fuzz".to_string()),
        "USER" => Some("fuzz".to_string()),
        _ => None,
    };
    PathContext::from_env(&env, std::path::Path::new("/nonexistent/root"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(command) = std::str::from_utf8(data) else {
        return;
    };
    let event = serde_json::json!({
        "hook_event_name": "PreToolUse", "cwd": "/nonexistent/home/fuzz/project",
        "tool_name": "Bash", "tool_input": {"command": command},
    });
    let input = HookInput::parse(event.to_string().as_bytes()).expect("a well-formed event");
    let started = Instant::now();
    RULES.with(|rules| {
        let _ = rules.evaluate(&input, &paths());
    });
    assert!(
        started.elapsed() < DEADLINE,
        "{:?} for {} bytes",
        started.elapsed(),
        data.len()
    );
});
