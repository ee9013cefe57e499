//! Where setup's settings come from when nobody answers questions: the command line,
//! `CODEX_GUARD_*` environment variables, and a fleet TOML file (`--config FILE`).
//!
//! Precedence, highest first: flags, `CODEX_GUARD_*` variables, Akto's own
//! `AKTO_DATA_INGESTION_URL` / `AKTO_API_TOKEN`, the fleet file, the current install,
//! then defaults. The URL (or local-only) and the token (inline or from a file) are
//! each one setting: the highest source that names either form wins.

use crate::cli::{ModeArg, SetupArgs, UpdatesArg};
use crate::failure::Failure;
use codex_guard_common::config::Updates;
use codex_guard_common::Mode;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Environment variable naming the fleet file when `--config` is not given.
pub const FLEET_CONFIG_ENV: &str = "CODEX_GUARD_FLEET_CONFIG";

/// Where the service is: a URL, or no service at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    Url(String),
    LocalOnly,
}

/// The token, given inline or as a file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Inline(String),
    File(PathBuf),
}

/// Settings from one source; `None` leaves the decision to a lower one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    pub service: Option<Service>,
    pub token: Option<Token>,
    pub mode: Option<Mode>,
    pub blocking: Option<bool>,
    pub fail_closed: Option<bool>,
    pub timeout_ms: Option<u64>,
    pub ca_cert: Option<PathBuf>,
    pub allow_http: Option<bool>,
    /// A rules file to install in place of the default rules.
    pub rules: Option<PathBuf>,
    /// The Atlas device id, validated.
    pub device_id: Option<String>,
    pub updates: Option<Updates>,
    /// Release source for `self-update` (an enterprise mirror).
    pub update_url: Option<String>,
    /// Key that must sign the releases `self-update` installs.
    pub update_public_key: Option<String>,
}

impl Inputs {
    /// Fills what `self` leaves open from `lower`.
    pub fn or(self, lower: Inputs) -> Inputs {
        Inputs {
            service: self.service.or(lower.service),
            token: self.token.or(lower.token),
            mode: self.mode.or(lower.mode),
            blocking: self.blocking.or(lower.blocking),
            fail_closed: self.fail_closed.or(lower.fail_closed),
            timeout_ms: self.timeout_ms.or(lower.timeout_ms),
            ca_cert: self.ca_cert.or(lower.ca_cert),
            allow_http: self.allow_http.or(lower.allow_http),
            rules: self.rules.or(lower.rules),
            device_id: self.device_id.or(lower.device_id),
            updates: self.updates.or(lower.updates),
            update_url: self.update_url.or(lower.update_url),
            update_public_key: self.update_public_key.or(lower.update_public_key),
        }
    }

    /// Every source for `setup`, layered. `env` looks a variable up.
    pub fn gather(
        args: &SetupArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Inputs, Failure> {
        let flags = Inputs::from_flags(args)?;
        let fleet_file = args
            .config
            .clone()
            .or_else(|| non_empty(env, FLEET_CONFIG_ENV).map(PathBuf::from));
        let file = match &fleet_file {
            Some(path) => Inputs::from_file(path)?,
            None => Inputs::default(),
        };
        Ok(flags.or(Inputs::from_env(env)?).or(file))
    }

    pub fn from_flags(args: &SetupArgs) -> Result<Inputs, Failure> {
        let device_id = args
            .device_id
            .as_deref()
            .map(|id| {
                crate::machine_id::validate(id)
                    .map_err(|e| Failure::bad_input(e).hint("fix --device-id; nothing was changed"))
            })
            .transpose()?;
        Ok(Inputs {
            service: match (&args.url, args.local_only) {
                (_, true) => Some(Service::LocalOnly),
                (Some(url), false) => Some(Service::Url(url.clone())),
                (None, false) => None,
            },
            token: match (&args.token, &args.token_file) {
                (Some(token), _) => Some(Token::Inline(token.clone())),
                (None, Some(file)) => Some(Token::File(file.clone())),
                (None, None) => None,
            },
            mode: args.mode.map(|m| match m {
                ModeArg::Argus => Mode::Argus,
                ModeArg::Atlas => Mode::Atlas,
            }),
            blocking: flag_pair(args.blocking, args.observe),
            fail_closed: flag_pair(args.fail_closed, args.fail_open),
            timeout_ms: args.timeout_ms,
            ca_cert: args.ca_cert.clone(),
            allow_http: args.allow_http.then_some(true),
            rules: args.rules.clone(),
            device_id,
            updates: args.updates.map(|u| match u {
                UpdatesArg::SelfUpdate => Updates::SelfUpdate,
                UpdatesArg::Mdm => Updates::Mdm,
            }),
            update_url: args.update_url.clone(),
            update_public_key: args.update_public_key.clone(),
        })
    }

    /// `CODEX_GUARD_*` variables, then Akto's names for the URL and token below them.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Inputs, Failure> {
        let get = |name: &str| non_empty(env, name);
        let bad = |name: &str, value: &str, expected: &str| {
            Failure::bad_input(format!("{name}={value:?} is not {expected}"))
                .hint(format!("fix or unset {name}; nothing was changed"))
        };
        let boolean = |name: &str| -> Result<Option<bool>, Failure> {
            get(name)
                .map(|v| parse_bool(&v).ok_or_else(|| bad(name, &v, "true or false")))
                .transpose()
        };
        let service = match (boolean("CODEX_GUARD_LOCAL_ONLY")?, get("CODEX_GUARD_URL")) {
            (Some(true), _) => Some(Service::LocalOnly),
            (_, Some(url)) => Some(Service::Url(url)),
            _ => get("AKTO_DATA_INGESTION_URL").map(Service::Url),
        };
        let token = get("CODEX_GUARD_TOKEN")
            .map(Token::Inline)
            .or_else(|| get("CODEX_GUARD_TOKEN_FILE").map(|f| Token::File(f.into())))
            .or_else(|| get("AKTO_API_TOKEN").map(Token::Inline));
        let mode = get("CODEX_GUARD_MODE")
            .map(|v| Mode::parse(&v).ok_or_else(|| bad("CODEX_GUARD_MODE", &v, "argus or atlas")))
            .transpose()?;
        let timeout_ms = get("CODEX_GUARD_TIMEOUT_MS")
            .map(|v| {
                parse_timeout(&v).ok_or_else(|| {
                    bad(
                        "CODEX_GUARD_TIMEOUT_MS",
                        &v,
                        "a number of milliseconds (100..=600000)",
                    )
                })
            })
            .transpose()?;
        let device_id = match get("CODEX_GUARD_DEVICE_ID") {
            Some(id) => Some(("CODEX_GUARD_DEVICE_ID", id)),
            None => get("DEVICE_ID").map(|id| ("DEVICE_ID", id)),
        }
        .map(|(name, id)| {
            crate::machine_id::validate(&id).map_err(|e| {
                Failure::bad_input(e).hint(format!("fix or unset {name}; nothing was changed"))
            })
        })
        .transpose()?;
        let updates = get("CODEX_GUARD_UPDATES")
            .map(|v| {
                Updates::parse(&v).ok_or_else(|| bad("CODEX_GUARD_UPDATES", &v, "self or mdm"))
            })
            .transpose()?;
        Ok(Inputs {
            service,
            token,
            mode,
            blocking: boolean("CODEX_GUARD_BLOCKING")?,
            fail_closed: boolean("CODEX_GUARD_FAIL_CLOSED")?,
            timeout_ms,
            ca_cert: get("CODEX_GUARD_CA_CERT").map(PathBuf::from),
            allow_http: boolean("CODEX_GUARD_ALLOW_HTTP")?,
            rules: get("CODEX_GUARD_RULES").map(PathBuf::from),
            device_id,
            updates,
            update_url: get("CODEX_GUARD_UPDATE_URL"),
            update_public_key: get("CODEX_GUARD_UPDATE_PUBLIC_KEY"),
        })
    }

    /// A fleet file. Relative paths in it are relative to the file's directory.
    pub fn from_file(path: &Path) -> Result<Inputs, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::bad_input(format!(
                "cannot read the fleet config {}: {e}",
                path.display()
            ))
            .hint("pass a readable TOML file to --config")
        })?;
        let file: FleetFile = toml::from_str(&text).map_err(|e| {
            Failure::bad_input(format!(
                "the fleet config {} is invalid: {}",
                path.display(),
                e.message()
            ))
            .hint(fleet_hint(&text, &e))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        let service = match (file.url, file.local_only) {
            (Some(_), Some(true)) => {
                return Err(Failure::bad_input(format!(
                    "the fleet config {} sets both url and local_only = true",
                    path.display()
                )))
            }
            (_, Some(true)) => Some(Service::LocalOnly),
            (Some(url), _) => Some(Service::Url(url)),
            (None, _) => None,
        };
        let token = match (file.token, file.token_file) {
            (Some(_), Some(_)) => {
                return Err(Failure::bad_input(format!(
                    "the fleet config {} sets both token and token_file; keep one",
                    path.display()
                )))
            }
            (Some(token), None) => {
                warn_if_shared(path);
                Some(Token::Inline(token))
            }
            (None, Some(file)) => Some(Token::File(resolve(file))),
            (None, None) => None,
        };
        if let Some(timeout) = file.timeout_ms {
            if !TIMEOUT_MS.contains(&timeout) {
                return Err(Failure::bad_input(format!(
                    "the fleet config {}: timeout_ms = {timeout} is outside 100..=600000",
                    path.display()
                )));
            }
        }
        let device_id =
            file.device_id
                .as_deref()
                .map(|id| {
                    crate::machine_id::validate(id).map_err(|e| {
                        Failure::bad_input(format!("the fleet config {}: {e}", path.display()))
                            .hint(format!(
                            "fix device_id in {}, then run the setup again; nothing was changed",
                            path.display()
                        ))
                    })
                })
                .transpose()?;
        Ok(Inputs {
            service,
            token,
            mode: file.mode,
            blocking: file.blocking,
            fail_closed: file.fail_closed,
            timeout_ms: file.timeout_ms,
            ca_cert: file.ca_cert.map(resolve),
            allow_http: file.allow_http,
            rules: file.rules.map(resolve),
            device_id,
            updates: file.updates,
            update_url: file.update_url,
            update_public_key: file.update_public_key,
        })
    }
}

/// The fleet file's keys; any other key is an error, so a typo never goes unnoticed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FleetFile {
    url: Option<String>,
    local_only: Option<bool>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    mode: Option<Mode>,
    blocking: Option<bool>,
    fail_closed: Option<bool>,
    timeout_ms: Option<u64>,
    ca_cert: Option<PathBuf>,
    allow_http: Option<bool>,
    rules: Option<PathBuf>,
    device_id: Option<String>,
    updates: Option<Updates>,
    update_url: Option<String>,
    update_public_key: Option<String>,
}

const FLEET_KEYS: &str = "url, local_only, token, token_file, mode, blocking, fail_closed, timeout_ms, ca_cert, allow_http, rules, device_id, updates, update_url, update_public_key";

fn fleet_hint(text: &str, error: &toml::de::Error) -> String {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    match line {
        Some(line) => format!("see line {line}; the keys a fleet config takes: {FLEET_KEYS}"),
        None => format!("the keys a fleet config takes: {FLEET_KEYS}"),
    }
}

/// An inline token in a file other users can read leaks it to them.
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                eprintln!(
                    "warning: {} holds a token and is readable by other users; chmod 600 it",
                    path.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn flag_pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    }
}

fn non_empty(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The deadlines `--timeout-ms` accepts.
const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=600_000;

fn parse_timeout(value: &str) -> Option<u64> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|ms| TIMEOUT_MS.contains(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn codex_guard_variables_win_over_akto_names() {
        let inputs = Inputs::from_env(&env(&[
            ("AKTO_DATA_INGESTION_URL", "https://akto.example"),
            ("CODEX_GUARD_URL", "https://guard.example"),
            ("AKTO_API_TOKEN", "akto-token"),
            ("CODEX_GUARD_TOKEN_FILE", "/run/token"),
            ("CODEX_GUARD_BLOCKING", "no"),
            ("CODEX_GUARD_MODE", "Atlas"),
        ]))
        .unwrap();
        assert_eq!(
            inputs.service,
            Some(Service::Url("https://guard.example".into()))
        );
        assert_eq!(inputs.token, Some(Token::File("/run/token".into())));
        assert_eq!(inputs.blocking, Some(false));
        assert_eq!(inputs.mode, Some(Mode::Atlas));
    }

    #[test]
    fn bad_variables_name_themselves() {
        for (name, value) in [
            ("CODEX_GUARD_MODE", "both"),
            ("CODEX_GUARD_BLOCKING", "maybe"),
            ("CODEX_GUARD_TIMEOUT_MS", "5s"),
            ("CODEX_GUARD_TIMEOUT_MS", "1"),
            ("CODEX_GUARD_UPDATES", "never"),
        ] {
            let err = Inputs::from_env(&env(&[(name, value)])).unwrap_err();
            assert!(err.message.starts_with(name), "{}", err.message);
        }
    }

    #[test]
    fn a_higher_source_takes_the_whole_setting() {
        let flags = Inputs {
            token: Some(Token::File("/flag".into())),
            ..Inputs::default()
        };
        let env = Inputs {
            service: Some(Service::LocalOnly),
            token: Some(Token::Inline("env".into())),
            blocking: Some(false),
            ..Inputs::default()
        };
        let file = Inputs {
            service: Some(Service::Url("https://file".into())),
            blocking: Some(true),
            fail_closed: Some(true),
            ..Inputs::default()
        };
        let merged = flags.or(env).or(file);
        assert_eq!(merged.token, Some(Token::File("/flag".into())));
        assert_eq!(merged.service, Some(Service::LocalOnly));
        assert_eq!(merged.blocking, Some(false));
        assert_eq!(merged.fail_closed, Some(true));
    }

    #[test]
    fn fleet_files_resolve_relative_paths_and_reject_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.toml");
        std::fs::write(
            &path,
            "url = \"https://akto.example\"\ntoken_file = \"token\"\nblocking = false\nupdates = \"mdm\"\n",
        )
        .unwrap();
        let inputs = Inputs::from_file(&path).unwrap();
        assert_eq!(inputs.token, Some(Token::File(dir.path().join("token"))));
        assert_eq!(inputs.updates, Some(Updates::Mdm));
        assert_eq!(inputs.blocking, Some(false));

        std::fs::write(&path, "url = \"https://a\"\n\nblockng = true\n").unwrap();
        let err = Inputs::from_file(&path).unwrap_err();
        assert!(err.message.contains("blockng"), "{}", err.message);
        assert!(err.hint.unwrap().contains("line 3"));
    }
}
