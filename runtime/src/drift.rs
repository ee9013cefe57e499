//! The session start check: whether the install is still as setup left it (so a fleet
//! sees a machine whose guard was tampered with), and whether the hook's own environment
//! names a file bash runs before every hook (`BASH_ENV`, `ENV`), inherited from Codex.
//! Written to the audit log and sent with the SessionStart record.

use crate::settings::{EnvLookup, Settings};
use codex_guard_common::integrity::{self, Integrity};
use serde::Serialize;
use std::collections::BTreeMap;

/// Variables that make a shell run a file first: bash runs `$BASH_ENV` before every
/// `bash -c` (how Codex starts each hook), sh runs `$ENV`.
pub const SHELL_STARTUP_VARIABLES: [&str; 2] = ["BASH_ENV", "ENV"];

/// What the check found, as logged and sent.
#[derive(Debug, Clone, Serialize)]
pub struct SessionCheck {
    /// The version of this runtime.
    pub version: &'static str,
    /// "blocking", "observe" or "local-only".
    pub mode: &'static str,
    /// Akto's attribution mode: "argus" or "atlas".
    pub akto_mode: &'static str,
    pub blocking: bool,
    pub fail_closed: bool,
    #[serde(flatten)]
    pub integrity: Integrity,
    /// `BASH_ENV` / `ENV` as set in the hook's environment: that file ran before this hook.
    pub shell_env: BTreeMap<&'static str, String>,
}

impl SessionCheck {
    pub fn run(s: &Settings, env: EnvLookup<'_>) -> SessionCheck {
        let state = s.layout.state_dir();
        let integrity = match &s.machine_config {
            Some(config) => integrity::check_managed(config, Some(&state)),
            None => integrity::check_user(&s.layout, Some(&state)),
        };
        let shell_env = SHELL_STARTUP_VARIABLES
            .into_iter()
            .filter_map(|k| env(k).filter(|v| !v.is_empty()).map(|v| (k, v)))
            .collect();
        SessionCheck {
            version: codex_guard_common::VERSION,
            mode: s.mode_label(),
            akto_mode: s.config.mode.as_str(),
            blocking: s.config.blocking,
            fail_closed: s.config.fail_closed,
            integrity,
            shell_env,
        }
    }

    /// Nothing drifted and no startup file runs before the hooks.
    pub fn clean(&self) -> bool {
        self.integrity.intact && self.shell_env.is_empty()
    }
}
