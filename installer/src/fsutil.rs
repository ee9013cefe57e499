//! Safe edits of files on a machine we do not own: atomic replacement that keeps
//! permissions and ownership, a lock so two runs never interleave, and hashing.
//!
//! In a directory another account can write (a user's home seen by root, `/tmp`), the
//! rules of [`crate::safe_fs`] apply instead: no link is followed, nothing is written
//! through a file that was already there, and no owner or mode is copied from one.

use crate::safe_fs;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How [`write_atomic`] names its temporary files.
pub(crate) const TEMP_PREFIX: &str = ".codex-guard-";
pub(crate) const TEMP_SUFFIX: &str = ".tmp";

/// Reads a file that may not exist. Where another account could have planted it, a
/// link is not followed (root must not read, and quote in an error, a file it points to).
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    #[cfg(unix)]
    if safe_fs::is_exposed(path) {
        let (dir, name) = match open_parent(path) {
            Ok(opened) => opened,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        return dir.read_nofollow(name).map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                foreign_link(path)
            } else {
                anyhow::Error::new(e).context(format!("cannot read {}", path.display()))
            }
        });
    }
    match fs_err::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads a text file that may not exist; non-UTF-8 content is an error naming the file.
pub fn read_optional_text(path: &Path) -> Result<Option<String>> {
    match read_optional(path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            crate::failure::Failure::bad_input(format!("{} is not UTF-8 text", path.display()))
                .hint("convert it to UTF-8 and run the command again; nothing was changed")
                .into()
        }),
    }
}

/// The file a write to `path` really changes: a symlink is followed, so the link
/// stays a link and its target gets the new content. Not where another account could
/// have planted the link: there `path` itself is what is changed (or refused).
pub fn write_target(path: &Path) -> Result<PathBuf> {
    if safe_fs::is_exposed(path) {
        return Ok(path.to_path_buf());
    }
    match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs_err::canonicalize(path).map_err(|_| {
            crate::failure::Failure::bad_input(format!(
                "{} is a symlink to a file that does not exist",
                path.display()
            ))
            .hint("point the link at an existing file (or remove it) and run the command again")
            .into()
        }),
        _ => Ok(path.to_path_buf()),
    }
}

/// The open parent directory of `path` and its last component.
fn open_parent(path: &Path) -> Result<(safe_fs::Dir, &std::ffi::OsStr)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((safe_fs::Dir::open(parent, None)?, name))
}

#[cfg(unix)]
fn is_not_found(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
    })
}

#[cfg(unix)]
fn foreign_link(path: &Path) -> anyhow::Error {
    crate::failure::Failure::bad_input(format!(
        "{} is a symbolic link in a directory another account can write: codex-guard does not follow it there",
        path.display()
    ))
    .hint("run codex-guard as the account that owns that directory (as root: --all-users), or replace the link by the file; nothing was changed")
    .into()
}

/// Replaces `path` with `contents` atomically: temp file in the same directory,
/// fsync, rename, fsync of the directory. An existing file's permissions and owner
/// are kept (never setuid, setgid or sticky); a new file gets `new_mode`.
///
/// Where another account can write the directory (or one on the way), the file gets
/// `new_mode` and this process's owner whatever was there, and a link is refused.
pub fn write_atomic(path: &Path, contents: &[u8], new_mode: u32) -> Result<()> {
    if safe_fs::is_exposed(path) {
        let (dir, name) = open_parent(path)?;
        #[cfg(unix)]
        if dir.entry(name) == Some(safe_fs::Entry::Link) {
            return Err(foreign_link(path));
        }
        let name = name
            .to_str()
            .with_context(|| format!("{} is not a UTF-8 name", path.display()))?;
        return dir.replace(name, contents, new_mode, None);
    }
    let target = write_target(path)?;
    let dir = target
        .parent()
        .with_context(|| format!("{} has no parent directory", target.display()))?;
    let existing = std::fs::metadata(&target).ok();
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    // Errors name the file being replaced; its temporary copy is gone when they surface.
    tmp.write_all(contents)
        .with_context(|| format!("cannot write {}", target.display()))?;
    set_permissions(tmp.as_file(), existing.as_ref(), new_mode)
        .with_context(|| format!("cannot set the permissions of {}", target.display()))?;
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot flush {} to disk", target.display()))?;
    tmp.persist(&target)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot replace {}", target.display()))?;
    sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn set_permissions(file: &File, existing: Option<&std::fs::Metadata>, new_mode: u32) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    match existing {
        Some(meta) => {
            file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o777))?;
            // Keep the owner when running as root on someone else's file.
            let current = file.metadata()?;
            if current.uid() != meta.uid() || current.gid() != meta.gid() {
                std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()))?;
            }
        }
        None => file.set_permissions(std::fs::Permissions::from_mode(new_mode & 0o777))?,
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_permissions(
    file: &File,
    existing: Option<&std::fs::Metadata>,
    _new_mode: u32,
) -> Result<()> {
    if let Some(meta) = existing {
        file.set_permissions(meta.permissions())?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Creates a directory (and parents) with `mode` for the ones it creates. Below a
/// directory another account can write, no link on the way is followed.
pub fn create_dir_all(path: &Path, mode: u32) -> Result<()> {
    if safe_fs::is_exposed(path) {
        return safe_fs::Dir::open(path, Some(mode)).map(drop);
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    #[cfg(not(unix))]
    let _ = mode;
    builder
        .create(path)
        .with_context(|| format!("cannot create directory {}", path.display()))
}

/// The user this process runs as: the owner of a file it creates.
#[cfg(unix)]
pub fn current_uid() -> Option<u32> {
    Some(safe_fs::euid())
}

#[cfg(not(unix))]
pub fn current_uid() -> Option<u32> {
    None
}

/// Machine-wide work on the real system needs root; under another `--system-root`
/// (a test tree, an image being built) the permissions of that tree decide.
pub fn require_root(system_root: &Path, what: &str) -> Result<(), crate::failure::Failure> {
    if cfg!(windows) {
        return Err(crate::failure::Failure::bad_input(format!(
            "{what} is not supported on Windows yet"
        )));
    }
    let real_root = std::fs::canonicalize(system_root).is_ok_and(|p| p == Path::new("/"));
    match current_uid() {
        Some(0) => Ok(()),
        _ if !real_root => Ok(()),
        _ => Err(crate::failure::Failure::needs_root(format!(
            "{what} changes machine-wide files and needs root"
        ))),
    }
}

/// A permission error while changing machine-wide files is "needs root" (exit 3),
/// not a generic failure.
pub fn as_needs_root(error: anyhow::Error) -> anyhow::Error {
    let denied = error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
    });
    if denied {
        let message = format!("{error:#}");
        crate::failure::Failure::needs_root(message).into()
    } else {
        error
    }
}

/// `text`, written with `\n`, in the line endings of `original`: a file written with
/// `\r\n` throughout gets them back.
pub fn line_endings_like(text: String, original: &str) -> String {
    if !uses_crlf(original) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

/// Whether every line of `text` ends in `\r\n`.
pub fn uses_crlf(text: &str) -> bool {
    let lines = text.matches('\n').count();
    lines > 0 && text.matches("\r\n").count() == lines
}

pub use codex_guard_common::trust::sha256_hex;

/// An exclusive lock held for the life of the value.
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Waits up to `wait` for the lock at `path`, creating its directory if needed.
    ///
    /// Uninstall deletes the directory that holds the lock while it holds it; a run
    /// that was waiting then holds a lock on a file nobody else can see. So a lock
    /// counts only when the file locked is still the one at `path`, else it is taken
    /// again on the new file.
    pub fn acquire(path: &Path, wait: Duration) -> Result<Lock> {
        let started = Instant::now();
        loop {
            let file = open_lock_file(path)?;
            match lock_within(&file, path, wait.saturating_sub(started.elapsed()))? {
                true if still_at(&file, path) => return Ok(Lock { _file: file }),
                true => {}
                false => {
                    return Err(crate::failure::Failure {
                        code: crate::failure::ExitCode::Degraded,
                        message: format!(
                            "another codex-guard command is changing this Codex home (the lock {} was held for {}s)",
                            path.display(),
                            wait.as_secs()
                        ),
                        hint: Some(
                            "run the command again when the other one has finished; the lock is released when it exits"
                                .into(),
                        ),
                    }
                    .into())
                }
            }
        }
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        create_dir_all(parent, 0o700)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    // A link planted at the lock's name is never followed (nor created through).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        rustix::fs::OFlags::NOFOLLOW.bits().cast_signed(),
    );
    options
        .open(path)
        .with_context(|| format!("cannot open lock file {}", path.display()))
}

/// Takes `file`'s lock, waiting up to `wait`; `false` when someone else kept it.
fn lock_within(file: &File, path: &Path, wait: Duration) -> Result<bool> {
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(true),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(false),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

/// Whether the open `file` is still the file at `path` (not deleted or replaced).
#[cfg(unix)]
fn still_at(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// Windows cannot delete a file another process holds open.
#[cfg(not(unix))]
fn still_at(_file: &File, _path: &Path) -> bool {
    true
}

/// Deletes the temporary files a killed run of ours left in `dirs` (named as
/// [`write_atomic`] names them). Only under the lock: no run of ours is writing them.
pub fn remove_stale_temps(dirs: &[PathBuf]) {
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX);
            if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Refuses, before anything is written, a change to a file its owner made read-only,
/// or in a directory this process cannot write: the run would otherwise stop halfway.
pub fn check_writable(path: &Path) -> Result<()> {
    let target = write_target(path)?;
    if let Ok(meta) = std::fs::metadata(&target) {
        if meta.permissions().readonly() {
            return Err(crate::failure::Failure::bad_input(format!(
                "{} is read-only",
                path.display()
            ))
            .hint(format!(
                "make it writable (chmod u+w '{}') if codex-guard may change it, and run the command again; nothing was changed",
                target.display()
            ))
            .into());
        }
    }
    let Some(dir) = existing_ancestor(&target) else {
        return Ok(());
    };
    tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(&dir)
        .map(drop)
        .map_err(|e| {
            crate::failure::Failure::bad_input(format!("cannot write in {} ({e})", dir.display()))
                .hint(format!(
                "run codex-guard as the owner of {0} (`ls -ld '{0}'` shows who), or make it writable; nothing was changed",
                dir.display()
            ))
                .into()
        })
}

/// The nearest directory of `path` that exists (where a new file or directory would go).
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|p| p.is_dir())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn atomic_write_keeps_mode_and_follows_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("config.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new", 0o600).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let fresh = dir.path().join("token");
        write_atomic(&fresh, b"t", 0o600).unwrap();
        assert_eq!(
            std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn a_held_lock_makes_the_second_wait_then_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let held = Lock::acquire(&path, Duration::from_secs(1)).unwrap();
        let err = Lock::acquire(&path, Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(err.to_string().contains("another codex-guard"), "{err}");
        assert!(crate::failure::hint_of(&err).is_some_and(|h| h.contains("run the command again")));
        drop(held);
        Lock::acquire(&path, Duration::from_millis(100)).unwrap();
    }
}
