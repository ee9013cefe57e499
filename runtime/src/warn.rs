//! Akto's `warn` behaviour: block the first time, let an identical resubmission
//! through. The fingerprints of warned events are kept in a small state file.

use sha2::{Digest, Sha256};
use std::path::Path;

const STATE_FILE: &str = "warned.json";
/// Oldest fingerprints are forgotten past this many.
const MAX_PENDING: usize = 500;

pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    codex_guard_common::trust::hex(&hasher.finalize())
}

/// Returns true when this fingerprint was already warned (and forgets it, so the
/// next identical event is warned again); otherwise remembers it and returns false.
pub fn resubmitted(state_dir: &Path, fingerprint: &str) -> bool {
    let path = state_dir.join(STATE_FILE);
    let mut pending: Vec<String> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let seen = if let Some(pos) = pending.iter().position(|f| f == fingerprint) {
        pending.remove(pos);
        true
    } else {
        pending.push(fingerprint.to_string());
        if pending.len() > MAX_PENDING {
            pending.drain(..pending.len() - MAX_PENDING);
        }
        false
    };
    let _ = save(state_dir, &path, &pending);
    seen
}

fn save(dir: &Path, path: &Path, pending: &[String]) -> std::io::Result<()> {
    crate::private_dir(dir)?;
    let tmp = dir.join(format!("{STATE_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(pending)?)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_then_allows_the_identical_resubmission() {
        let dir = tempfile::tempdir().unwrap();
        let fp = fingerprint(&["PreToolUse", "Bash", "ls"]);
        assert_ne!(fp, fingerprint(&["PreToolUseBash", "", "ls"]));
        assert!(!resubmitted(dir.path(), &fp));
        assert!(resubmitted(dir.path(), &fp));
        assert!(!resubmitted(dir.path(), &fp));
    }
}
