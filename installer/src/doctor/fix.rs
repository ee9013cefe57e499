//! `doctor --fix`: repairs what failed with the idempotent parts of setup, run with
//! the install's own settings (setup takes the URL, mode and token from the current
//! runtime config when no flag says otherwise), and tightens modes that expose the
//! runtime or the token. Nothing a person must decide is changed here.

use super::{Check, Inputs, Repair, Status};
use crate::cli::SetupArgs;
use crate::setup;
use std::path::PathBuf;

/// One change `--fix` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub path: PathBuf,
    /// `created`, `updated` (by setup) or `chmod <mode>`.
    pub action: String,
}

pub struct Outcome {
    pub fixed: Vec<Fixed>,
    /// Repairs that were attempted and failed, as sentences.
    pub errors: Vec<String>,
}

pub fn repair(inputs: &Inputs, checks: &[Check]) -> Outcome {
    let failed: Vec<&Check> = checks.iter().filter(|c| c.status == Status::Fail).collect();
    let mut outcome = Outcome {
        fixed: Vec::new(),
        errors: Vec::new(),
    };

    if failed.iter().any(|c| c.repair == Repair::Setup) {
        let adopt = super::checks::edited_commands(inputs);
        match setup::apply_adopting(setup_args(inputs, checks), &adopt) {
            Ok(done) => outcome
                .fixed
                .extend(done.changes().into_iter().map(|c| Fixed {
                    path: c.path,
                    action: c.action.to_string(),
                })),
            Err(e) => {
                let hint = crate::failure::hint_of(&e)
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                outcome
                    .errors
                    .push(format!("setup could not repair the install: {e:#}{hint}"));
            }
        }
    }

    // After setup, which keeps the modes of the files it rewrites. A mode is safe to
    // tighten even when it is only a warning.
    for check in checks.iter().filter(|c| c.status != Status::Pass) {
        let Repair::Chmod(paths) = &check.repair else {
            continue;
        };
        for (path, mode) in paths {
            match chmod(path, *mode) {
                Ok(()) => outcome.fixed.push(Fixed {
                    path: path.clone(),
                    action: format!("chmod {mode:o}"),
                }),
                Err(e) => outcome
                    .errors
                    .push(format!("cannot chmod {mode:o} {}: {e}", path.display())),
            }
        }
    }
    outcome
}

#[cfg(unix)]
fn chmod(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn chmod(_path: &std::path::Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Setup as `codex-guard setup --silent --yes` on the same home: every setting from
/// the current install. An intact installed runtime is reinstalled from itself, so
/// a repair never swaps the runtime version; a broken one comes from beside
/// `codex-guard`, as in setup.
fn setup_args(inputs: &Inputs, checks: &[Check]) -> SetupArgs {
    let runtime_ok = ["runtime.binary", "runtime.version", "runtime.checksum"]
        .iter()
        .all(|id| {
            checks
                .iter()
                .any(|c| c.id == *id && c.status != Status::Fail)
        });
    SetupArgs {
        url: None,
        local_only: false,
        token: None,
        token_file: None,
        mode: None,
        observe: false,
        blocking: false,
        fail_closed: false,
        fail_open: false,
        timeout_ms: None,
        allow_http: false,
        ca_cert: None,
        rules: None,
        updates: None,
        update_url: None,
        update_public_key: None,
        device_id: None,
        config: None,
        managed: false,
        managed_only: None,
        prefix: None,
        all_users: false,
        include_users_without_codex: false,
        install_settings_only: true,
        parent_settings: None,
        silent: true,
        yes: true,
        dry_run: false,
        json: false,
        runtime: runtime_ok.then(|| inputs.layout.runtime_bin()),
        // Doctor asks Codex itself right after the repair.
        codex_bin: None,
        home: inputs.home_args.clone(),
    }
}
