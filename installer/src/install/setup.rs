//! `codex-guard setup`: computes every file a protected Codex home needs, shows or
//! applies the difference, and records what it did in the install receipt.
//!
//! Nothing is written until every input has been read and validated, so a bad
//! config.toml or hooks.json leaves the user's files exactly as they were.

use crate::cli::SetupArgs;
pub(crate) use crate::diff::Show;
use crate::edit::codex_config::{self, Trust};
use crate::failure::{ExitCode, Failure};
use crate::fsutil::{self, Lock};
use crate::install::Transaction;
use crate::settings::{resolve_choices, Choices, Settings};
use crate::{
    edit::hooks_json, edit::inline_hooks, edit::rules_file, home, install::backup, machine_id,
    report, service, trust, ui,
};
use anyhow::{Context, Result};
use codex_guard_common::env::Scope;
use codex_guard_common::receipt::{
    FileRecord, HandlerRecord, HooksJsonRecord, HooksLayout, RECEIPT_SCHEMA_VERSION,
};
use codex_guard_common::{Layout, Receipt, RuntimeConfig};
use codex_guard_hook::probe::Target;
use codex_guard_hook::rules::Layer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const RUNTIME_CONFIG_TEMPLATE: &str = include_str!("../../../templates/runtime-config.toml");
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The token, machine id and rules an install (per user or managed) wants on disk.
pub(crate) struct OwnFiles {
    pub token_before: Option<Vec<u8>>,
    /// The new token, else the current one: a re-run without a token keeps it.
    pub token: Option<Vec<u8>>,
    /// The current machine id, else a new one: generated once, then reused.
    pub machine_id: Vec<u8>,
    /// The rules given, else the current file (the user's edits), else the defaults;
    /// a file an earlier version shipped and nobody changed becomes today's defaults.
    pub rules: Vec<u8>,
    /// What the person running setup should know about the rules kept.
    pub rules_note: Option<String>,
}

pub(crate) fn own_files(
    choices: &Choices,
    token: &Path,
    machine_id: &Path,
    rules: &Path,
) -> Result<OwnFiles> {
    let token_before = fsutil::read_optional(token)?;
    let (rules, rules_note) = match &choices.rules {
        Some(given) => (given.clone(), None),
        None => {
            let planned = rules_file::plan(rules, fsutil::read_optional(rules)?);
            (planned.bytes, planned.note)
        }
    };
    Ok(OwnFiles {
        token: match &choices.token {
            Some(token) => Some(format!("{token}\n").into_bytes()),
            None => token_before.clone(),
        },
        token_before,
        machine_id: match (&choices.device_id, fsutil::read_optional(machine_id)?) {
            (Some(id), _) => format!("{id}\n").into_bytes(),
            (None, Some(bytes)) => bytes,
            (None, None) => format!("{}\n", machine_id::generate()?).into_bytes(),
        },
        rules,
        rules_note,
    })
}

/// One file setup wants to write.
pub(crate) struct FileChange {
    pub path: PathBuf,
    pub label: &'static str,
    pub before: Option<Vec<u8>>,
    pub after: Vec<u8>,
    pub mode: u32,
    /// Shown as a diff (text) or only by hash (binary, secret).
    pub show: Show,
    /// The file is deleted (`after` is empty): a hooks.json setup created, left with
    /// none of ours when our handlers moved to config.toml.
    pub remove: bool,
}

impl FileChange {
    /// A write of `after` to `path`, with what is there now read as `before`.
    pub(crate) fn write(
        path: PathBuf,
        label: &'static str,
        after: Vec<u8>,
        mode: u32,
        show: Show,
    ) -> Result<Self> {
        Ok(FileChange {
            before: fsutil::read_optional(&path)?,
            path,
            label,
            after,
            mode,
            show,
            remove: false,
        })
    }

    pub fn diff(&self) -> crate::diff::FileDiff<'_> {
        crate::diff::FileDiff {
            path: &self.path,
            before: self.before.as_deref(),
            after: (!self.remove).then_some(self.after.as_slice()),
            show: self.show,
        }
    }

    pub fn changed(&self) -> bool {
        if self.remove {
            return self.before.is_some();
        }
        self.before.as_deref() != Some(self.after.as_slice())
    }

    pub fn action(&self) -> &'static str {
        match (self.remove, self.before.is_some()) {
            (true, _) => "removed",
            (false, true) => "updated",
            (false, false) => "created",
        }
    }
}

/// What one setup run did (or, for a dry run, would do).
pub struct Outcome {
    layout: Layout,
    choices: Choices,
    /// The Atlas device id in force and where it came from.
    device: (String, machine_id::Source),
    /// The files changed (or that would change), in write order.
    changes: Vec<FileChange>,
    /// The archive of the files as they were, when anything was written.
    pub backup: Option<PathBuf>,
    /// Problems that leave the install degraded (unreachable service, machine policy).
    pub warnings: Vec<String>,
    /// What the person should know that is no problem (old rules kept in a changed file).
    pub notes: Vec<String>,
    dry_run: bool,
    /// The person declined the confirmation: nothing was written.
    declined: bool,
    /// The files were listed with the confirmation question.
    listed: bool,
    /// 0 done, 1 installed but degraded.
    pub exit: ExitCode,
}

/// One file setup changed (or would change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub path: PathBuf,
    /// `created` or `updated`.
    pub action: &'static str,
}

impl Outcome {
    pub fn changes(&self) -> Vec<Changed> {
        self.changes
            .iter()
            .map(|c| Changed {
                path: c.path.clone(),
                action: c.action(),
            })
            .collect()
    }

    /// Prints the report: JSON on stdout, or the human report on stderr (a dry run's
    /// diff on stdout).
    pub fn print(&self, json: bool) {
        if self.declined {
            eprintln!("Nothing was changed.");
            return;
        }
        let diff = self.dry_run.then(|| render_diffs(&self.changes));
        if json {
            print_json(self, diff);
        } else {
            if let Some(diff) = diff {
                print!("{diff}");
            }
            if let (id, machine_id::Source::Akto(from)) = &self.device {
                println!(
                    "Atlas device id {id}: the id Akto's own Codex hooks use on this machine ({}), \
                     so Akto keeps seeing the same device",
                    from.display()
                );
            }
            Report {
                scope: "",
                changes: &self.changes,
                backup: self.backup.as_deref(),
                warnings: &self.warnings,
                notes: &self.notes,
                dry_run: self.dry_run,
                listed: self.listed,
                next: &next_steps(&self.layout.codex_home),
                restore_flag: Some(
                    &crate::home::Reach::of(&self.layout.codex_home)
                        .flag
                        .unwrap_or_default(),
                ),
            }
            .print();
        }
    }
}

pub fn run(args: &SetupArgs) -> Result<ExitCode> {
    if args.managed {
        return crate::install::managed::setup(args);
    }
    if args.all_users {
        return crate::install::all_users::setup(args);
    }
    let json = args.json;
    let codex_bin = args.codex_bin.clone();
    let mut outcome = apply(args)?;
    if !outcome.dry_run && !outcome.declined {
        ask_codex(&mut outcome, codex_bin.as_deref());
    }
    outcome.print(json);
    Ok(outcome.exit)
}

/// Whether Codex loads the configuration as setup left it and runs our hooks; what it
/// says otherwise becomes a warning (the install is degraded).
fn ask_codex(outcome: &mut Outcome, codex_bin: Option<&Path>) {
    let hooks_file = read_receipt(&outcome.layout, &mut Vec::new())
        .map_or_else(|| outcome.layout.hooks_json(), |r| r.hooks_json.path);
    let found = crate::codex_probe::after_setup(codex_bin, &outcome.layout, &hooks_file);
    if !found.warnings.is_empty() {
        outcome.exit = ExitCode::Degraded;
    }
    outcome.warnings.extend(found.warnings);
    outcome.notes.extend(found.notes);
}

/// Does the work of `setup` and prints nothing (but the questions and progress of an
/// interactive run), so other commands can re-run it and report in their own way.
pub fn apply(args: &SetupArgs) -> Result<Outcome> {
    apply_adopting(args, &[])
}

/// [`apply`], also taking as ours the handlers whose command is one of `adopt` (ours,
/// edited by hand, as `doctor` found them), so they are put back in place instead of
/// left beside a new one.
#[expect(
    clippy::too_many_lines,
    reason = "not split yet: the plan, the question, the lock, the re-plan and the writes in order"
)]
pub fn apply_adopting(args: &SetupArgs, adopt: &[String]) -> Result<Outcome> {
    let interactive = !args.silent && !args.json && ui::stdin_is_terminal();
    let layout = home::resolve(&args.home)?;
    let canonical_home = layout.codex_home.clone();
    let mut warnings = Vec::new();

    let existing_config = read_runtime_config(&layout, &mut warnings);
    let inputs = if args.install_settings_only {
        Settings::from_flags(args)?
    } else {
        Settings::gather(args, &|name| std::env::var(name).ok())?
    };
    let mut choices = resolve_choices(&inputs, existing_config.as_ref(), interactive, Layer::User)?;
    let device = device_id(&mut choices, &layout)?;
    let runtime_source = locate_runtime(args.runtime.as_deref())?;

    let codex_home_created = !canonical_home.exists();
    if codex_home_created {
        check_home_parent(&canonical_home)?;
    }
    // Every input is read and validated before anything is created, so bad input
    // leaves the machine exactly as it was; the plan is made again under the lock.
    let (first, _) = plan(
        &layout,
        &choices,
        &runtime_source,
        read_receipt(&layout, &mut Vec::new()).as_ref(),
        codex_home_created,
        adopt,
    )?;
    if !args.dry_run {
        for change in first.iter().filter(|c| c.changed()) {
            fsutil::check_writable(&change.path)?;
        }
    }
    // The question comes before the lock, which creates its file: a person who says
    // no, or presses Ctrl-C, leaves the home exactly as it was.
    let confirmed = if interactive && !args.yes && !args.dry_run {
        let first: Vec<FileChange> = first.into_iter().filter(FileChange::changed).collect();
        if !first.is_empty() {
            ui::print_summary(
                &layout,
                &choices,
                &first
                    .iter()
                    .map(|c| (c.path.clone(), c.action()))
                    .collect::<Vec<_>>(),
            );
            if !ui::confirm("Apply these changes?")? {
                return Ok(Outcome {
                    layout,
                    choices,
                    device,
                    changes: Vec::new(),
                    backup: None,
                    warnings: Vec::new(),
                    notes: Vec::new(),
                    dry_run: false,
                    declined: true,
                    listed: true,
                    exit: ExitCode::Ok,
                });
            }
        }
        Some(first)
    } else {
        None
    };
    let _lock = if args.dry_run {
        None
    } else {
        Some(Lock::acquire(&layout.lock_file(), LOCK_WAIT)?)
    };

    let previous_receipt = read_receipt(&layout, &mut warnings);
    let (mut changes, notes) = plan(
        &layout,
        &choices,
        &runtime_source,
        previous_receipt.as_ref(),
        codex_home_created,
        adopt,
    )?;
    changes.retain(FileChange::changed);
    if let Some(confirmed) = &confirmed {
        check_still_confirmed(&layout, confirmed, &changes)?;
    }
    if !args.dry_run {
        fsutil::remove_stale_temps(&[
            layout.codex_home.clone(),
            layout.guard_dir(),
            layout.bin_dir(),
            layout.backups_dir(),
        ]);
        for change in &changes {
            fsutil::check_writable(&change.path)?;
        }
    }
    warnings.extend(managed_policy_warnings(&args.home.system_root));
    warnings.extend(service_warning(
        &choices,
        &layout.token(),
        &layout.runtime_config(),
        Scope::PerUser,
    )?);
    let exit = if warnings.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Degraded
    };
    let mut outcome = Outcome {
        layout,
        choices,
        device,
        changes: Vec::new(),
        backup: None,
        warnings,
        notes,
        dry_run: args.dry_run,
        declined: false,
        listed: confirmed.as_ref().is_some_and(|c| !c.is_empty()),
        exit,
    };

    if args.dry_run || changes.is_empty() {
        outcome.changes = changes;
        return Ok(outcome);
    }
    let layout = &outcome.layout;

    let progress = ui::Progress::new(interactive, changes.len() as u64 + 1);
    progress.step("backing up the files setup will change");
    let backup = backup::create(
        &layout.backups_dir(),
        "setup",
        &canonical_home,
        &backup_entries(layout, &changes),
        Some(outcome.choices.config.backups_keep),
    )?;
    for dir in [layout.bin_dir(), layout.logs_dir()] {
        fsutil::create_dir_all(&dir, 0o700)?;
    }
    // The receipt goes first: it holds the previous values an interrupted run needs.
    // A file removed goes last: its handlers are in their new place (and trusted) first.
    changes.sort_by_key(|c| (c.remove, write_order(layout, &c.path)));
    let mut tx = Transaction::new("setup");
    for change in &changes {
        progress.step(&format!("writing {}", change.label));
        let after = (!change.remove).then_some(change.after.as_slice());
        if let Err(error) = tx.put(&change.path, change.before.as_deref(), after, change.mode) {
            progress.finish();
            let undo = format!("`codex-guard restore {}` to go back", backup.display());
            return Err(tx.roll_back(error, &undo));
        }
    }
    tx.commit();
    progress.finish();

    outcome.changes = changes;
    outcome.backup = Some(backup);
    Ok(outcome)
}

/// The plan made under the lock must be the one the person said yes to: another
/// command (or an editor) that changed the files while the question was open would
/// otherwise get changes nobody saw.
/// The receipt is compared by name only: it holds the time of the first install,
/// which a first install takes when it plans.
fn check_still_confirmed(
    layout: &Layout,
    confirmed: &[FileChange],
    planned: &[FileChange],
) -> Result<(), Failure> {
    let key = |changes: &[FileChange]| -> Vec<(PathBuf, Option<Vec<u8>>)> {
        changes
            .iter()
            .map(|c| {
                let content = (c.path != layout.receipt()).then(|| c.after.clone());
                (c.path.clone(), content)
            })
            .collect()
    };
    if key(confirmed) == key(planned) {
        return Ok(());
    }
    Err(Failure {
        code: ExitCode::Degraded,
        message: "the files changed while the question was open, so the changes shown are no longer the ones setup would make; nothing was written".into(),
        hint: Some("run setup again to see the changes as they are now".into()),
    })
}

/// Setup creates the Codex home itself, as Codex does, but never the directories
/// above it: a missing home directory is a mistake to report, not to paper over.
fn check_home_parent(codex_home: &Path) -> Result<(), Failure> {
    match codex_home.parent() {
        Some(parent) if !parent.is_dir() => Err(Failure::bad_input(format!(
            "the Codex home {} cannot be created: {} does not exist",
            codex_home.display(),
            parent.display()
        ))
        .hint("check HOME, CODEX_HOME or --codex-home; nothing was changed")),
        _ => Ok(()),
    }
}

fn read_runtime_config(layout: &Layout, warnings: &mut Vec<String>) -> Option<RuntimeConfig> {
    let text = std::fs::read_to_string(layout.runtime_config()).ok()?;
    match RuntimeConfig::from_toml(&text) {
        Ok(config) => Some(config),
        Err(e) => {
            warnings.push(format!(
                "{} was invalid ({}) and is replaced",
                layout.runtime_config().display(),
                e.message()
            ));
            None
        }
    }
}

fn read_receipt(layout: &Layout, warnings: &mut Vec<String>) -> Option<Receipt> {
    let text = std::fs::read_to_string(layout.receipt()).ok()?;
    match Receipt::from_json(&text) {
        Ok(receipt) => Some(receipt),
        Err(e) => {
            warnings.push(format!(
                "the install receipt {} is damaged ({e}); a new one is written",
                layout.receipt().display()
            ));
            None
        }
    }
}

pub(crate) fn locate_runtime(flag: Option<&Path>) -> Result<PathBuf> {
    let path = match flag {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(codex_guard_common::layout::RUNTIME_BIN)))
            .ok_or_else(|| {
                Failure::bad_input("cannot tell where the codex-guard executable is")
                    .hint("pass the hook runtime with --runtime PATH")
            })?,
    };
    if !path.is_file() {
        return Err(Failure::bad_input(format!(
            "the hook runtime {} does not exist",
            path.display()
        ))
        .hint("install codex-guard-hook beside codex-guard, or pass --runtime PATH")
        .into());
    }
    Ok(path)
}

/// Decides the Atlas device id of a per-user install: the one given, else the current
/// install's, else the one Akto's own hooks use in this home (set into `choices`), else
/// a new one. Returns the id and where it came from.
fn device_id(choices: &mut Choices, layout: &Layout) -> Result<(String, machine_id::Source)> {
    if let Some(id) = &choices.device_id {
        return Ok((id.clone(), machine_id::Source::Given));
    }
    if let Some(bytes) = fsutil::read_optional(&layout.machine_id())? {
        let id = String::from_utf8_lossy(&bytes).trim().to_string();
        return Ok((id, machine_id::Source::Kept));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    if let Some((id, from)) = machine_id::akto_installation(&layout.codex_home, home.as_deref()) {
        choices.device_id = Some(id.clone());
        return Ok((id, machine_id::Source::Akto(from)));
    }
    let id = machine_id::generate()?;
    choices.device_id = Some(id.clone());
    Ok((id, machine_id::Source::Generated))
}

/// Where setup put our handlers, for the receipt.
struct HooksPlaced<'a> {
    /// The file holding them (hooks.json, or config.toml when inline).
    file: PathBuf,
    layout: HooksLayout,
    moved_from: Option<HooksLayout>,
    /// hooks.json as it is now.
    before: Option<&'a str>,
    placed: &'a [hooks_json::Placed],
    command: &'a str,
    timeout: u64,
}

/// The receipt's record of our handlers. A hooks.json first used now (a first setup,
/// or ours moved into it) is recorded as it is now; else as the first setup found it.
fn hooks_record(h: &HooksPlaced<'_>, previous: Option<&Receipt>) -> HooksJsonRecord {
    let kept = previous.filter(|_| h.moved_from.is_none());
    HooksJsonRecord {
        path: h.file.clone(),
        layout: h.layout,
        // A hooks.json first used now (a first setup, or ours moved into it) is
        // recorded as it is now; else as the first setup found it.
        created: h.layout == HooksLayout::HooksJson
            && match kept {
                Some(r) => r.hooks_json.created,
                None => h.before.is_none(),
            },
        original: match (h.layout, kept) {
            (HooksLayout::ConfigToml, _) => None,
            (HooksLayout::HooksJson, Some(r)) => r.hooks_json.original.clone(),
            (HooksLayout::HooksJson, None) => h.before.map(str::to_string),
        },
        handlers: h
            .placed
            .iter()
            .map(|p| HandlerRecord {
                event: p.event.name().to_string(),
                command: h.command.to_string(),
                timeout: h.timeout,
            })
            .collect(),
    }
}

/// What setup's edit of config.toml depends on.
struct ConfigEdit<'a> {
    path: &'a Path,
    before: Option<&'a str>,
    /// The file our handlers' trust keys name.
    hooks_file: &'a Path,
    placed: &'a [hooks_json::Placed],
    rendered: &'a Value,
    layout: HooksLayout,
    /// Where our handlers were before, when they move.
    moved_from: Option<HooksLayout>,
    previous: Option<&'a Receipt>,
}

/// config.toml with hooks on and our trust records (and, in the inline layout, our
/// handlers; moving out of it, without them): the new text and the record of it.
fn edit_config(
    doc: &mut toml_edit::DocumentMut,
    edit: &ConfigEdit<'_>,
    is_ours: &dyn Fn(&serde_json::Map<String, Value>) -> bool,
) -> Result<(String, codex_guard_common::receipt::CodexConfigRecord)> {
    let ConfigEdit {
        path: config_path,
        before: config_before,
        hooks_file,
        placed,
        rendered,
        layout: hooks_layout,
        moved_from,
        previous,
    } = *edit;
    let trust: Vec<Trust> = placed
        .iter()
        .map(|p| Trust {
            key: trust::trust_key(hooks_file, p.event, p.group, p.handler_index),
            hash: trust::handler_hash(p.event, p.matcher.as_deref(), &p.handler),
        })
        .collect();
    // The records of our handlers' old places go with the earlier setup's record.
    let config_record = codex_config::apply(
        doc,
        config_path,
        &trust,
        previous.map(|r| &r.codex_config),
        config_before,
    )?;
    match (hooks_layout, moved_from) {
        (HooksLayout::ConfigToml, _) => {
            let again = inline_hooks::merge(doc, config_path, rendered, is_ours)?;
            debug_assert_eq!(again, placed, "the trust records moved no hook");
            inline_hooks::check_reads_back(doc, config_path)?;
        }
        // Ours leave config.toml. The user has no inline group left there (theirs are in
        // hooks.json, or ours would have stayed), so no user record has to move.
        (HooksLayout::HooksJson, Some(HooksLayout::ConfigToml)) => {
            inline_hooks::remove(doc, is_ours);
            inline_hooks::check_reads_back(doc, config_path)?;
        }
        (HooksLayout::HooksJson, _) => {}
    }
    let config_after = codex_config::render(doc, config_before.unwrap_or(""));
    Ok((config_after, config_record))
}

/// Where our handlers go (see [`choose_hooks_layout`]), where they were when they
/// move, and what the person should be told about it.
fn decide_layout(
    existing_hooks: Option<&Value>,
    doc: &toml_edit::DocumentMut,
    previous: Option<&Receipt>,
    is_ours: &dyn Fn(&serde_json::Map<String, Value>) -> bool,
    (hooks_path, config_path): (&Path, &Path),
) -> (HooksLayout, Option<HooksLayout>, Vec<String>) {
    let mut notes = Vec::new();
    let (hooks_layout, both) = choose_hooks_layout(existing_hooks, doc, previous, is_ours);
    if both {
        notes.push(both_layouts_note(hooks_layout, hooks_path, config_path));
    }
    // Our handlers follow the user's hooks when those moved (or, after an upgrade, when
    // an earlier setup put ours in a hooks.json beside the user's inline hooks).
    let moved_from = previous
        .map(|r| r.hooks_json.layout)
        .filter(|p| *p != hooks_layout);
    if let Some(from) = moved_from {
        let name = |l: HooksLayout| match l {
            HooksLayout::HooksJson => hooks_path.display().to_string(),
            HooksLayout::ConfigToml => config_path.display().to_string(),
        };
        notes.push(format!(
            "codex-guard's handlers move from {} to {}, where your own hooks are, so Codex \
             does not warn about hooks in both files",
            name(from),
            name(hooks_layout)
        ));
    }

    (hooks_layout, moved_from, notes)
}

/// The files of ours setup writes beside the receipt (the token apart).
struct Contents {
    runtime: Vec<u8>,
    runtime_config: String,
    rules: Vec<u8>,
    machine_id: Vec<u8>,
}

impl Contents {
    /// What the receipt records of them, and of the token: path and hash.
    fn records(&self, layout: &Layout, token: Option<&[u8]>) -> Vec<FileRecord> {
        let mut written: Vec<(PathBuf, &[u8])> = vec![
            (layout.runtime_bin(), &self.runtime),
            (layout.runtime_config(), self.runtime_config.as_bytes()),
            (layout.rules(), &self.rules),
            (layout.machine_id(), &self.machine_id),
        ];
        if let Some(token) = token {
            written.push((layout.token(), token));
        }
        written
            .into_iter()
            .map(|(path, bytes)| FileRecord {
                path,
                sha256: fsutil::sha256_hex(bytes),
            })
            .collect()
    }

    fn into_changes(self, layout: &Layout) -> Result<Vec<FileChange>> {
        Ok(vec![
            FileChange::write(
                layout.runtime_bin(),
                "the hook runtime",
                self.runtime,
                0o755,
                Show::Hash,
            )?,
            FileChange::write(
                layout.runtime_config(),
                "the runtime config",
                self.runtime_config.into_bytes(),
                0o600,
                Show::Diff,
            )?,
            FileChange::write(
                layout.rules(),
                "the local rules",
                self.rules,
                0o644,
                Show::Diff,
            )?,
            FileChange::write(
                layout.machine_id(),
                "the machine id",
                self.machine_id,
                0o644,
                Show::Diff,
            )?,
        ])
    }
}

/// Where our handlers land (worked out on a copy for the inline layout: the trust
/// records are written, and the file's layout checked, before the tables go in), the
/// file their trust keys name, and what becomes of hooks.json.
fn place_hooks(
    doc: &toml_edit::DocumentMut,
    (hooks_layout, moved_from): (HooksLayout, Option<HooksLayout>),
    (hooks_path, hooks_before, existing_hooks): (&Path, Option<&str>, Option<Value>),
    config_path: &Path,
    rendered: &Value,
    previous: Option<&Receipt>,
    is_ours: &dyn Fn(&serde_json::Map<String, Value>) -> bool,
) -> Result<(Vec<hooks_json::Placed>, PathBuf, Option<JsonAfter>)> {
    Ok(match hooks_layout {
        HooksLayout::HooksJson => {
            let unchanged_hooks = existing_hooks.clone();
            let (merged, placed) = hooks_json::merge(existing_hooks, rendered, is_ours);
            let after = match (hooks_before, unchanged_hooks) {
                // Same document: keep the user's formatting byte for byte.
                (Some(text), Some(value)) if value == merged => text.to_string(),
                _ => hooks_json::to_text(&merged, hooks_before.unwrap_or("")),
            };
            (
                placed,
                hooks_path.to_path_buf(),
                Some(JsonAfter::Write(after)),
            )
        }
        // Where ours will be, worked out on a copy: the trust records are written
        // (and the file's layout checked) before the tables go in.
        HooksLayout::ConfigToml => {
            let placed = inline_hooks::merge(&mut doc.clone(), config_path, rendered, is_ours)?;
            let after = match (moved_from, existing_hooks) {
                (Some(HooksLayout::HooksJson), Some(existing)) => {
                    json_without_ours(existing, previous, hooks_before, is_ours)
                }
                _ => None,
            };
            (placed, config_path.to_path_buf(), after)
        }
    })
}

/// Every file setup manages, with its current and desired content, and notes for
/// the person running it.
#[expect(
    clippy::too_many_lines,
    reason = "not split yet: reads every file setup manages and plans each in order"
)]
fn plan(
    layout: &Layout,
    choices: &Choices,
    runtime_source: &Path,
    previous: Option<&Receipt>,
    codex_home_created: bool,
    adopt: &[String],
) -> Result<(Vec<FileChange>, Vec<String>)> {
    let command = hooks_json::runtime_command(layout);
    let own = own_files(
        choices,
        &layout.token(),
        &layout.machine_id(),
        &layout.rules(),
    )?;
    let config = choices.runtime_config(own.token.as_ref().map(|_| layout.token()));

    // config.toml, read first: it may hold the user's hooks inline.
    let config_path = layout.codex_config();
    let config_before = fsutil::read_optional_text(&config_path)?;
    let mut doc = codex_config::parse(config_before.as_deref().unwrap_or(""), &config_path)?;

    // hooks.json
    let hooks_path = layout.hooks_json();
    let hooks_before = fsutil::read_optional_text(&hooks_path)?;
    let existing_hooks = hooks_before
        .as_deref()
        .map(|text| hooks_json::parse(text, &hooks_path))
        .transpose()?;
    let mut known_commands = hooks_json::our_commands(layout, previous);
    known_commands.extend_from_slice(adopt);
    let is_ours = |h: &serde_json::Map<String, Value>| hooks_json::runs_one_of(h, &known_commands);
    let target = hooks_json::Target::current(&layout.runtime_bin(), None)?;
    let rendered = hooks_json::render_template(&command, config.hook_timeout_secs(), &target);
    let (hooks_layout, moved_from, mut notes) = decide_layout(
        existing_hooks.as_ref(),
        &doc,
        previous,
        &is_ours,
        (&hooks_path, &config_path),
    );

    let (placed, hooks_file, hooks_after) = place_hooks(
        &doc,
        (hooks_layout, moved_from),
        (&hooks_path, hooks_before.as_deref(), existing_hooks),
        &config_path,
        &rendered,
        previous,
        &is_ours,
    )?;

    let (config_after, config_record) = edit_config(
        &mut doc,
        &ConfigEdit {
            path: &config_path,
            before: config_before.as_deref(),
            hooks_file: &hooks_file,
            placed: &placed,
            rendered: &rendered,
            layout: hooks_layout,
            moved_from,
            previous,
        },
        &is_ours,
    )?;

    // Our own files.
    let runtime_bytes = fs_err::read(runtime_source)?;
    let runtime_config_text = render_runtime_config(&config)?;
    let OwnFiles {
        token_before,
        token,
        machine_id,
        rules,
        rules_note,
    } = own;

    let contents = Contents {
        runtime: runtime_bytes,
        runtime_config: runtime_config_text,
        rules,
        machine_id,
    };
    let files = contents.records(layout, token.as_deref());
    let receipt = Receipt {
        schema_version: RECEIPT_SCHEMA_VERSION,
        version: codex_guard_common::VERSION.to_string(),
        installed_at: previous.map_or_else(
            || humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            |r| r.installed_at.clone(),
        ),
        codex_home: layout.codex_home.clone(),
        hooks_json: hooks_record(
            &HooksPlaced {
                file: hooks_file,
                layout: hooks_layout,
                moved_from,
                before: hooks_before.as_deref(),
                placed: &placed,
                command: &command,
                timeout: config.hook_timeout_secs(),
            },
            previous,
        ),
        codex_config: config_record,
        files,
        created_dirs: match previous {
            Some(r) => r.created_dirs.clone(),
            None if codex_home_created => vec![layout.codex_home.clone()],
            None => Vec::new(),
        },
    };

    let mut changes = vec![FileChange::write(
        layout.receipt(),
        "the install receipt",
        receipt.to_json().into_bytes(),
        0o600,
        Show::Diff,
    )?];
    changes.extend(contents.into_changes(layout)?);
    changes.push(FileChange {
        path: config_path,
        label: "config.toml",
        before: config_before.map(String::into_bytes),
        after: config_after.into_bytes(),
        mode: 0o600,
        show: Show::Diff,
        remove: false,
    });
    if let Some(after) = hooks_after {
        let remove = after == JsonAfter::Remove;
        changes.push(FileChange {
            path: hooks_path,
            label: "hooks.json",
            before: hooks_before.map(String::into_bytes),
            after: match after {
                JsonAfter::Write(text) => text.into_bytes(),
                JsonAfter::Remove => Vec::new(),
            },
            mode: 0o644,
            show: Show::Diff,
            remove,
        });
    }
    if let Some(token) = token {
        changes.push(FileChange {
            path: layout.token(),
            label: "the token",
            before: token_before,
            after: token,
            mode: 0o600,
            show: Show::Secret,
            remove: false,
        });
    }
    notes.extend(rules_note);
    Ok((changes, notes))
}

/// What becomes of hooks.json.
#[derive(Debug, PartialEq, Eq)]
enum JsonAfter {
    Write(String),
    /// Setup created it and it holds nothing else.
    Remove,
}

/// hooks.json with our handlers taken out, when they moved to config.toml: deleted when
/// setup created it and nothing else is left, the user's bytes when it is back to what
/// setup found, else rewritten. `None` when none of ours is in it.
fn json_without_ours(
    existing: Value,
    previous: Option<&Receipt>,
    text: Option<&str>,
    is_ours: &dyn Fn(&serde_json::Map<String, Value>) -> bool,
) -> Option<JsonAfter> {
    let record = previous.map(|r| &r.hooks_json);
    let original_text = record.and_then(|r| r.original.as_deref());
    let original = original_text
        .and_then(|t| serde_json::from_str::<Value>(t.strip_prefix('\u{feff}').unwrap_or(t)).ok());
    let removal = hooks_json::unmerge(existing, original.as_ref(), is_ours);
    if removal.removed.is_empty() {
        return None;
    }
    if record.is_some_and(|r| r.created) && hooks_json::is_empty(&removal.value) {
        return Some(JsonAfter::Remove);
    }
    Some(JsonAfter::Write(match (original, original_text) {
        (Some(value), Some(text)) if value == removal.value => text.to_string(),
        _ => hooks_json::to_text(&removal.value, text.unwrap_or("")),
    }))
}

/// Where our handlers go: where the user's own hooks are (hooks.json, or inline in
/// config.toml); when the user has hooks in both or in neither, where an earlier setup
/// put them, else hooks.json. The user's hooks never move. Also says
/// whether the user's hooks and ours are then in both files, which makes Codex warn
/// on every session (the user's hooks are never moved).
pub(crate) fn choose_hooks_layout(
    hooks_json: Option<&Value>,
    config: &toml_edit::DocumentMut,
    previous: Option<&Receipt>,
    is_ours: &dyn Fn(&serde_json::Map<String, Value>) -> bool,
) -> (HooksLayout, bool) {
    let user_json = hooks_json.is_some_and(|doc| inline_hooks::has_foreign(doc, is_ours));
    let user_inline = inline_hooks::has_foreign_groups(config, is_ours);
    let layout = match (user_json, user_inline) {
        (false, true) => HooksLayout::ConfigToml,
        (true, false) => HooksLayout::HooksJson,
        _ => previous.map_or(HooksLayout::HooksJson, |r| r.hooks_json.layout),
    };
    let both = match layout {
        HooksLayout::HooksJson => user_inline,
        HooksLayout::ConfigToml => user_json,
    };
    (layout, both)
}

/// What to tell a user whose hooks (with ours) end up in both hooks.json and config.toml.
fn both_layouts_note(layout: HooksLayout, hooks_json: &Path, config: &Path) -> String {
    let ours = match layout {
        HooksLayout::HooksJson => hooks_json,
        HooksLayout::ConfigToml => config,
    };
    format!(
        "hooks are declared in both {} and {}: Codex runs them all but warns on every session          (\"loading hooks from both ...\"); codex-guard's handlers are in {} and yours were left          where they are. To silence the warning, move your hooks into one of the two files          (trust them again in Codex afterwards) and run `codex-guard setup` again",
        hooks_json.display(),
        config.display(),
        ours.display(),
    )
}

/// Receipt first, then our files, then the hooks, and trust last: Codex never sees
/// a trusted handler whose program is missing.
fn write_order(layout: &Layout, path: &Path) -> usize {
    let order = [
        layout.receipt(),
        layout.token(),
        layout.machine_id(),
        layout.rules(),
        layout.runtime_config(),
        layout.runtime_bin(),
        layout.hooks_json(),
        layout.codex_config(),
    ];
    order.iter().position(|p| p == path).unwrap_or(order.len())
}

/// The files setup is about to change, each with the hash it will have after.
fn backup_entries(layout: &Layout, changes: &[FileChange]) -> Vec<backup::Entry> {
    changes
        .iter()
        .map(|c| {
            let after = backup::After::Hash((!c.remove).then(|| fsutil::sha256_hex(&c.after)));
            backup::Entry::of(layout, &c.path, after)
        })
        .collect()
}

/// The runtime config from its template, every value set as TOML data.
pub(crate) fn render_runtime_config(config: &RuntimeConfig) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = RUNTIME_CONFIG_TEMPLATE
        .parse()
        .context("templates/runtime-config.toml is invalid")?;
    let set_or_remove =
        |doc: &mut toml_edit::DocumentMut, key: &str, value: Option<String>| match value {
            Some(v) => set_keeping_decor(doc, key, toml_edit::Value::from(v)),
            None => {
                doc.remove(key);
            }
        };
    set_or_remove(&mut doc, "url", config.url.clone());
    set_or_remove(
        &mut doc,
        "token_file",
        config
            .token_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
    );
    set_keeping_decor(&mut doc, "mode", config.mode.as_str().into());
    set_keeping_decor(&mut doc, "blocking", config.blocking.into());
    set_keeping_decor(&mut doc, "fail_closed", config.fail_closed.into());
    set_keeping_decor(&mut doc, "timeout_ms", toml_int(config.timeout_ms).into());
    set_keeping_decor(
        &mut doc,
        "ingest_non_mcp_tools",
        config.ingest_non_mcp_tools.into(),
    );
    set_keeping_decor(
        &mut doc,
        "backups_keep",
        toml_int(u64::try_from(config.backups_keep).unwrap_or(u64::MAX)).into(),
    );
    match &config.ca_cert {
        Some(path) => {
            // The template ends with the comment that explains this key: keep it above it.
            let explanation = doc.trailing().as_str().unwrap_or_default().to_string();
            if !explanation.trim().is_empty() && doc.get("ca_cert").is_none() {
                doc.set_trailing("");
                doc["ca_cert"] = toml_edit::value(path.to_string_lossy().into_owned());
                if let Some(mut key) = doc.as_table_mut().key_mut("ca_cert") {
                    key.leaf_decor_mut().set_prefix(explanation);
                }
            } else {
                set_keeping_decor(
                    &mut doc,
                    "ca_cert",
                    path.to_string_lossy().into_owned().into(),
                );
            }
        }
        None => {
            doc.remove("ca_cert");
        }
    }
    set_keeping_decor(&mut doc, "updates", config.updates.as_str().into());
    for (key, value) in [
        ("update_url", &config.update_url),
        ("update_public_key", &config.update_public_key),
    ] {
        match value {
            Some(value) => set_keeping_decor(&mut doc, key, value.as_str().into()),
            None => {
                doc.remove(key);
            }
        }
    }
    for (key, value) in [
        ("spool_max_mb", config.spool_max_mb),
        ("spool_max_age_hours", config.spool_max_age_hours),
        ("retry_max_ms", config.retry_max_ms),
        ("breaker_cooldown_ms", config.breaker_cooldown_ms),
    ] {
        set_keeping_decor(&mut doc, key, toml_int(value).into());
    }
    let text = doc.to_string();
    // What we write must be what the runtime reads back.
    let parsed =
        RuntimeConfig::from_toml(&text).context("rendered runtime config does not parse")?;
    anyhow::ensure!(
        &parsed == config,
        "rendered runtime config does not round-trip"
    );
    Ok(text)
}

/// A count or duration as a TOML integer (i64), saturating: the runtime reads it back
/// as u64 and no real setting comes near 2^63.
fn toml_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn set_keeping_decor(doc: &mut toml_edit::DocumentMut, key: &str, mut value: toml_edit::Value) {
    if let Some(old) = doc.get(key).and_then(toml_edit::Item::as_value) {
        *value.decor_mut() = old.decor().clone();
    }
    doc[key] = toml_edit::Item::Value(value);
}

/// Machine-wide settings that silently stop a per-user install from running.
pub(crate) fn managed_policy_warnings(system_root: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some((sys, _)) = crate::install::managed::installed(system_root) {
        warnings.push(format!(
            "a machine-wide install ({}) already runs codex-guard for every user; with this per-user install every event is checked twice",
            sys.receipt().display()
        ));
    }
    warnings.extend(requirements_warnings(system_root));
    warnings
}

fn requirements_warnings(system_root: &Path) -> Vec<String> {
    let path = system_root.join("etc/codex/requirements.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml_edit::DocumentMut>() else {
        return vec![format!(
            "{} is not valid TOML; Codex may refuse to start",
            path.display()
        )];
    };
    let mut warnings = Vec::new();
    if doc
        .get("features")
        .and_then(|f| f.get("hooks"))
        .and_then(toml_edit::Item::as_bool)
        == Some(false)
    {
        warnings.push(format!(
            "{} turns hooks off for this machine; codex-guard's hooks will not run",
            path.display()
        ));
    }
    let managed_only = doc
        .get("allow_managed_hooks_only")
        .and_then(toml_edit::Item::as_bool)
        == Some(true)
        || doc
            .get("hooks")
            .and_then(|h| h.get("allow_managed_hooks_only"))
            .and_then(toml_edit::Item::as_bool)
            == Some(true);
    if managed_only {
        warnings.push(format!(
            "{} sets allow_managed_hooks_only: per-user hooks, codex-guard's included, are ignored",
            path.display()
        ));
    }
    warnings
}

/// Calls the service this install will use, as its hook will call it (the token
/// given or already stored, the CA bundles, the deadline, this environment as the
/// hook reads it in `scope`), and returns the warning, with its fix, when the hooks'
/// calls would fail.
pub(crate) fn service_warning(
    choices: &Choices,
    token_file: &Path,
    runtime_config: &Path,
    scope: Scope,
) -> Result<Option<String>> {
    let stored = match &choices.token {
        Some(token) => Some(token.clone()),
        None => fsutil::read_optional(token_file)?
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    };
    let env = |name: &str| std::env::var(name).ok();
    let config = choices.runtime_config(None);
    let Some(target) = Target::planned(&config, stored.as_deref(), &env, scope) else {
        return Ok(None);
    };
    let setup = match scope {
        Scope::PerUser => "codex-guard setup",
        Scope::Managed => {
            // As every user's hook does: the OS trust store must not be steered by
            // this shell's SSL_CERT_FILE and friends.
            codex_guard_hook::settings::scrub_managed_env();
            "codex-guard setup --managed"
        }
    };
    let env_token =
        scope == Scope::PerUser && env("AKTO_API_TOKEN").is_some_and(|v| !v.trim().is_empty());
    let finding = service::check(
        &target,
        &service::Fixes {
            setup,
            config: runtime_config,
            env_token,
        },
    );
    Ok((!finding.ok).then(|| finding.warning()))
}

pub(crate) fn render_diffs(changes: &[FileChange]) -> String {
    crate::diff::render(changes.iter().map(FileChange::diff))
}

fn print_json(outcome: &Outcome, diff: Option<String>) {
    let Outcome {
        layout,
        choices,
        device,
        changes,
        backup,
        warnings,
        notes,
        dry_run,
        ..
    } = outcome;
    report::print(&report::SetupReport {
        summary: summary(changes, backup.clone(), warnings, notes, *dry_run),
        codex_home: layout.codex_home.clone(),
        url: choices.config.url.clone(),
        mode: choices.config.mode,
        blocking: choices.config.blocking,
        fail_closed: choices.config.fail_closed,
        device_id: device.0.clone(),
        device_id_source: device.1.as_str().to_string(),
        diff,
    });
}

/// The summary of a setup (per user or managed): `changed` or `unchanged`.
pub(crate) fn summary(
    changes: &[FileChange],
    backup: Option<PathBuf>,
    warnings: &[String],
    notes: &[String],
    dry_run: bool,
) -> report::Summary {
    let changed = !changes.is_empty();
    let status = if changed {
        report::Status::Changed
    } else {
        report::Status::Unchanged
    };
    report::Summary {
        changed,
        changes: changes
            .iter()
            .map(|c| report::FileAction::new(&c.path, c.action()))
            .collect(),
        backup,
        warnings: warnings.to_vec(),
        notes: notes.to_vec(),
        ..report::Summary::new(status, dry_run)
    }
}

/// What setup did (or would do), for a person.
pub(crate) struct Report<'a> {
    /// Names the install: "" or "managed install: ".
    pub scope: &'a str,
    pub changes: &'a [FileChange],
    /// The archive taken before the writes, when there were any.
    pub backup: Option<&'a Path>,
    pub warnings: &'a [String],
    pub notes: &'a [String],
    pub dry_run: bool,
    /// The files were listed with the question before they were written: a second
    /// list would only repeat it.
    pub listed: bool,
    /// The commands to run next (check the install, start Codex on it).
    pub next: &'a [String],
    /// The `--codex-home` flag (or "") `restore` needs to find this home, when the
    /// backup is one `restore` puts back.
    pub restore_flag: Option<&'a str>,
}

impl Report<'_> {
    /// The report, one line each: the files changed (once), where the previous files
    /// went (only when there were any), notes, warnings, and the next steps.
    pub fn lines(&self) -> Vec<String> {
        let scope = self.scope;
        let count = self.changes.len();
        let mut lines = Vec::new();
        if self.changes.is_empty() {
            lines.push(format!(
                "codex-guard: {scope}unchanged (everything is already in place)"
            ));
        } else if self.dry_run {
            lines.push(format!(
                "codex-guard: {scope}dry run, {count} file(s) would change (the diff above); nothing was written"
            ));
        } else if self.listed {
            lines.push(format!(
                "codex-guard: {scope}changed the {count} file(s) listed above"
            ));
        } else {
            lines.push(format!("codex-guard: {scope}changed {count} file(s):"));
            lines.extend(
                self.changes
                    .iter()
                    .map(|c| format!("  {} {}", c.action(), c.path.display())),
            );
        }
        if !self.dry_run {
            lines.extend(self.backup_lines());
        }
        lines.extend(self.notes.iter().map(|n| format!("note: {n}")));
        lines.extend(self.warnings.iter().map(|w| format!("warning: {w}")));
        if !self.dry_run && !self.next.is_empty() {
            lines.push("next:".into());
            lines.extend(self.next.iter().map(|step| format!("  {step}")));
        }
        lines
    }

    /// Where the files setup replaced were saved. A file that did not exist has no
    /// previous content, so a setup that only created files backed nothing up.
    fn backup_lines(&self) -> Vec<String> {
        let Some(backup) = self.backup else {
            return Vec::new();
        };
        let replaced = self.changes.iter().filter(|c| c.before.is_some()).count();
        if replaced == 0 {
            return vec![
                "no backup: none of these files existed before, so there was nothing to keep"
                    .to_string(),
            ];
        }
        let mut lines = vec![format!(
            "backup of the {replaced} file(s) this setup replaced: {}",
            backup.display()
        )];
        if let Some(flag) = self.restore_flag {
            lines.push(format!(
                "  what putting them back would change:  codex-guard restore --dry-run{flag} {}",
                crate::home::quote_for_shell(backup)
            ));
        }
        lines
    }

    pub fn print(&self) {
        for line in self.lines() {
            eprintln!("{line}");
        }
    }
}

/// The next steps after a per-user setup: check the install, then start Codex on
/// this home, each spelled so it works from a new shell.
pub(crate) fn next_steps(codex_home: &Path) -> Vec<String> {
    let reach = crate::home::Reach::of(codex_home);
    vec![
        format!(
            "check the install:  codex-guard doctor{}",
            reach.flag.unwrap_or_default()
        ),
        format!(
            "start Codex on it:  {}codex",
            reach.codex_env.unwrap_or_default()
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use codex_guard_common::Mode;
    use serde_json::json;

    #[test]
    fn handlers_go_where_the_users_hooks_are() {
        use HooksLayout::{ConfigToml as Toml, HooksJson as Json};
        const OURS: &str = "'/h/.codex/codex-guard/bin/codex-guard-hook'";
        let is_ours = |h: &serde_json::Map<String, Value>| {
            h.get("command").and_then(Value::as_str) == Some(OURS)
        };
        let user_json = json!({"hooks": {"Stop": [{"hooks": [{"command": "mine"}]}]}});
        let ours_json = json!({"hooks": {"Stop": [{"hooks": [{"command": OURS}]}]}});
        let inline: toml_edit::DocumentMut = "[[hooks.Stop]]\nhooks = [{ command = \"mine\" }]\n"
            .parse()
            .unwrap();
        let ours_inline: toml_edit::DocumentMut =
            format!("[[hooks.Stop]]\nhooks = [{{ command = {OURS:?} }}]\n")
                .parse()
                .unwrap();
        let plain: toml_edit::DocumentMut = "model = \"o3\"\n".parse().unwrap();
        let receipt = |layout| {
            let mut r: Receipt = serde_json::from_value(json!({
                "schema_version": 1, "version": "0", "installed_at": "", "codex_home": "/h",
                "hooks_json": {"path": "/h/hooks.json", "created": true, "handlers": []},
                "codex_config": {"path": "/h/config.toml", "created": false,
                    "features_table_created": false, "hooks_previous": null,
                    "codex_hooks_previous": null, "trust": []},
                "files": [], "created_dirs": []
            }))
            .expect("a receipt without `layout` still reads");
            assert_eq!(r.hooks_json.layout, HooksLayout::HooksJson);
            r.hooks_json.layout = layout;
            r
        };
        let json_receipt = receipt(HooksLayout::HooksJson);
        let inline_receipt = receipt(HooksLayout::ConfigToml);
        for (json, config, previous, want) in [
            // A first setup.
            (None, &plain, None, (Json, false)),
            (Some(&user_json), &plain, None, (Json, false)),
            (None, &inline, None, (Toml, false)),
            (Some(&user_json), &inline, None, (Json, true)),
            // Ours alone are no reason to stay or move.
            (
                Some(&ours_json),
                &plain,
                Some(&inline_receipt),
                (Toml, false),
            ),
            (None, &ours_inline, Some(&json_receipt), (Json, false)),
            // Ours follow the user's hooks into the other file.
            (
                Some(&ours_json),
                &inline,
                Some(&json_receipt),
                (Toml, false),
            ),
            (
                Some(&user_json),
                &ours_inline,
                Some(&inline_receipt),
                (Json, false),
            ),
            // Both: ours stay where they are.
            (
                Some(&user_json),
                &inline,
                Some(&inline_receipt),
                (Toml, true),
            ),
        ] {
            assert_eq!(
                choose_hooks_layout(json, config, previous, &is_ours),
                want,
                "{json:?} {config} {:?}",
                previous.map(|r| r.hooks_json.layout)
            );
        }
    }

    #[test]
    fn runtime_config_round_trips_for_every_choice() {
        for (url, token_file) in [
            (None, None),
            (Some("https://a.b".to_string()), Some(PathBuf::from("/h/t"))),
        ] {
            let config = RuntimeConfig {
                url,
                token_file,
                mode: Mode::Atlas,
                blocking: false,
                fail_closed: true,
                timeout_ms: 1234,
                ..RuntimeConfig::default()
            };
            render_runtime_config(&config).unwrap();
        }
    }
}
