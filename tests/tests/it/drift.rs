//! The session start check, through the real binaries: `codex-guard setup` installs,
//! the test tampers with what setup wrote (as an agent or a user could), then the hook
//! Codex would run gets a SessionStart event. The audit line and the SessionStart record
//! sent to the fake Akto must both name the drift; an untouched install reports intact.

use codex_guard_e2e::guard::{self, run_guard};
use codex_guard_e2e::process::run_with_stdin;
use codex_guard_e2e::{run_codex_exec, wait_until, AktoRequest, FakeAkto, FakeModel, TestHome};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(10);

/// A per-user install reporting to a fake Akto.
struct Installed {
    home: TestHome,
    akto: FakeAkto,
}

impl Installed {
    fn new() -> Installed {
        let home = TestHome::new();
        let akto = FakeAkto::start();
        let (output, report) = guard::setup(&home, &akto.url(), &[]);
        output.assert_success();
        assert_eq!(report["status"], "changed", "{output}");
        Installed { home, akto }
    }

    fn runtime(&self) -> PathBuf {
        self.home
            .codex_home
            .join("codex-guard/bin/codex-guard-hook")
    }

    /// Edits `hooks.json` as parsed JSON.
    fn edit_hooks(&self, edit: impl FnOnce(&mut Value)) {
        let path = self.home.hooks_json();
        let mut doc: Value = serde_json::from_str(&self.home.read(&path)).unwrap();
        edit(&mut doc);
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }

    fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.home.config_toml();
        let text = edit(self.home.read(&path));
        std::fs::write(&path, text).unwrap();
    }

    /// Runs the installed hook on a SessionStart, as Codex would.
    fn session_start(&self, env: &[(&str, &str)]) -> Seen {
        session_start(&self.home, &self.akto, Command::new(self.runtime()), env)
    }
}

/// What one SessionStart left: its audit line and the record Akto got.
struct Seen {
    log: Value,
    record: AktoRequest,
}

impl Seen {
    /// The check as logged; asserts the record sent to Akto carries the same.
    fn check(&self) -> &Value {
        let integrity = &self.log["integrity"];
        assert!(
            integrity.is_object(),
            "no integrity in the audit line: {}",
            self.log
        );
        let payload = self
            .record
            .request_payload()
            .expect("requestPayload is JSON");
        assert_eq!(
            &payload["codexGuard"], integrity,
            "Akto got another check than the log"
        );
        integrity
    }

    fn tag(&self, name: &str) -> Value {
        self.record.json_string_field("tag").expect("tag is JSON")[name].clone()
    }

    /// `(part, event, problem)` of each drift.
    fn drift(&self) -> Vec<(String, Option<String>, String)> {
        self.check()["drift"]
            .as_array()
            .expect("drift is a list")
            .iter()
            .map(|d| {
                (
                    d["part"].as_str().unwrap().to_string(),
                    d["event"].as_str().map(str::to_string),
                    d["problem"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

fn item(part: &str, event: Option<&str>, problem: &str) -> (String, Option<String>, String) {
    (
        part.to_string(),
        event.map(str::to_string),
        problem.to_string(),
    )
}

/// Feeds a SessionStart to `command` in `home`, then waits for its line and its record.
#[track_caller]
fn session_start(
    home: &TestHome,
    akto: &FakeAkto,
    mut command: Command,
    env: &[(&str, &str)],
) -> Seen {
    let event = json!({"hook_event_name": "SessionStart", "session_id": "sess-drift",
        "source": "startup", "cwd": home.workdir, "transcript_path": null});
    command
        .env_clear()
        .env("HOME", &home.home)
        .env("TMPDIR", &home.tmpdir)
        .env("CODEX_HOME", &home.codex_home)
        .env("USER", "dev")
        .envs(env.iter().copied())
        .current_dir(&home.workdir);
    let out = run_with_stdin(command, event.to_string().as_bytes());
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    assert!(
        wait_until(SETTLE, || !akto.requests_for("SessionStart").is_empty()),
        "Akto got no SessionStart record"
    );
    let log = home
        .events()
        .into_iter()
        .rfind(|l| l["event"] == "SessionStart")
        .expect("a SessionStart line in the audit log");
    let record = akto.requests_for("SessionStart").pop().unwrap();
    Seen { log, record }
}

#[test]
fn an_untouched_install_reports_intact() {
    let install = Installed::new();
    let seen = install.session_start(&[]);
    let check = seen.check();
    assert_eq!(check["intact"], true, "{check}");
    assert_eq!(check["registration_intact"], true);
    assert_eq!(check["drift"], json!([]));
    assert_eq!(check["scope"], "user");
    assert_eq!(check["mode"], "blocking");
    assert_eq!(check["fail_closed"], false);
    assert_eq!(check["version"], check["installed_version"]);
    assert_eq!(check["shell_env"], json!({}));
    assert_eq!(check["akto_mode"], "argus");
    assert_eq!(check["blocking"], true);
    assert_eq!(seen.tag("codex-guard-integrity"), "intact");
    assert_eq!(seen.tag("codex-guard-registration"), "intact");
    assert_eq!(seen.tag("codex-guard-scope"), "user");
    assert_eq!(seen.tag("codex-guard-mode"), "blocking");
    assert_eq!(seen.tag("codex-guard-fail"), "open");
    assert_eq!(seen.tag("codex-guard-version"), check["version"]);
    assert_eq!(seen.tag("codex-guard-shell-env"), Value::Null);
}

#[test]
fn a_removed_or_rewritten_handler_in_hooks_json_is_reported() {
    let install = Installed::new();
    install.edit_hooks(|doc| {
        let hooks = doc["hooks"].as_object_mut().unwrap();
        hooks.shift_remove("PreToolUse");
        let stop = &mut hooks["Stop"][0]["hooks"][0]["command"];
        *stop = format!("{} --version", stop.as_str().unwrap()).into();
    });
    let seen = install.session_start(&[]);
    assert_eq!(
        seen.drift(),
        [
            item("hooks.json", Some("PreToolUse"), "missing"),
            item("hooks.json", Some("Stop"), "changed"),
        ]
    );
    let check = seen.check();
    assert_eq!(check["intact"], false);
    assert_eq!(check["registration_intact"], false);
    let detail = check["drift"][1]["detail"].as_str().unwrap();
    assert!(detail.contains("--version"), "{detail}");
    assert_eq!(seen.tag("codex-guard-integrity"), "drift");
}

#[test]
fn hooks_turned_off_and_a_removed_trust_record_in_config_toml_are_reported() {
    let install = Installed::new();
    let hooks_json = install.home.hooks_json().display().to_string();
    install.edit_config(|text| {
        let key = format!("[hooks.state.\"{hooks_json}:pre_tool_use:0:0\"]\n");
        let start = text
            .find(&key)
            .expect("setup wrote the PreToolUse trust record");
        let end = start + key.len() + text[start + key.len()..].find('\n').unwrap() + 1;
        let mut text = text.clone();
        text.replace_range(start..end, "");
        assert!(text.contains("hooks = true"), "{text}");
        text.replacen("hooks = true", "hooks = false", 1)
    });
    let seen = install.session_start(&[]);
    assert_eq!(
        seen.drift(),
        [
            item("config.toml", None, "off"),
            item("config.toml", Some("PreToolUse"), "untrusted"),
        ]
    );
    assert_eq!(seen.check()["registration_intact"], false);
}

#[test]
fn a_replaced_runtime_is_reported() {
    let install = Installed::new();
    // A check hashes the runtime and remembers it once the file has been left alone for
    // a second; the replacement must still be seen, even with the old modification time
    // put back.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(install.session_start(&[]).check()["intact"], true);
    let cache = install
        .home
        .codex_home
        .join("codex-guard/state/runtime-sha256.json");
    assert!(
        cache.is_file(),
        "the hash is remembered in {}",
        cache.display()
    );
    let modified = std::fs::metadata(install.runtime())
        .unwrap()
        .modified()
        .unwrap();
    replace_with_appended(&install.runtime(), b"tampered");
    std::fs::File::options()
        .write(true)
        .open(install.runtime())
        .and_then(|f| f.set_modified(modified))
        .unwrap();
    install.akto.clear();
    let seen = install.session_start(&[]);
    assert_eq!(seen.drift(), [item("runtime", None, "changed")]);
    let check = seen.check();
    // Codex still runs our handlers; it is the program behind them that changed.
    assert_eq!(check["registration_intact"], true);
    assert_eq!(check["intact"], false);
}

#[test]
fn bash_env_in_the_hooks_environment_is_reported() {
    let install = Installed::new();
    let file = install.home.home.join(".hook-env");
    std::fs::write(&file, "true\n").unwrap();
    let path = file.display().to_string();
    let seen = install.session_start(&[("BASH_ENV", &path), ("ENV", &path)]);
    let check = seen.check();
    assert_eq!(check["shell_env"], json!({"BASH_ENV": path, "ENV": path}));
    assert_eq!(check["intact"], true, "the install itself did not drift");
    assert_eq!(seen.tag("codex-guard-shell-env"), "BASH_ENV,ENV");
}

/// Removes the `[[hooks.<event>]]` group (and its handlers) from requirements.toml text.
fn without_group(text: &str, event: &str) -> String {
    let header = format!("[[hooks.{event}]]");
    let start = text.find(&header).expect("our group is there");
    let own = format!("[[hooks.{event}.");
    let rest = &text[start + header.len()..];
    let mut end = text.len();
    let mut offset = start + header.len();
    for line in rest.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') && !trimmed.starts_with(&own) {
            end = offset;
            break;
        }
        offset += line.len();
    }
    format!("{}{}", &text[..start], &text[end..])
}

#[test]
fn a_managed_install_reports_its_requirements_and_runtime_drifting() {
    let home = TestHome::new();
    let akto = FakeAkto::start();
    let root_dir = tempfile::tempdir().unwrap();
    let root = root_dir.path().canonicalize().unwrap();
    let root_arg = root.display().to_string();
    let output = run_guard(
        &home,
        &[
            "setup",
            "--managed",
            "--silent",
            "--json",
            "--url",
            &akto.url(),
            "--system-root",
            &root_arg,
        ],
    );
    output.assert_success();
    let runtime = root.join("usr/local/lib/codex-guard/codex-guard-hook");
    let config = root.join("etc/codex-guard/config.toml");
    let managed = |akto: &FakeAkto| {
        let mut command = Command::new(&runtime);
        command.arg("--machine-config").arg(&config);
        session_start(&home, akto, command, &[])
    };

    let seen = managed(&akto);
    let check = seen.check();
    assert_eq!(check["scope"], "managed", "{check}");
    assert_eq!(check["intact"], true, "{check}");

    let requirements = root.join("etc/codex/requirements.toml");
    let text = std::fs::read_to_string(&requirements).unwrap();
    std::fs::write(&requirements, without_group(&text, "PreToolUse")).unwrap();
    replace_with_appended(&runtime, b"tampered");
    akto.clear();
    let seen = managed(&akto);
    assert_eq!(
        seen.drift(),
        [
            item("requirements.toml", Some("PreToolUse"), "missing"),
            item("runtime", None, "changed"),
        ]
    );
    assert_eq!(seen.check()["registration_intact"], false);
    assert_eq!(seen.tag("codex-guard-integrity"), "drift");
    assert_eq!(seen.tag("codex-guard-registration"), "broken");
    assert_eq!(seen.tag("codex-guard-scope"), "managed");
}

/// Puts another program in place of `path`, as an attacker would (a new file renamed
/// over it: the old one may still be running): still one that runs, the ELF with
/// `bytes` appended.
fn replace_with_appended(path: &Path, bytes: &[u8]) {
    let mut program = std::fs::read(path).unwrap();
    program.extend_from_slice(bytes);
    let new = path.with_extension("new");
    std::fs::write(&new, program).unwrap();
    std::fs::set_permissions(&new, std::fs::metadata(path).unwrap().permissions()).unwrap();
    std::fs::rename(&new, path).unwrap();
}

/// With the real Codex: someone takes our PreToolUse handler out of hooks.json, so
/// Codex runs the next command unguarded. Our SessionStart handler, untouched and still
/// trusted, reports the drift at the start of that very session.
#[test]
fn codex_reports_a_hooks_json_edited_behind_setups_back_at_the_next_session_start() {
    let home = TestHome::new();
    let target = home.workdir.join("unguarded-marker");
    let model = FakeModel::start(&format!("touch {}", target.display()));
    home.configure(&model);
    let akto = FakeAkto::deny_containing("unguarded-marker", "dangerous command");
    let (output, _) = guard::setup(&home, &akto.url(), &[]);
    output.assert_success();

    let path = home.hooks_json();
    let mut doc: Value = serde_json::from_str(&home.read(&path)).unwrap();
    let groups = doc["hooks"]["PreToolUse"].as_array_mut().unwrap();
    let before = groups.len();
    groups.retain(|g| !g.to_string().contains("codex-guard-hook"));
    assert_eq!(groups.len(), before - 1, "setup added one PreToolUse group");
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();

    let output = run_codex_exec(&home, "create the marker");
    output.assert_success();
    assert!(
        target.exists(),
        "without our PreToolUse handler the command runs unguarded: {output}"
    );
    assert!(
        wait_until(SETTLE, || !akto.requests_for("SessionStart").is_empty()),
        "no SessionStart record: {output}"
    );
    let log = home
        .events()
        .into_iter()
        .find(|l| l["event"] == "SessionStart")
        .unwrap_or_else(|| panic!("no SessionStart line: {output}"));
    let seen = Seen {
        log,
        record: akto.requests_for("SessionStart").remove(0),
    };
    assert_eq!(
        seen.drift(),
        [item("hooks.json", Some("PreToolUse"), "missing")]
    );
    assert_eq!(seen.check()["registration_intact"], false);
    assert_eq!(seen.tag("codex-guard-integrity"), "drift");
}
