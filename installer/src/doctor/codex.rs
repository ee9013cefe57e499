//! Asking the Codex CLI itself: its version, and (through `codex app-server`) the
//! hooks it discovered with the trust status it gives each. Codex's own answer is the
//! ground truth for whether our handlers run; everything else doctor checks is a
//! prediction of it.

use super::process::{self, kill_group, own_group, wait_with_deadline};
use codex_guard_common::events::Event;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The Codex version the trust format was verified against.
pub const VERIFIED_VERSION: (u64, u64, u64) = (0, 169, 0);
/// Longest `codex --version` may take (the npm launcher starts node first).
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the whole app-server conversation may take, start to answer.
const APP_SERVER_TIMEOUT: Duration = Duration::from_secs(20);

/// The Codex CLI doctor talks to, or why there is none.
#[derive(Debug, Clone)]
pub enum CodexBin {
    Found(PathBuf),
    Missing(String),
}

impl CodexBin {
    /// `--codex-bin`, else `codex` on PATH.
    pub fn locate(flag: Option<&Path>) -> CodexBin {
        match flag {
            Some(path) if path.is_file() => CodexBin::Found(path.to_path_buf()),
            Some(path) => CodexBin::Missing(format!("{} does not exist", path.display())),
            None => match find_on_path("codex") {
                Some(path) => CodexBin::Found(path),
                None => CodexBin::Missing("no `codex` on PATH".into()),
            },
        }
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A Codex command that reads the Codex home under test and nothing else of ours.
fn command(bin: &Path, codex_home: &Path) -> Command {
    let mut command = Command::new(bin);
    command.env("CODEX_HOME", codex_home);
    if codex_home.is_dir() {
        // Away from whatever project the user runs doctor in.
        command.current_dir(codex_home);
    }
    command
}

/// What `codex --version` printed (e.g. `codex-cli 0.169.0`).
pub fn version(bin: &Path, codex_home: &Path) -> Result<String, String> {
    let mut command = command(bin, codex_home);
    command.arg("--version");
    let out = process::run(command, VERSION_TIMEOUT)?;
    let text = out.stdout.trim();
    if !out.status.success() || text.is_empty() {
        let detail = out.stderr.lines().last().unwrap_or("").trim().to_string();
        return Err(format!("`--version` failed ({}) {detail}", out.status)
            .trim()
            .to_string());
    }
    Ok(text.lines().next().unwrap_or(text).trim().to_string())
}

/// The numeric version in `codex-cli 0.169.0` (pre-release and build suffixes ignored).
pub fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let token = text
        .split_whitespace()
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))?;
    let core = token.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// One hook as `hooks/list` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedHook {
    pub key: String,
    /// camelCase (`preToolUse`).
    pub event_name: String,
    pub command: String,
    pub trust_status: String,
    pub enabled: bool,
    pub is_managed: bool,
    pub source_path: Option<String>,
}

/// What Codex answered to `hooks/list`.
#[derive(Debug, Clone, Default)]
pub struct HookList {
    pub hooks: Vec<ListedHook>,
    /// Problems Codex reports in the hook files it read (a config it cannot load too).
    pub errors: Vec<String>,
    /// What Codex warns about while loading them (e.g. hooks in both hooks.json and
    /// config.toml of one layer).
    pub warnings: Vec<String>,
}

impl HookList {
    /// Each event whose codex-guard handler (the one running `runtime`) Codex will not
    /// run, as `Event=why` (`not listed`, `untrusted`, `modified`, `disabled`).
    pub fn not_running(&self, runtime: &Path) -> Vec<String> {
        let runtime = runtime.display().to_string();
        let mut bad = Vec::new();
        for event in Event::ALL {
            let name = event.name();
            let camel = name[..1].to_ascii_lowercase() + &name[1..];
            let ours: Vec<&ListedHook> = self
                .hooks
                .iter()
                .filter(|h| h.event_name == camel && h.command.contains(&runtime))
                .collect();
            if ours.is_empty() {
                bad.push(format!("{name}=not listed"));
            }
            for hook in ours {
                if hook.trust_status != "trusted" {
                    bad.push(format!("{name}={}", hook.trust_status));
                } else if !hook.enabled {
                    bad.push(format!("{name}=disabled"));
                }
            }
        }
        bad
    }
}

/// Runs `codex app-server` against `codex_home` and asks it for the hooks it sees from
/// `cwd`. The child is always killed before this returns.
pub fn list_hooks(bin: &Path, codex_home: &Path, cwd: &Path) -> Result<HookList, String> {
    let mut command = command(bin, codex_home);
    command
        .arg("app-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    own_group(&mut command);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start `{} app-server`: {e}", bin.display()))?;
    let result = converse(&mut child, cwd);
    kill_group(&child);
    let _ = child.kill();
    let _ = wait_with_deadline(&mut child, Duration::from_secs(5));
    result
}

fn converse(child: &mut std::process::Child, cwd: &Path) -> Result<HookList, String> {
    let deadline = Instant::now() + APP_SERVER_TIMEOUT;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut send = |message: Value| {
        writeln!(stdin, "{message}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("app-server closed its input ({e})"))
    };
    let wait_for = |id: u64, method: &str| -> Result<Value, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no answer to {method} within {} s",
                        APP_SERVER_TIMEOUT.as_secs()
                    ))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("app-server exited before answering {method}"))
                }
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            // Notifications and server requests arrive in between: skip them.
            if message.get("id") != Some(&json!(id)) || message.get("method").is_some() {
                continue;
            }
            if let Some(error) = message.get("error") {
                let text = error
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or_else(|| error.to_string(), str::to_string);
                return Err(format!("{method} failed: {text}"));
            }
            return Ok(message.get("result").cloned().unwrap_or(Value::Null));
        }
    };

    send(json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"clientInfo": {"name": "codex-guard", "version": codex_guard_common::VERSION}},
    }))?;
    wait_for(1, "initialize")?;
    send(json!({"jsonrpc": "2.0", "method": "initialized"}))?;
    send(json!({
        "jsonrpc": "2.0", "id": 2, "method": "hooks/list",
        "params": {"cwds": [cwd.display().to_string()]},
    }))?;
    let result = wait_for(2, "hooks/list")?;
    Ok(parse_hook_list(&result))
}

/// `result.data[].hooks[]` and `result.data[].errors[]`, duplicates (one file seen from
/// two cwds) listed once.
pub fn parse_hook_list(result: &Value) -> HookList {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let mut list = HookList::default();
    for entry in result
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for hook in entry
            .get("hooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let listed = ListedHook {
                key: text(hook, "key").unwrap_or_default(),
                event_name: text(hook, "eventName").unwrap_or_default(),
                command: text(hook, "command").unwrap_or_default(),
                trust_status: text(hook, "trustStatus").unwrap_or_else(|| "unknown".into()),
                enabled: hook.get("enabled").and_then(Value::as_bool).unwrap_or(true),
                is_managed: hook
                    .get("isManaged")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                source_path: text(hook, "sourcePath"),
            };
            if !list.hooks.contains(&listed) {
                list.hooks.push(listed);
            }
        }
        for warning in entry
            .get("warnings")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let warning = warning
                .as_str()
                .map(str::to_string)
                .or_else(|| text(warning, "message"))
                .unwrap_or_else(|| warning.to_string());
            if !list.warnings.contains(&warning) {
                list.warnings.push(warning);
            }
        }
        for error in entry
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let error = error
                .as_str()
                .map(str::to_string)
                .or_else(|| text(error, "message"))
                .unwrap_or_else(|| error.to_string());
            if !list.errors.contains(&error) {
                list.errors.push(error);
            }
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_codex_output() {
        assert_eq!(parse_version("codex-cli 0.169.0"), Some((0, 169, 0)));
        assert_eq!(
            parse_version("codex-cli 0.170.1-alpha.2"),
            Some((0, 170, 1))
        );
        assert_eq!(parse_version("codex 1.2"), Some((1, 2, 0)));
        assert_eq!(parse_version("codex-cli dev"), None);
        assert!(parse_version("codex-cli 0.168.9").unwrap() < VERIFIED_VERSION);
    }

    #[test]
    fn hook_lists_are_read_tolerantly() {
        let result = json!({"data": [
            {"cwd": "/a", "hooks": [
                {"key": "/h/hooks.json:stop:0:0", "eventName": "stop", "command": "x",
                 "trustStatus": "modified", "enabled": true, "isManaged": false, "sourcePath": "/h/hooks.json"},
                {"key": "k2", "eventName": "preToolUse"}
            ], "errors": [{"message": "bad file"}],
               "warnings": ["loading hooks from both /h/hooks.json and /h/config.toml; prefer a single representation for this layer"]},
            {"cwd": "/b", "hooks": [
                {"key": "/h/hooks.json:stop:0:0", "eventName": "stop", "command": "x",
                 "trustStatus": "modified", "enabled": true, "isManaged": false, "sourcePath": "/h/hooks.json"}
            ], "errors": []}
        ]});
        let list = parse_hook_list(&result);
        assert_eq!(list.hooks.len(), 2);
        assert_eq!(list.hooks[0].trust_status, "modified");
        assert_eq!(list.hooks[1].trust_status, "unknown");
        assert!(list.hooks[1].enabled);
        assert_eq!(list.errors, vec!["bad file".to_string()]);
        assert_eq!(list.warnings.len(), 1);
        assert!(list.warnings[0].starts_with("loading hooks from both"));
    }
}
