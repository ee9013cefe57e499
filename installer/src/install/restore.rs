//! `codex-guard restore`: puts the files of a backup back, but never silently over a
//! file that was changed after the backup's operation (that would lose someone's edit).

use crate::cli::RestoreArgs;
use crate::failure::{ExitCode, Failure};
use crate::fsutil::{self, Lock};
use crate::install::backup::{self, Archive, FileEntry};
use crate::install::Transaction;
use crate::report::{self, RestoreReport};
use crate::{home, ui};
use anyhow::{Context, Result};
use codex_guard_common::Layout;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What restoring one file means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// The file already holds the backup's content (or is absent, as in the backup).
    Unchanged,
    /// The file is as the backed-up operation left it: safe to put back.
    Restore,
    /// Changed by someone after the backup's operation: only with `--force`.
    Conflict,
}

struct Step {
    entry: FileEntry,
    path: PathBuf,
    current: Option<Vec<u8>>,
    action: Action,
    /// What the file is to hold: the archive's bytes, or those of the identical copy
    /// of a program the archive records by hash (`None`: remove it, or no copy found).
    content: Option<Vec<u8>>,
    /// Where a program recorded by hash was copied from.
    copied_from: Option<PathBuf>,
}

impl Step {
    fn verb(&self) -> &'static str {
        match (&self.entry.sha256, &self.current) {
            (None, _) => "remove",
            (Some(_), None) => "create",
            (Some(_), Some(_)) => "replace",
        }
    }

    /// A program recorded by hash that is to be put back, with no identical copy found.
    fn missing(&self) -> Option<(&backup::Reference, &str)> {
        let reference = self.entry.reference.as_ref()?;
        let sha256 = self.entry.sha256.as_deref()?;
        (self.action != Action::Unchanged && self.content.is_none()).then_some((reference, sha256))
    }
}

pub fn run(args: &RestoreArgs) -> Result<ExitCode> {
    let layout = home::resolve(&args.home)?;
    let archive_path = archive_to_restore(args, &layout)?;
    let archive = Archive::read(&archive_path)?;

    // Planned without the lock, whose file would be the first thing written: a dry
    // run, a refusal, a "no" or Ctrl-C at the question leave the home as it was.
    let steps = plan(&layout, &archive)?;
    let conflicts: Vec<&Step> = steps
        .iter()
        .filter(|s| s.action == Action::Conflict)
        .collect();
    let work = to_write(&steps, args.force);
    let missing = to_miss(&steps, args.force);

    let diff = args.dry_run.then(|| render_diff(&layout, &steps));
    if let (Some(diff), false) = (&diff, args.json) {
        print!("{diff}");
    }
    if !conflicts.is_empty() && !args.force {
        return Err(refuse(args, &layout, &archive_path, &conflicts, diff));
    }

    if args.dry_run || work.is_empty() {
        report(args, &archive_path, &work, &missing, None, diff);
        return Ok(exit_code(&missing));
    }
    let asked = !args.yes && !args.json && ui::stdin_is_terminal();
    if asked {
        for step in &work {
            eprintln!("  {:8} {}", step.verb(), step.path.display());
        }
        if !ui::confirm(&format!(
            "Restore these files from {}?",
            archive_path.display()
        ))? {
            eprintln!("Nothing was changed.");
            return Ok(ExitCode::Ok);
        }
    }

    let confirmed = work_key(&work);
    let _lock = Lock::acquire(&layout.lock_file(), Duration::from_secs(30))?;
    fsutil::remove_stale_temps(&[
        layout.codex_home.clone(),
        layout.guard_dir(),
        layout.bin_dir(),
        layout.backups_dir(),
    ]);
    // Planned again under the lock: another command may have changed the files since.
    let steps = plan(&layout, &archive)?;
    let work = to_write(&steps, args.force);
    let missing = to_miss(&steps, args.force);
    if asked && work_key(&work) != confirmed {
        return Err(Failure {
            code: ExitCode::Degraded,
            message: "the files changed while restore was asking; nothing was written".into(),
            hint: Some("run restore again to see the changes as they are now".into()),
        }
        .into());
    }
    let conflicts: Vec<&Step> = steps
        .iter()
        .filter(|s| s.action == Action::Conflict)
        .collect();
    if !conflicts.is_empty() && !args.force {
        return Err(refuse(args, &layout, &archive_path, &conflicts, None));
    }
    for step in &work {
        fsutil::check_writable(&step.path)?;
    }
    let safety = write(&layout, &work)?;
    let done = Done {
        safety: &safety,
        listed: asked,
    };
    report(args, &archive_path, &work, &missing, Some(done), None);
    Ok(exit_code(&missing))
}

/// The archive named, or with `--latest` the newest one not taken by restore itself:
/// after a restore that was interrupted, running it again must finish it, not undo it.
fn archive_to_restore(args: &RestoreArgs, layout: &Layout) -> Result<PathBuf> {
    if let Some(file) = &args.file {
        return Ok(file.clone());
    }
    Ok(backup::list_archives(&layout.backups_dir())?
        .into_iter()
        .find(|path| backup::label_of(path) != Some("restore"))
        .ok_or_else(|| {
            Failure::bad_input(format!(
                "there are no backups in {}",
                layout.backups_dir().display()
            ))
            .hint("pass the backup file to restore")
        })?)
}

/// Backs up the files as they are (with the backup's contents as their "after"),
/// then writes `work` in one transaction. Returns the safety backup.
fn write(layout: &Layout, work: &[&Step]) -> Result<PathBuf> {
    // The current state is itself backed up, with the backup's contents as its "after".
    let entries: Vec<backup::Entry> = work
        .iter()
        .map(|s| {
            let after = backup::After::Hash(s.entry.sha256.clone());
            backup::Entry::of(layout, &s.path, after)
        })
        .collect();
    let safety = backup::create(
        &layout.backups_dir(),
        "restore",
        &layout.codex_home,
        &entries,
        Some(backup::backups_keep(layout)),
    )?;
    // Every file restored so far goes back as it was if a later one fails.
    let mut tx = Transaction::new("restore");
    for step in work {
        // A file that exists keeps its mode; a new one gets the backed-up mode.
        let mode = step.entry.mode.unwrap_or(0o600);
        let restored = tx.run(&step.path, step.current.as_deref(), mode, || {
            match &step.content {
                Some(bytes) => {
                    if let Some(parent) = step.path.parent() {
                        fsutil::create_dir_all(parent, 0o700)?;
                    }
                    fsutil::write_atomic(&step.path, bytes, mode)
                }
                None => fs_err::remove_file(fsutil::write_target(&step.path)?)
                    .with_context(|| format!("cannot remove {}", step.path.display())),
            }
        });
        if let Err(error) = restored {
            let undo = format!("`codex-guard restore {}` to go back", safety.display());
            return Err(tx.roll_back(error, &undo));
        }
    }
    tx.commit();
    Ok(safety)
}

/// A restore that could not put back a program recorded by hash left the install
/// incomplete (exit 1); the report said what to reinstall.
fn exit_code(missing: &[&Step]) -> ExitCode {
    if missing.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Degraded
    }
}

/// Restore refuses to overwrite a file changed after the backup's operation: the JSON
/// answer (with a dry run's diff) on stdout, and the error.
fn refuse(
    args: &RestoreArgs,
    layout: &Layout,
    archive: &Path,
    conflicts: &[&Step],
    diff: Option<String>,
) -> anyhow::Error {
    if args.json {
        report::print(&RestoreReport {
            schema_version: report::SCHEMA_VERSION,
            status: "refused".into(),
            changed: false,
            dry_run: args.dry_run,
            backup_restored: archive.to_path_buf(),
            changes: Vec::new(),
            missing: Vec::new(),
            conflicts: conflicts
                .iter()
                .map(|s| report::Conflict {
                    path: s.path.clone(),
                    action: s.verb().into(),
                    changed_since_backup: true,
                })
                .collect(),
            backup: None,
            diff,
        });
    }
    refusal(layout, archive, conflicts, args.dry_run).into()
}

/// The refusal's message: the files, how to see what would be lost, how to go ahead.
fn refusal(layout: &Layout, archive: &Path, conflicts: &[&Step], dry_run: bool) -> Failure {
    let names: Vec<String> = conflicts
        .iter()
        .map(|s| s.path.display().to_string())
        .collect();
    let flag = home::Reach::of(&layout.codex_home).flag.unwrap_or_default();
    let archive_word = home::quote_for_shell(archive);
    let message = format!(
        "{} changed after the backup {} was taken; restoring would lose those changes",
        names.join(", "),
        archive.display()
    );
    let (message, hint) = if dry_run {
        (
            format!("{message} (dry run: restore would refuse; nothing was changed)"),
            format!(
                "the diff above shows them; `codex-guard restore --force{flag} {archive_word}` overwrites them"
            ),
        )
    } else {
        (
            message,
            format!(
                "see what differs with `codex-guard restore --dry-run{flag} {archive_word}`, \
                 then run restore again with --force to overwrite"
            ),
        )
    };
    Failure {
        code: ExitCode::Degraded,
        message,
        hint: Some(hint),
    }
}

/// The diff from the files as they are now to the backup's, for every file restoring
/// would change (those changed since the backup too: the diff shows what `--force`
/// would lose).
fn render_diff(layout: &Layout, steps: &[Step]) -> String {
    crate::diff::render(
        steps
            .iter()
            .filter(|s| s.action != Action::Unchanged)
            .map(|s| crate::diff::FileDiff {
                path: &s.path,
                before: s.current.as_deref(),
                after: s.content.as_deref(),
                show: crate::diff::Show::for_file(layout, &s.path),
            }),
    )
}

/// What a restore that wrote files has to report beyond them.
struct Done<'a> {
    /// The archive of the files as they were before the restore.
    safety: &'a Path,
    /// The files were listed with the confirmation question.
    listed: bool,
}

/// The steps to carry out: those safe to restore, and with `force` those changed
/// since the backup.
fn wanted(step: &Step, force: bool) -> bool {
    step.action == Action::Restore || (force && step.action == Action::Conflict)
}

/// The steps that write: the wanted ones that have their content.
fn to_write(steps: &[Step], force: bool) -> Vec<&Step> {
    steps
        .iter()
        .filter(|s| wanted(s, force) && s.missing().is_none())
        .collect()
}

/// The wanted steps of programs recorded by hash with no identical copy to restore.
fn to_miss(steps: &[Step], force: bool) -> Vec<&Step> {
    steps
        .iter()
        .filter(|s| wanted(s, force) && s.missing().is_some())
        .collect()
}

/// What a set of steps would do, to tell whether it is still the one confirmed.
fn work_key(work: &[&Step]) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    work.iter()
        .map(|s| (s.path.clone(), s.current.clone()))
        .collect()
}

fn plan(layout: &Layout, archive: &Archive) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for entry in &archive.files {
        let path = entry
            .name
            .split('/')
            .fold(layout.codex_home.clone(), |p, part| p.join(part));
        let current = fsutil::read_optional(&fsutil::write_target(&path)?)?;
        let current_hash = current.as_deref().map(fsutil::sha256_hex);
        let action = if current_hash == entry.sha256 {
            Action::Unchanged
        } else if current_hash == entry.after_sha256 {
            Action::Restore
        } else {
            Action::Conflict
        };
        let (content, copied_from) = match (&entry.reference, &entry.sha256) {
            (Some(reference), Some(sha256)) if action != Action::Unchanged => {
                match reference.find(sha256) {
                    Some((place, bytes)) => (Some(bytes), Some(place)),
                    None => (None, None),
                }
            }
            _ => (entry.content.clone(), None),
        };
        steps.push(Step {
            entry: entry.clone(),
            path,
            current,
            action,
            content,
            copied_from,
        });
    }
    Ok(steps)
}

fn report(
    args: &RestoreArgs,
    archive: &Path,
    work: &[&Step],
    missing: &[&Step],
    done: Option<Done<'_>>,
    diff: Option<String>,
) {
    let dry_run = args.dry_run;
    if args.json {
        let status = if !missing.is_empty() {
            "incomplete"
        } else if work.is_empty() {
            "unchanged"
        } else if dry_run {
            "planned"
        } else {
            "restored"
        };
        report::print(&RestoreReport {
            schema_version: report::SCHEMA_VERSION,
            status: status.into(),
            changed: !work.is_empty() && !dry_run,
            dry_run,
            backup_restored: archive.to_path_buf(),
            changes: work
                .iter()
                .map(|s| report::RestoredFile {
                    path: s.path.clone(),
                    action: s.verb().into(),
                    copied_from: s.copied_from.clone(),
                })
                .collect(),
            missing: missing
                .iter()
                .filter_map(|s| {
                    let (reference, sha256) = s.missing()?;
                    Some(report::MissingProgram {
                        path: s.path.clone(),
                        program: reference.program.clone(),
                        version: reference.version.clone(),
                        sha256: sha256.to_string(),
                        size: reference.size,
                        hint: reference.reinstall_hint(sha256),
                    })
                })
                .collect(),
            conflicts: Vec::new(),
            backup: done.as_ref().map(|d| d.safety.to_path_buf()),
            diff,
        });
        return;
    }
    if work.is_empty() && missing.is_empty() {
        eprintln!(
            "codex-guard: unchanged (every file already matches {})",
            archive.display()
        );
        return;
    }
    match &done {
        Some(Done { listed: true, .. }) => eprintln!(
            "codex-guard: restored the {} file(s) listed above from {}",
            work.len(),
            archive.display()
        ),
        _ => {
            let lead = if dry_run { "would" } else { "did" };
            for step in work {
                match &step.copied_from {
                    Some(from) => eprintln!(
                        "  {lead} {:8} {} (copied from {}, identical to the one backed up)",
                        step.verb(),
                        step.path.display(),
                        from.display()
                    ),
                    None => eprintln!("  {lead} {:8} {}", step.verb(), step.path.display()),
                }
            }
        }
    }
    for step in missing {
        if let Some((reference, sha256)) = step.missing() {
            eprintln!(
                "  cannot restore {}: the backup recorded it by its hash and no identical copy is installed",
                step.path.display()
            );
            eprintln!("hint: {}", reference.reinstall_hint(sha256));
        }
    }
    if dry_run {
        eprintln!("codex-guard: dry run (the diff above); nothing was changed");
    }
    if let Some(done) = done {
        eprintln!(
            "the files as they were before this restore: {}",
            done.safety.display()
        );
    }
}
