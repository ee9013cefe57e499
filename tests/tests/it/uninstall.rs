//! Uninstall end to end with the real Codex CLI: after `codex-guard uninstall`, a
//! `codex exec` turn fires none of codex-guard's hooks, the user's own hook still fires,
//! and the user's Codex files are back byte for byte.

use codex_guard_e2e::{guard, run_codex_exec, FakeAkto, FakeModel, TestHome};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

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
    // Setup's own probe of the service is not a hook's call.
    akto.clear();

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

/// Codex may still be running a hook, and the delivery process may be retrying an
/// outage, while uninstall runs: neither brings codex-guard's directory back.
#[test]
fn hooks_and_the_delivery_process_still_running_leave_nothing_behind_uninstall() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    let home = TestHome::new();
    let akto = FakeAkto::start();
    let (output, _) = guard::setup(&home, &akto.url(), &["--observe"]);
    output.assert_success();
    akto.set_down(true);
    let runtime = home.codex_home.join("codex-guard/bin/codex-guard-hook");
    let hook = |n: usize| fire_hook(&runtime, &home, n);
    for n in 0..20 {
        hook(n);
    }
    let lock = home.codex_home.join("codex-guard/spool/.deliver.lock");
    let pid = || fs::read_to_string(&lock).ok()?.trim().parse::<u32>().ok();
    assert!(
        codex_guard_e2e::wait_until(Duration::from_secs(10), || pid().is_some()),
        "a delivery process started and wrote its pid"
    );
    let deliverer = pid().unwrap();
    assert!(
        !akto
            .wait_for(Duration::from_secs(10), |r| !r.is_empty())
            .is_empty(),
        "the delivery process is retrying against the outage"
    );

    let stop = AtomicBool::new(false);
    let codex_home = home.codex_home.display().to_string();
    std::thread::scope(|s| {
        let firing = s.spawn(|| {
            let mut n = 100;
            while !stop.load(Ordering::SeqCst) {
                hook(n);
                n += 1;
            }
            n - 100
        });
        std::thread::sleep(Duration::from_millis(200));
        let output = guard::run_guard(
            &home,
            &[
                "uninstall",
                "--codex-home",
                &codex_home,
                "--silent",
                "--json",
            ],
        );
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::SeqCst);
        let fired = firing.join().unwrap();
        output.assert_success();
        let report: serde_json::Value = serde_json::from_str(output.stdout.trim()).unwrap();
        assert!(
            report["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w.as_str().unwrap().contains("not yet delivered")),
            "uninstall says undelivered events go with it: {report}"
        );
        assert!(fired > 0, "hooks ran during the uninstall");
    });

    let proc_dir = std::path::PathBuf::from(format!("/proc/{deliverer}"));
    let started = Instant::now();
    while proc_dir.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // A zombie has no command line left; a live process still has one.
    let alive = fs::read(proc_dir.join("cmdline")).is_ok_and(|c| !c.is_empty());
    assert!(!alive, "the delivery process {deliverer} did not exit");
    let left: Vec<_> = fs::read_dir(&home.codex_home)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "codex-guard left entries in the Codex home: {left:?}"
    );
}

/// Runs the hook program at `runtime` on one UserPromptSubmit event, as Codex would.
/// A binary already deleted (by the uninstall) is not an error.
fn fire_hook(runtime: &Path, home: &TestHome, n: usize) {
    let event = serde_json::json!({
        "hook_event_name": "UserPromptSubmit", "session_id": "s", "turn_id": format!("t{n}"),
        "prompt": format!("prompt {n}"), "cwd": "/", "model": "m",
        "permission_mode": "default", "transcript_path": null,
    });
    // The binary is deleted from under a hook started before the uninstall.
    let Ok(mut child) = Command::new(runtime)
        .env_clear()
        .env("HOME", &home.home)
        .env("TMPDIR", &home.tmpdir)
        .env("CODEX_HOME", &home.codex_home)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
    else {
        return;
    };
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(event.to_string().as_bytes());
    assert!(child.wait().unwrap().success());
}
