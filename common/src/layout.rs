//! Where codex-guard keeps its files inside a Codex home, in one place so the
//! installer, the runtime and the uninstaller can never disagree.

use std::path::{Path, PathBuf};

/// Name of our directory inside `$CODEX_HOME`.
pub const GUARD_DIR: &str = "codex-guard";
/// File name of the hook runtime executable.
pub const RUNTIME_BIN: &str = if cfg!(windows) {
    "codex-guard-hook.exe"
} else {
    "codex-guard-hook"
};

/// The runtime's argument naming a machine-wide config (a managed install): state,
/// logs and spool then go to the user's own `$CODEX_HOME/codex-guard/`.
pub const MACHINE_CONFIG_ARG: &str = "--machine-config";

/// The managed install's receipt, beside the machine-wide config.
pub const MANAGED_RECEIPT: &str = "managed-receipt.json";

/// The runtime's audit log inside the logs directory; rotated to `<name>.1`.
pub const EVENTS_LOG: &str = "events.jsonl";

/// Every path codex-guard uses inside one Codex home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The Codex home itself (`$CODEX_HOME`, `~/.codex`).
    pub codex_home: PathBuf,
}

impl Layout {
    pub fn new(codex_home: impl Into<PathBuf>) -> Self {
        Self {
            codex_home: codex_home.into(),
        }
    }

    /// Layout of the Codex home that owns a guard directory (`<home>/codex-guard`).
    pub fn from_guard_dir(guard_dir: &Path) -> Self {
        Self::new(guard_dir.parent().unwrap_or(guard_dir))
    }

    /// Codex's own `config.toml`.
    pub fn codex_config(&self) -> PathBuf {
        self.codex_home.join("config.toml")
    }
    /// Codex's user-level `hooks.json`.
    pub fn hooks_json(&self) -> PathBuf {
        self.codex_home.join("hooks.json")
    }
    /// Our directory: everything below it belongs to codex-guard.
    pub fn guard_dir(&self) -> PathBuf {
        self.codex_home.join(GUARD_DIR)
    }
    pub fn bin_dir(&self) -> PathBuf {
        self.guard_dir().join("bin")
    }
    pub fn runtime_bin(&self) -> PathBuf {
        self.bin_dir().join(RUNTIME_BIN)
    }
    /// The runtime's configuration (ours, not Codex's).
    pub fn runtime_config(&self) -> PathBuf {
        self.guard_dir().join("config.toml")
    }
    /// Local rules evaluated by the runtime before any network call.
    pub fn rules(&self) -> PathBuf {
        self.guard_dir().join("rules.toml")
    }
    /// The ingestion token, readable only by its owner.
    pub fn token(&self) -> PathBuf {
        self.guard_dir().join("token")
    }
    /// The Atlas machine id, generated once.
    pub fn machine_id(&self) -> PathBuf {
        self.guard_dir().join("machine-id")
    }
    /// What setup added and every value it replaced.
    pub fn receipt(&self) -> PathBuf {
        self.guard_dir().join("receipt.json")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.guard_dir().join("logs")
    }
    /// Small state the runtime keeps between events (warn fingerprints).
    pub fn state_dir(&self) -> PathBuf {
        self.guard_dir().join("state")
    }
    /// Events waiting for delivery to the service.
    pub fn spool_dir(&self) -> PathBuf {
        self.guard_dir().join("spool")
    }
    pub fn backups_dir(&self) -> PathBuf {
        self.guard_dir().join("backups")
    }
    /// Held while setup (or any later editing command) runs.
    pub fn lock_file(&self) -> PathBuf {
        self.guard_dir().join(".lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_below_the_codex_home() {
        let layout = Layout::new("/home/a b/.codex");
        assert_eq!(
            layout.runtime_bin(),
            Path::new("/home/a b/.codex/codex-guard/bin").join(RUNTIME_BIN)
        );
        assert_eq!(
            Layout::from_guard_dir(&layout.guard_dir()).codex_home,
            layout.codex_home
        );
    }
}
