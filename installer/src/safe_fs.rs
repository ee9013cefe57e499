//! File operations that stay safe when codex-guard runs as root and another account can
//! write a directory on the way (`/tmp`, a user's home, a `--backup-dir`).
//!
//! Every privileged code path (uninstall and its `--managed` and `--all-users` forms,
//! backup, restore, setup's own backups) goes through these primitives, so one set of
//! rules holds everywhere:
//! - a directory another account can write is entered through a descriptor, component
//!   by component with `O_NOFOLLOW`, from the last directory nobody else can change;
//! - a file is created with `O_CREAT | O_EXCL | O_NOFOLLOW` under a fresh random name
//!   and only then linked (never over an existing name) or renamed into place;
//! - modes and owners are set through the descriptor of what was created, never by
//!   path and never copied from a file that was already there;
//! - where names could be planted, the work happens in a fresh private (0700)
//!   directory made by this process itself.

use anyhow::{Context, Result};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// The user this process acts as (the owner of what it creates).
#[cfg(unix)]
pub fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

#[cfg(unix)]
fn egid() -> u32 {
    rustix::process::getegid().as_raw()
}

/// Whether an account other than this process's (and root) can create, rename or
/// delete entries in the directory `meta` describes.
#[cfg(unix)]
pub fn writable_by_others(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = euid();
    let mode = meta.mode();
    let foreign_owner = meta.uid() != me && meta.uid() != 0;
    foreign_owner || mode & 0o002 != 0 || (mode & 0o020 != 0 && meta.gid() != egid())
}

#[cfg(not(unix))]
pub fn writable_by_others(_meta: &std::fs::Metadata) -> bool {
    false
}

/// `path` made absolute against the current directory, without resolving links.
#[cfg(unix)]
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path))
    }
}

/// The first directory on the way to `path` (its ancestors, from `/` down to its parent)
/// in which another account could plant, swap or redirect what comes next: `None` when
/// only this process's user and root can change anything on the way.
///
/// A sticky directory (`/tmp`) does not count for a child that belongs to this user or
/// to root: nobody else can rename or delete it. The parent of `path` counts even when
/// sticky: a name not yet created can be taken there.
#[cfg(unix)]
pub fn exposed_at(path: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let path = absolute(path);
    let parent = path.parent()?;
    let mut dirs: Vec<&Path> = parent.ancestors().collect();
    dirs.reverse();
    for (i, dir) in dirs.iter().enumerate() {
        let Ok(meta) = std::fs::metadata(dir) else {
            // Nothing below a missing directory exists yet.
            return None;
        };
        if !writable_by_others(&meta) {
            continue;
        }
        let child = dirs.get(i + 1).copied();
        let sticky =
            meta.permissions().mode() & 0o1000 != 0 && (meta.uid() == 0 || meta.uid() == euid());
        let child_protected = child.is_some_and(|c| {
            std::fs::symlink_metadata(c).is_ok_and(|m| m.uid() == euid() || m.uid() == 0)
        });
        if sticky && child_protected {
            continue;
        }
        return Some(dir.to_path_buf());
    }
    None
}

#[cfg(not(unix))]
pub fn exposed_at(_path: &Path) -> Option<PathBuf> {
    None
}

/// Whether another account could plant or swap `path` or a directory on its way.
pub fn is_exposed(path: &Path) -> bool {
    exposed_at(path).is_some()
}

/// An unguessable name: `prefix` and 16 hex digits from the process's random hash keys.
fn random_name(prefix: &str, suffix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    format!("{prefix}{:016x}{suffix}", hasher.finish())
}

/// An open directory: everything done through it lands in that very directory, whatever
/// happens to the path it was opened by.
#[derive(Debug)]
pub struct Dir {
    file: File,
    path: PathBuf,
}

impl Dir {
    /// The path the directory was opened by (for messages and reports).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the directory `path`; with `create`, makes the missing ones (with that mode).
    /// Below a directory another account can write, every component is opened without
    /// following a link, and one that is a link or not a directory is an error.
    #[cfg(unix)]
    pub fn open(path: &Path, create: Option<u32>) -> Result<Dir> {
        use rustix::fs::{Mode, OFlags};
        let path = absolute(path);
        let Some(exposed) = exposed_at(&path) else {
            if let Some(mode) = create {
                crate::fsutil::create_dir_all(&path, mode)?;
            }
            let file = File::open(&path)
                .with_context(|| format!("cannot open directory {}", path.display()))?;
            if !file.metadata()?.is_dir() {
                anyhow::bail!("{} is not a directory", path.display());
            }
            return Ok(Dir { file, path });
        };
        let mut dir = Dir {
            file: File::open(&exposed)
                .with_context(|| format!("cannot open directory {}", exposed.display()))?,
            path: exposed.clone(),
        };
        let rest = path.strip_prefix(&exposed).unwrap_or(Path::new(""));
        for component in rest.components() {
            let name = match component {
                Component::Normal(name) => name,
                Component::CurDir => continue,
                _ => anyhow::bail!(
                    "{} goes up (`..`) inside {}, which another account can write",
                    path.display(),
                    exposed.display()
                ),
            };
            let next = dir.path.join(name);
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let opened = match rustix::fs::openat(&dir.file, name, flags, Mode::empty()) {
                Err(rustix::io::Errno::NOENT) if create.is_some() => {
                    let mode = create.unwrap_or(0o700);
                    match rustix::fs::mkdirat(&dir.file, name, Mode::from_raw_mode(mode)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => {
                            return Err(std::io::Error::from(e))
                                .with_context(|| format!("cannot create {}", next.display()))
                        }
                    }
                    rustix::fs::openat(&dir.file, name, flags, Mode::empty())
                }
                other => other,
            };
            let fd = opened.map_err(|e| match e {
                rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => {
                    anyhow::Error::new(crate::failure::Failure::bad_input(format!(
                        "{} is a symbolic link or not a directory, in {} which another account can write: codex-guard does not follow it",
                        next.display(),
                        dir.path.display()
                    ))
                    .hint("remove or rename it (or run codex-guard as the account that owns that directory), then run the command again"))
                }
                e => anyhow::Error::new(std::io::Error::from(e))
                    .context(format!("cannot open directory {}", next.display())),
            })?;
            dir = Dir {
                file: File::from(fd),
                path: next,
            };
        }
        Ok(dir)
    }

    #[cfg(not(unix))]
    pub fn open(path: &Path, create: Option<u32>) -> Result<Dir> {
        if let Some(mode) = create {
            crate::fsutil::create_dir_all(path, mode)?;
        }
        let file = File::open(path)
            .with_context(|| format!("cannot open directory {}", path.display()))?;
        Ok(Dir {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Whether another account can add, rename or remove entries here.
    pub fn writable_by_others(&self) -> bool {
        self.file
            .metadata()
            .map_or(true, |meta| writable_by_others(&meta))
    }

    /// The owner of the directory itself.
    #[cfg(unix)]
    pub fn owner(&self) -> Result<(u32, u32)> {
        use std::os::unix::fs::MetadataExt;
        let meta = self.file.metadata()?;
        Ok((meta.uid(), meta.gid()))
    }

    /// A new directory `<prefix><random>` in this one, made by this process, mode 0700:
    /// nobody else has a name in it, so what is written there is safe from planting.
    #[cfg(unix)]
    pub fn create_private(&self, prefix: &str) -> Result<Dir> {
        use rustix::fs::{Mode, OFlags};
        for _ in 0..64 {
            let name = random_name(prefix, "");
            match rustix::fs::mkdirat(&self.file, name.as_str(), Mode::from_raw_mode(0o700)) {
                Err(rustix::io::Errno::EXIST) => continue,
                Err(e) => {
                    return Err(std::io::Error::from(e)).with_context(|| {
                        format!(
                            "cannot create a private directory in {}",
                            self.path.display()
                        )
                    })
                }
                Ok(()) => {}
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&self.file, name.as_str(), flags, Mode::empty())
                .map_err(std::io::Error::from)
                .with_context(|| format!("cannot open {}", self.path.join(&name).display()))?;
            let dir = Dir {
                file: File::from(fd),
                path: self.path.join(&name),
            };
            // Someone may have swapped in their own directory between mkdir and open.
            let (uid, _) = dir.owner()?;
            if uid != euid() {
                anyhow::bail!(
                    "{} was replaced by another account while codex-guard created it",
                    dir.path.display()
                );
            }
            set_mode(&dir.file, 0o700)?;
            return Ok(dir);
        }
        anyhow::bail!(
            "cannot find a free name for a private directory in {}",
            self.path.display()
        )
    }

    #[cfg(not(unix))]
    pub fn create_private(&self, prefix: &str) -> Result<Dir> {
        let path = self.path.join(random_name(prefix, ""));
        fs_err::create_dir(&path)?;
        Dir::open(&path, None)
    }

    /// A directory where files can be created under predictable names: this one when no
    /// other account can write it, else a fresh private one inside it.
    pub fn private_or_fresh(self, prefix: &str) -> Result<Dir> {
        if self.writable_by_others() {
            self.create_private(prefix)
        } else {
            Ok(self)
        }
    }

    /// A file created here, under a random name nobody could have planted, with `mode`
    /// set through its descriptor. The caller links or renames it into place.
    #[cfg(unix)]
    fn create_temp(&self) -> Result<(String, File)> {
        use rustix::fs::{Mode, OFlags};
        for _ in 0..64 {
            let name = random_name(crate::fsutil::TEMP_PREFIX, crate::fsutil::TEMP_SUFFIX);
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&self.file, name.as_str(), flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => return Ok((name, File::from(fd))),
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => {
                    return Err(std::io::Error::from(e)).with_context(|| {
                        format!("cannot create a temporary file in {}", self.path.display())
                    })
                }
            }
        }
        anyhow::bail!(
            "cannot find a free temporary name in {}",
            self.path.display()
        )
    }

    #[cfg(not(unix))]
    fn create_temp(&self) -> Result<(String, File)> {
        let name = random_name(crate::fsutil::TEMP_PREFIX, crate::fsutil::TEMP_SUFFIX);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.path.join(&name))?;
        Ok((name, file))
    }

    /// A complete temporary file holding `contents` with `mode` (never setuid, setgid or
    /// sticky) and, when given, `owner`, flushed to disk.
    fn temp_with(
        &self,
        contents: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<(String, File)> {
        let (name, mut file) = self.create_temp()?;
        let done = (|| -> Result<()> {
            file.write_all(contents)?;
            #[cfg(unix)]
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            }
            #[cfg(not(unix))]
            let _ = owner;
            set_mode(&file, mode)?;
            file.sync_all()?;
            Ok(())
        })();
        if let Err(e) = done {
            self.remove(&name);
            return Err(e.context(format!("cannot write in {}", self.path.display())));
        }
        Ok((name, file))
    }

    /// Creates `name` holding `contents` (mode `mode`), only if nothing has that name:
    /// `false` when the name is taken (whatever is there is left alone).
    pub fn write_new(&self, name: &str, contents: &[u8], mode: u32) -> Result<bool> {
        let (temp, _file) = self.temp_with(contents, mode, None)?;
        let linked = self.link(&temp, name);
        self.remove(&temp);
        let created =
            linked.with_context(|| format!("cannot create {}", self.path.join(name).display()))?;
        if created {
            self.sync();
        }
        Ok(created)
    }

    /// Replaces `name` with `contents` atomically. Whatever was at `name` (a file, a link)
    /// is replaced, not written through: the new file has `mode` and `owner` (default:
    /// this process's user).
    pub fn replace(
        &self,
        name: &str,
        contents: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<()> {
        let (temp, _file) = self.temp_with(contents, mode, owner)?;
        #[cfg(unix)]
        let renamed = rustix::fs::renameat(&self.file, temp.as_str(), &self.file, name)
            .map_err(std::io::Error::from);
        #[cfg(not(unix))]
        let renamed = std::fs::rename(self.path.join(&temp), self.path.join(name));
        if let Err(e) = renamed {
            self.remove(&temp);
            return Err(e)
                .with_context(|| format!("cannot replace {}", self.path.join(name).display()));
        }
        self.sync();
        Ok(())
    }

    #[cfg(unix)]
    fn link(&self, from: &str, to: &str) -> Result<bool> {
        match rustix::fs::linkat(
            &self.file,
            from,
            &self.file,
            to,
            rustix::fs::AtFlags::empty(),
        ) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::EXIST) => Ok(false),
            Err(e) => Err(std::io::Error::from(e).into()),
        }
    }

    #[cfg(not(unix))]
    fn link(&self, from: &str, to: &str) -> Result<bool> {
        match std::fs::hard_link(self.path.join(from), self.path.join(to)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the entry `name` (a link is removed, not what it points to).
    fn remove(&self, name: &str) {
        #[cfg(unix)]
        let _ = rustix::fs::unlinkat(&self.file, name, rustix::fs::AtFlags::empty());
        #[cfg(not(unix))]
        let _ = std::fs::remove_file(self.path.join(name));
    }

    /// What `name` is, without following a link.
    #[cfg(unix)]
    pub fn entry(&self, name: &OsStr) -> Option<Entry> {
        let stat =
            rustix::fs::statat(&self.file, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let kind = rustix::fs::FileType::from_raw_mode(stat.st_mode);
        Some(match kind {
            rustix::fs::FileType::Symlink => Entry::Link,
            rustix::fs::FileType::RegularFile => Entry::File,
            rustix::fs::FileType::Directory => Entry::Dir,
            _ => Entry::Other,
        })
    }

    /// Reads the regular file `name` without following a link (`None`: absent).
    #[cfg(unix)]
    pub fn read_nofollow(&self, name: &OsStr) -> std::io::Result<Option<Vec<u8>>> {
        use rustix::fs::{Mode, OFlags};
        use std::io::Read;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        match rustix::fs::openat(&self.file, name, flags, Mode::empty()) {
            Ok(fd) => {
                let mut file = File::from(fd);
                if !file.metadata()?.is_file() {
                    return Err(std::io::Error::other("not a regular file"));
                }
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                Ok(Some(bytes))
            }
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes (or takes back from an earlier run) the directory `name`, mode 0700, and
    /// gives it to `uid:gid` through its descriptor. An entry that is a link, not a
    /// directory, or a directory belonging to anyone else is refused, never followed.
    #[cfg(unix)]
    pub fn give_subdir(&self, name: &OsStr, uid: u32, gid: u32) -> Result<PathBuf> {
        use rustix::fs::{Mode, OFlags};
        use std::os::unix::fs::MetadataExt;
        let path = self.path.join(name);
        match rustix::fs::mkdirat(&self.file, name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("cannot create {}", path.display()))
            }
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.file, name, flags, Mode::empty()).map_err(|e| {
            anyhow::Error::new(crate::failure::Failure::bad_input(format!(
                "{} is not a directory codex-guard made ({e}): it is not followed or handed to anyone",
                path.display()
            )))
        })?;
        let dir = File::from(fd);
        let meta = dir.metadata()?;
        // Ours only when empty (made by this run or left by an interrupted one): a
        // directory of root's with something in it is not root's to give away.
        let ours = meta.uid() == euid() && is_empty(&dir)?;
        let already_theirs = meta.uid() == uid && meta.mode().trailing_zeros() >= 6;
        if !ours && !already_theirs {
            return Err(crate::failure::Failure::bad_input(format!(
                "{} already exists (owner uid {}) and is not an empty directory of codex-guard's or a private one of uid {uid}: it is not handed over",
                path.display(),
                meta.uid()
            ))
            .hint("remove it (or pass another --backup-dir) and run the command again")
            .into());
        }
        set_mode(&dir, 0o700)?;
        std::os::unix::fs::fchown(&dir, Some(uid), Some(gid))
            .with_context(|| format!("cannot give {} to uid {uid}", path.display()))?;
        Ok(path)
    }

    /// Sets the directory's own mode (permission bits only) through its descriptor.
    pub fn set_mode(&self, mode: u32) -> Result<()> {
        set_mode(&self.file, mode)
            .with_context(|| format!("cannot set the mode of {}", self.path.display()))
    }

    fn sync(&self) {
        #[cfg(unix)]
        let _ = self.file.sync_all();
    }
}

/// Whether the open directory `dir` has no entries.
#[cfg(unix)]
fn is_empty(dir: &File) -> Result<bool> {
    let entries = rustix::fs::Dir::read_from(dir).map_err(std::io::Error::from)?;
    for entry in entries {
        let entry = entry.map_err(std::io::Error::from)?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What a directory entry is, seen without following links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    File,
    Dir,
    Link,
    Other,
}

/// Sets the mode of the file `path` through a descriptor opened without following a
/// link at its name (a link there is an error, never the file it points to).
pub fn set_file_mode(path: &Path, mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK)
            .bits()
            .cast_signed(),
    );
    let file = options
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    set_mode(&file, mode).with_context(|| format!("cannot set the mode of {}", path.display()))
}

/// Sets `mode` (permission bits only: never setuid, setgid or sticky) through the
/// descriptor.
fn set_mode(file: &File, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))
    }
    #[cfg(not(unix))]
    {
        let _ = (file, mode);
        Ok(())
    }
}

/// A new archive in `dir` named `<stem>.tar.gz` (or `<stem>-2.tar.gz`, ... when a name
/// is taken): never written over or through anything already there. In a directory
/// another account can write, it goes into a fresh private directory made inside it.
pub fn write_new_archive(dir: &Path, stem: &str, contents: &[u8]) -> Result<PathBuf> {
    let dir = Dir::open(dir, Some(0o700))?.private_or_fresh("codex-guard-backup-")?;
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.tar.gz")
        } else {
            format!("{stem}-{n}.tar.gz")
        };
        if dir.write_new(&name, contents, 0o600)? {
            return Ok(dir.path().join(name));
        }
    }
    anyhow::bail!(
        "every name for {stem}.tar.gz in {} is taken",
        dir.path().display()
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_new_archive_never_goes_through_a_planted_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("b");
        std::fs::create_dir(&dir).unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("x.tar.gz")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), dir.join("x-2.tar.gz")).unwrap();
        let path = write_new_archive(&dir, "x", b"archive").unwrap();
        assert_eq!(path, dir.join("x-3.tar.gz"));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read(&path).unwrap(), b"archive");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_directory_others_can_write_gets_a_fresh_private_one() {
        let tmp = tempfile::tempdir().unwrap();
        let shared = tmp.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let path = write_new_archive(&shared, "x", b"archive").unwrap();
        let private = path.parent().unwrap();
        assert_eq!(private.parent().unwrap(), shared);
        assert!(private
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("codex-guard-backup-"));
        let mode = std::fs::metadata(private).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        assert!(is_exposed(&shared.join("name")));
        assert!(!is_exposed(&path));
    }
}
