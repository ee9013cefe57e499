//! Akto's `/api/http-proxy` ingestion contract: the query flags, the record body
//! (whose headers, payloads and tags are JSON encoded as strings) and the
//! guardrails verdict. Pure functions, so every byte is unit-tested.

use crate::drift::SessionCheck;
use crate::input::HookInput;
use crate::settings::Settings;
use codex_guard_common::integrity::Scope;
use codex_guard_common::Mode;
use serde_json::{json, Map, Value};
use std::fmt::Write as _;

/// The query flags of one call, in the order Akto's hooks send them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub guardrails: bool,
    pub response_guardrails: bool,
    pub ingest_data: bool,
    /// Adds `client_hook=SessionStart` (session start records).
    pub client_hook_session_start: bool,
}

impl Flags {
    pub const INGEST: Flags = Flags {
        guardrails: false,
        response_guardrails: false,
        ingest_data: true,
        client_hook_session_start: false,
    };
}

/// `{url}/api/http-proxy?...`; a flag that is off is left out, never `=false`.
pub fn proxy_url(base: &str, connector: &str, flags: Flags) -> String {
    format!(
        "{}{}",
        base.trim_end_matches('/'),
        proxy_target(connector, flags)
    )
}

/// Path and query of a call: `/api/http-proxy?...`, the flags in Akto's order.
pub fn proxy_target(connector: &str, flags: Flags) -> String {
    let mut params = Vec::with_capacity(5);
    if flags.guardrails {
        params.push("guardrails=true".to_string());
    }
    if flags.response_guardrails {
        params.push("response_guardrails=true".to_string());
    }
    params.push(format!("akto_connector={}", encode_query_value(connector)));
    if flags.ingest_data {
        params.push("ingest_data=true".to_string());
    }
    if flags.client_hook_session_start {
        params.push("client_hook=SessionStart".to_string());
    }
    format!("/api/http-proxy?{}", params.join("&"))
}

fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// How a tool is seen by Akto: an MCP tool (`mcp__<server>__<tool>`) or a built-in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolKind {
    Mcp { server: String, tool: String },
    BuiltIn(String),
}

impl ToolKind {
    pub fn of(name: &str) -> ToolKind {
        if let Some(rest) = name.strip_prefix("mcp__") {
            if let Some((server, tool)) = rest.split_once("__") {
                if !server.is_empty() && !tool.is_empty() {
                    return ToolKind::Mcp {
                        server: server.to_string(),
                        tool: tool.to_string(),
                    };
                }
            }
        }
        ToolKind::BuiltIn(name.to_string())
    }

    pub fn is_mcp(&self) -> bool {
        matches!(self, ToolKind::Mcp { .. })
    }
}

/// `/tool/<name>` with every run of characters outside `[A-Za-z0-9._~-]` made one `-`.
pub fn tool_path(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() || "._~-".contains(c) {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut cleaned = String::new();
    for c in out.chars() {
        if !(c == '-' && cleaned.ends_with('-')) {
            cleaned.push(c);
        }
    }
    let cleaned = cleaned.trim_matches('-');
    format!(
        "/tool/{}",
        if cleaned.is_empty() {
            "unknown"
        } else {
            cleaned
        }
    )
}

/// The identities of one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ids {
    /// Unique per record and stable across retries.
    pub id: String,
    /// Akto's `<session_id>:<turn sequence>`.
    pub message_id: Option<String>,
}

/// Who blocked the event a 403 record reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockedBy {
    /// Akto's guardrails (`x-blocked-by: Akto Proxy`, as Akto's own hooks say).
    Akto,
    /// A local codex-guard rule, named by its id.
    Rule(String),
}

impl BlockedBy {
    /// The `x-blocked-by` value.
    fn label(&self) -> String {
        match self {
            BlockedBy::Akto => "Akto Proxy".into(),
            BlockedBy::Rule(id) => format!("codex-guard rule {id}"),
        }
    }
}

/// What one record describes, before it is encoded.
#[derive(Debug, Clone)]
pub struct Record {
    pub path: String,
    pub host: String,
    pub hook: &'static str,
    pub mcp_server: Option<String>,
    pub request_payload: Value,
    pub response_payload: Value,
    pub tags: Map<String, Value>,
    /// Whether `responseHeaders` carries `content-type` (Akto's hooks send it for
    /// records that describe an answer: tool results, responses, session start).
    pub response_content_type: bool,
    pub blocked: Option<(BlockedBy, String)>,
}

impl Record {
    /// The prompt or model-response record (UserPromptSubmit, Stop).
    pub fn conversation(
        s: &Settings,
        hook: &'static str,
        request_body: &str,
        response_body: Option<&str>,
    ) -> Record {
        Record {
            path: s.api_path.clone(),
            host: s.api_host.clone(),
            hook,
            mcp_server: None,
            request_payload: json!({ "body": request_body }),
            response_payload: match response_body {
                Some(text) => json!({ "body": text }),
                None => json!({}),
            },
            tags: base_tags(s),
            response_content_type: response_body.is_some(),
            blocked: None,
        }
    }

    /// A tool call (PreToolUse) or a tool call and its result (PostToolUse).
    pub fn tool(
        s: &Settings,
        hook: &'static str,
        tool_name: &str,
        input: &Value,
        response: Option<&Value>,
    ) -> Record {
        let kind = ToolKind::of(tool_name);
        match &kind {
            ToolKind::Mcp { server, tool } => {
                let arguments = match input {
                    Value::Object(_) => input.clone(),
                    Value::Null => json!({}),
                    other => json!({ "input": other }),
                };
                let device = s.device_id.as_deref().unwrap_or("unknown-device");
                let mut tags = Map::new();
                tags.insert("mcp-server".into(), "MCP Server".into());
                tags.insert("mcp-client".into(), s.config.connector_value.clone().into());
                if s.config.mode == Mode::Atlas {
                    tags.insert("source".into(), s.config.context_source.clone().into());
                }
                Record {
                    path: "/mcp".into(),
                    host: format!("{device}.{}.{server}", s.config.connector_value),
                    hook,
                    mcp_server: Some(server.clone()),
                    request_payload: json!({
                        "jsonrpc": "2.0",
                        "method": "tools/call",
                        "params": {"name": tool, "arguments": arguments},
                        "id": 1
                    }),
                    response_payload: match response {
                        None => json!({}),
                        Some(r @ Value::Object(_)) => {
                            json!({"jsonrpc": "2.0", "id": 1, "result": r})
                        }
                        Some(r) => json!({"jsonrpc": "2.0", "id": 1, "result": {"output": r}}),
                    },
                    tags,
                    response_content_type: response.is_some(),
                    blocked: None,
                }
            }
            ToolKind::BuiltIn(name) => Record {
                path: tool_path(name),
                host: s.api_host.clone(),
                hook,
                mcp_server: None,
                request_payload: match response {
                    None => json!({ "body": input, "toolName": name }),
                    Some(_) => json!({ "body": {"toolName": name, "toolArgs": input} }),
                },
                response_payload: match response {
                    None => json!({}),
                    Some(r) => json!({ "body": {"result": r} }),
                },
                tags: tool_tags(s, name, response.is_some()),
                response_content_type: response.is_some(),
                blocked: None,
            },
        }
    }

    /// The session start record (ingested only), with what the session start check
    /// found under `codexGuard` and tagged, so a fleet can select the machines whose
    /// install drifted.
    pub fn session_start(s: &Settings, input: &HookInput, check: Option<&SessionCheck>) -> Record {
        let mut request_payload = json!({ "body": Value::Object(input.raw.clone()) });
        let mut tags = base_tags(s);
        tags.insert("hook".into(), "SessionStart".into());
        if let Some(check) = check {
            request_payload["codexGuard"] = json!(check);
            let integrity = if check.integrity.intact {
                "intact"
            } else {
                "drift"
            };
            tags.insert("codex-guard-integrity".into(), integrity.into());
            tags.insert("codex-guard-version".into(), check.version.into());
            let scope = match check.integrity.scope {
                Scope::User => "user",
                Scope::Managed => "managed",
            };
            tags.insert("codex-guard-scope".into(), scope.into());
            let registration = if check.integrity.registration_intact {
                "intact"
            } else {
                "broken"
            };
            tags.insert("codex-guard-registration".into(), registration.into());
            tags.insert("codex-guard-mode".into(), check.mode.into());
            let fail = if check.fail_closed { "closed" } else { "open" };
            tags.insert("codex-guard-fail".into(), fail.into());
            if !check.shell_env.is_empty() {
                let names: Vec<&str> = check.shell_env.keys().copied().collect();
                tags.insert("codex-guard-shell-env".into(), names.join(",").into());
            }
        }
        Record {
            path: "/v1/hooks/SessionStart".into(),
            host: s.api_host.clone(),
            hook: "SessionStart",
            mcp_server: None,
            request_payload,
            response_payload: json!({ "body": {} }),
            tags,
            response_content_type: true,
            blocked: None,
        }
    }

    /// The same record, marked as blocked (the 403 re-ingest that records a block).
    #[must_use]
    pub fn blocked(mut self, by: BlockedBy, reason: &str) -> Record {
        self.blocked = Some((by, reason.to_string()));
        self
    }

    /// The JSON body Akto's ingestion service takes. `ids` are the record's unique
    /// id and Akto's message id (`<session>:<turn>`).
    pub fn encode(&self, s: &Settings, input: &HookInput, now_ms: u128, ids: &Ids) -> Value {
        let mut request_headers = Map::new();
        request_headers.insert("host".into(), self.host.clone().into());
        request_headers.insert("x-codex-hook".into(), self.hook.into());
        request_headers.insert("content-type".into(), "application/json".into());
        if let Some(server) = &self.mcp_server {
            request_headers.insert("x-mcp-server".into(), server.clone().into());
        }
        let mut installer = |name: &str, value: &Value| {
            let value = match value {
                Value::String(v) => v.clone(),
                v => v.to_string(),
            };
            request_headers.insert(format!("{INSTALLER_PREFIX}{name}"), value.into());
        };
        for field in INSTALLER_FIELDS {
            if let Some(value) = input.get(field).filter(|v| !v.is_null()) {
                installer(field, value);
            }
        }
        // The keys Akto's guardrail service derives the session and conversation
        // from; without them session policies never apply.
        for (field, akto_name) in [
            ("session_id", "akto_session_id"),
            ("conversation_id", "akto_conversation_id"),
        ] {
            if let Some(value) = input.get(field).filter(|v| !v.is_null()) {
                installer(akto_name, value);
            }
        }
        if let Some(message_id) = &ids.message_id {
            installer("akto_message_id", &Value::String(message_id.clone()));
        }
        installer("codex_guard_event_id", &Value::String(ids.id.clone()));
        let mut response_headers = Map::new();
        response_headers.insert("x-codex-hook".into(), self.hook.into());
        if self.response_content_type {
            response_headers.insert("content-type".into(), "application/json".into());
        }
        let (status, response_payload) = match &self.blocked {
            None => ("200", self.response_payload.clone()),
            Some((by, reason)) => {
                let label = by.label();
                response_headers.insert("x-blocked-by".into(), label.clone().into());
                response_headers.insert("content-type".into(), "application/json".into());
                let mut body = json!({"x-blocked-by": label, "reason": reason});
                if let BlockedBy::Rule(id) = by {
                    body["rule"] = id.clone().into();
                }
                // Akto's PreToolUse hook sends the body as an object, its other hooks
                // as JSON text; each record keeps the shape of its hook.
                let body = match self.hook {
                    "PreToolUse" => body,
                    _ => body.to_string().into(),
                };
                ("403", json!({ "body": body }))
            }
        };
        Envelope {
            path: &self.path,
            request_headers: &request_headers,
            response_headers: &response_headers,
            request_payload: &self.request_payload,
            response_payload: &response_payload,
            ip: &s.username,
            time_ms: now_ms,
            status,
            tags: &self.tags,
            context_source: &s.config.context_source,
        }
        .to_json()
    }
}

/// The body of one call to `/api/http-proxy`: Akto's mirrored-traffic record, whose
/// headers, payloads and tags travel as JSON text. Every record codex-guard sends
/// (the hook's, and the probe of `setup` and `doctor`) is made here.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub path: &'a str,
    pub request_headers: &'a Map<String, Value>,
    pub response_headers: &'a Map<String, Value>,
    pub request_payload: &'a Value,
    pub response_payload: &'a Value,
    /// The OS user name.
    pub ip: &'a str,
    pub time_ms: u128,
    /// `"200"`, or `"403"` for the record of a block.
    pub status: &'a str,
    pub tags: &'a Map<String, Value>,
    pub context_source: &'a str,
}

impl Envelope<'_> {
    pub fn to_json(&self) -> Value {
        // A map of strings and JSON values always serialises.
        let text = |map: &Map<String, Value>| serde_json::to_string(map).unwrap_or_default();
        let tags = text(self.tags);
        json!({
            "path": self.path,
            "requestHeaders": text(self.request_headers),
            "responseHeaders": text(self.response_headers),
            "method": "POST",
            "requestPayload": self.request_payload.to_string(),
            "responsePayload": self.response_payload.to_string(),
            "ip": self.ip,
            "destIp": "127.0.0.1",
            "time": self.time_ms.to_string(),
            "statusCode": self.status,
            "type": "HTTP/1.1",
            "status": self.status,
            "akto_account_id": "1000000",
            "akto_vxlan_id": 0,
            "is_pending": "false",
            "source": "MIRRORING",
            "direction": null,
            "process_id": null,
            "socket_id": null,
            "daemonset_id": null,
            "enabled_graph": null,
            "tag": tags,
            "metadata": tags,
            "contextSource": self.context_source,
        })
    }
}

/// Prefix of the request headers that describe the Codex event rather than an API
/// call: Akto keeps them out of the API schemas it learns.
const INSTALLER_PREFIX: &str = "x-akto-installer-";

/// The event fields Akto's hooks forward as `x-akto-installer-<field>` (their default
/// field map), then codex-guard's own: the turn and the tool call.
const INSTALLER_FIELDS: [&str; 11] = [
    "session_id",
    "conversation_id",
    "generation_id",
    "model",
    "transcript_path",
    "user_email",
    "cwd",
    "permission_mode",
    "hook_event_name",
    "turn_id",
    "tool_use_id",
];

/// Tags of prompt, response and session records: `ai-agent` and `source` in atlas
/// mode only, as Akto's prompt and response hooks send them.
fn base_tags(s: &Settings) -> Map<String, Value> {
    let mut tags = Map::new();
    tags.insert("gen-ai".into(), "Gen AI".into());
    if s.config.mode == Mode::Atlas {
        tags.insert("ai-agent".into(), s.config.connector_value.clone().into());
        tags.insert("source".into(), s.config.context_source.clone().into());
    }
    tags
}

/// Tags of a built-in tool's record: the agent in every mode (Akto decides which
/// agent owns a collection by it), `tool-use` on a result.
fn tool_tags(s: &Settings, name: &str, result: bool) -> Map<String, Value> {
    let mut tags = Map::new();
    tags.insert("gen-ai".into(), "Gen AI".into());
    tags.insert("ai-agent".into(), s.config.connector_value.clone().into());
    if result {
        tags.insert("tool-use".into(), "Tool Execution".into());
    }
    tags.insert("tool_name".into(), name.into());
    if s.config.mode == Mode::Atlas {
        tags.insert("source".into(), s.config.context_source.clone().into());
    }
    tags
}

/// Akto's answer to a guardrails call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: String,
    pub behaviour: Behaviour,
    pub policy: Option<String>,
    /// What the service changed (`Modified: true` with a `ModifiedPayload`).
    pub modified: Modified,
}

/// The `ModifiedPayload`s of a verdict, by the side of the record they replace.
///
/// Akto answers with one flat result, or, when it ran both request and response
/// guardrails, with their merge: the flat fields are then the request side's, and
/// each side is in `requestResult` / `responseResult`. A flat result belongs to
/// whichever side the call asked about, so it is kept apart as `unsided`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Modified {
    pub request: Option<Value>,
    pub response: Option<Value>,
    pub unsided: Option<Value>,
}

impl Modified {
    /// The replacement of the record's `requestPayload` (a prompt, a tool input).
    pub fn request(&self) -> Option<&Value> {
        self.request.as_ref().or(self.unsided.as_ref())
    }

    /// The replacement of the record's `responsePayload` (a tool result, a response).
    pub fn response(&self) -> Option<&Value> {
        self.response.as_ref().or(self.unsided.as_ref())
    }

    /// Reads the modification of one result object: `Some` when it says
    /// `Modified: true`, holding `ModifiedPayload` as sent (a JSON text, or JSON
    /// itself), or `Null` when the payload is missing or blank, so that is reported
    /// rather than taken for "unchanged".
    fn of(result: &Map<String, Value>) -> Option<Value> {
        let flag = result.get("Modified").or_else(|| result.get("modified"));
        let modified = match flag {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
            _ => false,
        };
        if !modified {
            return None;
        }
        let payload = result
            .get("ModifiedPayload")
            .or_else(|| result.get("modifiedPayload"))
            .cloned()
            .unwrap_or(Value::Null);
        Some(match payload {
            Value::String(s) if s.trim().is_empty() => Value::Null,
            other => other,
        })
    }

    fn read(result: &Map<String, Value>) -> Modified {
        let side = |key: &str| result.get(key).and_then(Value::as_object);
        match (side("requestResult"), side("responseResult")) {
            (None, None) => Modified {
                unsided: Modified::of(result),
                ..Modified::default()
            },
            (request, response) => Modified {
                request: request.and_then(Modified::of),
                response: response.and_then(Modified::of),
                unsided: None,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Block (the default for a rejection).
    Block,
    /// Block the first time, allow an identical resubmission.
    Warn,
    /// Allow; the violation is only recorded.
    Alert,
}

/// Reads a guardrails response. `Allowed` missing means allowed; a body that is
/// not Akto's JSON is an error, so the fail policy decides, not a guess.
pub fn parse_verdict(body: &[u8]) -> Result<Verdict, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the guardrail service answered with invalid JSON: {e}"))?;
    let Value::Object(top) = &value else {
        return Err("the guardrail service answered with JSON that is not an object".into());
    };
    let result = top
        .get("data")
        .and_then(|d| d.get("guardrailsResult"))
        .and_then(Value::as_object);
    let Some(result) = result else {
        return Ok(Verdict {
            allowed: true,
            reason: String::new(),
            behaviour: Behaviour::Block,
            policy: None,
            modified: Modified::default(),
        });
    };
    let allowed = result
        .get("Allowed")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let reason = result
        .get("Reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let behaviour = result
        .get("behaviour")
        .or_else(|| result.get("Behaviour"))
        .and_then(Value::as_str)
        .map_or(Behaviour::Block, |b| {
            match b.trim().to_ascii_lowercase().as_str() {
                "warn" => Behaviour::Warn,
                "alert" => Behaviour::Alert,
                _ => Behaviour::Block,
            }
        });
    let policy = result
        .get("Metadata")
        .and_then(|m| m.get("policy_name"))
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    Ok(Verdict {
        allowed,
        reason,
        behaviour,
        policy,
        modified: Modified::read(result),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    fn settings(mode: Mode) -> Settings {
        let env = move |k: &str| match k {
            "CODEX_GUARD_CONFIG" => Some("/nonexistent/codex-guard/config.toml".to_string()),
            "AKTO_DATA_INGESTION_URL" => Some("https://akto.example/".to_string()),
            "MODE" => Some(mode.as_str().to_string()),
            "DEVICE_ID" => Some("laptop-7-0a1b2c3d".to_string()),
            "USER" => Some("dev".to_string()),
            _ => None,
        };
        Settings::load(&env, None)
    }

    fn ids() -> Ids {
        Ids {
            id: "0b8f-test".into(),
            message_id: Some("s-1:2".into()),
        }
    }

    fn event(json: &str) -> HookInput {
        HookInput::parse(json.as_bytes()).unwrap()
    }

    fn decode(body: &Value, key: &str) -> Value {
        serde_json::from_str(body[key].as_str().unwrap()).unwrap()
    }

    #[test]
    fn query_flags_are_in_akto_order_and_off_flags_are_left_out() {
        let f = Flags {
            guardrails: true,
            ingest_data: true,
            ..Flags::default()
        };
        assert_eq!(
            proxy_url("https://a.b/", "codex_cli", f),
            "https://a.b/api/http-proxy?guardrails=true&akto_connector=codex_cli&ingest_data=true"
        );
        let f = Flags {
            response_guardrails: true,
            ..Flags::default()
        };
        assert_eq!(
            proxy_url("https://a.b", "codex cli", f),
            "https://a.b/api/http-proxy?response_guardrails=true&akto_connector=codex%20cli"
        );
        let f = Flags {
            client_hook_session_start: true,
            ..Flags::INGEST
        };
        assert!(proxy_url("http://h", "c", f)
            .ends_with("?akto_connector=c&ingest_data=true&client_hook=SessionStart"));
    }

    #[test]
    fn tool_paths_are_normalised() {
        assert_eq!(tool_path("Bash"), "/tool/Bash");
        assert_eq!(tool_path("apply_patch"), "/tool/apply_patch");
        assert_eq!(tool_path("we ird//name!"), "/tool/we-ird-name");
        assert_eq!(tool_path("!!"), "/tool/unknown");
    }

    #[test]
    fn pre_tool_use_body_matches_the_contract() {
        let s = settings(Mode::Argus);
        let input = event(
            r#"{"hook_event_name":"PreToolUse","session_id":"s1","turn_id":"t1","cwd":"/w",
                "model":"gpt-5.4","tool_name":"Bash","tool_use_id":"c1","permission_mode":"default",
                "tool_input":{"command":"ls","extra":[1,{"b":2}]}}"#,
        );
        let rec = Record::tool(&s, "PreToolUse", "Bash", input.tool_input(), None);
        let body = rec.encode(&s, &input, 1_700_000_000_123, &ids());
        assert_eq!(body["path"], "/tool/Bash");
        assert_eq!(body["time"], "1700000000123");
        assert_eq!(body["statusCode"], "200");
        assert_eq!(body["akto_vxlan_id"], 0);
        assert_eq!(body["ip"], "dev");
        assert!(body["direction"].is_null());
        let payload = decode(&body, "requestPayload");
        assert_eq!(payload["body"], input.tool_input().clone());
        assert_eq!(payload["toolName"], "Bash");
        assert_eq!(body["responsePayload"], "{}");
        let headers = decode(&body, "requestHeaders");
        assert_eq!(headers["host"], "chatgpt.com");
        assert_eq!(headers["x-codex-hook"], "PreToolUse");
        assert_eq!(headers["x-akto-installer-session_id"], "s1");
        assert_eq!(headers["x-akto-installer-tool_use_id"], "c1");
        assert_eq!(headers["x-akto-installer-akto_message_id"], "s-1:2");
        // Akto's guardrail service derives the session from this key only.
        assert_eq!(headers["x-akto-installer-akto_session_id"], "s1");
        assert_eq!(headers["x-akto-installer-permission_mode"], "default");
        // Our own id stays in the installer namespace, out of Akto's API schemas.
        assert_eq!(
            headers["x-akto-installer-codex_guard_event_id"],
            "0b8f-test"
        );
        let mut outside: Vec<&String> = headers
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with("x-akto-installer-"))
            .collect();
        outside.sort();
        assert_eq!(outside, ["content-type", "host", "x-codex-hook"]);
        assert_eq!(
            decode(&body, "responseHeaders"),
            json!({"x-codex-hook": "PreToolUse"})
        );
        // The agent owns built-in tool records in argus mode too.
        assert_eq!(
            decode(&body, "tag"),
            json!({"gen-ai": "Gen AI", "ai-agent": "codexcli", "tool_name": "Bash"})
        );
        assert_eq!(body["contextSource"], "ENDPOINT");
    }

    #[test]
    fn mcp_tools_use_the_json_rpc_form_and_the_device_host() {
        let s = settings(Mode::Atlas);
        let input = event(
            r#"{"hook_event_name":"PostToolUse","tool_name":"mcp__github__create_issue",
                "tool_input":{"title":"t"},"tool_response":{"content":[]}}"#,
        );
        let rec = Record::tool(
            &s,
            "PostToolUse",
            "mcp__github__create_issue",
            input.tool_input(),
            input.get("tool_response"),
        );
        let body = rec.encode(&s, &input, 1, &ids());
        assert_eq!(body["path"], "/mcp");
        let headers = decode(&body, "requestHeaders");
        assert_eq!(headers["host"], "laptop-7-0a1b2c3d.codexcli.github");
        assert_eq!(headers["x-mcp-server"], "github");
        assert_eq!(
            decode(&body, "requestPayload"),
            json!({"jsonrpc":"2.0","method":"tools/call","params":{"name":"create_issue","arguments":{"title":"t"}},"id":1})
        );
        assert_eq!(
            decode(&body, "responsePayload"),
            json!({"jsonrpc":"2.0","id":1,"result":{"content":[]}})
        );
        assert_eq!(
            decode(&body, "tag"),
            json!({"mcp-server":"MCP Server","mcp-client":"codexcli","source":"ENDPOINT"})
        );
    }

    #[test]
    fn atlas_prompt_uses_the_device_host_and_tags() {
        let s = settings(Mode::Atlas);
        let input = event(r#"{"hook_event_name":"UserPromptSubmit","prompt":"hi"}"#);
        let body =
            Record::conversation(&s, "UserPromptSubmit", "hi", None).encode(&s, &input, 1, &ids());
        assert_eq!(body["path"], "/backend-api/codex/responses");
        assert_eq!(
            decode(&body, "requestHeaders")["host"],
            "laptop-7-0a1b2c3d.ai-agent.codexcli"
        );
        assert_eq!(decode(&body, "requestPayload"), json!({"body": "hi"}));
        assert_eq!(
            decode(&body, "tag"),
            json!({"gen-ai":"Gen AI","ai-agent":"codexcli","source":"ENDPOINT"})
        );
    }

    #[test]
    fn built_in_tool_results_are_tagged_as_tool_execution_with_a_content_type() {
        for mode in [Mode::Argus, Mode::Atlas] {
            let s = settings(mode);
            let input = event(
                r#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_use_id":"c9",
                    "tool_input":{"command":"ls"},"tool_response":"a b"}"#,
            );
            let response = input.get("tool_response");
            let body = Record::tool(&s, "PostToolUse", "Bash", input.tool_input(), response)
                .encode(&s, &input, 1, &ids());
            let mut tags = json!({"gen-ai": "Gen AI", "ai-agent": "codexcli",
                "tool-use": "Tool Execution", "tool_name": "Bash"});
            if mode == Mode::Atlas {
                tags["source"] = "ENDPOINT".into();
            }
            assert_eq!(decode(&body, "tag"), tags);
            assert_eq!(decode(&body, "metadata"), tags);
            assert_eq!(
                decode(&body, "responseHeaders"),
                json!({"x-codex-hook": "PostToolUse", "content-type": "application/json"})
            );
            assert_eq!(
                decode(&body, "requestPayload"),
                json!({"body": {"toolName": "Bash", "toolArgs": {"command": "ls"}}})
            );
        }
    }

    #[test]
    fn session_start_is_tagged_with_its_hook_and_has_an_empty_answer_body() {
        let s = settings(Mode::Argus);
        let input =
            event(r#"{"hook_event_name":"SessionStart","session_id":"s7","source":"startup"}"#);
        let body = Record::session_start(&s, &input, None).encode(&s, &input, 1, &ids());
        assert_eq!(
            decode(&body, "tag"),
            json!({"gen-ai": "Gen AI", "hook": "SessionStart"})
        );
        assert_eq!(decode(&body, "responsePayload"), json!({"body": {}}));
        assert_eq!(
            decode(&body, "responseHeaders")["content-type"],
            "application/json"
        );
        assert_eq!(
            decode(&body, "requestHeaders")["x-akto-installer-akto_session_id"],
            "s7"
        );
    }

    #[test]
    fn the_blocked_re_ingest_is_a_403_in_the_shape_of_each_hook() {
        let s = settings(Mode::Argus);
        let input = event(r#"{"hook_event_name":"UserPromptSubmit","prompt":"x"}"#);
        let body = Record::conversation(&s, "UserPromptSubmit", "x", None)
            .blocked(BlockedBy::Akto, "no")
            .encode(&s, &input, 1, &ids());
        assert_eq!(body["statusCode"], "403");
        assert_eq!(body["status"], "403");
        assert_eq!(
            decode(&body, "responseHeaders"),
            json!({"x-codex-hook": "UserPromptSubmit", "x-blocked-by": "Akto Proxy",
                "content-type": "application/json"})
        );
        // Akto's prompt, response and tool-result hooks send the body as JSON text.
        let text = decode(&body, "responsePayload")["body"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"x-blocked-by": "Akto Proxy", "reason": "no"})
        );
        // Its PreToolUse hook sends an object.
        let input = event(
            r#"{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"rm"}}"#,
        );
        let body = Record::tool(&s, "PreToolUse", "Bash", input.tool_input(), None)
            .blocked(BlockedBy::Rule("no-rm".into()), "rm is not allowed")
            .encode(&s, &input, 1, &ids());
        assert_eq!(
            decode(&body, "responsePayload"),
            json!({"body": {"x-blocked-by": "codex-guard rule no-rm", "rule": "no-rm",
                "reason": "rm is not allowed"}})
        );
        assert_eq!(
            decode(&body, "responseHeaders")["x-blocked-by"],
            "codex-guard rule no-rm"
        );
    }

    #[test]
    fn verdicts_are_read_leniently_but_garbage_is_an_error() {
        let v = parse_verdict(br#"{"success":true,"data":{"guardrailsResult":{"Allowed":false,"Reason":"r","Behaviour":"WARN","Metadata":{"policy_name":"p"}}}}"#).unwrap();
        assert!(!v.allowed);
        assert_eq!(v.behaviour, Behaviour::Warn);
        assert_eq!(v.policy.as_deref(), Some("p"));
        assert!(
            parse_verdict(br#"{"success":true,"data":{}}"#)
                .unwrap()
                .allowed
        );
        assert!(
            parse_verdict(br#"{"data":{"guardrailsResult":{"Reason":"x"}}}"#)
                .unwrap()
                .allowed
        );
        assert!(parse_verdict(b"<html>").is_err());
        assert!(parse_verdict(b"[]").is_err());
    }

    #[test]
    fn a_modified_payload_is_read_by_side_and_only_when_modified() {
        let v = parse_verdict(
            br#"{"data":{"guardrailsResult":{"Allowed":true,"Modified":true,"ModifiedPayload":"{\"body\":1}"}}}"#,
        )
        .unwrap();
        assert_eq!(v.modified.request(), Some(&json!("{\"body\":1}")));
        assert_eq!(v.modified.response(), Some(&json!("{\"body\":1}")));
        // Akto's fail-open answer and an unmodified payload echo are not modifications.
        let v = parse_verdict(
            br#"{"data":{"guardrailsResult":{"Allowed":true,"Modified":false,"ModifiedPayload":"{\"body\":1}"}}}"#,
        )
        .unwrap();
        assert_eq!(v.modified, Modified::default());
        // The lower-case spelling, and a payload sent as JSON rather than as text.
        let v = parse_verdict(
            br#"{"data":{"guardrailsResult":{"modified":"true","modifiedPayload":{"body":2}}}}"#,
        )
        .unwrap();
        assert_eq!(v.modified.response(), Some(&json!({"body": 2})));
        // Modified without a payload is kept, as Null, to be reported.
        let v = parse_verdict(
            br#"{"data":{"guardrailsResult":{"Modified":true,"ModifiedPayload":" "}}}"#,
        )
        .unwrap();
        assert_eq!(v.modified.request(), Some(&Value::Null));
        // A merged answer: the flat fields are the request side's; each side is its own.
        let v = parse_verdict(
            br#"{"data":{"guardrailsResult":{"Allowed":true,"Modified":true,"ModifiedPayload":"req",
                "requestResult":{"Allowed":true,"Modified":true,"ModifiedPayload":"req"},
                "responseResult":{"Allowed":true,"Modified":false,"ModifiedPayload":"resp"}}}}"#,
        )
        .unwrap();
        assert_eq!(v.modified.request(), Some(&json!("req")));
        assert_eq!(v.modified.response(), None);
    }
}
