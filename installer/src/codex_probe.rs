//! After setup: asks the Codex CLI, when one is installed, whether it loads the
//! configuration as setup left it and runs codex-guard's hooks. A config Codex rejects
//! (a stale key, a wrong type) makes it start with defaults or not at all, and run no
//! hook: setup says so at once, in Codex's own words, instead of reporting success.
//! The probe is doctor's (`codex app-server`, `hooks/list`); without a Codex CLI it
//! costs one look along `PATH`.

use crate::doctor::codex::{self, CodexBin};
use codex_guard_common::Layout;
use std::path::Path;

/// What Codex told us, for setup's report.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Codex cannot load the config or will not run our hooks: the install is degraded.
    pub warnings: Vec<String>,
    /// What else Codex warns about (hooks in both hooks.json and config.toml).
    pub notes: Vec<String>,
}

/// Asks the Codex CLI at `flag` (else `codex` on PATH; none: nothing is asked) about
/// the Codex home of `layout`. `hooks_file` is where setup put our handlers.
pub fn after_setup(flag: Option<&Path>, layout: &Layout, hooks_file: &Path) -> Findings {
    let mut found = Findings::default();
    let bin = match CodexBin::locate(flag) {
        CodexBin::Found(bin) => bin,
        // Codex Desktop needs no CLI: with none on PATH there is nothing to ask.
        CodexBin::Missing(_) if flag.is_none() => return found,
        CodexBin::Missing(why) => {
            found.warnings.push(format!(
                "Codex was not asked whether it loads the configuration: {why}"
            ));
            return found;
        }
    };
    let config = layout.codex_config();
    let list = match codex::list_hooks(&bin, &layout.codex_home, &layout.codex_home) {
        Ok(list) => list,
        Err(e) => {
            found.warnings.push(format!(
                "could not ask {} whether it loads {} and runs codex-guard's hooks: {e}; \
                 hint: run `codex-guard doctor` once Codex starts",
                bin.display(),
                config.display()
            ));
            return found;
        }
    };
    if list.errors.is_empty() {
        let bad = list.not_running(&layout.runtime_bin());
        if !bad.is_empty() {
            found.warnings.push(format!(
                "Codex ({}) will not run codex-guard's hooks in {}: {}; hint: run \
                 `codex-guard doctor` to see why",
                bin.display(),
                hooks_file.display(),
                bad.join(", ")
            ));
        }
    } else {
        found.warnings.push(format!(
            "Codex ({}) cannot load its configuration, so it runs none of the hooks in it, \
             codex-guard's included. Codex says: {}; hint: correct or remove that setting \
             (a stale key, or a value of the wrong type) in the file it names, then run \
             `codex-guard doctor`",
            bin.display(),
            list.errors.join("; ")
        ));
    }
    for warning in list.warnings {
        found.notes.push(format!("Codex warns: {warning}"));
    }
    found
}
