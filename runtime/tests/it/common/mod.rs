//! The runtime as Codex runs it: a guard directory in a temporary home, the hook
//! binary fed one event on stdin.

use codex_guard_e2e::AktoRequest;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Longest wait for a record delivered in the background.
pub const WAIT: Duration = Duration::from_secs(10);

/// A body field Akto takes as a JSON-encoded string, decoded.
pub fn field(request: &AktoRequest, key: &str) -> Value {
    request
        .json_string_field(key)
        .unwrap_or_else(|| panic!("{key} is a JSON string"))
}

/// A guard directory with a config, as setup would leave it.
pub struct Home {
    temp_home: tempfile::TempDir,
    pub guard: PathBuf,
}

impl Home {
    pub fn new(config: &str) -> Home {
        Home::with_dir(tempfile::tempdir().unwrap(), config)
    }

    /// A home in `parent` rather than the system's temporary directory, for tests
    /// whose commands name `/tmp` and must not reach the home through it.
    pub fn new_in(parent: &std::path::Path, config: &str) -> Home {
        std::fs::create_dir_all(parent).unwrap();
        Home::with_dir(tempfile::tempdir_in(parent).unwrap(), config)
    }

    fn with_dir(dir: tempfile::TempDir, config: &str) -> Home {
        let guard = dir.path().join(".codex").join("codex-guard");
        std::fs::create_dir_all(&guard).unwrap();
        std::fs::write(guard.join("config.toml"), config).unwrap();
        std::fs::write(
            guard.join("rules.toml"),
            include_str!("../../../../templates/rules.toml"),
        )
        .unwrap();
        std::fs::write(guard.join("machine-id"), "test-box-0123abcd\n").unwrap();
        Home {
            temp_home: dir,
            guard,
        }
    }

    /// The temporary directory that stands for `$HOME`.
    pub fn home_dir(&self) -> &std::path::Path {
        self.temp_home.path()
    }

    /// The Codex home in it (`$HOME/.codex`).
    pub fn codex_home(&self) -> PathBuf {
        self.temp_home.path().join(".codex")
    }

    pub fn remote(url: &str, extra: &str) -> Home {
        Home::new(&format!("url = \"{url}\"\ntimeout_ms = 2000\n{extra}"))
    }

    pub fn run(&self, stdin: &[u8]) -> Output {
        self.run_with_env(stdin, &[])
    }

    pub fn run_with_env(&self, stdin: &[u8], env: &[(&str, &str)]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_codex-guard-hook"))
            .env_clear()
            .env("CODEX_GUARD_CONFIG", self.guard.join("config.toml"))
            .env("HOME", self.guard.parent().unwrap().parent().unwrap())
            .env("USER", "dev")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// The records waiting in the spool.
    pub fn spooled(&self) -> Vec<Value> {
        codex_guard_common::spool::pending(&self.guard.join("spool"))
            .iter()
            .map(|(path, _)| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
            .collect()
    }

    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(self.guard.join("logs/events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The hook starts a delivery process that outlives it. Removing the home while that
/// process still runs would race it: it recreates its spool lock in a directory being
/// removed, and the test leaves that behind in the system's temporary directory. So
/// the home waits for every process started with its configuration to end: the hook
/// has returned, so any delivery process it started is running by now.
impl Drop for Home {
    fn drop(&mut self) {
        let mut needle = b"CODEX_GUARD_CONFIG=".to_vec();
        needle.extend_from_slice(
            self.guard
                .join("config.toml")
                .as_os_str()
                .as_encoded_bytes(),
        );
        needle.push(0);
        let ours = |environ: &[u8]| {
            environ
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
        };
        let running = || {
            std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .any(|entry| {
                    entry
                        .file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                        && std::fs::read(entry.path().join("environ")).is_ok_and(|e| ours(&e))
                })
        };
        let deadline = std::time::Instant::now() + WAIT;
        while running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn pre_tool_use(command: &str) -> Vec<u8> {
    json!({
        "session_id": "sess-1", "turn_id": "turn-1", "transcript_path": null, "cwd": "/work",
        "hook_event_name": "PreToolUse", "model": "gpt-5.4", "permission_mode": "default",
        "tool_name": "Bash", "tool_use_id": "call-1", "tool_input": {"command": command}
    })
    .to_string()
    .into_bytes()
}

pub fn stdout_json(out: &Output) -> Value {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("stdout is JSON: {out:?}"))
}

/// A port on 127.0.0.1 that refuses connections and that nothing else can take for
/// as long as this lives: it is the local end of a connected socket, and nothing
/// listens on it. (A port merely closed again could be reused by a fake server of a
/// test running meanwhile, which the delivery process would then feed.)
pub struct ClosedPort {
    pub port: u16,
    _sockets: (
        std::net::TcpListener,
        std::net::TcpStream,
        std::net::TcpStream,
    ),
}

impl ClosedPort {
    pub fn reserve() -> ClosedPort {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        ClosedPort {
            port: client.local_addr().unwrap().port(),
            _sockets: (listener, client, server),
        }
    }
}
