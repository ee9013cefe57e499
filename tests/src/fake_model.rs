//! A scripted stand-in for the OpenAI Responses API, so the real Codex CLI can run a
//! full turn (prompt, tool call, final answer) with no network and a predictable tool call.

use crate::http::{self, Request, Server};
use serde_json::{json, Value};
use std::io::{self, Write};
use std::sync::Arc;

/// The text of the assistant's final message, which Codex hands to the Stop hook
/// as `last_assistant_message`.
pub const FINAL_MESSAGE: &str = "e2e: all done";

/// Answers `POST /v1/responses`: the request that carries n tool results gets the n-th
/// scripted `exec_command` call; once the script is used up, a final assistant message.
/// Requests from the approval reviewer sub-agent get an "allow" verdict.
pub struct FakeModel {
    server: Server,
}

impl FakeModel {
    /// A model that runs one shell command, then answers.
    pub fn start(command: &str) -> FakeModel {
        FakeModel::with_commands(&[command])
    }

    /// A model that runs these shell commands one after the other, then answers.
    pub fn with_commands(commands: &[&str]) -> FakeModel {
        FakeModel::with_calls(
            &commands
                .iter()
                .map(|c| json!({ "cmd": c }))
                .collect::<Vec<_>>(),
        )
    }

    /// A model that makes these `exec_command` calls (their `arguments` objects, e.g. with
    /// `sandbox_permissions`) one after the other, then answers.
    pub fn with_calls(calls: &[Value]) -> FakeModel {
        let items = calls
            .iter()
            .enumerate()
            .map(|(step, arguments)| function_call(step, arguments))
            .collect();
        FakeModel::with_items(items)
    }

    /// A model that applies these patches with the `apply_patch` tool (a freeform
    /// tool call, as Codex offers it to `gpt-5.5`), one after the other, then answers.
    pub fn with_patches(patches: &[&str]) -> FakeModel {
        let items = patches
            .iter()
            .enumerate()
            .map(|(step, patch)| {
                json!({
                    "type": "custom_tool_call",
                    "id": format!("ctc_{}", step + 1),
                    "call_id": format!("call_{}", step + 1),
                    "name": "apply_patch",
                    "input": patch,
                })
            })
            .collect();
        FakeModel::with_items(items)
    }

    /// A model that calls these MCP tools, `(server, tool, arguments)`, one after the
    /// other, then answers. Codex (0.171) offers a server's tools to the model as the
    /// namespace `mcp__<server>`, and the model calls them by their own name in it.
    pub fn with_mcp_calls(calls: &[(&str, &str, Value)]) -> FakeModel {
        let items = calls
            .iter()
            .enumerate()
            .map(|(step, (server, tool, arguments))| {
                json!({
                    "type": "function_call",
                    "id": format!("fc_{}", step + 1),
                    "call_id": format!("call_{}", step + 1),
                    "name": tool,
                    "namespace": format!("mcp__{server}"),
                    "arguments": arguments.to_string(),
                })
            })
            .collect();
        FakeModel::with_items(items)
    }

    /// A model whose turns output these items (tool calls) one after the other, each
    /// once the previous one's output came back, then answers.
    fn with_items(items: Vec<Value>) -> FakeModel {
        let handler = move |request: &Request, stream: &mut dyn Write| {
            if request.method != "POST" || !request.path().ends_with("/responses") {
                return http::write_response(stream, 404, "text/plain", b"not a fake endpoint");
            }
            let body = request.json();
            if is_guardian(request) {
                return write_sse(stream, "resp_guardian", &guardian_verdict());
            }
            let step = count_items(&body, "function_call_output")
                + count_items(&body, "custom_tool_call_output");
            let item = match items.get(step) {
                Some(item) => item.clone(),
                None => assistant_message(),
            };
            write_sse(stream, &format!("resp_{}", step + 1), &item)
        };
        FakeModel {
            server: Server::start(Arc::new(handler)),
        }
    }

    /// The `base_url` for a Codex model provider (`http://127.0.0.1:<port>/v1`).
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// Every request body the agent itself sent to the Responses endpoint, parsed
    /// (the approval reviewer's requests are left out).
    pub fn requests(&self) -> Vec<Value> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path().ends_with("/responses") && !is_guardian(r))
            .map(Request::json)
            .collect()
    }

    /// How many verdicts the approval reviewer asked for.
    pub fn guardian_requests(&self) -> usize {
        self.server
            .requests()
            .iter()
            .filter(|r| is_guardian(r))
            .count()
    }

    /// The `output` of every `function_call_output` item the model was sent, in order,
    /// deduplicated (each later request repeats the earlier ones).
    pub fn tool_outputs(&self) -> Vec<String> {
        let mut outputs: Vec<String> = Vec::new();
        for body in self.requests() {
            for item in input_items(&body) {
                if item["type"] == "function_call_output"
                    || item["type"] == "custom_tool_call_output"
                {
                    let output = match &item["output"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if !outputs.contains(&output) {
                        outputs.push(output);
                    }
                }
            }
        }
        outputs
    }

    /// Whether any request Codex sent to the model contains this text anywhere.
    pub fn saw_text(&self, needle: &str) -> bool {
        self.server
            .requests()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains(needle))
    }
}

fn is_guardian(request: &Request) -> bool {
    request.header("x-openai-subagent") == Some("guardian")
}

fn input_items(body: &Value) -> &[Value] {
    body["input"].as_array().map_or(&[], Vec::as_slice)
}

fn count_items(body: &Value, kind: &str) -> usize {
    input_items(body)
        .iter()
        .filter(|item| item["type"] == kind)
        .count()
}

fn function_call(step: usize, arguments: &Value) -> Value {
    json!({
        "type": "function_call",
        "id": format!("fc_{}", step + 1),
        "call_id": format!("call_{}", step + 1),
        "name": "exec_command",
        "arguments": arguments.to_string(),
    })
}

fn assistant_message() -> Value {
    json!({
        "type": "message",
        "id": "msg_final",
        "role": "assistant",
        "content": [{ "type": "output_text", "text": FINAL_MESSAGE, "annotations": [] }],
    })
}

/// The automatic approval reviewer (`codex exec --approve-for-me`) runs as a "guardian"
/// sub-agent on the same model and wants a JSON verdict as its final message; approving
/// lets an escalated command go ahead once the hooks have had their say.
fn guardian_verdict() -> Value {
    json!({
        "type": "message",
        "id": "msg_guardian",
        "role": "assistant",
        "content": [{ "type": "output_text", "text": r#"{"outcome":"allow"}"#, "annotations": [] }],
    })
}

/// Streams one response holding a single output item. No Content-Length: with
/// `Connection: close` the end of the stream is the end of the body, which is how
/// Codex's client reads an SSE response it cannot size in advance.
fn write_sse(stream: &mut dyn Write, response_id: &str, item: &Value) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    )?;
    let usage = json!({
        "input_tokens": 1, "input_tokens_details": null,
        "output_tokens": 1, "output_tokens_details": null, "total_tokens": 2,
    });
    let events = [
        (
            "response.created",
            json!({ "type": "response.created", "response": { "id": response_id } }),
        ),
        (
            "response.output_item.added",
            json!({ "type": "response.output_item.added", "output_index": 0, "item": item }),
        ),
        (
            "response.output_item.done",
            json!({ "type": "response.output_item.done", "output_index": 0, "item": item }),
        ),
        (
            "response.completed",
            json!({ "type": "response.completed", "response": { "id": response_id, "usage": usage } }),
        ),
    ];
    for (kind, data) in events {
        write!(stream, "event: {kind}\ndata: {data}\n\n")?;
        stream.flush()?;
    }
    Ok(())
}
