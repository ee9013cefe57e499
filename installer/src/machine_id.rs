//! The Atlas machine id: the device name the way Akto's hooks derive it, plus the
//! first 8 characters of the hardware id, generated once and then reused.
//!
//! Akto attributes Atlas traffic to `<id>.ai-agent.codexcli` and looks MCP collections
//! up by the id, so a machine keeps the id it already has: one given to setup
//! (`--device-id`, `CODEX_GUARD_DEVICE_ID`, Akto's `DEVICE_ID`, the fleet key
//! `device_id`), else codex-guard's own from an earlier setup, else the one Akto's own
//! Codex hooks use on this machine, else a new one.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Longest id accepted (a DNS name's limit: the id becomes part of a host name).
const MAX_ID_LEN: usize = 253;
/// Largest file read while looking for Akto's id.
const MAX_SCAN_BYTES: u64 = 256 * 1024;

/// Where the id in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Given to setup (flag, environment, fleet file).
    Given,
    /// codex-guard's own machine-id file, from an earlier setup.
    Kept,
    /// Akto's own Codex hooks on this machine use it; the file that says so.
    Akto(PathBuf),
    /// Made now from the device name and hardware id.
    Generated,
}

impl Source {
    /// One word for reports: `given`, `kept`, `akto`, `generated`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Given => "given",
            Source::Kept => "kept",
            Source::Akto(_) => "akto",
            Source::Generated => "generated",
        }
    }
}

/// Checks an id given to setup. It goes verbatim into host names (`<id>.ai-agent.
/// codexcli`), so it must be one: ASCII letters, digits, `-`, `_` and inner dots.
pub fn validate(id: &str) -> Result<String, String> {
    let id = id.trim();
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('.')
        && !id.ends_with('.')
        && !id.contains("..")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(id.to_string())
    } else {
        Err(format!(
            "the device id {id:?} is not usable in a host name: use 1 to {MAX_ID_LEN} ASCII \
             letters, digits, '-', '_' or inner dots"
        ))
    }
}

/// The id Akto's own Codex hooks use on this machine, and the file that shows it: a
/// `DEVICE_ID` in their hook wrappers (`~/.codex/hooks/akto-*.sh`) or in the Akto
/// endpoint shield's `config.env`; else, when their hooks are installed without one,
/// the device name they derive (no hardware suffix). `codex_home` and `home` are the
/// Codex home being set up and the user's home.
pub fn akto_installation(codex_home: &Path, home: Option<&Path>) -> Option<(String, PathBuf)> {
    let mut hook_dirs = vec![codex_home.join("hooks")];
    if let Some(home) = home {
        let default = home.join(".codex").join("hooks");
        if !hook_dirs.contains(&default) {
            hook_dirs.push(default);
        }
    }
    let mut scripts: Vec<PathBuf> = hook_dirs
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                let script = Path::new(n)
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("sh") || e.eq_ignore_ascii_case("py"));
                n.starts_with("akto-") && script
            })
        })
        .collect();
    scripts.sort();
    let shield_config = home.map(|h| h.join(".akto-endpoint-shield/config/config.env"));
    let candidates = scripts
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .chain(shield_config.iter());
    for path in candidates {
        if let Some(id) = read_regular(path).as_deref().and_then(device_id_assignment) {
            return Some((id, path.clone()));
        }
    }
    let script = scripts.into_iter().next()?;
    let derived = sanitize(device_name().trim().trim_end_matches(".local"));
    validate(&derived).ok().map(|id| (id, script))
}

/// A regular file's text (never through a symlink, never more than [`MAX_SCAN_BYTES`]).
fn read_regular(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SCAN_BYTES {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The last non-empty `DEVICE_ID=<value>` (optionally `export`ed, quoted) of a shell
/// or env file that is usable as an id; comments ignored.
fn device_id_assignment(text: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let value = line.strip_prefix("DEVICE_ID=")?;
        let value = value.split(" #").next().unwrap_or(value).trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        validate(value).ok()
    })
}

/// `<device name>-<hardware id prefix>`, every character outside `[a-z0-9]` a `-`.
pub fn generate() -> Result<String> {
    let device = device_name();
    let hardware = machine_uid::get()
        .ok()
        .map(|id| {
            id.chars()
                .filter(char::is_ascii_alphanumeric)
                .collect::<String>()
        })
        .filter(|id| !id.is_empty())
        .unwrap_or_else(random_hex);
    Ok(compose(&device, &hardware))
}

pub fn compose(device: &str, hardware: &str) -> String {
    let device = sanitize(device.trim().trim_end_matches(".local"));
    let device = if device.trim_matches('-').is_empty() {
        "device".to_string()
    } else {
        device
    };
    let suffix: String = hardware.to_ascii_lowercase().chars().take(8).collect();
    format!("{device}-{suffix}")
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// macOS `ComputerName` when set, else the host name.
fn device_name() -> String {
    #[cfg(target_os = "macos")]
    if let Ok(out) = std::process::Command::new("scutil")
        .args(["--get", "ComputerName"])
        .output()
    {
        let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !name.is_empty() {
            return name;
        }
    }
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Used only when the OS exposes no hardware id.
fn random_hex() -> String {
    let mut bytes = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_err()
    {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        // The low 32 bits of the time: truncation is the point.
        #[allow(clippy::cast_possible_truncation)]
        let low = nanos as u32;
        bytes = (low ^ std::process::id()).to_le_bytes();
    }
    crate::trust::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_given_to_setup_must_be_host_names() {
        assert_eq!(validate(" vm ").unwrap(), "vm");
        assert_eq!(validate("Ana-MBP_2.corp").unwrap(), "Ana-MBP_2.corp");
        for bad in [
            "",
            "a b",
            "x/y",
            ".x",
            "x.",
            "a..b",
            "ü",
            "$(id)",
            &"a".repeat(254),
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_akto_wrappers_and_its_config_env() {
        let text = "#!/bin/bash\n# export DEVICE_ID=\"commented\"\nexport DEVICE_ID=\"\"\n\
                    export DEVICE_ID=\"laptop-7-0a1b2c3d\"\nexec python3 x\n";
        assert_eq!(device_id_assignment(text).unwrap(), "laptop-7-0a1b2c3d");
        assert_eq!(
            device_id_assignment("DEVICE_ID='vm' # set by MDM\n").unwrap(),
            "vm"
        );
        assert_eq!(device_id_assignment("DEVICE_ID=\"$(hostname)\"\n"), None);
        assert_eq!(device_id_assignment("MY_DEVICE_ID=x\n"), None);
    }

    #[test]
    fn adopts_the_id_of_akto_hooks_installed_in_the_codex_home() {
        let home = tempfile::tempdir().unwrap();
        let codex = home.path().join(".codex");
        assert_eq!(akto_installation(&codex, Some(home.path())), None);
        let hooks = codex.join("hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        std::fs::write(hooks.join("akto-validate-prompt.py"), "print()\n").unwrap();
        // Their standalone hooks without DEVICE_ID: the device name, no hardware suffix.
        let (derived, from) = akto_installation(&codex, Some(home.path())).unwrap();
        assert_eq!(
            derived,
            sanitize(device_name().trim().trim_end_matches(".local"))
        );
        assert_eq!(from, hooks.join("akto-validate-prompt.py"));
        // Their installer writes DEVICE_ID into each wrapper.
        let wrapper = hooks.join("akto-validate-prompt-wrapper.sh");
        std::fs::write(&wrapper, "#!/bin/bash\nexport DEVICE_ID=\"vm-1a2b3c4d\"\n").unwrap();
        assert_eq!(
            akto_installation(&codex, Some(home.path())),
            Some(("vm-1a2b3c4d".to_string(), wrapper))
        );
    }

    #[test]
    fn adopts_the_endpoint_shield_config_and_ignores_symlinks() {
        let home = tempfile::tempdir().unwrap();
        let codex = home.path().join(".codex");
        let config = home.path().join(".akto-endpoint-shield/config");
        std::fs::create_dir_all(&config).unwrap();
        let elsewhere = home.path().join("elsewhere.env");
        std::fs::write(&elsewhere, "DEVICE_ID=planted\n").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&elsewhere, config.join("config.env")).unwrap();
            assert_eq!(akto_installation(&codex, Some(home.path())), None);
            std::fs::remove_file(config.join("config.env")).unwrap();
        }
        std::fs::write(
            config.join("config.env"),
            "ENABLE_MCP_HOOKS_CODEX=true\nDEVICE_ID=fleet-42\n",
        )
        .unwrap();
        assert_eq!(
            akto_installation(&codex, Some(home.path())).map(|(id, _)| id),
            Some("fleet-42".to_string())
        );
    }

    #[test]
    fn composes_like_akto() {
        assert_eq!(
            compose("Ana's MacBook Pro.local", "ABCDEF12-3456"),
            "ana-s-macbook-pro-abcdef12"
        );
        assert_eq!(compose("  ", "0123456789"), "device-01234567");
        let id = generate().unwrap();
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{id}"
        );
    }
}
