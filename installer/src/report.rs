//! The `--json` reports, one serde type per command. The commands print them, and the
//! parent processes that run a child `codex-guard ... --json` (`setup --all-users`,
//! `self-update`) read them back with the same types, so a field renamed on one side
//! cannot go unnoticed on the other.
//!
//! Every report starts with the fields of [`Summary`]; a reader that only needs the
//! outcome reads a child's report as a `Summary`, whatever the command.

use codex_guard_common::config::Updates;
use codex_guard_common::Mode;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The version of every report's shape. It goes up when a field changes meaning or
/// goes away; new fields do not change it.
pub const SCHEMA_VERSION: u32 = 1;

/// What a command did, or would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Changed,
    Unchanged,
    /// A dry run that would change something.
    Planned,
    Removed,
    Restored,
    /// Restore would overwrite changes made since the backup, and was not forced.
    Refused,
    Skipped,
    Failed,
    /// A report this version does not know (written by a newer child).
    #[serde(other)]
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Changed => "changed",
            Status::Unchanged => "unchanged",
            Status::Planned => "planned",
            Status::Removed => "removed",
            Status::Restored => "restored",
            Status::Refused => "refused",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Unknown => "unknown",
        }
    }
}

/// One file a command changed (or would change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAction {
    pub path: PathBuf,
    /// `created`, `updated`, `removed`, `restored`, `replace`, `create` or `remove`.
    pub action: String,
}

impl FileAction {
    pub fn new(path: impl Into<PathBuf>, action: impl Into<String>) -> FileAction {
        FileAction {
            path: path.into(),
            action: action.into(),
        }
    }
}

/// The fields every command report starts with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub schema_version: u32,
    pub status: Status,
    #[serde(default)]
    pub changed: bool,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub changes: Vec<FileAction>,
    /// The archive of the files as they were, when anything was written.
    #[serde(default)]
    pub backup: Option<PathBuf>,
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
}

impl Summary {
    pub fn new(status: Status, dry_run: bool) -> Summary {
        Summary {
            schema_version: SCHEMA_VERSION,
            status,
            changed: false,
            dry_run,
            changes: Vec::new(),
            backup: None,
            warnings: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Reads a child's report from its stdout; `None` when there is none (the child
    /// failed before it could report, and said why on stderr).
    pub fn from_stdout(stdout: &[u8]) -> Option<Summary> {
        serde_json::from_slice(stdout).ok()
    }
}

/// `codex-guard setup --json` for one Codex home.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetupReport {
    #[serde(flatten)]
    pub summary: Summary,
    pub codex_home: PathBuf,
    pub url: Option<String>,
    pub mode: Mode,
    pub blocking: bool,
    pub fail_closed: bool,
    pub device_id: String,
    /// Where the device id came from: `flag`, `existing`, `akto` or `generated`.
    pub device_id_source: String,
    /// A dry run's unified diff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// `codex-guard setup --managed --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManagedSetupReport {
    #[serde(flatten)]
    pub summary: Summary,
    /// Always `managed`.
    pub scope: String,
    pub system_root: PathBuf,
    pub prefix: PathBuf,
    pub requirements: PathBuf,
    pub managed_only: bool,
    pub url: Option<String>,
    pub mode: Mode,
    pub blocking: bool,
    pub fail_closed: bool,
    pub updates: Updates,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// `codex-guard uninstall --json`, per user (`codex_home`) or managed (`scope`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UninstallReport {
    #[serde(flatten)]
    pub summary: Summary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex_home: Option<PathBuf>,
    /// Whether an install receipt was found (per user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<bool>,
    /// What `--keep-logs` kept.
    #[serde(default)]
    pub kept: Vec<PathBuf>,
}

/// One user of a `--all-users` run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserReport {
    pub user: String,
    pub uid: u32,
    pub codex_home: PathBuf,
    pub status: Status,
    pub changed: bool,
    pub exit_code: Option<i32>,
    pub changes: Vec<FileAction>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    pub reason: Option<String>,
}

/// `codex-guard setup|uninstall --all-users --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AllUsersReport {
    pub schema_version: u32,
    pub status: Status,
    pub changed: bool,
    /// Always `all_users`.
    pub scope: String,
    /// `setup` or `uninstall`.
    pub command: String,
    pub users: Vec<UserReport>,
    pub warnings: Vec<String>,
}

/// Prints a report as one line of JSON on stdout.
pub fn print(report: &impl Serialize) {
    // Serializing these types cannot fail: every map key is a string.
    match serde_json::to_string(report) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("codex-guard: cannot print the JSON report: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_report_of_any_command_reads_as_a_summary() {
        let mut summary = Summary::new(Status::Changed, false);
        summary.changed = true;
        summary
            .changes
            .push(FileAction::new("/h/.codex/hooks.json", "created"));
        let setup = SetupReport {
            summary: summary.clone(),
            codex_home: "/h/.codex".into(),
            url: None,
            mode: Mode::Argus,
            blocking: true,
            fail_closed: false,
            device_id: "id".into(),
            device_id_source: "generated".into(),
            diff: None,
        };
        let line = serde_json::to_string(&setup).unwrap();
        assert!(line.starts_with(r#"{"schema_version":1,"status":"changed","changed":true"#));
        assert_eq!(Summary::from_stdout(line.as_bytes()), Some(summary));
    }

    #[test]
    fn an_older_or_newer_child_still_reads() {
        let old =
            br#"{"status":"removed","changed":true,"changes":[{"path":"/x","action":"removed"}]}"#;
        let summary = Summary::from_stdout(old).unwrap();
        assert_eq!(summary.status, Status::Removed);
        assert_eq!(summary.schema_version, 0);
        let newer = br#"{"schema_version":1,"status":"reticulated","changed":false,"extra":1}"#;
        assert_eq!(Summary::from_stdout(newer).unwrap().status, Status::Unknown);
        assert_eq!(Summary::from_stdout(b"error: boom"), None);
    }
}
