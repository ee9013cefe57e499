//! The checks, one set for both scopes: a per-user install (a Codex home) and a
//! machine-wide one (`setup --managed`). Each check reads the install as it is on
//! disk (nothing is written, but for a probe file in the logs directory) and returns
//! a [`Check`] saying what is wrong and what command fixes it; [`CheckId::USER`] and
//! [`CheckId::MACHINE`] say which checks a scope runs.

use super::codex::{self, CodexBin, VERIFIED_VERSION};
use super::{process, Check, CheckId, Inputs, Repair};
use crate::edit::hooks_json::shell_quote as quote;
use crate::install::managed::SystemLayout;
use crate::{edit::codex_config, edit::hooks_json, edit::inline_hooks, fsutil, service, trust};
use codex_guard_common::events::Event;
use codex_guard_common::receipt::{FileRecord, HooksLayout, ManagedReceipt};
use codex_guard_common::{Layout, Receipt, RuntimeConfig};
use codex_guard_hook::probe::Target;
use codex_guard_hook::settings::Settings;
use serde_json::{Map, Value};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml_edit::{DocumentMut, Item};

/// Longest the runtime may take to print its version.
pub(super) const RUNTIME_VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// How to install the Codex CLI.
const INSTALL_CODEX: &str = "npm install -g @openai/codex";

/// Which install doctor looks at.
pub enum Scope {
    /// The per-user install in the Codex home of [`Inputs::layout`].
    User,
    /// The machine-wide install below the system root.
    Machine(SystemLayout),
}

impl Scope {
    /// The checks this scope runs, in the order they are reported.
    pub fn checks(&self) -> &'static [CheckId] {
        match self {
            Scope::User => &CheckId::USER,
            Scope::Machine(_) => &CheckId::MACHINE,
        }
    }

    /// The check that says whether anything is installed at all.
    pub fn receipt_check(&self) -> CheckId {
        match self {
            Scope::User => CheckId::Receipt,
            Scope::Machine(_) => CheckId::ManagedReceipt,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Machine(_) => "managed",
        }
    }
}

/// A file read for the checks.
enum Loaded<T> {
    Missing,
    /// Unreadable or unparsable, with the reason (which names the file).
    Invalid(String),
    Ok(T),
}

impl<T> Loaded<T> {
    fn ok(&self) -> Option<&T> {
        match self {
            Loaded::Ok(value) => Some(value),
            _ => None,
        }
    }
}

fn load<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T, String>) -> Loaded<T> {
    match fsutil::read_optional_text(path) {
        Ok(Some(text)) => match parse(&text) {
            Ok(value) => Loaded::Ok(value),
            Err(e) => Loaded::Invalid(e),
        },
        Ok(None) => Loaded::Missing,
        Err(e) => Loaded::Invalid(format!("{e:#}")),
    }
}

fn load_toml(path: &Path) -> Loaded<DocumentMut> {
    load(path, |text| {
        codex_config::parse(text, path).map_err(|e| e.message)
    })
}

/// The user's `config.toml`, cut down to the tables the checks read (`features` and
/// `hooks`): the rest of a big file is freed at once and never copied.
fn load_codex_config(path: &Path) -> Loaded<DocumentMut> {
    load(path, |text| {
        let mut doc = codex_config::parse(text, path).map_err(|e| e.message)?;
        let mut kept = DocumentMut::new();
        for key in ["features", "hooks"] {
            if let Some(item) = doc.remove(key) {
                kept.insert(key, item);
            }
        }
        Ok(kept)
    })
}

/// One handler in `hooks.json` that runs our runtime.
struct Ours {
    event: Event,
    group: usize,
    index: usize,
    matcher: Option<String>,
    handler: Map<String, Value>,
    /// The command is exactly one setup writes (else it was edited by hand).
    exact: bool,
}

/// The install as read from disk.
struct Context<'a> {
    inputs: &'a Inputs,
    layout: &'a Layout,
    scope: &'a Scope,
    /// The per-user receipt (never read for a machine-wide install).
    receipt: Loaded<Receipt>,
    /// The machine-wide receipt (never read for a per-user install).
    managed_receipt: Loaded<ManagedReceipt>,
    runtime_config: Loaded<RuntimeConfig>,
    /// The event lists holding our handlers, in hooks.json's shape: hooks.json's, or
    /// config.toml's inline `[[hooks.<Event>]]` tables.
    hooks: Loaded<Value>,
    hooks_layout: HooksLayout,
    /// The file `hooks` was read from (the one its trust keys name).
    hooks_path: PathBuf,
    codex_config: Loaded<DocumentMut>,
    ours: Vec<Ours>,
    /// `rules.packs` and `rules.tamper`, which come from one reading of the rules.
    packs: OnceCell<[Check; 2]>,
}

impl<'a> Context<'a> {
    fn read(inputs: &'a Inputs, scope: &'a Scope) -> Context<'a> {
        let layout = &inputs.layout;
        let mut ctx = Context {
            inputs,
            layout,
            scope,
            receipt: Loaded::Missing,
            managed_receipt: Loaded::Missing,
            runtime_config: Loaded::Missing,
            hooks: Loaded::Missing,
            hooks_layout: HooksLayout::HooksJson,
            hooks_path: layout.hooks_json(),
            codex_config: Loaded::Missing,
            ours: Vec::new(),
            packs: OnceCell::new(),
        };
        let config_path = ctx.runtime_config_path();
        ctx.runtime_config = load(&config_path, |text| {
            RuntimeConfig::from_toml(text).map_err(|e| {
                format!(
                    "{} is invalid: {}",
                    config_path.display(),
                    e.message().trim()
                )
            })
        });
        match scope {
            Scope::Machine(sys) => {
                let path = sys.receipt();
                ctx.managed_receipt = load(&path, |text| {
                    serde_json::from_str(text)
                        .map_err(|e| format!("{} is damaged ({e})", path.display()))
                });
            }
            Scope::User => {
                ctx.receipt = load(&layout.receipt(), |text| {
                    Receipt::from_json(text)
                        .map_err(|e| format!("{} is damaged ({e})", layout.receipt().display()))
                });
                ctx.read_hooks();
            }
        }
        ctx
    }

    /// Our handlers, where setup put them (the receipt says which file); without a
    /// receipt, wherever they are found.
    fn read_hooks(&mut self) {
        let layout = self.layout;
        let json_path = layout.hooks_json();
        let json = load(&json_path, |text| {
            hooks_json::parse(text, &json_path).map_err(|e| e.message)
        });
        self.codex_config = load_codex_config(&layout.codex_config());
        let known = hooks_json::our_commands(layout, self.receipt.ok());
        let find = |hooks: &Loaded<Value>| {
            hooks
                .ok()
                .map(|doc| find_ours(doc, &known, &layout.runtime_bin()))
                .unwrap_or_default()
        };
        let inline = match &self.codex_config {
            Loaded::Ok(doc) => Loaded::Ok(inline_hooks::as_json(doc)),
            Loaded::Missing => Loaded::Missing,
            Loaded::Invalid(e) => Loaded::Invalid(e.clone()),
        };
        self.hooks_layout = match self.receipt.ok() {
            Some(receipt) => receipt.hooks_json.layout,
            None if find(&json).is_empty() && !find(&inline).is_empty() => HooksLayout::ConfigToml,
            None => HooksLayout::HooksJson,
        };
        let (hooks, hooks_path) = match self.hooks_layout {
            HooksLayout::HooksJson => (json, json_path),
            HooksLayout::ConfigToml => (inline, layout.codex_config()),
        };
        self.ours = find(&hooks);
        self.hooks = hooks;
        self.hooks_path = hooks_path;
    }

    fn run(&self, id: CheckId) -> Check {
        match id {
            CheckId::CodexCli => codex_cli(self),
            CheckId::HooksFeature => hooks_feature(self),
            CheckId::ManagedPolicy => managed_policy(self),
            CheckId::HooksJsonValid => hooks_json_valid(self),
            CheckId::HooksJsonHandlers => hooks_json_handlers(self),
            CheckId::HooksTrust => hooks_trust(self),
            CheckId::HooksList => hooks_list(self),
            CheckId::ManagedReceipt => managed_receipt(self),
            CheckId::ManagedRequirements => managed_requirements(self),
            CheckId::RuntimeBinary => runtime_binary(self),
            CheckId::RuntimeVersion => runtime_version(self),
            CheckId::RuntimeChecksum => runtime_checksum(self),
            CheckId::RuntimePermissions => runtime_permissions(self),
            CheckId::ConfigValid => config_valid(self),
            CheckId::ConfigPermissions => config_permissions(self),
            CheckId::RulesValid => rules_valid(self),
            CheckId::RulesPacks => self.packs()[0].clone(),
            CheckId::RulesTamper => self.packs()[1].clone(),
            CheckId::ServiceReachable => service_reachable(self),
            CheckId::MachineId => machine_id(self),
            CheckId::LogsWritable => logs_writable(self),
            CheckId::SpoolBacklog => spool_backlog(self),
            CheckId::Receipt => receipt(self),
            CheckId::ShellStartupEnv => {
                super::shell_env::check(&|k| std::env::var(k).ok(), self.system_root())
            }
            CheckId::EnvironmentOverrides => {
                environment_overrides(&|name| std::env::var(name).ok())
            }
        }
    }

    fn packs(&self) -> &[Check; 2] {
        self.packs.get_or_init(|| rules_packs_and_tamper(self))
    }

    fn system_root(&self) -> &Path {
        match self.scope {
            Scope::Machine(sys) => &sys.root,
            Scope::User => &self.inputs.system_root,
        }
    }

    fn runtime_bin(&self) -> PathBuf {
        match self.scope {
            Scope::Machine(sys) => sys.runtime_bin(),
            Scope::User => self.layout.runtime_bin(),
        }
    }

    fn runtime_config_path(&self) -> PathBuf {
        match self.scope {
            Scope::Machine(sys) => sys.runtime_config(),
            Scope::User => self.layout.runtime_config(),
        }
    }

    fn machine_id_path(&self) -> PathBuf {
        match self.scope {
            Scope::Machine(sys) => sys.machine_id(),
            Scope::User => self.layout.machine_id(),
        }
    }

    fn setup_command(&self) -> String {
        match self.scope {
            Scope::Machine(_) => "codex-guard setup --managed".into(),
            Scope::User => self.inputs.guard_command("setup"),
        }
    }

    /// Setup for an install whose runtime config is gone: it needs the URL again.
    fn fresh_setup_command(&self) -> String {
        format!("{} --url URL (or --local-only)", self.setup_command())
    }

    /// codex-guard's directory of the per-user install exists.
    fn installed(&self) -> bool {
        self.layout.guard_dir().exists()
    }

    /// Nothing that makes an install is here: no receipt, no runtime, no runtime
    /// config and (per user) no handler of ours in `hooks.json`. Logs an uninstall
    /// kept (`--keep-logs`) are not an install.
    fn nothing_installed(&self) -> bool {
        let bare = !self.runtime_bin().exists() && !self.runtime_config_path().exists();
        match self.scope {
            Scope::Machine(sys) => bare && !sys.receipt().exists(),
            Scope::User => bare && matches!(self.receipt, Loaded::Missing) && self.ours.is_empty(),
        }
    }

    /// What the receipt recorded for the runtime, or why there is nothing to compare.
    fn recorded_runtime(&self) -> Result<&FileRecord, String> {
        let path = self.runtime_bin();
        let files = match self.scope {
            Scope::Machine(_) => self.managed_receipt.ok().map(|r| &r.files),
            Scope::User => self.receipt.ok().map(|r| &r.files),
        };
        let Some(files) = files else {
            return Err(format!(
                "not checked: no install receipt to compare with (see {})",
                self.scope.receipt_check()
            ));
        };
        files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| format!("the receipt records no checksum for {}", path.display()))
    }
}

/// Every handler of ours: a command setup wrote (`known`), or one that still runs our
/// runtime but was edited.
fn find_ours(doc: &Value, known: &[String], runtime: &Path) -> Vec<Ours> {
    let runtime = runtime.display().to_string();
    let mut found = Vec::new();
    for event in Event::ALL {
        let groups = doc
            .get("hooks")
            .and_then(|h| h.get(event.name()))
            .and_then(Value::as_array);
        for (group_index, group) in groups.into_iter().flatten().enumerate() {
            let matcher = group
                .get("matcher")
                .and_then(Value::as_str)
                .map(str::to_string);
            let handlers = group.get("hooks").and_then(Value::as_array);
            for (index, handler) in handlers.into_iter().flatten().enumerate() {
                let Some(handler) = handler.as_object() else {
                    continue;
                };
                let Some(command) = handler.get("command").and_then(Value::as_str) else {
                    continue;
                };
                let exact = known.iter().any(|k| k == command);
                if exact || command.contains(&runtime) {
                    found.push(Ours {
                        event,
                        group: group_index,
                        index,
                        matcher: matcher.clone(),
                        handler: handler.clone(),
                        exact,
                    });
                }
            }
        }
    }
    found
}

/// Commands of handlers that run our runtime but were edited by hand: setup takes
/// them as ours when it repairs, so they are put back rather than duplicated.
pub fn edited_commands(inputs: &Inputs) -> Vec<String> {
    let ctx = Context::read(inputs, &Scope::User);
    let mut commands: Vec<String> = ctx
        .ours
        .iter()
        .filter(|o| !o.exact)
        .filter_map(|o| o.handler.get("command").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    commands.dedup();
    commands
}
/// Runs every check of `scope`, in the order they are reported.
pub fn run_all(inputs: &Inputs, scope: &Scope) -> Vec<Check> {
    let ctx = Context::read(inputs, scope);
    scope.checks().iter().map(|id| ctx.run(*id)).collect()
}

fn codex_cli(ctx: &Context) -> Check {
    codex_cli_check(&ctx.inputs.codex_bin, &ctx.layout.codex_home)
}

/// The Codex CLI on PATH (or `--codex-bin`) and whether its version has the hooks we rely on.
pub(super) fn codex_cli_check(codex_bin: &CodexBin, codex_home: &Path) -> Check {
    const ID: CheckId = CheckId::CodexCli;
    let bin = match codex_bin {
        CodexBin::Found(bin) => bin,
        CodexBin::Missing(why) => {
            return Check::warn(
                ID,
                format!(
                "no Codex CLI to check ({why}); Codex Desktop needs none, or pass --codex-bin PATH"
            ),
            )
            .fix(INSTALL_CODEX)
        }
    };
    match codex::version(bin, codex_home) {
        Err(e) => Check::warn(ID, format!("{} cannot tell its version: {e}", bin.display()))
            .fix(INSTALL_CODEX),
        Ok(text) => match codex::parse_version(&text) {
            Some(v) if v >= VERIFIED_VERSION => {
                Check::pass(ID, format!("{text} ({})", bin.display()))
            }
            Some(_) => Check::warn(
                ID,
                format!(
                    "{text} ({}) is older than {}.{}.{}, the Codex whose hook trust codex-guard was verified against",
                    bin.display(),
                    VERIFIED_VERSION.0,
                    VERIFIED_VERSION.1,
                    VERIFIED_VERSION.2
                ),
            )
            .fix(INSTALL_CODEX),
            None => Check::warn(
                ID,
                format!("{} printed {text:?}, not a version", bin.display()),
            )
            .fix(INSTALL_CODEX),
        },
    }
}

/// `[features] hooks` (or the deprecated `codex_hooks`) in one config layer.
fn feature_in(doc: &DocumentMut) -> Option<(Result<bool, String>, &'static str)> {
    let features = doc.get("features")?.as_table_like()?;
    let (item, key) = match features.get("hooks") {
        Some(item) => (item, "hooks"),
        None => (features.get("codex_hooks")?, "codex_hooks"),
    };
    let value = item
        .as_bool()
        .ok_or_else(|| format!("`{key} = {}` is not true or false", item.to_string().trim()));
    Some((value, key))
}

fn hooks_feature(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::HooksFeature;
    let user_path = ctx.layout.codex_config();
    let layers = [
        // Highest precedence first.
        ("requirements", ctx.inputs.system_file("requirements.toml")),
        ("managed", ctx.inputs.system_file("managed_config.toml")),
        ("user", user_path.clone()),
        ("system", ctx.inputs.system_file("config.toml")),
    ];
    for (layer, path) in &layers {
        let loaded = if *layer == "user" {
            match &ctx.codex_config {
                Loaded::Missing => Loaded::Missing,
                Loaded::Invalid(e) => Loaded::Invalid(e.clone()),
                Loaded::Ok(doc) => Loaded::Ok(doc.clone()),
            }
        } else {
            load_toml(path)
        };
        let doc = match loaded {
            Loaded::Missing => continue,
            Loaded::Invalid(e) => {
                let fix = if *layer == "user" {
                    format!("fix {} by hand", quote(path))
                } else {
                    format!("ask your administrator to fix {}", quote(path))
                };
                return Check::fail(ID, format!("{e}; Codex cannot start with it")).fix(fix);
            }
            Loaded::Ok(doc) => doc,
        };
        let Some((value, key)) = feature_in(&doc) else {
            continue;
        };
        let on = match value {
            Ok(on) => on,
            Err(e) => {
                return Check::fail(ID, format!("{e} in {}", path.display()))
                    .fix(format!("set `[features] hooks = true` in {}", quote(path)))
            }
        };
        return match (*layer, on) {
            ("user", true) if key == "codex_hooks" => Check::warn(
                ID,
                format!(
                    "on, through the deprecated `codex_hooks` in {} (Codex warns on every run)",
                    path.display()
                ),
            )
            .fix(ctx.setup_command()),
            (_, true) => Check::pass(
                ID,
                format!("on (`[features] {key} = true` in {})", path.display()),
            ),
            ("requirements" | "managed", false) => Check::fail(
                ID,
                format!(
                    "{} sets `[features] {key} = false`: hooks are off on this machine, codex-guard's included",
                    path.display()
                ),
            )
            .fix(format!(
                "ask your administrator to remove `{key} = false` from {}",
                quote(path)
            )),
            ("system", false) => Check::fail(
                ID,
                format!(
                    "{} sets `[features] {key} = false` and {} does not turn hooks back on",
                    path.display(),
                    user_path.display()
                ),
            )
            .fix(ctx.setup_command())
            .repair(Repair::Setup),
            _ => Check::fail(
                ID,
                format!(
                    "`[features] {key} = false` in {}: Codex runs no hooks",
                    path.display()
                ),
            )
            .fix(ctx.setup_command())
            .repair(Repair::Setup),
        };
    }
    Check::pass(
        ID,
        "on (not set in any config; Codex turns hooks on by default since 0.169)",
    )
}

fn managed_policy(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::ManagedPolicy;
    let path = ctx.inputs.system_file("requirements.toml");
    let doc = match load_toml(&path) {
        Loaded::Missing => {
            return Check::pass(
                ID,
                format!(
                    "no machine requirements ({} does not exist)",
                    path.display()
                ),
            )
        }
        Loaded::Invalid(e) => {
            return Check::warn(ID, format!("{e}; cannot tell whether it allows user hooks"))
                .fix(format!("ask your administrator to fix {}", quote(&path)))
        }
        Loaded::Ok(doc) => doc,
    };
    let managed_only = doc
        .get("allow_managed_hooks_only")
        .and_then(Item::as_bool)
        .or_else(|| {
            doc.get("hooks")
                .and_then(|h| h.get("allow_managed_hooks_only"))
                .and_then(Item::as_bool)
        });
    if managed_only == Some(true) {
        return Check::fail(
            ID,
            format!(
                "{} sets allow_managed_hooks_only = true: Codex ignores every per-user hook, codex-guard's included",
                path.display()
            ),
        )
        .fix(format!(
            "ask your administrator to lift allow_managed_hooks_only in {}, or to deploy codex-guard as a managed hook",
            quote(&path)
        ));
    }
    Check::pass(ID, format!("{} allows per-user hooks", path.display()))
}

fn hooks_json_valid(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::HooksJsonValid;
    let path = &ctx.hooks_path;
    if ctx.hooks_layout == HooksLayout::ConfigToml {
        return match &ctx.hooks {
            Loaded::Ok(_) => Check::pass(
                ID,
                format!(
                    "codex-guard's handlers are kept inline in {} (the user's hooks are there): no hooks.json needed",
                    path.display()
                ),
            ),
            Loaded::Missing => Check::fail(
                ID,
                format!("{} does not exist: no hook of ours is registered", path.display()),
            )
            .fix(ctx.setup_command())
            .repair(Repair::Setup),
            Loaded::Invalid(e) => Check::fail(ID, format!("{e}; Codex cannot read it"))
                .fix(format!("fix {} by hand", quote(path))),
        };
    }
    match &ctx.hooks {
        Loaded::Missing => Check::fail(
            ID,
            format!(
                "{} does not exist: no hook of ours is registered",
                path.display()
            ),
        )
        .fix(ctx.setup_command())
        .repair(Repair::Setup),
        Loaded::Invalid(e) => {
            Check::fail(ID, format!("{e}; Codex ignores the whole file")).fix(format!(
                "fix {} by hand (or `{}`), then `{}`",
                quote(path),
                ctx.inputs.guard_command("restore --latest"),
                ctx.setup_command()
            ))
        }
        Loaded::Ok(_) => Check::pass(ID, format!("{} is valid", path.display())),
    }
}

fn hooks_json_handlers(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::HooksJsonHandlers;
    if ctx.hooks.ok().is_none() {
        return Check::fail(
            ID,
            "no handler of ours can be registered (see hooks_json.valid)",
        )
        .fix(ctx.setup_command())
        .repair(Repair::Setup);
    }
    let mut missing = Vec::new();
    let mut edited = Vec::new();
    let mut doubled = Vec::new();
    for event in Event::ALL {
        let of_event: Vec<&Ours> = ctx.ours.iter().filter(|o| o.event == event).collect();
        if of_event.is_empty() {
            missing.push(event.name());
        } else if !of_event.iter().any(|o| o.exact) {
            let command = of_event[0]
                .handler
                .get("command")
                .and_then(Value::as_str)
                .unwrap_or_default();
            edited.push(format!("{} ({command})", event.name()));
        } else if of_event.len() > 1 {
            doubled.push(event.name());
        }
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "no codex-guard handler for {} in {}: those events are not guarded",
            missing.join(", "),
            ctx.hooks_path.display()
        ));
    }
    if !edited.is_empty() {
        problems.push(format!(
            "edited by hand, not the command setup wrote: {}",
            edited.join(", ")
        ));
    }
    if !doubled.is_empty() {
        problems.push(format!("registered more than once: {}", doubled.join(", ")));
    }
    match (missing.is_empty(), problems.is_empty()) {
        (_, true) => Check::pass(
            ID,
            format!(
                "a codex-guard handler for each of {}",
                Event::ALL.map(Event::name).join(", ")
            ),
        ),
        // An edited handler may still run (if it was trusted again): hooks.trust decides.
        (true, false) => Check::warn(ID, problems.join("; ")).fix(ctx.setup_command()),
        (false, false) => Check::fail(ID, problems.join("; "))
            .fix(ctx.setup_command())
            .repair(Repair::Setup),
    }
}

/// How Codex will treat one of our handlers, predicted from `config.toml`.
fn trust_state(doc: &DocumentMut, key: &str, hash: &str) -> &'static str {
    let entry = doc
        .get("hooks")
        .and_then(|h| h.get("state"))
        .and_then(|s| s.get(key));
    let Some(entry) = entry else {
        return "untrusted";
    };
    if entry.get("enabled").and_then(Item::as_bool) == Some(false) {
        return "disabled";
    }
    match entry.get("trusted_hash").and_then(Item::as_str) {
        None => "untrusted",
        Some(recorded) if recorded == hash => "trusted",
        Some(_) => "modified",
    }
}

fn hooks_trust(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::HooksTrust;
    let config_path = ctx.layout.codex_config();
    if ctx.ours.is_empty() {
        return Check::fail(
            ID,
            "no codex-guard handler to trust (see hooks_json.handlers)",
        )
        .fix(ctx.setup_command())
        .repair(Repair::Setup);
    }
    let empty = DocumentMut::new();
    let doc = match &ctx.codex_config {
        Loaded::Ok(doc) => doc,
        Loaded::Missing => &empty,
        Loaded::Invalid(e) => {
            return Check::fail(ID, format!("cannot read the trust records: {e}"))
                .fix(format!("fix {} by hand", quote(&config_path)))
        }
    };
    let hooks_path = &ctx.hooks_path;
    let mut problems = Vec::new();
    let mut disabled = Vec::new();
    for ours in &ctx.ours {
        let key = trust::trust_key(hooks_path, ours.event, ours.group, ours.index);
        let hash = trust::handler_hash(ours.event, ours.matcher.as_deref(), &ours.handler);
        match trust_state(doc, &key, &hash) {
            "trusted" => {}
            "disabled" => disabled.push((ours.event.name(), key)),
            state => problems.push(format!("{}={state}", ours.event.name())),
        }
    }
    if problems.is_empty() && disabled.is_empty() {
        return Check::pass(
            ID,
            format!(
                "{} trusts all {} codex-guard handlers as they are now",
                config_path.display(),
                ctx.ours.len()
            ),
        );
    }
    let mut message = Vec::new();
    if !problems.is_empty() {
        message.push(format!(
            "Codex will not run {} (no trust record in {} matches the handler as it is now)",
            problems.join(", "),
            config_path.display()
        ));
    }
    if !disabled.is_empty() {
        message.push(format!(
            "disabled in Codex: {}",
            disabled
                .iter()
                .map(|(event, _)| *event)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let check = Check::fail(ID, message.join("; "));
    if problems.is_empty() {
        let keys = disabled
            .iter()
            .map(|(_, key)| format!("[hooks.state.{key:?}]"))
            .collect::<Vec<_>>()
            .join(", ");
        check.fix(format!(
            "enable them in Codex's /hooks, or delete `enabled = false` under {keys} in {}",
            quote(&config_path)
        ))
    } else {
        check.fix(ctx.setup_command()).repair(Repair::Setup)
    }
}

/// hooks/list names events in camelCase.
fn hooks_list(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::HooksList;
    let CodexBin::Found(bin) = &ctx.inputs.codex_bin else {
        return Check::warn(ID, "Codex was not asked: no Codex CLI (see codex.cli)")
            .fix(INSTALL_CODEX);
    };
    if !ctx.layout.codex_home.is_dir() {
        return Check::warn(
            ID,
            format!(
                "Codex was not asked: the Codex home {} does not exist",
                ctx.layout.codex_home.display()
            ),
        )
        .fix(ctx.fresh_setup_command());
    }
    let list = match codex::list_hooks(bin, &ctx.layout.codex_home, &ctx.layout.codex_home) {
        Ok(list) => list,
        Err(e) => {
            return Check::warn(
                ID,
                format!("could not ask {} for its hooks: {e}", bin.display()),
            )
        }
    };
    let bad = list.not_running(&ctx.layout.runtime_bin());
    let errors = if list.errors.is_empty() {
        String::new()
    } else {
        format!("; Codex reports: {}", list.errors.join("; "))
    };
    if bad.is_empty() && list.warnings.is_empty() {
        return Check::pass(
            ID,
            format!(
                "Codex lists all {} codex-guard hooks as trusted{errors}",
                Event::ALL.len()
            ),
        );
    }
    if bad.is_empty() {
        // Every hook runs, but Codex warns on every session (hooks in both hooks.json
        // and config.toml): the user's hooks are theirs to move.
        return Check::warn(
            ID,
            format!(
                "Codex lists all {} codex-guard hooks as trusted, but warns: {}{errors}",
                Event::ALL.len(),
                list.warnings.join("; ")
            ),
        )
        .fix(format!(
            "keep your hooks in one of {} and {} (codex-guard's are in {}), then `{}`",
            ctx.layout.hooks_json().display(),
            ctx.layout.codex_config().display(),
            ctx.hooks_path.display(),
            ctx.setup_command()
        ));
    }
    let none_listed = bad.iter().all(|b| b.ends_with("=not listed"));
    let message = if none_listed {
        format!(
            "Codex lists none of codex-guard's hooks (hooks off, or hooks.json not read: see codex.hooks_feature, hooks_json.valid){errors}"
        )
    } else {
        format!("Codex will not run: {}{errors}", bad.join(", "))
    };
    Check::fail(ID, message)
        .fix(ctx.setup_command())
        .repair(Repair::Setup)
}

fn runtime_binary(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::RuntimeBinary;
    let path = ctx.runtime_bin();
    match std::fs::metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::fail(
            ID,
            format!(
                "{} does not exist: every hook fails, and Codex goes on unguarded",
                path.display()
            ),
        )
        .fix(ctx.setup_command())
        .repair(Repair::Setup),
        Err(e) => Check::fail(ID, format!("cannot read {}: {e}", path.display())),
        Ok(meta) if !meta.is_file() => Check::fail(ID, format!("{} is not a file", path.display())),
        Ok(meta) => match unix_mode(&meta) {
            Some(mode) if mode & 0o111 == 0 => Check::fail(
                ID,
                format!("{} is not executable (mode {mode:04o})", path.display()),
            )
            .fix(format!("chmod 755 {}", quote(&path)))
            .repair(Repair::Chmod(vec![(path.clone(), 0o755)])),
            _ => Check::pass(ID, format!("{} is an executable file", path.display())),
        },
    }
}

fn runtime_version(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::RuntimeVersion;
    let path = ctx.runtime_bin();
    if !path.is_file() {
        return Check::fail(ID, "not run: the runtime is missing (see runtime.binary)")
            .fix(ctx.setup_command())
            .repair(Repair::Setup);
    }
    let mut command = std::process::Command::new(&path);
    command.arg("--version");
    let out = match process::run(command, RUNTIME_VERSION_TIMEOUT) {
        Ok(out) => out,
        Err(e) => {
            return Check::fail(ID, format!("{} --version: {e}", path.display()))
                .fix(ctx.setup_command())
                .repair(Repair::Setup)
        }
    };
    let line = out.stdout.lines().next().unwrap_or("").trim().to_string();
    match line.strip_prefix("codex-guard-hook ") {
        Some(version) if out.status.success() => {
            if version == codex_guard_common::VERSION {
                Check::pass(ID, line)
            } else {
                Check::warn(
                    ID,
                    format!(
                        "{line}, but this codex-guard is {}",
                        codex_guard_common::VERSION
                    ),
                )
                .fix(ctx.setup_command())
            }
        }
        _ => Check::fail(
            ID,
            format!(
                "{} --version printed {line:?} (exit {}), not \"codex-guard-hook <version>\"",
                path.display(),
                out.status
            ),
        )
        .fix(ctx.setup_command())
        .repair(Repair::Setup),
    }
}

fn runtime_checksum(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::RuntimeChecksum;
    let path = ctx.runtime_bin();
    let recorded = match ctx.recorded_runtime() {
        Ok(recorded) => recorded,
        // No receipt at all is its own check's failure; a receipt without the
        // runtime is fixed by writing a new one.
        Err(why) if why.starts_with("not checked") => return Check::warn(ID, why),
        Err(why) => return Check::warn(ID, why).fix(ctx.setup_command()),
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Check::fail(
                ID,
                "not compared: the runtime is missing (see runtime.binary)",
            )
            .fix(ctx.setup_command())
            .repair(Repair::Setup)
        }
        Err(e) => {
            return Check::fail(ID, format!("cannot read {}: {e}", path.display()))
                .fix(ctx.setup_command())
                .repair(Repair::Setup)
        }
    };
    let actual = crate::fsutil::sha256_hex(&bytes);
    if actual == recorded.sha256 {
        Check::pass(ID, format!("sha256 {actual} as installed"))
    } else {
        Check::fail(
            ID,
            format!(
                "{} has sha256 {actual}, not the {} setup installed: it was replaced or damaged",
                path.display(),
                recorded.sha256
            ),
        )
        .fix(ctx.setup_command())
        .repair(Repair::Setup)
    }
}

// `None` where files have no Unix modes (the other cfg), so always `Some` here.
#[cfg(unix)]
#[allow(clippy::unnecessary_wraps)]
fn unix_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn unix_mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

// `None` where files have no Unix owner (the other cfg), so always `Some` here.
#[cfg(unix)]
#[allow(clippy::unnecessary_wraps)]
fn owner(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    Some(meta.uid())
}

#[cfg(not(unix))]
fn owner(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

use crate::fsutil::current_uid;

/// A file (or directory) whose mode or owner lets someone else read or change it.
pub(super) struct Exposed {
    path: PathBuf,
    problem: String,
    /// The mode that fixes it, when a chmod can (the owner is right).
    new_mode: Option<u32>,
    /// The path is ours (below the codex-guard directory), so `--fix` may chmod it.
    ours: bool,
    /// A failure (someone else can change it, or read a secret), not only a warning.
    serious: bool,
}

/// Checks `path` for mode bits in `forbidden` (those in `serious` make it a failure)
/// and for an owner other than the current user or root (always a failure).
pub(super) fn exposure(
    path: &Path,
    forbidden: u32,
    serious: u32,
    uid: Option<u32>,
    ours: bool,
) -> Option<Exposed> {
    let meta = std::fs::metadata(path).ok()?;
    let mode = unix_mode(&meta)?;
    let mut problems = Vec::new();
    let mut new_mode = None;
    let mut is_serious = false;
    if mode & forbidden != 0 {
        let what = match (mode & forbidden & 0o044 != 0, mode & forbidden & 0o022 != 0) {
            (true, true) => "readable and writable",
            (true, false) => "readable",
            _ => "writable",
        };
        problems.push(format!("{what} by group or others (mode {mode:04o})"));
        new_mode = Some(mode & !forbidden);
        is_serious = mode & serious != 0;
    }
    if let (Some(owner), Some(uid)) = (owner(&meta), uid) {
        if owner != uid && owner != 0 {
            problems.push(format!(
                "owned by uid {owner}, not by you (uid {uid}) or root"
            ));
            new_mode = None;
            is_serious = true;
        }
    }
    (!problems.is_empty()).then(|| Exposed {
        path: path.to_path_buf(),
        problem: problems.join(", "),
        new_mode,
        ours,
        serious: is_serious,
    })
}

/// A failure when anything exposed is serious, else a warning; `what` says why it matters.
pub(super) fn exposure_check(id: CheckId, what: &str, exposed: &[Exposed]) -> Check {
    let message = exposed
        .iter()
        .map(|e| format!("{} is {}", e.path.display(), e.problem))
        .collect::<Vec<_>>()
        .join("; ");
    let mut commands: Vec<String> = exposed
        .iter()
        .filter_map(|e| {
            e.new_mode
                .map(|m| format!("chmod {m:o} {}", quote(&e.path)))
        })
        .collect();
    let foreign: Vec<String> = exposed
        .iter()
        .filter(|e| e.new_mode.is_none())
        .map(|e| quote(&e.path))
        .collect();
    if !foreign.is_empty() {
        commands.push(format!(
            "make {} yours (chown) and private",
            foreign.join(" ")
        ));
    }
    let chmods: Vec<(PathBuf, u32)> = exposed
        .iter()
        .filter(|e| e.ours)
        .filter_map(|e| e.new_mode.map(|m| (e.path.clone(), m)))
        .collect();
    let message = format!("{message}: {what}");
    let check = if exposed.iter().any(|e| e.serious) {
        Check::fail(id, message)
    } else {
        Check::warn(id, message)
    };
    let check = check.fix(commands.join(" && "));
    if chmods.is_empty() {
        check
    } else {
        check.repair(Repair::Chmod(chmods))
    }
}

/// Whoever can change the runtime, or a directory above it, decides what Codex runs.
/// Per user: only its owner (or root) may write it, up to the Codex home; machine-wide,
/// every user runs it, so only root may, up to the system root.
fn runtime_permissions(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::RuntimePermissions;
    if cfg!(not(unix)) {
        return Check::skip(ID, "not checked: file modes are only read on Unix");
    }
    let runtime = ctx.runtime_bin();
    let (chain, uid, ours, owner, what): (Vec<PathBuf>, _, Option<PathBuf>, _, _) = match ctx.scope
    {
        Scope::User => {
            let layout = ctx.layout;
            (
                vec![
                    runtime.clone(),
                    layout.bin_dir(),
                    layout.guard_dir(),
                    layout.codex_home.clone(),
                ],
                current_uid(),
                Some(layout.guard_dir()),
                "their owner",
                "whoever can write there can replace the program Codex runs on every event",
            )
        }
        Scope::Machine(sys) => {
            let mut chain = vec![runtime.clone()];
            let mut dir = sys.prefix.as_path();
            loop {
                chain.push(dir.to_path_buf());
                match dir.parent() {
                    Some(parent) if dir != sys.root.as_path() => dir = parent,
                    _ => break,
                }
            }
            (
                chain,
                Some(0),
                None,
                "root",
                "whoever can write there can replace the program Codex runs for every user",
            )
        }
    };
    let present: Vec<&PathBuf> = chain.iter().filter(|p| p.exists()).collect();
    if present.is_empty() {
        return Check::skip(
            ID,
            format!(
                "not checked: neither the runtime nor a directory meant to hold it exists ({})",
                runtime.display()
            ),
        );
    }
    let exposed: Vec<Exposed> = present
        .iter()
        .filter_map(|p| {
            let ours = ours.as_ref().is_some_and(|dir| p.starts_with(dir));
            exposure(p, 0o022, 0o022, uid, ours)
        })
        .collect();
    if !exposed.is_empty() {
        return exposure_check(ID, what, &exposed);
    }
    let top = chain
        .last()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let dirs = present.iter().filter(|p| **p != &runtime).count();
    if runtime.exists() {
        Check::pass(
            ID,
            format!("the runtime and the {dirs} directories above it up to {top} are writable only by {owner}"),
        )
    } else {
        Check::pass(
            ID,
            format!("the runtime is missing (see runtime.binary); the {dirs} directories meant to hold it, up to {top}, are writable only by {owner}"),
        )
    }
}

fn config_valid(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::ConfigValid;
    let path = ctx.runtime_config_path();
    match &ctx.runtime_config {
        Loaded::Missing => Check::fail(
            ID,
            format!(
                "{} does not exist: the runtime guards with defaults and no service",
                path.display()
            ),
        )
        .fix(ctx.fresh_setup_command()),
        Loaded::Invalid(e) => Check::fail(
            ID,
            format!("{e}; the runtime falls back to defaults and no service"),
        )
        .fix(format!(
            "fix {} by hand, or rewrite it with `{}`",
            quote(&path),
            ctx.fresh_setup_command()
        )),
        Loaded::Ok(config) => {
            if let Some(problem) = config
                .token_file
                .as_deref()
                .and_then(|t| token_problem(ctx, t))
            {
                return problem;
            }
            let service = match &config.url {
                Some(url) => format!(
                    "{url}, {} mode, {}, fail {}",
                    config.mode.as_str(),
                    if config.blocking {
                        "blocking"
                    } else {
                        "observe only"
                    },
                    if config.fail_closed { "closed" } else { "open" }
                ),
                None => "local-only".into(),
            };
            Check::pass(
                ID,
                format!(
                    "{} is valid: {service}, {} ms deadline",
                    path.display(),
                    config.timeout_ms
                ),
            )
        }
    }
}

/// The token file the config names cannot serve the hooks that read it: unreadable
/// here, or (machine-wide) unreadable by the users whose hooks run as themselves.
fn token_problem(ctx: &Context, token: &Path) -> Option<Check> {
    const ID: CheckId = CheckId::ConfigValid;
    let meta = match std::fs::read(token).and_then(|_| std::fs::metadata(token)) {
        Ok(meta) => meta,
        Err(e) => {
            return Some(
                Check::fail(
                    ID,
                    format!(
                        "the token file {} cannot be read ({e}): calls to the service go without a token",
                        token.display()
                    ),
                )
                .fix(format!("{} --token-file FILE", ctx.setup_command())),
            )
        }
    };
    let Scope::Machine(_) = ctx.scope else {
        return None;
    };
    match unix_mode(&meta) {
        Some(mode) if mode & 0o004 == 0 => Some(
            Check::fail(
                ID,
                format!(
                    "{} is not readable by users (mode {mode:04o}), whose hooks then send no token",
                    token.display()
                ),
            )
            .fix(format!("chmod 644 {}", quote(token))),
        ),
        _ => None,
    }
}

fn config_permissions(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::ConfigPermissions;
    if cfg!(not(unix)) {
        return Check::skip(ID, "not checked: file modes are only read on Unix");
    }
    let uid = current_uid();
    let config = ctx.layout.runtime_config();
    let mut token = ctx.layout.token();
    if let Some(path) = ctx.runtime_config.ok().and_then(|c| c.token_file.clone()) {
        token = path;
    }
    let guard_dir = ctx.layout.guard_dir();
    // Setup writes both 0600. A config others can read gives nothing away (the token
    // has its own file), so only its write bits are a failure.
    let exposed: Vec<Exposed> = [(&config, 0o022), (&token, 0o077)]
        .into_iter()
        .filter_map(|(path, serious)| {
            exposure(path, 0o077, serious, uid, path.starts_with(&guard_dir))
        })
        .collect();
    if exposed.is_empty() {
        return match (config.exists(), token.exists()) {
            (false, false) => Check::skip(
                ID,
                format!(
                    "not checked: neither the runtime config nor a token file exists ({})",
                    config.display()
                ),
            ),
            (true, false) => Check::pass(
                ID,
                "the runtime config is private to its owner (no token file)",
            ),
            (false, true) => Check::pass(
                ID,
                format!(
                    "the token file {} is private to its owner (no runtime config)",
                    token.display()
                ),
            ),
            (true, true) => Check::pass(
                ID,
                "the runtime config and the token file are private to their owner",
            ),
        };
    }
    exposure_check(
        ID,
        "setup writes them 0600, so others can neither read the token nor redirect the runtime",
        &exposed,
    )
}

fn service_reachable(ctx: &Context) -> Check {
    if ctx.runtime_config.ok().is_none() {
        return Check::warn(
            CheckId::ServiceReachable,
            "not checked: no valid runtime config (see config.valid)",
        );
    }
    let env = |name: &str| std::env::var(name).ok();
    let settings = match ctx.scope {
        // The settings the installed hook loads, from this environment: its config,
        // token (AKTO_API_TOKEN or the token file), CA bundles and deadline.
        Scope::User => Settings::load_with(&env, Some(&ctx.runtime_bin()), None),
        // The settings every user's hook loads; like the hook, the probe then runs
        // without the variables a managed install ignores (SSL_CERT_FILE among them,
        // which would change the OS trust store).
        Scope::Machine(_) => {
            let settings = Settings::load_with(&env, None, Some(&ctx.runtime_config_path()));
            settings.scrub_process_env();
            settings
        }
    };
    service_check(&settings, &ctx.runtime_config_path(), &ctx.setup_command())
}

/// Whether the service takes a call made as the hook with `settings` makes it.
pub(super) fn service_check(settings: &Settings, config_path: &Path, setup: &str) -> Check {
    let Some(target) = Target::from_settings(settings) else {
        return Check::pass(
            CheckId::ServiceReachable,
            "local-only: no service configured",
        );
    };
    let env_token = settings.machine_config.is_none()
        && std::env::var("AKTO_API_TOKEN").is_ok_and(|v| !v.trim().is_empty());
    let finding = service::check(
        &target,
        &service::Fixes {
            setup,
            config: config_path,
            env_token,
        },
    );
    match (finding.ok, finding.fix) {
        (true, _) => Check::pass(CheckId::ServiceReachable, finding.message),
        (false, fix) => {
            let check = Check::fail(CheckId::ServiceReachable, finding.message);
            match fix {
                Some(fix) => check.fix(fix),
                None => check,
            }
        }
    }
}

fn machine_id(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::MachineId;
    let path = ctx.machine_id_path();
    if let Some(id) = ctx.runtime_config.ok().and_then(|c| c.device_id.as_ref()) {
        return Check::pass(ID, format!("device_id {id:?} set in the runtime config"));
    }
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Check::pass(ID, text.trim().to_string()),
        Ok(_) => Check::fail(ID, format!("{} is empty", path.display())).fix(format!(
            "rm {} && {}",
            quote(&path),
            ctx.setup_command()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::fail(
            ID,
            format!(
                "{} does not exist: Atlas cannot attribute this device's traffic",
                path.display()
            ),
        )
        .fix(ctx.setup_command())
        .repair(Repair::Setup),
        Err(e) => Check::fail(ID, format!("cannot read {}: {e}", path.display())),
    }
}

fn logs_writable(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::LogsWritable;
    let dir = ctx
        .runtime_config
        .ok()
        .and_then(|c| c.log_dir.clone())
        .unwrap_or_else(|| ctx.layout.logs_dir());
    if !ctx.installed() {
        return Check::fail(
            ID,
            format!("{} does not exist (nothing is installed)", dir.display()),
        )
        .fix(ctx.fresh_setup_command());
    }
    let probe = if dir.exists() && !dir.is_dir() {
        Err(std::io::Error::other("it is not a directory"))
    } else if dir.is_dir() {
        tempfile::Builder::new()
            .prefix(".doctor-probe-")
            .tempfile_in(&dir)
            .map(drop)
    } else {
        // The runtime creates it on the first event: prove it could.
        match dir.parent() {
            Some(parent) if parent.is_dir() => tempfile::Builder::new()
                .prefix(".doctor-probe-")
                .tempdir_in(parent)
                .map(drop),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "its parent directory does not exist",
            )),
        }
    };
    match probe {
        Ok(()) if dir.is_dir() => Check::pass(ID, format!("{} is writable", dir.display())),
        Ok(()) => Check::pass(
            ID,
            format!(
                "{} does not exist yet; the runtime can create it",
                dir.display()
            ),
        ),
        Err(e) => Check::fail(
            ID,
            format!(
                "cannot write to {} ({e}): events go unrecorded",
                dir.display()
            ),
        )
        .fix(format!("make {} writable by you", quote(&dir))),
    }
}

/// The admin's rules file, and the user's as the hook finds it (none machine-wide:
/// there each user's own file is read by their hook, not by this install).
fn rules_files(ctx: &Context) -> (PathBuf, Option<PathBuf>) {
    match ctx.scope {
        Scope::Machine(sys) => (sys.rules(), None),
        Scope::User => {
            let user = ctx
                .runtime_config
                .ok()
                .and_then(|c| c.rules_file.clone())
                .unwrap_or_else(|| ctx.layout.rules());
            let admin = ctx.inputs.system_root.join("etc/codex-guard/rules.toml");
            (admin, Some(user))
        }
    }
}

/// `rules.packs` and `rules.tamper`: the packs in force.
fn rules_packs_and_tamper(ctx: &Context) -> [Check; 2] {
    use super::tamper_rules::{checks, Layers};
    let (admin, user) = rules_files(ctx);
    let layers = match &user {
        Some(user) => Layers::User {
            admin: &admin,
            user,
        },
        None => Layers::Admin(&admin),
    };
    checks(&layers, &ctx.layout.codex_home, ctx.system_root(), &|k| {
        std::env::var(k).ok()
    })
}

/// Reads the rules files as the runtime does, compiling every regex (the hook only
/// compiles what an event needs, so a broken rule could otherwise hide until it matters).
fn rules_valid(ctx: &Context) -> Check {
    use codex_guard_hook::rules::{Layer, Rules};
    const ID: CheckId = CheckId::RulesValid;
    let (admin, user) = rules_files(ctx);
    let mut files = vec![(admin.clone(), Layer::Admin)];
    files.extend(user.clone().map(|user| (user, Layer::User)));
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for (path, layer) in &files {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(format!("cannot read {}: {e}", path.display()));
                continue;
            }
        };
        let mut file_problems = Vec::new();
        match Rules::parse_layer(&text, *layer, None, false, &mut file_problems) {
            Ok(rules) => loaded.push(format!(
                "{} {layer} rule(s) in {}",
                rules.len(),
                path.display()
            )),
            Err(e) => {
                return Check::fail(
                    ID,
                    format!(
                        "{} is not valid TOML ({e}): none of its rules apply",
                        path.display()
                    ),
                )
                .fix("fix the file; its format is in docs/rules.md")
            }
        }
        problems.extend(
            file_problems
                .into_iter()
                .map(|p| format!("{}: {p}", path.display())),
        );
    }
    if !problems.is_empty() {
        return Check::warn(
            ID,
            format!(
                "{} rule problem(s), those rules are skipped: {}",
                problems.len(),
                problems.join("; ")
            ),
        )
        .fix("fix the rules named; the format is in docs/rules.md");
    }
    if loaded.is_empty() {
        let message = match &user {
            Some(user) => format!(
                "no rules file ({}): the packs run at their defaults, no rules of your own apply",
                user.display()
            ),
            None => format!(
                "no admin rules ({} does not exist): the packs run at their defaults, and each user's own rules file can switch them off",
                admin.display()
            ),
        };
        return Check::warn(ID, message).fix(ctx.setup_command());
    }
    Check::pass(ID, loaded.join(", "))
}

fn spool_backlog(ctx: &Context) -> Check {
    use codex_guard_common::spool;
    const ID: CheckId = CheckId::SpoolBacklog;
    let dir = ctx.layout.spool_dir();
    let pending = spool::pending(&dir);
    let rejected = spool::rejected(&dir);
    let stats = spool::SpoolStats::load(&dir);
    let mut lost = Vec::new();
    if stats.dropped_age > 0 {
        lost.push(format!("{} dropped for age", stats.dropped_age));
    }
    if stats.dropped_size > 0 {
        lost.push(format!(
            "{} dropped to keep the spool bounded",
            stats.dropped_size
        ));
    }
    if stats.dropped_corrupt > 0 {
        lost.push(format!("{} unreadable", stats.dropped_corrupt));
    }
    if rejected > 0 {
        lost.push(format!(
            "{rejected} refused by the service, kept in {}",
            dir.join(spool::REJECTED_DIR).display()
        ));
    }
    let last_error = stats
        .last_error
        .as_deref()
        .map(|e| format!("; last delivery error: {e}"))
        .unwrap_or_default();
    match (pending.len(), lost.is_empty()) {
        (0, true) => Check::pass(ID, "no undelivered events"),
        (n, true) => {
            let oldest = pending
                .first()
                .and_then(|(p, _)| spool::created_ms_of(p))
                .map(|ms| {
                    let age = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|now| u64::try_from(now.as_millis()).unwrap_or(u64::MAX))
                        .unwrap_or_default()
                        .saturating_sub(ms);
                    format!(", oldest {} old", humantime::format_duration(Duration::from_secs(age / 1000)))
                })
                .unwrap_or_default();
            Check::warn(
                ID,
                format!("{n} undelivered event(s) in {}{oldest}{last_error}", dir.display()),
            )
            .fix("check service.reachable; they are sent when the service answers")
        }
        (n, false) => Check::warn(
            ID,
            format!(
                "{n} undelivered event(s) waiting; {}{last_error}",
                lost.join(", ")
            ),
        )
        .fix(format!(
            "check service.reachable and the spool bounds (spool_max_mb, spool_max_age_hours) in {}",
            ctx.layout.runtime_config().display()
        )),
    }
}

/// Variables of this environment that override the runtime's config for every hook
/// Codex starts from it (a per-user install honours them all; see
/// `codex_guard_common::env::ENV_VARS`).
fn environment_overrides(get: &dyn Fn(&str) -> Option<String>) -> Check {
    const ID: CheckId = CheckId::EnvironmentOverrides;
    let set: Vec<String> = codex_guard_common::env::ENV_VARS
        .iter()
        .filter(|v| v.overrides_config)
        .filter_map(|v| {
            let value = get(v.name).filter(|x| !x.trim().is_empty())?;
            Some(if v.secret {
                format!("{}=[REDACTED]", v.name)
            } else {
                format!("{}={value}", v.name)
            })
        })
        .collect();
    if set.is_empty() {
        return Check::pass(ID, "no variable in this environment overrides config.toml");
    }
    Check::warn(
        ID,
        format!(
            "{} set in this environment: every hook Codex starts from it uses that instead of config.toml",
            set.join(", ")
        ),
    )
    .fix("unset it, or run `codex-guard setup` with the value you want, so config.toml holds it")
}

fn receipt(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::Receipt;
    let path = ctx.layout.receipt();
    match &ctx.receipt {
        Loaded::Ok(receipt) if receipt.codex_home != ctx.layout.codex_home => Check::warn(
            ID,
            format!(
                "{} was written for the Codex home {}: uninstall will remove only what it can prove is ours",
                path.display(),
                receipt.codex_home.display()
            ),
        )
        .fix(ctx.setup_command()),
        Loaded::Ok(receipt) => Check::pass(
            ID,
            format!(
                "installed by codex-guard {} on {}",
                receipt.version, receipt.installed_at
            ),
        ),
        Loaded::Invalid(e) => Check::warn(
            ID,
            format!("{e}: damaged install, uninstall will remove only what it can prove is ours"),
        )
        .fix(ctx.setup_command()),
        Loaded::Missing if ctx.installed() || !ctx.ours.is_empty() => Check::warn(
            ID,
            format!(
                "{} is missing: damaged install, uninstall will remove only what it can prove is ours",
                path.display()
            ),
        )
        .fix(ctx.setup_command()),
        Loaded::Missing => Check::fail(
            ID,
            format!(
                "codex-guard is not installed in {}",
                ctx.layout.codex_home.display()
            ),
        )
        .fix(ctx.fresh_setup_command()),
    }
}

/// The single finding for a scope with nothing installed, instead of every check
/// failing on its own missing file.
pub fn nothing_installed(inputs: &Inputs, scope: &Scope) -> Option<Check> {
    let ctx = Context::read(inputs, scope);
    if !ctx.nothing_installed() {
        return None;
    }
    let message = match scope {
        Scope::Machine(sys) => format!(
            "nothing installed machine-wide under {} (no {})",
            sys.root.display(),
            sys.receipt().display()
        ),
        Scope::User if !ctx.layout.codex_home.exists() => format!(
            "nothing installed in {} (the directory does not exist)",
            ctx.layout.codex_home.display()
        ),
        Scope::User => format!("nothing installed in {}", ctx.layout.codex_home.display()),
    };
    Some(Check::fail(scope.receipt_check(), message).fix(ctx.fresh_setup_command()))
}

fn managed_receipt(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::ManagedReceipt;
    let Scope::Machine(sys) = ctx.scope else {
        return Check::skip(ID, "not applicable: this is a per-user install");
    };
    match &ctx.managed_receipt {
        Loaded::Ok(r) => Check::pass(
            ID,
            format!("managed install {} since {}", r.version, r.installed_at),
        ),
        Loaded::Invalid(e) => Check::fail(ID, e.clone()).fix(ctx.setup_command()),
        Loaded::Missing => Check::fail(
            ID,
            format!(
                "no managed install ({} is missing)",
                sys.receipt().display()
            ),
        )
        .fix(ctx.fresh_setup_command()),
    }
}

/// requirements.toml holds hooks on, our `managed_dir`, and our handler for every event.
fn managed_requirements(ctx: &Context) -> Check {
    const ID: CheckId = CheckId::ManagedRequirements;
    let Scope::Machine(sys) = ctx.scope else {
        return Check::skip(ID, "not applicable: this is a per-user install");
    };
    let setup = ctx.setup_command();
    let path = sys.requirements();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            return Check::fail(ID, format!("cannot read {}: {e}", path.display())).fix(setup)
        }
    };
    let doc: DocumentMut = match text.parse() {
        Ok(doc) => doc,
        Err(e) => {
            return Check::fail(
                ID,
                crate::edit::codex_config::syntax_error(&text, &path, &e).0,
            )
            .fix(format!("fix the file by hand, then run {setup}"))
        }
    };
    if doc
        .get("features")
        .and_then(|f| f.get("hooks"))
        .and_then(Item::as_bool)
        == Some(false)
    {
        return Check::fail(
            ID,
            format!("{} turns hooks off for every user", path.display()),
        )
        .fix(setup);
    }
    let prefix = sys.prefix.to_string_lossy();
    let managed_dir = doc
        .get("hooks")
        .and_then(|h| h.get("managed_dir"))
        .and_then(Item::as_str);
    if managed_dir != Some(prefix.as_ref()) {
        return Check::fail(
            ID,
            format!("hooks.managed_dir is {managed_dir:?}, not {prefix:?}: Codex will not run our runtime"),
        )
        .fix(setup);
    }
    let command = sys.command();
    let timeout = ctx
        .runtime_config
        .ok()
        .map(RuntimeConfig::hook_timeout_secs);
    let ours = |h: &toml_edit::Table| {
        h.get("command").and_then(Item::as_str) == Some(command.as_str())
            && timeout.is_none_or(|t| {
                h.get("timeout").and_then(Item::as_integer) == i64::try_from(t).ok()
            })
    };
    let missing: Vec<&str> = Event::ALL
        .iter()
        .map(|e| e.name())
        .filter(|event| {
            !doc.get("hooks")
                .and_then(|h| h.get(event))
                .and_then(Item::as_array_of_tables)
                .is_some_and(|groups| {
                    groups.iter().any(|g| {
                        g.get("hooks")
                            .and_then(Item::as_array_of_tables)
                            .is_some_and(|hs| hs.iter().any(ours))
                    })
                })
        })
        .collect();
    if !missing.is_empty() {
        return Check::fail(
            ID,
            format!(
                "{} lacks our handler (or has a stale one) for {}",
                path.display(),
                missing.join(", ")
            ),
        )
        .fix(setup);
    }
    let only = doc.get("allow_managed_hooks_only").and_then(Item::as_bool) == Some(true);
    Check::pass(
        ID,
        format!(
            "{}: hooks on, our handler on every event{}",
            path.display(),
            if only {
                "; allow_managed_hooks_only: users' own hooks are ignored"
            } else {
                ""
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> DocumentMut {
        text.parse().unwrap()
    }

    #[test]
    fn overrides_in_the_environment_are_named_with_secrets_redacted() {
        let check = environment_overrides(&|name| match name {
            "AKTO_SYNC_MODE" => Some("false".into()),
            "AKTO_API_TOKEN" => Some("tok".into()),
            "HOME" => Some("/home/u".into()),
            _ => None,
        });
        assert_eq!(check.status, crate::doctor::Status::Warn);
        assert!(
            check
                .message
                .starts_with("AKTO_API_TOKEN=[REDACTED], AKTO_SYNC_MODE=false set"),
            "{}",
            check.message
        );
        let check = environment_overrides(&|name| (name == "CODEX_HOME").then(|| "/x".into()));
        assert_eq!(check.status, crate::doctor::Status::Pass);
    }

    #[test]
    fn the_feature_flag_is_read_with_its_deprecated_name() {
        assert_eq!(
            feature_in(&doc("[features]\nhooks = false\n")).map(|(v, k)| (v.ok(), k)),
            Some((Some(false), "hooks"))
        );
        assert_eq!(
            feature_in(&doc("[features]\ncodex_hooks = true\nhooks = false\n"))
                .map(|(v, k)| (v.ok(), k)),
            Some((Some(false), "hooks"))
        );
        assert_eq!(
            feature_in(&doc("features.codex_hooks = true\n")).map(|(v, k)| (v.ok(), k)),
            Some((Some(true), "codex_hooks"))
        );
        assert!(feature_in(&doc("[features]\nhooks = \"yes\"\n"))
            .unwrap()
            .0
            .is_err());
        assert!(feature_in(&doc("model = \"x\"\n")).is_none());
    }

    #[test]
    fn trust_states_use_codex_words() {
        let config = doc(concat!(
            "[hooks.state.\"/h/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:aa\"\n",
            "[hooks.state.\"/h/hooks.json:stop:1:0\"]\ntrusted_hash = \"sha256:aa\"\nenabled = false\n",
        ));
        assert_eq!(
            trust_state(&config, "/h/hooks.json:stop:0:0", "sha256:aa"),
            "trusted"
        );
        assert_eq!(
            trust_state(&config, "/h/hooks.json:stop:0:0", "sha256:bb"),
            "modified"
        );
        assert_eq!(
            trust_state(&config, "/h/hooks.json:stop:1:0", "sha256:aa"),
            "disabled"
        );
        assert_eq!(
            trust_state(&config, "/h/hooks.json:stop:2:0", "sha256:aa"),
            "untrusted"
        );
    }

    #[test]
    fn edited_handlers_are_still_found_as_ours() {
        let runtime = Path::new("/h/codex-guard/bin/codex-guard-hook");
        let known = vec![hooks_json::shell_quote(runtime)];
        let hooks: Value = serde_json::json!({"hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [{"type": "command", "command": "user"}]},
                {"hooks": [{"type": "command", "command": "'/h/codex-guard/bin/codex-guard-hook' --x"}]}
            ],
            "Stop": [{"hooks": [{"type": "command", "command": "'/h/codex-guard/bin/codex-guard-hook'"}]}]
        }});
        let ours = find_ours(&hooks, &known, runtime);
        assert_eq!(ours.len(), 2);
        assert_eq!(
            (ours[0].event, ours[0].group, ours[0].exact),
            (Event::PreToolUse, 1, false)
        );
        assert_eq!((ours[1].event, ours[1].exact), (Event::Stop, true));
    }

    /// A per-user install made by setup in a temporary directory, checked with a
    /// Codex CLI that lists no hook at all.
    #[cfg(unix)]
    struct Home {
        _dir: tempfile::TempDir,
        inputs: Inputs,
    }

    #[cfg(unix)]
    impl Home {
        fn installed() -> Home {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().canonicalize().unwrap();
            let codex_home = root.join("home/.codex");
            let system_root = root.join("system");
            std::fs::create_dir_all(&codex_home).unwrap();
            std::fs::create_dir_all(&system_root).unwrap();
            std::fs::set_permissions(&codex_home, std::fs::Permissions::from_mode(0o755)).unwrap();
            let runtime = root.join("runtime");
            std::fs::write(
                &runtime,
                format!(
                    "#!/bin/sh\necho codex-guard-hook {}\n",
                    codex_guard_common::VERSION
                ),
            )
            .unwrap();
            let codex = root.join("codex");
            std::fs::write(
                &codex,
                concat!(
                    "#!/bin/sh\n",
                    "[ \"$1\" = --version ] && { echo codex-cli 0.171.0; exit 0; }\n",
                    "while IFS= read -r line; do case \"$line\" in\n",
                    "*'\"id\":1,'*) echo '{\"id\":1,\"result\":{}}' ;;\n",
                    "*'\"id\":2,'*) echo '{\"id\":2,\"result\":{\"data\":[{\"hooks\":[],\"warnings\":[],\"errors\":[]}]}}'; exit 0 ;;\n",
                    "esac; done\n",
                ),
            )
            .unwrap();
            std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
            let home_args = crate::cli::HomeArgs {
                codex_home: Some(codex_home.clone()),
                system_root: system_root.clone(),
            };
            crate::install::setup::apply(&crate::cli::SetupArgs {
                local_only: true,
                device_id: Some("unit-test".into()),
                runtime: Some(runtime),
                silent: true,
                yes: true,
                home: home_args.clone(),
                ..crate::cli::SetupArgs::default()
            })
            .unwrap();
            let inputs = Inputs {
                home_args,
                layout: Layout::new(&codex_home),
                system_root,
                codex_bin: CodexBin::Found(codex),
                home_flag: String::new(),
            };
            Home { _dir: dir, inputs }
        }

        fn path(&self, rel: &str) -> PathBuf {
            self.inputs.layout.codex_home.join(rel)
        }

        fn chmod(&self, rel: &str, mode: u32) {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(mode))
                .unwrap();
        }
    }

    /// Every repair a check asks `--fix` for is one its id claims, and every claim is
    /// asked for by some way an install breaks: `CheckId::fixes` is what `--fix` covers.
    #[cfg(unix)]
    #[test]
    fn the_repairs_checks_ask_for_are_exactly_what_fix_claims() {
        use super::super::FixKind;
        use std::collections::BTreeSet;
        type Breakage = (&'static str, fn(&Home));
        let breakages: [Breakage; 7] = [
            ("runtime deleted", |h| {
                std::fs::remove_file(h.path("codex-guard/bin/codex-guard-hook")).unwrap();
            }),
            ("runtime not executable", |h| {
                h.chmod("codex-guard/bin/codex-guard-hook", 0o644);
            }),
            ("hooks.json deleted", |h| {
                std::fs::remove_file(h.path("hooks.json")).unwrap();
            }),
            ("hooks turned off", |h| {
                std::fs::write(h.path("config.toml"), "[features]\nhooks = false\n").unwrap();
            }),
            ("machine id deleted", |h| {
                std::fs::remove_file(h.path("codex-guard/machine-id")).unwrap();
            }),
            ("runtime directory writable by others", |h| {
                h.chmod("codex-guard/bin", 0o777);
            }),
            ("runtime config readable by others", |h| {
                h.chmod("codex-guard/config.toml", 0o666);
            }),
        ];
        let mut asked: BTreeSet<(&str, String)> = BTreeSet::new();
        for (what, brk) in breakages {
            let home = Home::installed();
            brk(&home);
            for check in run_all(&home.inputs, &Scope::User) {
                if let Some(kind) = check.repair.kind() {
                    assert!(
                        check.id.fixes().contains(&kind),
                        "{what}: {} asks for {kind:?}, which it does not claim",
                        check.id
                    );
                    asked.insert((check.id.as_str(), format!("{kind:?}")));
                }
            }
        }
        let claimed: BTreeSet<(&str, String)> = CheckId::USER
            .iter()
            .flat_map(|id| {
                id.fixes()
                    .iter()
                    .map(|k: &FixKind| (id.as_str(), format!("{k:?}")))
            })
            .collect();
        assert_eq!(asked, claimed);
        // Machine-wide installs are repaired by `setup --managed`, never by --fix.
        for id in CheckId::MACHINE
            .iter()
            .filter(|id| !CheckId::USER.contains(id))
        {
            assert_eq!(id.fixes(), &[], "{id}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn exposure_names_the_problem_and_the_mode_that_fixes_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "t").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let uid = current_uid();
        let exposed = exposure(&file, 0o077, 0o077, uid, true).unwrap();
        assert!(
            exposed.problem.contains("readable by group"),
            "{}",
            exposed.problem
        );
        assert_eq!(exposed.new_mode, Some(0o600));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(exposed.serious);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(!exposure(&file, 0o077, 0o022, uid, true).unwrap().serious);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(exposure(&file, 0o077, 0o077, uid, true).is_none());
    }
}
