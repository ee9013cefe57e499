//! The audit log: one JSON line per event in `<codex-guard dir>/logs/events.jsonl`,
//! what was decided, why, by which rule or policy, how long it took and whether its
//! records were delivered or spooled. Commands (and the prompts that were blocked)
//! appear only as short excerpts with secrets redacted. Size-bounded by rotation.

use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
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
    crate::private_dir(dir)?;
    let path = dir.join(LOG_FILE);
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    let mut file = open(&path)?;
    if file.metadata()?.len() > MAX_LOG_BYTES {
        file = rotate(dir, &path, file)?;
    }
    // One write of the whole line: appends from concurrent hooks never interleave.
    file.write_all(&line)
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Moves the full log `file` (open at `path`) aside and opens a new one. Hooks that
/// find the log too big at the same time take turns (a lock on the full log), and
/// only the first moves it: the others find it moved, so none of them moves the new
/// log over the previous generation, and each appends its line to the new log.
/// The lock is released when `file` is dropped, once the new log is open.
fn rotate(dir: &Path, path: &Path, file: File) -> std::io::Result<File> {
    // Where locks are not supported, rotate unlocked rather than lose the line.
    let _ = file.lock();
    if still_at(&file, path) {
        // A log that cannot be moved still takes the line.
        let _ = std::fs::rename(path, dir.join(format!("{LOG_FILE}.1")));
    }
    let new = open(path);
    drop(file);
    new
}

/// Whether `path` still names the open `file`.
fn still_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
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
            vec![b'x'; usize::try_from(MAX_LOG_BYTES).unwrap() + 1],
        )
        .unwrap();
        append(dir.path(), &entry);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(LOG_FILE)).unwrap(),
            "{\"event\":\"Stop\"}\n"
        );
        assert!(dir.path().join(format!("{LOG_FILE}.1")).exists());
    }

    #[test]
    fn a_hook_that_found_the_log_full_after_another_rotated_it_only_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let full = vec![b'x'; usize::try_from(MAX_LOG_BYTES).unwrap() + 1];
        std::fs::write(&path, &full).unwrap();
        // This hook opened the full log; another rotates it before this one does.
        let late = open(&path).unwrap();
        let mut entry = Map::new();
        entry.insert("event".into(), "Stop".into());
        append(dir.path(), &entry);
        rotate(dir.path(), &path, late)
            .unwrap()
            .write_all(b"{}\n")
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"event\":\"Stop\"}\n{}\n"
        );
        let previous = dir.path().join(format!("{LOG_FILE}.1"));
        assert_eq!(std::fs::read(previous).unwrap(), full, "kept, not replaced");
    }
}
