//! Codex's hook trust records, computed independently of the installer: a user hook only
//! runs when `config.toml` holds the hash Codex expects, and the suite needs its own
//! trusted user hook to prove setup leaves other people's hooks working.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::Path;

/// Codex's default handler timeout in seconds, which goes into the hash when absent.
const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// The timeout Codex actually applies (and hashes): SessionEnd and Interrupt hooks run
/// while Codex shuts down, so it gives them 1 s by default and at most 3 s.
fn effective_timeout(event: &str, timeout: Option<u64>) -> u64 {
    match event {
        "SessionEnd" | "Interrupt" => timeout.unwrap_or(1).clamp(1, 3),
        _ => timeout.unwrap_or(DEFAULT_TIMEOUT_SECS),
    }
}

/// The `snake_case` event name Codex uses in trust keys and hashes.
pub fn snake_event(event: &str) -> String {
    let mut snake = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    snake
}

/// Events whose matcher Codex ignores, and so leaves out of the hash.
fn drops_matcher(event: &str) -> bool {
    matches!(
        event,
        "UserPromptSubmit" | "Stop" | "PreModelRequest" | "PostModelRequest" | "Interrupt"
    )
}

/// The `[hooks.state."<key>"]` key of one handler. `hooks_file` must be the canonical
/// path Codex sees (it canonicalizes `CODEX_HOME`).
pub fn trust_key(hooks_file: &Path, event: &str, group: usize, handler: usize) -> String {
    format!(
        "{}:{}:{group}:{handler}",
        hooks_file.display(),
        snake_event(event)
    )
}

/// `sha256:<hex>` of one handler of a `hooks.json` matcher group, as Codex computes it.
pub fn trust_hash(event: &str, group: &Value, handler: usize) -> String {
    let source = &group["hooks"][handler];
    let mut normalized = Map::new();
    normalized.insert("type".into(), "command".into());
    normalized.insert("command".into(), source["command"].clone());
    normalized.insert(
        "timeout".into(),
        effective_timeout(event, source["timeout"].as_u64()).into(),
    );
    normalized.insert(
        "async".into(),
        source["async"].as_bool().unwrap_or(false).into(),
    );
    if let Some(message) = source.get("statusMessage") {
        normalized.insert("statusMessage".into(), message.clone());
    }

    let mut identity = Map::new();
    identity.insert("event_name".into(), snake_event(event).into());
    if let Some(matcher) = group.get("matcher").filter(|_| !drops_matcher(event)) {
        identity.insert("matcher".into(), matcher.clone());
    }
    identity.insert(
        "hooks".into(),
        Value::Array(vec![Value::Object(normalized)]),
    );
    format!(
        "sha256:{}",
        sha256_hex(canonical_json(&Value::Object(identity)).as_bytes())
    )
}

/// Compact JSON with object keys sorted at every level (`serde_json` keeps insertion
/// order in this workspace, so sorting has to be done by hand).
pub fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::from(k.as_str()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        scalar => scalar.to_string(),
    }
}

/// A TOML basic string holding `text` (for keys with spaces, colons and quotes).
pub fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // Writing to a String cannot fail.
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snake_names() {
        assert_eq!(snake_event("PreToolUse"), "pre_tool_use");
        assert_eq!(snake_event("Stop"), "stop");
        assert_eq!(snake_event("UserPromptSubmit"), "user_prompt_submit");
    }

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let value = json!({"b": [{"z": 1, "a": "x y"}], "a": null});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":null,"b":[{"a":"x y","z":1}]}"#
        );
    }

    #[test]
    fn toml_strings_escape_quotes() {
        assert_eq!(toml_string(r#"a "b"\c"#), r#""a \"b\"\\c""#);
    }
}
