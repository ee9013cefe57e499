//! Drives the real Codex CLI (`codex exec` for a turn, `codex app-server` for the hook
//! list) inside a [`TestHome`], with a cleared environment so nothing of the machine's
//! own Codex setup leaks in.

use crate::home::TestHome;
use crate::process::{self, describe, kill_group, Output};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Longest a single `codex exec` may take before the test fails.
pub const EXEC_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest the app-server may take to answer one request.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(60);

/// The Codex CLI under test, from `CODEX_BIN`. There is no fallback to `PATH` and no
/// skipping: an e2e run without Codex must fail loudly.
#[track_caller]
pub fn codex_bin() -> PathBuf {
    let Some(bin) = std::env::var_os("CODEX_BIN").filter(|v| !v.is_empty()) else {
        panic!(
            "CODEX_BIN is not set: point it at the Codex CLI under test, e.g.\n  \
             npm i --prefix /tmp/codexnpm @openai/codex@0.171.0\n  \
             CODEX_BIN=/tmp/codexnpm/node_modules/.bin/codex cargo test -p codex-guard-e2e"
        )
    };
    let bin = PathBuf::from(bin);
    assert!(
        bin.is_file(),
        "CODEX_BIN={} does not exist or is not a file",
        bin.display()
    );
    bin
}

/// A Codex command with only the environment a test chooses: PATH (Codex's npm
/// launcher needs node), the temp `HOME` and `CODEX_HOME`, and the fake provider's key.
pub fn codex_command(home: &TestHome) -> Command {
    let mut command = Command::new(codex_bin());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home.home)
        .env("TMPDIR", &home.tmpdir)
        .env("CODEX_HOME", &home.codex_home)
        .env("FAKE_API_KEY", "x")
        .current_dir(&home.workdir);
    command
}

/// Runs one non-interactive turn: `codex exec` with `prompt`, stdin from /dev/null
/// (otherwise Codex waits for more prompt), no sandbox and no approvals, so the only
/// thing that can stop the scripted command is a hook.
///
/// PermissionRequest never fires here: with `--dangerously-bypass-approvals-and-sandbox`
/// nothing asks for approval. See [`run_codex_exec_with_approvals`] for the way that
/// makes Codex fire it in `exec`.
#[track_caller]
pub fn run_codex_exec(home: &TestHome, prompt: &str) -> Output {
    let mut command = codex_command(home);
    command.args([
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        prompt,
    ]);
    process::run(command, EXEC_TIMEOUT)
}

/// Runs one turn in which approval requests are possible, so PermissionRequest hooks fire.
///
/// Found by experiment with Codex 0.169: `codex exec` always runs with approval policy
/// "never" (even `-c approval_policy="on-request"` is overridden), so a command asking for
/// `sandbox_permissions: "require_escalated"` is just rejected and no PermissionRequest
/// fires. `--approve-for-me` is the one `exec` flag that turns approvals on: policy
/// "on-request", sandbox workspace-write, and approvals routed to an automatic reviewer
/// (a "guardian" sub-agent on the same model). A command that asks for escalation then
/// fires PreToolUse, then PermissionRequest (`tool_input` gains `description`, the model's
/// justification; there is no `tool_use_id`); a hook that gives no decision leaves it to
/// the reviewer, which [`FakeModel`](crate::FakeModel) answers with "allow".
#[track_caller]
pub fn run_codex_exec_with_approvals(home: &TestHome, prompt: &str) -> Output {
    let mut command = codex_command(home);
    command.args(["exec", "--skip-git-repo-check", "--approve-for-me", prompt]);
    process::run(command, EXEC_TIMEOUT)
}

/// Runs one `codex exec` turn as [`run_codex_exec`] does, but with `etc` mounted over
/// `/etc` in a private mount namespace, so Codex reads the machine-wide
/// `/etc/codex/requirements.toml` of a test's system root. Codex has no variable that
/// moves that file; the namespace changes nothing outside the process (root only).
#[track_caller]
pub fn run_codex_exec_with_etc(home: &TestHome, etc: &std::path::Path, prompt: &str) -> Output {
    let mut inner = codex_command(home);
    inner.args([
        "exec",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        prompt,
    ]);
    let mut command = Command::new("unshare");
    command
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc && exec "$@""#)
        .arg(etc)
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_clear();
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            command.env(key, value);
        }
    }
    if let Some(dir) = inner.get_current_dir() {
        command.current_dir(dir);
    }
    process::run(command, EXEC_TIMEOUT)
}

/// A `codex app-server` session (JSON-RPC, one JSON object per line on stdio).
pub struct AppServer {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
    description: String,
}

impl AppServer {
    /// Starts the server and completes the `initialize` handshake.
    #[track_caller]
    pub fn start(home: &TestHome) -> AppServer {
        let mut command = codex_command(home);
        command
            .arg("app-server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        let description = describe(&command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {description}: {e}"));
        let stdin = child.stdin.take().expect("app-server stdin");
        let stdout = child.stdout.take().expect("app-server stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = AppServer {
            child,
            stdin,
            lines,
            next_id: 1,
            description,
        };
        server.request(
            "initialize",
            json!({ "clientInfo": { "name": "codex-guard-e2e", "version": "1" } }),
        );
        server.send(&json!({ "jsonrpc": "2.0", "method": "initialized" }));
        server
    }

    /// Sends a request and returns its `result`; panics on an error or after [`RPC_TIMEOUT`].
    #[track_caller]
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "jsonrpc": "2.0", "id": id, "method": method });
        message["params"] = params;
        self.send(&message);
        let deadline = Instant::now() + RPC_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => panic!(
                    "{}: no answer to {method} within {RPC_TIMEOUT:?} ({e})",
                    self.description
                ),
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            // Notifications and server requests interleave with answers: skip them.
            if message["id"] != json!(id) || message.get("method").is_some() {
                continue;
            }
            if let Some(error) = message.get("error") {
                panic!("{method} failed: {error}");
            }
            return message["result"].clone();
        }
    }

    fn send(&mut self, message: &Value) {
        writeln!(self.stdin, "{message}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("write to {}: {e}", self.description));
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        kill_group(&self.child);
        let _ = process::wait_with_deadline(&mut self.child, Duration::from_secs(10));
    }
}

/// Every hook Codex discovers for the test's workdir, as `hooks/list` reports them (each
/// with `key`, `eventName` in camelCase, `command`, `currentHash`, `trustStatus`): the
/// ground truth for whether a hook will run. Panics if Codex reports errors in the files.
#[track_caller]
pub fn list_hooks(home: &TestHome) -> Vec<Value> {
    let mut server = AppServer::start(home);
    let result = server.request(
        "hooks/list",
        json!({ "cwds": [home.workdir.display().to_string()] }),
    );
    let mut hooks = Vec::new();
    for entry in result["data"].as_array().into_iter().flatten() {
        let errors = &entry["errors"];
        assert!(
            errors.as_array().is_none_or(Vec::is_empty),
            "Codex reports errors in the hook files: {errors}"
        );
        hooks.extend(entry["hooks"].as_array().into_iter().flatten().cloned());
    }
    hooks
}
