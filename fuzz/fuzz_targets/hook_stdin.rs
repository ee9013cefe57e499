//! The hook's stdin: whatever Codex (or anything else) writes there, the runtime
//! never panics, and what it forwards of a tool's input is the input untouched (but
//! for containers nested deeper than `MAX_NESTING`, kept as their JSON text). What
//! it cannot parse it reads leniently, and the rules still run on that.
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

/// A home that exists nowhere: resolving paths reads nothing real.
fn paths() -> PathContext {
    let env = |k: &str| (k == "HOME").then(|| "/nonexistent/home/fuzz".to_string());
    PathContext::from_env(&env, std::path::Path::new("/nonexistent/root"))
}

fuzz_target!(|data: &[u8]| {
    let input = match HookInput::parse(data) {
        Ok(input) => input,
        Err(_) => {
            if let Some(input) = HookInput::lenient(data) {
                assert!(!input.event.is_empty());
                let _ = input.file_paths();
                RULES.with(|rules| {
                    let _ = rules.evaluate(&input, &paths());
                });
            }
            return;
        }
    };
    // Parsed from the same bytes, the raw object is exactly the JSON that came in,
    // with containers nested too deep for the parser kept as their text.
    let text = std::str::from_utf8(data).expect("parse accepted it");
    let flattened = codex_guard_hook::input::flatten_deep(text);
    let reparsed: serde_json::Value = serde_json::from_str(&flattened).expect("parse accepted it");
    assert_eq!(reparsed.get("tool_input"), input.raw.get("tool_input"));
    if matches!(flattened, std::borrow::Cow::Borrowed(_)) {
        let original: serde_json::Value = serde_json::from_slice(data).expect("nothing too deep");
        assert_eq!(original.get("tool_input"), input.raw.get("tool_input"));
    }
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
    RULES.with(|rules| {
        let _ = rules.evaluate(&input, &paths());
    });
});
