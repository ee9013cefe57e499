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
mod managed;
pub(crate) mod process;
mod shell_env;
mod tamper_rules;

use crate::cli::{DoctorArgs, HomeArgs};
use crate::failure::{ExitCode, Failure};
use crate::home;
use crate::hooks_json::shell_quote;
use anyhow::Result;
use codex_guard_common::Layout;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Version of the `--json` document.
pub const SCHEMA_VERSION: u32 = 1;

/// Checks whose failure means our hooks cannot run at all ("unprotected"), as opposed
/// to running with less than they should ("degraded").
const PROTECTION_CHECKS: [&str; 7] = [
    "codex.hooks_feature",
    "codex.managed_policy",
    "hooks_json.valid",
    "hooks_json.handlers",
    "hooks.trust",
    "codex.hooks_list",
    "runtime.binary",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
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

/// The result of one check.
#[derive(Debug, Clone)]
pub struct Check {
    pub id: &'static str,
    pub status: Status,
    /// What was found; for a warning or failure, what is wrong.
    pub message: String,
    /// The command (or action) that fixes it.
    pub fix: Option<String>,
    pub repair: Repair,
    /// What the check found, as fields added to its `--json` entry.
    pub data: Option<Map<String, Value>>,
}

impl Check {
    pub fn pass(id: &'static str, message: impl Into<String>) -> Check {
        Check {
            id,
            status: Status::Pass,
            message: message.into(),
            fix: None,
            repair: Repair::Manual,
            data: None,
        }
    }

    pub fn warn(id: &'static str, message: impl Into<String>) -> Check {
        Check {
            status: Status::Warn,
            ..Check::pass(id, message)
        }
    }

    pub fn fail(id: &'static str, message: impl Into<String>) -> Check {
        Check {
            status: Status::Fail,
            ..Check::pass(id, message)
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }

    pub fn repair(mut self, repair: Repair) -> Check {
        self.repair = repair;
        self
    }

    /// Adds the fields of `data` (an object) to the check's `--json` entry.
    pub fn data(mut self, data: Value) -> Check {
        if let Value::Object(fields) = data {
            self.data = Some(fields);
        }
        self
    }
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Healthy,
    Degraded,
    Unprotected,
}

impl Health {
    pub fn of(checks: &[Check]) -> Health {
        let failed = |c: &&Check| c.status == Status::Fail;
        if checks
            .iter()
            .filter(failed)
            .any(|c| PROTECTION_CHECKS.contains(&c.id))
        {
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

pub fn run(args: DoctorArgs) -> Result<ExitCode> {
    let inputs = Inputs::resolve(&args)?;
    // A machine-wide install is checked as such: asked for, or when it is what
    // protects this user (no per-user install of their own).
    let system = if args.managed {
        Some(crate::managed::SystemLayout::discover(
            &crate::home::canonical_path(&inputs.system_root)?,
        ))
    } else if !inputs.layout.receipt().exists() {
        managed::present(&crate::home::canonical_path(&inputs.system_root)?)
    } else {
        None
    };
    if let Some(sys) = system {
        if args.fix {
            eprintln!("note: --fix repairs per-user installs; run `codex-guard setup --managed` to repair this one");
        }
        let checks = managed::run_all(&inputs, &sys);
        let health = Health::of(&checks);
        if args.json {
            let mut out = to_json(&inputs.layout, health, &checks, None);
            out["scope"] = "managed".into();
            out["system_root"] = json!(sys.root);
            println!("{out}");
        } else {
            print!("{}", to_human(&inputs.layout, health, &checks, None));
        }
        return Ok(health.exit_code());
    }
    let mut checks = checks::run_all(&inputs);
    let fixed = if args.fix {
        let outcome = fix::repair(&inputs, &checks);
        for error in &outcome.errors {
            eprintln!("error: {error}");
        }
        checks = checks::run_all(&inputs);
        Some(outcome.fixed)
    } else {
        None
    };
    let health = Health::of(&checks);
    if args.json {
        println!("{}", {
            let mut out = to_json(&inputs.layout, health, &checks, fixed.as_deref());
            out["scope"] = "user".into();
            out
        });
    } else {
        print!(
            "{}",
            to_human(&inputs.layout, health, &checks, fixed.as_deref())
        );
    }
    Ok(health.exit_code())
}

fn to_json(
    layout: &Layout,
    health: Health,
    checks: &[Check],
    fixed: Option<&[fix::Fixed]>,
) -> Value {
    let mut out = json!({
        "schema_version": SCHEMA_VERSION,
        "status": health.as_str(),
        "codex_home": layout.codex_home,
        "checks": checks.iter().map(|c| {
            let mut entry = json!({
                "id": c.id,
                "status": c.status.as_str(),
                "message": c.message,
                "fix": c.fix,
            });
            if let (Some(data), Some(fields)) = (&c.data, entry.as_object_mut()) {
                fields.extend(data.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            entry
        }).collect::<Vec<_>>(),
    });
    if let Some(fixed) = fixed {
        out["fixed"] = fixed
            .iter()
            .map(|f| json!({"path": f.path, "action": f.action}))
            .collect();
    }
    out
}

/// One line per repair, one per check, then the verdict.
fn to_human(
    layout: &Layout,
    health: Health,
    checks: &[Check],
    fixed: Option<&[fix::Fixed]>,
) -> String {
    let mut out = String::new();
    if let Some(fixed) = fixed {
        for f in fixed {
            out.push_str(&format!("fixed  {:<9}  {}\n", f.action, f.path.display()));
        }
    }
    let width = checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for check in checks {
        out.push_str(&format!(
            "{:<4}  {:<width$}  {}",
            check.status.as_str(),
            check.id,
            check.message
        ));
        if let (Some(fix), true) = (&check.fix, check.status != Status::Pass) {
            out.push_str(&format!("  [fix: {fix}]"));
        }
        out.push('\n');
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let verdict = match health {
        Health::Healthy => "codex-guard's hooks run",
        Health::Degraded => "codex-guard's hooks run, but not as configured",
        Health::Unprotected => "codex-guard's hooks cannot run",
    };
    out.push_str(&format!(
        "{}: {verdict} ({} pass, {} warn, {} fail) in {}{}\n",
        health.as_str(),
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        layout.codex_home.display(),
        match fixed {
            Some(f) => format!(", after {} fix(es)", f.len()),
            None => String::new(),
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_separates_unprotected_from_degraded() {
        let pass = Check::pass("runtime.binary", "ok");
        let warn = Check::warn("codex.cli", "no codex");
        assert_eq!(Health::of(&[pass.clone(), warn.clone()]), Health::Healthy);
        let degraded = Check::fail("service.reachable", "down");
        assert_eq!(
            Health::of(&[pass.clone(), degraded.clone()]),
            Health::Degraded
        );
        let unprotected = Check::fail("hooks.trust", "modified");
        assert_eq!(
            Health::of(&[degraded, unprotected, warn]),
            Health::Unprotected
        );
    }

    #[test]
    fn human_lines_carry_status_id_message_and_fix() {
        let checks = [
            Check::pass("codex.cli", "codex-cli 0.169.0").fix("never shown"),
            Check::fail("hooks.trust", "PreToolUse is modified").fix("codex-guard setup"),
        ];
        let text = to_human(
            &Layout::new("/h/.codex"),
            Health::of(&checks),
            &checks,
            None,
        );
        assert_eq!(
            text,
            "pass  codex.cli    codex-cli 0.169.0\n\
             fail  hooks.trust  PreToolUse is modified  [fix: codex-guard setup]\n\
             unprotected: codex-guard's hooks cannot run (1 pass, 0 warn, 1 fail) in /h/.codex\n"
        );
    }
}
