//! Every environment variable the hook runtime honours, the install scopes it
//! applies to, and what a managed install does with it: one table that the runtime
//! applies, `codex-guard-hook --help` prints, doctor checks and docs/fleet.md shows.
//!
//! In a managed install the machine config is authoritative: the user's environment
//! may only make it stricter, never looser, and never moves traffic, trust or logs.

use std::fmt::Write as _;

/// What a managed install (`--machine-config`) does with a variable. A per-user
/// install honours every variable of the table: that user owns the install.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Managed {
    /// Honoured as in a per-user install: it describes the user's own session.
    Honoured,
    /// Honoured only to make the machine config stricter; a loosening value is ignored.
    TightenOnly,
    /// Ignored; the machine config decides.
    Ignored,
}

impl Managed {
    pub fn as_str(self) -> &'static str {
        match self {
            Managed::Honoured => "honoured",
            Managed::TightenOnly => "tighten only",
            Managed::Ignored => "ignored",
        }
    }
}

/// One honoured variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvVar {
    pub name: &'static str,
    pub managed: Managed,
    /// It overrides a setting of the config file (doctor reports it when set).
    pub overrides_config: bool,
    /// Its value is a secret: never written to a log.
    pub secret: bool,
    /// What it does, in a few words.
    pub effect: &'static str,
}

const fn var(name: &'static str, managed: Managed, effect: &'static str) -> EnvVar {
    EnvVar {
        name,
        managed,
        overrides_config: true,
        secret: false,
        effect,
    }
}

/// A variable that describes the user's session rather than overriding the config.
const fn session(name: &'static str, effect: &'static str) -> EnvVar {
    EnvVar {
        overrides_config: false,
        ..var(name, Managed::Honoured, effect)
    }
}

/// Every variable the runtime reads (itself or through its HTTP client), in the
/// order `--help` and docs/fleet.md list them.
pub const ENV_VARS: &[EnvVar] = &[
    var(
        "CODEX_GUARD_CONFIG",
        Managed::Ignored,
        "the runtime config file to read",
    ),
    EnvVar {
        overrides_config: false,
        ..var(
            "CODEX_GUARD_SYSTEM_ROOT",
            Managed::Ignored,
            "stands for `/` when finding the admin rules (tests)",
        )
    },
    var(
        "AKTO_DATA_INGESTION_URL",
        Managed::Ignored,
        "the Akto service (`url`)",
    ),
    EnvVar {
        secret: true,
        ..var(
            "AKTO_API_TOKEN",
            Managed::Ignored,
            "the token sent to Akto (`token_file`)",
        )
    },
    var(
        "AKTO_SYNC_MODE",
        Managed::TightenOnly,
        "`true` blocks, `false` observes (`blocking`)",
    ),
    var(
        "CODEX_GUARD_FAIL_CLOSED",
        Managed::TightenOnly,
        "`true` blocks when Akto cannot answer (`fail_closed`)",
    ),
    var(
        "AKTO_INGEST_NON_MCP_TOOLS",
        Managed::TightenOnly,
        "`true` also reports built-in tool results (`ingest_non_mcp_tools`)",
    ),
    var(
        "AKTO_TIMEOUT",
        Managed::Ignored,
        "deadline of a decision in seconds (`timeout_ms`)",
    ),
    var("MODE", Managed::Ignored, "`argus` or `atlas` (`mode`)"),
    var(
        "AKTO_CONNECTOR",
        Managed::Ignored,
        "Akto's connector parameter (`connector`)",
    ),
    var(
        "AKTO_CONNECTOR_VALUE",
        Managed::Ignored,
        "the agent's name in Akto (`connector_value`)",
    ),
    var(
        "CONTEXT_SOURCE",
        Managed::Ignored,
        "`contextSource` of records (`context_source`)",
    ),
    var(
        "DEVICE_ID",
        Managed::Ignored,
        "the Atlas device id (`device_id`)",
    ),
    var(
        "LOG_DIR",
        Managed::Ignored,
        "where the audit log goes (`log_dir`)",
    ),
    var(
        "SSL_CERT_PATH",
        Managed::Ignored,
        "a CA bundle trusted for Akto besides `ca_cert`",
    ),
    EnvVar {
        overrides_config: false,
        ..var(
            "SSL_CERT_FILE",
            Managed::Ignored,
            "the OS trust store's bundle (OpenSSL's name)",
        )
    },
    EnvVar {
        overrides_config: false,
        ..var(
            "SSL_CERT_DIR",
            Managed::Ignored,
            "the OS trust store's directories (OpenSSL's name)",
        )
    },
    session(
        "CODEX_HOME",
        "the Codex home: the user's rules, logs, spool and state",
    ),
    session(
        "HOME",
        "the Codex home is `$HOME/.codex` without CODEX_HOME",
    ),
    session("USERPROFILE", "HOME on Windows"),
    session(
        "XDG_CONFIG_HOME",
        "where fish's startup files are, protected from the agent",
    ),
    session(
        "ZDOTDIR",
        "where zsh's startup files are, protected from the agent",
    ),
    session(
        "OPENAI_BASE_URL",
        "the API host Codex talks to, as reported to Akto",
    ),
    session(
        "OPENAI_API_KEY",
        "set: Codex talks to api.openai.com (only its presence is read)",
    ),
    session("LOGNAME", "the user name reported to Akto"),
    session("USER", "the user name, without LOGNAME"),
    session("LNAME", "the user name, without USER"),
    session("USERNAME", "the user name, without LNAME"),
    session(
        "HTTPS_PROXY",
        "proxy to Akto (also ALL_PROXY, HTTP_PROXY, lowercase); TLS stays verified",
    ),
    session("NO_PROXY", "hosts reached without the proxy"),
];

/// The table entry of `name`.
pub fn lookup(name: &str) -> Option<&'static EnvVar> {
    ENV_VARS.iter().find(|v| v.name == name)
}

/// Longest value kept in the record of an ignored override.
const MAX_VALUE_CHARS: usize = 120;

/// Which install the runtime runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    PerUser,
    /// `--machine-config`: a machine-wide install.
    Managed,
}

/// Reads the environment as the table allows for a scope, and keeps the
/// overrides a managed install ignored, for the audit log.
pub struct EnvReader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    scope: Scope,
    ignored: Vec<String>,
}

impl<'a> EnvReader<'a> {
    /// In a managed scope every set variable the table marks `Ignored` is recorded
    /// at once, whether or not the runtime would have looked at it.
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>, scope: Scope) -> EnvReader<'a> {
        let mut reader = EnvReader {
            get,
            scope,
            ignored: Vec::new(),
        };
        if scope == Scope::Managed {
            for v in ENV_VARS.iter().filter(|v| v.managed == Managed::Ignored) {
                if let Some(value) = reader.raw(v.name) {
                    reader.ignore(v, &value);
                }
            }
        }
        reader
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }

    fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name).filter(|v| !v.trim().is_empty())
    }

    fn ignore(&mut self, var: &EnvVar, value: &str) {
        let shown = if var.secret {
            "[REDACTED]".to_string()
        } else {
            let mut v: String = value.trim().chars().take(MAX_VALUE_CHARS).collect();
            if value.trim().chars().count() > MAX_VALUE_CHARS {
                v.push('…');
            }
            v
        };
        self.ignored.push(format!("{}={shown}", var.name));
    }

    /// The non-empty value of `name` when the scope honours it. A tighten-only
    /// variable must be read with [`EnvReader::flag`]. The table must list every
    /// variable the runtime reads: a debug build panics on one it does not, and a
    /// managed scope never honours it.
    pub fn value(&self, name: &str) -> Option<String> {
        let var = lookup(name);
        debug_assert!(var.is_some(), "{name} is missing from ENV_VARS");
        debug_assert!(
            var.is_none_or(|v| v.managed != Managed::TightenOnly),
            "{name} is tighten-only: read it with flag()"
        );
        match (self.scope, var.map(|v| v.managed)) {
            (Scope::PerUser, _) | (Scope::Managed, Some(Managed::Honoured)) => self.raw(name),
            (Scope::Managed, _) => None,
        }
    }

    /// Applies a boolean variable (`true` turns it on, anything else off) to
    /// `setting`. In a managed scope a tighten-only variable can only turn it on;
    /// an attempt to turn it off is ignored and recorded.
    pub fn flag(&mut self, name: &str, setting: &mut bool) {
        let Some(var) = lookup(name) else {
            debug_assert!(false, "{name} is missing from ENV_VARS");
            return;
        };
        let Some(value) = self.raw(name) else {
            return;
        };
        let on = value.trim().eq_ignore_ascii_case("true");
        match (self.scope, var.managed) {
            (Scope::Managed, Managed::Ignored) => {}
            (Scope::Managed, Managed::TightenOnly) if !on => {
                if *setting {
                    self.ignore(var, &value);
                }
            }
            _ => *setting = on,
        }
    }

    /// The overrides the managed scope ignored, as `NAME=value` (secrets redacted).
    pub fn into_ignored(self) -> Vec<String> {
        self.ignored
    }
}

/// The table as Markdown, as docs/fleet.md shows it.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| Variable | Per-user install | Managed install | What it sets |\n| --- | --- | --- | --- |\n",
    );
    for v in ENV_VARS {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "| `{}` | honoured | {} | {} |",
            v.name,
            v.managed.as_str(),
            v.effect
        );
    }
    out
}

/// The table as plain text, as `codex-guard-hook --help` prints it.
pub fn text_table() -> String {
    let width = ENV_VARS.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for v in ENV_VARS {
        let _ = writeln!(
            out,
            "  {:<width$}  {:<12}  {}",
            v.name,
            v.managed.as_str(),
            v.effect.replace('`', "")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn names_are_unique() {
        for (i, v) in ENV_VARS.iter().enumerate() {
            assert!(
                ENV_VARS[i + 1..].iter().all(|w| w.name != v.name),
                "{} twice",
                v.name
            );
        }
    }

    #[test]
    fn a_managed_scope_records_every_ignored_variable_that_is_set() {
        let get = env(&[
            ("LOG_DIR", "/tmp/elsewhere"),
            ("AKTO_API_TOKEN", "secret-token"),
            ("CODEX_HOME", "/home/u/.codex"),
            ("SSL_CERT_PATH", " "),
        ]);
        let reader = EnvReader::new(&get, Scope::Managed);
        assert_eq!(reader.value("LOG_DIR"), None);
        assert_eq!(
            reader.value("CODEX_HOME").as_deref(),
            Some("/home/u/.codex")
        );
        assert_eq!(
            reader.into_ignored(),
            ["AKTO_API_TOKEN=[REDACTED]", "LOG_DIR=/tmp/elsewhere"]
        );
        let reader = EnvReader::new(&get, Scope::PerUser);
        assert_eq!(reader.value("LOG_DIR").as_deref(), Some("/tmp/elsewhere"));
        assert!(reader.into_ignored().is_empty());
    }

    #[test]
    fn a_tighten_only_flag_turns_on_but_never_off_in_a_managed_scope() {
        let off = env(&[("AKTO_SYNC_MODE", "false")]);
        let on = env(&[("AKTO_SYNC_MODE", "TRUE")]);
        let mut reader = EnvReader::new(&off, Scope::Managed);
        let mut blocking = true;
        reader.flag("AKTO_SYNC_MODE", &mut blocking);
        assert!(blocking);
        assert_eq!(reader.into_ignored(), ["AKTO_SYNC_MODE=false"]);
        // Already off: `false` changes nothing, so it is no attempt.
        let mut reader = EnvReader::new(&off, Scope::Managed);
        let mut blocking = false;
        reader.flag("AKTO_SYNC_MODE", &mut blocking);
        assert!(reader.into_ignored().is_empty());
        let mut reader = EnvReader::new(&on, Scope::Managed);
        reader.flag("AKTO_SYNC_MODE", &mut blocking);
        assert!(blocking);
        let mut reader = EnvReader::new(&off, Scope::PerUser);
        reader.flag("AKTO_SYNC_MODE", &mut blocking);
        assert!(!blocking);
    }

    #[test]
    fn long_values_are_cut_in_the_record() {
        let long = "x".repeat(500);
        let get = env(&[("LOG_DIR", &long)]);
        let ignored = EnvReader::new(&get, Scope::Managed).into_ignored();
        assert_eq!(ignored[0].chars().count(), "LOG_DIR=".len() + 121);
    }

    #[test]
    fn docs_fleet_shows_the_table() {
        let doc = include_str!("../../docs/fleet.md");
        assert!(
            doc.contains(&markdown_table()),
            "docs/fleet.md must contain the table of env::markdown_table():\n{}",
            markdown_table()
        );
    }
}
