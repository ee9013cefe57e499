//! The spool of events waiting for delivery to the service, shared by the runtime
//! (which writes and drains it) and the installer (doctor and `events` report it).
//!
//! One file per record, `<created ms, 13 digits>-<id>.json`, written to a temporary
//! name, synced, then renamed: a record is either wholly in the spool or not at all,
//! and concurrent hooks never touch each other's files. A record leaves the spool
//! only after the service accepted it, so a crash at any moment can repeat a
//! delivery (the id makes that recognisable) but never lose one.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Records the service refused for good (HTTP 4xx other than 408 and 429, or a 422
/// that outlasted its retry budget) are kept here instead of being retried forever.
pub const REJECTED_DIR: &str = "rejected";
/// The records the service answered 422 to so far: how often, since when, and when
/// each may be tried again (the 422 retry budget).
pub const REFUSALS_FILE: &str = "refusals.json";
/// Counters of what left the spool without being delivered.
pub const STATS_FILE: &str = "stats.json";
/// Held by the delivery process while it runs; holds its pid.
pub const LOCK_FILE: &str = ".deliver.lock";
/// Prefix of files being written (never read as records).
pub const TMP_PREFIX: &str = ".tmp-";

/// One record waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpooledRecord {
    /// Unique id, also sent to the service, so a repeated delivery is recognisable.
    pub id: String,
    /// Milliseconds since the Unix epoch when the record was made.
    pub created_ms: u64,
    /// The Codex event it reports.
    pub event: String,
    /// Path and query of the call (`/api/http-proxy?...`), joined to the URL configured
    /// at delivery time.
    pub target: String,
    /// The JSON body, as sent.
    pub body: String,
}

impl SpooledRecord {
    /// The record's file name: sorting names sorts records oldest first.
    pub fn file_name(&self) -> String {
        format!("{:013}-{}.json", self.created_ms, self.id)
    }
}

/// What left the spool without being delivered, since it was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpoolStats {
    /// Dropped because they were older than `spool_max_age_hours`.
    pub dropped_age: u64,
    /// Dropped (oldest first) to keep the spool under `spool_max_mb`.
    pub dropped_size: u64,
    /// Files in the spool that were not records (corrupt), set aside.
    pub dropped_corrupt: u64,
    /// Refused by the service for good and moved to `rejected/`.
    pub rejected: u64,
    /// Answers 422 retried (each counts towards its record's retry budget).
    pub refusals_retried: u64,
    /// When the last record was dropped or rejected (ms since the epoch).
    pub last_drop_ms: Option<u64>,
    /// The last delivery error seen.
    pub last_error: Option<String>,
}

impl SpoolStats {
    pub fn dropped(&self) -> u64 {
        self.dropped_age + self.dropped_size + self.dropped_corrupt
    }

    pub fn load(spool_dir: &Path) -> SpoolStats {
        std::fs::read(spool_dir.join(STATS_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

/// The records waiting in `spool_dir`, oldest first, with their sizes.
pub fn pending(spool_dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut files: Vec<(PathBuf, u64)> = std::fs::read_dir(spool_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_record_name(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            meta.is_file().then(|| (e.path(), meta.len()))
        })
        .collect();
    files.sort();
    files
}

/// Files set aside in `rejected/`.
pub fn rejected(spool_dir: &Path) -> usize {
    std::fs::read_dir(spool_dir.join(REJECTED_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| is_record_name(&e.file_name().to_string_lossy()))
        .count()
}

fn is_record_name(name: &str) -> bool {
    // Our own names: always a lowercase `.json`.
    Path::new(name).extension().is_some_and(|e| e == "json")
        && name.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// Creation time encoded in a record's file name.
pub fn created_ms_of(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.split('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_age_and_only_records_are_listed() {
        // Removed when dropped, also when an assertion fails.
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let record = |ms, id: &str| SpooledRecord {
            id: id.into(),
            created_ms: ms,
            event: "Stop".into(),
            target: "/api/http-proxy?ingest_data=true".into(),
            body: "{}".into(),
        };
        for r in [record(20, "b"), record(3, "a")] {
            std::fs::write(dir.join(r.file_name()), serde_json::to_vec(&r).unwrap()).unwrap();
        }
        std::fs::write(dir.join(".tmp-x"), "partial").unwrap();
        std::fs::write(dir.join(STATS_FILE), "{}").unwrap();
        let names: Vec<String> = pending(&dir)
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["0000000000003-a.json", "0000000000020-b.json"]);
        assert_eq!(created_ms_of(&pending(&dir)[1].0), Some(20));
    }
}
