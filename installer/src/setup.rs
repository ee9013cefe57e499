//! `codex-guard setup`: computes every file a protected Codex home needs, shows or
//! applies the difference, and records what it did in the install receipt.
//!
//! Nothing is written until every input has been read and validated, so a bad
//! config.toml or hooks.json leaves the user's files exactly as they were.

use crate::cli::SetupArgs;
use crate::codex_config::{self, Trust};
use crate::failure::{ExitCode, Failure};
use crate::fleet::{Inputs, Service, Token};
use crate::fsutil::{self, Lock};
use crate::{backup, home, hooks_json, machine_id, rules_file, service, trust, ui};
use anyhow::{Context, Result};
use codex_guard_common::config::Updates;
use codex_guard_common::env::Scope;
use codex_guard_common::receipt::{
    CodexConfigRecord, FileRecord, HandlerRecord, HooksJsonRecord, RECEIPT_SCHEMA_VERSION,
};
use codex_guard_common::{Layout, Mode, Receipt, RuntimeConfig};
use codex_guard_hook::probe::Target;
use codex_guard_hook::rules::{Layer, Rules};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const RUNTIME_CONFIG_TEMPLATE: &str = include_str!("../../templates/runtime-config.toml");
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The settings this install will have.
#[derive(Debug, Clone, PartialEq)]
pub struct Choices {
    pub url: Option<String>,
    pub token: Option<String>,
    pub mode: Mode,
    pub blocking: bool,
    pub fail_closed: bool,
    pub timeout_ms: u64,
    /// Extra CA bundle for the service (`--ca-cert`, else kept from the current install).
    pub ca_cert: Option<PathBuf>,
    /// Rules to install in place of the current (or default) rules file.
    pub rules: Option<Vec<u8>>,
    pub updates: Updates,
    /// Release source for `self-update`; `None`: GitHub.
    pub update_url: Option<String>,
    /// Key that must sign releases for `self-update`.
    pub update_public_key: Option<String>,
    /// The Atlas device id to write; `None` keeps the current one (or makes one).
    pub device_id: Option<String>,
    /// Kept from the current install (edited in the runtime config by hand).
    pub ingest_non_mcp_tools: bool,
    pub backups_keep: usize,
    pub spool_max_mb: u64,
    pub spool_max_age_hours: u64,
    pub retry_max_ms: u64,
    pub breaker_cooldown_ms: u64,
}

impl Choices {
    /// The runtime config these choices make, with the token read from `token_file`.
    pub fn runtime_config(&self, token_file: Option<PathBuf>) -> RuntimeConfig {
        RuntimeConfig {
            url: self.url.clone(),
            token_file,
            mode: self.mode,
            blocking: self.blocking,
            fail_closed: self.fail_closed,
            timeout_ms: self.timeout_ms,
            ingest_non_mcp_tools: self.ingest_non_mcp_tools,
            backups_keep: self.backups_keep,
            ca_cert: self.ca_cert.clone(),
            spool_max_mb: self.spool_max_mb,
            spool_max_age_hours: self.spool_max_age_hours,
            retry_max_ms: self.retry_max_ms,
            breaker_cooldown_ms: self.breaker_cooldown_ms,
            updates: self.updates,
            update_url: self.update_url.clone(),
            update_public_key: self.update_public_key.clone(),
            ..RuntimeConfig::default()
        }
    }
}

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
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Show {
    Diff,
    Hash,
    Secret,
}

impl FileChange {
    pub fn changed(&self) -> bool {
        self.before.as_deref() != Some(self.after.as_slice())
    }

    pub fn action(&self) -> &'static str {
        if self.before.is_some() {
            "updated"
        } else {
            "created"
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
            report_human(
                "",
                &self.changes,
                self.backup.as_deref(),
                &self.warnings,
                &self.notes,
                self.dry_run,
            );
        }
    }
}

pub fn run(args: SetupArgs) -> Result<ExitCode> {
    if args.managed {
        return crate::managed::setup(&args);
    }
    if args.all_users {
        return crate::all_users::setup(&args);
    }
    let json = args.json;
    let outcome = apply(args)?;
    outcome.print(json);
    Ok(outcome.exit)
}

/// Does the work of `setup` and prints nothing (but the questions and progress of an
/// interactive run), so other commands can re-run it and report in their own way.
pub fn apply(args: SetupArgs) -> Result<Outcome> {
    apply_adopting(args, &[])
}

/// [`apply`], also taking as ours the handlers whose command is one of `adopt` (ours,
/// edited by hand, as `doctor` found them), so they are put back in place instead of
/// left beside a new one.
pub fn apply_adopting(args: SetupArgs, adopt: &[String]) -> Result<Outcome> {
    let interactive = !args.silent && !args.json && ui::stdin_is_terminal();
    let layout = home::resolve(&args.home)?;
    let canonical_home = layout.codex_home.clone();
    let mut warnings = Vec::new();

    let existing_config = read_runtime_config(&layout, &mut warnings);
    let inputs = if args.install_settings_only {
        Inputs::from_flags(&args)?
    } else {
        Inputs::gather(&args, &|name| std::env::var(name).ok())?
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
    let mut config_edit = ConfigEdit::default();
    let (first, _) = plan(
        &layout,
        &choices,
        &runtime_source,
        read_receipt(&layout, &mut Vec::new()).as_ref(),
        codex_home_created,
        adopt,
        &mut config_edit,
    )?;
    if !args.dry_run {
        for change in first.iter().filter(|c| c.changed()) {
            fsutil::check_writable(&change.path)?;
        }
    }
    drop(first);
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
        &mut config_edit,
    )?;
    drop(config_edit);
    changes.retain(FileChange::changed);
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
        exit,
    };

    if args.dry_run || changes.is_empty() {
        outcome.changes = changes;
        return Ok(outcome);
    }
    let layout = &outcome.layout;

    if interactive && !args.yes {
        ui::print_summary(
            layout,
            &outcome.choices,
            &changes
                .iter()
                .map(|c| (c.path.clone(), c.action()))
                .collect::<Vec<_>>(),
        );
        if !ui::confirm("Apply these changes?")? {
            outcome.declined = true;
            outcome.exit = ExitCode::Ok;
            return Ok(outcome);
        }
    }

    let progress = ui::Progress::new(interactive, changes.len() as u64 + 1);
    progress.step("backing up the files setup will change");
    let backup = backup::create(
        &layout.backups_dir(),
        "setup",
        &canonical_home,
        &backup_entries(layout, &changes),
        Some(outcome.choices.backups_keep),
    )?;
    for dir in [layout.bin_dir(), layout.logs_dir()] {
        fsutil::create_dir_all(&dir, 0o700)?;
    }
    // The receipt goes first: it holds the previous values an interrupted run needs.
    changes.sort_by_key(|c| write_order(layout, &c.path));
    for (done, change) in changes.iter().enumerate() {
        progress.step(&format!("writing {}", change.label));
        if let Err(error) = fsutil::write_atomic(&change.path, &change.after, change.mode) {
            progress.finish();
            let undo = format!("`codex-guard restore {}` to go back", backup.display());
            return Err(roll_back(&changes[..done], error, &undo));
        }
    }
    progress.finish();

    outcome.changes = changes;
    outcome.backup = Some(backup);
    Ok(outcome)
}

/// A write failed (a full disk, say): the files written before it get their old
/// content back, newest first, so the home is as it was and not half installed.
/// `undo` says how to go back by hand when a file could not be put back.
pub(crate) fn roll_back(written: &[FileChange], error: anyhow::Error, undo: &str) -> anyhow::Error {
    let mut left = Vec::new();
    for change in written.iter().rev() {
        let undone = match &change.before {
            Some(bytes) => fsutil::write_atomic(&change.path, bytes, change.mode),
            None => fs_err::remove_file(&change.path).map_err(Into::into),
        };
        if undone.is_err() {
            left.push(change.path.display().to_string());
        }
    }
    let (message, hint) = if left.is_empty() {
        (
            format!("{error:#}; every file setup had written was put back as it was"),
            "free the space (or fix the permission) named above and run the same `codex-guard setup` again".to_string(),
        )
    } else {
        (
            format!(
                "{error:#}; these files could not be put back: {}",
                left.join(", ")
            ),
            format!("free the space named above, then run setup again to finish, or {undo}"),
        )
    };
    Failure {
        code: ExitCode::Degraded,
        message,
        hint: Some(hint),
    }
    .into()
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

/// The layered inputs (see `fleet`), then the current install, then questions
/// (interactive only), then defaults.
pub fn resolve_choices(
    inputs: &Inputs,
    existing: Option<&RuntimeConfig>,
    interactive: bool,
    rules_layer: Layer,
) -> Result<Choices> {
    let allow_http = inputs.allow_http.unwrap_or(false);
    let url = match &inputs.service {
        Some(Service::LocalOnly) => None,
        Some(Service::Url(url)) => Some(validate_url(url, allow_http)?),
        None => match existing {
            Some(config) => config.url.clone(),
            None if interactive => ui::ask_url(&|u| validate_url(u, allow_http))?,
            None => {
                return Err(Failure::bad_input(
                    "no Akto ingestion URL: pass --url URL (or set CODEX_GUARD_URL, or url in the --config file), or --local-only",
                )
                .into())
            }
        },
    };
    let token = match &inputs.token {
        Some(Token::Inline(token)) => Some(token.trim().to_string()),
        Some(Token::File(file)) => {
            let text = fs_err::read_to_string(file).map_err(|e| {
                Failure::bad_input(format!("cannot read the token file: {e}"))
                    .hint("pass a readable file to --token-file")
            })?;
            Some(text.trim().to_string())
        }
        None => None,
    }
    .filter(|t| !t.is_empty());
    let token = match (
        token,
        ui::token_question(
            interactive,
            url.as_deref(),
            inputs.token.is_some(),
            existing,
        ),
    ) {
        (None, Some(question)) => ui::ask_token(question)?,
        (token, _) => token,
    };
    if let Some(token) = &token {
        if token.contains(['\n', '\r']) {
            return Err(Failure::bad_input("the token must be a single line").into());
        }
    }
    let remote = url.is_some();
    let mode = match inputs.mode {
        Some(mode) => mode,
        None => match existing {
            Some(config) => config.mode,
            None if interactive && remote => ui::ask_mode()?,
            None => Mode::Argus,
        },
    };
    let blocking = match inputs.blocking {
        Some(blocking) => blocking,
        None => match existing {
            Some(config) => config.blocking,
            None if interactive && remote => ui::ask_blocking()?,
            None => true,
        },
    };
    let fail_closed = inputs
        .fail_closed
        .unwrap_or_else(|| existing.is_some_and(|c| c.fail_closed));
    let timeout_ms = inputs
        .timeout_ms
        .or(existing.map(|c| c.timeout_ms))
        .unwrap_or(codex_guard_common::config::DEFAULT_TIMEOUT_MS);
    let ca_cert = match &inputs.ca_cert {
        Some(path) => Some(validate_ca_cert(path)?),
        None => existing.and_then(|c| c.ca_cert.clone()),
    };
    let rules = inputs
        .rules
        .as_deref()
        .map(|path| read_rules(path, rules_layer))
        .transpose()?;
    let defaults = RuntimeConfig::default();
    let kept = existing.unwrap_or(&defaults);
    Ok(Choices {
        url,
        token,
        mode,
        blocking,
        fail_closed,
        timeout_ms,
        ca_cert,
        rules,
        updates: inputs.updates.unwrap_or(kept.updates),
        update_url: match &inputs.update_url {
            Some(url) => Some(validate_update_url(url)?),
            None => kept.update_url.clone(),
        },
        update_public_key: match &inputs.update_public_key {
            Some(key) => Some(validate_public_key(key)?),
            None => kept.update_public_key.clone(),
        },
        device_id: inputs.device_id.clone(),
        ingest_non_mcp_tools: kept.ingest_non_mcp_tools,
        backups_keep: kept.backups_keep,
        spool_max_mb: kept.spool_max_mb,
        spool_max_age_hours: kept.spool_max_age_hours,
        retry_max_ms: kept.retry_max_ms,
        breaker_cooldown_ms: kept.breaker_cooldown_ms,
    })
}

/// A rules file to install: it must parse, and every rule in it must be valid (a fleet
/// pushing a broken rule hears about it before any machine runs without it).
fn read_rules(path: &Path, layer: Layer) -> Result<Vec<u8>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::bad_input(format!(
            "cannot read the rules file {}: {e}",
            path.display()
        ))
        .hint("pass a readable rules TOML file to --rules")
    })?;
    let mut problems = Vec::new();
    let rules = Rules::parse_layer(&text, layer, None, false, &mut problems).map_err(|e| {
        Failure::bad_input(format!(
            "the rules file {} is not valid TOML: {e}",
            path.display()
        ))
        .hint("its format is in docs/rules.md")
    })?;
    if !problems.is_empty() {
        return Err(Failure::bad_input(format!(
            "the rules file {} has {} problem(s): {}",
            path.display(),
            problems.len(),
            problems.join("; ")
        ))
        .hint("its format is in docs/rules.md"));
    }
    // Parsed above, so only the keys are looked at: a file may set nothing but the
    // packs or the admin's `user_allow_rules`.
    let sets = |key: &str| {
        text.parse::<toml::Table>()
            .is_ok_and(|table| table.contains_key(key))
    };
    if rules.is_empty() && !sets("packs") && !sets("user_allow_rules") {
        return Err(Failure::bad_input(format!(
            "the rules file {} holds no rules and sets no packs",
            path.display()
        ))
        .hint("a rules file needs a [[rule]] or a [packs] table; its format is in docs/rules.md"));
    }
    Ok(text.into_bytes())
}

/// A readable PEM bundle with at least one CA certificate, as an absolute path (the
/// runtime runs from anywhere).
fn validate_ca_cert(path: &Path) -> Result<PathBuf, Failure> {
    let bad = |message: String| Failure {
        code: ExitCode::BadInput,
        message,
        hint: Some("--ca-cert takes a PEM file of CA certificates".into()),
    };
    let absolute = std::fs::canonicalize(path)
        .map_err(|e| bad(format!("cannot read --ca-cert {}: {e}", path.display())))?;
    codex_guard_hook::transport::check_ca_bundle(&absolute).map_err(bad)?;
    Ok(absolute)
}

/// https anywhere; http only to a loopback host or with `--allow-http`. Returns the
/// URL with trailing slashes removed.
pub fn validate_url(raw: &str, allow_http: bool) -> Result<String, Failure> {
    check_url(raw, allow_http, "the ingestion URL").map_err(|f| match f.hint {
        Some(_) => f,
        None => {
            f.hint("pass the Akto data-ingestion URL, e.g. --url https://akto-ingest.example.com")
        }
    })
}

/// The release source of `self-update` (`--update-url`): the same rules as the
/// ingestion URL, so releases never travel unchecked over plain http.
/// A releases API base URL: https, or plain http to a loopback mirror (which
/// self-update then follows only with `--allow-http`); `--allow-http` of setup never
/// lets a remote http mirror choose the programs installed.
pub fn validate_update_url(raw: &str) -> Result<String, Failure> {
    check_url(raw, false, "the update URL").map_err(|f| {
        f.hint("pass the https base of a GitHub-compatible releases API, e.g. --update-url https://github.example.com/api/v3")
    })
}

/// An Ed25519 public key for release signatures: 32 bytes as 64 hex digits.
pub fn validate_public_key(raw: &str) -> Result<String, Failure> {
    let key = raw.trim().to_ascii_lowercase();
    if key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(key)
    } else {
        Err(Failure::bad_input(format!(
            "{raw:?} is not an Ed25519 public key (64 hex digits)"
        ))
        .hint("pass the key printed by `cargo xtask keygen` to --update-public-key"))
    }
}

fn check_url(raw: &str, allow_http: bool, what: &str) -> Result<String, Failure> {
    let trimmed = raw.trim();
    let parsed = url::Url::parse(trimmed)
        .map_err(|e| Failure::bad_input(format!("{trimmed:?} is not a valid URL ({e})")))?;
    let host = parsed
        .host()
        .ok_or_else(|| Failure::bad_input(format!("{trimmed:?} has no host")))?;
    let loopback = match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match parsed.scheme() {
        "https" => {}
        "http" if loopback || allow_http => {}
        "http" => {
            return Err(Failure::bad_input(format!(
                "{trimmed:?} uses plain http to a remote host: what travels to {what} would be unencrypted"
            ))
            .hint("use https, or pass --allow-http if this network is trusted"))
        }
        other => {
            return Err(Failure::bad_input(format!(
                "{trimmed:?} uses the scheme {other:?}; {what} must be https"
            )))
        }
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Failure::bad_input(format!(
            "{trimmed:?} has a query or fragment; give the service's base URL only"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Failure::bad_input(format!(
            "{trimmed:?} contains credentials; pass the token with --token or --token-file instead"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
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

/// The `config.toml` edit of one plan, for the next plan to reuse when it starts from
/// the same file, trust records and receipt: setup plans twice (before and under its
/// lock), and a big config is then parsed and rendered once.
#[derive(Default)]
struct ConfigEdit {
    done: Option<ConfigEditDone>,
}

struct ConfigEditDone {
    before: Option<String>,
    trust: Vec<Trust>,
    previous: Option<CodexConfigRecord>,
    after: String,
    record: CodexConfigRecord,
}

impl ConfigEdit {
    fn edit(
        &mut self,
        before: Option<&str>,
        path: &Path,
        trust: &[Trust],
        previous: Option<&CodexConfigRecord>,
    ) -> Result<(String, CodexConfigRecord), Failure> {
        if let Some(done) = self.done.as_ref().filter(|done| {
            done.before.as_deref() == before
                && done.trust == trust
                && done.previous.as_ref() == previous
                && done.record.path == path
        }) {
            return Ok((done.after.clone(), done.record.clone()));
        }
        self.done = None;
        let (after, record) = codex_config::edit(before, path, trust, previous)?;
        self.done = Some(ConfigEditDone {
            before: before.map(str::to_string),
            trust: trust.to_vec(),
            previous: previous.cloned(),
            after: after.clone(),
            record: record.clone(),
        });
        Ok((after, record))
    }
}

/// Every file setup manages, with its current and desired content, and notes for
/// the person running it.
fn plan(
    layout: &Layout,
    choices: &Choices,
    runtime_source: &Path,
    previous: Option<&Receipt>,
    codex_home_created: bool,
    adopt: &[String],
    config_edit: &mut ConfigEdit,
) -> Result<(Vec<FileChange>, Vec<String>)> {
    let command = hooks_json::runtime_command(layout);
    let own = own_files(
        choices,
        &layout.token(),
        &layout.machine_id(),
        &layout.rules(),
    )?;
    let config = choices.runtime_config(own.token.as_ref().map(|_| layout.token()));

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
    let unchanged_hooks = existing_hooks.clone();
    let (merged, placed) = hooks_json::merge(existing_hooks, &rendered, &is_ours);
    let hooks_after = match (&hooks_before, unchanged_hooks) {
        // Same document: keep the user's formatting byte for byte.
        (Some(text), Some(value)) if value == merged => text.clone(),
        _ => hooks_json::to_text(&merged, hooks_before.as_deref().unwrap_or("")),
    };

    // config.toml
    let config_path = layout.codex_config();
    let config_before = fsutil::read_optional_text(&config_path)?;
    let trust: Vec<Trust> = placed
        .iter()
        .map(|p| Trust {
            key: trust::trust_key(&hooks_path, p.event, p.group, p.handler_index),
            hash: trust::handler_hash(p.event, p.matcher.as_deref(), &p.handler),
        })
        .collect();
    let (config_after, config_record) = config_edit.edit(
        config_before.as_deref(),
        &config_path,
        &trust,
        previous.map(|r| &r.codex_config),
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

    let mut files = vec![
        FileRecord {
            path: layout.runtime_bin(),
            sha256: fsutil::sha256_hex(&runtime_bytes),
        },
        FileRecord {
            path: layout.runtime_config(),
            sha256: fsutil::sha256_hex(runtime_config_text.as_bytes()),
        },
        FileRecord {
            path: layout.rules(),
            sha256: fsutil::sha256_hex(&rules),
        },
        FileRecord {
            path: layout.machine_id(),
            sha256: fsutil::sha256_hex(&machine_id),
        },
    ];
    if let Some(token) = &token {
        files.push(FileRecord {
            path: layout.token(),
            sha256: fsutil::sha256_hex(token),
        });
    }
    let receipt = Receipt {
        schema_version: RECEIPT_SCHEMA_VERSION,
        version: codex_guard_common::VERSION.to_string(),
        installed_at: previous
            .map(|r| r.installed_at.clone())
            .unwrap_or_else(|| humantime::format_rfc3339_seconds(SystemTime::now()).to_string()),
        codex_home: layout.codex_home.clone(),
        hooks_json: HooksJsonRecord {
            path: hooks_path.clone(),
            created: previous.map_or(hooks_before.is_none(), |r| r.hooks_json.created),
            original: match previous {
                Some(r) => r.hooks_json.original.clone(),
                None => hooks_before.clone(),
            },
            handlers: placed
                .iter()
                .map(|p| HandlerRecord {
                    event: p.event.name().to_string(),
                    command: command.clone(),
                    timeout: config.hook_timeout_secs(),
                })
                .collect(),
        },
        codex_config: config_record,
        files,
        created_dirs: match previous {
            Some(r) => r.created_dirs.clone(),
            None if codex_home_created => vec![layout.codex_home.clone()],
            None => Vec::new(),
        },
    };

    let mut changes = vec![
        FileChange {
            path: layout.receipt(),
            label: "the install receipt",
            before: fsutil::read_optional(&layout.receipt())?,
            after: receipt.to_json().into_bytes(),
            mode: 0o600,
            show: Show::Diff,
        },
        FileChange {
            path: layout.runtime_bin(),
            label: "the hook runtime",
            before: fsutil::read_optional(&layout.runtime_bin())?,
            after: runtime_bytes,
            mode: 0o755,
            show: Show::Hash,
        },
        FileChange {
            path: layout.runtime_config(),
            label: "the runtime config",
            before: fsutil::read_optional(&layout.runtime_config())?,
            after: runtime_config_text.into_bytes(),
            mode: 0o600,
            show: Show::Diff,
        },
        FileChange {
            path: layout.rules(),
            label: "the local rules",
            before: fsutil::read_optional(&layout.rules())?,
            after: rules,
            mode: 0o644,
            show: Show::Diff,
        },
        FileChange {
            path: layout.machine_id(),
            label: "the machine id",
            before: fsutil::read_optional(&layout.machine_id())?,
            after: machine_id,
            mode: 0o644,
            show: Show::Diff,
        },
        FileChange {
            path: hooks_path,
            label: "hooks.json",
            before: hooks_before.map(String::into_bytes),
            after: hooks_after.into_bytes(),
            mode: 0o644,
            show: Show::Diff,
        },
        FileChange {
            path: config_path,
            label: "config.toml",
            before: config_before.map(String::into_bytes),
            after: config_after.into_bytes(),
            mode: 0o600,
            show: Show::Diff,
        },
    ];
    if let Some(token) = token {
        changes.push(FileChange {
            path: layout.token(),
            label: "the token",
            before: token_before,
            after: token,
            mode: 0o600,
            show: Show::Secret,
        });
    }
    Ok((changes, rules_note.into_iter().collect()))
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
            let after = backup::After::Hash(Some(fsutil::sha256_hex(&c.after)));
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
    set_keeping_decor(&mut doc, "timeout_ms", (config.timeout_ms as i64).into());
    set_keeping_decor(
        &mut doc,
        "ingest_non_mcp_tools",
        config.ingest_non_mcp_tools.into(),
    );
    set_keeping_decor(
        &mut doc,
        "backups_keep",
        (config.backups_keep as i64).into(),
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
        set_keeping_decor(&mut doc, key, (value as i64).into());
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

fn set_keeping_decor(doc: &mut toml_edit::DocumentMut, key: &str, mut value: toml_edit::Value) {
    if let Some(old) = doc.get(key).and_then(toml_edit::Item::as_value) {
        *value.decor_mut() = old.decor().clone();
    }
    doc[key] = toml_edit::Item::Value(value);
}

/// Machine-wide settings that silently stop a per-user install from running.
pub(crate) fn managed_policy_warnings(system_root: &Path) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some((sys, _)) = crate::managed::installed(system_root) {
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
    let mut out = String::new();
    for change in changes {
        let path = change.path.display().to_string();
        let (old_name, new_name) = match change.before {
            Some(_) => (format!("a/{path}"), format!("b/{path}")),
            None => ("/dev/null".to_string(), format!("b/{path}")),
        };
        match change.show {
            Show::Diff => {
                let before = String::from_utf8_lossy(change.before.as_deref().unwrap_or_default());
                let after = String::from_utf8_lossy(&change.after);
                let diff = similar::TextDiff::from_lines(before.as_ref(), after.as_ref());
                out.push_str(
                    &diff
                        .unified_diff()
                        .context_radius(3)
                        .header(&old_name, &new_name)
                        .to_string(),
                );
            }
            Show::Hash => out.push_str(&format!(
                "--- {old_name}\n+++ {new_name}\n binary: {} -> sha256 {}\n",
                change
                    .before
                    .as_deref()
                    .map_or("absent".into(), fsutil::sha256_hex),
                fsutil::sha256_hex(&change.after)
            )),
            Show::Secret => out.push_str(&format!(
                "--- {old_name}\n+++ {new_name}\n secret not shown ({} bytes)\n",
                change.after.len()
            )),
        }
    }
    out
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
    let changed = !changes.is_empty();
    let mut out = json!({
        "status": if changed { "changed" } else { "unchanged" },
        "changed": changed,
        "dry_run": dry_run,
        "codex_home": layout.codex_home,
        "url": choices.url,
        "mode": choices.mode.as_str(),
        "blocking": choices.blocking,
        "fail_closed": choices.fail_closed,
        "device_id": device.0,
        "device_id_source": device.1.as_str(),
        "changes": changes.iter().map(|c| json!({"path": c.path, "action": c.action()})).collect::<Vec<_>>(),
        "backup": backup,
        "warnings": warnings,
        "notes": notes,
    });
    if let Some(diff) = diff {
        out["diff"] = diff.into();
    }
    println!("{out}");
}

/// What setup did, for a person: `scope` names the install ("" or "managed install: ").
pub(crate) fn report_human(
    scope: &str,
    changes: &[FileChange],
    backup: Option<&Path>,
    warnings: &[String],
    notes: &[String],
    dry_run: bool,
) {
    if changes.is_empty() {
        eprintln!("codex-guard: {scope}unchanged (everything is already in place)");
    } else if dry_run {
        eprintln!(
            "codex-guard: dry run, {} file(s) would change; nothing was written",
            changes.len()
        );
    } else {
        eprintln!("codex-guard: {scope}changed {} file(s):", changes.len());
        for change in changes {
            eprintln!("  {} {}", change.action(), change.path.display());
        }
        if let Some(backup) = backup {
            eprintln!("backup of the previous files: {}", backup.display());
        }
    }
    for note in notes {
        eprintln!("note: {note}");
    }
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_validated_and_normalised() {
        assert_eq!(
            validate_url("https://akto.example.com//", false).unwrap(),
            "https://akto.example.com"
        );
        assert_eq!(
            validate_url(" https://a.b/ingest/ ", false).unwrap(),
            "https://a.b/ingest"
        );
        assert_eq!(
            validate_url("http://127.0.0.1:9090/", false).unwrap(),
            "http://127.0.0.1:9090"
        );
        assert!(validate_url("http://[::1]:80", false).is_ok());
        assert!(validate_url("http://localhost:1", false).is_ok());
        assert!(validate_url("http://akto.corp", false).is_err());
        assert!(validate_url("http://akto.corp", true).is_ok());
        assert!(validate_url("ftp://x", true).is_err());
        assert!(validate_url("https://a.b/?x=1#y", false).is_err());
        assert!(validate_url("https://u:p@a.b", false).is_err());
        assert!(validate_url("akto.example.com", false).is_err());
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
