//! What the guardrail service changed, applied. Akto may allow an event with
//! `Modified: true` and a `ModifiedPayload`: the payload of the record it was sent,
//! rewritten (secrets or personal data redacted). This module reads that payload back
//! into what Codex takes: a tool input (PreToolUse `updatedInput`) or the tool result
//! the model sees (PostToolUse). Nothing here ever fails the event: a payload that
//! cannot be read is reported, and the caller's fail policy decides.

use crate::akto::ToolKind;
use serde_json::{json, Map, Value};

/// One modification, as the audit log records it: what was changed and by how much,
/// never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `tool_input`, `tool_result`, `prompt` or `response`.
    pub what: &'static str,
    /// Size of the original (the tool input's JSON, the result's text).
    pub bytes_before: usize,
    /// Size of the replacement, when one could be read.
    pub bytes_after: Option<usize>,
    pub outcome: Outcome,
    /// Why the modification could not be applied.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Codex was given the service's version.
    Applied,
    /// The service's version is the original: nothing to change.
    Unchanged,
    /// It could not be applied and the install fails closed: the call was denied,
    /// or the result withheld from the model.
    Withheld,
    /// It could not be applied (unreadable, or Codex cannot replace this event's
    /// content): the original went ahead.
    NotApplied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Withheld => "withheld",
            Outcome::NotApplied => "not-applied",
        }
    }
}

impl Change {
    /// The audit log's `modified` object.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("what".into(), self.what.into());
        out.insert("bytes_before".into(), self.bytes_before.into());
        out.insert("bytes_after".into(), json!(self.bytes_after));
        out.insert("outcome".into(), self.outcome.as_str().into());
        if let Some(error) = &self.error {
            out.insert("error".into(), error.clone().into());
        }
        Value::Object(out)
    }
}

/// The line that precedes a replaced tool result, so the model knows the gaps are
/// deliberate and does not try to fetch what was removed.
pub const RESULT_NOTE: &str =
    "[codex-guard: the guardrail service modified this tool result before it reached you]";

/// Reads a `ModifiedPayload`: Akto sends the rewritten payload as JSON text; a
/// payload sent as JSON itself is taken as is.
fn parse(payload: &Value) -> Result<Value, String> {
    match payload {
        Value::Null => {
            Err("the guardrail service answered Modified without a ModifiedPayload".into())
        }
        Value::String(text) => serde_json::from_str(text).map_err(|e| {
            format!(
                "the ModifiedPayload is not JSON ({e}; {} bytes)",
                text.len()
            )
        }),
        other => Ok(other.clone()),
    }
}

/// The tool input the service wants run instead of `original`: `params.arguments` of
/// the JSON-RPC `tools/call` for an MCP tool, `body` for a built-in one (the shapes
/// of the record's `requestPayload`). A replacement must be an object that keeps
/// every top-level key of the original: a redaction changes values, and a payload
/// that lost a key is not one this runtime can vouch for.
pub fn tool_input(tool_name: &str, original: &Value, payload: &Value) -> Result<Value, String> {
    let parsed = parse(payload)?;
    let (found, place) = match ToolKind::of(tool_name) {
        ToolKind::Mcp { .. } => (
            parsed.get("params").and_then(|p| p.get("arguments")),
            "params.arguments",
        ),
        ToolKind::BuiltIn(_) => (parsed.get("body"), "body"),
    };
    let Some(found) = found else {
        return Err(format!("the modified tool input has no {place}"));
    };
    let Value::Object(new) = found else {
        return Err(format!(
            "the modified tool input's {place} is not an object"
        ));
    };
    if let Value::Object(old) = original {
        if let Some(key) = old.keys().find(|k| !new.contains_key(*k)) {
            return Err(format!("the modified tool input lost the key {key:?}"));
        }
    }
    Ok(found.clone())
}

/// The text the model is to see instead of a tool's result. Accepted shapes: the
/// record's `responsePayload` rewritten (`{"jsonrpc":..,"result":<CallToolResult>}`
/// for an MCP tool, `{"body":{"result":..}}` for a built-in one), and Akto's
/// field-extraction answer `{"text": "..."}`.
pub fn tool_result(tool_name: &str, payload: &Value) -> Result<String, String> {
    let parsed = parse(payload)?;
    let found = match ToolKind::of(tool_name) {
        ToolKind::Mcp { .. } => parsed.get("result").map(|result| {
            // A result that was not an object travels as {"output": ...}.
            match result.as_object() {
                Some(o) if o.len() == 1 && o.contains_key("output") => &o["output"],
                _ => result,
            }
        }),
        ToolKind::BuiltIn(_) => parsed.get("body").and_then(|b| b.get("result")),
    };
    let found = found.or_else(|| match parsed.as_object() {
        Some(o) if o.len() == 1 && o.get("text").is_some_and(Value::is_string) => o.get("text"),
        _ => None,
    });
    match found {
        Some(result) => Ok(result_text(result)),
        None => Err("the modified tool result has none of the shapes codex-guard sends".into()),
    }
}

/// A tool result as the text the model reads: an MCP result's text content (other
/// content items and `structuredContent` as JSON), a string as is, anything else
/// as JSON.
pub fn result_text(result: &Value) -> String {
    match result {
        Value::String(s) => s.clone(),
        Value::Object(o) if o.contains_key("content") || o.contains_key("structuredContent") => {
            let mut parts: Vec<String> = Vec::new();
            for item in o
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match (item.get("type").and_then(Value::as_str), item.get("text")) {
                    (Some("text"), Some(Value::String(text))) => parts.push(text.clone()),
                    _ => parts.push(item.to_string()),
                }
            }
            if parts.is_empty() {
                if let Some(structured) = o.get("structuredContent").filter(|v| !v.is_null()) {
                    parts.push(structured.to_string());
                }
            }
            if o.get("isError") == Some(&Value::Bool(true)) {
                parts.insert(0, "The tool reported an error:".into());
            }
            parts.join("\n")
        }
        other => other.to_string(),
    }
}

/// PreToolUse output that runs the tool with `input` instead of what the model asked.
pub fn input_output(input: &Value) -> Value {
    json!({
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "allow",
            "permissionDecisionReason": "The guardrail service modified this tool call's input",
            "updatedInput": input,
        },
        "systemMessage": "codex-guard: the guardrail service modified this tool call's input",
    })
}

/// PostToolUse output that puts `text` in place of the tool result. Codex (0.169 to
/// 0.171) reports a command hook that answers `updatedMCPToolOutput` as failed and
/// gives the model the original, but gives it a blocked result's reason instead of
/// the result, for MCP and built-in tools alike: so the service's version travels
/// as that reason.
pub fn result_output(text: &str) -> Value {
    json!({
        "decision": "block",
        "reason": format!("{RESULT_NOTE}\n{text}"),
        "systemMessage": "codex-guard: the guardrail service modified this tool result",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &Value) -> Value {
        Value::String(v.to_string())
    }

    #[test]
    fn an_mcp_result_is_read_from_the_rewritten_json_rpc_response() {
        let payload = text(&json!({"jsonrpc": "2.0", "id": 1, "result": {
            "content": [{"type": "text", "text": "key: [REDACTED]"},
                        {"type": "image", "data": "AA==", "mimeType": "image/png"}],
            "isError": false}}));
        assert_eq!(
            tool_result("mcp__vault__read", &payload).unwrap(),
            "key: [REDACTED]\n{\"type\":\"image\",\"data\":\"AA==\",\"mimeType\":\"image/png\"}"
        );
        let wrapped = text(&json!({"jsonrpc": "2.0", "id": 1, "result": {"output": "plain"}}));
        assert_eq!(tool_result("mcp__s__t", &wrapped).unwrap(), "plain");
        let structured = json!({"jsonrpc": "2.0", "id": 1,
            "result": {"content": [], "structuredContent": {"k": "[REDACTED]"}, "isError": true}});
        assert_eq!(
            tool_result("mcp__s__t", &structured).unwrap(),
            "The tool reported an error:\n{\"k\":\"[REDACTED]\"}"
        );
    }

    #[test]
    fn a_built_in_result_and_the_extracted_text_form_are_read() {
        let payload = text(&json!({"body": {"result": "total 0\n[REDACTED]\n"}}));
        assert_eq!(
            tool_result("Bash", &payload).unwrap(),
            "total 0\n[REDACTED]\n"
        );
        let extracted = text(&json!({"text": "only the text"}));
        assert_eq!(tool_result("Bash", &extracted).unwrap(), "only the text");
        assert_eq!(
            tool_result("mcp__s__t", &extracted).unwrap(),
            "only the text"
        );
    }

    #[test]
    fn unreadable_modified_results_are_errors_not_guesses() {
        for payload in [
            Value::Null,
            json!("<html>bad gateway</html>"),
            json!("{\"body\": {\"result\""),
            json!("[1, 2]"),
            text(&json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 1}})),
            text(&json!({"text": "a", "other": 1})),
        ] {
            assert!(tool_result("mcp__s__t", &payload).is_err(), "{payload}");
            assert!(tool_result("Bash", &payload).is_err(), "{payload}");
        }
    }

    #[test]
    fn a_modified_input_comes_from_the_request_payload_shape() {
        let original = json!({"command": "curl -H 'Authorization: sk-live-1' x"});
        let payload = text(
            &json!({"body": {"command": "curl -H 'Authorization: [REDACTED]' x"},
                                   "toolName": "Bash"}),
        );
        assert_eq!(
            tool_input("Bash", &original, &payload).unwrap(),
            json!({"command": "curl -H 'Authorization: [REDACTED]' x"})
        );
        let mcp = text(&json!({"jsonrpc": "2.0", "method": "tools/call", "id": 1,
            "params": {"name": "send", "arguments": {"to": "a", "body": "[REDACTED]"}}}));
        assert_eq!(
            tool_input(
                "mcp__mail__send",
                &json!({"to": "a", "body": "pin 1234"}),
                &mcp
            )
            .unwrap(),
            json!({"to": "a", "body": "[REDACTED]"})
        );
    }

    #[test]
    fn a_modified_input_that_is_not_a_redaction_is_refused() {
        let original = json!({"command": "ls"});
        let cases = [
            (json!("not json"), "not JSON"),
            (text(&json!({"body": "ls"})), "not an object"),
            (text(&json!({"toolName": "Bash"})), "has no body"),
            (
                text(&json!({"body": {"cmd": "ls"}})),
                "lost the key \"command\"",
            ),
        ];
        for (payload, expected) in cases {
            let error = tool_input("Bash", &original, &payload).unwrap_err();
            assert!(error.contains(expected), "{payload}: {error}");
        }
        let error = tool_input("mcp__s__t", &json!({}), &text(&json!({"body": {}}))).unwrap_err();
        assert!(error.contains("params.arguments"), "{error}");
    }

    #[test]
    fn the_outputs_are_what_codex_takes() {
        let out = result_output("x: [REDACTED]");
        assert_eq!(out["decision"], "block");
        assert_eq!(out["reason"], format!("{RESULT_NOTE}\nx: [REDACTED]"));
        let out = input_output(&json!({"command": "ls"}));
        assert_eq!(out["hookSpecificOutput"]["permissionDecision"], "allow");
        assert_eq!(
            out["hookSpecificOutput"]["updatedInput"],
            json!({"command": "ls"})
        );
        let change = Change {
            what: "tool_result",
            bytes_before: 10,
            bytes_after: Some(8),
            outcome: Outcome::Applied,
            error: None,
        };
        assert_eq!(
            change.to_json(),
            json!({"what": "tool_result", "bytes_before": 10, "bytes_after": 8, "outcome": "applied"})
        );
    }
}
