//! Whether the rules in force still stop the agent from switching the guard off.
//! Setup never overwrites a rules file the user changed, so an install older than
//! the rule that protects the Codex home and the shell startup files, or a file where
//! it was removed, leaves the guard open to the model it guards. The check asks the
//! rules themselves: it runs a few tampering tool calls through them, as the hook would.

use super::Check;
use codex_guard_hook::input::HookInput;
use codex_guard_hook::protect::PathContext;
use codex_guard_hook::rules::{self, Action, Rules};
use codex_guard_hook::settings::EnvLookup;
use serde_json::json;
use std::path::Path;

const ID: &str = "rules.tamper";

/// Where the rules come from.
pub enum Layers<'a> {
    /// The admin file (may be missing) and the user's.
    User { admin: &'a Path, user: &'a Path },
    /// A managed install: the admin file alone.
    Admin(&'a Path),
}

/// The tampering calls the rules must deny, each with what it would do.
fn probes(codex_home: &Path, home: Option<&str>) -> Vec<(&'static str, serde_json::Value)> {
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
    ];
    if home.is_some() {
        probes.push((
            "export BASH_ENV from ~/.bashrc",
            bash("echo 'export BASH_ENV=~/.x' >> ~/.bashrc".into()),
        ));
    }
    probes
}

/// The check for the rules of `layers`, with the paths of this Codex home.
pub fn check(
    layers: &Layers<'_>,
    codex_home: &Path,
    system_root: &Path,
    env: EnvLookup<'_>,
) -> Check {
    let mut paths = PathContext::from_env(env, system_root);
    let home = codex_home.display().to_string();
    if !paths.codex_homes.contains(&home) {
        paths.codex_homes.push(home);
    }
    let mut problems = Vec::new();
    let policy = match layers {
        Layers::User { admin, user } => {
            rules::load_policy(Some(admin), user, None, "PreToolUse", &mut problems)
        }
        Layers::Admin(admin) => Rules::load(admin, "PreToolUse", &mut problems),
    };
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
    if allowed.is_empty() {
        Check::pass(
            ID,
            "the rules stop the agent from changing the Codex home, the shell startup files and codex-guard",
        )
    } else {
        Check::warn(
            ID,
            format!(
                "the rules let the agent switch the guard off: {}",
                allowed.join(", ")
            ),
        )
        .fix(format!(
            "add the rule protect-guard-and-startup-files from templates/rules.toml to {} \
             (docs/rules.md, Protected paths), then run codex-guard doctor again",
            match layers {
                Layers::User { user, .. } => user.display(),
                Layers::Admin(admin) => admin.display(),
            }
        ))
    }
}
