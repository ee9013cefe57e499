//! The settings an install will have: the layered sources (see the module above), then
//! the current install, then questions (interactive only), then defaults; and the
//! checks every value passes whichever source gave it.

use super::{Service, Settings, Token};
use crate::failure::{ExitCode, Failure};
use crate::ui;
use anyhow::Result;
use codex_guard_common::{Mode, RuntimeConfig};
use codex_guard_hook::rules::{Layer, Rules};
use std::path::{Path, PathBuf};

/// The settings this install will have.
#[derive(Debug, Clone, PartialEq)]
pub struct Choices {
    /// The runtime config to write (the plan fills in where the token file is).
    pub config: RuntimeConfig,
    pub token: Option<String>,
    /// Rules to install in place of the current (or default) rules file.
    pub rules: Option<Vec<u8>>,
    /// The Atlas device id to write; `None` keeps the current one (or makes one).
    pub device_id: Option<String>,
}

impl Choices {
    /// The runtime config these choices make, with the token read from `token_file`.
    pub fn runtime_config(&self, token_file: Option<PathBuf>) -> RuntimeConfig {
        RuntimeConfig {
            token_file,
            ..self.config.clone()
        }
    }
}

/// The layered settings (see the module above), then the current install, then questions
/// (interactive only), then defaults.
pub fn resolve_choices(
    inputs: &Settings,
    existing: Option<&RuntimeConfig>,
    interactive: bool,
    rules_layer: Layer,
) -> Result<Choices> {
    let allow_http = inputs.allow_http.unwrap_or(false);
    let url = match inputs.service() {
        Some(Service::LocalOnly) => None,
        Some(Service::Url(url)) => Some(validate_url(&url, allow_http)?),
        None => match existing {
            Some(config) => config.url.clone(),
            None if interactive => ui::ask_url(&|u| validate_url(u, allow_http))?,
            None => {
                return Err(Failure::bad_input(
                    "no Akto ingestion URL: pass --url URL (or set CODEX_GUARD_URL, or url in the --config file), or --local-only",
                )
                .into())
            }
        },
    };
    let token = resolve_token(inputs, existing, interactive, url.as_deref())?;
    let remote = url.is_some();
    let mode = match inputs.mode {
        Some(mode) => mode,
        None => match existing {
            Some(config) => config.mode,
            None if interactive && remote => ui::ask_mode()?,
            None => Mode::Argus,
        },
    };
    let blocking = match inputs.blocking {
        Some(blocking) => blocking,
        None => match existing {
            Some(config) => config.blocking,
            None if interactive && remote => ui::ask_blocking()?,
            None => true,
        },
    };
    let fail_closed = inputs
        .fail_closed
        .unwrap_or_else(|| existing.is_some_and(|c| c.fail_closed));
    let timeout_ms = inputs
        .timeout_ms
        .or(existing.map(|c| c.timeout_ms))
        .unwrap_or(codex_guard_common::config::DEFAULT_TIMEOUT_MS);
    let ca_cert = match &inputs.ca_cert {
        Some(path) => Some(validate_ca_cert(path)?),
        None => existing.and_then(|c| c.ca_cert.clone()),
    };
    let rules = inputs
        .rules
        .as_deref()
        .map(|path| read_rules(path, rules_layer))
        .transpose()?;
    let defaults = RuntimeConfig::default();
    let kept = existing.unwrap_or(&defaults);
    let config = RuntimeConfig {
        url,
        mode,
        blocking,
        fail_closed,
        timeout_ms,
        ca_cert,
        updates: inputs.updates.unwrap_or(kept.updates),
        update_url: match &inputs.update_url {
            Some(url) => Some(validate_update_url(url)?),
            None => kept.update_url.clone(),
        },
        update_public_key: match &inputs.update_public_key {
            Some(key) => Some(validate_public_key(key)?),
            None => kept.update_public_key.clone(),
        },
        // Kept from the current install (edited in the runtime config by hand).
        ingest_non_mcp_tools: kept.ingest_non_mcp_tools,
        backups_keep: kept.backups_keep,
        spool_max_mb: kept.spool_max_mb,
        spool_max_age_hours: kept.spool_max_age_hours,
        retry_max_ms: kept.retry_max_ms,
        breaker_cooldown_ms: kept.breaker_cooldown_ms,
        ..RuntimeConfig::default()
    };
    Ok(Choices {
        config,
        token,
        rules,
        device_id: inputs.device_id.clone(),
    })
}

/// The token: given inline or in a file (read now), else asked for at a terminal when
/// the service is chosen; one line, empty meaning none.
fn resolve_token(
    inputs: &Settings,
    existing: Option<&RuntimeConfig>,
    interactive: bool,
    url: Option<&str>,
) -> Result<Option<String>> {
    let token = match inputs.token_source() {
        Some(Token::Inline(token)) => Some(token.trim().to_string()),
        Some(Token::File(file)) => {
            let text = fs_err::read_to_string(&file).map_err(|e| {
                Failure::bad_input(format!("cannot read the token file: {e}"))
                    .hint("pass a readable file to --token-file")
            })?;
            Some(text.trim().to_string())
        }
        None => None,
    }
    .filter(|t| !t.is_empty());
    let token = match (
        token,
        ui::token_question(interactive, url, inputs.token_source().is_some(), existing),
    ) {
        (None, Some(question)) => ui::ask_token(question)?,
        (token, _) => token,
    };
    if let Some(token) = &token {
        if token.contains(['\n', '\r']) {
            return Err(Failure::bad_input("the token must be a single line").into());
        }
    }
    Ok(token)
}

/// A rules file to install: it must parse, and every rule in it must be valid (a fleet
/// pushing a broken rule hears about it before any machine runs without it).
fn read_rules(path: &Path, layer: Layer) -> Result<Vec<u8>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::bad_input(format!(
            "cannot read the rules file {}: {e}",
            path.display()
        ))
        .hint("pass a readable rules TOML file to --rules")
    })?;
    let mut problems = Vec::new();
    let rules = Rules::parse_layer(&text, layer, None, false, &mut problems).map_err(|e| {
        Failure::bad_input(format!(
            "the rules file {} is not valid TOML: {e}",
            path.display()
        ))
        .hint("its format is in docs/rules.md")
    })?;
    if !problems.is_empty() {
        return Err(Failure::bad_input(format!(
            "the rules file {} has {} problem(s): {}",
            path.display(),
            problems.len(),
            problems.join("; ")
        ))
        .hint("its format is in docs/rules.md"));
    }
    // Parsed above, so only the keys are looked at: a file may set nothing but the
    // packs or the admin's `user_allow_rules`.
    let sets = |key: &str| {
        text.parse::<toml::Table>()
            .is_ok_and(|table| table.contains_key(key))
    };
    if rules.is_empty() && !sets("packs") && !sets("user_allow_rules") {
        return Err(Failure::bad_input(format!(
            "the rules file {} holds no rules and sets no packs",
            path.display()
        ))
        .hint("a rules file needs a [[rule]] or a [packs] table; its format is in docs/rules.md"));
    }
    Ok(text.into_bytes())
}

/// A readable PEM bundle with at least one CA certificate, as an absolute path (the
/// runtime runs from anywhere).
fn validate_ca_cert(path: &Path) -> Result<PathBuf, Failure> {
    let bad = |message: String| Failure {
        code: ExitCode::BadInput,
        message,
        hint: Some("--ca-cert takes a PEM file of CA certificates".into()),
    };
    let absolute = std::fs::canonicalize(path)
        .map_err(|e| bad(format!("cannot read --ca-cert {}: {e}", path.display())))?;
    codex_guard_hook::transport::check_ca_bundle(&absolute).map_err(bad)?;
    Ok(absolute)
}

/// https anywhere; http only to a loopback host or with `--allow-http`. Returns the
/// URL with trailing slashes removed.
pub fn validate_url(raw: &str, allow_http: bool) -> Result<String, Failure> {
    check_url(raw, allow_http, "the ingestion URL").map_err(|f| match f.hint {
        Some(_) => f,
        None => {
            f.hint("pass the Akto data-ingestion URL, e.g. --url https://akto-ingest.example.com")
        }
    })
}

/// The release source of `self-update` (`--update-url`): the same rules as the
/// ingestion URL, so releases never travel unchecked over plain http.
/// A releases API base URL: https, or plain http to a loopback mirror (which
/// self-update then follows only with `--allow-http`); `--allow-http` of setup never
/// lets a remote http mirror choose the programs installed.
pub fn validate_update_url(raw: &str) -> Result<String, Failure> {
    check_url(raw, false, "the update URL").map_err(|f| {
        f.hint("pass the https base of a GitHub-compatible releases API, e.g. --update-url https://github.example.com/api/v3")
    })
}

/// An Ed25519 public key for release signatures: 32 bytes as 64 hex digits.
pub fn validate_public_key(raw: &str) -> Result<String, Failure> {
    let key = raw.trim().to_ascii_lowercase();
    if key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(key)
    } else {
        Err(Failure::bad_input(format!(
            "{raw:?} is not an Ed25519 public key (64 hex digits)"
        ))
        .hint("pass the key printed by `cargo xtask keygen` to --update-public-key"))
    }
}

fn check_url(raw: &str, allow_http: bool, what: &str) -> Result<String, Failure> {
    let trimmed = raw.trim();
    let parsed = url::Url::parse(trimmed)
        .map_err(|e| Failure::bad_input(format!("{trimmed:?} is not a valid URL ({e})")))?;
    let host = parsed
        .host()
        .ok_or_else(|| Failure::bad_input(format!("{trimmed:?} has no host")))?;
    let loopback = match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback || allow_http => {}
        "http" => {
            return Err(Failure::bad_input(format!(
                "{trimmed:?} uses plain http to a remote host: what travels to {what} would be unencrypted"
            ))
            .hint("use https, or pass --allow-http if this network is trusted"))
        }
        other => {
            return Err(Failure::bad_input(format!(
                "{trimmed:?} uses the scheme {other:?}; {what} must be https"
            )))
        }
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Failure::bad_input(format!(
            "{trimmed:?} has a query or fragment; give the service's base URL only"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Failure::bad_input(format!(
            "{trimmed:?} contains credentials; pass the token with --token or --token-file instead"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_validated_and_normalised() {
        assert_eq!(
            validate_url("https://akto.example.com//", false).unwrap(),
            "https://akto.example.com"
        );
        assert_eq!(
            validate_url(" https://a.b/ingest/ ", false).unwrap(),
            "https://a.b/ingest"
        );
        assert_eq!(
            validate_url("http://127.0.0.1:9090/", false).unwrap(),
            "http://127.0.0.1:9090"
        );
        assert!(validate_url("http://[::1]:80", false).is_ok());
        assert!(validate_url("http://localhost:1", false).is_ok());
        assert!(validate_url("http://akto.corp", false).is_err());
        assert!(validate_url("http://akto.corp", true).is_ok());
        assert!(validate_url("ftp://x", true).is_err());
        assert!(validate_url("https://a.b/?x=1#y", false).is_err());
        assert!(validate_url("https://u:p@a.b", false).is_err());
        assert!(validate_url("akto.example.com", false).is_err());
    }
}
