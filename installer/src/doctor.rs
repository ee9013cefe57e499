//! `codex-guard doctor`.

use crate::failure::ExitCode;
use anyhow::Result;

pub fn run(_args: crate::cli::DoctorArgs) -> Result<ExitCode> {
    anyhow::bail!("codex-guard doctor is not available in this build")
}
