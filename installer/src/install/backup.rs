//! Snapshots of Codex's configuration and codex-guard's files as tar.gz archives
//! with a manifest: when, by which version, why, and for each file its hash (or that
//! it did not exist) and the hash it is expected to have after the operation that
//! followed, so `restore` can tell a file changed since from one merely restored.
//!
//! The hook runtime is the one file a package or setup can put back: when the package
//! beside this `codex-guard` holds the very same bytes, the archive records it by path,
//! size and SHA-256 instead of compressing megabytes of executable (format 2), and
//! `restore` copies it back from there after checking its hash.

use crate::cli::BackupArgs;
use crate::failure::{ExitCode, Failure};
use crate::report::{self, ListedBackup};
use crate::{fsutil, home};
use anyhow::{Context, Result};
use codex_guard_common::layout::RUNTIME_BIN;
use codex_guard_common::{Layout, RuntimeConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

pub const MANIFEST: &str = "manifest.json";
/// Largest archive `restore` reads (a backup is a few MiB).
const MAX_ARCHIVE_BYTES: u64 = 512 * 1024 * 1024;

/// A file to snapshot.
pub struct Entry {
    /// Its path relative to the Codex home, `/`-separated (`config.toml`, `codex-guard/token`).
    pub name: String,
    pub path: PathBuf,
    /// Its sha256 once the operation that follows the backup is done (`None`: removed).
    /// `Keep` when nothing follows (a manual backup): the file is expected as it is.
    pub after: After,
    /// The hook runtime: recorded by hash when the package holds an identical copy.
    pub reinstallable: bool,
}

pub enum After {
    Keep,
    Hash(Option<String>),
}

impl Entry {
    /// The entry for a file of `layout`, named relative to the Codex home.
    pub fn of(layout: &Layout, path: &Path, after: After) -> Entry {
        let name = path
            .strip_prefix(&layout.codex_home)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        Entry {
            name,
            path: path.to_path_buf(),
            after,
            reinstallable: path == layout.runtime_bin(),
        }
    }
}

/// Codex's two files and every file of ours, except older backups, the lock, the
/// runtime's scratch state and (unless asked) the logs and the undelivered events.
pub fn home_entries(layout: &Layout, include_logs: bool) -> Result<Vec<Entry>> {
    let mut entries = vec![
        Entry::of(layout, &layout.codex_config(), After::Keep),
        Entry::of(layout, &layout.hooks_json(), After::Keep),
    ];
    let skip = |path: &Path| {
        path == layout.backups_dir()
            || path == layout.lock_file()
            || path == layout.state_dir()
            || (!include_logs && (path == layout.logs_dir() || path == layout.spool_dir()))
    };
    let mut stack = vec![layout.guard_dir()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut children: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
        children.sort();
        for path in children.into_iter().rev() {
            if skip(&path) {
                continue;
            }
            let meta = fs_err::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                entries.push(Entry::of(layout, &path, After::Keep));
            }
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// Writes `<dir>/<UTC time>-<label>.tar.gz` holding every entry that exists and a
/// manifest listing all of them, then keeps only the newest `keep` archives of `dir`
/// (when given). Returns the archive's path.
///
/// The archive is always a new file of ours (0600): a name already taken, even by a
/// dangling link, is skipped, never written through; in a directory another account
/// can write, it goes into a fresh private directory inside it.
pub fn create(
    dir: &Path,
    label: &str,
    codex_home: &Path,
    entries: &[Entry],
    keep: Option<usize>,
) -> Result<PathBuf> {
    let now = SystemTime::now();
    // Names start with the time to the millisecond, so they sort oldest first.
    let stamp = humantime::format_rfc3339_millis(now)
        .to_string()
        .replace([':', '-'], "");
    let path = create_named(
        dir,
        &format!("{stamp}-{label}"),
        label,
        codex_home,
        entries,
        now,
    )?;
    if let Some(keep) = keep {
        rotate(dir, keep.max(1))?;
    }
    Ok(path)
}

/// Writes a new archive `<dir>/<stem>.tar.gz` (`<stem>-2.tar.gz`, ... when taken), as
/// [`create`] does. Returns its path.
pub fn create_named(
    dir: &Path,
    stem: &str,
    label: &str,
    codex_home: &Path,
    entries: &[Entry],
    now: SystemTime,
) -> Result<PathBuf> {
    let archive = archive_bytes(label, codex_home, entries, now)?;
    crate::safe_fs::write_new_archive(dir, stem, &archive)
        .with_context(|| format!("cannot write a backup in {}", dir.display()))
}

/// Writes one archive to exactly `path` (`backup --output`). A file or link already
/// there is replaced, never written through; where another account can write the
/// directory, an existing name is refused instead.
pub fn write_archive(
    path: &Path,
    label: &str,
    codex_home: &Path,
    entries: &[Entry],
    now: SystemTime,
) -> Result<()> {
    let archive = archive_bytes(label, codex_home, entries, now)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} does not name a file", path.display()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = crate::safe_fs::Dir::open(parent, Some(0o700))?;
    let written = if dir.writable_by_others() {
        if !dir.write_new(name, &archive, 0o600)? {
            return Err(Failure::bad_input(format!(
                "{} already exists, in a directory another account can write",
                path.display()
            ))
            .hint("name a file that does not exist yet, or a directory only you can write")
            .into());
        }
        Ok(())
    } else {
        dir.replace(name, &archive, 0o600, None)
    };
    written.with_context(|| format!("cannot write backup {}", path.display()))
}

/// The bytes of an archive: a manifest and every entry that exists.
fn archive_bytes(
    label: &str,
    codex_home: &Path,
    entries: &[Entry],
    now: SystemTime,
) -> Result<Vec<u8>> {
    let mut files = Vec::new();
    let mut contents = Vec::new();
    let mut format = 1;
    for entry in entries {
        let current = fsutil::read_optional(&fsutil::write_target(&entry.path)?)?;
        let hash = current.as_deref().map(fsutil::sha256_hex);
        let after = match &entry.after {
            After::Keep => hash.clone(),
            After::Hash(h) => h.clone(),
        };
        let mut record = json!({"name": entry.name, "path": entry.path, "after_sha256": after});
        match current {
            Some(bytes) => {
                let mode = mode_of(&entry.path);
                record["sha256"] = json!(hash);
                record["size"] = json!(bytes.len());
                record["mode"] = json!(mode);
                match packaged_copy(entry, &bytes) {
                    Some(packaged) => {
                        format = 2;
                        record["stored"] = json!("reference");
                        record["reinstall"] = json!({
                            "program": RUNTIME_BIN,
                            "version": installed_version(codex_home),
                            "packaged": packaged,
                        });
                    }
                    None => contents.push((entry.name.clone(), bytes, mode.unwrap_or(0o600))),
                }
            }
            None => record["absent"] = json!(true),
        }
        files.push(record);
    }
    let manifest = json!({
        "format": format,
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
            append(&mut tar, name, bytes, *mode, mtime)?;
        }
        tar.into_inner()?.finish()?;
    }
    Ok(archive)
}

/// Where the package holds a byte-identical copy of `entry`, when it is the hook
/// runtime: the `codex-guard-hook` beside the running `codex-guard`, the one setup
/// installs unless told otherwise. A runtime installed from anywhere else stays in the
/// archive, since nothing could put those bytes back.
fn packaged_copy(entry: &Entry, bytes: &[u8]) -> Option<PathBuf> {
    if !entry.reinstallable {
        return None;
    }
    let packaged = std::env::current_exe().ok()?.parent()?.join(RUNTIME_BIN);
    // The size first: a different build is told apart without reading it.
    let meta = std::fs::metadata(&packaged).ok()?;
    if !meta.is_file() || meta.len() != bytes.len() as u64 || packaged == entry.path {
        return None;
    }
    (std::fs::read(&packaged).ok()? == bytes).then_some(packaged)
}

/// The codex-guard version that installed the runtime, from the install receipt.
fn installed_version(codex_home: &Path) -> Option<String> {
    let text = std::fs::read_to_string(Layout::new(codex_home).receipt()).ok()?;
    let receipt: codex_guard_common::receipt::Receipt = serde_json::from_str(&text).ok()?;
    Some(receipt.version)
}

/// Deletes all but the newest `keep` archives (names start with their UTC time).
fn rotate(dir: &Path, keep: usize) -> Result<()> {
    let archives = list_archives(dir)?;
    for old in archives.iter().skip(keep) {
        fs_err::remove_file(old)?;
    }
    Ok(())
}

/// The operation an archive was taken for, from the name [`create`] gave it
/// (`<time>-<label>.tar.gz` or `<time>-<label>-<n>.tar.gz`).
pub fn label_of(path: &Path) -> Option<&str> {
    let name = path.file_name()?.to_str()?.strip_suffix(".tar.gz")?;
    let (_, label) = name.split_once('-')?;
    Some(match label.rsplit_once('-') {
        Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => head,
        _ => label,
    })
}

/// The archives in `dir`, newest first.
pub fn list_archives(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut archives: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(read) => read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    archives.sort();
    archives.reverse();
    Ok(archives)
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
        let meta = if crate::safe_fs::is_exposed(path) {
            std::fs::symlink_metadata(path)
        } else {
            std::fs::metadata(path)
        };
        meta.ok().map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// One file of an archive, as the manifest describes it.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub name: String,
    /// Content at backup time (`None`: the file did not exist, or it is recorded by
    /// `reference` only).
    pub content: Option<Vec<u8>>,
    /// Its sha256 at backup time (`None`: the file did not exist).
    pub sha256: Option<String>,
    /// A program recorded by its hash instead of its bytes (format 2).
    pub reference: Option<Reference>,
    pub mode: Option<u32>,
    /// Expected hash after the operation that followed the backup (`None`: absent).
    pub after_sha256: Option<String>,
}

/// A program an archive names instead of holding it: its hash and size are the
/// manifest's, and `restore` accepts only a copy with exactly that hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub program: String,
    /// The codex-guard version that installed it, when known.
    pub version: Option<String>,
    /// Where the package held an identical copy when the backup was taken.
    pub packaged: Option<PathBuf>,
    pub size: u64,
}

impl Reference {
    /// Finds a file with exactly `sha256` where the package keeps the program: the
    /// place recorded in the backup, then beside the running `codex-guard`. Returns
    /// the place and the bytes read (the very bytes that were checked).
    pub fn find(&self, sha256: &str) -> Option<(PathBuf, Vec<u8>)> {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(&self.program)));
        let mut seen = Vec::new();
        for place in self.packaged.iter().cloned().chain(beside) {
            if seen.contains(&place) {
                continue;
            }
            seen.push(place.clone());
            let Ok(meta) = std::fs::metadata(&place) else {
                continue;
            };
            if !meta.is_file() || meta.len() != self.size {
                continue;
            }
            if let Ok(bytes) = std::fs::read(&place) {
                if fsutil::sha256_hex(&bytes) == sha256 {
                    return Some((place, bytes));
                }
            }
        }
        None
    }

    /// What to do when no identical copy is found: one line, with the hash.
    pub fn reinstall_hint(&self, sha256: &str) -> String {
        let version = self
            .version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        format!(
            "reinstall {}{version} (sha256 {sha256}): install codex-guard{version} and run `codex-guard setup`",
            self.program
        )
    }
}

/// A backup read back in full and checked.
#[derive(Debug)]
pub struct Archive {
    pub manifest: Value,
    pub files: Vec<FileEntry>,
}

impl Archive {
    /// Reads and checks an archive: a file that only root or this user could have
    /// written, a manifest, names that stay inside the Codex home, and files that are
    /// exactly the ones the manifest lists, with its hashes and modes.
    pub fn read(path: &Path) -> Result<Archive> {
        let bad = |why: String| {
            anyhow::Error::new(
                Failure::bad_input(format!(
                    "{} is not a codex-guard backup: {why}",
                    path.display()
                ))
                .hint("pass a file written by `codex-guard backup` or by setup/uninstall"),
            )
        };
        let file = fs_err::File::open(path).map_err(|e| {
            anyhow::Error::new(Failure::bad_input(format!("cannot open the backup: {e}")))
        })?;
        trusted_writer(path, file.file())?;
        let mut blobs = read_blobs(file, &bad)?;
        let manifest: Value = blobs
            .remove(MANIFEST)
            .ok_or_else(|| bad(format!("no {MANIFEST}")))
            .and_then(|(b, _)| serde_json::from_slice(&b).map_err(|e| bad(e.to_string())))?;
        let listed = manifest["files"]
            .as_array()
            .ok_or_else(|| bad("the manifest lists no files".into()))?;
        let mut files: Vec<FileEntry> = Vec::new();
        for record in listed {
            let name = record["name"]
                .as_str()
                .ok_or_else(|| bad("a manifest entry has no name".into()))?
                .to_string();
            if !safe_name(&name) {
                return Err(bad(format!(
                    "the entry {name:?} points outside the Codex home"
                )));
            }
            if files.iter().any(|f| f.name == name) {
                return Err(bad(format!("the manifest lists {name} twice")));
            }
            let mode = manifest_mode(record, &name, &bad)?;
            let mut reference = None;
            let content = if record["absent"] == true {
                if blobs.contains_key(&name) {
                    return Err(bad(format!("{name} is listed as absent but is in it")));
                }
                None
            } else if record["stored"] == "reference" {
                if blobs.contains_key(&name) {
                    return Err(bad(format!("{name} is recorded by its hash but is in it")));
                }
                reference = Some(reference_of(record, &name, &bad)?);
                None
            } else {
                let (bytes, tar_mode) = blobs
                    .remove(&name)
                    .ok_or_else(|| bad(format!("{name} is listed but missing")))?;
                if record["sha256"].as_str() != Some(fsutil::sha256_hex(&bytes).as_str())
                    || record["size"]
                        .as_u64()
                        .is_some_and(|n| n != bytes.len() as u64)
                {
                    return Err(bad(format!(
                        "{name} does not match its hash: the archive is damaged"
                    )));
                }
                if mode.is_some_and(|m| m != tar_mode & 0o7777) {
                    return Err(bad(format!(
                        "{name} has mode {:o} in the archive but {:o} in the manifest",
                        tar_mode & 0o7777,
                        mode.unwrap_or_default()
                    )));
                }
                Some(bytes)
            };
            let sha256 = match (&content, &reference) {
                (Some(bytes), _) => Some(fsutil::sha256_hex(bytes)),
                (None, Some(_)) => record["sha256"].as_str().map(str::to_string),
                (None, None) => None,
            };
            files.push(FileEntry {
                name,
                content,
                sha256,
                reference,
                mode,
                after_sha256: record["after_sha256"].as_str().map(str::to_string),
            });
        }
        if let Some(extra) = blobs.keys().next() {
            return Err(bad(format!("{extra} is in it but not in the manifest")));
        }
        Ok(Archive { manifest, files })
    }
}

/// The files of a backup's tar.gz, by name, with their bytes and mode: regular files
/// only, each once.
fn read_blobs(
    file: fs_err::File,
    bad: &dyn Fn(String) -> anyhow::Error,
) -> Result<BTreeMap<String, (Vec<u8>, u32)>> {
    let gz = flate2::read::GzDecoder::new(file).take(MAX_ARCHIVE_BYTES);
    let mut tar = tar::Archive::new(gz);
    let mut blobs = BTreeMap::new();
    let entries = tar.entries().map_err(|e| bad(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            return Err(bad("it holds something other than regular files".into()));
        }
        let name = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let mode = entry.header().mode().map_err(|e| bad(e.to_string()))?;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        if blobs.insert(name.clone(), (bytes, mode)).is_some() {
            return Err(bad(format!("{name} is in it twice")));
        }
    }
    Ok(blobs)
}

/// A file's mode in the manifest, if recorded; setup and backup never save setuid,
/// setgid or sticky files, so an archive that has one is refused.
fn manifest_mode(
    record: &Value,
    name: &str,
    bad: &dyn Fn(String) -> anyhow::Error,
) -> Result<Option<u32>> {
    let mode = match &record["mode"] {
        Value::Null => return Ok(None),
        m => m
            .as_u64()
            .and_then(|m| u32::try_from(m).ok())
            .ok_or_else(|| bad(format!("{name} has no valid mode")))?,
    };
    if mode & !0o777 != 0 {
        return Err(bad(format!(
            "{name} has mode {mode:o}: setuid, setgid and sticky files are never restored"
        )));
    }
    Ok(Some(mode))
}

/// What the manifest says of a program recorded by its hash: a valid hash, size and
/// program name (a bare file name), and where the package kept it.
fn reference_of(
    record: &Value,
    name: &str,
    bad: &dyn Fn(String) -> anyhow::Error,
) -> Result<Reference> {
    let valid_hash = record["sha256"]
        .as_str()
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let program = record["reinstall"]["program"].as_str();
    let (Some(size), Some(program), true) = (record["size"].as_u64(), program, valid_hash) else {
        return Err(bad(format!(
            "{name} is recorded by its hash without a valid hash, size and program"
        )));
    };
    if !safe_name(program) || program.contains('/') {
        return Err(bad(format!("{name} names the program {program:?}")));
    }
    Ok(Reference {
        program: program.to_string(),
        version: record["reinstall"]["version"].as_str().map(str::to_string),
        packaged: record["reinstall"]["packaged"].as_str().map(PathBuf::from),
        size,
    })
}

/// Refuses an archive that another account could have written: one owned by anyone but
/// root or this user, or one that others may write. Restoring it would install whatever
/// they put in it (a hook program, a setting) with this user's rights.
fn trusted_writer(path: &Path, file: &std::fs::File) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata()?;
        let me = crate::safe_fs::euid();
        let why = if meta.uid() != 0 && meta.uid() != me {
            Some(format!("it belongs to uid {}", meta.uid()))
        } else if meta.mode() & 0o022 != 0 {
            Some(format!(
                "its mode {:o} lets others change it",
                meta.mode() & 0o777
            ))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Failure::bad_input(format!(
                "{} is refused: {why}, so another account could have rewritten it",
                path.display()
            ))
            .hint("restore only a backup that root or you wrote and only you can change; check where this file came from")
            .into());
        }
    }
    #[cfg(not(unix))]
    let _ = (path, file);
    Ok(())
}

/// A relative path of normal components only (no `..`, no root, no drive).
fn safe_name(name: &str) -> bool {
    let path = Path::new(name);
    !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// `codex-guard backup --list`: the archives in the backups directory, newest first.
fn list(layout: &Layout, json: bool) -> Result<ExitCode> {
    let mut rows = Vec::new();
    for path in list_archives(&layout.backups_dir())? {
        let row = match Archive::read(&path) {
            Ok(archive) => ListedBackup::Readable(Box::new(report::BackupInfo {
                created_at: archive.manifest["created_at"].clone(),
                reason: archive.manifest["reason"].clone(),
                version: archive.manifest["codex_guard_version"].clone(),
                files: archive.files.iter().filter(|f| f.sha256.is_some()).count(),
                size: fs_err::metadata(&path)?.len(),
                path,
            })),
            Err(e) => ListedBackup::Unreadable {
                path,
                error: format!("{e:#}"),
            },
        };
        rows.push(row);
    }
    if json {
        report::print(&report::BackupListReport {
            schema_version: report::SCHEMA_VERSION,
            backups: rows,
        });
        return Ok(ExitCode::Ok);
    }
    if rows.is_empty() {
        eprintln!("no backups in {}", layout.backups_dir().display());
    }
    for row in &rows {
        match row {
            ListedBackup::Unreadable { path, error } => {
                println!("{}  (unreadable: {error})", path.display());
            }
            ListedBackup::Readable(info) => println!(
                "{}  {}  {:<9} {} files  {} bytes",
                info.created_at.as_str().unwrap_or("?"),
                info.path.display(),
                info.reason.as_str().unwrap_or("?"),
                info.files,
                info.size,
            ),
        }
    }
    Ok(ExitCode::Ok)
}

/// `codex-guard backup`: writes an archive, or lists them.
pub fn run(args: &BackupArgs) -> Result<ExitCode> {
    let layout = home::resolve(&args.home)?;
    if args.list {
        return list(&layout, args.json);
    }

    if !layout.codex_home.is_dir() {
        return Err(Failure::bad_input(format!(
            "the Codex home {} does not exist",
            layout.codex_home.display()
        ))
        .hint("pass --codex-home DIR")
        .into());
    }
    // Not in the middle of a setup or an uninstall: the files are saved as one state.
    let _lock = if args.output.is_none() || layout.guard_dir().is_dir() {
        Some(fsutil::Lock::acquire(
            &layout.lock_file(),
            std::time::Duration::from_secs(30),
        )?)
    } else {
        None
    };
    let entries = home_entries(&layout, args.include_logs)?;
    let path = match &args.output {
        Some(output) => {
            write_archive(
                output,
                "backup",
                &layout.codex_home,
                &entries,
                SystemTime::now(),
            )?;
            output.clone()
        }
        None => create(
            &layout.backups_dir(),
            "backup",
            &layout.codex_home,
            &entries,
            Some(backups_keep(&layout)),
        )?,
    };
    let saved = entries.iter().filter(|e| e.path.exists()).count();
    if args.json {
        report::print(&report::BackupReport {
            schema_version: report::SCHEMA_VERSION,
            backup: path.clone(),
            files: saved,
        });
    } else {
        eprintln!(
            "backed up {saved} file(s) of {} to {}",
            layout.codex_home.display(),
            path.display()
        );
        println!("{}", path.display());
    }
    Ok(ExitCode::Ok)
}

/// `backups_keep` from the runtime config, or the default.
pub fn backups_keep(layout: &Layout) -> usize {
    std::fs::read_to_string(layout.runtime_config())
        .ok()
        .and_then(|text| RuntimeConfig::from_toml(&text).ok())
        .map_or(codex_guard_common::config::DEFAULT_BACKUPS_KEEP, |c| {
            c.backups_keep
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_round_trips_files_absences_and_expectations() {
        let home = tempfile::tempdir().unwrap();
        let layout = Layout::new(home.path());
        std::fs::write(layout.codex_config(), "model = \"x\"\n").unwrap();
        let entries = [
            Entry::of(
                &layout,
                &layout.codex_config(),
                After::Hash(Some("abc".into())),
            ),
            Entry::of(&layout, &layout.hooks_json(), After::Hash(None)),
        ];
        let path = create(
            &layout.backups_dir(),
            "setup",
            home.path(),
            &entries,
            Some(3),
        )
        .unwrap();
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with("-setup.tar.gz"));
        let archive = Archive::read(&path).unwrap();
        assert_eq!(archive.files[0].name, "config.toml");
        assert_eq!(
            archive.files[0].content.as_deref(),
            Some(&b"model = \"x\"\n"[..])
        );
        assert_eq!(archive.files[0].after_sha256.as_deref(), Some("abc"));
        assert_eq!(archive.files[1].content, None);
        assert_eq!(archive.manifest["reason"], "setup");
    }

    #[test]
    fn rotation_keeps_the_newest() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("backups");
        std::fs::create_dir_all(&dir).unwrap();
        for stamp in ["20260101T000000Z", "20260102T000000Z", "20260103T000000Z"] {
            std::fs::write(dir.join(format!("{stamp}-setup.tar.gz")), "x").unwrap();
        }
        rotate(&dir, 2).unwrap();
        let left = list_archives(&dir).unwrap();
        assert_eq!(left.len(), 2);
        assert!(left[1].to_string_lossy().contains("20260102"));
    }

    #[test]
    fn archive_names_give_back_their_operation() {
        for (name, label) in [
            ("20261121T144900.123Z-setup.tar.gz", Some("setup")),
            ("20261121T144900.123Z-restore-2.tar.gz", Some("restore")),
            (
                "20261121T144900.123Z-self-update.tar.gz",
                Some("self-update"),
            ),
            ("notes.txt", None),
        ] {
            assert_eq!(label_of(Path::new(name)), label, "{name}");
        }
    }

    #[test]
    fn names_outside_the_home_are_refused() {
        assert!(safe_name("codex-guard/token"));
        assert!(!safe_name("../etc/passwd"));
        assert!(!safe_name("/etc/passwd"));
        assert!(!safe_name("a/../../b"));
        assert!(!safe_name(""));
    }
}
