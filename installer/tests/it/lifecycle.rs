//! Uninstall, backup and restore as real processes in a temporary home: the byte-exact
//! round trip, other people's hooks and edits surviving, restore refusing to overwrite.

use crate::common::{json_of, TestEnv};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const COMMENTED_CONFIG: &str = "\
# Personal Codex settings
model = \"gpt-5.4\"   # keep this one

# features I turned on by hand
[features]
codex_hooks = false # old name, off
web_search = true
";

const THIRD_PARTY_HOOKS: &str = "{\n  \"description\": \"other-tool\",\n  \"hooks\": {\n    \"PreToolUse\": [{\"matcher\": \"Bash\", \"hooks\": [{\"type\": \"command\", \"command\": \"other-tool check\"}]}],\n    \"Stop\": []\n  }\n}";

/// The user's hooks kept inline in config.toml, with comments, a trust record and a
/// table after them.
const INLINE_CONFIG: &str = "\
# Personal Codex settings
model = \"gpt-5.4\"   # keep this one

# my shell guard
[[hooks.PreToolUse]]
matcher = \"Bash\"
[[hooks.PreToolUse.hooks]]
type = \"command\"
command = \"other-tool check\" # reviewed
timeout = 10

[[hooks.Stop]]
hooks = [{ type = \"command\", command = \"other-tool stop\" }]

[hooks.state.\"/somewhere/config.toml:pre_tool_use:0:0\"]
trusted_hash = \"sha256:00\"

[tui]
notifications = true
";

/// Every starting point the round trip must give back exactly.
fn starting_points() -> Vec<(&'static str, Option<&'static str>, Option<&'static str>)> {
    vec![
        ("empty home", None, None),
        ("commented config", Some(COMMENTED_CONFIG), None),
        ("config without final newline", Some("model = \"o3\""), None),
        (
            "features already on",
            Some("[features]\nhooks = true\n"),
            None,
        ),
        (
            "third-party hooks",
            Some(COMMENTED_CONFIG),
            Some(THIRD_PARTY_HOOKS),
        ),
        ("empty hooks file", Some(""), Some("{}")),
        ("inline hooks", Some(INLINE_CONFIG), None),
        (
            "hooks in both files",
            Some(INLINE_CONFIG),
            Some(THIRD_PARTY_HOOKS),
        ),
    ]
}

#[test]
fn setup_then_uninstall_gives_back_every_byte() {
    for (name, config, hooks) in starting_points() {
        let mut env = TestEnv::new();
        if let Some(text) = config {
            env = env.file("config.toml", text);
        }
        if let Some(text) = hooks {
            env = env.file("hooks.json", text);
        }
        let before = env.snapshot();
        env.setup(&["--local-only"]).success();
        assert_ne!(env.snapshot(), before, "{name}: setup changed nothing");
        let report = json_of(&env.uninstall(&[]).success());
        assert_eq!(report["status"], "removed", "{name}");
        assert_eq!(
            env.snapshot(),
            before,
            "{name}: not byte-identical after uninstall"
        );
        assert!(!env.codex_home.join("codex-guard").exists(), "{name}");
        let backup = report["backup"].as_str().unwrap();
        assert!(
            std::path::Path::new(backup).is_file(),
            "{name}: no safety backup"
        );
    }
}

/// Configs only TOML 1.1 allows, each with setup's edits landing in or next to the
/// new syntax, and the file setup writes before its trust records.
fn toml_1_1_configs() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "multi-line inline table",
            "model = \"o3\"\nmcp_servers.docs = {\n  command = \"docs-server\",   # the local one\n  args = [\"--port\", \"4000\"]\n}\n\n[features]\nweb_search = true\n",
            "model = \"o3\"\nmcp_servers.docs = {\n  command = \"docs-server\",   # the local one\n  args = [\"--port\", \"4000\"]\n}\n\n[features]\nweb_search = true\nhooks = true\n",
        ),
        (
            "features as a multi-line inline table with a trailing comma",
            "# flags\nfeatures = {\n  web_search = true, # on\n}\nmodel = \"o3\"\n",
            "# flags\nfeatures = {\n  web_search = true, # on\n  hooks = true,\n}\nmodel = \"o3\"\n",
        ),
        (
            "the deprecated flag in a multi-line inline table",
            "features = {\n  codex_hooks = false, # old name\n  web_search = true\n}\n",
            "features = {\n  hooks = true, # old name\n  web_search = true\n}\n",
        ),
        (
            "trailing comma in a one-line inline table",
            "features = { web_search = true, }\nshell_environment_policy = { inherit = \"core\", }\n",
            "features = { web_search = true, hooks = true, }\nshell_environment_policy = { inherit = \"core\", }\n",
        ),
        (
            "\\x escape",
            "model = \"o3\"\nnotify = [\"say\", \"done\\x21\"]\n\n[features]\nhooks = false # \\x00 in a comment\n",
            "model = \"o3\"\nnotify = [\"say\", \"done\\x21\"]\n\n[features]\nhooks = true # \\x00 in a comment\n",
        ),
        (
            "\\e escape",
            "[tui]\nprompt = \"\\e[1m>\\e[0m \"\n\n[features]\ncodex_hooks = true\n",
            "[tui]\nprompt = \"\\e[1m>\\e[0m \"\n\n[features]\nhooks = true\n",
        ),
    ]
}

#[test]
fn toml_1_1_configs_go_through_setup_and_uninstall_byte_for_byte() {
    for (name, config, edited) in toml_1_1_configs() {
        let env = TestEnv::new().file("config.toml", config);
        let before = env.snapshot();
        env.setup(&["--local-only"]).success();
        let installed = env.read("config.toml");
        let trust = installed
            .strip_prefix(edited)
            .unwrap_or_else(|| panic!("{name}: the user's part is not {edited:?}:\n{installed}"));
        assert!(
            trust.lines().all(|line| line.is_empty()
                || line.starts_with("[hooks.state.\"")
                || line.starts_with("trusted_hash = \"sha256:")),
            "{name}: setup added more than trust records:\n{installed}"
        );
        let report = json_of(&env.setup(&["--local-only", "--json"]).success());
        assert_eq!(report["status"], "unchanged", "{name}: {report}");
        assert_eq!(env.read("config.toml"), installed, "{name}");
        let report = json_of(&env.uninstall(&[]).success());
        assert_eq!(report["status"], "removed", "{name}");
        assert_eq!(
            env.snapshot(),
            before,
            "{name}: not byte-identical after uninstall"
        );
    }
}

#[test]
fn a_config_invalid_even_for_toml_1_1_is_refused_naming_the_place() {
    for (config, place) in [
        ("model = \"o3\"\nprompt = \"\\q\"\n", "line 2, column 12"),
        ("features = {\n  hooks = true,,\n}\n", "line 2, column 16"),
        ("[tui]\nprompt = \"\\x4\"\n", "line 2, column 14"),
    ] {
        let env = TestEnv::new().file("config.toml", config);
        let before = env.snapshot();
        let out = env.setup(&["--local-only"]).code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains(&format!("config.toml is not valid TOML 1.1 at {place}: ")),
            "{config:?}: {stderr}"
        );
        let line = &place[..place.find(',').unwrap()];
        assert!(
            stderr.contains(&format!("hint: fix {line} of ")),
            "{stderr}"
        );
        assert!(!stderr.contains("Codex"), "{stderr}");
        assert_eq!(env.snapshot(), before, "{config:?}");
    }
}

#[test]
fn crlf_files_keep_their_line_endings_through_setup_and_uninstall() {
    let crlf = COMMENTED_CONFIG.replace('\n', "\r\n");
    let crlf_hooks = THIRD_PARTY_HOOKS.replace('\n', "\r\n");
    let env = TestEnv::new()
        .file("config.toml", &crlf)
        .file("hooks.json", &crlf_hooks);
    env.setup(&["--local-only"]).success();
    let hooks = env.read("hooks.json");
    assert!(hooks.contains("\r\n"), "{hooks:?}");
    assert!(!hooks.replace("\r\n", "").contains('\n'), "{hooks:?}");
    let installed = env.read("config.toml");
    assert!(
        installed.contains("\r\nhooks = true # old name, off\r\n"),
        "{installed:?}"
    );
    assert!(
        !installed.replace("\r\n", "").contains('\n'),
        "{installed:?}"
    );
    env.setup(&["--local-only"]).success();
    assert_eq!(
        env.read("config.toml"),
        installed,
        "a second setup changes nothing"
    );

    // A setting added since makes uninstall write its edit, not the bytes it saved.
    let edited = format!("approval_policy = \"on-request\"\r\n{installed}");
    std::fs::write(env.codex_home.join("config.toml"), &edited).unwrap();
    env.uninstall(&[]).success();
    assert_eq!(
        env.read("config.toml"),
        format!("approval_policy = \"on-request\"\r\n{crlf}")
    );
    assert_eq!(env.read("hooks.json"), crlf_hooks);
}

#[test]
fn uninstall_says_when_it_writes_a_config_back_regrouped() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    env.setup(&["--local-only"]).success();
    // Since setup, the user spread one table's dotted keys over the file.
    let spread = "model_providers.x.name = \"x\"\nmodel_reasoning_effort = \"high\"\nmodel_providers.x.base_url = \"u\"\n";
    let edited = format!("{spread}{}", env.read("config.toml"));
    std::fs::write(env.codex_home.join("config.toml"), edited).unwrap();
    let report = json_of(&env.uninstall(&[]).success());
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("written back with its lines from line 2 on regrouped"),
        "{warnings}"
    );
    let config = env.read("config.toml");
    assert!(
        config.starts_with("model_providers.x.name = \"x\"\nmodel_providers.x.base_url = \"u\"\nmodel_reasoning_effort = \"high\"\n"),
        "{config}"
    );
    assert!(config.ends_with(COMMENTED_CONFIG), "{config}");
}

#[test]
fn edits_made_after_setup_survive_and_stay_trusted() {
    let env = TestEnv::new()
        .file("config.toml", COMMENTED_CONFIG)
        .file("hooks.json", THIRD_PARTY_HOOKS);
    env.setup(&["--local-only"]).success();

    // The user adds a setting and a hook of their own after ours, and trusts it.
    let mut hooks: Value = serde_json::from_str(&env.read("hooks.json")).unwrap();
    let pre = hooks["hooks"]["PreToolUse"].as_array_mut().unwrap();
    assert_eq!(pre.len(), 2, "theirs then ours");
    pre.push(json!({"hooks": [{"type": "command", "command": "my-new-hook"}]}));
    std::fs::write(
        env.codex_home.join("hooks.json"),
        serde_json::to_string_pretty(&hooks).unwrap(),
    )
    .unwrap();
    let hooks_path = env.codex_home.join("hooks.json").display().to_string();
    let config = format!(
        "approval_policy = \"on-request\"\n{}\n[hooks.state.\"{hooks_path}:pre_tool_use:2:0\"]\ntrusted_hash = \"sha256:mine\"\n",
        env.read("config.toml")
    );
    std::fs::write(env.codex_home.join("config.toml"), config).unwrap();

    env.uninstall(&[]).success();
    let config = env.read("config.toml");
    assert!(
        config.starts_with("approval_policy = \"on-request\"\n"),
        "{config}"
    );
    assert!(
        config.contains("codex_hooks = false # old name, off"),
        "{config}"
    );
    assert!(!config.contains("codex-guard"), "{config}");
    // Our group went from index 1, so the user's trust record follows their hook to 1.
    assert!(
        config.contains(&format!(
            "[hooks.state.\"{hooks_path}:pre_tool_use:1:0\"]\ntrusted_hash = \"sha256:mine\""
        )),
        "{config}"
    );
    assert_eq!(config.matches("trusted_hash").count(), 1, "{config}");
    let hooks: Value = serde_json::from_str(&env.read("hooks.json")).unwrap();
    assert_eq!(
        hooks["hooks"]["PreToolUse"],
        json!([
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "other-tool check"}]},
            {"hooks": [{"type": "command", "command": "my-new-hook"}]}
        ])
    );
    assert_eq!(
        hooks["hooks"]["Stop"],
        json!([]),
        "the other tool's empty list stays"
    );
    assert_eq!(hooks["description"], "other-tool");
}

#[test]
fn keep_logs_keeps_only_the_logs() {
    let env = TestEnv::new();
    env.setup(&["--local-only"]).success();
    let logs = env.codex_home.join("codex-guard/logs");
    std::fs::write(logs.join("events.jsonl"), "{\"event\":\"Stop\"}\n").unwrap();
    let report = json_of(&env.uninstall(&["--keep-logs"]).success());
    assert_eq!(report["kept"][0], logs.display().to_string());
    let left: Vec<String> = std::fs::read_dir(env.codex_home.join("codex-guard"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["logs"]);
    assert_eq!(
        std::fs::read_to_string(logs.join("events.jsonl")).unwrap(),
        "{\"event\":\"Stop\"}\n"
    );
    assert!(!env.codex_home.join("hooks.json").exists());
    // A second uninstall has nothing left to do.
    assert_eq!(
        json_of(&env.uninstall(&["--keep-logs"]).success())["status"],
        "unchanged"
    );
}

#[test]
fn inline_hooks_get_ours_inline_and_no_hooks_json() {
    let env = TestEnv::new().file("config.toml", INLINE_CONFIG);
    let report = json_of(&env.setup(&["--local-only", "--json"]).success());
    assert!(!env.codex_home.join("hooks.json").exists(), "{report:#}");
    let config = env.read("config.toml");
    assert_eq!(
        config.matches("[[hooks.PreToolUse]]").count(),
        2,
        "{config}"
    );
    let receipt: Value = serde_json::from_str(&env.read("codex-guard/receipt.json")).unwrap();
    assert_eq!(receipt["hooks_json"]["layout"], "config_toml");
    let key = format!(
        "{}:pre_tool_use:1:0",
        env.codex_home.join("config.toml").display()
    );
    assert!(config.contains(&key), "no trust record {key}: {config}");
    // Both files: ours go to hooks.json, and setup says why Codex warns.
    let env = TestEnv::new()
        .file("config.toml", INLINE_CONFIG)
        .file("hooks.json", THIRD_PARTY_HOOKS);
    let report = json_of(&env.setup(&["--local-only", "--json"]).success());
    assert!(report["notes"].to_string().contains("both"), "{report:#}");
    assert!(env.read("hooks.json").contains("codex-guard-hook"));
    assert_eq!(
        env.read("config.toml")
            .matches("[[hooks.PreToolUse]]")
            .count(),
        1
    );
}

#[test]
fn without_a_receipt_our_inline_handlers_and_their_records_go() {
    let env = TestEnv::new().file("config.toml", INLINE_CONFIG);
    env.setup(&["--local-only"]).success();
    std::fs::remove_file(env.codex_home.join("codex-guard/receipt.json")).unwrap();
    json_of(&env.uninstall(&[]).success());
    let config = env.read("config.toml");
    assert!(!config.contains("codex-guard-hook"), "{config}");
    assert_eq!(
        config.matches("trusted_hash").count(),
        1,
        "only the user's: {config}"
    );
    assert!(
        config.starts_with(&INLINE_CONFIG[..INLINE_CONFIG.find("[tui]").unwrap()]),
        "{config}"
    );
}

#[test]
fn without_a_receipt_only_provable_entries_go() {
    let env = TestEnv::new()
        .file("config.toml", COMMENTED_CONFIG)
        .file("hooks.json", THIRD_PARTY_HOOKS);
    env.setup(&["--local-only"]).success();
    std::fs::remove_file(env.codex_home.join("codex-guard/receipt.json")).unwrap();
    let report = json_of(&env.uninstall(&[]).success());
    assert_eq!(report["receipt"], false);
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("provably"), "{warnings}");
    let config = env.read("config.toml");
    assert!(
        !config.contains("trusted_hash"),
        "our trust records are provably ours: {config}"
    );
    assert!(
        config.contains("hooks = true"),
        "the flag cannot be proven ours: {config}"
    );
    let hooks: Value = serde_json::from_str(&env.read("hooks.json")).unwrap();
    let user: Value = serde_json::from_str(THIRD_PARTY_HOOKS).unwrap();
    assert_eq!(hooks["hooks"]["PreToolUse"], user["hooks"]["PreToolUse"]);
    assert_eq!(hooks["description"], user["description"]);
    assert!(!env.read("hooks.json").contains("codex-guard-hook"));
    assert!(!env.codex_home.join("codex-guard").exists());
}

#[test]
fn uninstall_dry_run_and_bad_input_change_nothing() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    env.setup(&["--local-only"]).success();
    let before = env.snapshot();
    let out = env.run("uninstall", &["--dry-run", "--silent"]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("+codex_hooks = false # old name, off"),
        "{stdout}"
    );
    assert!(stdout.contains("removed: "), "{stdout}");
    assert_eq!(env.snapshot(), before);

    std::fs::write(env.codex_home.join("config.toml"), "[features\n").unwrap();
    let before = env.snapshot();
    let out = env.uninstall(&[]).code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("line 1"));
    assert_eq!(env.snapshot(), before);
}

#[test]
fn an_uninstall_killed_after_renaming_our_directory_is_finished_by_the_next() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    env.setup(&["--local-only"]).success();
    env.uninstall(&[]).success();
    // What a kill between the rename and the end of the delete leaves.
    let renamed = env.codex_home.join(".codex-guard.removing-4242");
    std::fs::create_dir_all(renamed.join("logs")).unwrap();
    std::fs::write(renamed.join("logs/events.jsonl"), "{}\n").unwrap();
    let report = json_of(&env.uninstall(&[]).success());
    assert_eq!(report["status"], "removed", "{report}");
    assert_eq!(report["changes"][0]["path"], renamed.display().to_string());
    assert!(!renamed.exists());
    assert_eq!(env.read("config.toml"), COMMENTED_CONFIG);
}

#[test]
fn uninstall_of_nothing_is_a_no_op() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    let before = env.snapshot();
    assert_eq!(
        json_of(&env.uninstall(&[]).success())["status"],
        "unchanged"
    );
    assert_eq!(env.snapshot(), before);
}

#[test]
fn backup_list_and_restore_round_trip() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    env.setup(&["--local-only"]).success();
    let installed = env.snapshot_without_backups();
    let out = env.run("backup", &["--json"]).success();
    let path = json_of(&out)["backup"].as_str().unwrap().to_string();
    assert!(path.contains("/codex-guard/backups/"), "{path}");

    let listing = json_of(&env.run("backup", &["--list", "--json"]).success());
    let reasons: Vec<&str> = listing["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["backup", "setup"], "newest first");

    // Nothing changed since: restore has nothing to do.
    assert_eq!(
        json_of(&env.run("restore", &[&path, "--json"]).success())["status"],
        "unchanged"
    );

    // A file changed since the backup is not overwritten without --force.
    std::fs::write(env.codex_home.join("config.toml"), "model = \"changed\"\n").unwrap();
    let before = env.snapshot();
    let out = env.run("restore", &[&path, "--yes"]).code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("config.toml") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(env.snapshot(), before);

    let report = json_of(&env.run("restore", &[&path, "--force", "--json"]).success());
    assert_eq!(report["status"], "restored");
    let safety = report["backup"].as_str().unwrap();
    assert!(std::path::Path::new(safety).is_file());
    assert_eq!(env.snapshot_without_backups(), installed);
}

#[test]
fn restoring_the_setup_backup_undoes_setup() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    env.setup(&["--local-only"]).success();
    let report = json_of(&env.run("restore", &["--latest", "--json"]).success());
    assert_eq!(report["status"], "restored");
    assert_eq!(env.read("config.toml"), COMMENTED_CONFIG);
    assert!(!env.codex_home.join("hooks.json").exists());
    assert!(!env.codex_home.join("codex-guard/receipt.json").exists());
}

#[test]
fn restore_after_uninstall_brings_the_install_back() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    env.setup(&["--local-only"]).success();
    let installed = env.snapshot_without_backups();
    let report = json_of(&env.uninstall(&[]).success());
    let backup = report["backup"].as_str().unwrap().to_string();
    json_of(&env.run("restore", &[&backup, "--json"]).success());
    assert_eq!(env.snapshot_without_backups(), installed);
}

#[test]
fn backups_rotate() {
    let env = TestEnv::new();
    env.setup(&["--local-only"]).success();
    let config = env
        .read("codex-guard/config.toml")
        .replace("backups_keep = 10", "backups_keep = 2");
    std::fs::write(env.codex_home.join("codex-guard/config.toml"), config).unwrap();
    for _ in 0..4 {
        env.run("backup", &["--json"]).success();
    }
    let listing = json_of(&env.run("backup", &["--list", "--json"]).success());
    assert_eq!(listing["backups"].as_array().unwrap().len(), 2);
}

#[test]
fn a_tampered_or_foreign_archive_is_refused() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    let bogus = env.root.join("bogus.tar.gz");
    std::fs::write(&bogus, b"not an archive").unwrap();
    let before = env.snapshot();
    env.run("restore", &[bogus.to_str().unwrap(), "--force"])
        .code(2);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn restore_gives_back_an_earlier_versions_rules_that_setup_replaced() {
    let before_packs = include_str!("../data/rules-before-packs.toml");
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    let pristine = env.snapshot();
    env.setup(&["--local-only"]).success();
    // An install an earlier version made, its rules never changed.
    std::fs::write(env.codex_home.join("codex-guard/rules.toml"), before_packs).unwrap();
    let earlier = env.snapshot_without_backups();
    let report = json_of(&env.setup(&["--local-only", "--json"]).success());
    let backup = report["backup"].as_str().unwrap().to_string();
    assert_eq!(
        env.read("codex-guard/rules.toml"),
        include_str!("../../../templates/rules.toml")
    );
    let upgraded = env.snapshot_without_backups();

    // The backup setup made gives the old rules back, byte for byte.
    json_of(&env.run("restore", &[&backup, "--json"]).success());
    assert_eq!(env.snapshot_without_backups(), earlier);
    assert_eq!(env.read("codex-guard/rules.toml"), before_packs);

    // Uninstall removes the install, upgraded or not, to the byte.
    env.setup(&["--local-only"]).success();
    assert_eq!(env.snapshot_without_backups(), upgraded);
    let report = json_of(&env.uninstall(&[]).success());
    assert_eq!(report["status"], "removed");
    assert_eq!(env.snapshot(), pristine);
}

/// Lays out a Codex home as codex-guard 0.1.0 left it after `setup --local-only`
/// (recorded from that release's binaries, with the home's path as `@CODEX_HOME@`), and
/// returns what the home held before that setup.
fn home_installed_by_0_1_0(env: &TestEnv, case: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/receipts/0.1.0")
        .join(case);
    let home = env.codex_home.display().to_string();
    let copy = |from: &Path, to: &Path| {
        crate::common::files_below(from)
            .into_iter()
            .map(|(path, bytes)| {
                let text = String::from_utf8(bytes).unwrap();
                let target = to.join(path.strip_prefix(from).unwrap());
                (target, text.replace("@CODEX_HOME@", &home).into_bytes())
            })
            .collect::<Vec<_>>()
    };
    for (path, bytes) in copy(&fixture.join("installed"), &env.codex_home) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    // The runtime setup copied in (its bytes do not matter to uninstall).
    env.write("codex-guard/bin/codex-guard-hook", "#!/bin/sh\nexit 0\n");
    copy(&fixture.join("before"), &env.codex_home)
}

#[test]
fn a_home_installed_by_the_previous_release_uninstalls_byte_for_byte() {
    for case in ["hooks-json", "inline-config"] {
        let env = TestEnv::new();
        let before = home_installed_by_0_1_0(&env, case);
        assert_ne!(
            env.snapshot(),
            before,
            "{case}: the fixture installs something"
        );
        env.uninstall(&[]).success();
        assert_eq!(
            env.snapshot()
                .into_iter()
                .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
                .collect::<Vec<_>>(),
            before
                .into_iter()
                .map(|(p, b)| (p, String::from_utf8_lossy(&b).into_owned()))
                .collect::<Vec<_>>(),
            "{case}"
        );
    }
}

/// The part of the diff `restore --dry-run` prints for config.toml, its temporary
/// paths and trust hashes replaced by markers.
fn config_diff(env: &TestEnv, out: &assert_cmd::assert::Assert) -> String {
    let stdout = env.normalize(&String::from_utf8_lossy(&out.get_output().stdout));
    let stdout = crate::common::normalize_report(env, &stdout);
    let mut kept = String::new();
    let mut keep = false;
    for line in stdout.split_inclusive('\n') {
        if line.starts_with("--- ") {
            keep = line == "--- a/[CODEX_HOME]/config.toml\n";
        }
        if keep {
            kept.push_str(line);
        }
    }
    kept
}

#[test]
fn restore_dry_run_shows_the_diff_from_the_files_to_the_backup_and_changes_nothing() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    env.setup(&["--local-only"]).success();
    let before = env.snapshot();
    let out = env.run("restore", &["--latest", "--dry-run"]).success();
    assert_eq!(env.snapshot(), before, "a dry run writes nothing");
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // The runtime is shown by hash, never as text.
    assert!(
        stdout.contains("/codex-guard/bin/codex-guard-hook\n+++ /dev/null\n binary: sha256 "),
        "{stdout}"
    );
    insta::assert_snapshot!(config_diff(&env, &out));
    let stderr =
        crate::common::normalize_report(&env, &String::from_utf8_lossy(&out.get_output().stderr));
    assert!(
        stderr.contains("  would replace  [CODEX_HOME]/config.toml\n")
            && stderr.contains("  would remove   [CODEX_HOME]/hooks.json\n")
            && stderr.contains("dry run (the diff above); nothing was changed"),
        "{stderr}"
    );

    // The JSON answer carries the same diff.
    let report = json_of(
        &env.run("restore", &["--latest", "--dry-run", "--json"])
            .success(),
    );
    assert_eq!(report["status"], "planned");
    assert_eq!(report["diff"].as_str().unwrap(), stdout);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn a_refused_restore_names_dry_run_which_shows_what_force_would_overwrite() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    env.setup(&["--local-only"]).success();
    std::fs::write(env.codex_home.join("config.toml"), "model = \"changed\"\n").unwrap();
    let before = env.snapshot();

    let out = env.run("restore", &["--latest", "--yes"]).code(1);
    let stderr =
        crate::common::normalize_report(&env, &String::from_utf8_lossy(&out.get_output().stderr));
    assert!(
        stderr.contains("hint: see what differs with `codex-guard restore --dry-run '[CODEX_HOME]/codex-guard/backups/[TIME]-setup.tar.gz'`"),
        "{stderr}"
    );

    // The dry run refuses too (exit 1), after showing the edit --force would lose.
    let out = env.run("restore", &["--latest", "--dry-run"]).code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("\n-model = \"changed\"\n"), "{stdout}");
    assert!(
        stdout.contains("\n+# Personal Codex settings\n"),
        "{stdout}"
    );
    let stderr =
        crate::common::normalize_report(&env, &String::from_utf8_lossy(&out.get_output().stderr));
    insta::assert_snapshot!(stderr);
    let report = json_of(
        &env.run("restore", &["--latest", "--dry-run", "--json"])
            .code(1),
    );
    assert_eq!(report["status"], "refused");
    assert_eq!(report["diff"].as_str().unwrap(), stdout);
    assert_eq!(env.snapshot(), before, "nothing was written");
}

/// A package layout in the test's directory: a copy of codex-guard with a
/// codex-guard-hook beside it, as the OS packages install them. Returns the copy.
fn package(env: &TestEnv) -> PathBuf {
    let dir = env.root.join("package");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("codex-guard");
    std::fs::copy(assert_cmd::cargo::cargo_bin("codex-guard"), &exe).unwrap();
    std::fs::write(dir.join("codex-guard-hook"), PACKAGED_HOOK).unwrap();
    std::fs::set_permissions(
        dir.join("codex-guard-hook"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    exe
}

const PACKAGED_HOOK: &[u8] = b"#!/bin/sh\n# the packaged hook runtime\nexit 0\n";

/// Setup and uninstall by the packaged codex-guard (its runtime by default); returns
/// the installed files and the uninstall's safety backup.
fn install_and_uninstall(env: &TestEnv, exe: &Path) -> (Vec<(PathBuf, Vec<u8>)>, String) {
    env.cmd_as(exe)
        .args(["setup", "--codex-home"])
        .arg(&env.codex_home)
        .args(["--local-only", "--silent"])
        .assert()
        .success();
    let installed = env.snapshot_without_backups();
    let out = env
        .cmd_as(exe)
        .args(env.uninstall_args())
        .assert()
        .success();
    let backup = json_of(&out)["backup"].as_str().unwrap().to_string();
    (installed, backup)
}

/// The files of a tar.gz, by name.
fn unpack(path: &str) -> Vec<(String, Vec<u8>, u32)> {
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = entry.header().mode().unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            (name, bytes, mode)
        })
        .collect()
}

fn repack(path: &str, files: &[(String, Vec<u8>, u32)]) {
    let mut out = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        for (name, bytes, mode) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(*mode);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    std::fs::write(path, out).unwrap();
}

const HOOK_NAME: &str = "codex-guard/bin/codex-guard-hook";

fn hook_record(manifest: &Value) -> &Value {
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == HOOK_NAME)
        .expect("the runtime is listed")
}

#[test]
fn uninstall_records_the_packaged_runtime_by_hash_and_restore_copies_it_back() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    let exe = package(&env);
    let (installed, backup) = install_and_uninstall(&env, &exe);

    let files = unpack(&backup);
    assert!(
        files.iter().all(|(name, _, _)| name != HOOK_NAME),
        "not stored"
    );
    let manifest: Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(manifest["format"], 2);
    assert_eq!(
        hook_record(&manifest),
        &json!({
            "name": HOOK_NAME,
            "path": env.codex_home.join(HOOK_NAME),
            "after_sha256": null,
            "sha256": codex_guard::fsutil::sha256_hex(PACKAGED_HOOK),
            "size": PACKAGED_HOOK.len(),
            "mode": 0o755,
            "stored": "reference",
            "reinstall": {
                "program": "codex-guard-hook",
                "version": env!("CARGO_PKG_VERSION"),
                "packaged": exe.with_file_name("codex-guard-hook"),
            },
        })
    );

    let out = env
        .cmd_as(&exe)
        .args(["restore", &backup, "--yes", "--codex-home"])
        .arg(&env.codex_home)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "  did create   {} (copied from {}, identical to the one backed up)\n",
            env.codex_home.join(HOOK_NAME).display(),
            exe.with_file_name("codex-guard-hook").display()
        )),
        "{stderr}"
    );
    assert_eq!(env.snapshot_without_backups(), installed);
}

#[test]
fn a_runtime_recorded_by_hash_that_the_package_no_longer_holds_is_named_for_reinstall() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    let exe = package(&env);
    let (installed, backup) = install_and_uninstall(&env, &exe);
    // The package was upgraded since: its runtime is another build.
    std::fs::write(
        exe.with_file_name("codex-guard-hook"),
        b"#!/bin/sh\n# a newer build\nexit 0\n",
    )
    .unwrap();
    let hash = codex_guard::fsutil::sha256_hex(PACKAGED_HOOK);

    let out = env
        .cmd_as(&exe)
        .args(["restore", &backup, "--json", "--codex-home"])
        .arg(&env.codex_home)
        .assert()
        .code(1);
    let report = json_of(&out);
    assert_eq!(report["status"], "incomplete");
    assert_eq!(report["changed"], true);
    let hint = format!(
        "reinstall codex-guard-hook {v} (sha256 {hash}): install codex-guard {v} and run `codex-guard setup`",
        v = env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        report["missing"],
        json!([{"path": env.codex_home.join(HOOK_NAME), "program": "codex-guard-hook",
            "version": env!("CARGO_PKG_VERSION"), "sha256": hash, "size": PACKAGED_HOOK.len(),
            "hint": hint}])
    );
    // Everything else is back; the runtime is left for the reinstall.
    let without_hook = |files: Vec<(PathBuf, Vec<u8>)>| -> Vec<(PathBuf, Vec<u8>)> {
        files
            .into_iter()
            .filter(|(p, _)| !p.ends_with(HOOK_NAME))
            .collect()
    };
    assert_eq!(
        without_hook(env.snapshot_without_backups()),
        without_hook(installed)
    );
    assert!(!env.codex_home.join(HOOK_NAME).exists());

    // Said the same way to a person, and again on a second try.
    let out = env
        .cmd_as(&exe)
        .args(["restore", &backup, "--yes", "--codex-home"])
        .arg(&env.codex_home)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "  cannot restore {}: the backup recorded it by its hash and no identical copy is installed\nhint: {hint}\n",
            env.codex_home.join(HOOK_NAME).display()
        )),
        "{stderr}"
    );
}

#[test]
fn an_older_backup_with_the_runtime_inside_still_restores_it() {
    let env = TestEnv::new().file("config.toml", COMMENTED_CONFIG);
    let exe = package(&env);
    let (installed, backup) = install_and_uninstall(&env, &exe);
    // The same backup as codex-guard wrote it before format 2: the runtime inside.
    let mut files = unpack(&backup);
    let mut manifest: Value = serde_json::from_slice(&files[0].1).unwrap();
    manifest["format"] = json!(1);
    for record in manifest["files"].as_array_mut().unwrap() {
        if record["name"] == HOOK_NAME {
            let record = record.as_object_mut().unwrap();
            record.remove("stored");
            record.remove("reinstall");
        }
    }
    files[0].1 = serde_json::to_vec_pretty(&manifest).unwrap();
    files.push((HOOK_NAME.to_string(), PACKAGED_HOOK.to_vec(), 0o755));
    repack(&backup, &files);
    // No copy to take it from: the bytes can only come from the archive.
    std::fs::remove_file(exe.with_file_name("codex-guard-hook")).unwrap();

    let report = json_of(
        &env.cmd_as(&exe)
            .args(["restore", &backup, "--json", "--codex-home"])
            .arg(&env.codex_home)
            .assert()
            .success(),
    );
    assert_eq!(report["status"], "restored");
    assert_eq!(report["missing"], json!([]));
    let hook = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == json!(env.codex_home.join(HOOK_NAME)))
        .expect("the runtime is restored");
    assert_eq!(hook["copied_from"], Value::Null);
    assert_eq!(env.snapshot_without_backups(), installed);
}
