//! The checks of a machine-wide (managed) install: Codex's requirements.toml carries
//! our hooks, the runtime under the prefix is intact and only root can change it, the
//! machine-wide config, admin rules and machine id are there, the service answers.

use super::checks::{
    codex_cli_check, exposure, exposure_check, service_check, RUNTIME_VERSION_TIMEOUT,
};
use super::{process, Check, Inputs};
use crate::managed::{ManagedReceipt, SystemLayout};
use codex_guard_common::RuntimeConfig;
use codex_guard_hook::rules::{Layer, Rules};
use codex_guard_hook::settings::Settings;
use std::path::Path;
use toml_edit::{DocumentMut, Item};

const SETUP: &str = "codex-guard setup --managed";

pub fn run_all(inputs: &Inputs, sys: &SystemLayout) -> Vec<Check> {
    let receipt = std::fs::read_to_string(sys.receipt())
        .ok()
        .and_then(|t| serde_json::from_str::<ManagedReceipt>(&t).ok());
    let config = std::fs::read_to_string(sys.runtime_config())
        .map_err(|e| format!("cannot read {}: {e}", sys.runtime_config().display()))
        .and_then(|t| {
            RuntimeConfig::from_toml(&t).map_err(|e| {
                format!(
                    "{} is invalid: {}",
                    sys.runtime_config().display(),
                    e.message().trim()
                )
            })
        });
    let mut checks = vec![
        codex_cli_check(&inputs.codex_bin, &inputs.layout.codex_home),
        receipt_check(sys, receipt.as_ref()),
        requirements(sys, config.as_ref().ok()),
        runtime_version(sys),
        runtime_checksum(sys, receipt.as_ref()),
        runtime_permissions(sys),
        config_valid(sys, &config),
        rules_valid(sys),
    ];
    checks.extend(super::tamper_rules::checks(
        &super::tamper_rules::Layers::Admin(&sys.rules()),
        &inputs.layout.codex_home,
        &sys.root,
        &|k| std::env::var(k).ok(),
    ));
    checks.extend([
        match &config {
            Ok(_) => {
                // The settings every user's hook loads; like the hook, the probe then
                // runs without the variables a managed install ignores (SSL_CERT_FILE
                // among them, which would change the OS trust store).
                let env = |name: &str| std::env::var(name).ok();
                let settings = Settings::load_with(&env, None, Some(&sys.runtime_config()));
                settings.scrub_process_env();
                service_check(&settings, &sys.runtime_config(), SETUP)
            }
            Err(_) => Check::warn(
                "service.reachable",
                "not checked: no valid config (see config.valid)",
            ),
        },
        machine_id(sys, config.as_ref().ok()),
        super::shell_env::check(&|k| std::env::var(k).ok(), &sys.root),
    ]);
    checks
}

fn receipt_check(sys: &SystemLayout, receipt: Option<&ManagedReceipt>) -> Check {
    const ID: &str = "managed.receipt";
    match receipt {
        Some(r) => Check::pass(
            ID,
            format!("managed install {} since {}", r.version, r.installed_at),
        ),
        None if sys.receipt().exists() => {
            Check::fail(ID, format!("{} is damaged", sys.receipt().display())).fix(SETUP)
        }
        None => Check::fail(
            ID,
            format!(
                "no managed install ({} is missing)",
                sys.receipt().display()
            ),
        )
        .fix(format!("{SETUP} --url URL (or --local-only)")),
    }
}

/// requirements.toml holds hooks on, our managed_dir, and our handler for every event.
fn requirements(sys: &SystemLayout, config: Option<&RuntimeConfig>) -> Check {
    const ID: &str = "managed.requirements";
    let path = sys.requirements();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            return Check::fail(ID, format!("cannot read {}: {e}", path.display())).fix(SETUP)
        }
    };
    let doc: DocumentMut = match text.parse() {
        Ok(doc) => doc,
        Err(e) => {
            return Check::fail(ID, crate::codex_config::syntax_error(&text, &path, &e).0)
                .fix("fix the file by hand, then run codex-guard setup --managed")
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
        .fix(SETUP);
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
        .fix(SETUP);
    }
    let command = sys.command();
    let timeout = config.map(RuntimeConfig::hook_timeout_secs);
    let missing: Vec<&str> = codex_guard_common::events::Event::ALL
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
                            .is_some_and(|hs| {
                                hs.iter().any(|h| {
                                    h.get("command").and_then(Item::as_str)
                                        == Some(command.as_str())
                                        && timeout.is_none_or(|t| {
                                            h.get("timeout").and_then(Item::as_integer)
                                                == Some(t as i64)
                                        })
                                })
                            })
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
        .fix(SETUP);
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

fn runtime_version(sys: &SystemLayout) -> Check {
    const ID: &str = "runtime.version";
    let path = sys.runtime_bin();
    if !path.is_file() {
        return Check::fail(ID, format!("{} is missing", path.display())).fix(SETUP);
    }
    let mut command = std::process::Command::new(&path);
    command.arg("--version");
    match process::run(command, RUNTIME_VERSION_TIMEOUT) {
        Ok(out) if out.status.success() && out.stdout.starts_with("codex-guard-hook ") => {
            Check::pass(ID, out.stdout.trim().to_string())
        }
        Ok(out) => Check::fail(
            ID,
            format!(
                "{} --version printed {:?}",
                path.display(),
                out.stdout.trim()
            ),
        )
        .fix(SETUP),
        Err(e) => Check::fail(ID, format!("{} --version: {e}", path.display())).fix(SETUP),
    }
}

fn runtime_checksum(sys: &SystemLayout, receipt: Option<&ManagedReceipt>) -> Check {
    const ID: &str = "runtime.checksum";
    let path = sys.runtime_bin();
    let Some(recorded) = receipt.and_then(|r| r.files.iter().find(|f| f.path == path)) else {
        return Check::warn(
            ID,
            "not checked: no receipt records the runtime (see managed.receipt)",
        );
    };
    match std::fs::read(&path) {
        Ok(bytes) if crate::fsutil::sha256_hex(&bytes) == recorded.sha256 => {
            Check::pass(ID, format!("sha256 {} as installed", recorded.sha256))
        }
        Ok(_) => Check::fail(
            ID,
            format!(
                "{} is not the file setup installed: it was replaced or damaged",
                path.display()
            ),
        )
        .fix(SETUP),
        Err(e) => Check::fail(ID, format!("cannot read {}: {e}", path.display())).fix(SETUP),
    }
}

/// Every user runs this program: only root may be able to change it or its directories.
fn runtime_permissions(sys: &SystemLayout) -> Check {
    const ID: &str = "runtime.permissions";
    if cfg!(not(unix)) {
        return Check::pass(ID, "not checked on this platform");
    }
    let mut chain = vec![sys.runtime_bin()];
    let mut dir = sys.prefix.as_path();
    loop {
        chain.push(dir.to_path_buf());
        match dir.parent() {
            Some(parent) if dir != sys.root.as_path() => dir = parent,
            _ => break,
        }
    }
    let exposed: Vec<_> = chain
        .iter()
        .filter_map(|p| exposure(p, 0o022, 0o022, Some(0), false))
        .collect();
    if exposed.is_empty() {
        return Check::pass(
            ID,
            "the runtime and every directory above it are writable only by root",
        );
    }
    exposure_check(
        ID,
        "whoever can write there can replace the program Codex runs for every user",
        exposed,
    )
}

fn config_valid(sys: &SystemLayout, config: &Result<RuntimeConfig, String>) -> Check {
    const ID: &str = "config.valid";
    let config = match config {
        Ok(config) => config,
        Err(e) => return Check::fail(ID, e.clone()).fix(SETUP),
    };
    if let Some(token) = &config.token_file {
        match std::fs::metadata(token) {
            Err(e) => {
                return Check::fail(
                    ID,
                    format!("cannot read the token file {}: {e}", token.display()),
                )
                .fix(SETUP)
            }
            // The runtime runs as each user: a token only root can read is no token.
            #[cfg(unix)]
            Ok(meta)
                if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o004 == 0 =>
            {
                return Check::fail(
                    ID,
                    format!(
                        "{} is not readable by users, whose runtime then sends no token",
                        token.display()
                    ),
                )
                .fix(format!(
                    "chmod 644 {}",
                    crate::hooks_json::shell_quote(token)
                ))
            }
            Ok(_) => {}
        }
    }
    let what = match &config.url {
        Some(url) => format!("{} mode, {}", config.mode.as_str(), url),
        None => "local-only".into(),
    };
    Check::pass(ID, format!("{} ({what})", sys.runtime_config().display()))
}

fn rules_valid(sys: &SystemLayout) -> Check {
    const ID: &str = "rules.valid";
    let path = sys.rules();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            return Check::warn(
                ID,
                format!(
                    "no admin rules ({}: {e}): the packs run at their defaults, and each user's own rules file can switch them off",
                    path.display()
                ),
            )
            .fix(SETUP)
        }
    };
    let mut problems = Vec::new();
    match Rules::parse_layer(&text, Layer::Admin, None, false, &mut problems) {
        Err(e) => Check::fail(
            ID,
            format!(
                "{} is not valid TOML ({e}): none of its rules apply",
                path.display()
            ),
        )
        .fix("fix the file; its format is in docs/rules.md"),
        Ok(_) if !problems.is_empty() => Check::warn(
            ID,
            format!(
                "{} rule problem(s), those rules are skipped: {}",
                problems.len(),
                problems.join("; ")
            ),
        )
        .fix("fix the rules named; the format is in docs/rules.md"),
        Ok(rules) => Check::pass(
            ID,
            format!("{} admin rule(s) in {}", rules.len(), path.display()),
        ),
    }
}

fn machine_id(sys: &SystemLayout, config: Option<&RuntimeConfig>) -> Check {
    const ID: &str = "machine_id";
    if let Some(id) = config.and_then(|c| c.device_id.as_ref()) {
        return Check::pass(ID, format!("device_id {id:?} set in the config"));
    }
    match std::fs::read_to_string(sys.machine_id()) {
        Ok(id) if !id.trim().is_empty() => Check::pass(
            ID,
            format!("{} ({})", id.trim(), sys.machine_id().display()),
        ),
        _ => Check::fail(
            ID,
            format!("{} is missing or empty", sys.machine_id().display()),
        )
        .fix(SETUP),
    }
}

/// Whether `root` holds a managed install (its receipt).
pub fn present(root: &Path) -> Option<SystemLayout> {
    crate::managed::installed(root).map(|(sys, _)| sys)
}
