//! Guard tamper: changing what decides whether the guard runs (the Codex home,
//! codex-guard's own files, the machine's Codex policy, the shell startup files,
//! `~/.ssh`), by the shell, `apply_patch` or an MCP tool; running `codex-guard`
//! itself; and starting Codex with its hooks off or their trust bypassed.

use super::{Finding, Pack, Subject};
use crate::protect::Protected;
use crate::shell::Change;

/// What the pack protects, in the `writes` syntax of a rule (docs/rules.md).
pub const PROTECTED: &[&str] = &[
    "$CODEX_HOME",
    "~/.codex",
    "$CODEX_GUARD",
    "/etc/codex",
    "/etc/codex-guard",
    "/usr/local/lib/codex-guard",
    "~/.profile",
    "~/.bash_profile",
    "~/.bash_login",
    "~/.bashrc",
    "~/.bash_logout",
    "~/.zshenv",
    "~/.zprofile",
    "~/.zshrc",
    "~/.zlogin",
    "~/.zlogout",
    "$ZDOTDIR/.zshenv",
    "$ZDOTDIR/.zprofile",
    "$ZDOTDIR/.zshrc",
    "$ZDOTDIR/.zlogin",
    "~/.config/fish/config.fish",
    "~/.config/fish/conf.d",
    "$XDG_CONFIG_HOME/fish/config.fish",
    "$XDG_CONFIG_HOME/fish/conf.d",
    "~/.config/environment.d",
    "~/.pam_environment",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/environment",
    "/etc/zsh",
    "/etc/zshenv",
    "/etc/zprofile",
    "/etc/zshrc",
    "/etc/zlogin",
    "/etc/fish",
];

pub fn check(s: &Subject) -> Option<Finding> {
    if let Some(f) = codex_without_hooks(s) {
        return Some(f);
    }
    if !(s.input.is_shell_tool() || s.input.is_patch_tool() || s.input.is_mcp_tool()) {
        return None;
    }
    // ~/.ssh (authorized_keys lets anyone in): the SSH tools use what is there,
    // and a chmod that takes permissions away is what ssh asks for; every other
    // change counts.
    let tightened = tightened_modes(s);
    let exempt = |c: &Change| {
        c.target.display().contains("/.ssh")
            && (SSH_TOOLS.contains(&c.program.as_str())
                || (c.program == "chmod" && tightened.contains(&c.target)))
    };
    let changes = s.analysis.map_or(&[][..], |a| a.changes.as_slice());
    if let Some(f) = guard_files_anywhere(s, changes.iter().filter(|c| !exempt(c))) {
        return Some(f);
    }
    if let Some(why) = Protected::new(PROTECTED, s.places).check_with(s.input, s.analysis) {
        return Some(Finding::new(Pack::GuardTamper, "change-guard-files", why));
    }
    let ssh = Protected::new(&["~/.ssh"], s.places);
    let why = match s.analysis {
        Some(_) => ssh
            .check_changes(changes.iter().filter(|c| !exempt(c)))
            .or_else(|| ssh.check_tool_files(s.input)),
        None => ssh.check(s.input),
    };
    why.map(|why| Finding::new(Pack::GuardTamper, "change-ssh", why))
}

/// The files that switch a guard on, in any home and under any system root: a
/// patch or a shell write to another account's `~/.codex/hooks.json` or to
/// `/etc/codex-guard/` is as much tampering as one to this account's.
fn guard_files_anywhere<'a>(
    s: &Subject,
    changes: impl Iterator<Item = &'a Change>,
) -> Option<Finding> {
    let guarded = |path: &str| {
        let path = path.replace('\\', "/");
        path.contains("/.ssh/")
            || path.ends_with("/.ssh")
            || path.ends_with("/.codex/hooks.json")
            || path.ends_with("/.codex/config.toml")
            || path.contains("/.codex/codex-guard/")
            || path.ends_with("/.codex/codex-guard")
            || path.starts_with("/etc/codex/")
            || path.starts_with("/etc/codex-guard/")
            || path == "/etc/codex"
            || path == "/etc/codex-guard"
    };
    if s.input.is_patch_tool() {
        if let Some(path) = s.input.file_paths().into_iter().find(|p| guarded(p)) {
            return Some(Finding::new(
                Pack::GuardTamper,
                "change-guard-files",
                format!("the patch changes {path}"),
            ));
        }
    }
    for change in changes {
        if let Some(path) = change.target.literal().filter(|p| guarded(p)) {
            return Some(Finding::new(
                Pack::GuardTamper,
                "change-guard-files",
                format!("`{}` may change {path}", change.program),
            ));
        }
    }
    None
}

/// What `chmod` only makes more private (`chmod 600 ~/.ssh/id_rsa`, `chmod
/// go-rwx ~/.ssh`, as ssh itself asks): not tampering. Anything that grants a
/// permission (`+`, `=`, a group or other digit) is.
fn tightened_modes(s: &Subject) -> Vec<crate::shell::Value> {
    let mut out = Vec::new();
    for inv in s.invocations() {
        if inv.name.as_deref() != Some("chmod") {
            continue;
        }
        let lits = inv.literals();
        let mut operands = lits
            .iter()
            .zip(&inv.argv[1..])
            .filter(|(l, _)| !l.as_deref().is_some_and(|l| l.starts_with("--")));
        let Some((Some(mode), _)) = operands.next() else {
            continue;
        };
        let digits = mode.trim_start_matches('0');
        let numeric_private = !mode.is_empty()
            && mode.len() <= 4
            && mode.chars().all(|c| ('0'..='7').contains(&c))
            && (digits.len() <= 3)
            && digits.ends_with("00");
        let symbolic_private = !mode.contains(['+', '='])
            && mode.contains('-')
            && mode
                .split(',')
                .all(|part| part.starts_with(['g', 'o', 'a', '-']) || part.starts_with("u-"));
        if numeric_private || symbolic_private {
            for (_, word) in operands {
                for v in word {
                    out.extend(crate::shell::resolve_in(v, &inv.cwds));
                }
            }
        }
    }
    out
}

/// Programs that read keys and known hosts in ~/.ssh to do their work.
const SSH_TOOLS: &[&str] = &[
    "ssh",
    "ssh-add",
    "ssh-keygen",
    "ssh-copy-id",
    "ssh-agent",
    "ssh-keyscan",
    "sftp",
    "scp",
    "git",
    "mosh",
    "autossh",
    "sshfs",
    "rsync",
    "ansible",
    "ansible-playbook",
    "kubectl",
];

/// A Codex session the guard does not see: any option of Codex that bypasses its
/// hooks (or their trust), `--disable codex_hooks`, or a `-c`/`--config` setting of
/// a hooks key to anything but `true`.
fn codex_without_hooks(s: &Subject) -> Option<Finding> {
    for inv in s.invocations() {
        if inv.name.as_deref() != Some("codex") {
            continue;
        }
        let words: Vec<String> = inv
            .literals()
            .into_iter()
            .flatten()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        for (i, w) in words.iter().enumerate() {
            let (flag, attached) = match w.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v)),
                _ => (w.as_str(), None),
            };
            let takes_value = matches!(flag, "-c" | "--config" | "--disable");
            let value = attached
                .or_else(|| takes_value.then(|| words.get(i + 1).map_or("", String::as_str)));
            let setting = value.unwrap_or("");
            let bypass =
                (flag.starts_with("--") && flag.contains("bypass") && flag.contains("hook"))
                    || (flag == "--disable" && setting.contains("hook"))
                    || (matches!(flag, "-c" | "--config")
                        && setting.contains("hook")
                        && !setting.trim_matches(['\'', '"']).ends_with("=true"));
            if bypass {
                let shown = match (takes_value, attached) {
                    (true, None) => format!("{flag} {setting}"),
                    _ => w.clone(),
                };
                return Some(Finding::new(
                    Pack::GuardTamper,
                    "codex-without-hooks",
                    format!(
                        "starting Codex with `{shown}` turns its hooks off or runs them without the trust setup recorded"
                    ),
                ));
            }
        }
    }
    None
}
