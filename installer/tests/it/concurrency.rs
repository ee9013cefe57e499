//! Concurrency: many codex-guard commands on one Codex home at once end in one
//! consistent state, never a mix of two runs' edits.
#![cfg(unix)]

use crate::common::TestEnv;
use std::process::{Child, Output, Stdio};

const CONFIG: &str = "# mine\nmodel = \"o3\"\n";
const HOOKS: &str = "{\"hooks\": {\"Stop\": [{\"hooks\": [{\"type\": \"command\", \"command\": \"notify-me\"}]}]}}\n";
/// The events setup registers a handler for.
const EVENTS: usize = 6;

fn home() -> TestEnv {
    TestEnv::new()
        .file("config.toml", CONFIG)
        .file("hooks.json", HOOKS)
}

fn args(env: &TestEnv, command: &str) -> Vec<String> {
    match command {
        "setup" => env.setup_args(),
        _ => env.uninstall_args(),
    }
}

/// Starts every command before waiting on any.
fn all_at_once(env: &TestEnv, commands: &[&str]) -> Vec<Output> {
    let children: Vec<Child> = commands
        .iter()
        .map(|c| {
            env.process()
                .args(args(env, c))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn changed(out: &Output) -> bool {
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["changed"].as_bool().unwrap()
}

/// One whole install: each of our handlers once, each with its trust record, the
/// user's hook kept, and a second setup has nothing left to do.
fn assert_installed(env: &TestEnv) {
    let hooks = env.read("hooks.json");
    assert_eq!(hooks.matches("codex-guard-hook").count(), EVENTS, "{hooks}");
    assert_eq!(hooks.matches("notify-me").count(), 1, "{hooks}");
    let config = env.read("config.toml");
    assert!(config.starts_with(CONFIG), "{config}");
    assert_eq!(config.matches("trusted_hash").count(), EVENTS, "{config}");
    assert!(config.contains("hooks = true"), "{config}");
    assert!(!changed(&all_at_once(env, &["setup"])[0]));
}

fn assert_removed(env: &TestEnv) {
    assert_eq!(env.read("config.toml"), CONFIG);
    assert_eq!(env.read("hooks.json"), HOOKS);
    assert!(!env.codex_home.join("codex-guard").exists());
}

#[test]
fn eight_setups_at_once_install_once() {
    let env = home();
    let outs = all_at_once(&env, &["setup"; 8]);
    let changes = outs.iter().filter(|o| changed(o)).count();
    assert_eq!(
        changes, 1,
        "one setup installs, the others find nothing to do"
    );
    assert_installed(&env);
    assert!(changed(&all_at_once(&env, &["uninstall"])[0]));
    assert_removed(&env);
}

#[test]
fn setups_racing_uninstalls_end_installed_or_removed_never_between() {
    // Eight commands, the uninstalls at these places: first, in the middle, last, several.
    let uninstalls: [&[usize]; 4] = [&[0], &[3], &[7], &[1, 3, 5, 7]];
    let mixes = uninstalls.map(|at| {
        (0..8)
            .map(|i| {
                if at.contains(&i) {
                    "uninstall"
                } else {
                    "setup"
                }
            })
            .collect::<Vec<_>>()
    });
    for (round, mix) in mixes.iter().enumerate() {
        for _ in 0..3 {
            let env = home();
            for out in all_at_once(&env, mix) {
                assert!(out.status.success(), "round {round}: {out:?}");
            }
            if env.codex_home.join("codex-guard/receipt.json").exists() {
                assert_installed(&env);
                assert!(changed(&all_at_once(&env, &["uninstall"])[0]));
            }
            assert_removed(&env);
        }
    }
}
