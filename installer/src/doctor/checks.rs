//! The checks themselves. Each reads the install as it is on disk (nothing is
//! written, but for a probe file in the logs directory) and returns a [`Check`]
//! saying what is wrong and what command fixes it.

use super::codex::{self, CodexBin, VERIFIED_VERSION};
use super::{process, Check, Inputs, Repair};
use crate::hooks_json::shell_quote as quote;
use crate::{codex_config, fsutil, hooks_json, service, trust};
use codex_guard_common::events::Event;
use codex_guard_common::{Layout, Receipt, RuntimeConfig};
use codex_guard_hook::probe::Target;
use codex_guard_hook::settings::Settings;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml_edit::{DocumentMut, Item};

/// Longest the runtime may take to print its version.
pub(super) const RUNTIME_VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// How to install the Codex CLI.
const INSTALL_CODEX: &str = "npm install -g @openai/codex";

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
    receipt: Loaded<Receipt>,
    runtime_config: Loaded<RuntimeConfig>,
    hooks: Loaded<Value>,
    codex_config: Loaded<DocumentMut>,
    ours: Vec<Ours>,
}

impl<'a> Context<'a> {
    fn read(inputs: &'a Inputs) -> Context<'a> {
        let layout = &inputs.layout;
        let receipt = load(&layout.receipt(), |text| {
            Receipt::from_json(text)
                .map_err(|e| format!("{} is damaged ({e})", layout.receipt().display()))
        });
        let runtime_config = load(&layout.runtime_config(), |text| {
            RuntimeConfig::from_toml(text).map_err(|e| {
                format!(
                    "{} is invalid: {}",
                    layout.runtime_config().display(),
                    e.message().trim()
                )
            })
        });
        let hooks_path = layout.hooks_json();
        let hooks = load(&hooks_path, |text| {
            hooks_json::parse(text, &hooks_path).map_err(|e| e.message)
        });
        let codex_config = load_codex_config(&layout.codex_config());
        let known = hooks_json::our_commands(layout, receipt.ok());
        let ours = hooks
            .ok()
            .map(|doc| find_ours(doc, &known, &layout.runtime_bin()))
            .unwrap_or_default();
        Context {
            inputs,
            layout,
            receipt,
            runtime_config,
            hooks,
            codex_config,
            ours,
        }
    }

    fn setup_command(&self) -> String {
        self.inputs.guard_command("setup")
    }

    /// Setup for a home whose runtime config is gone: it needs the URL again.
    fn fresh_setup_command(&self) -> String {
        format!(
            "{} --url URL (or --local-only)",
            self.inputs.guard_command("setup")
        )
    }

    fn installed(&self) -> bool {
        self.layout.guard_dir().exists()
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
    let ctx = Context::read(inputs);
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

/// Runs every check, in the order they are reported.
pub fn run_all(inputs: &Inputs) -> Vec<Check> {
    let ctx = Context::read(inputs);
    let mut checks = vec![
        codex_cli(&ctx),
        hooks_feature(&ctx),
        managed_policy(&ctx),
        hooks_json_valid(&ctx),
        hooks_json_handlers(&ctx),
        hooks_trust(&ctx),
        hooks_list(&ctx),
        runtime_binary(&ctx),
        runtime_version(&ctx),
        runtime_checksum(&ctx),
        runtime_permissions(&ctx),
        config_valid(&ctx),
        config_permissions(&ctx),
        rules_valid(&ctx),
    ];
    checks.extend(rules_packs_and_tamper(&ctx));
    checks.extend([
        service_reachable(&ctx),
        machine_id(&ctx),
        logs_writable(&ctx),
        spool_backlog(&ctx),
        receipt(&ctx),
        super::shell_env::check(&|k| std::env::var(k).ok(), &inputs.system_root),
        environment_overrides(&|name| std::env::var(name).ok()),
    ]);
    checks
}

fn codex_cli(ctx: &Context) -> Check {
    codex_cli_check(&ctx.inputs.codex_bin, &ctx.layout.codex_home)
}

/// The Codex CLI on PATH (or `--codex-bin`) and whether its version has the hooks we rely on.
pub(super) fn codex_cli_check(codex_bin: &CodexBin, codex_home: &Path) -> Check {
    const ID: &str = "codex.cli";
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
    const ID: &str = "codex.hooks_feature";
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
            ("requirements", false) | ("managed", false) => Check::fail(
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
    const ID: &str = "codex.managed_policy";
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
    const ID: &str = "hooks_json.valid";
    let path = ctx.layout.hooks_json();
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
                quote(&path),
                ctx.inputs.guard_command("restore --latest"),
                ctx.setup_command()
            ))
        }
        Loaded::Ok(_) => Check::pass(ID, format!("{} is valid", path.display())),
    }
}

fn hooks_json_handlers(ctx: &Context) -> Check {
    const ID: &str = "hooks_json.handlers";
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
            ctx.layout.hooks_json().display()
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
    const ID: &str = "hooks.trust";
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
    let hooks_path = ctx.layout.hooks_json();
    let mut problems = Vec::new();
    let mut disabled = Vec::new();
    for ours in &ctx.ours {
        let key = trust::trust_key(&hooks_path, ours.event, ours.group, ours.index);
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
fn camel(event: Event) -> String {
    let name = event.name();
    name[..1].to_ascii_lowercase() + &name[1..]
}

fn hooks_list(ctx: &Context) -> Check {
    const ID: &str = "codex.hooks_list";
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
    let runtime = ctx.layout.runtime_bin().display().to_string();
    let mut bad = Vec::new();
    for event in Event::ALL {
        let ours: Vec<&codex::ListedHook> = list
            .hooks
            .iter()
            .filter(|h| h.event_name == camel(event) && h.command.contains(&runtime))
            .collect();
        if ours.is_empty() {
            bad.push(format!("{}=not listed", event.name()));
        }
        for hook in ours {
            if hook.trust_status != "trusted" {
                bad.push(format!("{}={}", event.name(), hook.trust_status));
            } else if !hook.enabled {
                bad.push(format!("{}=disabled", event.name()));
            }
        }
    }
    let errors = if list.errors.is_empty() {
        String::new()
    } else {
        format!("; Codex reports: {}", list.errors.join("; "))
    };
    if bad.is_empty() {
        return Check::pass(
            ID,
            format!(
                "Codex lists all {} codex-guard hooks as trusted{errors}",
                Event::ALL.len()
            ),
        );
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
    const ID: &str = "runtime.binary";
    let path = ctx.layout.runtime_bin();
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
    const ID: &str = "runtime.version";
    let path = ctx.layout.runtime_bin();
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
    const ID: &str = "runtime.checksum";
    let path = ctx.layout.runtime_bin();
    let Some(receipt) = ctx.receipt.ok() else {
        return Check::warn(
            ID,
            "not checked: no install receipt to compare with (see receipt)",
        );
    };
    let Some(recorded) = receipt.files.iter().find(|f| f.path == path) else {
        return Check::warn(
            ID,
            format!("the receipt records no checksum for {}", path.display()),
        )
        .fix(ctx.setup_command());
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
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

#[cfg(unix)]
fn unix_mode(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn unix_mode(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(unix)]
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
pub(super) fn exposure_check(id: &'static str, what: &str, exposed: Vec<Exposed>) -> Check {
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

fn runtime_permissions(ctx: &Context) -> Check {
    const ID: &str = "runtime.permissions";
    if cfg!(not(unix)) {
        return Check::pass(ID, "not checked on this platform");
    }
    let uid = current_uid();
    let layout = ctx.layout;
    let guard_dir = layout.guard_dir();
    let chain = [
        layout.runtime_bin(),
        layout.bin_dir(),
        guard_dir.clone(),
        layout.codex_home.clone(),
    ];
    let exposed: Vec<Exposed> = chain
        .iter()
        .filter_map(|p| exposure(p, 0o022, 0o022, uid, p.starts_with(&guard_dir)))
        .collect();
    if exposed.is_empty() {
        let checked = chain.iter().filter(|p| p.exists()).count();
        return Check::pass(
            ID,
            format!(
                "the runtime and the {} directories above it up to the Codex home are writable only by their owner",
                checked.saturating_sub(1)
            ),
        );
    }
    exposure_check(
        ID,
        "whoever can write there can replace the program Codex runs on every event",
        exposed,
    )
}

fn config_valid(ctx: &Context) -> Check {
    const ID: &str = "config.valid";
    let path = ctx.layout.runtime_config();
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
            if let Some(token) = &config.token_file {
                if let Err(e) = std::fs::read(token) {
                    return Check::fail(
                        ID,
                        format!(
                            "the token file {} cannot be read ({e}): calls to the service go without a token",
                            token.display()
                        ),
                    )
                    .fix(format!(
                        "{} --token-file FILE",
                        ctx.inputs.guard_command("setup")
                    ));
                }
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

fn config_permissions(ctx: &Context) -> Check {
    const ID: &str = "config.permissions";
    if cfg!(not(unix)) {
        return Check::pass(ID, "not checked on this platform");
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
        let present = [&config, &token].iter().filter(|p| p.exists()).count();
        return Check::pass(
            ID,
            format!("the runtime config and token ({present} file(s)) are private to their owner"),
        );
    }
    exposure_check(
        ID,
        "setup writes them 0600, so others can neither read the token nor redirect the runtime",
        exposed,
    )
}

fn service_reachable(ctx: &Context) -> Check {
    if ctx.runtime_config.ok().is_none() {
        return Check::warn(
            service::CHECK_ID,
            "not checked: no valid runtime config (see config.valid)",
        );
    }
    // The settings the installed hook loads, from this environment: its config,
    // token (AKTO_API_TOKEN or the token file), CA bundles and deadline.
    let env = |name: &str| std::env::var(name).ok();
    let settings = Settings::load_with(&env, Some(&ctx.layout.runtime_bin()), None);
    service_check(
        &settings,
        &ctx.layout.runtime_config(),
        &ctx.inputs.guard_command("setup"),
    )
}

/// Whether the service takes a call made as the hook with `settings` makes it.
pub(super) fn service_check(settings: &Settings, config_path: &Path, setup: &str) -> Check {
    let Some(target) = Target::from_settings(settings) else {
        return Check::pass(service::CHECK_ID, "local-only: no service configured");
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
        (true, _) => Check::pass(service::CHECK_ID, finding.message),
        (false, fix) => {
            let check = Check::fail(service::CHECK_ID, finding.message);
            match fix {
                Some(fix) => check.fix(fix),
                None => check,
            }
        }
    }
}

fn machine_id(ctx: &Context) -> Check {
    const ID: &str = "machine_id";
    let path = ctx.layout.machine_id();
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
    const ID: &str = "logs.writable";
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

/// Reads both rules files as the runtime does, compiling every regex (the hook only
/// compiles what an event needs, so a broken rule could otherwise hide until it matters).
/// The admin's rules file and the user's, as the hook finds them.
fn rules_files(ctx: &Context) -> (PathBuf, PathBuf) {
    let user = ctx
        .runtime_config
        .ok()
        .and_then(|c| c.rules_file.clone())
        .unwrap_or_else(|| ctx.layout.rules());
    let admin = ctx.inputs.system_root.join("etc/codex-guard/rules.toml");
    (admin, user)
}

/// `rules.packs` and `rules.tamper`: the packs in force for this user.
fn rules_packs_and_tamper(ctx: &Context) -> [Check; 2] {
    let (admin, user) = rules_files(ctx);
    super::tamper_rules::checks(
        &super::tamper_rules::Layers::User {
            admin: &admin,
            user: &user,
        },
        &ctx.layout.codex_home,
        &ctx.inputs.system_root,
        &|k| std::env::var(k).ok(),
    )
}

fn rules_valid(ctx: &Context) -> Check {
    use codex_guard_hook::rules::{Layer, Rules};
    const ID: &str = "rules.valid";
    let (admin, user) = rules_files(ctx);
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    for (path, layer) in [(&admin, Layer::Admin), (&user, Layer::User)] {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.push(format!("cannot read {}: {e}", path.display()));
                continue;
            }
        };
        let mut file_problems = Vec::new();
        match Rules::parse_layer(&text, layer, None, false, &mut file_problems) {
            Ok(rules) => loaded.push(format!("{} {layer} rule(s)", rules.len())),
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
        return Check::warn(
            ID,
            format!(
                "no rules file ({}): the packs run at their defaults, no rules of your own apply",
                user.display()
            ),
        )
        .fix(ctx.setup_command());
    }
    Check::pass(ID, loaded.join(", "))
}

fn spool_backlog(ctx: &Context) -> Check {
    use codex_guard_common::spool;
    const ID: &str = "spool.backlog";
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
                        .map(|now| now.as_millis() as u64)
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
    const ID: &str = "environment.overrides";
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
    const ID: &str = "receipt";
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
