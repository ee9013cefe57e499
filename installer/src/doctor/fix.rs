//! `doctor --fix`: repairs what failed with the idempotent parts of setup, run with
//! the install's own settings (setup takes the URL, mode and token from the current
//! runtime config when no flag says otherwise), and tightens modes that expose the
//! runtime or the token. Nothing a person must decide is changed here.

use super::{Check, CheckId, FixKind, Inputs, Repair, Status};
use crate::cli::SetupArgs;
use crate::install::setup;
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
    let mut outcome = Outcome {
        fixed: Vec::new(),
        errors: Vec::new(),
    };

    if checks.iter().any(|c| planned(c) == Some(&Repair::Setup)) {
        let adopt = super::checks::edited_commands(inputs);
        match setup::apply_adopting(&setup_args(inputs, checks), &adopt) {
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

    // After setup, which keeps the modes of the files it rewrites.
    for check in checks {
        let Some(Repair::Chmod(paths)) = planned(check) else {
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
    SetupArgs {
        install_settings_only: true,
        silent: true,
        yes: true,
        runtime: runtime_intact(checks).then(|| inputs.layout.runtime_bin()),
        home: inputs.home_args.clone(),
        ..SetupArgs::default()
    }
}

/// The checks that vouch for the installed runtime being the one setup installed.
const RUNTIME_CHECKS: [CheckId; 3] = [
    CheckId::RuntimeBinary,
    CheckId::RuntimeVersion,
    CheckId::RuntimeChecksum,
];

fn runtime_intact(checks: &[Check]) -> bool {
    RUNTIME_CHECKS.iter().all(|id| {
        checks
            .iter()
            .any(|c| c.id == *id && matches!(c.status, Status::Pass | Status::Warn))
    })
}

/// The repair `--fix` makes for `check`: only one its id claims ([`CheckId::fixes`]),
/// for a failure (setup) or anything short of a pass (a mode is safe to tighten).
fn planned(check: &Check) -> Option<&Repair> {
    let kind = check.repair.kind()?;
    let due = match kind {
        FixKind::Setup => check.status == Status::Fail,
        FixKind::Chmod => matches!(check.status, Status::Fail | Status::Warn),
    };
    (due && check.id.fixes().contains(&kind)).then_some(&check.repair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_repair_the_check_claims_is_made() {
        let setup = Check::fail(CheckId::HooksTrust, "x").repair(Repair::Setup);
        assert_eq!(planned(&setup), Some(&Repair::Setup));
        // A repair an id does not claim is never made, even if a check asks for it.
        let mut unclaimed = Check::fail(CheckId::ServiceReachable, "x");
        unclaimed.repair = Repair::Setup;
        assert_eq!(planned(&unclaimed), None);
        let warned = Check::warn(CheckId::HooksTrust, "x").repair(Repair::Setup);
        assert_eq!(planned(&warned), None, "setup runs for failures only");
        let chmod = Repair::Chmod(vec![("/x".into(), 0o600)]);
        let warned = Check::warn(CheckId::ConfigPermissions, "x").repair(chmod.clone());
        assert_eq!(planned(&warned), Some(&chmod));
        let skipped = Check::skip(CheckId::ConfigPermissions, "x").repair(chmod);
        assert_eq!(planned(&skipped), None);
    }

    #[test]
    fn an_intact_runtime_is_reused_only_when_every_runtime_check_vouches_for_it() {
        let all = |status: fn(CheckId, &'static str) -> Check| -> Vec<Check> {
            RUNTIME_CHECKS.iter().map(|id| status(*id, "x")).collect()
        };
        assert!(runtime_intact(&all(Check::pass)));
        assert!(runtime_intact(&all(Check::warn)));
        assert!(!runtime_intact(&all(Check::fail)));
        assert!(!runtime_intact(&all(Check::skip)));
        assert!(!runtime_intact(&all(Check::pass)[1..]));
    }
}
