//! Everything the runtime knows before it looks at the event: the config file,
//! Akto's environment overrides, the token, the device id and the Codex API host.
//! Loading never fails: a problem is recorded and the runtime fails open.
//!
//! Every environment variable is read through [`EnvReader`], so the table in
//! `codex_guard_common::env` decides what a managed install honours.

use crate::protect::PathContext;
use codex_guard_common::env::{EnvReader, Scope};
use codex_guard_common::{Layout, Mode, RuntimeConfig};
use std::path::{Path, PathBuf};

/// Looks up an environment variable (the process environment, or a map in tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

#[derive(Debug, Clone)]
pub struct Settings {
    pub config: RuntimeConfig,
    /// Our directory in the Codex home (`<CODEX_HOME>/codex-guard`).
    pub layout: Layout,
    pub token: Option<String>,
    pub device_id: Option<String>,
    /// Name of the OS user, Akto's `ip` field.
    pub username: String,
    /// Host of the API Codex talks to, without scheme (or the Atlas device host).
    pub api_host: String,
    pub api_path: String,
    /// Root of the machine-wide paths (`/`; `CODEX_GUARD_SYSTEM_ROOT` in tests).
    pub system_root: PathBuf,
    /// CA bundles trusted besides the OS store: `ca_cert`, then `SSL_CERT_PATH`.
    pub ca_files: Vec<PathBuf>,
    /// The machine-wide config of a managed install (`--machine-config`), passed on
    /// to the delivery process.
    pub machine_config: Option<PathBuf>,
    /// The admin's rules: beside the machine-wide config, else `/etc/codex-guard/rules.toml`.
    admin_rules: PathBuf,
    /// Where the home, the Codex home and codex-guard's own files are, for rules
    /// that protect paths (`writes`).
    pub paths: PathContext,
    /// Problems met while loading, logged with the event.
    pub problems: Vec<String>,
    /// Overrides a managed install ignored (`NAME=value`), for the audit log.
    pub ignored_env: Vec<String>,
}

impl Settings {
    /// Loads the config from `CODEX_GUARD_CONFIG`, else beside our own executable
    /// (`<guard dir>/bin/codex-guard-hook` -> `<guard dir>/config.toml`), else from
    /// `$CODEX_HOME/codex-guard/config.toml`.
    pub fn load(env: EnvLookup<'_>, exe: Option<&Path>) -> Settings {
        Settings::load_with(env, exe, None)
    }

    /// [`Settings::load`], or with `machine_config` (a managed install) the config,
    /// token, machine id and admin rules from that file's directory, while logs, spool
    /// and state stay in the user's own `$CODEX_HOME/codex-guard/`.
    pub fn load_with(
        env: EnvLookup<'_>,
        exe: Option<&Path>,
        machine_config: Option<&Path>,
    ) -> Settings {
        let mut problems = Vec::new();
        let scope = match machine_config {
            Some(_) => Scope::Managed,
            None => Scope::PerUser,
        };
        let mut env = EnvReader::new(env, scope);
        let config_path = match machine_config {
            Some(path) => Some(path.to_path_buf()),
            None => locate_config(&env, exe),
        };
        let mut config = read_config(config_path.as_deref(), &mut problems);
        problems.extend(config.apply_env(&mut env));

        let user_guard_dir =
            || default_codex_home(&env).join(codex_guard_common::layout::GUARD_DIR);
        let config_dir = config_path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf);
        let guard_dir = match (machine_config, &config_dir) {
            (None, Some(dir)) => dir.clone(),
            _ => user_guard_dir(),
        };
        let layout = Layout::from_guard_dir(&guard_dir);
        let machine_dir = machine_config.and(config_dir.clone());
        let machine_id_file = match &machine_dir {
            Some(dir) => dir.join("machine-id"),
            None => layout.machine_id(),
        };

        // The token and the device id only go into records sent to Akto: a local-only
        // install does not read them.
        let remote = config.url.as_deref().is_some_and(|u| !u.is_empty());
        let (token, device_id) = if remote {
            (
                read_token(&env, &config, &mut problems),
                config
                    .device_id
                    .clone()
                    .or_else(|| read_trimmed(&machine_id_file)),
            )
        } else {
            (None, None)
        };

        let (detected_host, api_path) = detect_codex_api(&env);
        let api_host = match (config.mode, &device_id) {
            (Mode::Atlas, Some(id)) => format!("{id}.ai-agent.{}", config.connector_value),
            _ => strip_scheme(&detected_host).to_string(),
        };

        let ca_files = trusted_ca_files(&config, &env);

        let system_root = env
            .value("CODEX_GUARD_SYSTEM_ROOT")
            .map_or_else(|| PathBuf::from("/"), PathBuf::from);
        let admin_rules = match &machine_dir {
            Some(dir) => dir.join("rules.toml"),
            None => system_root.join("etc/codex-guard/rules.toml"),
        };
        // A managed install's machine config sits in `<root>/etc/codex-guard/`: the
        // machine-wide paths it protects are under that same root.
        let paths_root = machine_dir
            .as_deref()
            .filter(|d| d.ends_with("etc/codex-guard"))
            .and_then(Path::parent)
            .and_then(Path::parent)
            .map_or_else(|| system_root.clone(), Path::to_path_buf);
        let mut paths = PathContext::from_env(&|name| env.value(name), &paths_root);
        let own_home = layout.guard_dir().parent().map(Path::to_path_buf);
        for home in own_home
            .into_iter()
            .map(|h| h.to_string_lossy().into_owned())
        {
            if !paths.codex_homes.contains(&home) {
                paths.codex_homes.push(home);
            }
        }
        paths.guard_paths =
            guard_paths(&layout, machine_dir.as_deref(), &config, exe, &admin_rules);
        Settings {
            paths,
            system_root,
            admin_rules,
            machine_config: machine_config.map(Path::to_path_buf),
            ca_files,
            config,
            layout,
            token,
            device_id,
            username: username(&env),
            api_host,
            api_path: api_path.to_string(),
            problems,
            ignored_env: env.into_ignored(),
        }
    }

    /// In a managed install, removes from this process's environment every variable
    /// the machine config overrules, so nothing that reads the environment later (the
    /// OS trust store's `SSL_CERT_FILE`, the delivery process this hook starts) can
    /// be steered by it either. Call it before any thread starts.
    pub fn scrub_process_env(&self) {
        if self.machine_config.is_some() {
            scrub_managed_env();
        }
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.config
            .log_dir
            .clone()
            .unwrap_or_else(|| self.layout.logs_dir())
    }

    pub fn rules_file(&self) -> PathBuf {
        self.config
            .rules_file
            .clone()
            .unwrap_or_else(|| self.layout.rules())
    }

    /// The admin's rules (`/etc/codex-guard/rules.toml`): their denies always apply,
    /// and they can switch the user's allow rules off.
    pub fn admin_rules_file(&self) -> PathBuf {
        self.admin_rules.clone()
    }

    /// Akto is configured: events are sent to it.
    pub fn remote(&self) -> Option<&str> {
        self.config.url.as_deref().filter(|u| !u.is_empty())
    }

    /// How the runtime acts: "blocking", "observe" or "local-only".
    pub fn mode_label(&self) -> &'static str {
        match (self.remote(), self.config.blocking) {
            (None, _) => "local-only",
            (Some(_), true) => "blocking",
            (Some(_), false) => "observe",
        }
    }
}

/// Removes from this process's environment every variable a managed install
/// ignores (see [`Settings::scrub_process_env`]). Call it before any thread starts.
pub fn scrub_managed_env() {
    for var in codex_guard_common::env::ENV_VARS {
        if var.managed == codex_guard_common::env::Managed::Ignored {
            std::env::remove_var(var.name);
        }
    }
}

/// CA bundles trusted besides the OS store: `ca_cert`, then `SSL_CERT_PATH` when
/// the scope honours it.
pub fn trusted_ca_files(config: &RuntimeConfig, env: &EnvReader<'_>) -> Vec<PathBuf> {
    config
        .ca_cert
        .clone()
        .into_iter()
        .chain(env.value("SSL_CERT_PATH").map(PathBuf::from))
        .collect()
}

/// The token the environment sets (`AKTO_API_TOKEN`), when the scope honours it;
/// it wins over the token file.
pub fn env_token(env: &EnvReader<'_>) -> Option<String> {
    env.value("AKTO_API_TOKEN")
}

/// The token a token file holds: its text without surrounding white space; an
/// empty file holds none.
pub fn token_from_file_text(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

fn read_token(
    env: &EnvReader<'_>,
    config: &RuntimeConfig,
    problems: &mut Vec<String>,
) -> Option<String> {
    if let Some(token) = env_token(env) {
        return Some(token);
    }
    let path = config.token_file.as_ref()?;
    match std::fs::read_to_string(path) {
        Ok(t) => token_from_file_text(&t),
        Err(e) => {
            problems.push(format!("cannot read token file {}: {e}", path.display()));
            None
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The runtime config at `path`; the defaults (and a problem) when there is none or
/// it cannot be read.
fn read_config(path: Option<&Path>, problems: &mut Vec<String>) -> RuntimeConfig {
    match path {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => RuntimeConfig::from_toml(&text).unwrap_or_else(|e| {
                problems.push(format!(
                    "{} is invalid ({}); running with defaults",
                    path.display(),
                    e.message()
                ));
                RuntimeConfig::default()
            }),
            Err(e) => {
                problems.push(format!("cannot read {}: {e}", path.display()));
                RuntimeConfig::default()
            }
        },
        None => {
            problems.push("no codex-guard config found; running local-only".into());
            RuntimeConfig::default()
        }
    }
}

/// Everything of codex-guard's own that a command must not touch: its directories,
/// files and program.
fn guard_paths(
    layout: &Layout,
    machine_dir: Option<&Path>,
    config: &RuntimeConfig,
    exe: Option<&Path>,
    admin_rules: &Path,
) -> Vec<String> {
    let install_dir = exe
        .and_then(Path::parent)
        .filter(|bin| bin.file_name().is_some_and(|n| n == "bin"))
        .and_then(Path::parent);
    let guard_files = [
        Some(layout.guard_dir().clone()),
        machine_dir.map(Path::to_path_buf),
        config.rules_file.clone(),
        config.log_dir.clone(),
        config.token_file.clone(),
        config.ca_cert.clone(),
        install_dir.map(Path::to_path_buf),
        exe.map(Path::to_path_buf),
        admin_rules.parent().map(Path::to_path_buf),
    ];
    guard_files
        .into_iter()
        .flatten()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn locate_config(env: &EnvReader<'_>, exe: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = env.value("CODEX_GUARD_CONFIG") {
        return Some(PathBuf::from(path));
    }
    let beside_exe = exe
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(|guard_dir| guard_dir.join("config.toml"));
    let in_home = default_codex_home(env)
        .join(codex_guard_common::layout::GUARD_DIR)
        .join("config.toml");
    beside_exe
        .into_iter()
        .chain([in_home])
        .find(|p| p.is_file())
}

fn default_codex_home(env: &EnvReader<'_>) -> PathBuf {
    if let Some(home) = env.value("CODEX_HOME") {
        return PathBuf::from(home);
    }
    let home = env
        .value("HOME")
        .or_else(|| env.value("USERPROFILE"))
        .unwrap_or_default();
    PathBuf::from(home).join(".codex")
}

/// The API Codex talks to, found the way Codex finds it.
fn detect_codex_api(env: &EnvReader<'_>) -> (String, &'static str) {
    if let Some(base) = env.value("OPENAI_BASE_URL") {
        return (base.trim_end_matches('/').to_string(), "/v1/responses");
    }
    if env.value("OPENAI_API_KEY").is_some() {
        return ("https://api.openai.com".into(), "/v1/responses");
    }
    ("https://chatgpt.com".into(), "/backend-api/codex/responses")
}

fn strip_scheme(url: &str) -> &str {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
}

/// The login name, looked up like Python's `getpass.getuser()`.
fn username(env: &EnvReader<'_>) -> String {
    ["LOGNAME", "USER", "LNAME", "USERNAME"]
        .into_iter()
        .find_map(|k| env.value(k))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn codex_api_host_follows_codex_rules() {
        let api = |pairs: &[(&str, &str)]| {
            let get = lookup(pairs);
            detect_codex_api(&EnvReader::new(&get, Scope::PerUser))
        };
        assert_eq!(
            api(&[("OPENAI_BASE_URL", "https://proxy.corp/")]),
            ("https://proxy.corp".to_string(), "/v1/responses")
        );
        assert_eq!(
            api(&[("OPENAI_API_KEY", "sk-x")]).0,
            "https://api.openai.com"
        );
        assert_eq!(
            api(&[]),
            (
                "https://chatgpt.com".to_string(),
                "/backend-api/codex/responses"
            )
        );
    }

    #[test]
    fn config_is_found_beside_the_executable_and_env_overrides_it() {
        let dir = tempfile::tempdir().unwrap();
        let guard = dir.path().join("codex-guard");
        std::fs::create_dir_all(guard.join("bin")).unwrap();
        std::fs::write(
            guard.join("config.toml"),
            "url = \"https://akto.example\"\nmode = \"atlas\"\n",
        )
        .unwrap();
        std::fs::write(guard.join("machine-id"), "laptop-1-abcd1234\n").unwrap();
        let env = lookup(&[("AKTO_SYNC_MODE", "false"), ("USER", "dev")]);
        let exe = guard.join("bin").join("codex-guard-hook");
        let s = Settings::load(&env, Some(&exe));
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.remote(), Some("https://akto.example"));
        assert_eq!(s.mode_label(), "observe");
        assert_eq!(s.api_host, "laptop-1-abcd1234.ai-agent.codexcli");
        assert_eq!(s.username, "dev");
        assert_eq!(s.layout.guard_dir(), guard);
    }

    #[test]
    fn a_machine_config_keeps_state_in_the_users_home() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/codex-guard");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("config.toml"),
            "url = \"https://akto.example\"\nmode = \"atlas\"\n",
        )
        .unwrap();
        std::fs::write(etc.join("machine-id"), "fleet-host-1\n").unwrap();
        let home = dir.path().join("home/alice/.codex");
        let h = home.to_string_lossy().to_string();
        let env = lookup(&[("CODEX_HOME", &h)]);
        let s = Settings::load_with(&env, None, Some(&etc.join("config.toml")));
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(s.layout.guard_dir(), home.join("codex-guard"));
        assert_eq!(s.logs_dir(), home.join("codex-guard/logs"));
        assert_eq!(s.rules_file(), home.join("codex-guard/rules.toml"));
        assert_eq!(s.admin_rules_file(), etc.join("rules.toml"));
        assert_eq!(s.device_id.as_deref(), Some("fleet-host-1"));
        assert_eq!(s.machine_config, Some(etc.join("config.toml")));
    }

    #[test]
    fn a_machine_config_is_not_steered_by_the_users_environment() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/codex-guard");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("config.toml"),
            "url = \"https://akto.example\"\nfail_closed = true\ntoken_file = \"/nonexistent/token\"\n",
        )
        .unwrap();
        let user_config = dir.path().join("mine.toml");
        std::fs::write(&user_config, "url = \"http://127.0.0.1:9\"\n").unwrap();
        let home = dir.path().join("home/alice/.codex");
        let h = home.to_string_lossy().to_string();
        let c = user_config.to_string_lossy().to_string();
        let fake_root = dir.path().to_string_lossy().to_string();
        let env = lookup(&[
            ("CODEX_HOME", &h),
            ("CODEX_GUARD_CONFIG", &c),
            ("CODEX_GUARD_SYSTEM_ROOT", &fake_root),
            ("AKTO_API_TOKEN", "user-token"),
            ("SSL_CERT_PATH", "/home/alice/my-ca.pem"),
            ("AKTO_SYNC_MODE", "false"),
            ("LOG_DIR", "/tmp/elsewhere"),
        ]);
        let s = Settings::load_with(&env, None, Some(&etc.join("config.toml")));
        assert_eq!(s.remote(), Some("https://akto.example"));
        assert_eq!(s.mode_label(), "blocking");
        assert!(s.config.fail_closed);
        assert_eq!(s.token, None, "the user's token is not sent");
        assert!(s.ca_files.is_empty(), "{:?}", s.ca_files);
        assert_eq!(s.system_root, PathBuf::from("/"));
        assert_eq!(s.admin_rules_file(), etc.join("rules.toml"));
        assert_eq!(s.logs_dir(), home.join("codex-guard/logs"));
        let mut ignored = s.ignored_env.clone();
        ignored.sort();
        assert_eq!(
            ignored,
            [
                "AKTO_API_TOKEN=[REDACTED]".to_string(),
                "AKTO_SYNC_MODE=false".into(),
                format!("CODEX_GUARD_CONFIG={c}"),
                format!("CODEX_GUARD_SYSTEM_ROOT={fake_root}"),
                "LOG_DIR=/tmp/elsewhere".into(),
                "SSL_CERT_PATH=/home/alice/my-ca.pem".into(),
            ]
        );
        // The same environment steers a per-user install: that user owns it.
        let s = Settings::load(&env, None);
        assert_eq!(s.remote(), Some("http://127.0.0.1:9"));
        assert_eq!(s.mode_label(), "observe");
        assert_eq!(s.token.as_deref(), Some("user-token"));
        assert_eq!(s.logs_dir(), PathBuf::from("/tmp/elsewhere"));
        assert!(s.ignored_env.is_empty());
    }

    #[test]
    fn an_invalid_config_is_a_problem_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "url = [").unwrap();
        let p = path.to_string_lossy().to_string();
        let env = lookup(&[("CODEX_GUARD_CONFIG", &p)]);
        let s = Settings::load(&env, None);
        assert_eq!(s.problems.len(), 1);
        assert_eq!(s.mode_label(), "local-only");
    }
}
