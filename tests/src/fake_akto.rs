//! A stand-in for Akto's data-ingestion service: it records what the hook runtime sends,
//! so tests can check it against the wire contract, and returns scripted verdicts.

use crate::http::{self, Request, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One call the runtime made, with the JSON-string fields of the body pre-parsed.
#[derive(Debug, Clone)]
pub struct AktoRequest {
    pub method: String,
    /// Path and query as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` if it was not JSON).
    pub body: Value,
}

impl AktoRequest {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// A request header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the query holds this exact `key=value` pair.
    pub fn has_query_pair(&self, pair: &str) -> bool {
        self.query().split('&').any(|p| p == pair)
    }

    /// Asks for a verdict (`guardrails=true` or `response_guardrails=true`), as opposed to ingest only.
    pub fn asks_guardrails(&self) -> bool {
        self.has_query_pair("guardrails=true") || self.has_query_pair("response_guardrails=true")
    }

    /// A body field that Akto expects as a JSON-encoded string, decoded.
    pub fn json_string_field(&self, field: &str) -> Option<Value> {
        serde_json::from_str(self.body.get(field)?.as_str()?).ok()
    }

    /// The decoded `requestHeaders` object.
    pub fn request_headers(&self) -> Option<Value> {
        self.json_string_field("requestHeaders")
    }

    /// The decoded `requestPayload`.
    pub fn request_payload(&self) -> Option<Value> {
        self.json_string_field("requestPayload")
    }

    /// The Codex event this call reports: `x-codex-hook` in `requestHeaders`, or the
    /// `client_hook` query parameter (SessionStart).
    pub fn hook(&self) -> Option<String> {
        if let Some(hook) = self
            .request_headers()
            .and_then(|h| h.get("x-codex-hook")?.as_str().map(str::to_string))
        {
            return Some(hook);
        }
        self.query()
            .split('&')
            .find_map(|p| p.strip_prefix("client_hook="))
            .map(str::to_string)
    }
}

/// What the fake answers to one call.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Waits this long before answering (a slow service).
    pub delay: Duration,
}

impl Reply {
    pub fn json(body: &Value) -> Reply {
        Reply {
            status: 200,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// Akto's guardrails verdict.
    pub fn verdict(allowed: bool, reason: &str, behaviour: &str) -> Reply {
        Reply::json(&json!({"success": true, "data": {"guardrailsResult": {
            "Allowed": allowed, "Modified": false, "ModifiedPayload": "",
            "Reason": reason, "behaviour": behaviour,
            "Metadata": {"policy_name": if allowed { "" } else { "test-policy" },
                         "rule_violated": "", "severity": ""},
        }}}))
    }
}

impl Reply {
    /// An allow verdict with the record rewritten: `Modified: true` and `payload` as
    /// the `ModifiedPayload` (Akto sends the rewritten payload as JSON text).
    pub fn modified(payload: &str) -> Reply {
        Reply::json(&json!({"success": true, "data": {"guardrailsResult": {
            "Allowed": true, "Modified": true, "ModifiedPayload": payload,
            "Reason": "", "behaviour": "",
            "Metadata": {"policy_name": "redact-secrets", "rule_violated": "", "severity": ""},
        }}}))
    }
}

/// The fake Akto. Allows everything unless built to deny or to answer otherwise.
pub struct FakeAkto {
    server: Server,
    down: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<String>>>,
}

/// Where and how a fake Akto listens.
#[derive(Default, Clone)]
pub struct Listen {
    /// Speak HTTPS with this configuration (see [`crate::TestCa`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Listen on this port of 127.0.0.1 (0: any free port).
    pub port: u16,
    /// Wait this long before answering any call (verdicts and ingestion alike).
    pub delay: Duration,
}

impl FakeAkto {
    /// Allows every prompt, tool call and response.
    pub fn start() -> FakeAkto {
        FakeAkto::answering(|_| Reply::verdict(true, "", "block"))
    }

    /// Denies (behaviour "block") every verdict request whose request or response
    /// payload contains `needle`.
    pub fn deny_containing(needle: &str, reason: &str) -> FakeAkto {
        FakeAkto::deny_with_behaviour(needle, reason, "block")
    }

    /// Like [`FakeAkto::deny_containing`], with Akto's `behaviour` (block, warn, alert).
    pub fn deny_with_behaviour(needle: &str, reason: &str, behaviour: &str) -> FakeAkto {
        let (needle, reason, behaviour) = (
            needle.to_string(),
            reason.to_string(),
            behaviour.to_string(),
        );
        FakeAkto::answering(move |request| {
            let mentions = |field: &str| {
                request.body[field]
                    .as_str()
                    .is_some_and(|payload| payload.contains(&needle))
            };
            let denied = mentions("requestPayload") || mentions("responsePayload");
            Reply::verdict(!denied, if denied { &reason } else { "" }, &behaviour)
        })
    }

    /// Redacts as Akto's guardrails do: a verdict request whose judged payload (the
    /// `requestPayload` for `guardrails=true`, the `responsePayload` for
    /// `response_guardrails=true`) contains `secret` is allowed with that payload,
    /// every `secret` replaced by `replacement`, as its `ModifiedPayload`.
    pub fn redacting(secret: &str, replacement: &str) -> FakeAkto {
        let (secret, replacement) = (secret.to_string(), replacement.to_string());
        FakeAkto::answering(move |request| {
            let judged = if request.has_query_pair("response_guardrails=true") {
                "responsePayload"
            } else {
                "requestPayload"
            };
            match request.body[judged].as_str() {
                Some(payload) if payload.contains(&secret) => {
                    Reply::modified(&payload.replace(&secret, &replacement))
                }
                _ => Reply::verdict(true, "", "block"),
            }
        })
    }

    /// Answers verdict requests with `reply`; ingest-only calls get `{"success":true}`.
    pub fn answering(reply: impl Fn(&AktoRequest) -> Reply + Send + Sync + 'static) -> FakeAkto {
        FakeAkto::listening(Listen::default(), reply)
    }

    /// Like [`FakeAkto::answering`], listening as `listen` says.
    pub fn listening(
        listen: Listen,
        reply: impl Fn(&AktoRequest) -> Reply + Send + Sync + 'static,
    ) -> FakeAkto {
        let down = Arc::new(AtomicBool::new(false));
        let is_down = Arc::clone(&down);
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let accepted_log = Arc::clone(&accepted);
        let delay = listen.delay;
        let handler = move |request: &Request, stream: &mut dyn Write| {
            std::thread::sleep(delay);
            if is_down.load(Ordering::SeqCst) {
                return http::write_response(stream, 503, "text/plain", b"down for maintenance");
            }
            if request.method != "POST" || request.path() != "/api/http-proxy" {
                return http::write_response(stream, 404, "application/json", b"{}");
            }
            let request = to_akto(request);
            let answer = if request.asks_guardrails() {
                reply(&request)
            } else {
                Reply::json(&json!({"success": true, "data": {}}))
            };
            std::thread::sleep(answer.delay);
            if answer.status < 300 {
                if let Some(id) = request.header("x-codex-guard-event-id") {
                    accepted_log
                        .lock()
                        .expect("accepted ids")
                        .push(id.to_string());
                }
            }
            http::write_response(
                stream,
                answer.status,
                "application/json",
                answer.body.as_bytes(),
            )
        };
        FakeAkto {
            server: Server::start_with(Arc::new(handler), listen.tls, listen.port),
            down,
            accepted,
        }
    }

    /// Forgets every request and delivered id recorded so far.
    pub fn clear(&self) {
        self.server.clear();
        self.accepted.lock().expect("accepted ids").clear();
    }

    /// While down, every call is answered `503 Service Unavailable` (and still recorded).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The distinct `X-Codex-Guard-Event-Id`s of the calls answered with a 2xx.
    pub fn delivered_ids(&self) -> HashSet<String> {
        self.accepted
            .lock()
            .expect("accepted ids")
            .iter()
            .cloned()
            .collect()
    }

    /// How many calls were answered with a 2xx (duplicates included).
    pub fn delivered_count(&self) -> usize {
        self.accepted.lock().expect("accepted ids").len()
    }

    /// Waits up to `timeout` until `condition` holds for the requests received;
    /// returns them either way.
    pub fn wait_for(
        &self,
        timeout: Duration,
        condition: impl Fn(&[AktoRequest]) -> bool,
    ) -> Vec<AktoRequest> {
        let mut seen = self.requests();
        crate::wait_until(timeout, || {
            seen = self.requests();
            condition(&seen)
        });
        seen
    }

    /// The URL to give `codex-guard setup --url` (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<AktoRequest> {
        self.server.requests().iter().map(to_akto).collect()
    }

    /// The requests reporting this Codex event (see [`AktoRequest::hook`]).
    pub fn requests_for(&self, hook: &str) -> Vec<AktoRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.hook().as_deref() == Some(hook))
            .collect()
    }
}

fn to_akto(request: &Request) -> AktoRequest {
    AktoRequest {
        method: request.method.clone(),
        target: request.target.clone(),
        headers: request.headers.clone(),
        body: request.json(),
    }
}
