//! A throw-away `HOME` and `CODEX_HOME` per test, so no test reads or writes the real
//! `~/.codex`, and each starts from a user setup that setup must preserve: a hand-written
//! config.toml with comments and a trusted hook of the user's own.

use crate::fake_model::FakeModel;
use crate::trust::{toml_string, trust_hash, trust_key};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A line the user's own hook appends to its marker file each time it runs.
pub const USER_HOOK_LINE: &str = "user-hook-ran";

/// Temp directories for one test. Paths are canonical (Codex canonicalizes
/// `CODEX_HOME`, and trust keys embed the canonical path).
pub struct TestHome {
    _dir: TempDir,
    /// `$HOME`: `<tmp>/my home` (the space checks quoting everywhere).
    pub home: PathBuf,
    /// `$CODEX_HOME`: `<tmp>/my home/.codex`.
    pub codex_home: PathBuf,
    /// The directory Codex runs in.
    pub workdir: PathBuf,
    /// `$TMPDIR` for the programs a test runs: `<tmp>/tmp`, so what they leave in
    /// their temporary directory goes with the test's.
    pub tmpdir: PathBuf,
    /// The file the user's own PreToolUse hook appends [`USER_HOOK_LINE`] to.
    pub user_hook_marker: PathBuf,
}

impl TestHome {
    /// Empty directories; call [`TestHome::configure`] to add the user's Codex files.
    pub fn new() -> TestHome {
        let dir = tempfile::Builder::new()
            .prefix("codex-guard-e2e-")
            .tempdir()
            .expect("create a temp dir");
        let root = dir
            .path()
            .canonicalize()
            .expect("canonicalize the temp dir");
        let home = root.join("my home");
        let codex_home = home.join(".codex");
        let workdir = root.join("work");
        let tmpdir = root.join("tmp");
        for d in [&codex_home, &workdir, &tmpdir] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        }
        TestHome {
            _dir: dir,
            user_hook_marker: home.join("user hook.log"),
            home,
            codex_home,
            workdir,
            tmpdir,
        }
    }

    /// A home set up as a user would have it: Codex talking to `model`, and a trusted
    /// PreToolUse hook of the user's own in `hooks.json`.
    pub fn with_model(model: &FakeModel) -> TestHome {
        let home = TestHome::new();
        home.configure(model);
        home
    }

    pub fn config_toml(&self) -> PathBuf {
        self.codex_home.join("config.toml")
    }

    pub fn hooks_json(&self) -> PathBuf {
        self.codex_home.join("hooks.json")
    }

    /// The runtime's event log.
    pub fn events_log(&self) -> PathBuf {
        self.codex_home.join("codex-guard/logs/events.jsonl")
    }

    /// The user's hook command: drains stdin (Codex writes the event there) and appends
    /// a line to the marker. The path has a space, so it is quoted as a user would.
    pub fn user_hook_command(&self) -> String {
        format!(
            "sh -c 'cat > /dev/null; echo {USER_HOOK_LINE} >> \"{}\"'",
            self.user_hook_marker.display()
        )
    }

    /// Writes `hooks.json` with the user's own hook and a `config.toml` pointing Codex at
    /// `model`, with comments and blank lines and the trust record for that hook.
    pub fn configure(&self, model: &FakeModel) {
        let group = json!({
            "matcher": "Bash",
            "hooks": [{ "type": "command", "command": self.user_hook_command(), "timeout": 10 }],
        });
        let hooks = json!({
            "description": "My own hooks",
            "hooks": { "PreToolUse": [group.clone()] },
        });
        write(
            &self.hooks_json(),
            &(serde_json::to_string_pretty(&hooks).expect("serialize hooks.json") + "\n"),
        );
        let trust = self.trust_record(&self.hooks_json(), "PreToolUse", &group, 0, 0);
        let config = format!(
            r#"# My Codex settings, written by hand.
model = "gpt-5.4"
model_provider = "fake"

# A local model for tests.
[model_providers.fake]
name = "fake"
base_url = "{base_url}"
wire_api = "responses"
env_key = "FAKE_API_KEY"

# I reviewed my own hook.
{trust}"#,
            base_url = model.base_url(),
        );
        write(&self.config_toml(), &config);
    }

    /// As [`TestHome::configure`], but the user keeps the hook inline in `config.toml`
    /// (`[[hooks.PreToolUse]]`, trusted under config.toml's own key) and has no
    /// `hooks.json`. Returns the config.toml text.
    pub fn configure_inline(&self, model: &FakeModel) -> String {
        let group = json!({
            "matcher": "Bash",
            "hooks": [{ "type": "command", "command": self.user_hook_command(), "timeout": 10 }],
        });
        let trust = self.trust_record(&self.config_toml(), "PreToolUse", &group, 0, 0);
        let config = format!(
            r#"# My Codex settings, written by hand.
model = "gpt-5.4"
model_provider = "fake"

# A local model for tests.
[model_providers.fake]
name = "fake"
base_url = "{base_url}"
wire_api = "responses"
env_key = "FAKE_API_KEY"

# My own hook, kept here rather than in hooks.json.
[[hooks.PreToolUse]]
matcher = "Bash"
[[hooks.PreToolUse.hooks]]
type = "command"
command = {command}
timeout = 10 # seconds

# I reviewed my own hook.
{trust}"#,
            base_url = model.base_url(),
            command = toml_string(&self.user_hook_command()),
        );
        write(&self.config_toml(), &config);
        config
    }

    /// Appends a trusted hook of the user's own to `hooks.json` (as a new matcher group of
    /// `event`) and its trust record to `config.toml`, as a user who reviewed it would.
    pub fn add_user_hook(&self, event: &str, matcher: Option<&str>, command: &str) {
        let mut hooks: Value =
            serde_json::from_str(&self.read(&self.hooks_json())).expect("hooks.json is JSON");
        let mut group =
            json!({ "hooks": [{ "type": "command", "command": command, "timeout": 10 }] });
        if let Some(matcher) = matcher {
            group["matcher"] = matcher.into();
        }
        let groups = hooks["hooks"]
            .as_object_mut()
            .expect("hooks.json has a hooks object")
            .entry(event)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("event entry is a list");
        groups.push(group.clone());
        let index = groups.len() - 1;
        let trust = self.trust_record(&self.hooks_json(), event, &group, index, 0);
        write(
            &self.hooks_json(),
            &(serde_json::to_string_pretty(&hooks).expect("serialize hooks.json") + "\n"),
        );
        let mut config = self.read(&self.config_toml());
        config.push('\n');
        config.push_str(&trust);
        write(&self.config_toml(), &config);
    }

    /// Registers a stdio MCP server in `config.toml` (`[mcp_servers.<name>]`), as a
    /// user would.
    pub fn add_mcp_server(&self, name: &str, command: &Path, args: &[&str]) {
        let mut config = self.read(&self.config_toml());
        let args: Vec<String> = args.iter().map(|a| toml_string(a)).collect();
        // Writing to a String cannot fail.
        let _ = write!(
            config,
            "\n[mcp_servers.{name}]\ncommand = {}\nargs = [{}]\n",
            toml_string(&command.display().to_string()),
            args.join(", ")
        );
        write(&self.config_toml(), &config);
    }

    /// A `[hooks.state."<key>"]` table trusting handler `handler` of group `group_index`.
    pub fn trust_record(
        &self,
        hooks_file: &Path,
        event: &str,
        group: &Value,
        group_index: usize,
        handler: usize,
    ) -> String {
        format!(
            "[hooks.state.{}]\ntrusted_hash = \"{}\"\n",
            toml_string(&trust_key(hooks_file, event, group_index, handler)),
            trust_hash(event, group, handler)
        )
    }

    /// How many times the user's own hook ran.
    pub fn user_hook_runs(&self) -> usize {
        fs::read_to_string(&self.user_hook_marker).map_or(0, |text| {
            text.lines().filter(|l| *l == USER_HOOK_LINE).count()
        })
    }

    /// The runtime's event log, one JSON value per line (empty when absent).
    pub fn events(&self) -> Vec<Value> {
        let Ok(text) = fs::read_to_string(self.events_log()) else {
            return Vec::new();
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("events.jsonl line is not JSON ({e}): {l}"))
            })
            .collect()
    }

    pub fn read(&self, path: &Path) -> String {
        fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }
}

impl Default for TestHome {
    fn default() -> Self {
        TestHome::new()
    }
}

/// Writes a file, panicking with its path on failure.
pub fn write(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
