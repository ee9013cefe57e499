//! The one HTTP call the runtime makes: a JSON POST bounded by the hook's deadline,
//! TLS always verified, proxies from the environment honoured.

use std::time::Duration;

/// Largest answer read from the service; Akto's verdicts are a few hundred bytes.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

/// Sends one record. Tests substitute a fake.
pub trait Transport {
    /// POSTs `body` and returns the response body of a 2xx answer; anything else
    /// (refused, timeout, TLS failure, non-2xx) is an error message.
    fn post_json(
        &self,
        url: &str,
        token: Option<&str>,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, String>;
}

/// The real transport.
pub struct Http;

impl Transport for Http {
    fn post_json(
        &self,
        url: &str,
        token: Option<&str>,
        body: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, String> {
        if timeout.is_zero() {
            return Err("no time left before the deadline".into());
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!("codex-guard-hook/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let mut request = agent.post(url).header("Content-Type", "application/json");
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let mut response = request.send(body).map_err(describe)?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(describe)?;
        if !(200..300).contains(&status) {
            let snippet = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(format!("HTTP {status}: {}", snippet.trim()));
        }
        Ok(bytes)
    }
}

fn describe(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => "timed out".into(),
        other => other.to_string(),
    }
}
