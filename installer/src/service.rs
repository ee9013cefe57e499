//! What the service probe (`codex_guard_hook::probe`) found, for a person: one
//! message and one fix per cause, the same words in setup's warnings and in
//! doctor's `service.reachable` check, per-user and managed alike.

use crate::edit::hooks_json::shell_quote;
use codex_guard_hook::probe::{self, Outcome, Target};
use std::path::Path;

/// How the fixes are spelled for this install.
pub struct Fixes<'a> {
    /// The setup command that changes this install (`codex-guard setup`, with
    /// `--codex-home` or `--managed` as needed).
    pub setup: &'a str,
    /// The runtime config the hook reads (`ca_cert` is set there).
    pub config: &'a Path,
    /// `AKTO_API_TOKEN` is set and honoured: it, not the token file, is what the hook sends.
    pub env_token: bool,
}

/// One probe, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The hooks' calls to the service succeed.
    pub ok: bool,
    pub message: String,
    /// What to do about it (`None` when all is well).
    pub fix: Option<String>,
}

impl Finding {
    /// The finding as one line of setup's warnings: the message, then the fix.
    pub fn warning(&self) -> String {
        match &self.fix {
            Some(fix) => format!("{}; fix: {fix}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Probes the service of `target` and says what was found.
pub fn check(target: &Target, fixes: &Fixes<'_>) -> Finding {
    describe(target, &probe::probe(target), fixes)
}

/// The words every message about one target shares.
struct Words<'a> {
    url: &'a str,
    setup: &'a str,
    /// What a failing service means for the hooks.
    failing: &'static str,
}

fn bad(message: String, fix: String) -> Finding {
    Finding {
        ok: false,
        message,
        fix: Some(fix),
    }
}

fn secs(d: std::time::Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The message and fix for one outcome.
pub fn describe(target: &Target, outcome: &Outcome, fixes: &Fixes<'_>) -> Finding {
    let words = Words {
        url: &target.url,
        setup: fixes.setup,
        failing: if target.fail_closed {
            "every hook call to it fails, and the hooks fail closed (prompts and tool calls are blocked)"
        } else {
            "every hook call to it fails, and the hooks fail open (Akto checks nothing)"
        },
    };
    let Words {
        url,
        setup,
        failing,
    } = words;
    match outcome {
        Outcome::Accepted { status, elapsed } => Finding {
            ok: true,
            message: format!(
                "{url} took a probe call {} (HTTP {status}) in {} ms",
                if target.token.is_some() {
                    "with the token"
                } else {
                    "without a token"
                },
                elapsed.as_millis()
            ),
            fix: None,
        },
        Outcome::TokenRejected { status, token_sent } => {
            token_rejected(&words, *status, *token_sent, fixes.env_token)
        }
        Outcome::Unreachable(reason) => bad(
            format!("{url} is unreachable ({reason}): {failing}"),
            format!(
                "check the URL, the network and any proxy (HTTPS_PROXY, NO_PROXY); change the URL with `{setup} --url URL`"
            ),
        ),
        Outcome::Timeout(bound) => timeout(&words, target, *bound),
        Outcome::Tls(reason) => bad(
            format!("TLS with {url} failed ({reason}): {failing}"),
            format!(
                "a service behind a private CA or a TLS-inspecting proxy needs that CA: `{setup} --ca-cert FILE`; otherwise check the certificate's name and dates"
            ),
        ),
        Outcome::TrustSetup(reason) => bad(
            format!("cannot set up TLS for {url} ({reason}): {failing}"),
            format!(
                "point ca_cert in {} (or SSL_CERT_PATH) at a PEM file of CA certificates: `{setup} --ca-cert FILE`",
                shell_quote(fixes.config)
            ),
        ),
        Outcome::Status {
            status,
            snippet,
            location,
        } => http_status(&words, *status, snippet, location.as_deref()),
        Outcome::Failed(reason) => bad(
            format!("the call to {url} failed ({reason}): {failing}"),
            "check the URL and that a web server speaks HTTP there".to_string(),
        ),
    }
}

fn token_rejected(words: &Words<'_>, status: u16, token_sent: bool, env_token: bool) -> Finding {
    let Words {
        url,
        setup,
        failing,
    } = words;
    if !token_sent {
        return bad(
            format!("{url} requires a token (HTTP {status}) and none is configured: {failing}"),
            format!("give the service's token: `{setup} --token-file FILE` (or --token TOKEN)"),
        );
    }
    let (from, or_unset) = if env_token {
        (
            " from AKTO_API_TOKEN",
            "unset or correct AKTO_API_TOKEN, which overrides the token file, or ",
        )
    } else {
        ("", "")
    };
    bad(
        format!("{url} rejected the token{from} (HTTP {status}): {failing}"),
        format!(
            "{or_unset}give the service's token: `{setup} --token-file FILE` (or --token TOKEN)"
        ),
    )
}

/// No answer within `bound`: the probe's own longest wait, or the hooks' deadline.
fn timeout(words: &Words<'_>, target: &Target, bound: std::time::Duration) -> Finding {
    let Words {
        url,
        setup,
        failing,
    } = words;
    if target.deadline > bound {
        return bad(
            format!(
                "{url} did not answer within {}, the probe's longest wait; the hooks wait up to {} (timeout_ms) for it on every event, then fail {}",
                secs(bound),
                secs(target.deadline),
                if target.fail_closed { "closed" } else { "open" }
            ),
            format!(
                "check that the service is up and not overloaded, and any proxy in between; a deadline that long holds Codex up: `{setup} --timeout-ms MS`"
            ),
        );
    }
    bad(
        format!(
            "{url} did not answer within {} (the hooks' deadline, timeout_ms): {failing}",
            secs(bound)
        ),
        format!(
            "check that the service is up and not overloaded, and any proxy in between; a service that is only slow needs a longer deadline: `{setup} --timeout-ms MS`"
        ),
    )
}

/// An HTTP answer other than acceptance or a token refusal.
fn http_status(words: &Words<'_>, status: u16, snippet: &str, location: Option<&str>) -> Finding {
    let Words {
        url,
        setup,
        failing,
    } = words;
    let answer = if snippet.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {snippet}")
    };
    match status {
        300..=399 => bad(
            format!(
                "{url} redirects the hooks' calls ({answer}) to {}: it is not the data-ingestion URL; {failing}",
                location.unwrap_or("nowhere")
            ),
            format!("`{setup} --url URL` with the service's own data-ingestion URL"),
        ),
        404 | 405 => bad(
            format!("{url} has no Akto ingestion endpoint ({answer} to /api/http-proxy): {failing}"),
            format!("`{setup} --url URL` with the Akto data-ingestion URL"),
        ),
        _ => bad(
            format!("{url} failed the probe call ({answer}): {failing}"),
            "check the Akto service and its logs; run `codex-guard doctor` again once it answers"
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn target(token: Option<&str>, fail_closed: bool) -> Target {
        Target {
            url: "https://akto.example".into(),
            connector: "codex_cli".into(),
            context_source: "ENDPOINT".into(),
            token: token.map(str::to_string),
            ca_files: Vec::new(),
            timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(5),
            fail_closed,
        }
    }

    fn fixes(env_token: bool) -> Fixes<'static> {
        Fixes {
            setup: "codex-guard setup",
            config: Path::new("/h/.codex/codex-guard/config.toml"),
            env_token,
        }
    }

    /// Every cause has its own message and its own fix; only an accepted call passes.
    #[test]
    fn each_cause_has_its_own_message_and_fix() {
        let outcomes = [
            Outcome::TokenRejected {
                status: 401,
                token_sent: true,
            },
            Outcome::TokenRejected {
                status: 403,
                token_sent: false,
            },
            Outcome::Unreachable("connection refused: nothing listens there".into()),
            Outcome::Timeout(Duration::from_secs(5)),
            Outcome::Tls("invalid peer certificate: UnknownIssuer".into()),
            Outcome::TrustSetup("CA bundle /x holds no certificate".into()),
            Outcome::Status {
                status: 302,
                snippet: String::new(),
                location: Some("https://login.example".into()),
            },
            Outcome::Status {
                status: 404,
                snippet: "{}".into(),
                location: None,
            },
            Outcome::Status {
                status: 503,
                snippet: "down".into(),
                location: None,
            },
            Outcome::Failed("protocol: bad status line".into()),
        ];
        let t = target(Some("secret"), false);
        let findings: Vec<Finding> = outcomes
            .iter()
            .map(|o| describe(&t, o, &fixes(false)))
            .collect();
        for (i, f) in findings.iter().enumerate() {
            assert!(!f.ok, "{f:?}");
            assert!(f.message.contains("hooks fail open"), "{f:?}");
            assert!(!f.message.contains("secret"), "the token is never shown");
            for g in &findings[i + 1..] {
                assert_ne!(f.message, g.message);
            }
        }
        let distinct_fixes: std::collections::HashSet<_> =
            findings.iter().map(|f| f.fix.clone().unwrap()).collect();
        // A rejected token and a missing one have the same fix: give the right token.
        assert_eq!(distinct_fixes.len(), findings.len() - 1);
        assert!(findings[0].fix.as_deref().unwrap().contains("--token-file"));
        assert!(findings[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("--token TOKEN"));
        assert!(findings[1].message.contains("requires a token"));
        assert!(findings[4].fix.as_deref().unwrap().contains("--ca-cert"));
        assert!(findings[6].message.contains("https://login.example"));

        let ok = describe(
            &target(None, true),
            &Outcome::Accepted {
                status: 200,
                elapsed: Duration::from_millis(12),
            },
            &fixes(false),
        );
        assert_eq!(
            ok,
            Finding {
                ok: true,
                message:
                    "https://akto.example took a probe call without a token (HTTP 200) in 12 ms"
                        .into(),
                fix: None
            }
        );
        let closed = describe(&target(None, true), &outcomes[2], &fixes(false));
        assert!(closed.message.contains("fail closed"), "{closed:?}");
    }

    #[test]
    fn a_deadline_longer_than_the_probe_waits_is_said_so() {
        let mut t = target(None, false);
        t.timeout = probe::MAX_TIMEOUT;
        t.deadline = Duration::from_secs(60);
        let f = describe(&t, &Outcome::Timeout(probe::MAX_TIMEOUT), &fixes(false));
        assert!(
            f.message.contains(
                "did not answer within 10.0 s, the probe's longest wait; the hooks wait up to 60.0 s"
            ),
            "{f:?}"
        );
        assert!(f.fix.unwrap().contains("--timeout-ms MS"));
    }

    #[test]
    fn a_token_from_the_environment_is_named_as_the_one_rejected() {
        let f = describe(
            &target(Some("t"), false),
            &Outcome::TokenRejected {
                status: 401,
                token_sent: true,
            },
            &fixes(true),
        );
        assert!(f.message.contains("from AKTO_API_TOKEN"), "{f:?}");
        assert!(f.fix.unwrap().contains("unset or correct AKTO_API_TOKEN"));
    }
}
