//! The Atlas machine id: the device name the way Akto's hooks derive it, plus the
//! first 8 characters of the hardware id, generated once and then reused.

use anyhow::Result;

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

/// macOS ComputerName when set, else the host name.
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
        bytes = ((nanos as u32) ^ std::process::id()).to_le_bytes();
    }
    crate::trust::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

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
