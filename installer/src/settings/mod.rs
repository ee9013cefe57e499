//! Where setup's settings come from when nobody answers questions: the command line,
//! `CODEX_GUARD_*` environment variables, and a fleet TOML file (`--config FILE`).
//!
//! Precedence, highest first: flags, `CODEX_GUARD_*` variables, Akto's own
//! `AKTO_DATA_INGESTION_URL` / `AKTO_API_TOKEN`, the fleet file, the current install,
//! then defaults. The URL (or local-only) and the token (inline or from a file) are
//! each one setting: the highest source that names either form wins.
//!
//! Each setting is defined once, as a field of [`Settings`]: the field is the fleet
//! file's key, `CODEX_GUARD_<KEY>` is its variable, and the same type carries one
//! source's values, the merged result and the file a parent run hands its children.

mod resolve;

pub use resolve::{
    resolve_choices, validate_public_key, validate_update_url, validate_url, Choices,
};

use crate::cli::{ModeArg, SetupArgs, UpdatesArg};
use crate::failure::Failure;
use codex_guard_common::config::Updates;
use codex_guard_common::Mode;
use serde::{Deserialize, Serialize};
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

/// Settings from one source, or merged from several; `None` leaves the decision to a
/// lower source. Serialized, it is a fleet file: any other key is an error, so a typo
/// never goes unnoticed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Akto data-ingestion URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// No service: local rules and a local log only.
    #[serde(
        default,
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(
        default,
        deserialize_with = "lenient::mode",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<Mode>,
    #[serde(
        default,
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub blocking: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub fail_closed: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient::number",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout_ms: Option<u64>,
    /// Extra CA bundle for the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    #[serde(
        default,
        deserialize_with = "lenient::boolean",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_http: Option<bool>,
    /// A rules file to install in place of the default rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<PathBuf>,
    /// The Atlas device id (validated when read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::updates",
        skip_serializing_if = "Option::is_none"
    )]
    pub updates: Option<Updates>,
    /// Release source for `self-update` (an enterprise mirror).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_url: Option<String>,
    /// Key that must sign the releases `self-update` installs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_public_key: Option<String>,
}

/// The keys of [`Settings`], in order (a unit test holds them to the struct).
pub const KEYS: [&str; 15] = [
    "url",
    "local_only",
    "token",
    "token_file",
    "mode",
    "blocking",
    "fail_closed",
    "timeout_ms",
    "ca_cert",
    "allow_http",
    "rules",
    "device_id",
    "updates",
    "update_url",
    "update_public_key",
];

/// Akto's own variable names, read below all of ours.
const AKTO_VARIABLES: [(&str, &str); 3] = [
    ("url", "AKTO_DATA_INGESTION_URL"),
    ("token", "AKTO_API_TOKEN"),
    ("device_id", "DEVICE_ID"),
];

/// The deadlines `--timeout-ms` accepts.
const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=600_000;

impl Settings {
    /// The service named, if any (`local_only = false` names none).
    pub fn service(&self) -> Option<Service> {
        match (&self.url, self.local_only) {
            (_, Some(true)) => Some(Service::LocalOnly),
            (Some(url), _) => Some(Service::Url(url.clone())),
            (None, _) => None,
        }
    }

    /// The token named, if any; an inline one wins over a file.
    pub fn token_source(&self) -> Option<Token> {
        match (&self.token, &self.token_file) {
            (Some(token), _) => Some(Token::Inline(token.clone())),
            (None, Some(file)) => Some(Token::File(file.clone())),
            (None, None) => None,
        }
    }

    /// Fills what `self` leaves open from `lower`. The service and the token are each
    /// one setting: the source that names either of its forms decides both.
    #[must_use]
    pub fn or(self, lower: Settings) -> Settings {
        let names_service = self.service().is_some();
        let names_token = self.token_source().is_some();
        let (url, local_only) = if names_service {
            (self.url, self.local_only)
        } else {
            (lower.url, lower.local_only)
        };
        let (token, token_file) = if names_token {
            (self.token, self.token_file)
        } else {
            (lower.token, lower.token_file)
        };
        macro_rules! field_by_field {
            ($($field:ident),*) => {
                Settings { url, local_only, token, token_file, $($field: self.$field.or(lower.$field)),* }
            };
        }
        field_by_field!(
            mode,
            blocking,
            fail_closed,
            timeout_ms,
            ca_cert,
            allow_http,
            rules,
            device_id,
            updates,
            update_url,
            update_public_key
        )
    }

    /// Every source for `setup`, layered. `env` looks a variable up.
    pub fn gather(
        args: &SetupArgs,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, Failure> {
        let flags = Settings::from_flags(args)?;
        let fleet_file = args
            .config
            .clone()
            .or_else(|| non_empty(env, FLEET_CONFIG_ENV).map(PathBuf::from));
        let file = match &fleet_file {
            Some(path) => Settings::from_file(path)?,
            None => Settings::default(),
        };
        Ok(flags.or(Settings::from_env(env)?).or(file))
    }

    /// The flags, and the settings a parent run handed down (which stand for its flags).
    pub fn from_flags(args: &SetupArgs) -> Result<Settings, Failure> {
        let device_id = args
            .device_id
            .as_deref()
            .map(|id| {
                crate::machine_id::validate(id)
                    .map_err(|e| Failure::bad_input(e).hint("fix --device-id; nothing was changed"))
            })
            .transpose()?;
        let flags = Settings {
            url: args.url.clone(),
            local_only: args.local_only.then_some(true),
            token: args.token.clone(),
            token_file: args.token_file.clone(),
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
        };
        Ok(match &args.parent_settings {
            Some(path) => flags.or(Settings::from_file(path)?),
            None => flags,
        })
    }

    /// `CODEX_GUARD_<KEY>` for every key, then Akto's names for the URL, the token and
    /// the device id below them. A value is read as the fleet file's would be, and a bad
    /// one is named by its variable.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, Failure> {
        let mut ours = toml::Table::new();
        for key in KEYS {
            let name = format!("CODEX_GUARD_{}", key.to_ascii_uppercase());
            if let Some(value) = non_empty(env, &name) {
                Settings::one(key, &name, &value)?;
                ours.insert(key.to_string(), toml::Value::String(value));
            }
        }
        // Checked one by one above, so that an error names its variable.
        let mut settings = Settings::deserialize(ours).unwrap_or_default();
        for (key, name) in AKTO_VARIABLES {
            if let Some(value) = non_empty(env, name) {
                settings = settings.or(Settings::one(key, name, &value)?);
            }
        }
        Ok(settings)
    }

    /// One setting from the text of the variable `name`.
    fn one(key: &str, name: &str, value: &str) -> Result<Settings, Failure> {
        let table =
            toml::Table::from_iter([(key.to_string(), toml::Value::String(value.to_string()))]);
        let settings = Settings::deserialize(table).map_err(|e| {
            Failure::bad_input(format!("{name}={value:?} is not {}", e.message().trim()))
                .hint(format!("fix or unset {name}; nothing was changed"))
        })?;
        settings.check().map_err(|problem| {
            Failure::bad_input(format!("{name}={value:?}: {problem}"))
                .hint(format!("fix or unset {name}; nothing was changed"))
        })?;
        Ok(settings)
    }

    /// What no source may say: a deadline out of range, a malformed device id.
    fn check(&self) -> Result<(), String> {
        if let Some(timeout) = self.timeout_ms {
            if !TIMEOUT_MS.contains(&timeout) {
                return Err(format!(
                    "timeout_ms = {timeout} is outside 100..=600000 (milliseconds)"
                ));
            }
        }
        if let Some(id) = &self.device_id {
            crate::machine_id::validate(id)?;
        }
        Ok(())
    }

    /// A fleet file. Relative paths in it are relative to the file's directory.
    pub fn from_file(path: &Path) -> Result<Settings, Failure> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::bad_input(format!(
                "cannot read the fleet config {}: {e}",
                path.display()
            ))
            .hint("pass a readable TOML file to --config")
        })?;
        let mut file: Settings = toml::from_str(&text).map_err(|e| {
            Failure::bad_input(format!(
                "the fleet config {} is invalid: {}",
                path.display(),
                e.message()
            ))
            .hint(fleet_hint(&text, &e))
        })?;
        let invalid = |problem: String| {
            Failure::bad_input(format!("the fleet config {}: {problem}", path.display())).hint(
                format!(
                    "fix {}, then run the setup again; nothing was changed",
                    path.display()
                ),
            )
        };
        if file.url.is_some() && file.local_only == Some(true) {
            return Err(invalid("it sets both url and local_only = true".into()));
        }
        if file.token.is_some() && file.token_file.is_some() {
            return Err(invalid(
                "it sets both token and token_file; keep one".into(),
            ));
        }
        file.check().map_err(invalid)?;
        if file.token.is_some() {
            warn_if_shared(path);
        }
        let base = path.parent().unwrap_or(Path::new("."));
        for relative in [&mut file.token_file, &mut file.ca_cert, &mut file.rules]
            .into_iter()
            .flatten()
            .filter(|p| p.is_relative())
        {
            *relative = base.join(&*relative);
        }
        Ok(file)
    }

    /// These settings as a fleet file, for a child run (see `--parent-settings`).
    pub fn to_file_text(&self) -> String {
        // Every field is a string, a number, a boolean or a path: always serializable.
        toml::to_string(self).unwrap_or_default()
    }
}

fn fleet_hint(text: &str, error: &toml::de::Error) -> String {
    let keys = KEYS.join(", ");
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    match line {
        Some(line) => format!("see line {line}; the keys a fleet config takes: {keys}"),
        None => format!("the keys a fleet config takes: {keys}"),
    }
}

/// Values as a person writes them, in a variable (always text) or a fleet file:
/// `yes`/`on`/`1` for true, a number in quotes, `Atlas` for atlas.
mod lenient {
    use codex_guard_common::config::Updates;
    use codex_guard_common::Mode;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text<T> {
        Typed(T),
        Text(String),
    }

    fn parse<'de, D, T>(
        deserializer: D,
        expected: &str,
        from_text: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        match Text::<T>::deserialize(deserializer)? {
            Text::Typed(value) => Ok(Some(value)),
            Text::Text(text) => from_text(text.trim())
                .map(Some)
                .ok_or_else(|| D::Error::custom(expected)),
        }
    }

    pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        parse(d, "true or false", |text| {
            match text.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            }
        })
    }

    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        parse(d, "a number of milliseconds (100..=600000)", |text| {
            text.parse().ok()
        })
    }

    pub fn mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mode>, D::Error> {
        parse::<D, String>(d, "argus or atlas", |text| Some(text.to_string()))?
            .map(|text| Mode::parse(&text).ok_or_else(|| D::Error::custom("argus or atlas")))
            .transpose()
    }

    pub fn updates<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Updates>, D::Error> {
        parse::<D, String>(d, "self or mdm", |text| Some(text.to_string()))?
            .map(|text| Updates::parse(&text).ok_or_else(|| D::Error::custom("self or mdm")))
            .transpose()
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
        let inputs = Settings::from_env(&env(&[
            ("AKTO_DATA_INGESTION_URL", "https://akto.example"),
            ("CODEX_GUARD_URL", "https://guard.example"),
            ("AKTO_API_TOKEN", "akto-token"),
            ("CODEX_GUARD_TOKEN_FILE", "/run/token"),
            ("CODEX_GUARD_BLOCKING", "no"),
            ("CODEX_GUARD_MODE", "Atlas"),
        ]))
        .unwrap();
        assert_eq!(
            inputs.service(),
            Some(Service::Url("https://guard.example".into()))
        );
        assert_eq!(
            inputs.token_source(),
            Some(Token::File("/run/token".into()))
        );
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
            let err = Settings::from_env(&env(&[(name, value)])).unwrap_err();
            assert!(err.message.starts_with(name), "{}", err.message);
        }
    }

    #[test]
    fn a_higher_source_takes_the_whole_setting() {
        let flags = Settings {
            token_file: Some("/flag".into()),
            ..Settings::default()
        };
        let env = Settings {
            local_only: Some(true),
            token: Some("env".into()),
            blocking: Some(false),
            ..Settings::default()
        };
        let file = Settings {
            url: Some("https://file".into()),
            blocking: Some(true),
            fail_closed: Some(true),
            ..Settings::default()
        };
        let merged = flags.or(env).or(file);
        assert_eq!(merged.token_source(), Some(Token::File("/flag".into())));
        assert_eq!(merged.token, None);
        assert_eq!(merged.service(), Some(Service::LocalOnly));
        assert_eq!(merged.url, None);
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
        let inputs = Settings::from_file(&path).unwrap();
        assert_eq!(inputs.token_file, Some(dir.path().join("token")));
        assert_eq!(inputs.updates, Some(Updates::Mdm));
        assert_eq!(inputs.blocking, Some(false));

        std::fs::write(&path, "url = \"https://a\"\n\nblockng = true\n").unwrap();
        let err = Settings::from_file(&path).unwrap_err();
        assert!(err.message.contains("blockng"), "{}", err.message);
        assert!(err.hint.unwrap().contains("line 3"));
    }

    #[test]
    fn local_only_wins_over_a_url_in_the_same_source_and_an_inline_token_over_a_file() {
        let inputs = Settings::from_env(&env(&[
            ("CODEX_GUARD_URL", "https://guard.example"),
            ("CODEX_GUARD_LOCAL_ONLY", "yes"),
            ("CODEX_GUARD_TOKEN", "inline"),
            ("CODEX_GUARD_TOKEN_FILE", "/run/token"),
            ("AKTO_API_TOKEN", "akto"),
        ]))
        .unwrap();
        assert_eq!(inputs.service(), Some(Service::LocalOnly));
        assert_eq!(inputs.token_source(), Some(Token::Inline("inline".into())));
    }

    #[test]
    fn every_setting_round_trips_through_the_file_a_parent_hands_its_children() {
        let all = Settings {
            url: Some("https://akto.example/ingest".into()),
            local_only: Some(false),
            token: Some("secret".into()),
            token_file: Some("/run/token".into()),
            mode: Some(Mode::Atlas),
            blocking: Some(false),
            fail_closed: Some(true),
            timeout_ms: Some(2500),
            ca_cert: Some("/etc/ssl/ca.pem".into()),
            allow_http: Some(true),
            rules: Some("/etc/rules.toml".into()),
            device_id: Some("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".into()),
            updates: Some(Updates::Mdm),
            update_url: Some("https://mirror.example".into()),
            update_public_key: Some("RWQ".into()),
        };
        let text = all.to_file_text();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let mut keys = KEYS.to_vec();
        keys.sort_unstable();
        assert_eq!(table.keys().collect::<Vec<_>>(), keys);
        let read: Settings = toml::from_str(&text).unwrap();
        assert_eq!(read, all);
        assert_eq!(Settings::default().to_file_text(), "");
    }

    #[test]
    fn every_key_has_its_variable() {
        for key in KEYS {
            let name = format!("CODEX_GUARD_{}", key.to_ascii_uppercase());
            let value = match key {
                "local_only" | "blocking" | "fail_closed" | "allow_http" => "on",
                "timeout_ms" => "1500",
                "mode" => "ATLAS",
                "updates" => "mdm",
                "device_id" => "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
                _ => "/some/value",
            };
            let read = Settings::from_env(&env(&[(&name, value)])).unwrap();
            assert_ne!(read, Settings::default(), "{name}");
        }
    }
}
