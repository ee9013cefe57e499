//! Snapshots of the files a command is about to change, as a tar.gz with a small
//! manifest (time, version, and each file's hash, or that it did not exist).

use crate::fsutil;
use anyhow::{Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub const MANIFEST: &str = "manifest.json";

/// A file to snapshot: its name in the archive and where it is.
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
}

/// Writes `<dir>/<label>-<UTC time>.tar.gz` holding every entry that exists and a
/// manifest listing all of them. Returns the archive's path.
pub fn create(dir: &Path, label: &str, codex_home: &Path, entries: &[Entry]) -> Result<PathBuf> {
    fsutil::create_dir_all(dir, 0o700)?;
    let now = SystemTime::now();
    let stamp = humantime::format_rfc3339_seconds(now)
        .to_string()
        .replace([':', '-'], "");
    let mut path = dir.join(format!("{label}-{stamp}.tar.gz"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{label}-{stamp}-{n}.tar.gz"));
    }

    let mut files = Vec::new();
    let mut contents = Vec::new();
    for entry in entries {
        match fsutil::read_optional(&fsutil::write_target(&entry.path)?)? {
            Some(bytes) => {
                files.push(json!({
                    "name": entry.name, "path": entry.path, "sha256": fsutil::sha256_hex(&bytes),
                    "size": bytes.len(), "mode": mode_of(&entry.path),
                }));
                contents.push((entry.name.clone(), bytes, mode_of(&entry.path)));
            }
            None => files.push(json!({"name": entry.name, "path": entry.path, "absent": true})),
        }
    }
    let manifest = json!({
        "format": 1,
        "created_at": humantime::format_rfc3339_seconds(now).to_string(),
        "codex_guard_version": codex_guard_common::VERSION,
        "reason": label,
        "codex_home": codex_home,
        "files": files,
    });

    let mut archive = Vec::new();
    {
        let gz = flate2::write::GzEncoder::new(&mut archive, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let mtime = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
        append(&mut tar, MANIFEST, &manifest_bytes, 0o600, mtime)?;
        for (name, bytes, mode) in &contents {
            append(&mut tar, name, bytes, mode.unwrap_or(0o600), mtime)?;
        }
        tar.into_inner()?.finish()?;
    }
    fsutil::write_atomic(&path, &archive, 0o600)
        .with_context(|| format!("cannot write backup {}", path.display()))?;
    Ok(path)
}

fn append<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
    mode: u32,
    mtime: u64,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, bytes)
        .with_context(|| format!("cannot add {name} to the backup"))
}

fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn archive_holds_files_and_a_manifest_of_what_was_absent() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("config.toml"), "model = \"x\"\n").unwrap();
        let entries = [
            Entry {
                name: "config.toml".into(),
                path: home.path().join("config.toml"),
            },
            Entry {
                name: "hooks.json".into(),
                path: home.path().join("hooks.json"),
            },
        ];
        let path = create(&home.path().join("backups"), "setup", home.path(), &entries).unwrap();
        let gz = flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap());
        let mut archive = tar::Archive::new(gz);
        let mut seen = std::collections::BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            seen.insert(entry.path().unwrap().to_string_lossy().into_owned(), text);
        }
        assert_eq!(seen["config.toml"], "model = \"x\"\n");
        assert!(!seen.contains_key("hooks.json"));
        let manifest: serde_json::Value = serde_json::from_str(&seen[MANIFEST]).unwrap();
        assert_eq!(manifest["files"][1]["absent"], true);
        assert_eq!(
            manifest["files"][0]["sha256"],
            fsutil::sha256_hex(b"model = \"x\"\n")
        );
    }
}
