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

/// One file `restore` put back (or would).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoredFile {
    pub path: PathBuf,
    /// `create`, `replace` or `remove`.
    pub action: String,
    /// Where a program the backup recorded by hash was copied from.
    pub copied_from: Option<PathBuf>,
}

/// A program the backup recorded by hash that no identical copy could restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MissingProgram {
    pub path: PathBuf,
    pub program: String,
    pub version: Option<String>,
    pub sha256: String,
    pub size: u64,
    /// How to get it back.
    pub hint: String,
}

/// A file changed since the backup that restore would overwrite.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conflict {
    pub path: PathBuf,
    pub action: String,
    pub changed_since_backup: bool,
}

/// `codex-guard restore --json`: `restored`, `planned`, `unchanged`, `incomplete`
/// (a program could not be restored) or `refused` (with `conflicts`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreReport {
    pub schema_version: u32,
    /// `restored`, `planned`, `unchanged`, `incomplete` or `refused`.
    pub status: String,
    pub changed: bool,
    pub dry_run: bool,
    /// The archive restored from.
    pub backup_restored: PathBuf,
    #[serde(default)]
    pub changes: Vec<RestoredFile>,
    #[serde(default)]
    pub missing: Vec<MissingProgram>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<Conflict>,
    /// The archive of the files as they were before this restore.
    pub backup: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// `codex-guard backup --json`: the archive written and how many files it holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupReport {
    pub schema_version: u32,
    pub backup: PathBuf,
    pub files: usize,
}

/// One archive of `codex-guard backup --list --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ListedBackup {
    Readable(Box<BackupInfo>),
    Unreadable { path: PathBuf, error: String },
}

/// What the manifest of a readable archive says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupInfo {
    pub path: PathBuf,
    pub created_at: serde_json::Value,
    pub reason: serde_json::Value,
    pub version: serde_json::Value,
    pub files: usize,
    pub size: u64,
}

/// `codex-guard backup --list --json`, newest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupListReport {
    pub schema_version: u32,
    pub backups: Vec<ListedBackup>,
}

/// How `self-update` authenticated a release's checksum list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Signature {
    /// `verified`, `unsigned` (accepted with `--allow-unsigned`) or `unverified` (no key).
    pub status: String,
    /// Whose key verified it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_because: Option<String>,
}

/// One install `self-update` refreshed with the new `setup --keep-settings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refreshed {
    /// The Codex home, or `machine-wide install`.
    pub what: String,
    pub status: Status,
    pub changes: Vec<FileAction>,
    pub notes: Vec<String>,
}

/// `codex-guard self-update --json` after an update.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateReport {
    pub schema_version: u32,
    /// Always `updated`.
    pub status: String,
    pub from: String,
    pub to: String,
    pub source: String,
    /// The archive's sha256.
    pub sha256: String,
    pub signature: Signature,
    /// The two programs replaced.
    pub replaced: Vec<PathBuf>,
    pub refreshed: Vec<Refreshed>,
    /// The new `codex-guard doctor --json`, as it printed it.
    pub doctor: Option<serde_json::Value>,
    pub warnings: Vec<String>,
}

/// `codex-guard self-update --check --json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateCheckReport {
    pub schema_version: u32,
    /// `update_available`, `up_to_date`, `newer_than_latest` or `no_release`.
    pub status: String,
    pub current: String,
    pub available: Option<String>,
    pub source: String,
    pub target: String,
    /// Why self-update would refuse, if it would.
    pub updates_owned_by: Option<String>,
    /// The key releases must be signed with.
    pub release_key: Option<String>,
}

/// `codex-guard self-update --json` with nothing to install.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateUnchangedReport {
    pub schema_version: u32,
    /// Always `unchanged`.
    pub status: String,
    pub current: String,
    pub source: String,
    pub message: String,
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
