//! A stdio MCP server for the end-to-end suite: JSON-RPC 2.0, one message per line.
//! It offers one tool, `read_secret`, whose text result holds the secret given as
//! the first argument, so a test can check whether that secret reaches the model.
//! Each `tools/call` is appended, as received, to the file named by the second
//! argument (when given), so a test can check the arguments the tool really got.
//!
//! Usage: fake-mcp-server <secret> [<calls.jsonl>]

use serde_json::{json, Value};
use std::io::{BufRead, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let secret = args.next().unwrap_or_default();
    let calls_log = args.next();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        // Notifications (no id) need no answer.
        let Some(id) = message.get("id").cloned() else {
            continue;
        };
        let params = &message["params"];
        let answer = match message["method"].as_str().unwrap_or_default() {
            "initialize" => json!({"result": {
                "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-vault", "version": "1.0.0"},
            }}),
            "tools/list" => json!({"result": {"tools": [{
                "name": "read_secret",
                "description": "Reads a named secret from the vault.",
                "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}},
                                "required": ["name"]},
            }]}}),
            "tools/call" => {
                if let Some(path) = &calls_log {
                    let logged = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .and_then(|mut f| writeln!(f, "{params}"));
                    if let Err(e) = logged {
                        eprintln!("fake-mcp-server: cannot log the call to {path}: {e}");
                    }
                }
                let name = params["arguments"]["name"].as_str().unwrap_or("?");
                json!({"result": {
                    "content": [{"type": "text", "text": format!("secret for {name}: {secret}")}],
                    "isError": false,
                }})
            }
            "ping" => json!({"result": {}}),
            other => json!({"error": {"code": -32601, "message": format!("no method {other}")}}),
        };
        let mut answer = answer;
        answer["jsonrpc"] = "2.0".into();
        answer["id"] = id;
        if writeln!(stdout, "{answer}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
}
