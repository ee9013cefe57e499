//! Overrides a managed install ignored, recorded in the audit log once per session,
//! so an admin sees the attempt without a copy on every event. A marker in the
//! user's state directory holds the session and the overrides last recorded; only a
//! hook with overrides to record reads it, so an ordinary event pays nothing.

use crate::settings::Settings;
use std::path::Path;

/// File name of the marker in the state directory.
pub const MARKER: &str = "ignored-env";

/// The overrides to record with this event: all of them the first time this session
/// (or this set of overrides) is seen, none after that.
pub fn first_in_session(s: &Settings, session: Option<&str>) -> Vec<String> {
    if s.ignored_env.is_empty() {
        return Vec::new();
    }
    let state = s.layout.state_dir();
    let marker = state.join(MARKER);
    let content = format!(
        "{}\n{}\n",
        session.unwrap_or_default(),
        s.ignored_env.join("\n")
    );
    if read_marker(&marker).is_some_and(|c| c == content) {
        return Vec::new();
    }
    if crate::private_dir(&state).is_ok() {
        // Written beside and renamed over: a marker never holds half a record.
        let tmp = state.join(format!(".{MARKER}.{}", std::process::id()));
        if std::fs::write(&tmp, &content).is_ok() && std::fs::rename(&tmp, &marker).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    s.ignored_env.clone()
}

/// The marker's text, when it is a small regular file: anything else there (a FIFO
/// that would hang the read, a link) counts as no marker, so the record is written.
fn read_marker(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > 64 * 1024 {
        return None;
    }
    std::fs::read_to_string(path).ok()
}
