//! The fleet contract: settings from flags, `CODEX_GUARD_*` variables and a fleet
//! file in their documented precedence; exit codes 0/1/2/3; the machine-wide
//! (`--managed`) install against a temp system root holding an admin's
//! requirements.toml; `--all-users` against a fake passwd database, each user's files
//! owned by that user.

use crate::common::{check, json_of, TestEnv};
use serde_json::{json, Value};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const ADMIN_REQUIREMENTS: &str = "\
# Fleet policy: owned by the admin
allowed_approval_policies = [\"on-request\"]

[features]
web_search_request = false # keep this off
";

fn runtime_config(env: &TestEnv) -> toml::Table {
    toml::from_str(&env.read("codex-guard/config.toml")).unwrap()
}

/// A runtime that answers `--version` as the real one does (doctor runs it).
fn versioned_runtime(env: &TestEnv) -> PathBuf {
    let path = env.root.join("codex-guard-hook");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then echo \"codex-guard-hook {}\"; fi\nexit 0\n",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn flags_beat_environment_beat_fleet_file_beat_the_current_install() {
    let env = TestEnv::new();
    let fleet = env.root.join("fleet.toml");
    std::fs::write(
        &fleet,
        "url = \"http://127.0.0.1:9\"\nmode = \"atlas\"\nblocking = false\nfail_closed = true\ntimeout_ms = 2500\nupdates = \"mdm\"\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .env("CODEX_GUARD_URL", "http://127.0.0.1:7")
        .env("AKTO_DATA_INGESTION_URL", "http://127.0.0.1:5")
        .env("CODEX_GUARD_FAIL_CLOSED", "false")
        .args(["setup", "--silent", "--json", "--codex-home"])
        .arg(&env.codex_home)
        .arg("--runtime")
        .arg(&env.runtime)
        .arg("--config")
        .arg(&fleet)
        .args(["--mode", "argus"])
        .assert()
        .code(1); // nothing listens on 127.0.0.1:7: installed, but degraded
    let report = json_of(&out);
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(
        report["url"], "http://127.0.0.1:7",
        "env beats the file and Akto's name"
    );
    assert_eq!(report["mode"], "argus", "the flag beats the file");
    assert_eq!(
        report["blocking"], false,
        "the file fills what flags and env leave open"
    );
    assert_eq!(report["fail_closed"], false, "env beats the file");
    let config = runtime_config(&env);
    assert_eq!(config["timeout_ms"].as_integer(), Some(2500));
    assert_eq!(config["updates"].as_str(), Some("mdm"));

    // Nothing given: the current install's values stay.
    let out = env.setup(&["--json"]).code(1);
    assert_eq!(json_of(&out)["changed"], false);
    assert_eq!(
        runtime_config(&env)["url"].as_str(),
        Some("http://127.0.0.1:7")
    );

    // A new mode from the environment changes only the runtime config and the receipt.
    let out = env
        .cmd()
        .env("CODEX_GUARD_MODE", "atlas")
        .args(["setup", "--silent", "--json", "--codex-home"])
        .arg(&env.codex_home)
        .arg("--runtime")
        .arg(&env.runtime)
        .assert()
        .code(1);
    let report = json_of(&out);
    let changed: Vec<String> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .take(2)
                .collect::<Vec<_>>()
                .join("<")
        })
        .collect();
    assert_eq!(
        changed,
        ["receipt.json<codex-guard", "config.toml<codex-guard"],
        "{report}"
    );
    assert_eq!(runtime_config(&env)["mode"].as_str(), Some("atlas"));
}

#[test]
fn bad_fleet_input_is_exit_2_and_writes_nothing() {
    let env = TestEnv::new().file("config.toml", "model = \"o3\"\n");
    let before = env.snapshot();
    let fleet = env.root.join("fleet.toml");
    std::fs::write(&fleet, "url = \"https://a.example\"\nblockng = true\n").unwrap();
    let out = env
        .setup(&["--config", fleet.to_str().unwrap()])
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8_lossy(&out);
    assert!(
        stderr.contains("blockng") && stderr.contains("line 2"),
        "{stderr}"
    );

    let out = env
        .cmd()
        .env("CODEX_GUARD_BLOCKING", "sometimes")
        .args(["setup", "--silent", "--local-only", "--codex-home"])
        .arg(&env.codex_home)
        .arg("--runtime")
        .arg(&env.runtime)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("CODEX_GUARD_BLOCKING"), "{stderr}");

    let rules = env.root.join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"x\"\naction = \"deny\"\ncommand = \"(\"\n",
    )
    .unwrap();
    env.setup(&["--local-only", "--rules", rules.to_str().unwrap()])
        .code(2);
    assert_eq!(
        env.snapshot(),
        before,
        "bad input must leave every byte as it was"
    );
}

#[test]
fn fleet_rules_replace_the_default_rules() {
    let env = TestEnv::new();
    let rules = env.root.join("fleet-rules.toml");
    let text = "[[rule]]\nid = \"no-prod-db\"\naction = \"deny\"\nevents = [\"PreToolUse\"]\ncommand = \"psql .*prod\"\nmessage = \"no production database\"\n";
    std::fs::write(&rules, text).unwrap();
    let fleet = env.root.join("fleet.toml");
    std::fs::write(&fleet, "local_only = true\nrules = \"fleet-rules.toml\"\n").unwrap();
    env.setup(&["--config", fleet.to_str().unwrap()]).success();
    assert_eq!(env.read("codex-guard/rules.toml"), text);
}

#[test]
fn machine_wide_work_without_root_is_exit_3() {
    // Run as nobody: the real system root must be refused before anything is read or written.
    let guard = assert_cmd::cargo::cargo_bin("codex-guard");
    for args in [
        vec![
            "setup",
            "--managed",
            "--silent",
            "--local-only",
            "--system-root",
            "/",
        ],
        vec![
            "setup",
            "--all-users",
            "--silent",
            "--local-only",
            "--system-root",
            "/",
        ],
        vec!["uninstall", "--managed", "--silent", "--system-root", "/"],
    ] {
        let mut cmd = if is_root() {
            let mut cmd = std::process::Command::new("setpriv");
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&guard);
            cmd
        } else {
            std::process::Command::new(&guard)
        };
        let out = cmd
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", "/nonexistent")
            .current_dir("/")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("needs root"), "{stderr}");
    }
}

fn is_root() -> bool {
    let file = tempfile::tempfile().unwrap();
    file.metadata().unwrap().uid() == 0
}

struct System {
    env: TestEnv,
    root: PathBuf,
    runtime: PathBuf,
}

impl System {
    fn new() -> System {
        let env = TestEnv::new();
        let root = env.root.join("system");
        std::fs::create_dir_all(root.join("etc/codex")).unwrap();
        std::fs::write(root.join("etc/codex/requirements.toml"), ADMIN_REQUIREMENTS).unwrap();
        let runtime = versioned_runtime(&env);
        System { env, root, runtime }
    }

    fn run(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        self.env
            .cmd()
            .args(args)
            .arg("--system-root")
            .arg(&self.root)
            .assert()
    }

    fn setup(&self, extra: &[&str]) -> assert_cmd::assert::Assert {
        self.env
            .cmd()
            .args(["setup", "--managed", "--silent", "--json", "--runtime"])
            .arg(&self.runtime)
            .arg("--system-root")
            .arg(&self.root)
            .args(extra)
            .assert()
    }

    /// `doctor --managed --json` (no Codex CLI to ask), expecting exit `code`.
    fn doctor(&self, code: i32) -> Value {
        json_of(
            &self
                .run(&[
                    "doctor",
                    "--managed",
                    "--json",
                    "--codex-bin",
                    "/nonexistent",
                ])
                .code(code),
        )
    }

    fn requirements(&self) -> String {
        std::fs::read_to_string(self.root.join("etc/codex/requirements.toml")).unwrap()
    }
}

#[test]
fn managed_install_keeps_the_admins_requirements_and_uninstalls_to_the_byte() {
    let sys = System::new();
    let out = sys.setup(&["--local-only", "--managed-only"]).success();
    let report = json_of(&out);
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(report["scope"], "managed");

    let requirements = sys.requirements();
    let doc: toml::Table = toml::from_str(&requirements).unwrap();
    assert_eq!(
        doc["allowed_approval_policies"][0].as_str(),
        Some("on-request")
    );
    assert_eq!(doc["features"]["web_search_request"].as_bool(), Some(false));
    assert_eq!(doc["features"]["hooks"].as_bool(), Some(true));
    assert_eq!(doc["allow_managed_hooks_only"].as_bool(), Some(true));
    let prefix = sys.root.join("usr/local/lib/codex-guard");
    assert_eq!(doc["hooks"]["managed_dir"].as_str(), prefix.to_str());
    let command = format!(
        "'{}' --machine-config '{}'",
        prefix.join("codex-guard-hook").display(),
        sys.root.join("etc/codex-guard/config.toml").display()
    );
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PermissionRequest",
        "PostToolUse",
        "Stop",
    ] {
        let handler = &doc["hooks"][event][0]["hooks"][0];
        assert_eq!(
            handler["command"].as_str(),
            Some(command.as_str()),
            "{event}"
        );
        assert_eq!(handler["type"].as_str(), Some("command"));
        assert_eq!(handler["timeout"].as_integer(), Some(8));
    }
    assert!(requirements.contains("web_search_request = false # keep this off"));
    // Every user's runtime reads the config; only root may change the runtime.
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sys.root.join("etc/codex-guard/config.toml")), 0o644);
    assert_eq!(mode(&prefix.join("codex-guard-hook")), 0o755);

    // Twice: nothing changes.
    let report = json_of(&sys.setup(&[]).success());
    assert_eq!(report["changed"], false, "{report}");
    assert_eq!(report["managed_only"], true, "the install's choice stays");

    let report = sys.doctor(0);
    assert_eq!(report["status"], "healthy", "{report:#}");
    assert_eq!(report["scope"], "managed");

    // Tampering is seen.
    std::fs::write(
        prefix.join("codex-guard-hook"),
        "#!/bin/sh\necho codex-guard-hook 9\n",
    )
    .unwrap();
    let report = sys.doctor(1);
    assert_eq!(
        check(&report, "runtime.checksum")["status"],
        "fail",
        "{report:#}"
    );

    let backups = sys.env.root.join("backups").to_str().unwrap().to_string();
    let report = json_of(
        &sys.run(&[
            "uninstall",
            "--managed",
            "--silent",
            "--json",
            "--backup-dir",
            &backups,
        ])
        .success(),
    );
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(sys.requirements(), ADMIN_REQUIREMENTS);
    assert!(!sys.root.join("etc/codex-guard").exists());
    assert!(
        !sys.root.join("usr").exists(),
        "directories setup created are removed"
    );
}

#[test]
fn managed_uninstall_keeps_what_the_admin_added_since() {
    let sys = System::new();
    sys.setup(&["--local-only"]).success();
    let mut edited = sys.requirements();
    edited.push_str("\n[[hooks.Stop]]\n\n[[hooks.Stop.hooks]]\ntype = \"command\"\ncommand = \"/opt/audit stop\"\n");
    std::fs::write(sys.root.join("etc/codex/requirements.toml"), &edited).unwrap();
    sys.run(&["uninstall", "--managed", "--silent", "--json"])
        .success();
    let after = sys.requirements();
    let doc: toml::Table = toml::from_str(&after).unwrap();
    assert_eq!(doc["hooks"]["Stop"].as_array().unwrap().len(), 1, "{after}");
    assert_eq!(
        doc["hooks"]["Stop"][0]["hooks"][0]["command"].as_str(),
        Some("/opt/audit stop")
    );
    assert!(doc["hooks"].get("PreToolUse").is_none(), "{after}");
    assert!(doc["hooks"].get("managed_dir").is_none(), "{after}");
    assert!(doc["features"].get("hooks").is_none(), "{after}");
    assert!(after.starts_with(ADMIN_REQUIREMENTS), "{after}");
}

#[test]
fn managed_install_refuses_what_it_cannot_edit_safely() {
    let sys = System::new();
    let path = sys.root.join("etc/codex/requirements.toml");
    for (text, needle) in [
        ("[hooks]\nmanaged_dir = \"/opt/vendor\"\n", "/opt/vendor"),
        ("allowed_approval_policies = [\n", "line"),
    ] {
        std::fs::write(&path, text).unwrap();
        let out = sys.setup(&["--local-only"]).code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(stderr.contains(needle), "{stderr}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        assert!(!sys.root.join("usr").exists());
        assert!(!sys.root.join("etc/codex-guard/config.toml").exists());
    }
}

/// A system root with a passwd database and homes owned by their users.
fn users_root(env: &TestEnv) -> PathBuf {
    let root = env.root.join("system");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nbob:x:1001:1001::/home/bob:/bin/zsh\ncarol:x:1002:1002::/home/carol:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    for (user, uid, codex) in [
        ("alice", 1000, true),
        ("bob", 1001, false),
        ("carol", 1002, true),
    ] {
        let home = root.join("home").join(user);
        std::fs::create_dir_all(&home).unwrap();
        if codex {
            std::fs::create_dir_all(home.join(".codex")).unwrap();
            std::os::unix::fs::chown(home.join(".codex"), Some(uid), Some(uid)).unwrap();
        }
        std::os::unix::fs::chown(&home, Some(uid), Some(uid)).unwrap();
    }
    std::fs::write(
        root.join("home/alice/.codex/config.toml"),
        "model = \"o3\"\n",
    )
    .unwrap();
    std::os::unix::fs::chown(
        root.join("home/alice/.codex/config.toml"),
        Some(1000),
        Some(1000),
    )
    .unwrap();
    // Carol's config is broken: her install fails, the others go on.
    std::fs::write(root.join("home/carol/.codex/config.toml"), "model = [\n").unwrap();
    // Users must be able to reach their homes and the runtime being installed.
    for dir in [&env.root, &root, &root.join("home")] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&env.runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
    root
}

fn user_result<'a>(report: &'a Value, user: &str) -> &'a Value {
    report["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == user)
        .unwrap_or_else(|| panic!("{user} missing: {report:#}"))
}

/// Every path below `dir` (and `dir`) with its owner uid.
fn owners(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mut out = vec![(
        dir.to_path_buf(),
        std::fs::symlink_metadata(dir).unwrap().uid(),
    )];
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap() {
            out.extend(owners(&entry.unwrap().path()));
        }
    }
    out
}

#[test]
fn all_users_installs_as_each_user_and_one_broken_home_stops_nobody() {
    let env = TestEnv::new();
    let root = users_root(&env);
    let setup = |extra: &[&str]| {
        env.cmd()
            .args([
                "setup",
                "--all-users",
                "--silent",
                "--json",
                "--local-only",
                "--runtime",
            ])
            .arg(&env.runtime)
            .arg("--system-root")
            .arg(&root)
            .args(extra)
            .assert()
    };
    if !is_root() {
        setup(&[]).code(3);
        return;
    }
    let report = json_of(&setup(&[]).code(1));
    assert_eq!(report["changed"], true, "{report:#}");
    assert_eq!(user_result(&report, "alice")["status"], "changed");
    assert_eq!(user_result(&report, "bob")["status"], "skipped");
    let carol = user_result(&report, "carol");
    assert_eq!(carol["status"], "failed", "{report:#}");
    assert_eq!(carol["exit_code"], 2);
    assert!(
        carol["reason"].as_str().unwrap().contains("config.toml"),
        "{carol}"
    );
    assert_eq!(
        report["users"].as_array().unwrap().len(),
        3,
        "system accounts and nobody are left out"
    );

    let alice = root.join("home/alice/.codex");
    for (path, uid) in owners(&alice) {
        assert_eq!(uid, 1000, "{} is not alice's", path.display());
    }
    assert!(alice.join("codex-guard/bin/codex-guard-hook").is_file());
    assert!(std::fs::read_to_string(alice.join("config.toml"))
        .unwrap()
        .contains("trusted_hash"));
    assert_eq!(
        std::fs::read_to_string(root.join("home/carol/.codex/config.toml")).unwrap(),
        "model = [\n"
    );

    // Bob has never run Codex: only on request, and then his new ~/.codex is his.
    let report = json_of(&setup(&["--include-users-without-codex"]).code(1));
    assert_eq!(user_result(&report, "alice")["status"], "unchanged");
    assert_eq!(user_result(&report, "bob")["status"], "changed");
    for (path, uid) in owners(&root.join("home/bob/.codex")) {
        assert_eq!(uid, 1001, "{} is not bob's", path.display());
    }

    let out = env
        .cmd()
        .args([
            "uninstall",
            "--all-users",
            "--silent",
            "--json",
            "--system-root",
        ])
        .arg(&root)
        .arg("--backup-dir")
        .arg(env.root.join("uninstall-backups"))
        .assert()
        .success();
    let report = json_of(&out);
    assert_eq!(
        user_result(&report, "alice")["status"],
        "removed",
        "{report:#}"
    );
    assert_eq!(user_result(&report, "carol")["status"], "skipped");
    assert_eq!(
        std::fs::read_to_string(alice.join("config.toml")).unwrap(),
        "model = \"o3\"\n"
    );
    assert!(!alice.join("codex-guard").exists());
    let backups = env.root.join("uninstall-backups/alice");
    let archives: Vec<_> = std::fs::read_dir(&backups).unwrap().collect();
    assert_eq!(
        archives.len(),
        1,
        "alice's safety backup goes to her own directory"
    );
    assert_eq!(std::fs::metadata(&backups).unwrap().uid(), 1000);
}

#[test]
fn managed_token_is_readable_by_every_users_runtime() {
    let sys = System::new();
    let token = sys.root.join("etc/codex-guard/token");
    std::fs::create_dir_all(token.parent().unwrap()).unwrap();
    std::fs::write(&token, "old\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    sys.setup(&["--url", "http://127.0.0.1:9", "--token", "fleet-secret"])
        .code(1); // nothing listens on port 9: installed, but degraded
    assert_eq!(std::fs::read_to_string(&token).unwrap(), "fleet-secret\n");
    let mode = std::fs::metadata(&token).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "users' runtimes must read the token");

    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let report = sys.doctor(1);
    let config = check(&report, "config.valid");
    assert_eq!(config["status"], "fail", "{report:#}");
    assert!(
        config["fix"].as_str().unwrap().starts_with("chmod 644"),
        "{config}"
    );
}

#[test]
fn managed_doctor_names_a_machine_startup_file_that_sets_bash_env() {
    let sys = System::new();
    sys.setup(&["--local-only"]).success();
    let report = sys.doctor(0);
    assert_eq!(check(&report, "shell.startup_env")["status"], "pass");
    let file = sys.root.join("etc/profile.d/hooks-off.sh");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "# site settings\nexport BASH_ENV=/etc/stop-hooks\n").unwrap();
    let report = sys.doctor(0);
    let startup = check(&report, "shell.startup_env");
    assert_eq!(startup["status"], "warn", "{report:#}");
    let message = startup["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "{}:2 sets BASH_ENV=/etc/stop-hooks",
            file.display()
        )),
        "{message}"
    );
}

#[test]
fn managed_setup_brings_unchanged_admin_rules_up_to_date_and_doctor_reads_their_packs() {
    let before_packs = include_str!("../data/rules-before-packs.toml");
    let template = include_str!("../../../templates/rules.toml");
    let sys = System::new();
    sys.setup(&["--local-only"]).success();
    let admin_rules = sys.root.join("etc/codex-guard/rules.toml");
    assert_eq!(std::fs::read_to_string(&admin_rules).unwrap(), template);
    let report = sys.doctor(0);
    assert_eq!(
        check(&report, "rules.packs")["message"],
        "packs: filesystem deny, disks deny, download deny, credentials deny, \
         guard-tamper deny, git-history deny, git-work-loss warn"
    );
    assert_eq!(check(&report, "rules.tamper")["status"], "pass");

    // The admin rules an earlier version installed, never changed: replaced.
    std::fs::write(&admin_rules, before_packs).unwrap();
    let report = json_of(&sys.setup(&["--local-only"]).success());
    assert_eq!(report["notes"], json!([]));
    assert_eq!(std::fs::read_to_string(&admin_rules).unwrap(), template);

    // Changed by the admin: kept, with a note.
    let changed = format!("[packs]\nguard-tamper = \"off\"\n\n{before_packs}");
    std::fs::write(&admin_rules, &changed).unwrap();
    let report = json_of(&sys.setup(&["--local-only"]).success());
    // Only the receipt changes: it records the hash of the rules kept.
    assert_eq!(
        report["changes"],
        json!([{"path": sys.root.join("etc/codex-guard/managed-receipt.json"), "action": "updated"}]),
        "{report}"
    );
    let note = report["notes"][0].as_str().unwrap();
    assert!(
        note.starts_with(&format!(
            "{} is kept as you changed it; the rule packs now apply on top of it",
            admin_rules.display()
        )),
        "{note}"
    );
    assert_eq!(std::fs::read_to_string(&admin_rules).unwrap(), changed);
    // Doctor reads the admin file as the admin layer.
    let report = sys.doctor(0);
    let tamper = check(&report, "rules.tamper");
    assert_eq!(tamper["status"], "warn", "{report:#}");
    assert_eq!(
        tamper["fix"],
        format!(
            "set guard-tamper = \"deny\" in [packs] of {} (docs/rules.md), then run codex-guard doctor again",
            admin_rules.display()
        )
    );
    assert_eq!(
        check(&report, "rules.packs")["packs"]["guard-tamper"],
        "off"
    );
}

#[test]
fn managed_doctor_runs_the_machine_checks_and_says_in_one_line_when_nothing_is_installed() {
    let sys = System::new();
    let out = sys
        .run(&["doctor", "--managed", "--codex-bin", "/nonexistent"])
        .code(1);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("unprotected: nothing installed machine-wide under "),
        "{stdout}"
    );
    assert!(
        stdout.contains("run `codex-guard setup --managed --url URL (or --local-only)`"),
        "{stdout}"
    );
    let report = sys.doctor(1);
    assert_eq!(report["scope"], "managed");
    assert_eq!(report["installed"], false);
    assert_eq!(report["status"], "unprotected");
    assert_eq!(report["checks"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(check(&report, "managed.receipt")["status"], "fail");

    sys.setup(&["--local-only"]).success();
    let report = sys.doctor(0);
    assert_eq!(report["installed"], true);
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = codex_guard::doctor::CheckId::MACHINE
        .iter()
        .map(|id| id.as_str())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(check(&report, "runtime.binary")["status"], "pass");

    // Without its handlers in requirements.toml, Codex runs nothing of ours.
    std::fs::write(
        sys.root.join("etc/codex/requirements.toml"),
        ADMIN_REQUIREMENTS,
    )
    .unwrap();
    let report = sys.doctor(1);
    assert_eq!(report["status"], "unprotected", "{report:#}");
    assert_eq!(check(&report, "managed.requirements")["status"], "fail");
}
