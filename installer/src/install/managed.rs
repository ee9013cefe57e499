//! The machine-wide (managed) install: Codex's managed hooks in
//! `/etc/codex/requirements.toml`, the runtime under a system prefix, and the
//! runtime's machine-wide config in `/etc/codex-guard/`.
//!
//! Managed hooks need no trust records and no user can turn them off. The runtime
//! still runs as each user and keeps that user's logs and spool in their own
//! `$CODEX_HOME/codex-guard/`. Every path is below `--system-root`.

use crate::cli::SetupArgs;
use crate::failure::{ExitCode, Failure};
use crate::fsutil::{self, Lock};
use crate::install::setup::{self, FileChange, Show};
use crate::install::Transaction;
use crate::settings::{self, Settings};
use crate::{edit::codex_config, edit::hooks_json, edit::inline_hooks, install::backup, report};
use anyhow::{Context, Result};
use codex_guard_common::receipt::FileRecord;
pub use codex_guard_common::receipt::{
    ManagedReceipt, RequirementsRecord, MANAGED_RECEIPT_SCHEMA_VERSION,
};
use codex_guard_common::{Layout, RuntimeConfig};
use codex_guard_hook::rules::Layer;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

/// Where `--managed` puts the runtime unless `--prefix` says otherwise.
pub const DEFAULT_PREFIX: &str = "/usr/local/lib/codex-guard";
const LOCK_WAIT: Duration = Duration::from_secs(30);
const BACKUPS_KEEP: usize = 10;

/// Every machine-wide path, below the system root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemLayout {
    pub root: PathBuf,
    /// The runtime's directory (Codex's `managed_dir`), already below `root`.
    pub prefix: PathBuf,
}

impl SystemLayout {
    /// `prefix` is the path on the target system (`/usr/local/lib/codex-guard`).
    pub fn new(root: &Path, prefix: &Path) -> SystemLayout {
        SystemLayout {
            root: root.to_path_buf(),
            prefix: rooted(root, prefix),
        }
    }

    /// The layout of an existing managed install (its receipt's prefix), else the default.
    pub fn discover(root: &Path) -> SystemLayout {
        let default = SystemLayout::new(root, Path::new(DEFAULT_PREFIX));
        match read_receipt(&default.receipt()) {
            Ok(Some(receipt)) => SystemLayout {
                root: root.to_path_buf(),
                prefix: receipt.prefix,
            },
            _ => default,
        }
    }

    /// Where a managed install writes files (and a killed run may leave temporary ones).
    fn written_dirs(&self) -> [PathBuf; 4] {
        [
            self.root.join("etc/codex"),
            self.config_dir(),
            self.backups_dir(),
            self.prefix.clone(),
        ]
    }

    pub fn requirements(&self) -> PathBuf {
        self.root.join("etc/codex/requirements.toml")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.root.join("etc/codex-guard")
    }
    pub fn runtime_config(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }
    pub fn token(&self) -> PathBuf {
        self.config_dir().join("token")
    }
    pub fn machine_id(&self) -> PathBuf {
        self.config_dir().join("machine-id")
    }
    /// The admin rules: every user's runtime applies them and a user cannot loosen them.
    pub fn rules(&self) -> PathBuf {
        self.config_dir().join("rules.toml")
    }
    pub fn receipt(&self) -> PathBuf {
        self.config_dir()
            .join(codex_guard_common::layout::MANAGED_RECEIPT)
    }
    pub fn backups_dir(&self) -> PathBuf {
        self.config_dir().join("backups")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.config_dir().join(".lock")
    }
    /// Root's own state (`/var/lib/codex-guard`): what outlives the install.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("var/lib/codex-guard")
    }
    /// Safety backups of `uninstall --managed` (0700), kept after the install is gone.
    pub fn uninstall_backups_dir(&self) -> PathBuf {
        self.state_dir().join("uninstall-backups")
    }
    pub fn runtime_bin(&self) -> PathBuf {
        self.prefix.join(codex_guard_common::layout::RUNTIME_BIN)
    }
    /// The command Codex runs: our runtime, told where the machine-wide config is.
    pub fn command(&self) -> String {
        format!(
            "{} {} {}",
            hooks_json::shell_quote(&self.runtime_bin()),
            codex_guard_common::layout::MACHINE_CONFIG_ARG,
            hooks_json::shell_quote(&self.runtime_config())
        )
    }
}

/// `path` (absolute on the target system) below `root`.
fn rooted(root: &Path, path: &Path) -> PathBuf {
    match path.strip_prefix("/") {
        Ok(relative) => root.join(relative),
        Err(_) => root.join(path),
    }
}

fn read_receipt(path: &Path) -> Result<Option<ManagedReceipt>> {
    match fsutil::read_optional_text(path)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("the managed install receipt {} is damaged", path.display())),
    }
}

/// The managed receipt of `root`, if there is a managed install.
pub fn installed(root: &Path) -> Option<(SystemLayout, ManagedReceipt)> {
    let layout = SystemLayout::discover(root);
    let receipt = read_receipt(&layout.receipt()).ok()??;
    Some((layout, receipt))
}

// ---------------------------------------------------------------------------
// requirements.toml

/// Our `[[hooks.<Event>]]` groups in `table`: kept in place when identical, else
/// replaced at the end.
fn place_groups(
    table: &mut Table,
    hooks: &Value,
    commands: &[String],
    bad: &dyn Fn(String) -> Failure,
) -> Result<(), Failure> {
    let events = hooks["hooks"].as_object().expect("the template has hooks");
    for (event, groups) in events {
        let wanted: Vec<Table> = groups
            .as_array()
            .into_iter()
            .flatten()
            .map(inline_hooks::group_table)
            .collect();
        let item = table
            .entry(event)
            .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
        let array = item.as_array_of_tables_mut().ok_or_else(|| {
            bad(format!(
                "hooks.{event} is not an array of [[hooks.{event}]] tables"
            ))
        })?;
        let ours: Vec<usize> = (0..array.len())
            .filter(|&i| is_our_group(array.get(i).expect("index in range"), commands))
            .collect();
        let same = ours.len() == wanted.len()
            && ours
                .iter()
                .zip(&wanted)
                .all(|(&i, w)| same_group(array.get(i).expect("index in range"), w));
        if !same {
            for &i in ours.iter().rev() {
                array.remove(i);
            }
            for group in wanted {
                array.push(group);
            }
        }
    }
    Ok(())
}

/// Puts our managed hooks into `doc`. `previous` is the record of an earlier run.
fn apply_requirements(
    doc: &mut DocumentMut,
    path: &Path,
    original: Option<&str>,
    hooks: &Value,
    sys: &SystemLayout,
    managed_only: bool,
    previous: Option<&RequirementsRecord>,
) -> Result<RequirementsRecord, Failure> {
    let bad = |message: String| {
        Failure::bad_input(format!("{}: {message}", path.display()))
            .hint("fix the file by hand, then run `codex-guard setup --managed` again; nothing was changed")
    };
    if let Some((line, why)) = original.and_then(|text| codex_config::layout_change(doc, text)) {
        return Err(bad(format!(
            "cannot be edited without rewriting line {line} and the lines after it: {why}"
        )));
    }
    let prefix_text = sys.prefix.to_string_lossy().into_owned();
    let mut commands = vec![sys.command()];
    if let Some(previous) = previous {
        for c in &previous.commands {
            if !commands.contains(c) {
                commands.push(c.clone());
            }
        }
    }

    // [features] hooks = true
    let features_table_created = match previous {
        Some(p) => p.features_table_created,
        None => doc.get("features").is_none(),
    };
    let features_hooks_before = doc
        .get("features")
        .and_then(|f| f.get("hooks"))
        .and_then(Item::as_bool);
    let features = doc
        .entry("features")
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_like_mut()
        .ok_or_else(|| bad("`features` is not a table".into()))?;
    if features.get("hooks").and_then(Item::as_bool) != Some(true) {
        features.insert("hooks", toml_edit::value(true));
    }

    // [hooks] managed_dir
    let hooks_table_created = match previous {
        Some(p) => p.hooks_table_created,
        None => doc.get("hooks").is_none(),
    };
    let table = doc
        .entry("hooks")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(false);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| {
            bad("`hooks` is not a [hooks] table; codex-guard only edits that form".into())
        })?;
    let managed_dir_added = match table.get("managed_dir").map(|i| i.as_str()) {
        None => {
            table.insert("managed_dir", toml_edit::value(prefix_text.clone()));
            true
        }
        Some(Some(dir)) if dir == prefix_text => previous.is_some_and(|p| p.managed_dir_added),
        Some(Some(dir)) => {
            return Err(Failure::bad_input(format!(
                "{} already sets hooks.managed_dir = {dir:?}; Codex runs managed hooks from one directory only",
                path.display()
            ))
            .hint(format!("install codex-guard's runtime there: --prefix {dir:?} (below --system-root)")))
        }
        Some(None) => return Err(bad("hooks.managed_dir is not a string".into())),
    };

    place_groups(table, hooks, &commands, &bad)?;

    // allow_managed_hooks_only
    let current_only = doc.get("allow_managed_hooks_only").and_then(Item::as_bool);
    let (was_set, previous_only) = match previous {
        Some(p) if p.managed_only => (true, p.managed_only_previous),
        _ => (false, current_only),
    };
    if managed_only {
        if current_only != Some(true) {
            doc.insert("allow_managed_hooks_only", toml_edit::value(true));
        }
    } else if was_set {
        restore_bool(
            doc.as_table_mut(),
            "allow_managed_hooks_only",
            previous_only,
        );
    }

    Ok(RequirementsRecord {
        path: path.to_path_buf(),
        original: match previous {
            Some(p) => p.original.clone(),
            None => original.map(str::to_string),
        },
        features_table_created,
        features_hooks: match previous {
            Some(p) => p.features_hooks,
            None => features_hooks_before,
        },
        hooks_table_created,
        managed_dir_added,
        managed_only,
        managed_only_previous: if managed_only { previous_only } else { None },
        commands: vec![sys.command()],
    })
}

fn handlers(group: &Table) -> Vec<&Table> {
    group
        .get("hooks")
        .and_then(Item::as_array_of_tables)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// A group all of whose handlers run one of our commands.
fn is_our_group(group: &Table, commands: &[String]) -> bool {
    let handlers = handlers(group);
    !handlers.is_empty()
        && handlers.iter().all(|h| {
            h.get("command")
                .and_then(Item::as_str)
                .is_some_and(|c| commands.iter().any(|k| k == c))
        })
}

fn same_group(a: &Table, b: &Table) -> bool {
    let data = |t: &Table| -> Vec<Vec<(String, String)>> {
        handlers(t)
            .iter()
            .map(|h| {
                let mut pairs: Vec<(String, String)> = h
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            v.as_value()
                                .map(|v| v.clone().decorated("", "").to_string())
                                .unwrap_or_default(),
                        )
                    })
                    .collect();
                pairs.sort();
                pairs
            })
            .collect()
    };
    a.get("matcher").and_then(Item::as_str) == b.get("matcher").and_then(Item::as_str)
        && data(a) == data(b)
}

fn restore_bool(table: &mut Table, key: &str, previous: Option<bool>) {
    match previous {
        Some(value) => {
            table.insert(key, toml_edit::value(value));
        }
        None => {
            table.remove(key);
        }
    }
}

/// Takes our entries out of `doc`, restoring every value setup replaced; what the
/// admin added since stays.
fn unapply_requirements(doc: &mut DocumentMut, record: &RequirementsRecord) {
    if let Some(hooks) = doc.get_mut("hooks").and_then(Item::as_table_mut) {
        let events: Vec<String> = hooks.iter().map(|(k, _)| k.to_string()).collect();
        for event in events {
            let Some(array) = hooks.get_mut(&event).and_then(Item::as_array_of_tables_mut) else {
                continue;
            };
            let ours: Vec<usize> = (0..array.len())
                .filter(|&i| is_our_group(array.get(i).expect("index in range"), &record.commands))
                .collect();
            for &i in ours.iter().rev() {
                array.remove(i);
            }
            if array.is_empty() && !ours.is_empty() {
                hooks.remove(&event);
            }
        }
        if record.managed_dir_added {
            hooks.remove("managed_dir");
        }
        if record.hooks_table_created && hooks.is_empty() {
            doc.remove("hooks");
        }
    }
    if record.managed_only {
        restore_bool(
            doc.as_table_mut(),
            "allow_managed_hooks_only",
            record.managed_only_previous,
        );
    }
    if let Some(features) = doc.get_mut("features").and_then(Item::as_table_mut) {
        restore_bool(features, "hooks", record.features_hooks);
        if record.features_table_created && features.is_empty() {
            doc.remove("features");
        }
    }
}

fn parse_toml(text: &str, path: &Path) -> Result<DocumentMut, Failure> {
    text.parse::<DocumentMut>().map_err(|e| {
        Failure::bad_input(codex_config::syntax_error(text, path, &e).0)
            .hint("fix the file by hand, then run `codex-guard setup --managed` again; nothing was changed")
    })
}

// ---------------------------------------------------------------------------
// setup --managed

/// Where the runtime goes: `--prefix` (absolute, below the system root), else where
/// the current install put it, else the default.
fn install_prefix(
    flag: Option<&Path>,
    previous: Option<&ManagedReceipt>,
    root: &Path,
) -> Result<PathBuf> {
    Ok(match (flag, previous) {
        (Some(prefix), _) => {
            if !prefix.is_absolute() {
                return Err(Failure::bad_input(format!(
                    "--prefix {} is not an absolute path",
                    prefix.display()
                ))
                .into());
            }
            rooted(root, prefix)
        }
        (None, Some(receipt)) => receipt.prefix.clone(),
        (None, None) => rooted(root, Path::new(DEFAULT_PREFIX)),
    })
}

/// The machine-wide runtime config, if there is a valid one (an invalid one is
/// replaced, with a warning).
fn read_runtime_config(
    sys: &SystemLayout,
    warnings: &mut Vec<String>,
) -> Result<Option<RuntimeConfig>> {
    let Some(text) = fsutil::read_optional_text(&sys.runtime_config())? else {
        return Ok(None);
    };
    match RuntimeConfig::from_toml(&text) {
        Ok(config) => Ok(Some(config)),
        Err(e) => {
            warnings.push(format!(
                "{} was invalid ({}) and is replaced",
                sys.runtime_config().display(),
                e.message()
            ));
            Ok(None)
        }
    }
}

pub fn setup(args: &SetupArgs) -> Result<ExitCode> {
    fsutil::require_root(&args.home.system_root, "setup --managed")?;
    let root = crate::home::canonical_path(&args.home.system_root)?;
    let previous = read_receipt(&SystemLayout::new(&root, Path::new(DEFAULT_PREFIX)).receipt())?;
    let prefix = install_prefix(args.prefix.as_deref(), previous.as_ref(), &root)?;
    let sys = SystemLayout {
        root: root.clone(),
        prefix,
    };
    let inputs = if args.install_settings_only {
        Settings::from_flags(args)?
    } else {
        Settings::gather(args, &|name| std::env::var(name).ok())?
    };
    let mut warnings = Vec::new();
    let existing = read_runtime_config(&sys, &mut warnings)?;
    let choices = settings::resolve_choices(&inputs, existing.as_ref(), false, Layer::Admin)?;
    let runtime_source = setup::locate_runtime(args.runtime.as_deref())?;
    let managed_only = args.managed_only.unwrap_or_else(|| {
        previous
            .as_ref()
            .is_some_and(|r| r.requirements.managed_only)
    });

    // Every input is validated before anything is created; the plan is made again
    // under the lock, knowing which directories this run created.
    plan(
        &sys,
        &choices,
        &runtime_source,
        managed_only,
        previous.as_ref(),
        &[],
    )?;
    let (_lock, created) = if args.dry_run {
        (None, Vec::new())
    } else {
        let created = missing_dirs(&sys);
        fsutil::create_dir_all(&sys.config_dir(), 0o755).map_err(fsutil::as_needs_root)?;
        let lock = Lock::acquire(&sys.lock_file(), LOCK_WAIT)?;
        fsutil::remove_stale_temps(&sys.written_dirs());
        (Some(lock), created)
    };
    let previous = read_receipt(&sys.receipt())?;
    let (mut changes, notes) = plan(
        &sys,
        &choices,
        &runtime_source,
        managed_only,
        previous.as_ref(),
        &created,
    )?;
    changes.retain(FileChange::changed);
    warnings.extend(setup::service_warning(
        &choices,
        &sys.token(),
        &sys.runtime_config(),
        codex_guard_common::env::Scope::Managed,
    )?);

    let backup = if args.dry_run || changes.is_empty() {
        None
    } else {
        Some(apply_setup(&sys, &changes)?)
    };

    let exit = if warnings.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Degraded
    };
    report(
        args,
        &sys,
        &choices,
        managed_only,
        &Done {
            changes: &changes,
            backup: backup.as_deref(),
            warnings: &warnings,
            notes: &notes,
        },
    );
    Ok(exit)
}

/// Backs up what `changes` replace, then writes them in one transaction: what was
/// written goes back (the receipt first written, last undone), so a failed write
/// leaves the machine as it was, not half managed. Returns the backup.
fn apply_setup(sys: &SystemLayout, changes: &[FileChange]) -> Result<PathBuf> {
    let root = &sys.root;
    let entries: Vec<backup::Entry> = changes
        .iter()
        .map(|c| {
            let after = backup::After::Hash(Some(fsutil::sha256_hex(&c.after)));
            backup::Entry::of(&Layout::new(root), &c.path, after)
        })
        .collect();
    let backup = backup::create(
        &sys.backups_dir(),
        "setup-managed",
        root,
        &entries,
        Some(BACKUPS_KEEP),
    )
    .map_err(fsutil::as_needs_root)?;
    let mut tx = Transaction::new("setup");
    for change in changes {
        let written = tx.run(&change.path, change.before.as_deref(), change.mode, || {
            write_change(sys, change)
        });
        if let Err(error) = written {
            let undo = format!(
                "put back the files of {} by hand (they are stored relative to {})",
                backup.display(),
                root.display()
            );
            return Err(tx.roll_back(fsutil::as_needs_root(error), &undo));
        }
    }
    tx.commit();
    Ok(backup)
}

fn write_change(sys: &SystemLayout, change: &FileChange) -> Result<()> {
    if let Some(dir) = change.path.parent() {
        fsutil::create_dir_all(dir, 0o755)?;
    }
    fsutil::write_atomic(&change.path, &change.after, change.mode)?;
    // Our files get our modes even when a file was there before: every user's
    // runtime must read them (the admin's requirements.toml keeps its own).
    if change.path != sys.requirements() {
        crate::safe_fs::set_file_mode(&change.path, change.mode)?;
    }
    Ok(())
}

/// Directories a managed install needs that do not exist yet, parents first.
fn missing_dirs(sys: &SystemLayout) -> Vec<PathBuf> {
    let mut missing = Vec::new();
    for dir in [
        sys.root.join("etc/codex"),
        sys.config_dir(),
        sys.prefix.clone(),
    ] {
        let mut chain = Vec::new();
        let mut cursor = dir.as_path();
        while !cursor.exists() && cursor.starts_with(&sys.root) && cursor != sys.root {
            chain.push(cursor.to_path_buf());
            match cursor.parent() {
                Some(parent) => cursor = parent,
                None => break,
            }
        }
        for d in chain.into_iter().rev() {
            if !missing.contains(&d) {
                missing.push(d);
            }
        }
    }
    missing
}

fn receipt_json(receipt: &ManagedReceipt) -> String {
    let mut text = serde_json::to_string_pretty(receipt).expect("the receipt serializes");
    text.push('\n');
    text
}

/// Every file of the managed install with its current and desired content (the
/// receipt comes first and requirements.toml last, so Codex never sees a hook whose
/// program is missing), and notes for the admin running setup.
/// requirements.toml with our managed hooks in it, and the record of what that changed.
fn plan_requirements(
    sys: &SystemLayout,
    before: Option<&str>,
    timeout_secs: u64,
    managed_only: bool,
    previous: Option<&ManagedReceipt>,
) -> Result<(String, RequirementsRecord)> {
    let path = sys.requirements();
    let mut doc = parse_toml(before.unwrap_or(""), &path)?;
    let target = hooks_json::Target::current(&sys.runtime_bin(), Some(&sys.runtime_config()))?;
    let hooks = hooks_json::render_template(&sys.command(), timeout_secs, &target);
    let record = apply_requirements(
        &mut doc,
        &path,
        before,
        &hooks,
        sys,
        managed_only,
        previous.map(|r| &r.requirements),
    )?;
    Ok((codex_config::render(&doc, before.unwrap_or("")), record))
}

/// The directories this install created: those of earlier runs, then this one's.
fn created_dirs(previous: Option<&ManagedReceipt>, created: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = previous.map_or_else(Vec::new, |r| r.created_dirs.clone());
    for dir in created {
        if !dirs.contains(dir) {
            dirs.push(dir.clone());
        }
    }
    dirs
}

/// The receipt of this install: what it wrote (by hash), what it changed in
/// requirements.toml, and the directories it created.
fn receipt_of(
    sys: &SystemLayout,
    requirements: RequirementsRecord,
    written: Vec<(PathBuf, &[u8])>,
    previous: Option<&ManagedReceipt>,
    created: &[PathBuf],
) -> ManagedReceipt {
    let files = written
        .into_iter()
        .map(|(path, bytes)| FileRecord {
            path,
            sha256: fsutil::sha256_hex(bytes),
        })
        .collect();
    ManagedReceipt {
        schema_version: MANAGED_RECEIPT_SCHEMA_VERSION,
        version: codex_guard_common::VERSION.to_string(),
        installed_at: previous.map_or_else(
            || humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            |r| r.installed_at.clone(),
        ),
        prefix: sys.prefix.clone(),
        command: sys.command(),
        requirements,
        files,
        created_dirs: created_dirs(previous, created),
    }
}

fn plan(
    sys: &SystemLayout,
    choices: &settings::Choices,
    runtime_source: &Path,
    managed_only: bool,
    previous: Option<&ManagedReceipt>,
    created: &[PathBuf],
) -> Result<(Vec<FileChange>, Vec<String>)> {
    let setup::OwnFiles {
        token_before,
        token,
        machine_id,
        rules,
        rules_note,
    } = setup::own_files(choices, &sys.token(), &sys.machine_id(), &sys.rules())?;
    let config = choices.runtime_config(token.as_ref().map(|_| sys.token()));
    let config_text = setup::render_runtime_config(&config)?;
    let runtime_bytes = fs_err::read(runtime_source)?;

    let requirements_path = sys.requirements();
    let requirements_before = fsutil::read_optional_text(&requirements_path)?;
    let (requirements_after, record) = plan_requirements(
        sys,
        requirements_before.as_deref(),
        config.hook_timeout_secs(),
        managed_only,
        previous,
    )?;

    let mut written: Vec<(PathBuf, &[u8])> = vec![
        (sys.runtime_bin(), &runtime_bytes),
        (sys.runtime_config(), config_text.as_bytes()),
        (sys.rules(), &rules),
        (sys.machine_id(), &machine_id),
        (requirements_path.clone(), requirements_after.as_bytes()),
    ];
    if let Some(token) = &token {
        written.push((sys.token(), token));
    }
    let receipt = receipt_of(sys, record, written, previous, created);

    let file = FileChange::write;
    let mut changes = vec![
        file(
            sys.receipt(),
            "the managed install receipt",
            receipt_json(&receipt).into_bytes(),
            0o644,
            Show::Diff,
        )?,
        file(
            sys.runtime_bin(),
            "the hook runtime",
            runtime_bytes,
            0o755,
            Show::Hash,
        )?,
        // Every user's runtime reads these, so they are readable by all (see docs/fleet.md).
        file(
            sys.runtime_config(),
            "the machine-wide runtime config",
            config_text.into_bytes(),
            0o644,
            Show::Diff,
        )?,
        file(sys.rules(), "the admin rules", rules, 0o644, Show::Diff)?,
        file(
            sys.machine_id(),
            "the machine id",
            machine_id,
            0o644,
            Show::Diff,
        )?,
    ];
    if let Some(token) = token {
        changes.push(FileChange {
            before: token_before,
            path: sys.token(),
            label: "the token",
            after: token,
            mode: 0o644,
            show: Show::Secret,
            remove: false,
        });
    }
    changes.push(FileChange {
        path: requirements_path,
        label: "requirements.toml",
        before: requirements_before.map(String::into_bytes),
        after: requirements_after.into_bytes(),
        mode: 0o644,
        show: Show::Diff,
        remove: false,
    });
    Ok((changes, rules_note.into_iter().collect()))
}

/// What a managed setup did (or, for a dry run, would do).
struct Done<'a> {
    changes: &'a [FileChange],
    backup: Option<&'a Path>,
    warnings: &'a [String],
    notes: &'a [String],
}

fn report(
    args: &SetupArgs,
    sys: &SystemLayout,
    choices: &settings::Choices,
    managed_only: bool,
    done: &Done<'_>,
) {
    let Done {
        changes,
        backup,
        warnings,
        notes,
    } = *done;
    let diff = args.dry_run.then(|| setup::render_diffs(changes));
    if args.json {
        report::print(&report::ManagedSetupReport {
            summary: setup::summary(
                changes,
                backup.map(Path::to_path_buf),
                warnings,
                notes,
                args.dry_run,
            ),
            scope: "managed".into(),
            system_root: sys.root.clone(),
            prefix: sys.prefix.clone(),
            requirements: sys.requirements(),
            managed_only,
            url: choices.config.url.clone(),
            mode: choices.config.mode,
            blocking: choices.config.blocking,
            fail_closed: choices.config.fail_closed,
            updates: choices.config.updates,
            diff,
        });
        return;
    }
    if let Some(diff) = diff {
        print!("{diff}");
    }
    setup::Report {
        scope: "managed install: ",
        changes,
        backup,
        warnings,
        notes,
        dry_run: args.dry_run,
        listed: false,
        next: &[
            "check the install:  codex-guard doctor --managed".to_string(),
            "start Codex as usual (`codex`): the managed hooks apply to every user".to_string(),
        ],
        restore_flag: None,
    }
    .print();
}

// ---------------------------------------------------------------------------
// uninstall --managed

/// One step of a managed uninstall.
enum Step {
    Write(PathBuf, Vec<u8>),
    Remove(PathBuf),
}

pub fn uninstall(
    system_root: &Path,
    dry_run: bool,
    json_out: bool,
    backup_dir: Option<&Path>,
) -> Result<ExitCode> {
    fsutil::require_root(system_root, "uninstall --managed")?;
    let root = crate::home::canonical_path(system_root)?;
    let sys = SystemLayout::discover(&root);
    let Some(receipt) = read_receipt(&sys.receipt())? else {
        // An uninstall killed after removing the receipt leaves its directory, empty.
        if !dry_run && std::fs::remove_dir(sys.config_dir()).is_ok() {
            eprintln!(
                "codex-guard: removed the empty {} an interrupted uninstall left",
                sys.config_dir().display()
            );
        }
        if json_out {
            let mut summary = report::Summary::new(report::Status::Unchanged, dry_run);
            summary.warnings.push("no managed install found".into());
            report::print(&managed_uninstall_report(summary));
        } else {
            eprintln!("codex-guard: no managed install under {}", root.display());
        }
        return Ok(ExitCode::Ok);
    };

    let steps = plan_uninstall(&sys, &receipt)?;
    let changes: Vec<report::FileAction> = steps
        .iter()
        .map(|s| match s {
            Step::Write(p, _) => report::FileAction::new(p, "restored"),
            Step::Remove(p) => report::FileAction::new(p, "removed"),
        })
        .collect();
    let backup = if dry_run {
        None
    } else {
        Some(apply_uninstall(&sys, &receipt, &steps, backup_dir)?)
    };
    let changed = !steps.is_empty();
    if json_out {
        let status = if dry_run {
            report::Status::Planned
        } else {
            report::Status::Removed
        };
        report::print(&managed_uninstall_report(report::Summary {
            changed,
            changes,
            backup,
            ..report::Summary::new(status, dry_run)
        }));
    } else {
        for c in &changes {
            eprintln!("  {} {}", c.action, c.path.display());
        }
        if dry_run {
            eprintln!("codex-guard: dry run, nothing was changed");
        } else {
            eprintln!("codex-guard: managed install removed");
            if let Some(backup) = &backup {
                eprintln!("backup of the removed files: {}", backup.display());
            }
        }
    }
    Ok(ExitCode::Ok)
}

/// What a managed uninstall changes: requirements.toml back to what it was (or with
/// our entries taken out, when the admin edited it since), our files removed, and the
/// receipt last.
fn plan_uninstall(sys: &SystemLayout, receipt: &ManagedReceipt) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let path = &receipt.requirements.path;
    if let Some(current) = fsutil::read_optional_text(path)? {
        let written = receipt
            .files
            .iter()
            .find(|f| &f.path == path)
            .map(|f| f.sha256.as_str());
        let untouched = written == Some(fsutil::sha256_hex(current.as_bytes()).as_str());
        let after = match (&receipt.requirements.original, untouched) {
            (Some(original), true) => Some(original.clone()),
            (None, true) => None,
            (_, false) => {
                let mut doc = parse_toml(&current, path)?;
                unapply_requirements(&mut doc, &receipt.requirements);
                let text = codex_config::render(&doc, &current);
                (receipt.requirements.original.is_some() || !text.trim().is_empty()).then_some(text)
            }
        };
        match after {
            Some(text) if text != current => {
                steps.push(Step::Write(path.clone(), text.into_bytes()));
            }
            Some(_) => {}
            None => steps.push(Step::Remove(path.clone())),
        }
    }
    for file in &receipt.files {
        if &file.path != path && file.path.exists() {
            steps.push(Step::Remove(file.path.clone()));
        }
    }
    steps.push(Step::Remove(sys.receipt()));

    Ok(steps)
}

/// Backs up what `steps` change, applies them in one transaction, then removes our
/// directories (only empty ones) and the receipt. Returns the backup.
fn apply_uninstall(
    sys: &SystemLayout,
    receipt: &ManagedReceipt,
    steps: &[Step],
    backup_dir: Option<&Path>,
) -> Result<PathBuf> {
    let root = &sys.root;
    let _lock = Lock::acquire(&sys.lock_file(), LOCK_WAIT).map_err(fsutil::as_needs_root)?;
    fsutil::remove_stale_temps(&sys.written_dirs());
    let entries: Vec<backup::Entry> = steps
        .iter()
        .map(|s| match s {
            Step::Write(p, bytes) => backup::Entry::of(
                &Layout::new(root),
                p,
                backup::After::Hash(Some(fsutil::sha256_hex(bytes))),
            ),
            Step::Remove(p) => backup::Entry::of(&Layout::new(root), p, backup::After::Hash(None)),
        })
        .collect();
    let dir = match backup_dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            // Uninstall removes /etc/codex-guard: the backup goes to root's state.
            fsutil::create_dir_all(&sys.state_dir(), 0o755).map_err(fsutil::as_needs_root)?;
            fsutil::create_dir_all(&sys.uninstall_backups_dir(), 0o700)
                .map_err(fsutil::as_needs_root)?;
            sys.uninstall_backups_dir()
        }
    };
    let archive = backup::create(&dir, "uninstall-managed", root, &entries, None)
        .map_err(fsutil::as_needs_root)?;
    // requirements.toml first: Codex stops running our hooks before their program
    // goes. The receipt goes last, so that a run killed on the way is finished by
    // the next one, which still finds it.
    let receipt_path = sys.receipt();
    let mut tx = Transaction::new("uninstall");
    for step in steps {
        let (path, after) = match step {
            Step::Remove(p) if *p == receipt_path => continue,
            Step::Write(p, bytes) => (p, Some(bytes.as_slice())),
            Step::Remove(p) => (p, None),
        };
        let (before, mode) = current(path).map_err(fsutil::as_needs_root)?;
        if let Err(error) = tx.put(path, before.as_deref(), after, mode) {
            let undo = format!(
                "put back the files of {} by hand (they are stored relative to {})",
                archive.display(),
                root.display()
            );
            return Err(tx.roll_back(fsutil::as_needs_root(error), &undo));
        }
    }
    tx.commit();
    let _ = std::fs::remove_dir_all(sys.backups_dir());
    // Only empty directories: anything the admin put there stays.
    // Our own two directories go too when the receipt does not list them: a first
    // setup killed before it wrote the receipt created them unrecorded.
    let mut ours = receipt.created_dirs.clone();
    for dir in [sys.config_dir(), sys.prefix.clone()] {
        let named_ours = dir.file_name().is_some_and(|n| n == "codex-guard");
        if named_ours && !ours.contains(&dir) {
            ours.push(dir);
        }
    }
    let remove_empty_dirs = || {
        for dir in ours.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    };
    remove_empty_dirs();
    let _ = std::fs::remove_file(sys.lock_file());
    fs_err::remove_file(&receipt_path).map_err(|e| fsutil::as_needs_root(e.into()))?;
    remove_empty_dirs();
    Ok(archive)
}

/// A file's content and mode as they are, to put it back if a later change fails.
fn current(path: &Path) -> Result<(Option<Vec<u8>>, u32)> {
    let bytes = fsutil::read_optional(path)?;
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777)
    };
    #[cfg(not(unix))]
    let mode = 0o644;
    Ok((bytes, mode))
}

fn managed_uninstall_report(summary: report::Summary) -> report::UninstallReport {
    report::UninstallReport {
        summary,
        scope: Some("managed".into()),
        codex_home: None,
        receipt: None,
        kept: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys() -> SystemLayout {
        SystemLayout::new(Path::new("/r"), Path::new(DEFAULT_PREFIX))
    }

    fn apply(
        text: &str,
        managed_only: bool,
        previous: Option<&RequirementsRecord>,
    ) -> (String, RequirementsRecord) {
        try_apply(text, managed_only, previous).unwrap()
    }

    fn try_apply(
        text: &str,
        managed_only: bool,
        previous: Option<&RequirementsRecord>,
    ) -> Result<(String, RequirementsRecord), Failure> {
        let mut doc: DocumentMut = text.parse().unwrap();
        let hooks = hooks_json::render_template(&sys().command(), 8, &hooks_json::Target::Unix);
        let record = apply_requirements(
            &mut doc,
            Path::new("/r/etc/codex/requirements.toml"),
            Some(text),
            &hooks,
            &sys(),
            managed_only,
            previous,
        )?;
        Ok((codex_config::render(&doc, text), record))
    }

    #[test]
    fn apply_then_unapply_gives_back_the_admins_file() {
        let original = "# fleet policy\nallowed_approval_policies = [\"on-request\"]\n\n[features]\nweb_search = true # keep\n";
        let (after, record) = apply(original, true, None);
        for line in original.lines() {
            assert!(after.contains(line), "{line:?} lost: {after}");
        }
        assert!(after.contains("allow_managed_hooks_only = true"), "{after}");
        assert!(after.contains("[[hooks.PreToolUse.hooks]]"), "{after}");
        assert!(
            after.contains("managed_dir = \"/r/usr/local/lib/codex-guard\""),
            "{after}"
        );
        let (again, _) = apply(&after, true, Some(&record));
        assert_eq!(again, after, "a second run changes nothing");
        let mut doc: DocumentMut = after.parse().unwrap();
        unapply_requirements(&mut doc, &record);
        assert_eq!(doc.to_string(), original);
    }

    #[test]
    fn a_crlf_file_keeps_its_line_endings_and_a_spread_out_one_is_refused() {
        let original = "# fleet policy\r\n[features]\r\nweb_search = true\r\n";
        let (after, record) = apply(original, false, None);
        assert!(!after.replace("\r\n", "").contains('\n'), "{after:?}");
        let mut doc: DocumentMut = after.parse().unwrap();
        unapply_requirements(&mut doc, &record);
        assert_eq!(codex_config::render(&doc, &after), original);

        let text = "features.web_search = true\nallowed_sandbox_modes = []\nfeatures.x = 1\n";
        let err = try_apply(text, false, None).unwrap_err();
        assert!(err.message.contains("line 2 "), "{}", err.message);
    }

    #[test]
    fn a_foreign_managed_dir_is_refused() {
        let mut doc: DocumentMut = "[hooks]\nmanaged_dir = \"/opt/other\"\n".parse().unwrap();
        let hooks = hooks_json::render_template(&sys().command(), 8, &hooks_json::Target::Unix);
        let err = apply_requirements(&mut doc, Path::new("/x"), None, &hooks, &sys(), false, None)
            .unwrap_err();
        assert!(err.message.contains("/opt/other"), "{}", err.message);
    }

    #[test]
    fn other_managed_hooks_stay_in_place() {
        let original = "[hooks]\nmanaged_dir = \"/r/usr/local/lib/codex-guard\"\n\n[[hooks.PreToolUse]]\nmatcher = \"Bash\"\n\n[[hooks.PreToolUse.hooks]]\ntype = \"command\"\ncommand = \"/r/usr/local/lib/codex-guard/other\"\n";
        let (after, record) = apply(original, false, None);
        assert!(!record.managed_dir_added);
        let doc: DocumentMut = after.parse().unwrap();
        let pre = doc["hooks"]["PreToolUse"].as_array_of_tables().unwrap();
        assert_eq!(pre.len(), 2);
        assert_eq!(pre.get(0).unwrap()["matcher"].as_str(), Some("Bash"));
        let mut doc = doc;
        unapply_requirements(&mut doc, &record);
        assert_eq!(doc.to_string(), original);
    }

    #[test]
    fn windows_handlers_carry_command_windows_and_unix_ones_do_not() {
        let windows =
            hooks_json::Target::new(true, &sys().runtime_bin(), Some(&sys().runtime_config()))
                .unwrap();
        let hooks_json::Target::Windows { command } = &windows else {
            panic!("a Windows target")
        };
        let apply_for = |target: &hooks_json::Target, text: &str| {
            let mut doc: DocumentMut = text.parse().unwrap();
            let hooks = hooks_json::render_template(&sys().command(), 8, target);
            let record = apply_requirements(
                &mut doc,
                Path::new("/r/etc/codex/requirements.toml"),
                Some(text),
                &hooks,
                &sys(),
                false,
                None,
            )
            .unwrap();
            (doc, record)
        };
        let (doc, record) = apply_for(&windows, "");
        for event in codex_guard_common::events::Event::ALL {
            let handler = &doc["hooks"][event.name()][0]["hooks"][0];
            assert_eq!(handler["commandWindows"].as_str(), Some(command.as_str()));
            assert_eq!(handler["command"].as_str(), Some(sys().command().as_str()));
        }
        let text = doc.to_string();
        assert_eq!(apply_for(&windows, &text).0.to_string(), text);
        let mut doc = doc;
        unapply_requirements(&mut doc, &record);
        assert_eq!(doc.to_string(), "");

        let (unix, _) = apply_for(&hooks_json::Target::Unix, "");
        assert!(!unix.to_string().contains("commandWindows"), "{unix}");
    }
}
