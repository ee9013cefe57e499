//! `codex-guard setup` run as a real process in a temporary home: exact bytes of
//! the edited files, idempotence, refusal of bad input, dry runs.

use crate::common::{json_of, tar_listing, TestEnv};
use assert_cmd::Command;
use codex_guard_common::events::Event;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The rules setup installs.
const TEMPLATE: &str = include_str!("../../../templates/rules.toml");
/// The rules an earlier version shipped (the last one before the rule packs).
const BEFORE_PACKS: &str = include_str!("../data/rules-before-packs.toml");

const USER_CONFIG: &str = "\
# Personal Codex settings
model = \"gpt-5.4\"   # keep this one

# features I turned on by hand
[features]
codex_hooks = true # old name

[profiles.work]
model = \"o3\"
";

const USER_HOOKS: &str = r#"{
    "hooks": {
        "PreToolUse": [
            {"matcher": "Bash", "hooks": [{"type": "command", "command": "my-audit --pre", "timeout": 5}]}
        ],
        "Notification": [{"hooks": [{"type": "command", "command": "notify-send codex"}]}]
    }
}
"#;

#[test]
fn setup_keeps_every_user_byte_and_adds_only_ours() {
    let env = TestEnv::new()
        .file("config.toml", USER_CONFIG)
        .file("hooks.json", USER_HOOKS);
    let out = env
        .setup(&["--url", "https://akto.example.com/", "--json"])
        .code(1);
    let report = json_of(&out);
    assert_eq!(report["status"], "changed");
    assert_eq!(report["url"], "https://akto.example.com");
    // The test machine cannot reach akto.example.com: that is a warning, not a failure.
    assert!(report["warnings"][0]
        .as_str()
        .unwrap()
        .contains("unreachable"));

    let config = env.normalize(&env.read("config.toml"));
    let mut expected =
        USER_CONFIG.replace("codex_hooks = true # old name", "hooks = true # old name");
    for (event, group) in [
        ("session_start", 0),
        ("user_prompt_submit", 0),
        ("pre_tool_use", 1),
        ("permission_request", 0),
        ("post_tool_use", 0),
        ("stop", 0),
    ] {
        _ = write!(
expected,
            "\n[hooks.state.\"[CODEX_HOME]/hooks.json:{event}:{group}:0\"]\ntrusted_hash = \"SHA256[HASH]\"\n"
);
    }
    assert_eq!(config, expected);

    let hooks: serde_json::Value = serde_json::from_str(&env.read("hooks.json")).unwrap();
    let user: serde_json::Value = serde_json::from_str(USER_HOOKS).unwrap();
    assert_eq!(
        hooks["hooks"]["PreToolUse"][0],
        user["hooks"]["PreToolUse"][0]
    );
    assert_eq!(
        hooks["hooks"]["Notification"],
        user["hooks"]["Notification"]
    );
    let command = format!(
        "'{}'",
        env.codex_home
            .join("codex-guard/bin/codex-guard-hook")
            .display()
    );
    for event in Event::ALL.map(Event::name) {
        let groups = hooks["hooks"][event].as_array().unwrap();
        let ours = groups.last().unwrap();
        assert_eq!(ours["hooks"][0]["command"], command.as_str(), "{event}");
        assert_eq!(
            ours["hooks"][0]["timeout"], 8,
            "{event}: 5 s deadline + 3 s margin"
        );
    }
    assert!(hooks.get("description").is_none());

    let runtime = std::fs::read(env.codex_home.join("codex-guard/bin/codex-guard-hook")).unwrap();
    assert_eq!(runtime, std::fs::read(&env.runtime).unwrap());
    let runtime_config = env.read("codex-guard/config.toml");
    assert!(
        runtime_config.contains("url = \"https://akto.example.com\""),
        "{runtime_config}"
    );
    assert!(!runtime_config.contains("token_file"), "{runtime_config}");

    // The backup holds the files as they were.
    let backup = PathBuf::from(report["backup"].as_str().unwrap());
    let listing = tar_listing(&backup);
    assert_eq!(listing["config.toml"], USER_CONFIG);
    assert_eq!(listing["hooks.json"], USER_HOOKS);

    let receipt: serde_json::Value =
        serde_json::from_str(&env.read("codex-guard/receipt.json")).unwrap();
    assert_eq!(
        receipt["codex_config"]["codex_hooks_previous"],
        " true # old name"
    );
    assert_eq!(receipt["codex_config"]["features_table_created"], false);
    assert_eq!(receipt["hooks_json"]["created"], false);
    assert_eq!(
        receipt["hooks_json"]["handlers"].as_array().unwrap().len(),
        6
    );
    assert_eq!(
        receipt["codex_config"]["trust"].as_array().unwrap().len(),
        6
    );
}

#[test]
fn a_second_identical_run_writes_nothing() {
    let env = TestEnv::new().file("config.toml", USER_CONFIG);
    let args = [
        "--url",
        "http://127.0.0.1:9",
        "--token",
        "secret-token",
        "--json",
    ];
    env.setup(&args);
    let before = env.snapshot();
    let out = env.setup(&args);
    let report = json_of(&out);
    assert_eq!(report["status"], "unchanged");
    assert_eq!(report["changes"].as_array().unwrap().len(), 0);
    assert!(report["backup"].is_null());
    assert_eq!(env.snapshot(), before, "not one byte changed");

    let human = env.setup(&args[..4]).get_output().stderr.clone();
    assert!(String::from_utf8_lossy(&human).contains("unchanged"));
}

#[test]
fn the_token_is_kept_out_of_configs_and_readable_only_by_the_user() {
    let env = TestEnv::new();
    let token_file = env.root.join("token-in");
    std::fs::write(&token_file, "tok-123\n").unwrap();
    env.setup(&[
        "--url",
        "http://127.0.0.1:9",
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    assert_eq!(env.read("codex-guard/token"), "tok-123\n");
    assert!(!env.read("codex-guard/config.toml").contains("tok-123"));
    assert!(!env.read("codex-guard/receipt.json").contains("tok-123"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.codex_home.join("codex-guard/token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn environment_inputs_work_like_flags() {
    let env = TestEnv::new();
    env.cmd()
        .env("AKTO_DATA_INGESTION_URL", "http://localhost:9/")
        .env("AKTO_API_TOKEN", "env-token")
        .args(["setup", "--silent", "--json", "--runtime"])
        .arg(&env.runtime)
        .env("CODEX_HOME", &env.codex_home)
        .assert()
        .code(1);
    assert!(env
        .read("codex-guard/config.toml")
        .contains("url = \"http://localhost:9\""));
    assert_eq!(env.read("codex-guard/token"), "env-token\n");
}

#[test]
fn machine_id_is_generated_once() {
    let env = TestEnv::new();
    env.setup(&["--local-only"]).success();
    let id = env.read("codex-guard/machine-id");
    assert!(
        id.trim()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "{id}"
    );
    std::fs::write(
        env.codex_home.join("codex-guard/machine-id"),
        "kept-12345678\n",
    )
    .unwrap();
    env.setup(&["--local-only", "--mode", "atlas"]).success();
    assert_eq!(env.read("codex-guard/machine-id"), "kept-12345678\n");
}

#[test]
fn a_machine_moving_from_akto_hooks_keeps_its_device_id() {
    let env = TestEnv::new();
    let hooks = env.codex_home.join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let wrapper = hooks.join("akto-validate-pre-tool-wrapper.sh");
    std::fs::write(
        &wrapper,
        "#!/bin/bash\nexport MODE=\"atlas\"\nexport DEVICE_ID=\"vm-akto-1\"\nexec python3 x.py\n",
    )
    .unwrap();
    let out = env
        .setup(&["--local-only", "--mode", "atlas", "--json"])
        .success();
    let report = json_of(&out);
    assert_eq!(report["device_id"], "vm-akto-1");
    assert_eq!(report["device_id_source"], "akto");
    assert_eq!(env.read("codex-guard/machine-id"), "vm-akto-1\n");
    // Once it is codex-guard's own, it stays (Akto's hooks may be removed meanwhile).
    std::fs::remove_file(&wrapper).unwrap();
    let report = json_of(&env.setup(&["--local-only", "--json"]).success());
    assert_eq!(report["device_id_source"], "kept");
    assert_eq!(env.read("codex-guard/machine-id"), "vm-akto-1\n");
    // Human output says where the id came from.
    std::fs::remove_file(env.codex_home.join("codex-guard/machine-id")).unwrap();
    std::fs::write(&wrapper, "export DEVICE_ID=vm-akto-1\n").unwrap();
    let out = env.setup(&["--local-only"]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("Atlas device id vm-akto-1")
            && stdout.contains(&wrapper.display().to_string()),
        "{stdout}"
    );
}

#[test]
fn a_device_id_given_to_setup_wins_and_a_bad_one_changes_nothing() {
    let env = TestEnv::new();
    env.setup(&["--local-only"]).success();
    let before = env.read("codex-guard/machine-id");
    for bad in ["two words", "x/../y", "$(id)", ""] {
        env.setup(&["--local-only", "--device-id", bad])
            .code(2)
            .stderr(predicates::str::contains("device id"));
        assert_eq!(env.read("codex-guard/machine-id"), before);
    }
    env.setup_with(&[("DEVICE_ID", "not ok!")], &["--local-only"])
        .code(2)
        .stderr(predicates::str::contains("DEVICE_ID"));
    let report = json_of(
        &env.setup(&["--local-only", "--device-id", "fleet-laptop-42", "--json"])
            .success(),
    );
    assert_eq!(report["device_id_source"], "given");
    assert_eq!(env.read("codex-guard/machine-id"), "fleet-laptop-42\n");
    // Akto's own variable names it too, below CODEX_GUARD_DEVICE_ID.
    env.setup_with(
        &[
            ("DEVICE_ID", "akto-name"),
            ("CODEX_GUARD_DEVICE_ID", "guard-name"),
        ],
        &["--local-only"],
    )
    .success();
    assert_eq!(env.read("codex-guard/machine-id"), "guard-name\n");
}

#[test]
fn local_only_installs_rules_and_no_url() {
    let env = TestEnv::new();
    env.setup(&["--local-only"]).success();
    let config = env.read("codex-guard/config.toml");
    assert!(!config.contains("url ="), "{config}");
    assert_eq!(env.read("codex-guard/rules.toml"), TEMPLATE);
    assert_eq!(env.read("config.toml"), env.read("config.toml"));
    assert!(env
        .read("config.toml")
        .starts_with("[features]\nhooks = true\n"));
}

#[test]
fn a_ca_bundle_is_validated_recorded_and_kept() {
    let env = TestEnv::new();
    let ca = env.root.join("corp ca.pem");
    codex_guard_e2e::TestCa::new("corp CA").write_pem(&ca);
    env.setup(&["--local-only", "--ca-cert", ca.to_str().unwrap()])
        .success();
    let config: toml::Value = toml::from_str(&env.read("codex-guard/config.toml")).unwrap();
    let recorded = config["ca_cert"].as_str().unwrap();
    assert_eq!(PathBuf::from(recorded), ca.canonicalize().unwrap());
    // A later run without the flag keeps it.
    env.setup(&["--local-only"]).success();
    assert!(env.read("codex-guard/config.toml").contains(recorded));

    // Not a PEM bundle: exit 2, nothing changes.
    let garbage = env.root.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let before = env.snapshot();
    let out = env
        .setup(&["--local-only", "--ca-cert", garbage.to_str().unwrap()])
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("holds no certificate"), "{stderr}");
    env.setup(&["--local-only", "--ca-cert", "/nonexistent/ca.pem"])
        .code(2);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn invalid_toml_is_refused_naming_the_line_and_nothing_changes() {
    let env = TestEnv::new()
        .file("config.toml", "model = \"x\"\n[features\nhooks = true\n")
        .file("hooks.json", USER_HOOKS);
    let before = env.snapshot();
    let out = env.setup(&["--local-only"]).code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("config.toml is not valid TOML 1.1 at line 2, column 10"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(env.snapshot(), before);
}

#[test]
fn hooks_json_with_extra_keys_or_bad_json_is_refused() {
    for bad in [
        r#"{"$schema": "x", "hooks": {}}"#,
        r#"{"hooks": {"Stop": [1]}}"#,
        "{\"hooks\": {},}",
    ] {
        let env = TestEnv::new()
            .file("config.toml", USER_CONFIG)
            .file("hooks.json", bad);
        let before = env.snapshot();
        let out = env.setup(&["--local-only"]).code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains("hooks.json"), "{stderr}");
        assert_eq!(env.snapshot(), before, "{bad}");
    }
}

#[test]
fn bad_urls_and_missing_values_are_usage_errors() {
    let env = TestEnv::new();
    let out = env.setup(&[]).code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("no Akto ingestion URL"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    env.setup(&["--url", "http://akto.corp"]).code(2);
    env.setup(&["--url", "not a url"]).code(2);
    env.setup(&["--url", "https://a.b", "--local-only"]).code(2);
    assert!(!env.codex_home.join("codex-guard").exists());
}

#[test]
fn dry_run_prints_diffs_and_writes_nothing() {
    let env = TestEnv::new().file("config.toml", USER_CONFIG);
    let before = env.snapshot();
    let out = env.setup(&["--local-only", "--dry-run"]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("-codex_hooks = true # old name\n+hooks = true # old name"),
        "{stdout}"
    );
    assert!(stdout.contains("+++ b/"), "{stdout}");
    assert!(stdout.contains("hooks.json"), "{stdout}");
    assert_eq!(env.snapshot(), before);
    assert!(!env.codex_home.join("codex-guard").exists());
}

#[cfg(unix)]
#[test]
fn a_symlinked_config_is_edited_through_the_link() {
    let env = TestEnv::new();
    let real = env.root.join("dotfiles-config.toml");
    std::fs::write(&real, "model = \"x\"\n").unwrap();
    std::os::unix::fs::symlink(&real, env.codex_home.join("config.toml")).unwrap();
    env.setup(&["--local-only"]).success();
    assert!(
        std::fs::symlink_metadata(env.codex_home.join("config.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::read_to_string(&real)
        .unwrap()
        .contains("hooks = true"));
}

#[test]
fn a_missing_codex_home_is_created_and_recorded() {
    let env = TestEnv::new();
    let fresh = env.root.join("new home").join(".codex");
    // Only the Codex home itself is created, never the home directory above it.
    std::fs::create_dir(env.root.join("new home")).unwrap();
    env.cmd()
        .args(["setup", "--silent", "--local-only", "--codex-home"])
        .arg(&fresh)
        .arg("--runtime")
        .arg(&env.runtime)
        .assert()
        .success();
    let receipt: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fresh.join("codex-guard/receipt.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(receipt["created_dirs"][0], fresh.display().to_string());
    assert_eq!(receipt["hooks_json"]["created"], true);
    assert_eq!(receipt["codex_config"]["created"], true);
}

#[test]
fn a_changed_setting_updates_only_what_differs() {
    let env = TestEnv::new().file("config.toml", USER_CONFIG);
    env.setup(&["--local-only"]).success();
    let hooks_before = env.read("hooks.json");
    let out = env
        .setup(&["--local-only", "--fail-closed", "--json"])
        .success();
    let changed: Vec<String> = json_of(&out)["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect();
    assert!(
        changed
            .iter()
            .any(|p| p.ends_with("codex-guard/config.toml")),
        "{changed:?}"
    );
    assert!(
        !changed.iter().any(|p| p.ends_with("hooks.json")),
        "{changed:?}"
    );
    assert_eq!(env.read("hooks.json"), hooks_before);
    // A new deadline changes the hook timeout, so hooks.json and the trust follow.
    env.setup(&["--timeout-ms", "20000"]).success();
    assert!(env.read("hooks.json").contains("\"timeout\": 23"));
}

#[test]
fn the_runtime_beside_the_installer_is_the_default() {
    let env = TestEnv::new();
    let bin_dir = env.root.join("dist");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let installer = bin_dir.join("codex-guard");
    std::fs::copy(assert_cmd::cargo::cargo_bin("codex-guard"), &installer).unwrap();
    std::fs::write(bin_dir.join("codex-guard-hook"), "runtime-bytes").unwrap();
    Command::new(&installer)
        .env_clear()
        .env("TMPDIR", env.tmpdir())
        .args(["setup", "--silent", "--local-only", "--codex-home"])
        .arg(&env.codex_home)
        .arg("--system-root")
        .arg(env.root.join("system"))
        .assert()
        .success();
    assert_eq!(
        env.read("codex-guard/bin/codex-guard-hook"),
        "runtime-bytes"
    );
    std::fs::remove_file(bin_dir.join("codex-guard-hook")).unwrap();
    let out = Command::new(&installer)
        .env_clear()
        .env("TMPDIR", env.tmpdir())
        .args(["setup", "--silent", "--local-only", "--codex-home"])
        .arg(&env.codex_home)
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--runtime PATH"));
}

#[test]
fn managed_policies_that_disable_the_install_are_warned_about() {
    let env = TestEnv::new();
    let etc = env.root.join("system/etc/codex");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("requirements.toml"),
        "allow_managed_hooks_only = true\n",
    )
    .unwrap();
    let out = env.setup(&["--local-only", "--json"]).code(1);
    let report = json_of(&out);
    assert!(report["warnings"][0]
        .as_str()
        .unwrap()
        .contains("allow_managed_hooks_only"));
}

#[test]
fn help_lists_the_setup_flags() {
    let out = TestEnv::new()
        .cmd()
        .env_remove("CODEX_GUARD_SYSTEM_ROOT")
        .args(["setup", "--help"])
        .assert()
        .success();
    insta::assert_snapshot!(String::from_utf8_lossy(&out.get_output().stdout));
}

#[test]
fn an_unchanged_rules_file_of_an_earlier_version_becomes_the_current_one() {
    let env = TestEnv::new();
    env.setup(&["--local-only"]).success();
    // As an earlier version left it.
    env.write("codex-guard/rules.toml", BEFORE_PACKS);
    let report = json_of(&env.setup(&["--local-only", "--json"]).success());
    assert_eq!(env.read("codex-guard/rules.toml"), TEMPLATE);
    let rules = env.codex_home.join("codex-guard/rules.toml");
    // The receipt already holds the hash of the current template, which setup installed.
    assert_eq!(
        report["changes"],
        serde_json::json!([{"path": rules, "action": "updated"}])
    );
    assert_eq!(report["notes"], serde_json::json!([]));
    let receipt: serde_json::Value =
        serde_json::from_str(&env.read("codex-guard/receipt.json")).unwrap();
    let recorded = receipt["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == rules.display().to_string())
        .unwrap();
    assert_eq!(
        recorded["sha256"],
        codex_guard::fsutil::sha256_hex(TEMPLATE.as_bytes())
    );
}

#[test]
fn a_changed_rules_file_is_kept_and_setup_says_its_old_rules_can_go() {
    let env = TestEnv::new();
    env.setup(&["--local-only"]).success();
    let rules = env.codex_home.join("codex-guard/rules.toml");
    let changed = BEFORE_PACKS.replace("action = \"deny\"", "action = \"warn\"");
    assert_ne!(changed, BEFORE_PACKS);
    env.write("codex-guard/rules.toml", &changed);
    let note = format!(
        "{} is kept as you changed it; the rule packs now apply on top of it, so the old shipped \
         pattern rules in it (rm-rf-root-or-home, pipe-download-to-shell, read-ssh-private-key, \
         read-cloud-credentials, force-push-main, protect-guard-and-startup-files, \
         protect-ssh-and-guard-files, shell-write-protected-files, wipe-disk, \
         chmod-chown-root-or-home) can be removed (docs/rules.md)",
        rules.display()
    );
    let out = env.setup(&["--local-only"]).success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let notes: Vec<&str> = stderr.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(notes, [format!("note: {note}")], "{stderr}");
    assert_eq!(env.read("codex-guard/rules.toml"), changed);
    let report = json_of(&env.setup(&["--local-only", "--json"]).success());
    assert_eq!(report["notes"], serde_json::json!([note]));
    assert_eq!(report["changed"], false);
    assert_eq!(env.read("codex-guard/rules.toml"), changed);

    // A file of the user's own, without the old rules: kept, nothing to say.
    let own = "[[rule]]\nid = \"mine\"\naction = \"deny\"\ncommand = 'x'\n";
    env.write("codex-guard/rules.toml", own);
    let report = json_of(&env.setup(&["--local-only", "--json"]).success());
    assert_eq!(report["notes"], serde_json::json!([]));
    assert_eq!(env.read("codex-guard/rules.toml"), own);
}

#[test]
fn rules_that_only_set_packs_can_be_installed() {
    let env = TestEnv::new();
    let rules = env.root.join("packs.toml");
    let text = "[packs]\ngit-work-loss = \"deny\"\n";
    std::fs::write(&rules, text).unwrap();
    env.setup(&["--local-only", "--rules", rules.to_str().unwrap()])
        .success();
    assert_eq!(env.read("codex-guard/rules.toml"), text);
    // Neither a rule nor a pack: refused, nothing written.
    std::fs::write(&rules, "# nothing\n").unwrap();
    let other = TestEnv::new();
    let before = other.snapshot();
    let out = other
        .setup(&["--local-only", "--rules", rules.to_str().unwrap()])
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("holds no rules and sets no packs"),
        "{stderr}"
    );
    assert_eq!(other.snapshot(), before);
}

fn stderr_of(env: &TestEnv, out: &assert_cmd::assert::Assert) -> String {
    crate::common::normalize_report(env, &String::from_utf8_lossy(&out.get_output().stderr))
}

#[test]
fn a_first_install_lists_its_files_once_claims_no_backup_and_says_what_is_next() {
    let env = TestEnv::new();
    let out = env.setup(&["--local-only"]).success();
    let report = stderr_of(&env, &out);
    // Every file once: nothing existed before, so there was nothing to back up.
    assert_eq!(report.matches("[CODEX_HOME]/hooks.json").count(), 1);
    assert!(!report.contains("backup of"), "{report}");
    insta::assert_snapshot!(report);
}

#[test]
fn a_setup_over_existing_files_names_the_backup_of_those_it_replaced() {
    let env = TestEnv::new()
        .file("config.toml", USER_CONFIG)
        .file("hooks.json", USER_HOOKS);
    let out = env.setup(&["--local-only"]).success();
    let report = stderr_of(&env, &out);
    assert_eq!(report.matches("[CODEX_HOME]/config.toml").count(), 1);
    insta::assert_snapshot!(report);
    // The archive it names holds the files as they were.
    let archive = env.codex_home.join("codex-guard/backups");
    let archives: Vec<_> = std::fs::read_dir(archive).unwrap().collect();
    assert_eq!(archives.len(), 1);
    let listing = tar_listing(&archives[0].as_ref().unwrap().path());
    assert_eq!(listing["config.toml"], USER_CONFIG);
}

#[test]
fn a_home_other_than_the_default_is_named_in_the_next_steps() {
    let env = TestEnv::new();
    let other = env.root.join("work codex");
    let out = env
        .cmd()
        .args(["setup", "--local-only", "--silent", "--codex-home"])
        .arg(&other)
        .arg("--runtime")
        .arg(&env.runtime)
        .assert()
        .success();
    let report = stderr_of(&env, &out);
    let next = &report[report.find("next:").expect("next steps")..];
    insta::assert_snapshot!(next);

    // The same home given as $CODEX_HOME: codex-guard needs no flag, Codex still does
    // (a new shell has no CODEX_HOME).
    let out = env
        .cmd()
        .env("CODEX_HOME", &other)
        .args(["setup", "--local-only", "--silent", "--runtime"])
        .arg(&env.runtime)
        .assert()
        .success();
    let report = stderr_of(&env, &out);
    assert!(
        report.contains("codex-guard doctor\n")
            && report.contains("CODEX_HOME='[ROOT]/work codex' codex"),
        "{report}"
    );
}

#[test]
fn a_dry_run_shows_each_file_once_in_its_diff_and_writes_nothing() {
    let env = TestEnv::new().file("config.toml", USER_CONFIG);
    let before = env.snapshot();
    let out = env.setup(&["--local-only", "--dry-run"]).success();
    assert_eq!(env.snapshot(), before);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let stderr = stderr_of(&env, &out);
    let config = env.codex_home.join("config.toml").display().to_string();
    assert_eq!(stdout.matches(&format!("+++ b/{config}")).count(), 1);
    assert!(!stderr.contains("config.toml"), "{stderr}");
    insta::assert_snapshot!(stderr);
}
