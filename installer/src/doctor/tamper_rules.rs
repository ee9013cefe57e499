//! Whether the rule packs in force still stop the agent from switching the guard
//! off, and at what level each pack runs. A rules file (the user's or the admin's)
//! can set a pack to "off"; the guard-tamper pack is what keeps the model from
//! deleting the Codex home, rewriting the hooks or the shell startup files, or
//! running `codex-guard uninstall`. The check asks the rules themselves: it reads the
//! packs' effective levels and runs a few tampering tool calls through the rules, as
//! the hook would.

use super::{Check, CheckId};
use codex_guard_hook::input::HookInput;
use codex_guard_hook::packs::{Level, Pack};
use codex_guard_hook::protect::PathContext;
use codex_guard_hook::rules::{self, Action, Layer, Rules};
use codex_guard_hook::settings::EnvLookup;
use serde_json::{json, Map, Value};
use std::path::Path;

const TAMPER_ID: CheckId = CheckId::RulesTamper;
const PACKS_ID: CheckId = CheckId::RulesPacks;

/// Where the rules come from.
pub enum Layers<'a> {
    /// The admin file (may be missing) and the user's.
    User { admin: &'a Path, user: &'a Path },
    /// A managed install: the admin file alone.
    Admin(&'a Path),
}

impl Layers<'_> {
    /// The file a person edits to raise a pack: the user's own, or the admin's.
    fn editable(&self) -> &Path {
        match self {
            Layers::User { user, .. } => user,
            Layers::Admin(admin) => admin,
        }
    }

    /// The rules of a tool call, loaded as the hook loads them.
    fn load(&self) -> Rules {
        let mut problems = Vec::new();
        match self {
            Layers::User { admin, user } => {
                rules::load_policy(Some(admin), user, None, "PreToolUse", &mut problems)
            }
            Layers::Admin(admin) => admin_rules(admin, &mut problems),
        }
    }
}

/// The admin file alone, read as the admin layer (a pack set to a value it cannot
/// read counts as "deny" there, as in the hook). Problems are `rules.valid`'s to
/// report.
fn admin_rules(path: &Path, problems: &mut Vec<String>) -> Rules {
    match std::fs::read_to_string(path) {
        Ok(text) => Rules::parse_layer(&text, Layer::Admin, Some("PreToolUse"), false, problems)
            .unwrap_or_default(),
        Err(_) => Rules::default(),
    }
}

/// The tampering calls the guard-tamper pack must deny, each with what it would do.
fn probes(codex_home: &Path, home: Option<&str>) -> Vec<(&'static str, Value)> {
    let codex = codex_home.display().to_string();
    let bash = |command: String| json!({"tool_name": "Bash", "tool_input": {"command": command}});
    let mut probes = vec![
        ("delete the Codex home", bash(format!("rm -rf '{codex}'"))),
        (
            "rewrite hooks.json",
            bash(format!("echo '{{}}' > '{codex}/hooks.json'")),
        ),
        (
            "run codex-guard uninstall",
            bash("codex-guard uninstall --silent".into()),
        ),
        (
            "patch config.toml",
            json!({"tool_name": "apply_patch", "tool_input": {"command": format!(
                "*** Begin Patch\n*** Update File: {codex}/config.toml\n@@\n-hooks = true\n+hooks = false\n*** End Patch\n"
            )}}),
        ),
        (
            "start Codex with its hooks off",
            bash("codex --disable codex_hooks exec 'go on'".into()),
        ),
    ];
    if home.is_some() {
        probes.push((
            "export BASH_ENV from ~/.bashrc",
            bash("echo 'export BASH_ENV=~/.x' >> ~/.bashrc".into()),
        ));
    }
    probes
}

/// `rules.packs` and `rules.tamper` for the rules of `layers`, with the paths of
/// this Codex home.
pub fn checks(
    layers: &Layers<'_>,
    codex_home: &Path,
    system_root: &Path,
    env: EnvLookup<'_>,
) -> [Check; 2] {
    let policy = layers.load();
    let levels = policy.pack_levels();
    [
        packs_check(layers, &levels),
        tamper_check(layers, &policy, &levels, codex_home, system_root, env),
    ]
}

/// The effective level of every pack, on one line; a warning for a pack that is
/// off (git-work-loss may be: it only ever warns by default).
fn packs_check(layers: &Layers<'_>, levels: &[(Pack, Level)]) -> Check {
    let line = format!(
        "packs: {}",
        levels
            .iter()
            .map(|(pack, level)| format!("{pack} {}", level.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let off: Vec<&str> = levels
        .iter()
        .filter(|(pack, level)| *level == Level::Off && *pack != Pack::GitWorkLoss)
        .map(|(pack, _)| pack.name())
        .collect();
    let check = if off.is_empty() {
        Check::pass(PACKS_ID, line)
    } else {
        Check::warn(
            PACKS_ID,
            format!(
                "{line}; {} {} off, so no local check stops the calls {} catch",
                off.join(", "),
                if off.len() == 1 { "is" } else { "are" },
                if off.len() == 1 {
                    "that pack would"
                } else {
                    "those packs would"
                }
            ),
        )
        .fix(format!(
            "set {} in [packs] of {} (docs/rules.md), then run codex-guard doctor again",
            off.iter()
                .map(|p| format!("{p} = \"deny\""))
                .collect::<Vec<_>>()
                .join(", "),
            layers.editable().display()
        ))
    };
    check.data(json!({
        "packs": levels
            .iter()
            .map(|(pack, level)| (pack.name().to_string(), json!(level.as_str())))
            .collect::<Map<String, Value>>()
    }))
}

/// The guard-tamper pack denies, and the tampering probes are denied.
fn tamper_check(
    layers: &Layers<'_>,
    policy: &Rules,
    levels: &[(Pack, Level)],
    codex_home: &Path,
    system_root: &Path,
    env: EnvLookup<'_>,
) -> Check {
    let mut paths = PathContext::from_env(env, system_root);
    let home = codex_home.display().to_string();
    if !paths.codex_homes.contains(&home) {
        paths.codex_homes.push(home);
    }
    let cwd = codex_home
        .parent()
        .unwrap_or(Path::new("/"))
        .display()
        .to_string();
    let allowed: Vec<&str> = probes(codex_home, paths.home.as_deref())
        .into_iter()
        .filter(|(_, call)| {
            let mut event = call.clone();
            event["hook_event_name"] = json!("PreToolUse");
            event["cwd"] = json!(cwd);
            HookInput::parse(event.to_string().as_bytes()).is_ok_and(|input| {
                !policy
                    .evaluate(&input, &paths)
                    .is_some_and(|m| m.action == Action::Deny)
            })
        })
        .map(|(what, _)| what)
        .collect();
    let level = levels
        .iter()
        .find(|(pack, _)| *pack == Pack::GuardTamper)
        .map_or(Level::Off, |(_, level)| *level);
    let set_deny = format!(
        "set guard-tamper = \"deny\" in [packs] of {} (docs/rules.md), then run codex-guard doctor again",
        layers.editable().display()
    );
    match (level, allowed.is_empty()) {
        (Level::Deny, true) => Check::pass(
            TAMPER_ID,
            "the guard-tamper pack denies changing the Codex home, the shell startup files and codex-guard",
        ),
        (Level::Deny, false) => Check::warn(
            TAMPER_ID,
            format!(
                "the guard-tamper pack denies, yet the rules let the agent: {}",
                allowed.join(", ")
            ),
        )
        .fix("update codex-guard (codex-guard self-update) and run codex-guard setup again"),
        (weaker, _) => {
            let what = if weaker == Level::Warn {
                "only warns (the same call made again goes through)"
            } else {
                "is off"
            };
            let message = if allowed.is_empty() {
                format!("the guard-tamper pack {what}: only your own rules stop the agent from switching the guard off")
            } else {
                format!(
                    "the guard-tamper pack {what}: the agent can switch the guard off: {}",
                    allowed.join(", ")
                )
            };
            Check::warn(TAMPER_ID, message).fix(set_deny)
        }
    }
}
