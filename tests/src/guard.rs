//! The codex-guard binaries under test, taken from the cargo target directory the suite
//! itself was built into, so `cargo test` exercises the code in this checkout.

use crate::home::TestHome;
use crate::process::{self, Output};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Longest a `codex-guard` command may take.
pub const GUARD_TIMEOUT: Duration = Duration::from_secs(60);

/// Where `codex-guard` and `codex-guard-hook` are: `CODEX_GUARD_BIN_DIR`, else the
/// profile directory of this test executable (`target/<profile>/deps/<test>` ->
/// `target/<profile>`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CODEX_GUARD_BIN_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    let deps = exe.parent().expect("test executable has a directory");
    let profile = if deps.ends_with("deps") {
        deps.parent().expect("deps has a parent")
    } else {
        deps
    };
    profile.to_path_buf()
}

/// The path of one of our binaries, with a hint when it has not been built.
#[track_caller]
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build -p codex-guard -p codex-guard-hook` \
         (or set CODEX_GUARD_BIN_DIR to the directory holding it)",
        path.display()
    );
    path
}

/// Runs `codex-guard <args>` against the test's home with a cleared environment.
#[track_caller]
pub fn run_guard(home: &TestHome, args: &[&str]) -> Output {
    // The hook runtime must be there too, as setup installs it.
    bin("codex-guard-hook");
    let mut command = Command::new(bin("codex-guard"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home.home)
        .env("TMPDIR", &home.tmpdir)
        .env("CODEX_HOME", &home.codex_home)
        .current_dir(&home.workdir)
        .args(args);
    process::run(command, GUARD_TIMEOUT)
}

/// `codex-guard setup` pointed at `akto_url`, non-interactive, with JSON output, plus
/// `extra` flags; returns the process output and the parsed JSON report.
#[track_caller]
pub fn setup(home: &TestHome, akto_url: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let codex_home = home.codex_home.display().to_string();
    let mut args = vec![
        "setup",
        "--codex-home",
        &codex_home,
        "--url",
        akto_url,
        "--silent",
        "--yes",
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = run_guard(home, &args);
    let report = serde_json::from_str(output.stdout.trim()).unwrap_or_else(|e| {
        panic!("setup did not print one JSON document on stdout ({e}): {output}")
    });
    (output, report)
}
