//! `codex-guard uninstall`: removes exactly what setup added, as the install receipt
//! records it, and gives back every value setup replaced. Other tools' hooks, the
//! user's edits and their trust records stay; with nothing else changed, config.toml
//! and hooks.json come back byte for byte.

use crate::cli::UninstallArgs;
use crate::edit::codex_config::{self, KeyMove, Trust};
use crate::failure::{ExitCode, Failure};
use crate::fsutil::{self, Lock};
use crate::install::backup::{self, After};
use crate::{edit::hooks_json, edit::inline_hooks, home, report, trust, ui};
use anyhow::{Context, Result};
use codex_guard_common::events::Event;
use codex_guard_common::{Layout, Receipt};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A change to one of Codex's files.
struct Edit {
    path: PathBuf,
    before: Vec<u8>,
    /// New content, or `None` to delete the file (setup created it and nothing else is left).
    after: Option<Vec<u8>>,
}

struct Plan {
    receipt: Option<Receipt>,
    edits: Vec<Edit>,
    /// Our files and directories to delete.
    remove: Vec<PathBuf>,
    /// Kept with `--keep-logs`.
    kept: Vec<PathBuf>,
    notes: Vec<String>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.edits.is_empty() && self.remove.is_empty()
    }
}

pub fn run(args: &UninstallArgs) -> Result<ExitCode> {
    if args.managed {
        return crate::install::managed::uninstall(
            &args.home.system_root,
            args.dry_run,
            args.json,
            args.backup_dir.as_deref(),
        );
    }
    if args.all_users {
        return crate::install::all_users::uninstall(args);
    }
    let layout = home::resolve(&args.home)?;
    let interactive = !args.silent && !args.json && ui::stdin_is_terminal();
    // Everything is read and checked before the first change.
    let plan = make_plan(&layout, args.keep_logs)?;
    if !args.dry_run {
        for edit in &plan.edits {
            fsutil::check_writable(&edit.path)?;
        }
    }
    if plan.is_empty() {
        report(args, &layout, &plan, None, false);
        return Ok(ExitCode::Ok);
    }
    if args.dry_run {
        if !args.json {
            print!("{}", diffs(&plan));
        }
        report(args, &layout, &plan, None, false);
        return Ok(ExitCode::Ok);
    }
    let asked = interactive && !args.yes;
    if asked {
        eprintln!(
            "codex-guard will be removed from {}:",
            layout.codex_home.display()
        );
        for line in describe(&plan) {
            eprintln!("  {line}");
        }
        if !ui::confirm("Uninstall?")? {
            eprintln!("Nothing was changed.");
            return Ok(ExitCode::Ok);
        }
    }

    let _lock = if layout.guard_dir().is_dir() {
        Some(Lock::acquire(&layout.lock_file(), Duration::from_secs(30))?)
    } else {
        None
    };
    // Planned again under the lock; when a person said yes, to what they saw.
    let confirmed = describe(&plan);
    let plan = make_plan(&layout, args.keep_logs)?;
    if asked && describe(&plan) != confirmed {
        return Err(Failure {
            code: ExitCode::Degraded,
            message: "codex-guard's files changed while uninstall was asking; nothing was removed"
                .into(),
            hint: Some("run uninstall again to see what it would remove now".into()),
        }
        .into());
    }
    fsutil::remove_stale_temps(std::slice::from_ref(&layout.codex_home));
    for edit in &plan.edits {
        fsutil::check_writable(&edit.path)?;
    }
    let backup = write_backup(
        &layout,
        &plan,
        args.backup_dir.as_deref(),
        &args.home.system_root,
    )?;

    // Codex stops calling the hooks (untrusted, then gone) before their program goes away.
    for edit in &plan.edits {
        match &edit.after {
            Some(bytes) => fsutil::write_atomic(&edit.path, bytes, 0o600)?,
            None => fs_err::remove_file(fsutil::write_target(&edit.path)?)?,
        }
    }
    for path in &plan.remove {
        remove_ours(path)?;
    }
    if let Some(receipt) = &plan.receipt {
        for dir in &receipt.created_dirs {
            // Only an empty directory: Codex keeps sessions and logins there too.
            let _ = std::fs::remove_dir(dir);
        }
    }
    report(args, &layout, &plan, Some(&backup), asked);
    Ok(ExitCode::Ok)
}

fn make_plan(layout: &Layout, keep_logs: bool) -> Result<Plan> {
    let mut notes = Vec::new();
    let receipt = match fsutil::read_optional_text(&layout.receipt())? {
        Some(text) => match Receipt::from_json(&text) {
            Ok(receipt) => Some(receipt),
            Err(e) => {
                notes.push(format!(
                    "the install receipt {} is damaged ({e})",
                    layout.receipt().display()
                ));
                None
            }
        },
        None => None,
    };
    if receipt.is_none() && layout.guard_dir().exists() {
        notes.push(
            "no usable install receipt: only entries provably codex-guard's are removed \
             (its handlers, their trust records and its own directory)"
                .into(),
        );
    }

    // Our handlers come out of both hooks.json and config.toml (inline): the receipt's
    // layout says where setup put them, but without a receipt either may hold them.
    let (hooks_edit, removed, moved) = plan_hooks_json(layout, receipt.as_ref())?;
    let hooks_path = layout.hooks_json();
    let proven = if receipt.is_none() {
        proven_trust(&hooks_path, &removed)
    } else {
        Vec::new()
    };
    let moves = key_moves(&hooks_path, &moved);
    let commands = hooks_json::our_commands(layout, receipt.as_ref());
    let is_ours = |h: &serde_json::Map<String, Value>| hooks_json::runs_one_of(h, &commands);
    let config_edit = plan_config(
        layout,
        receipt.as_ref(),
        &is_ours,
        proven,
        moves,
        &mut notes,
    )?;
    // config.toml first: the trust records go (and the user's move) while hooks.json
    // still shows where every handler was, so a run killed between the two writes
    // works the same moves out again. An untrusted handler already never runs.
    let edits = config_edit.into_iter().chain(hooks_edit).collect();

    let (remove, kept) = our_files(layout, keep_logs)?;
    let undelivered = codex_guard_common::spool::pending(&layout.spool_dir()).len();
    if undelivered > 0 && remove.contains(&layout.guard_dir()) {
        notes.push(format!(
            "{undelivered} event(s) not yet delivered to the service are removed with it \
             (--keep-logs keeps them)"
        ));
    }
    Ok(Plan {
        receipt,
        edits,
        remove,
        kept,
        notes,
    })
}

fn plan_hooks_json(
    layout: &Layout,
    receipt: Option<&Receipt>,
) -> Result<(
    Option<Edit>,
    Vec<hooks_json::RemovedGroup>,
    Vec<hooks_json::Moved>,
)> {
    let path = layout.hooks_json();
    let Some(text) = fsutil::read_optional_text(&path)? else {
        return Ok((None, Vec::new(), Vec::new()));
    };
    let doc = hooks_json::parse(&text, &path)?;
    let commands = hooks_json::our_commands(layout, receipt);
    let is_ours = |h: &serde_json::Map<String, Value>| hooks_json::runs_one_of(h, &commands);
    let original = receipt
        .and_then(|r| r.hooks_json.original.as_deref())
        .and_then(|t| serde_json::from_str::<Value>(t.strip_prefix('\u{feff}').unwrap_or(t)).ok());
    let removal = hooks_json::unmerge(doc, original.as_ref(), &is_ours);
    if removal.removed.is_empty() {
        return Ok((None, removal.removed, removal.moved));
    }
    let created = receipt.is_some_and(|r| r.hooks_json.created);
    let after = if created && hooks_json::is_empty(&removal.value) {
        None
    } else {
        let original_text = receipt.and_then(|r| r.hooks_json.original.clone());
        Some(match (&original, original_text) {
            (Some(value), Some(text)) if *value == removal.value => text.into_bytes(),
            _ => hooks_json::to_text(&removal.value, &text).into_bytes(),
        })
    };
    let edit = Edit {
        path,
        before: text.into_bytes(),
        after,
    };
    Ok((Some(edit), removal.removed, removal.moved))
}

/// The trust records of our removed groups, ours beyond doubt (their hash is ours).
fn proven_trust(file: &Path, removed: &[hooks_json::RemovedGroup]) -> Vec<Trust> {
    removed
        .iter()
        .filter_map(|group| {
            let event = Event::from_name(&group.event)?;
            Some(Trust {
                key: trust::trust_key(file, event, group.index, 0),
                hash: trust::handler_hash(event, group.matcher.as_deref(), &group.handler),
            })
        })
        .collect()
}

/// The trust records that follow the user's groups moved up in `file`.
fn key_moves(file: &Path, moved: &[hooks_json::Moved]) -> Vec<KeyMove> {
    moved
        .iter()
        .flat_map(|m| {
            let snake = snake_case(&m.event);
            let prefix = file.display().to_string();
            (0..m.handlers).map(move |j| KeyMove {
                from: format!("{prefix}:{snake}:{}:{j}", m.from),
                to: format!("{prefix}:{snake}:{}:{j}", m.to),
            })
        })
        .collect()
}

/// config.toml's edit: our inline handlers out (first, so their trust records are
/// known), then the trust records of every handler of ours and setup's other keys.
/// `proven` and `moves` are hooks.json's records to remove and to move.
fn plan_config(
    layout: &Layout,
    receipt: Option<&Receipt>,
    is_ours: &dyn Fn(&serde_json::Map<String, Value>) -> bool,
    mut proven: Vec<Trust>,
    mut moves: Vec<KeyMove>,
    notes: &mut Vec<String>,
) -> Result<Option<Edit>> {
    let path = layout.codex_config();
    let Some(text) = fsutil::read_optional_text(&path)? else {
        return Ok(None);
    };
    let mut doc = codex_config::parse(&text, &path)?;
    let unedited = doc.to_string();
    let layout_change = if fsutil::uses_crlf(&text) {
        codex_config::layout_change_of(&fsutil::line_endings_like(unedited.clone(), &text), &text)
    } else {
        codex_config::layout_change_of(&unedited, &text)
    };
    let record = receipt.map(|r| &r.codex_config);
    let inline = inline_hooks::remove(&mut doc, is_ours);
    if receipt.is_none() {
        proven.extend(proven_trust(&path, &inline.removed));
    }
    moves.extend(key_moves(&path, &inline.moved));
    notes.extend(codex_config::unapply(&mut doc, record, &proven, &moves));
    let edited = doc.to_string();
    drop(doc);
    // Nothing of ours in it: the file is not written at all, whatever its layout.
    if edited == unedited {
        return Ok(None);
    }
    drop(unedited);
    let new_text = fsutil::line_endings_like(edited, &text);
    // The user's own bytes, when taking our edits out gave back the data they had.
    let original = record
        .and_then(|r| r.original.as_deref())
        .filter(|original| *original == new_text || codex_config::same_data(&new_text, original));
    let after = match record {
        Some(r) if r.created && codex_config::same_data(&new_text, "") => None,
        _ => Some(original.map_or(new_text, str::to_string)),
    };
    // Taking our edits out matters more than the layout: the data is kept, but say so.
    if let (Some((line, why)), Some(_), None) = (layout_change, &after, original) {
        notes.push(format!(
            "{} is written back with its lines from line {line} on regrouped: {why}",
            path.display()
        ));
    }
    Ok(Some(Edit {
        path,
        before: text.into_bytes(),
        after: after.map(String::into_bytes),
    }))
}

/// Marks a directory of ours renamed out of the way to be deleted.
const TOMBSTONE: &str = ".removing-";

/// Removes one of our files or directories. A directory is first renamed out of the
/// way, so that a hook or delivery process still running cannot write into it while it
/// is being emptied (the runtime never creates the guard directory again). A run killed
/// before the directory is gone leaves the renamed one for the next run to finish.
fn remove_ours(path: &Path) -> Result<()> {
    let Ok(meta) = fs_err::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.is_dir() {
        fs_err::remove_file(path)?;
        return Ok(());
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let doomed = if name.contains(TOMBSTONE) {
        path.to_path_buf()
    } else {
        let doomed = path.with_file_name(format!(".{name}{TOMBSTONE}{}", std::process::id()));
        match std::fs::rename(path, &doomed) {
            Ok(()) => doomed,
            // Where a directory in use cannot be renamed (Windows), delete it in place.
            Err(_) => path.to_path_buf(),
        }
    };
    fs_err::remove_dir_all(&doomed)?;
    Ok(())
}

/// Our directories in the Codex home that an interrupted uninstall renamed and did not
/// finish deleting. (Inside our directory, `--keep-logs` removes every entry anyway.)
fn tombstones(layout: &Layout) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(&layout.codex_home) else {
        return Vec::new();
    };
    let prefix = format!(".{}{TOMBSTONE}", codex_guard_common::layout::GUARD_DIR);
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            e.file_name().to_string_lossy().starts_with(&prefix)
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// What goes: our whole directory, or all of it but the logs and undelivered events,
/// and whatever an interrupted uninstall left renamed.
fn our_files(layout: &Layout, keep_logs: bool) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let guard = layout.guard_dir();
    let mut leftovers = tombstones(layout);
    if !guard.exists() {
        return Ok((leftovers, Vec::new()));
    }
    if !keep_logs {
        leftovers.insert(0, guard);
        return Ok((leftovers, Vec::new()));
    }
    let keep = [layout.logs_dir(), guard.join("spool")];
    let mut remove = Vec::new();
    let mut kept = Vec::new();
    for entry in fs_err::read_dir(&guard)? {
        let path = entry?.path();
        if keep.contains(&path) {
            kept.push(path);
        } else {
            remove.push(path);
        }
    }
    remove.sort();
    remove.extend(leftovers);
    Ok((remove, kept))
}

/// The safety backup: Codex's files and ours, each with what uninstall leaves of it.
fn write_backup(
    layout: &Layout,
    plan: &Plan,
    dir: Option<&Path>,
    system_root: &Path,
) -> Result<PathBuf> {
    let mut entries: Vec<backup::Entry> = backup::home_entries(layout, false)?
        .into_iter()
        .filter(|e| !plan.edits.iter().any(|edit| edit.path == e.path))
        .filter(|e| plan.remove.iter().any(|r| e.path.starts_with(r)))
        .map(|e| backup::Entry::of(layout, &e.path, After::Hash(None)))
        .collect();
    for edit in &plan.edits {
        let after = After::Hash(edit.after.as_deref().map(fsutil::sha256_hex));
        entries.push(backup::Entry::of(layout, &edit.path, after));
    }
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => default_backup_dir(system_root)?,
    };
    let now = SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now)
        .to_string()
        .replace([':', '-'], "");
    backup::create_named(
        &dir,
        &format!("codex-guard-uninstall-{stamp}"),
        "uninstall",
        &layout.codex_home,
        &entries,
        now,
    )
    .with_context(|| "the safety backup failed, so nothing was removed")
    .map_err(|e| {
        anyhow::Error::new(Failure {
            code: ExitCode::Degraded,
            message: format!("{e:#}"),
            hint: Some("pass --backup-dir DIR with a writable directory".into()),
        })
    })
}

/// Where a per-user uninstall keeps its safety backup unless told: a private directory
/// of this user's state (`$XDG_STATE_HOME`, else `~/.local/state`), which uninstall does
/// not remove and no other account can write. Root whose `HOME` is another account's
/// (`sudo` keeping it) uses root's own state directory instead.
pub fn default_backup_dir(system_root: &Path) -> Result<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|home| home.join(".local").join("state"))
        })
        .ok_or_else(|| {
            Failure::bad_input("neither XDG_STATE_HOME nor HOME is set, so there is no place for the safety backup")
                .hint("pass --backup-dir DIR with a directory only you can write")
        })?;
    let dir = state.join("codex-guard").join("uninstall-backups");
    if fsutil::current_uid() == Some(0) && crate::safe_fs::is_exposed(&dir) {
        let sys = crate::install::managed::SystemLayout::new(system_root, Path::new("/"));
        fsutil::create_dir_all(&sys.state_dir(), 0o755)?;
        fsutil::create_dir_all(&sys.uninstall_backups_dir(), 0o700)?;
        return Ok(sys.uninstall_backups_dir());
    }
    fsutil::create_dir_all(&state, 0o700)?;
    fsutil::create_dir_all(&dir, 0o700)?;
    Ok(dir)
}

fn describe(plan: &Plan) -> Vec<String> {
    let mut lines: Vec<String> = plan
        .edits
        .iter()
        .map(|e| match e.after {
            Some(_) => format!("update {}", e.path.display()),
            None => format!("remove {}", e.path.display()),
        })
        .collect();
    lines.extend(
        plan.remove
            .iter()
            .map(|p| format!("remove {}", p.display())),
    );
    lines.extend(plan.kept.iter().map(|p| format!("keep   {}", p.display())));
    lines
}

fn diffs(plan: &Plan) -> String {
    let mut out = crate::diff::render(plan.edits.iter().map(|edit| crate::diff::FileDiff {
        path: &edit.path,
        before: Some(&edit.before),
        after: edit.after.as_deref(),
        show: crate::diff::Show::Diff,
    }));
    for path in &plan.remove {
        _ = writeln!(out, "removed: {}", path.display());
    }
    out
}

/// `listed`: the plan was shown with the question, and is not listed again.
fn report(args: &UninstallArgs, layout: &Layout, plan: &Plan, backup: Option<&Path>, listed: bool) {
    let changed = !plan.is_empty();
    if args.json {
        let mut changes: Vec<report::FileAction> = plan
            .edits
            .iter()
            .map(|e| {
                let action = if e.after.is_some() {
                    "updated"
                } else {
                    "removed"
                };
                report::FileAction::new(&e.path, action)
            })
            .collect();
        changes.extend(
            plan.remove
                .iter()
                .map(|p| report::FileAction::new(p, "removed")),
        );
        let status = if !changed {
            report::Status::Unchanged
        } else if args.dry_run {
            report::Status::Planned
        } else {
            report::Status::Removed
        };
        report::print(&report::UninstallReport {
            summary: report::Summary {
                changed,
                changes,
                backup: backup.map(Path::to_path_buf),
                warnings: plan.notes.clone(),
                ..report::Summary::new(status, args.dry_run)
            },
            scope: None,
            codex_home: Some(layout.codex_home.clone()),
            receipt: Some(plan.receipt.is_some()),
            kept: plan.kept.clone(),
        });
        return;
    }
    if !changed {
        eprintln!(
            "codex-guard: nothing to remove from {}",
            layout.codex_home.display()
        );
    } else if args.dry_run {
        eprintln!("codex-guard: dry run, nothing was changed");
    } else if listed {
        eprintln!(
            "codex-guard removed from {} as listed above",
            layout.codex_home.display()
        );
    } else {
        eprintln!("codex-guard removed from {}:", layout.codex_home.display());
        for line in describe(plan) {
            eprintln!("  {line}");
        }
        if let Some(backup) = backup {
            eprintln!("backup of everything removed: {}", backup.display());
        }
    }
    for note in &plan.notes {
        eprintln!("note: {note}");
    }
}

/// `PreToolUse` -> `pre_tool_use`, as Codex names events in trust keys.
fn snake_case(event: &str) -> String {
    let mut out = String::new();
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_become_codex_snake_case() {
        for event in Event::ALL {
            assert_eq!(snake_case(event.name()), event.snake_name());
        }
        assert_eq!(snake_case("SubagentStop"), "subagent_stop");
    }
}
