//! The hook's stdin: whatever Codex (or anything else) writes there, the runtime
//! never panics, and what it forwards of a tool's input is the input untouched.
#![no_main]

use codex_guard_hook::input::HookInput;
use codex_guard_hook::protect::PathContext;
use codex_guard_hook::redact;
use codex_guard_hook::rules::Rules;
use libfuzzer_sys::fuzz_target;

thread_local! {
    /// The shipped default rules, for every event (built once: libFuzzer runs one thread).
    static RULES: Rules = {
        let mut problems = Vec::new();
        let rules = Rules::parse(
            include_str!("../../templates/rules.toml"),
            None,
            &mut problems,
        )
        .expect("the shipped rules parse");
        assert!(problems.is_empty(), "{problems:?}");
        rules
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = HookInput::parse(data) else {
        return;
    };
    // Parsed from the same bytes, the raw object is exactly the JSON that came in.
    let reparsed: serde_json::Value = serde_json::from_slice(data).expect("parse accepted it");
    assert_eq!(reparsed.get("tool_input"), input.raw.get("tool_input"));
    if let Some(tool_input) = input.raw.get("tool_input") {
        assert_eq!(input.tool_input(), tool_input);
    }
    let _ = input.tool_name();
    let _ = input.is_shell_tool() || input.is_patch_tool() || input.is_mcp_tool();
    let _ = input.shell_command();
    let _ = input.mcp_arguments();
    let _ = input.patch_paths();
    let _ = input.file_paths();
    if let Some(text) = input.command_text() {
        let redacted = redact::redact(&text);
        let excerpt = redact::excerpt(&text, 200);
        assert!(excerpt.chars().count() <= 201, "{excerpt:?}");
        let _ = redacted;
    }
    // A home that exists nowhere: resolving paths reads nothing real.
    let env = |k: &str| (k == "HOME").then(|| "/nonexistent/home/fuzz".to_string());
    let paths = PathContext::from_env(&env, std::path::Path::new("/nonexistent/root"));
    RULES.with(|rules| {
        let _ = rules.evaluate(&input, &paths);
    });
});
