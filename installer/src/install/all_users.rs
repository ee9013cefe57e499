//! `--all-users`: the per-user install (or uninstall) for every real user of the
//! machine, run as that user.
//!
//! Each user's run is a child `codex-guard` process with that user's uid and gid (and
//! no supplementary groups), so every file it writes is theirs, a symlink they planted
//! cannot make root write elsewhere, and one user's broken config never stops the
//! others. Settings are resolved once, here, and handed down explicitly.

use crate::cli::{SetupArgs, UninstallArgs};
use crate::failure::{ExitCode, Failure};
use crate::report::{self, AllUsersReport, Status, Summary, UserReport};
use crate::settings::{self, Settings};
use crate::{fsutil, install::setup, safe_fs};
use anyhow::Result;
use codex_guard_common::{Layout, RuntimeConfig};
use codex_guard_hook::rules::Layer;
use std::path::{Path, PathBuf};

/// Users below this uid are system accounts.
pub const MIN_UID: u32 = 1000;
/// `nobody`: never a person.
const NOBODY: u32 = 65534;

/// One line of the passwd database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// The home directory as the system names it (`/home/alice`).
    pub home: PathBuf,
}

/// The people in `<root>/etc/passwd`: uid >= 1000 (not nobody) with a home directory.
pub fn real_users(root: &Path) -> Result<Vec<User>> {
    let path = root.join("etc/passwd");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Failure::bad_input(format!(
            "cannot read the users of this machine from {}: {e}",
            path.display()
        ))
        .hint("pass --system-root DIR for a tree whose etc/passwd lists its users")
    })?;
    Ok(parse_passwd(&text)
        .into_iter()
        .filter(|u| u.uid >= MIN_UID && u.uid != NOBODY && u.home.is_absolute())
        .collect())
}

fn parse_passwd(text: &str) -> Vec<User> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 7 || fields[0].is_empty() {
                return None;
            }
            Some(User {
                name: fields[0].to_string(),
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
                home: PathBuf::from(fields[5]),
            })
        })
        .collect()
}

/// What happened for one user.
struct Outcome {
    user: User,
    codex_home: PathBuf,
    status: Status,
    exit: Option<i32>,
    /// The child's own report, when it got as far as printing one.
    report: Option<Summary>,
    reason: Option<String>,
}

impl Outcome {
    fn skipped(user: &User, codex_home: PathBuf, reason: &str) -> Outcome {
        Outcome {
            user: user.clone(),
            codex_home,
            status: Status::Skipped,
            exit: None,
            report: None,
            reason: Some(reason.into()),
        }
    }

    fn failed(user: &User, codex_home: PathBuf, reason: String, exit: Option<i32>) -> Outcome {
        Outcome {
            user: user.clone(),
            codex_home,
            status: Status::Failed,
            exit,
            report: None,
            reason: Some(reason),
        }
    }

    fn changed(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.changed)
    }

    fn to_report(&self) -> UserReport {
        let summary = self.report.clone();
        let (changes, warnings, notes) = summary
            .map(|s| (s.changes, s.warnings, s.notes))
            .unwrap_or_default();
        UserReport {
            user: self.user.name.clone(),
            uid: self.user.uid,
            codex_home: self.codex_home.clone(),
            status: self.status,
            changed: self.changed(),
            exit_code: self.exit,
            changes,
            warnings,
            notes,
            reason: self.reason.clone(),
        }
    }
}

fn require_root() -> Result<(), Failure> {
    if cfg!(windows) {
        return Err(Failure::bad_input(
            "--all-users is not supported on Windows yet",
        ));
    }
    match fsutil::current_uid() {
        Some(0) => Ok(()),
        _ => Err(Failure::needs_root(
            "--all-users runs the install as each user of the machine and needs root",
        )),
    }
}

pub fn setup(args: &SetupArgs) -> Result<ExitCode> {
    require_root()?;
    let root = crate::home::canonical_path(&args.home.system_root)?;
    let inputs = if args.install_settings_only {
        Settings::from_flags(args)?
    } else {
        Settings::gather(args, &|name| std::env::var(name).ok())?
    };
    // Validate every input once, before any user is touched (an existing install
    // stands in for the settings left open: each user keeps their own).
    let resolved =
        settings::resolve_choices(&inputs, Some(&RuntimeConfig::default()), false, Layer::User)?;
    let runtime = setup::locate_runtime(args.runtime.as_deref())?;
    // The settings go to each user's run as a file it can read (the rules too: they may
    // sit where users cannot read them). The token goes by environment instead, never
    // in a file or on a command line other users can read.
    let shared = tempfile::Builder::new().prefix("codex-guard-").tempdir()?;
    let mut handed_down = Settings {
        token: None,
        token_file: None,
        ..inputs
    };
    if let Some(rules) = &resolved.rules {
        let path = shared.path().join("rules.toml");
        fsutil::write_atomic(&path, rules, 0o644)?;
        handed_down.rules = Some(path);
    }
    let settings_file = shared.path().join("settings.toml");
    fsutil::write_atomic(&settings_file, handed_down.to_file_text().as_bytes(), 0o644)?;
    allow_traversal(shared.path())?;

    let mut flags = vec![
        "setup".to_string(),
        "--silent".into(),
        "--json".into(),
        "--runtime".into(),
        runtime.to_string_lossy().into_owned(),
        "--parent-settings".into(),
        settings_file.to_string_lossy().into_owned(),
    ];
    if args.dry_run {
        flags.push("--dry-run".into());
    }
    if args.install_settings_only {
        flags.push("--keep-settings".into());
    }
    let token = resolved.token.clone();

    let users = real_users(&root)?;
    let outcomes: Vec<Outcome> = users
        .iter()
        .map(|user| {
            let home = rooted(&root, &user.home);
            let codex_home = home.join(".codex");
            if !home.is_dir() {
                return Outcome::skipped(user, codex_home, "no home directory");
            }
            if !codex_home.exists() && !args.include_users_without_codex {
                return Outcome::skipped(
                    user,
                    codex_home,
                    "no ~/.codex (Codex never ran; --include-users-without-codex installs anyway)",
                );
            }
            run_as(user, &home, &codex_home, &root, &flags, token.as_deref())
        })
        .collect();
    Ok(report(args.json, "setup", &outcomes))
}

pub fn uninstall(args: &UninstallArgs) -> Result<ExitCode> {
    require_root()?;
    let root = crate::home::canonical_path(&args.home.system_root)?;
    let mut flags = vec!["uninstall".to_string(), "--silent".into(), "--json".into()];
    if args.keep_logs {
        flags.push("--keep-logs".into());
    }
    if args.dry_run {
        flags.push("--dry-run".into());
    }
    let users = real_users(&root)?;
    let backups = match &args.backup_dir {
        Some(dir) if !args.dry_run => Some(backups_parent(dir)?),
        _ => None,
    };
    let outcomes: Vec<Outcome> = users
        .iter()
        .map(|user| {
            let home = rooted(&root, &user.home);
            let codex_home = home.join(".codex");
            if !Layout::new(&codex_home).guard_dir().exists() {
                return Outcome::skipped(
                    user,
                    codex_home,
                    "codex-guard is not installed for this user",
                );
            }
            let mut flags = flags.clone();
            if let Some(parent) = &backups {
                // Each user writes their safety backup into a directory of their own.
                let theirs = match give_dir(parent, user) {
                    Ok(theirs) => theirs,
                    Err(e) => return Outcome::failed(user, codex_home, format!("{e:#}"), None),
                };
                flags.extend(["--backup-dir".into(), theirs.to_string_lossy().into_owned()]);
            }
            run_as(user, &home, &codex_home, &root, &flags, None)
        })
        .collect();
    Ok(report(args.json, "uninstall", &outcomes))
}

/// The directory that holds each user's backup directory: `dir` itself, or, when
/// another account can write `dir`, a fresh directory of root's inside it (where no user
/// can plant a name). Each user can reach their own directory in it, and no more.
fn backups_parent(dir: &Path) -> Result<safe_fs::Dir> {
    let parent = safe_fs::Dir::open(dir, Some(0o755))?;
    if !parent.writable_by_others() {
        return Ok(parent);
    }
    let fresh = parent.create_private("codex-guard-backups-")?;
    fresh.set_mode(0o711)?;
    Ok(fresh)
}

/// Makes `<parent>/<user>` (0700) and gives it to `user`, through its descriptor: a link
/// or anything else planted at that name is refused, never followed.
#[cfg(unix)]
fn give_dir(parent: &safe_fs::Dir, user: &User) -> Result<PathBuf> {
    parent.give_subdir(std::ffi::OsStr::new(&user.name), user.uid, user.gid)
}

#[cfg(not(unix))]
fn give_dir(parent: &safe_fs::Dir, user: &User) -> Result<PathBuf> {
    let dir = parent.path().join(&user.name);
    fsutil::create_dir_all(&dir, 0o700)?;
    Ok(dir)
}

#[cfg(unix)]
fn allow_traversal(dir: &Path) -> Result<()> {
    safe_fs::Dir::open(dir, None)?.set_mode(0o755)
}

#[cfg(not(unix))]
fn allow_traversal(_dir: &Path) -> Result<()> {
    Ok(())
}

fn rooted(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

#[cfg(unix)]
fn run_as(
    user: &User,
    home: &Path,
    codex_home: &Path,
    root: &Path,
    flags: &[String],
    token: Option<&str>,
) -> Outcome {
    use std::os::unix::process::CommandExt;
    let failed = |reason: String, exit: Option<i32>| {
        Outcome::failed(user, codex_home.to_path_buf(), reason, exit)
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return failed(format!("cannot find codex-guard itself: {e}"), None),
    };
    let mut command = std::process::Command::new(exe);
    command
        .args(flags)
        .arg("--codex-home")
        .arg(codex_home)
        .arg("--system-root")
        .arg(root)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("HOME", home)
        .env("USER", &user.name)
        .env("LOGNAME", &user.name)
        .current_dir(home)
        .uid(user.uid)
        .gid(user.gid)
        .stdin(std::process::Stdio::null());
    if let Some(lang) = std::env::var_os("LANG") {
        command.env("LANG", lang);
    }
    if let Some(token) = token {
        command.env("CODEX_GUARD_TOKEN", token);
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(e) => return failed(format!("cannot run setup as {}: {e}", user.name), None),
    };
    let exit = output.status.code();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.starts_with("hint:"))
        .collect::<Vec<_>>()
        .join(" ");
    let Some(report) = Summary::from_stdout(&output.stdout) else {
        let reason = if error.is_empty() {
            stderr.trim().to_string()
        } else {
            error
        };
        return failed(reason, exit);
    };
    Outcome {
        user: user.clone(),
        codex_home: codex_home.to_path_buf(),
        status: report.status,
        exit,
        reason: (!error.is_empty()).then_some(error),
        report: Some(report),
    }
}

#[cfg(not(unix))]
fn run_as(
    user: &User,
    _home: &Path,
    codex_home: &Path,
    _root: &Path,
    _flags: &[String],
    _token: Option<&str>,
) -> Outcome {
    Outcome::skipped(
        user,
        codex_home.to_path_buf(),
        "not supported on this platform",
    )
}

fn report(json_out: bool, command: &str, outcomes: &[Outcome]) -> ExitCode {
    let changed = outcomes.iter().any(Outcome::changed);
    let troubled = outcomes
        .iter()
        .filter(|o| o.status == Status::Failed || o.exit.is_some_and(|c| c != 0))
        .count();
    if json_out {
        report::print(&AllUsersReport {
            schema_version: report::SCHEMA_VERSION,
            status: if changed {
                Status::Changed
            } else {
                Status::Unchanged
            },
            changed,
            scope: "all_users".into(),
            command: command.into(),
            users: outcomes.iter().map(Outcome::to_report).collect(),
            warnings: if troubled > 0 {
                vec![format!(
                    "{troubled} user(s) failed or are degraded: see users"
                )]
            } else {
                Vec::new()
            },
        });
    } else {
        if outcomes.is_empty() {
            eprintln!("codex-guard: no users with uid >= {MIN_UID} on this machine");
        }
        for o in outcomes {
            let detail = o
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            eprintln!("  {:<16} {}{detail}", o.user.name, o.status.as_str());
            for note in o.report.iter().flat_map(|r| &r.notes) {
                eprintln!("  {:<16} note: {note}", "");
            }
        }
    }
    if troubled > 0 {
        ExitCode::Degraded
    } else {
        ExitCode::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_are_read_and_system_accounts_left_out() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken line\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbob:x:1001:100::/home/bob b:/bin/zsh\nsvc:x:999:999::/var/svc:/bin/false\n",
        )
        .unwrap();
        let users = real_users(dir.path()).unwrap();
        let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert_eq!(users[1].home, PathBuf::from("/home/bob b"));
        assert_eq!(users[1].gid, 100);
    }
}
