//! Akto's message ids: `<session_id>:<turn sequence>`, the sequence counting the
//! turns of a session from 1 (0 before the first turn, for SessionStart).
//!
//! Codex gives every event of a turn the same `turn_id`; the sequence of a turn id
//! is kept in one small file per session under the state directory. Only the first
//! event of a new turn writes (atomically); every other event reads one line.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const DIR: &str = "turns";

/// The message id of an event, or `None` without a session id.
pub fn message_id(
    state_dir: &Path,
    session_id: Option<&str>,
    turn_id: Option<&str>,
) -> Option<String> {
    let session = session_id.filter(|s| !s.is_empty())?;
    let seq = match turn_id.filter(|t| !t.is_empty()) {
        Some(turn) => sequence(&file_of(state_dir, session), turn),
        None => 0,
    };
    Some(format!("{session}:{seq}"))
}

fn file_of(state_dir: &Path, session: &str) -> PathBuf {
    let digest = Sha256::digest(session.as_bytes());
    let name = codex_guard_common::trust::hex(&digest[..12]);
    state_dir.join(DIR).join(name)
}

/// The sequence of `turn` in the session whose state is `path`: the stored one
/// when `turn` is the session's current turn, else the next one (recorded).
fn sequence(path: &Path, turn: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    let (current, seq) = (
        lines.next().unwrap_or_default(),
        lines
            .next()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0),
    );
    if current == turn {
        return seq.max(1);
    }
    let next = seq + 1;
    let _ = write_atomic(path, &format!("{turn}\n{next}\n"));
    next
}

fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(path);
    if let Some(state_dir) = dir.parent() {
        crate::private_dir(state_dir)?;
    }
    crate::private_dir(dir)?;
    let tmp = dir.join(format!(".tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Forgets sessions idle for longer than `max_age` (called by the delivery process).
pub fn prune(state_dir: &Path, max_age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(state_dir.join(DIR)) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > max_age);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_numbered_per_session() {
        let dir = tempfile::tempdir().unwrap();
        let id = |s: Option<&str>, t: Option<&str>| message_id(dir.path(), s, t);
        assert_eq!(id(Some("s1"), None).as_deref(), Some("s1:0"));
        assert_eq!(id(Some("s1"), Some("t1")).as_deref(), Some("s1:1"));
        assert_eq!(id(Some("s1"), Some("t1")).as_deref(), Some("s1:1"));
        assert_eq!(id(Some("s2"), Some("u1")).as_deref(), Some("s2:1"));
        assert_eq!(id(Some("s1"), Some("t2")).as_deref(), Some("s1:2"));
        assert_eq!(id(Some("s1"), Some("t2")).as_deref(), Some("s1:2"));
        assert_eq!(id(None, Some("t2")), None);
        prune(dir.path(), std::time::Duration::ZERO);
        assert_eq!(id(Some("s1"), Some("t3")).as_deref(), Some("s1:1"));
    }
}
