//! The hook runtime's configuration file (`$CODEX_HOME/codex-guard/config.toml`).
//!
//! The installer writes it from `templates/runtime-config.toml`; the runtime reads it
//! on every event and lets Akto's environment variable names override it (in a
//! managed install only to make it stricter).

use crate::env::EnvReader;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Backups kept by default; older ones are deleted when a new one is written.
pub const DEFAULT_BACKUPS_KEEP: usize = 10;
/// Default deadline for a whole hook decision, network included.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Default bound of the spool of undelivered events, in MiB.
pub const DEFAULT_SPOOL_MAX_MB: u64 = 64;
/// Default age, in hours, past which an undelivered event is dropped (a week).
pub const DEFAULT_SPOOL_MAX_AGE_HOURS: u64 = 168;
/// Default longest wait between two delivery attempts while the service is down.
pub const DEFAULT_RETRY_MAX_MS: u64 = 60_000;
/// First cool-down of the guardrails circuit breaker.
pub const DEFAULT_BREAKER_COOLDOWN_MS: u64 = 5_000;
/// Seconds Codex waits beyond the runtime's own deadline before it kills the hook,
/// so the runtime always gets to apply its fail policy itself.
pub const HOOK_TIMEOUT_MARGIN_SECS: u64 = 3;

/// How Akto identifies this machine's traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Traffic is attributed to the Codex API host.
    #[default]
    Argus,
    /// Traffic is attributed to this device (`<machine id>.ai-agent.codexcli`).
    Atlas,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Argus => "argus",
            Mode::Atlas => "atlas",
        }
    }

    pub fn parse(value: &str) -> Option<Mode> {
        match value.trim().to_ascii_lowercase().as_str() {
            "argus" => Some(Mode::Argus),
            "atlas" => Some(Mode::Atlas),
            _ => None,
        }
    }
}

/// Who keeps codex-guard current on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Updates {
    /// `codex-guard self-update` may replace the binaries.
    #[default]
    #[serde(rename = "self")]
    SelfUpdate,
    /// A fleet tool (MDM, Ansible, a package manager) owns updates; self-update refuses.
    #[serde(rename = "mdm")]
    Mdm,
}

impl Updates {
    pub fn as_str(self) -> &'static str {
        match self {
            Updates::SelfUpdate => "self",
            Updates::Mdm => "mdm",
        }
    }

    pub fn parse(value: &str) -> Option<Updates> {
        match value.trim().to_ascii_lowercase().as_str() {
            "self" => Some(Updates::SelfUpdate),
            "mdm" => Some(Updates::Mdm),
            _ => None,
        }
    }
}

/// Everything the runtime needs to decide on an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Base URL of the Akto data-ingestion service; `None` means local-only protection.
    pub url: Option<String>,
    /// File holding the token sent as the `Authorization` header.
    pub token_file: Option<PathBuf>,
    pub mode: Mode,
    /// `true`: ask the guardrails and block what they reject. `false`: observe only.
    pub blocking: bool,
    /// When the service cannot answer: `true` blocks prompts and tool calls, `false` lets them through.
    pub fail_closed: bool,
    /// Deadline in milliseconds for one hook decision, all network calls included.
    pub timeout_ms: u64,
    /// `akto_connector` query parameter.
    pub connector: String,
    /// Name of the agent in Akto's tags and Atlas host names.
    pub connector_value: String,
    /// `contextSource` of every record.
    pub context_source: String,
    /// Also ingest results of built-in tools (Bash, `apply_patch`), not only MCP tools.
    pub ingest_non_mcp_tools: bool,
    /// Atlas device id; when absent the runtime reads the machine-id file.
    pub device_id: Option<String>,
    /// Where logs go; default `<codex-guard dir>/logs`.
    pub log_dir: Option<PathBuf>,
    /// Local rules file; default `<codex-guard dir>/rules.toml`.
    pub rules_file: Option<PathBuf>,
    /// How many backups `codex-guard` keeps in `<codex-guard dir>/backups/`.
    pub backups_keep: usize,
    /// Extra CA certificates (a PEM file) trusted besides the OS trust store, for a
    /// service behind a private CA or a TLS-inspecting proxy.
    pub ca_cert: Option<PathBuf>,
    /// Largest size of the spool of undelivered events, in MiB; the oldest go first.
    pub spool_max_mb: u64,
    /// Undelivered events older than this many hours are dropped (and counted).
    pub spool_max_age_hours: u64,
    /// Longest wait between two delivery attempts while the service is down, in ms.
    pub retry_max_ms: u64,
    /// After the guardrail service timed out or could not be reached, events are
    /// decided by the fail policy at once, without asking it, for this many ms;
    /// doubled on each failed probe, up to a minute. 0 turns the breaker off.
    pub breaker_cooldown_ms: u64,
    /// Who updates codex-guard: `self` (self-update may) or `mdm` (the fleet tool does).
    pub updates: Updates,
    /// Where `self-update` looks for releases: the base of a GitHub-compatible releases
    /// API (an enterprise mirror); default GitHub.
    pub update_url: Option<String>,
    /// Ed25519 public key (64 hex digits) that must have signed a release's
    /// `SHA256SUMS` (`SHA256SUMS.sig`) before `self-update` installs it.
    pub update_public_key: Option<String>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            url: None,
            token_file: None,
            mode: Mode::Argus,
            blocking: true,
            fail_closed: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            connector: "codex_cli".into(),
            connector_value: "codexcli".into(),
            context_source: "ENDPOINT".into(),
            ingest_non_mcp_tools: false,
            device_id: None,
            log_dir: None,
            rules_file: None,
            backups_keep: DEFAULT_BACKUPS_KEEP,
            ca_cert: None,
            spool_max_mb: DEFAULT_SPOOL_MAX_MB,
            spool_max_age_hours: DEFAULT_SPOOL_MAX_AGE_HOURS,
            retry_max_ms: DEFAULT_RETRY_MAX_MS,
            breaker_cooldown_ms: DEFAULT_BREAKER_COOLDOWN_MS,
            updates: Updates::SelfUpdate,
            update_url: None,
            update_public_key: None,
        }
    }
}

impl RuntimeConfig {
    /// Parses the file's text. Unknown keys are an error, so a typo never silently
    /// turns protection off.
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Applies Akto's environment variable names on top of the file, as Akto's own
    /// hooks read them, as far as `env`'s scope allows (see [`crate::env::ENV_VARS`]):
    /// a managed install only lets them make the config stricter.
    pub fn apply_env(&mut self, env: &mut EnvReader<'_>) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(url) = env.value("AKTO_DATA_INGESTION_URL") {
            self.url = Some(url.trim().trim_end_matches('/').to_string());
        }
        env.flag("AKTO_SYNC_MODE", &mut self.blocking);
        if let Some(v) = env.value("AKTO_TIMEOUT") {
            let timeout = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|secs| *secs > 0.0)
                .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok());
            match timeout {
                // Rounded to the nearest millisecond.
                Some(timeout) => {
                    self.timeout_ms = u64::try_from((timeout.as_nanos() + 500_000) / 1_000_000)
                        .unwrap_or(u64::MAX);
                }
                None => problems.push(format!("AKTO_TIMEOUT={v:?} is not a number of seconds")),
            }
        }
        if let Some(v) = env.value("MODE") {
            match Mode::parse(&v) {
                Some(mode) => self.mode = mode,
                None => problems.push(format!("MODE={v:?} is neither argus nor atlas")),
            }
        }
        if let Some(v) = env.value("AKTO_CONNECTOR") {
            self.connector = v;
        }
        if let Some(v) = env.value("AKTO_CONNECTOR_VALUE") {
            self.connector_value = v;
        }
        if let Some(v) = env.value("CONTEXT_SOURCE") {
            self.context_source = v;
        }
        if let Some(v) = env.value("DEVICE_ID") {
            self.device_id = Some(v);
        }
        if let Some(v) = env.value("LOG_DIR") {
            self.log_dir = Some(PathBuf::from(v));
        }
        env.flag("AKTO_INGEST_NON_MCP_TOOLS", &mut self.ingest_non_mcp_tools);
        env.flag("CODEX_GUARD_FAIL_CLOSED", &mut self.fail_closed);
        problems
    }

    /// The `timeout` (seconds) of our handlers in `hooks.json`: longer than the
    /// runtime's own deadline, so the runtime applies the fail policy, not Codex.
    pub fn hook_timeout_secs(&self) -> u64 {
        self.timeout_ms.div_ceil(1000) + HOOK_TIMEOUT_MARGIN_SECS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Scope;
    use std::collections::HashMap;

    #[test]
    fn unknown_keys_are_rejected() {
        let err = RuntimeConfig::from_toml("url = \"https://a\"\nblockng = true\n").unwrap_err();
        assert!(err.to_string().contains("blockng"), "{err}");
    }

    #[test]
    fn akto_environment_names_override_the_file() {
        let env: HashMap<&str, &str> = [
            ("AKTO_DATA_INGESTION_URL", "https://akto.example.com/"),
            ("AKTO_SYNC_MODE", "false"),
            ("AKTO_TIMEOUT", "1.5"),
            ("MODE", "ATLAS"),
            ("AKTO_INGEST_NON_MCP_TOOLS", "true"),
        ]
        .into_iter()
        .collect();
        let mut config = RuntimeConfig::default();
        let get = |k: &str| env.get(k).map(ToString::to_string);
        let problems = config.apply_env(&mut EnvReader::new(&get, Scope::PerUser));
        assert!(problems.is_empty());
        assert_eq!(config.url.as_deref(), Some("https://akto.example.com"));
        assert!(!config.blocking);
        assert_eq!(config.timeout_ms, 1500);
        assert_eq!(config.mode, Mode::Atlas);
        assert!(config.ingest_non_mcp_tools);
        assert_eq!(config.hook_timeout_secs(), 5);
    }

    #[test]
    fn bad_environment_values_are_reported_and_ignored() {
        let mut config = RuntimeConfig::default();
        let get = |k: &str| (k == "AKTO_TIMEOUT").then(|| "soon".to_string());
        let problems = config.apply_env(&mut EnvReader::new(&get, Scope::PerUser));
        assert_eq!(problems.len(), 1);
        assert_eq!(config.timeout_ms, DEFAULT_TIMEOUT_MS);
    }

    #[test]
    fn a_managed_install_ignores_every_loosening_override() {
        let env: HashMap<&str, &str> = [
            ("AKTO_DATA_INGESTION_URL", "http://127.0.0.1:9"),
            ("AKTO_SYNC_MODE", "false"),
            ("CODEX_GUARD_FAIL_CLOSED", "false"),
            ("AKTO_TIMEOUT", "0.001"),
            ("LOG_DIR", "/tmp/elsewhere"),
            ("MODE", "atlas"),
        ]
        .into_iter()
        .collect();
        let machine = RuntimeConfig {
            url: Some("https://akto.corp".into()),
            fail_closed: true,
            ..RuntimeConfig::default()
        };
        let mut config = machine.clone();
        let get = |k: &str| env.get(k).map(ToString::to_string);
        let mut reader = EnvReader::new(&get, Scope::Managed);
        assert!(config.apply_env(&mut reader).is_empty());
        assert_eq!(config, machine);
        let mut ignored = reader.into_ignored();
        ignored.sort();
        assert_eq!(
            ignored,
            [
                "AKTO_DATA_INGESTION_URL=http://127.0.0.1:9",
                "AKTO_SYNC_MODE=false",
                "AKTO_TIMEOUT=0.001",
                "CODEX_GUARD_FAIL_CLOSED=false",
                "LOG_DIR=/tmp/elsewhere",
                "MODE=atlas",
            ]
        );
    }

    #[test]
    fn a_managed_install_takes_overrides_that_tighten_it() {
        let get = |k: &str| {
            matches!(
                k,
                "AKTO_SYNC_MODE" | "CODEX_GUARD_FAIL_CLOSED" | "AKTO_INGEST_NON_MCP_TOOLS"
            )
            .then(|| "true".to_string())
        };
        let mut config = RuntimeConfig {
            blocking: false,
            ..RuntimeConfig::default()
        };
        let mut reader = EnvReader::new(&get, Scope::Managed);
        config.apply_env(&mut reader);
        assert!(config.blocking && config.fail_closed && config.ingest_non_mcp_tools);
        assert!(reader.into_ignored().is_empty());
    }
}
