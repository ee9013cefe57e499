//! `codex-guard restore`: puts the files of a backup back, but never silently over a
//! file that was changed after the backup's operation (that would lose someone's edit).

use crate::backup::{self, Archive, FileEntry};
use crate::cli::RestoreArgs;
use crate::failure::{ExitCode, Failure};
use crate::fsutil::{self, Lock};
use crate::{home, ui};
use anyhow::{Context, Result};
use codex_guard_common::Layout;
use serde_json::json;
use std::path::PathBuf;
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

pub fn run(args: RestoreArgs) -> Result<ExitCode> {
    let layout = home::resolve(&args.home)?;
    let archive_path = match (&args.file, args.latest) {
        (Some(file), _) => file.clone(),
        // A restore's own safety copy is not what `--latest` means: after a restore
        // that was interrupted, running it again must finish it, not undo it.
        (None, _) => backup::list_archives(&layout.backups_dir())?
            .into_iter()
            .find(|path| backup::label_of(path) != Some("restore"))
            .ok_or_else(|| {
                Failure::bad_input(format!(
                    "there are no backups in {}",
                    layout.backups_dir().display()
                ))
                .hint("pass the backup file to restore")
            })?,
    };
    let archive = Archive::read(&archive_path)?;

    let _lock = if args.dry_run {
        None
    } else {
        Some(Lock::acquire(&layout.lock_file(), Duration::from_secs(30))?)
    };
    if !args.dry_run {
        fsutil::remove_stale_temps(&[
            layout.codex_home.clone(),
            layout.guard_dir(),
            layout.bin_dir(),
            layout.backups_dir(),
        ]);
    }
    let steps = plan(&layout, &archive)?;
    let conflicts: Vec<&Step> = steps
        .iter()
        .filter(|s| s.action == Action::Conflict)
        .collect();
    let wanted =
        |s: &&Step| s.action == Action::Restore || (args.force && s.action == Action::Conflict);
    let missing: Vec<&Step> = steps
        .iter()
        .filter(wanted)
        .filter(|s| s.missing().is_some())
        .collect();
    let work: Vec<&Step> = steps
        .iter()
        .filter(wanted)
        .filter(|s| s.missing().is_none())
        .collect();

    let describe = |s: &Step| json!({"path": s.path, "action": s.verb(), "changed_since_backup": s.action == Action::Conflict});
    if !conflicts.is_empty() && !args.force {
        let names: Vec<String> = conflicts
            .iter()
            .map(|s| s.path.display().to_string())
            .collect();
        if args.json {
            println!(
                "{}",
                json!({"status": "refused", "changed": false, "backup_restored": archive_path,
                       "conflicts": conflicts.iter().map(|s| describe(s)).collect::<Vec<_>>()})
            );
        }
        return Err(Failure {
            code: ExitCode::Degraded,
            message: format!(
                "{} changed after the backup {} was taken; restoring would lose those changes",
                names.join(", "),
                archive_path.display()
            ),
            hint: Some(
                "look at the differences, then run restore again with --force to overwrite".into(),
            ),
        }
        .into());
    }

    if args.dry_run || work.is_empty() {
        report(&args, &archive_path, &work, &missing, None, args.dry_run);
        return Ok(exit_code(&missing));
    }
    if !args.yes && !args.json && ui::stdin_is_terminal() {
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

    for step in &work {
        fsutil::check_writable(&step.path)?;
    }
    // The current state is itself backed up, with the backup's contents as its "after".
    let entries: Vec<backup::Entry> = work
        .iter()
        .map(|s| {
            let after = backup::After::Hash(s.entry.sha256.clone());
            backup::Entry::of(&layout, &s.path, after)
        })
        .collect();
    let safety = backup::create(
        &layout.backups_dir(),
        "restore",
        &layout.codex_home,
        &entries,
        Some(backup::backups_keep(&layout)),
    )?;
    for step in &work {
        match &step.content {
            Some(bytes) => {
                if let Some(parent) = step.path.parent() {
                    fsutil::create_dir_all(parent, 0o700)?;
                }
                // A file that exists keeps its mode; a new one gets the backed-up mode.
                fsutil::write_atomic(&step.path, bytes, step.entry.mode.unwrap_or(0o600))?;
            }
            None => fs_err::remove_file(fsutil::write_target(&step.path)?)
                .with_context(|| format!("cannot remove {}", step.path.display()))?,
        }
    }
    report(&args, &archive_path, &work, &missing, Some(&safety), false);
    Ok(exit_code(&missing))
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
    archive: &std::path::Path,
    work: &[&Step],
    missing: &[&Step],
    safety: Option<&PathBuf>,
    dry_run: bool,
) {
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
        println!(
            "{}",
            json!({
                "status": status,
                "changed": !work.is_empty() && !dry_run,
                "dry_run": dry_run,
                "backup_restored": archive,
                "changes": work.iter().map(|s| json!({"path": s.path, "action": s.verb(), "copied_from": s.copied_from})).collect::<Vec<_>>(),
                "missing": missing.iter().filter_map(|s| {
                    let (reference, sha256) = s.missing()?;
                    Some(json!({"path": s.path, "program": reference.program,
                        "version": reference.version, "sha256": sha256, "size": reference.size,
                        "hint": reference.reinstall_hint(sha256)}))
                }).collect::<Vec<_>>(),
                "backup": safety,
            })
        );
        return;
    }
    if work.is_empty() && missing.is_empty() {
        eprintln!(
            "codex-guard: unchanged (every file already matches {})",
            archive.display()
        );
        return;
    }
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
    for step in missing {
        if let Some((reference, sha256)) = step.missing() {
            eprintln!(
                "  cannot restore {}: the backup recorded it by its hash and no identical copy is installed",
                step.path.display()
            );
            eprintln!("hint: {}", reference.reinstall_hint(sha256));
        }
    }
    if let Some(safety) = safety {
        eprintln!(
            "the files as they were before this restore: {}",
            safety.display()
        );
    }
}
