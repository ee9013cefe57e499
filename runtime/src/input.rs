//! The event Codex sends on stdin, read tolerantly: only `hook_event_name` is
//! required, every other field is optional, unknown fields are kept, and
//! `tool_input` stays the raw JSON value so it is forwarded untouched.

use serde_json::{Map, Value};
use std::io::Read;
use std::time::Instant;

/// Largest event accepted on stdin; anything bigger is not a Codex event.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HookInput {
    pub event: String,
    pub raw: Map<String, Value>,
}

impl HookInput {
    /// Parses stdin's bytes. The error is a one-line reason for the log.
    pub fn parse(bytes: &[u8]) -> Result<HookInput, String> {
        let text = std::str::from_utf8(bytes).map_err(|e| format!("stdin is not UTF-8: {e}"))?;
        if text.trim().is_empty() {
            return Err("stdin is empty".into());
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("stdin is not JSON: {e}"))?;
        let Value::Object(raw) = value else {
            return Err("stdin is JSON but not an object".into());
        };
        let event = match raw.get("hook_event_name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err("the event has no hook_event_name".into()),
        };
        Ok(HookInput { event, raw })
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.raw.get(key).and_then(Value::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.raw.get(key).filter(|v| !v.is_null())
    }

    pub fn tool_name(&self) -> Option<&str> {
        self.str("tool_name").filter(|s| !s.is_empty())
    }

    /// The raw tool input (`null` when absent).
    pub fn tool_input(&self) -> &Value {
        self.raw.get("tool_input").unwrap_or(&Value::Null)
    }

    /// The text a rule or a person would call "the command": `tool_input.command`
    /// when it is a string (Bash, apply_patch), else the input's JSON.
    pub fn command_text(&self) -> Option<String> {
        match self.tool_input() {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Object(map) => match map.get("command").or_else(|| map.get("cmd")) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Array(parts)) if parts.iter().all(Value::is_string) => Some(
                    parts
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => Some(Value::Object(map.clone()).to_string()),
            },
            other => Some(other.to_string()),
        }
    }
}

/// Reads all of stdin, giving up at `deadline` so a writer that never closes the
/// pipe cannot hang the hook.
pub fn read_stdin(deadline: Instant) -> Result<Vec<u8>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let result = std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut buf)
            .map(|_| buf);
        let _ = tx.send(result);
    });
    let wait = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(wait) {
        Ok(Ok(buf)) if buf.len() as u64 > MAX_INPUT_BYTES => Err(format!(
            "stdin is larger than {} MiB",
            MAX_INPUT_BYTES / 1024 / 1024
        )),
        Ok(Ok(buf)) => Ok(buf),
        Ok(Err(e)) => Err(format!("cannot read stdin: {e}")),
        Err(_) => Err("stdin was not closed before the deadline".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"   ",
            b"\xff\xfe",
            b"[1,2]",
            b"{\"a\":1}",
            b"{\"hook_event_name\":7}",
            b"{not json",
        ] {
            assert!(HookInput::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_fields_and_raw_tool_input_are_kept() {
        let input = HookInput::parse(
            br#"{"hook_event_name":"PreToolUse","tool_name":"mcp__gh__create_issue",
                 "tool_input":{"title":"x","labels":["a"]},"future_field":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(input.event, "PreToolUse");
        assert_eq!(input.tool_input()["labels"][0], "a");
        assert!(input.raw.contains_key("future_field"));
        assert_eq!(
            input.command_text().unwrap(),
            r#"{"title":"x","labels":["a"]}"#
        );
    }

    #[test]
    fn command_text_of_bash_is_the_command() {
        let input = HookInput::parse(
            br#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls -la"}}"#,
        )
        .unwrap();
        assert_eq!(input.command_text().as_deref(), Some("ls -la"));
    }
}
