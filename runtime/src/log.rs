//! The audit log: one JSON line per event in `<codex-guard dir>/logs/events.jsonl`,
//! what was decided, why, by which rule or policy, how long it took and whether its
//! records were delivered or spooled. Commands (and the prompts that were blocked)
//! appear only as short excerpts with secrets redacted. Size-bounded by rotation.

use serde_json::{Map, Value};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

pub use codex_guard_common::layout::EVENTS_LOG as LOG_FILE;
/// Rotate when the log passes this size; one previous generation is kept.
pub const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;

/// Appends one line. Errors are swallowed: logging must never break Codex.
pub fn append(dir: &Path, entry: &Map<String, Value>) {
    let _ = try_append(dir, entry);
}

fn try_append(dir: &Path, entry: &Map<String, Value>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        std::fs::rename(&path, dir.join(format!("{LOG_FILE}.1")))?;
    }
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // One write of the whole line: appends from concurrent hooks never interleave.
    options.open(&path)?.write_all(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let mut entry = Map::new();
        entry.insert("event".into(), "Stop".into());
        append(dir.path(), &entry);
        append(dir.path(), &entry);
        let text = std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
        assert_eq!(text, "{\"event\":\"Stop\"}\n{\"event\":\"Stop\"}\n");
        std::fs::write(
            dir.path().join(LOG_FILE),
            vec![b'x'; MAX_LOG_BYTES as usize + 1],
        )
        .unwrap();
        append(dir.path(), &entry);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap(),
            "{\"event\":\"Stop\"}\n"
        );
        assert!(dir.path().join(format!("{LOG_FILE}.1")).exists());
    }
}
