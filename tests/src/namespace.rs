//! Runs one test again inside private Linux namespaces (a mount namespace for a tmpfs
//! or a replaced `/etc/resolv.conf`, a network namespace for a link nobody answers on),
//! so that what it changes there is seen by nothing outside the test.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Runs test `test` (its path in the test binary, `module::name`) again under `unshare` with
/// `namespaces` (`--mount` is always among them, private), after the shell script
/// `prepare` has run inside them (`$0` is `arg`); the inner run sees `inner` in its
/// environment and does the work. As root, or as another user where unprivileged user
/// namespaces are allowed (then mapped to root). Panics, saying what is needed, when
/// the inner run cannot start or fails.
pub fn run_test_inside(
    test: &str,
    namespaces: &[&str],
    prepare: &str,
    arg: &Path,
    inner: (&str, &OsStr),
    needs: &str,
) {
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut unshare = Command::new("unshare");
    if !as_root {
        unshare.arg("--user").arg("--map-root-user");
    }
    let out = unshare
        .args(namespaces)
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "set -e; PATH=\"$PATH:/usr/sbin:/sbin\"; {prepare}; exec \"$@\""
        ))
        .arg(arg)
        .arg(std::env::current_exe().expect("the test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(inner.0, inner.1)
        .output()
        .expect("unshare (util-linux) runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} needs {needs} (as root, or with unprivileged user namespaces):\n{stdout}\n{stderr}"
    );
    eprintln!("{stderr}");
}
