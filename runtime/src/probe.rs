//! The one question `codex-guard setup` and `doctor` ask the Akto service: does it
//! take a call made exactly as the hook makes it? Same URL and connector, the token
//! the hook would send, the hook's TLS trust (`ca_cert`, `SSL_CERT_PATH`, the OS
//! store), the proxy environment, the hook's deadline.
//!
//! The call is `POST /api/http-proxy?akto_connector=...` with no `guardrails`,
//! `response_guardrails` or `ingest_data` flag, so Akto neither asks its guardrails
//! nor stores anything a dashboard would show; the record is marked as a probe
//! (`X-Codex-Guard-Probe` header, `/codex-guard/probe` path, `codex-guard-probe`
//! tag) for whoever reads the service's own logs. It carries a payload, because
//! Akto answers a record without one as a failure (HTTP 422) and alerts its
//! operators about it.
//!
//! Akto's ingestion service checks the token before anything else (its `AuthFilter`
//! on `/api/*` answers 401), so a 2xx answer proves the service is there and takes
//! the token, and 401/403 proves it refuses it.

use crate::akto::{self, Envelope, Flags};
use crate::settings::{self, EnvLookup, Settings};
use crate::transport;
use codex_guard_common::env::{EnvReader, Scope};
use codex_guard_common::RuntimeConfig;
use serde_json::{json, Map};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Longest a probe waits, whatever the install's deadline. The hook gives a call
/// at most `timeout_ms` (5 s by default), so a service slower than that fails every
/// hook call and the probe uses that same deadline; but `timeout_ms` may be set up
/// to 600 s, and setup and doctor must not hang that long on a service that accepts
/// connections and never answers.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(10);

/// Header that marks the probe for anyone reading the service's request logs.
pub const PROBE_HEADER: &str = "X-Codex-Guard-Probe";

/// The `path` of the probe record.
pub const PROBE_PATH: &str = "/codex-guard/probe";

/// Largest part of an answer kept to show in a message.
const SNIPPET_BYTES: usize = 200;

/// Where and how the hook would call the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Base URL of the service (no trailing `/`).
    pub url: String,
    /// `akto_connector` query parameter.
    pub connector: String,
    /// `contextSource` of the record.
    pub context_source: String,
    /// Sent verbatim as `Authorization`.
    pub token: Option<String>,
    /// CA bundles trusted besides the OS store.
    pub ca_files: Vec<PathBuf>,
    /// How long the probe waits: the hook's deadline, at most [`MAX_TIMEOUT`].
    pub timeout: Duration,
    /// The hook's own deadline for an event (`timeout_ms`).
    pub deadline: Duration,
    /// What the hooks do when the service cannot answer.
    pub fail_closed: bool,
}

impl Target {
    /// The service as the hook with these settings calls it; `None` for local-only.
    pub fn from_settings(s: &Settings) -> Option<Target> {
        let url = s.remote()?;
        Some(Target {
            url: url.trim_end_matches('/').to_string(),
            connector: s.config.connector.clone(),
            context_source: s.config.context_source.clone(),
            token: s.token.clone(),
            ca_files: s.ca_files.clone(),
            timeout: bounded(s.config.timeout_ms),
            deadline: Duration::from_millis(s.config.timeout_ms),
            fail_closed: s.config.fail_closed,
        })
    }

    /// The service as the hook will call it once `config` is installed with
    /// `stored_token` in its token file, run with the environment `env` in `scope`
    /// (for setup, before anything is written). Reads nothing from disk.
    pub fn planned(
        config: &RuntimeConfig,
        stored_token: Option<&str>,
        env: EnvLookup<'_>,
        scope: Scope,
    ) -> Option<Target> {
        let mut env = EnvReader::new(env, scope);
        let mut config = config.clone();
        // Problems of the environment (a bad AKTO_TIMEOUT) are the hook's to log;
        // the values it then runs with are what counts here.
        let _ = config.apply_env(&mut env);
        let url = config.url.as_deref().filter(|u| !u.is_empty())?;
        let token = settings::env_token(&env)
            .or_else(|| stored_token.and_then(settings::token_from_file_text));
        Some(Target {
            url: url.trim_end_matches('/').to_string(),
            connector: config.connector.clone(),
            context_source: config.context_source.clone(),
            token,
            ca_files: settings::trusted_ca_files(&config, &env),
            timeout: bounded(config.timeout_ms),
            deadline: Duration::from_millis(config.timeout_ms),
            fail_closed: config.fail_closed,
        })
    }

    /// The URL the probe calls.
    pub fn probe_url(&self) -> String {
        akto::proxy_url(&self.url, &self.connector, Flags::default())
    }
}

fn bounded(timeout_ms: u64) -> Duration {
    Duration::from_millis(timeout_ms).min(MAX_TIMEOUT)
}

/// What the probe found. Each variant has its own cause, and so its own fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The service took the call (2xx): it is there and accepts the token (or needs none).
    Accepted { status: u16, elapsed: Duration },
    /// 401 or 403: the service refuses the token, or wants one and got none.
    TokenRejected { status: u16, token_sent: bool },
    /// No connection: the name does not resolve, nothing listens, no route, the proxy
    /// would not connect.
    Unreachable(String),
    /// No answer within the deadline (connected or not).
    Timeout(Duration),
    /// The TLS handshake failed: a certificate nobody trusted signed, a wrong name,
    /// an expired certificate, no common protocol.
    Tls(String),
    /// The trust itself could not be set up (an unreadable or empty CA bundle).
    TrustSetup(String),
    /// Another answer: a wrong URL (3xx, 404, 405), a failing service (5xx), a
    /// record the service could not process (422).
    Status {
        status: u16,
        /// The start of the answer's body.
        snippet: String,
        /// Where a 3xx answer points.
        location: Option<String>,
    },
    /// A failure of another kind (a protocol error), described.
    Failed(String),
}

impl Outcome {
    /// The hooks' calls succeed.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Accepted { .. })
    }
}

/// Calls the service once, as the hook would, and says what happened. Never takes
/// longer than `target.timeout` (plus reading the OS trust store when needed).
pub fn probe(target: &Target) -> Outcome {
    let agent = match transport::agent(&target.ca_files) {
        Ok(agent) => agent,
        Err(e) => return Outcome::TrustSetup(e),
    };
    let mut tags = Map::new();
    tags.insert("gen-ai".into(), "Gen AI".into());
    tags.insert("codex-guard-probe".into(), "true".into());
    let mut request_headers = Map::new();
    request_headers.insert("host".into(), "codex-guard.probe".into());
    request_headers.insert("content-type".into(), "application/json".into());
    request_headers.insert("x-codex-guard-probe".into(), "true".into());
    let body = Envelope {
        path: PROBE_PATH,
        request_headers: &request_headers,
        response_headers: &Map::new(),
        request_payload: &json!({ "body": "codex-guard connectivity probe; nothing to check or store" }),
        response_payload: &json!({}),
        ip: "codex-guard-probe",
        time_ms: u128::from(crate::spool::now_ms()),
        status: "200",
        tags: &tags,
        context_source: &target.context_source,
    }
    .to_json()
    .to_string();
    let started = Instant::now();
    let mut request = agent
        .post(target.probe_url())
        .config()
        .timeout_global(Some(target.timeout))
        // A redirect means the URL is not the service's: say where it points rather
        // than follow it (without the token, as any client would) and blame the token.
        .max_redirects(0)
        .build()
        .header("Content-Type", "application/json")
        .header(PROBE_HEADER, "1");
    if let Some(token) = &target.token {
        request = request.header("Authorization", token);
    }
    let mut response = match request.send(body.as_bytes()) {
        Ok(response) => response,
        Err(e) => return classify_error(e, target.timeout),
    };
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = match response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
    {
        Ok(bytes) => bytes,
        // The status already says what the service thinks; a cut body does not change it.
        Err(ureq::Error::BodyExceedsLimit(_)) => Vec::new(),
        Err(e) => return classify_error(e, target.timeout),
    };
    match status {
        200..=299 => Outcome::Accepted {
            status,
            elapsed: started.elapsed(),
        },
        401 | 403 => Outcome::TokenRejected {
            status,
            token_sent: target.token.is_some(),
        },
        _ => Outcome::Status {
            status,
            snippet: String::from_utf8_lossy(&bytes[..bytes.len().min(SNIPPET_BYTES)])
                .trim()
                .to_string(),
            location,
        },
    }
}

/// Sorts a failed call into its cause.
fn classify_error(e: ureq::Error, timeout: Duration) -> Outcome {
    match e {
        ureq::Error::Timeout(_) => Outcome::Timeout(timeout),
        ureq::Error::HostNotFound => Outcome::Unreachable("the host name does not resolve".into()),
        ureq::Error::ConnectionFailed => Outcome::Unreachable("the connection failed".into()),
        ureq::Error::ConnectProxyFailed(why) => {
            Outcome::Unreachable(format!("the proxy did not connect: {why}"))
        }
        ureq::Error::InvalidProxyUrl => {
            Outcome::Unreachable("the proxy URL in the environment is invalid".into())
        }
        ureq::Error::Tls(why) => Outcome::Tls(why.to_string()),
        ureq::Error::Rustls(e) => Outcome::Tls(e.to_string()),
        ureq::Error::Io(io) => classify_io(&io, timeout),
        other => Outcome::Failed(other.to_string()),
    }
}

fn classify_io(io: &std::io::Error, timeout: Duration) -> Outcome {
    use std::io::ErrorKind;
    // rustls reports a failed handshake as an I/O error that carries its own error.
    if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        return Outcome::Tls(tls.to_string());
    }
    match io.kind() {
        ErrorKind::TimedOut | ErrorKind::WouldBlock => Outcome::Timeout(timeout),
        ErrorKind::ConnectionRefused => {
            Outcome::Unreachable("connection refused: nothing listens there".into())
        }
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::UnexpectedEof => {
            Outcome::Unreachable(format!(
                "the connection was closed without an answer ({io})"
            ))
        }
        _ => Outcome::Unreachable(io.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    /// Setup's view (the config it will write, the token it will store) and doctor's
    /// view (the hook's own settings, read back from disk) name the same call, in
    /// both scopes and whatever the environment says.
    #[test]
    fn the_planned_target_is_the_one_the_hook_loads() {
        let dir = tempfile::tempdir().unwrap();
        let guard = dir.path().join("home/.codex/codex-guard");
        std::fs::create_dir_all(guard.join("bin")).unwrap();
        let token_file = guard.join("token");
        std::fs::write(&token_file, "  file-token \n").unwrap();
        let ca = dir.path().join("ca.pem");
        let config = RuntimeConfig {
            url: Some("https://akto.example/".into()),
            token_file: Some(token_file.clone()),
            timeout_ms: 2500,
            ca_cert: Some(ca.clone()),
            ..RuntimeConfig::default()
        };
        let text = format!(
            "url = \"https://akto.example/\"\ntoken_file = {:?}\ntimeout_ms = 2500\nca_cert = {:?}\n",
            token_file.display().to_string(),
            ca.display().to_string()
        );
        assert_eq!(RuntimeConfig::from_toml(&text).unwrap(), config);
        std::fs::write(guard.join("config.toml"), &text).unwrap();
        let home = dir.path().join("home/.codex").display().to_string();
        let environments = [
            lookup(&[("CODEX_HOME", &home)]),
            lookup(&[
                ("CODEX_HOME", &home),
                ("AKTO_API_TOKEN", "env-token"),
                ("SSL_CERT_PATH", "/etc/corp-ca.pem"),
                ("AKTO_TIMEOUT", "60"),
                ("AKTO_CONNECTOR", "other"),
                ("AKTO_DATA_INGESTION_URL", "https://elsewhere.example"),
            ]),
        ];
        for env in &environments {
            let exe = guard.join("bin/codex-guard-hook");
            let loaded = Settings::load(env, Some(&exe));
            let planned = Target::planned(&config, Some("  file-token \n"), env, Scope::PerUser);
            assert_eq!(planned, Target::from_settings(&loaded));
            let managed = Settings::load_with(env, None, Some(&guard.join("config.toml")));
            let planned = Target::planned(&config, Some("file-token"), env, Scope::Managed);
            assert_eq!(planned, Target::from_settings(&managed));
            // A managed install never takes the user's token, trust or deadline.
            let planned = planned.unwrap();
            assert_eq!(planned.token.as_deref(), Some("file-token"));
            assert_eq!(planned.ca_files, std::slice::from_ref(&ca));
            assert_eq!(planned.timeout, Duration::from_millis(2500));
            assert_eq!(planned.url, "https://akto.example");
        }
        let per_user = Target::planned(&config, None, &environments[1], Scope::PerUser).unwrap();
        assert_eq!(per_user.token.as_deref(), Some("env-token"));
        assert_eq!(per_user.timeout, MAX_TIMEOUT, "60 s is cut to the bound");
        assert_eq!(
            per_user.probe_url(),
            "https://elsewhere.example/api/http-proxy?akto_connector=other"
        );
        let local = RuntimeConfig::default();
        assert_eq!(
            Target::planned(&local, None, &environments[0], Scope::PerUser),
            None
        );
    }

    #[test]
    fn the_probe_asks_for_neither_guardrails_nor_ingestion() {
        let target = Target {
            url: "https://a.b".into(),
            connector: "codex_cli".into(),
            context_source: "ENDPOINT".into(),
            token: None,
            ca_files: Vec::new(),
            timeout: Duration::from_secs(1),
            deadline: Duration::from_secs(1),
            fail_closed: false,
        };
        assert_eq!(
            target.probe_url(),
            "https://a.b/api/http-proxy?akto_connector=codex_cli"
        );
    }

    #[test]
    fn connection_errors_are_sorted_by_cause() {
        use std::io::{Error, ErrorKind};
        let t = Duration::from_secs(3);
        assert_eq!(
            classify_io(&Error::from(ErrorKind::ConnectionRefused), t),
            Outcome::Unreachable("connection refused: nothing listens there".into())
        );
        assert_eq!(
            classify_io(&Error::from(ErrorKind::TimedOut), t),
            Outcome::Timeout(t)
        );
        let tls = Error::new(
            ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(classify_io(&tls, t), Outcome::Tls(m) if m.contains("UnknownIssuer")));
        assert_eq!(
            classify_error(ureq::Error::HostNotFound, t),
            Outcome::Unreachable("the host name does not resolve".into())
        );
    }
}
