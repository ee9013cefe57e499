//! `codex-guard doctor`: says whether the guard really runs, one check at a time, and
//! what command repairs each problem; `--fix` repairs what it can by re-running the
//! idempotent parts of setup, then checks again.
//!
//! A hook Codex silently skips looks exactly like a hook that found nothing to block,
//! so every condition that makes Codex skip ours (hooks turned off, a machine policy,
//! a missing handler, a trust record that no longer matches) is checked, and Codex
//! itself is asked when it is installed.

mod checks;
pub(crate) mod codex;
mod fix;
mod id;
pub(crate) mod process;
mod shell_env;
mod tamper_rules;

pub use checks::Scope;
pub use id::{CheckId, FixKind};

use crate::cli::{DoctorArgs, HomeArgs};
use crate::edit::hooks_json::shell_quote;
use crate::failure::{ExitCode, Failure};
use crate::home;
use anyhow::Result;
use codex_guard_common::Layout;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Version of the `--json` document.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not checked: there was nothing to look at, or it does not apply here. Says why.
    Skip,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// What `--fix` can do about a failed check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// Nothing: the fix needs a person (or an administrator).
    Manual,
    /// Re-running setup with the install's own settings repairs it.
    Setup,
    /// Setting these files' modes repairs it.
    Chmod(Vec<(PathBuf, u32)>),
}

impl Repair {
    /// The kind of repair, for comparing with what a check claims [`CheckId::fixes`].
    pub fn kind(&self) -> Option<FixKind> {
        match self {
            Repair::Manual => None,
            Repair::Setup => Some(FixKind::Setup),
            Repair::Chmod(_) => Some(FixKind::Chmod),
        }
    }
}

/// The result of one check.
#[derive(Debug, Clone)]
pub struct Check {
    pub id: CheckId,
    pub status: Status,
    /// What was found; for a warning or failure, what is wrong; for a skip, why.
    pub message: String,
    /// The command (or action) that fixes it.
    pub fix: Option<String>,
    pub repair: Repair,
    /// What the check found, as fields added to its `--json` entry.
    pub data: Option<Map<String, Value>>,
}

impl Check {
    pub fn pass(id: CheckId, message: impl Into<String>) -> Check {
        Check {
            id,
            status: Status::Pass,
            message: message.into(),
            fix: None,
            repair: Repair::Manual,
            data: None,
        }
    }

    pub fn warn(id: CheckId, message: impl Into<String>) -> Check {
        Check {
            status: Status::Warn,
            ..Check::pass(id, message)
        }
    }

    pub fn fail(id: CheckId, message: impl Into<String>) -> Check {
        Check {
            status: Status::Fail,
            ..Check::pass(id, message)
        }
    }

    /// A check that looked at nothing; `why` says what was missing or why it does not apply.
    pub fn skip(id: CheckId, why: impl Into<String>) -> Check {
        Check {
            status: Status::Skip,
            ..Check::pass(id, why)
        }
    }

    #[must_use]
    pub fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    /// What `--fix` does about it: only a kind of repair the check's id claims, so
    /// the documented coverage of `--fix` is the whole of it.
    #[must_use]
    pub fn repair(mut self, repair: Repair) -> Check {
        debug_assert!(
            repair.kind().is_none_or(|k| self.id.fixes().contains(&k)),
            "{} does not claim {repair:?}",
            self.id
        );
        self.repair = repair;
        self
    }

    /// Adds the fields of `data` (an object) to the check's `--json` entry.
    #[must_use]
    pub fn data(mut self, data: Value) -> Check {
        if let Value::Object(fields) = data {
            self.data = Some(fields);
        }
        self
    }
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Degraded,
    Unprotected,
}

impl Health {
    pub fn of(checks: &[Check]) -> Health {
        let failed = |c: &&Check| c.status == Status::Fail;
        if checks.iter().filter(failed).any(|c| c.id.protects()) {
            Health::Unprotected
        } else if checks.iter().any(|c| c.status == Status::Fail) {
            Health::Degraded
        } else {
            Health::Healthy
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Unprotected => "unprotected",
        }
    }

    fn exit_code(self) -> ExitCode {
        match self {
            Health::Healthy => ExitCode::Ok,
            Health::Degraded | Health::Unprotected => ExitCode::Degraded,
        }
    }
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub schema_version: u32,
    pub status: Health,
    /// `user` (a Codex home) or `managed` (machine-wide).
    pub scope: &'static str,
    /// Anything of codex-guard is installed in this scope; when not, `checks` holds
    /// the one finding that says so.
    pub installed: bool,
    pub codex_home: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_root: Option<&'a Path>,
    pub checks: Vec<CheckEntry<'a>>,
    /// What `--fix` changed; only with `--fix`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<Vec<FixedEntry<'a>>>,
}

/// One check in the `--json` document.
#[derive(Debug, Serialize)]
pub struct CheckEntry<'a> {
    pub id: CheckId,
    pub status: Status,
    pub message: &'a str,
    pub fix: Option<&'a str>,
    /// Check-specific fields (`packs` of `rules.packs`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a Map<String, Value>>,
}

/// One change `--fix` made.
#[derive(Debug, Serialize)]
pub struct FixedEntry<'a> {
    pub path: &'a Path,
    pub action: &'a str,
}

/// Everything the checks work from, validated once.
pub struct Inputs {
    pub home_args: HomeArgs,
    pub layout: Layout,
    pub system_root: PathBuf,
    pub codex_bin: codex::CodexBin,
    /// `--codex-home '<dir>'` when the home was given on the command line, so the
    /// fix commands we print act on the same home.
    home_flag: String,
}

impl Inputs {
    fn resolve(args: &DoctorArgs) -> Result<Inputs> {
        let layout = home::resolve(&args.home)?;
        check_dir_argument(&layout.codex_home, "the Codex home", true)?;
        check_dir_argument(&args.home.system_root, "--system-root", false)?;
        let home_flag = match &args.home.codex_home {
            Some(_) => format!(" --codex-home {}", shell_quote(&layout.codex_home)),
            None => String::new(),
        };
        Ok(Inputs {
            home_args: args.home.clone(),
            system_root: args.home.system_root.clone(),
            codex_bin: codex::CodexBin::locate(args.codex_bin.as_deref()),
            layout,
            home_flag,
        })
    }

    /// `codex-guard <subcommand>` for this home, as a person would type it.
    pub fn guard_command(&self, subcommand: &str) -> String {
        format!("codex-guard {subcommand}{}", self.home_flag)
    }

    /// Machine-wide Codex files (`/etc/codex/...`) below `--system-root`.
    pub fn system_file(&self, name: &str) -> PathBuf {
        self.system_root.join("etc/codex").join(name)
    }
}

/// A directory argument must be a readable directory; a missing Codex home is allowed
/// (it means nothing is installed, which the checks report).
fn check_dir_argument(path: &Path, what: &str, may_be_missing: bool) -> Result<(), Failure> {
    let bad = |reason: String| {
        Failure::bad_input(format!("{what} {} {reason}", path.display()))
            .hint("pass an existing, readable directory")
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::read_dir(path)
            .map(drop)
            .map_err(|e| bad(format!("cannot be read ({e})"))),
        Ok(_) => Err(bad("is not a directory".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_be_missing => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(bad("does not exist".into())),
        Err(e) => Err(bad(format!("cannot be read ({e})"))),
    }
}

pub fn run(args: &DoctorArgs) -> Result<ExitCode> {
    let inputs = Inputs::resolve(args)?;
    // A machine-wide install is checked as such: asked for, or when it is what
    // protects this user (no per-user install of their own).
    let scope = if args.managed {
        Scope::Machine(crate::install::managed::SystemLayout::discover(
            &crate::home::canonical_path(&inputs.system_root)?,
        ))
    } else if !inputs.layout.receipt().exists() {
        crate::install::managed::installed(&crate::home::canonical_path(&inputs.system_root)?)
            .map_or(Scope::User, |(sys, _)| Scope::Machine(sys))
    } else {
        Scope::User
    };
    let (checks, fixed, installed) = match checks::nothing_installed(&inputs, &scope) {
        Some(none) => {
            if args.fix {
                eprintln!("note: --fix repairs an install, and there is none here");
            }
            (vec![none], None, false)
        }
        None if args.fix && matches!(scope, Scope::Machine(_)) => {
            eprintln!("note: --fix repairs per-user installs; run `codex-guard setup --managed` to repair this one");
            (checks::run_all(&inputs, &scope), None, true)
        }
        None if args.fix => {
            let outcome = fix::repair(&inputs, &checks::run_all(&inputs, &scope));
            for error in &outcome.errors {
                eprintln!("error: {error}");
            }
            (checks::run_all(&inputs, &scope), Some(outcome.fixed), true)
        }
        None => (checks::run_all(&inputs, &scope), None, true),
    };
    // With nothing installed, nothing runs our hooks.
    let health = if installed {
        Health::of(&checks)
    } else {
        Health::Unprotected
    };
    let findings = Findings {
        layout: &inputs.layout,
        scope: &scope,
        installed,
        health,
        checks: &checks,
        fixed: fixed.as_deref(),
    };
    if args.json {
        println!("{}", findings.json());
    } else {
        print!("{}", findings.human());
    }
    Ok(health.exit_code())
}

/// What doctor found, ready to print either way.
struct Findings<'a> {
    layout: &'a Layout,
    scope: &'a Scope,
    installed: bool,
    health: Health,
    checks: &'a [Check],
    fixed: Option<&'a [fix::Fixed]>,
}

impl Findings<'_> {
    fn report(&self) -> Report<'_> {
        Report {
            schema_version: SCHEMA_VERSION,
            status: self.health,
            scope: self.scope.name(),
            installed: self.installed,
            codex_home: &self.layout.codex_home,
            system_root: match self.scope {
                Scope::Machine(sys) => Some(&sys.root),
                Scope::User => None,
            },
            checks: self
                .checks
                .iter()
                .map(|c| CheckEntry {
                    id: c.id,
                    status: c.status,
                    message: &c.message,
                    fix: c.fix.as_deref(),
                    data: c.data.as_ref(),
                })
                .collect(),
            fixed: self.fixed.map(|fixed| {
                fixed
                    .iter()
                    .map(|f| FixedEntry {
                        path: &f.path,
                        action: &f.action,
                    })
                    .collect()
            }),
        }
    }

    fn json(&self) -> String {
        serde_json::to_string(&self.report()).expect("the report is plain data")
    }

    /// One line per repair, one per check, then the verdict; one line alone when
    /// nothing is installed.
    fn human(&self) -> String {
        let (health, checks) = (self.health, self.checks);
        if !self.installed {
            return checks
                .iter()
                .map(|c| match &c.fix {
                    Some(fix) => format!("{}: {}: run `{fix}`\n", health.as_str(), c.message),
                    None => format!("{}: {}\n", health.as_str(), c.message),
                })
                .collect();
        }
        let mut out = String::new();
        for f in self.fixed.unwrap_or_default() {
            _ = writeln!(out, "fixed  {:<9}  {}", f.action, f.path.display());
        }
        let width = checks
            .iter()
            .map(|c| c.id.as_str().len())
            .max()
            .unwrap_or(0);
        for check in checks {
            _ = write!(
                out,
                "{:<4}  {:<width$}  {}",
                check.status.as_str(),
                check.id.as_str(),
                check.message
            );
            if let (Some(fix), Status::Warn | Status::Fail) = (&check.fix, check.status) {
                _ = write!(out, "  [fix: {fix}]");
            }
            out.push('\n');
        }
        let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
        let verdict = match health {
            Health::Healthy => "codex-guard's hooks run",
            Health::Degraded => "codex-guard's hooks run, but not as configured",
            Health::Unprotected => "codex-guard's hooks cannot run",
        };
        let skipped = match count(Status::Skip) {
            0 => String::new(),
            n => format!(", {n} skipped"),
        };
        let place = match self.scope {
            Scope::Machine(sys) => format!("the machine-wide install under {}", sys.root.display()),
            Scope::User => self.layout.codex_home.display().to_string(),
        };
        _ = writeln!(
            out,
            "{}: {verdict} ({} pass, {} warn, {} fail{skipped}) in {place}{}",
            health.as_str(),
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail),
            match self.fixed {
                Some(f) => format!(", after {} fix(es)", f.len()),
                None => String::new(),
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_separates_unprotected_from_degraded() {
        let pass = Check::pass(CheckId::RuntimeBinary, "ok");
        let warn = Check::warn(CheckId::CodexCli, "no codex");
        let skip = Check::skip(CheckId::ConfigPermissions, "nothing to look at");
        assert_eq!(
            Health::of(&[pass.clone(), warn.clone(), skip]),
            Health::Healthy
        );
        let degraded = Check::fail(CheckId::ServiceReachable, "down");
        assert_eq!(
            Health::of(&[pass.clone(), degraded.clone()]),
            Health::Degraded
        );
        let unprotected = Check::fail(CheckId::HooksTrust, "modified");
        assert_eq!(
            Health::of(&[degraded, unprotected, warn]),
            Health::Unprotected
        );
    }

    #[test]
    fn human_lines_carry_status_id_message_and_fix() {
        let checks = [
            Check::pass(CheckId::CodexCli, "codex-cli 0.169.0").fix("never shown"),
            Check::skip(CheckId::ConfigPermissions, "not checked: no file").fix("never shown"),
            Check::fail(CheckId::HooksTrust, "PreToolUse is modified").fix("codex-guard setup"),
        ];
        let layout = Layout::new("/h/.codex");
        let outcome = Findings {
            layout: &layout,
            scope: &Scope::User,
            installed: true,
            health: Health::of(&checks),
            checks: &checks,
            fixed: None,
        };
        assert_eq!(
            outcome.human(),
            "pass  codex.cli           codex-cli 0.169.0\n\
             skip  config.permissions  not checked: no file\n\
             fail  hooks.trust         PreToolUse is modified  [fix: codex-guard setup]\n\
             unprotected: codex-guard's hooks cannot run (1 pass, 0 warn, 1 fail, 1 skipped) in /h/.codex\n"
        );
    }
}
