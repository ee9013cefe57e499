//! Compiles the release public key into `codex-guard`: from the build's
//! `CODEX_GUARD_RELEASE_PUBLIC_KEY` (`none` for no key), else from the committed
//! `packaging/release-public-key`. A malformed key fails the build: a release
//! must never ship believing it verifies when it cannot.

use std::path::Path;

const ENV: &str = "CODEX_GUARD_RELEASE_PUBLIC_KEY";

fn main() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/release-public-key");
    println!("cargo:rerun-if-env-changed={ENV}");
    println!("cargo:rerun-if-changed={}", file.display());
    // Set but empty counts as unset.
    let (key, from) = match std::env::var(ENV).ok().filter(|v| !v.trim().is_empty()) {
        Some(value) if value.trim().eq_ignore_ascii_case("none") => (None, ENV.to_string()),
        Some(value) => (Some(value.trim().to_string()), ENV.to_string()),
        // Outside the workspace (a packaged crate) there is no file: no key.
        None => match std::fs::read_to_string(&file) {
            Ok(text) => (key_in(&text), file.display().to_string()),
            Err(_) => (None, file.display().to_string()),
        },
    };
    if let Some(key) = &key {
        let valid = key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit());
        assert!(
            valid,
            "the release public key from {from} is not an Ed25519 public key (64 hex digits): {key:?}"
        );
    }
    println!(
        "cargo:rustc-env=CODEX_GUARD_RELEASE_KEY={}",
        key.unwrap_or_default().to_ascii_lowercase()
    );
}

/// The one key line of `packaging/release-public-key` (comments and blank lines aside).
fn key_in(text: &str) -> Option<String> {
    let mut keys = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    let key = keys.next().map(str::to_string);
    assert!(
        keys.next().is_none(),
        "packaging/release-public-key holds more than one key line"
    );
    key
}
