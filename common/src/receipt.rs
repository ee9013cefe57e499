//! The install receipt (`$CODEX_HOME/codex-guard/receipt.json`): what setup added
//! to the user's files and the value every changed key had before, so uninstall
//! can remove exactly that and nothing else; and its machine-wide counterpart
//! (`/etc/codex-guard/managed-receipt.json`). The runtime reads both to tell whether
//! the install is still as setup left it.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const RECEIPT_SCHEMA_VERSION: u32 = 1;
pub const MANAGED_RECEIPT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub schema_version: u32,
    /// Version of codex-guard that last wrote the receipt.
    pub version: String,
    /// When the first setup ran (RFC 3339). Kept across re-runs.
    pub installed_at: String,
    /// The canonical Codex home the install lives in.
    pub codex_home: PathBuf,
    pub hooks_json: HooksJsonRecord,
    pub codex_config: CodexConfigRecord,
    /// Files codex-guard wrote below its own directory, with their sha256.
    pub files: Vec<FileRecord>,
    /// Directories setup created (the Codex home itself when it did not exist).
    pub created_dirs: Vec<PathBuf>,
}

/// What setup did to the file holding our handlers: `hooks.json`, or `config.toml`
/// when they are kept inline there ([`HooksLayout::ConfigToml`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HooksJsonRecord {
    pub path: PathBuf,
    /// Where the handlers live. Receipts written before inline handlers existed have
    /// no such field: theirs are in hooks.json.
    #[serde(default)]
    pub layout: HooksLayout,
    /// The file did not exist before setup.
    pub created: bool,
    /// The file's text before the first setup, so an uninstall with nothing else
    /// changed gives back the very same bytes.
    #[serde(default)]
    pub original: Option<String>,
    /// Our handlers, one per event; matched by exact command on removal.
    pub handlers: Vec<HandlerRecord>,
}

/// Where our user-level handlers are written. Codex reads both forms, but warns on
/// every session when one layer holds hooks in both, so ours go where the user's are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HooksLayout {
    /// `$CODEX_HOME/hooks.json` (the user's hooks are there, or they have none).
    #[default]
    HooksJson,
    /// `[[hooks.<Event>]]` tables in `$CODEX_HOME/config.toml`, beside the user's own.
    ConfigToml,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerRecord {
    pub event: String,
    pub command: String,
    pub timeout: u64,
}

/// What setup did to Codex's `config.toml`. A previous value is the TOML text of
/// the value as it was (`None`: the key was absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodexConfigRecord {
    pub path: PathBuf,
    /// The file did not exist before setup.
    pub created: bool,
    /// The file's text before the first setup (see [`HooksJsonRecord::original`]).
    #[serde(default)]
    pub original: Option<String>,
    /// Setup added the `[features]` table.
    pub features_table_created: bool,
    /// `features.hooks` before setup set it to `true`.
    pub hooks_previous: Option<String>,
    /// The deprecated `features.codex_hooks` setup replaced with `hooks`.
    pub codex_hooks_previous: Option<String>,
    /// Trust records setup wrote under `[hooks.state]`.
    pub trust: Vec<TrustRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustRecord {
    pub key: String,
    pub trusted_hash: String,
    /// The hash that was there before, if the key existed.
    pub previous: Option<String>,
    /// The key's table was there before without a hash: uninstall leaves it, empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub table_existed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    pub path: PathBuf,
    pub sha256: String,
}

impl Receipt {
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("receipt serializes");
        text.push('\n');
        text
    }
}

/// What a managed setup added, and every value it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedReceipt {
    pub schema_version: u32,
    pub version: String,
    pub installed_at: String,
    pub prefix: PathBuf,
    pub command: String,
    pub requirements: RequirementsRecord,
    /// Files written, with the sha256 they had when written (requirements.toml too).
    pub files: Vec<FileRecord>,
    /// Directories setup created, parents first.
    pub created_dirs: Vec<PathBuf>,
}

/// What setup did to `requirements.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementsRecord {
    pub path: PathBuf,
    /// The file's text before the first setup (`None`: it did not exist), given back
    /// as is when nothing else changed it since.
    pub original: Option<String>,
    pub features_table_created: bool,
    /// `features.hooks` before setup (`None`: absent).
    pub features_hooks: Option<bool>,
    pub hooks_table_created: bool,
    pub managed_dir_added: bool,
    /// Setup set `allow_managed_hooks_only = true`.
    pub managed_only: bool,
    /// Its value before setup set it (`None`: absent).
    pub managed_only_previous: Option<bool>,
    /// Commands of our handlers (matched exactly on removal).
    pub commands: Vec<String>,
}
