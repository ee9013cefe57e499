//! The user's rules file, checked, kept between hook events: every event is a new
//! process, and reading a file of many rules (TOML, then each rule checked and its
//! regexes compiled) would cost each event milliseconds. The cache holds the
//! checked rules with each regex's prefilter, so an event compiles only the regexes
//! its text may match.
//!
//! The cache can never loosen a rule. It holds only the user's own file (owned by
//! the user running the hook), lives in the user's own state directory, is read
//! only when the user owns it and no one else may write it, and only for the very
//! file it was made from: device, inode, size, modification and change times,
//! owner, this hook's version and the cache's format. Anything else (missing,
//! damaged, stale, foreign) is ignored and the file read again. The admin's file is
//! never cached: the hook could not write a cache only root may change, and one the
//! user may change would let the user loosen the admin's rules.

use crate::rules::{cannot_read, Checked, Layer, Scope};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The cache file in the user's state directory.
pub const FILE: &str = "rules-cache.json";

/// Bumped whenever what the cache holds, or how it is read, changes.
const FORMAT: u32 = 1;

/// Far more than the checked form of any rules file a person writes.
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// File times come from a coarse clock: two writes within one tick can leave the
/// same times. A file changed this recently is read but not cached, so the next
/// change always shows in its times.
const SETTLED: Duration = Duration::from_secs(1);

/// The cache: written with the rules borrowed, read with them owned.
#[derive(Debug, Serialize, Deserialize)]
struct CacheFile<R> {
    format: u32,
    hook: String,
    file: Identity,
    rules: R,
}

/// What tells one version of a file from another without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    path: PathBuf,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    uid: u32,
}

impl Identity {
    fn of(path: &Path, m: &std::fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            uid: m.uid(),
        }
    }

    /// Whether the file was last changed long enough ago for its times to tell
    /// the next change.
    fn settled(&self) -> bool {
        let changed = u64::try_from(self.ctime.0).ok().and_then(|secs| {
            let nanos = u32::try_from(self.ctime.1).unwrap_or(0);
            SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
        });
        changed.is_some_and(|c| {
            SystemTime::now()
                .duration_since(c)
                .is_ok_and(|age| age >= SETTLED)
        })
    }
}

/// The user's rules file `file` checked, from `cache` when it holds this very
/// file, else read (and cached when it may be): `None` when the file does not
/// exist, `Some(Err)` when it does not parse, an error when it cannot be read.
pub(crate) fn load(
    file: &Path,
    cache: &Path,
    event: &str,
) -> Result<Option<Result<Checked, String>>, String> {
    let mut opened = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot_read(file, &e)),
    };
    // The times are taken before the text is read: a change made while it is read
    // gives the file new times, so this cache entry never matches it.
    let identity = opened
        .metadata()
        .ok()
        .filter(|m| m.is_file() && owned_by_me(m))
        .map(|m| Identity::of(file, &m));
    if let Some(checked) = identity.as_ref().and_then(|id| read(cache, id)) {
        return Ok(Some(Ok(checked)));
    }
    let mut text = String::new();
    opened
        .read_to_string(&mut text)
        .map_err(|e| cannot_read(file, &e))?;
    let Some(identity) = identity else {
        return Ok(Some(Checked::read(&text, Layer::User, Scope::Event(event))));
    };
    let checked = Checked::read(&text, Layer::User, Scope::Cache);
    if let Ok(rules) = &checked {
        if identity.settled() {
            // Best effort: without the cache the next event reads the file again.
            let _ = write(cache, identity, rules);
        }
    }
    Ok(Some(checked))
}

/// The cached rules when `cache` is the user's own, private, sound, and made from
/// the file `identity` names by this very hook.
fn read(cache: &Path, identity: &Identity) -> Option<Checked> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        rustix::fs::OFlags::NOFOLLOW.bits().cast_signed(),
    );
    let file = options.open(cache).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || !owned_by_me(&meta) || writable_by_others(&meta) || meta.len() > MAX_BYTES
    {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).ok()?);
    file.take(MAX_BYTES).read_to_end(&mut bytes).ok()?;
    let cached: CacheFile<Checked> = serde_json::from_slice(&bytes).ok()?;
    (cached.format == FORMAT && cached.hook == hook_version() && cached.file == *identity)
        .then_some(cached.rules)
}

/// Writes the cache beside itself, private to the user, and renames it in place,
/// so a reader never sees half of it.
fn write(cache: &Path, identity: Identity, rules: &Checked) -> std::io::Result<()> {
    let Some(dir) = cache.parent() else {
        return Ok(());
    };
    crate::private_dir(dir)?;
    let entry = CacheFile {
        format: FORMAT,
        hook: hook_version(),
        file: identity,
        rules,
    };
    let bytes = serde_json::to_vec(&entry)?;
    let tmp = dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            &mut options,
            rustix::fs::OFlags::NOFOLLOW.bits().cast_signed(),
        );
        let mut file = options.open(&tmp)?;
        // A file left by an earlier process of the same id keeps its mode: set it.
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(&bytes)?;
        // No fsync: a cache torn by a crash does not parse and is made again.
        std::fs::rename(&tmp, cache)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn hook_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn owned_by_me(m: &std::fs::Metadata) -> bool {
    std::os::unix::fs::MetadataExt::uid(m) == rustix::process::geteuid().as_raw()
}

fn writable_by_others(m: &std::fs::Metadata) -> bool {
    std::os::unix::fs::MetadataExt::mode(m) & 0o022 != 0
}
