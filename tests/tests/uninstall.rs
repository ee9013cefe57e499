//! Uninstall end to end with the real Codex CLI: after `codex-guard uninstall`, a
//! `codex exec` turn fires none of codex-guard's hooks, the user's own hook still fires,
//! and the user's Codex files are back byte for byte.

use codex_guard_e2e::{guard, run_codex_exec, FakeAkto, FakeModel, TestHome};
use std::fs;

#[test]
fn after_uninstall_only_the_users_hook_fires() {
    let home = TestHome::new();
    let target = home.workdir.join("after-uninstall.txt");
    let model = FakeModel::start(&format!("echo done | tee {}", target.display()));
    home.configure(&model);
    let config_before = fs::read(home.config_toml()).expect("config.toml");
    let hooks_before = fs::read(home.hooks_json()).expect("hooks.json");

    let akto = FakeAkto::start();
    let (output, report) = guard::setup(&home, &akto.url(), &[]);
    output.assert_success();
    assert_eq!(report["status"], "changed", "{output}");

    let codex_home = home.codex_home.display().to_string();
    let backups = home.home.join("uninstall backups").display().to_string();
    let output = guard::run_guard(
        &home,
        &[
            "uninstall",
            "--codex-home",
            &codex_home,
            "--silent",
            "--json",
            "--backup-dir",
            &backups,
        ],
    );
    output.assert_success();
    assert_eq!(
        fs::read(home.config_toml()).expect("config.toml"),
        config_before,
        "config.toml is not byte-identical"
    );
    assert_eq!(
        fs::read(home.hooks_json()).expect("hooks.json"),
        hooks_before,
        "hooks.json is not byte-identical"
    );
    assert!(
        !home.codex_home.join("codex-guard").exists(),
        "codex-guard's directory is left"
    );

    let output = run_codex_exec(&home, "run it once more");
    output.assert_success();
    assert!(target.exists(), "the command did not run: {output}");
    assert_eq!(
        home.user_hook_runs(),
        1,
        "the user's own hook did not fire: {output}"
    );
    // Give a stray hook time to call out, then check nothing of ours ran.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        akto.requests().is_empty(),
        "a codex-guard hook still called Akto: {:?}",
        akto.requests()
    );
    assert!(
        !home.events_log().exists(),
        "a codex-guard hook still ran and logged"
    );
}
