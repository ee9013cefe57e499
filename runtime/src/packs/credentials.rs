//! Credentials: reading, copying, archiving or sending a secret file (SSH keys,
//! cloud credentials, tokens), by any program other than the ones that use them,
//! by a `<` redirect, by interpreter code; and the CLIs that print secrets.

use super::{code, paths, Finding, Pack, Subject};
use crate::shell::{Invocation, Part, Value};

/// Programs that only list or inspect names, or use a key without showing it.
const HARMLESS: &[&str] = &[
    "ls",
    "ll",
    "dir",
    "stat",
    "du",
    "tree",
    "test",
    "[",
    "[[",
    "cd",
    "pushd",
    "popd",
    "file",
    "namei",
    "exa",
    "eza",
    "realpath",
    "readlink",
    "basename",
    "dirname",
    "mkdir",
    "touch",
    "lsattr",
    "getfacl",
    "df",
    "find",
    "fd",
    "fdfind",
    "wc",
    "echo",
    "printf",
    "ssh",
    "ssh-add",
    "ssh-keygen",
    "ssh-copy-id",
    "ssh-agent",
    "gpg",
    "gpg2",
    "git",
    "chmod",
    "chown",
    "chgrp",
    "which",
    "type",
    "command",
    "sudo",
    "doas",
    "env",
    "nohup",
    "timeout",
    "nice",
    "exec",
    "time",
    "xargs",
    "rm",
    "shred",
    "unlink",
    "trash",
    "vi",
    "vim",
    "nvim",
    "nano",
    "emacs",
    "export",
    "declare",
    "local",
    "readonly",
    "typeset",
    "set",
    "unset",
    "alias",
];

/// Options that name the key or credentials file a program is to use.
const KEY_OPTIONS: &[&str] = &[
    "-i",
    "-F",
    "--identity",
    "--identity-file",
    "--kubeconfig",
    "--config",
    "--config-file",
    "--credentials",
    "--credentials-file",
    "--key",
    "--key-file",
    "--private-key",
    "--shared-credentials-file",
    "--password-file",
    "--cred-file",
    "-e",
    "--rsh",
];

/// Programs that take a credential file as an option's value to use it
/// (`kubectl --kubeconfig F`, `scp -i KEY`); as an operand it is still sent.
const USES_AS_OPTION: &[&str] = &[
    "scp",
    "sftp",
    "rsync",
    "kubectl",
    "helm",
    "k9s",
    "kubens",
    "kubectx",
    "aws",
    "gcloud",
    "az",
    "terraform",
    "docker",
    "gh",
    "npm",
    "twine",
    "pip",
    "cargo",
    "ansible",
    "ansible-playbook",
    "mosh",
    "autossh",
    "sshfs",
];

pub fn check(s: &Subject) -> Option<Finding> {
    let home = s.home();
    for inv in s.invocations() {
        if let Some(f) = printer(inv) {
            return Some(f);
        }
        if let Some(f) = reader(inv, home) {
            return Some(f);
        }
    }
    if let Some(a) = s.analysis {
        for read in &a.redirect_reads {
            if let Some(what) = paths::secret_value(read, home) {
                return Some(Finding::new(
                    Pack::Credentials,
                    "read-secret",
                    format!("a redirect reads {what}"),
                ));
            }
        }
        for script in &a.scripts {
            if let Some(what) = code::secret(script, home) {
                return Some(Finding::new(
                    Pack::Credentials,
                    "read-secret",
                    format!("{} code reads {what}", script.interpreter),
                ));
            }
        }
    }
    // MCP tools that read or send files, and patches that write into secrets.
    if s.input.is_mcp_tool() || s.input.is_patch_tool() {
        for path in s.file_paths() {
            if let Some(what) = paths::secret(&path, home) {
                return Some(Finding::new(
                    Pack::Credentials,
                    "read-secret",
                    format!(
                        "{} touches {what}",
                        s.input.tool_name().unwrap_or("the tool")
                    ),
                ));
            }
        }
    }
    None
}

fn reader(inv: &Invocation, home: Option<&str>) -> Option<Finding> {
    let name = inv.name.as_deref().unwrap_or("a program");
    if HARMLESS.contains(&name) {
        return None;
    }
    let as_option_ok = USES_AS_OPTION.contains(&name);
    let mut previous_is_option = false;
    for word in &inv.argv[1..] {
        let literal = if word.len() == 1 {
            word[0].literal()
        } else {
            None
        };
        let is_key_option = literal.as_deref().is_some_and(|l| KEY_OPTIONS.contains(&l));
        let value_of_option = previous_is_option && as_option_ok;
        previous_is_option = is_key_option;
        for v in word {
            if value_of_option {
                continue;
            }
            for candidate in candidates(v, as_option_ok) {
                for path in crate::shell::resolve_in(&candidate, &inv.cwds) {
                    if let Some(what) = paths::secret_value(&path, home) {
                        return Some(Finding::new(
                            Pack::Credentials,
                            "read-secret",
                            format!("{name} reads or sends {what}"),
                        ));
                    }
                }
            }
        }
    }
    None
}

/// The paths a word may name: itself, the value after `=` (`--data=@F`,
/// `if=F`), without curl's `@` (`-d @F`, `-F f=@F`).
fn candidates(v: &Value, as_option_ok: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let Some(Part::Text(first)) = v.0.first() else {
        out.push(v.clone());
        return out;
    };
    let starts_option = first.starts_with('-');
    if !starts_option {
        out.push(without_at(v));
    }
    if let Some(eq) = first.find('=') {
        if !(starts_option && as_option_ok) {
            let mut rest = v.clone();
            rest.0[0] = Part::Text(first[eq + 1..].to_string());
            out.push(without_at(&rest));
        }
    }
    out
}

/// curl's `@FILE` (and a `file://` URL) names the file itself.
fn without_at(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Part::Text(t)) = v.0.first_mut() {
        if let Some(rest) = t.strip_prefix('@').or_else(|| t.strip_prefix("file://")) {
            *t = rest.to_string();
        }
    }
    v
}

/// The CLIs that print a secret or a token.
fn printer(inv: &Invocation) -> Option<Finding> {
    let name = inv.name.as_deref()?;
    let lits = inv.literals();
    let words: Vec<&str> = lits.iter().flatten().map(String::as_str).collect();
    let has = |w: &str| words.contains(&w);
    let prefix = |p: &str| words.iter().any(|a| a.starts_with(p));
    let short = |c: char| {
        words
            .iter()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(c))
    };
    let prints = match name {
        "aws" => {
            has("configure")
                && (has("export-credentials")
                    || (has("get")
                        && words.iter().any(|w| {
                            let w = w.to_ascii_lowercase();
                            w.contains("secret")
                                || w.contains("session_token")
                                || w.contains("access_key")
                        })))
        }
        "gcloud" => {
            (has("auth")
                && words
                    .iter()
                    .any(|w| w.starts_with("print-") && w.ends_with("-token")))
                || has("config-helper")
        }
        "gh" => {
            has("auth") && (has("token") || (has("status") && (has("-t") || prefix("--show-tok"))))
        }
        "az" => has("get-access-token"),
        "security" => {
            ((has("find-generic-password") || has("find-internet-password"))
                && (short('w') || short('g')))
                || (has("dump-keychain") && short('d'))
        }
        "kubectl" | "oc" => has("config") && has("view") && prefix("--raw"),
        "git" => has("credential") && (has("fill") || has("get")),
        "gpg" | "gpg2" => prefix("--export-secret-key") || prefix("--export-secret-subkey"),
        "op" => has("read") || (has("item") && has("get") && prefix("--reveal")),
        "heroku" => has("auth:token"),
        "vault" => has("print") && has("token"),
        n if n.starts_with("docker-credential-") => has("get") || has("list"),
        _ => false,
    };
    prints.then(|| {
        let shown: Vec<&str> = std::iter::once(name)
            .chain(words.iter().copied())
            .take(6)
            .collect();
        Finding::new(
            Pack::Credentials,
            "print-secret",
            format!("`{}` prints a secret or an access token", shown.join(" ")),
        )
    })
}
