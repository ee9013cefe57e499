//! The durable spool of records that only inform the service, and the background
//! process that delivers them.
//!
//! A hook never waits on the network for a record nobody waits for: it writes the
//! record to the spool (one file, written then renamed, so it is there whole or not
//! at all) and, unless a delivery process already runs, starts one detached from
//! Codex. The delivery process holds a lock for as long as it runs, sends the
//! records oldest first, removes each only once the service accepted it, backs
//! off exponentially while the service is down, keeps the spool within its size
//! and age bounds, and exits when the spool stays empty. Killing either process at
//! any moment repeats a delivery at worst; it never loses one.

use crate::settings::Settings;
use crate::transport::{Post, Transport};
use codex_guard_common::spool::{
    self, SpoolStats, SpooledRecord, LOCK_FILE, REJECTED_DIR, STATS_FILE, TMP_PREFIX,
};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The argument that makes `codex-guard-hook` the delivery process.
pub const DELIVER_ARG: &str = "--deliver";

/// How the delivery process paces itself.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// First wait after a failed delivery; doubled on each failure in a row.
    pub first_retry: Duration,
    /// Longest wait between two attempts.
    pub max_retry: Duration,
    /// How long the process stays once the spool is empty, so a burst of events
    /// does not start one process per event.
    pub linger: Duration,
    /// How often it looks for new records while lingering.
    pub poll: Duration,
    /// After failing for this long without a single success, the process exits;
    /// the next hook starts a new one.
    pub give_up: Duration,
}

impl Pacing {
    pub fn from_settings(s: &Settings) -> Pacing {
        let max_retry = Duration::from_millis(s.config.retry_max_ms.max(10));
        Pacing {
            first_retry: Duration::from_millis(250).min(max_retry),
            max_retry,
            linger: Duration::from_secs(2),
            poll: Duration::from_millis(50),
            give_up: Duration::from_secs(15 * 60).max(max_retry * 4),
        }
    }
}

/// The spool directory of one Codex home.
#[derive(Debug, Clone)]
pub struct Spool {
    pub dir: PathBuf,
}

impl Spool {
    pub fn new(dir: PathBuf) -> Spool {
        Spool { dir }
    }

    /// Writes a record durably: temporary file, data synced, renamed into place.
    pub fn write(&self, record: &SpooledRecord) -> std::io::Result<()> {
        crate::private_dir(&self.dir)?;
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}", record.id));
        let mut bytes = serde_json::to_vec(record)?;
        bytes.push(b'\n');
        let result = (|| {
            let mut file = private_file(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_data()?;
            std::fs::rename(&tmp, self.dir.join(record.file_name()))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// True when a delivery process holds the lock.
    pub fn deliverer_running(&self) -> bool {
        match self.open_lock() {
            Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }

    /// Starts `exe --deliver` detached from Codex (own process group, no stdio)
    /// unless one already runs. The child inherits our environment, so it finds
    /// the same configuration.
    pub fn ensure_deliverer(
        &self,
        exe: &Path,
        machine_config: Option<&Path>,
    ) -> std::io::Result<bool> {
        if self.deliverer_running() {
            return Ok(false);
        }
        let mut command = std::process::Command::new(exe);
        if let Some(config) = machine_config {
            command
                .arg(codex_guard_common::layout::MACHINE_CONFIG_ARG)
                .arg(config);
        }
        command
            .arg(DELIVER_ARG)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        command.spawn().map(|_| true)
    }

    fn open_lock(&self) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(self.dir.join(LOCK_FILE))
    }

    /// Takes the delivery lock, or `None` when another process holds it.
    fn try_take(&self) -> Option<File> {
        crate::private_dir(&self.dir).ok()?;
        let mut file = self.open_lock().ok()?;
        file.try_lock().ok()?;
        let _ = file.set_len(0);
        let _ = write!(file, "{}", std::process::id());
        Some(file)
    }

    fn update_stats(&self, change: impl FnOnce(&mut SpoolStats)) {
        let mut stats = SpoolStats::load(&self.dir);
        change(&mut stats);
        let tmp = self.dir.join(format!("{TMP_PREFIX}{STATS_FILE}"));
        let written = serde_json::to_vec_pretty(&stats)
            .map_err(std::io::Error::from)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, self.dir.join(STATS_FILE)));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// Drops what is past the age bound, then the oldest records until the spool
    /// is within its size bound. Returns the records left, oldest first.
    fn enforce_bounds(&self, max_bytes: u64, max_age: Duration) -> Vec<PathBuf> {
        let now = now_ms();
        let oldest_kept = now.saturating_sub(max_age.as_millis() as u64);
        let mut records = spool::pending(&self.dir);
        let (mut by_age, mut by_size) = (0, 0);
        records.retain(|(path, _)| {
            let too_old = spool::created_ms_of(path).is_some_and(|ms| ms < oldest_kept);
            if too_old && std::fs::remove_file(path).is_ok() {
                by_age += 1;
            }
            !too_old
        });
        let mut total: u64 = records.iter().map(|(_, len)| len).sum();
        let mut first_kept = 0;
        while total > max_bytes && first_kept < records.len() {
            let (path, len) = &records[first_kept];
            if std::fs::remove_file(path).is_ok() {
                by_size += 1;
            }
            total -= len;
            first_kept += 1;
        }
        if by_age + by_size > 0 {
            self.update_stats(|s| {
                s.dropped_age += by_age;
                s.dropped_size += by_size;
                s.last_drop_ms = Some(now);
            });
        }
        records.drain(first_kept..).map(|(path, _)| path).collect()
    }

    /// Moves a record the service refused for good (or that cannot be read) out of
    /// the way, keeping it for a person to look at.
    fn set_aside(&self, path: &Path, corrupt: bool, error: &str) {
        let rejected = self.dir.join(REJECTED_DIR);
        let moved = crate::private_dir(&rejected).and_then(|()| {
            std::fs::rename(path, rejected.join(path.file_name().unwrap_or_default()))
        });
        if moved.is_err() {
            let _ = std::fs::remove_file(path);
        }
        self.update_stats(|s| {
            if corrupt {
                s.dropped_corrupt += 1;
            } else {
                s.rejected += 1;
            }
            s.last_drop_ms = Some(now_ms());
            s.last_error = Some(error.to_string());
        });
    }
}

/// Where a record goes: the service configured now (not the one of when it was
/// spooled) and the record's path and query.
pub fn record_url(base: &str, record: &SpooledRecord) -> String {
    format!("{}{}", base.trim_end_matches('/'), record.target)
}

/// What one run of the delivery process did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeliveryRun {
    /// False when another delivery process held the lock.
    pub ran: bool,
    pub delivered: usize,
    pub failures: usize,
    pub set_aside: usize,
}

/// The delivery process: drains the spool, then exits. Returns at once when
/// another delivery process holds the lock.
pub fn deliver(s: &Settings, transport: &dyn Transport, pacing: Pacing) -> DeliveryRun {
    let spool = Spool::new(s.layout.spool_dir());
    let mut run = DeliveryRun::default();
    let Some(mut lock) = spool.try_take() else {
        return run;
    };
    run.ran = true;
    let max_bytes = s.config.spool_max_mb.saturating_mul(1024 * 1024);
    let max_age = Duration::from_secs(s.config.spool_max_age_hours.saturating_mul(3600));
    let timeout = Duration::from_millis(s.config.timeout_ms.max(1));
    let mut retry = pacing.first_retry;
    let mut failing_since: Option<Instant> = None;
    let mut idle_since: Option<Instant> = None;
    loop {
        let records = spool.enforce_bounds(max_bytes, max_age);
        let Some(base) = s.remote().filter(|_| !records.is_empty()) else {
            // Nothing to send (or no service configured: keep the records for when
            // one is). Linger, then let go of the lock and look once more, so a
            // record spooled while we were leaving is never stranded.
            let idle = *idle_since.get_or_insert_with(Instant::now);
            if idle.elapsed() < pacing.linger && s.remote().is_some() {
                std::thread::sleep(pacing.poll);
                continue;
            }
            drop(lock);
            if s.remote().is_none() || spool::pending(&spool.dir).is_empty() {
                return run;
            }
            match spool.try_take() {
                Some(again) => {
                    lock = again;
                    idle_since = None;
                    continue;
                }
                None => return run,
            }
        };
        idle_since = None;
        for path in records {
            let record: SpooledRecord = match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(record) => record,
                // Removed meanwhile (another process delivered it before a crash).
                Err(_) if !path.exists() => continue,
                Err(e) => {
                    spool.set_aside(&path, true, &format!("unreadable record: {e}"));
                    run.set_aside += 1;
                    continue;
                }
            };
            let url = record_url(base, &record);
            let post = Post {
                url: &url,
                token: s.token.as_deref(),
                body: record.body.as_bytes(),
                id: Some(&record.id),
                timeout,
            };
            match transport.post_json(&post) {
                Ok(_) => {
                    let _ = std::fs::remove_file(&path);
                    run.delivered += 1;
                    retry = pacing.first_retry;
                    failing_since = None;
                }
                Err(e) if !e.retryable => {
                    spool.set_aside(&path, false, &e.message);
                    run.set_aside += 1;
                }
                Err(e) => {
                    run.failures += 1;
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    spool.update_stats(|st| st.last_error = Some(e.message.clone()));
                    if since.elapsed() >= pacing.give_up {
                        return run;
                    }
                    std::thread::sleep(retry);
                    retry = (retry * 2).min(pacing.max_retry);
                    break;
                }
            }
        }
    }
}

fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A random 128-bit id in UUID v4 form, from the OS-seeded hasher keys of std (no
/// extra crate, no file read).
pub fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        h.finish()
    };
    let (a, b) = (half(1), half(2));
    let bytes: u128 = (u128::from(a) << 64) | u128::from(b);
    // Version 4, variant 10.
    let bytes = (bytes & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bytes:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::SendError;
    use std::cell::RefCell;
    use std::collections::HashSet;

    struct Scripted {
        /// Answers in order; when exhausted, every call succeeds.
        answers: RefCell<Vec<Result<(), SendError>>>,
        seen: RefCell<Vec<String>>,
    }

    impl Transport for Scripted {
        fn post_json(&self, post: &Post<'_>) -> Result<Vec<u8>, SendError> {
            self.seen.borrow_mut().push(post.id.unwrap().to_string());
            let mut answers = self.answers.borrow_mut();
            if answers.is_empty() {
                return Ok(b"{}".to_vec());
            }
            answers.remove(0).map(|()| b"{}".to_vec())
        }
    }

    fn settings(home: &Path, extra: &str) -> Settings {
        let guard = home.join("codex-guard");
        std::fs::create_dir_all(&guard).unwrap();
        let config = guard.join("config.toml");
        std::fs::write(&config, format!("url = \"http://127.0.0.1:9\"\n{extra}")).unwrap();
        let config = config.to_string_lossy().into_owned();
        let env = move |k: &str| (k == "CODEX_GUARD_CONFIG").then(|| config.clone());
        Settings::load(&env, None)
    }

    fn record(id: &str, created_ms: u64) -> SpooledRecord {
        SpooledRecord {
            id: id.into(),
            created_ms,
            event: "PostToolUse".into(),
            target: "/api/http-proxy?akto_connector=codex_cli&ingest_data=true".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    fn fast() -> Pacing {
        Pacing {
            first_retry: Duration::from_millis(1),
            max_retry: Duration::from_millis(4),
            linger: Duration::ZERO,
            poll: Duration::from_millis(1),
            give_up: Duration::from_secs(30),
        }
    }

    #[test]
    fn records_are_delivered_oldest_first_and_retried_until_accepted() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "");
        let spool = Spool::new(s.layout.spool_dir());
        let now = now_ms();
        for (i, id) in ["c", "a", "b"].iter().enumerate() {
            spool.write(&record(id, now - 10 + i as u64)).unwrap();
        }
        let down = || {
            Err(SendError {
                message: "connection refused".into(),
                retryable: true,
            })
        };
        let transport = Scripted {
            answers: RefCell::new(vec![down(), down(), Ok(()), down()]),
            seen: RefCell::new(Vec::new()),
        };
        let run = deliver(&s, &transport, fast());
        assert_eq!(run.delivered, 3);
        assert_eq!(run.failures, 3);
        assert_eq!(*transport.seen.borrow(), ["c", "c", "c", "a", "a", "b"]);
        assert!(spool::pending(&spool.dir).is_empty());
        assert!(SpoolStats::load(&spool.dir).last_error.is_some());
    }

    #[test]
    fn refused_and_corrupt_records_are_set_aside_and_counted() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "");
        let spool = Spool::new(s.layout.spool_dir());
        spool.write(&record("refused", now_ms())).unwrap();
        let broken = format!("{:013}-broken.json", now_ms());
        std::fs::write(spool.dir.join(broken), "{").unwrap();
        let transport = Scripted {
            answers: RefCell::new(vec![Err(SendError {
                message: "HTTP 422: bad".into(),
                retryable: false,
            })]),
            seen: RefCell::new(Vec::new()),
        };
        let run = deliver(&s, &transport, fast());
        assert_eq!(run.set_aside, 2);
        let stats = SpoolStats::load(&spool.dir);
        assert_eq!((stats.rejected, stats.dropped_corrupt), (1, 1));
        assert_eq!(spool::rejected(&spool.dir), 2);
        assert!(spool::pending(&spool.dir).is_empty());
    }

    #[test]
    fn the_spool_is_bounded_by_age_and_size() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "spool_max_age_hours = 1\nspool_max_mb = 1\n");
        let spool = Spool::new(s.layout.spool_dir());
        let now = now_ms();
        spool
            .write(&record("ancient", now - 2 * 3600 * 1000))
            .unwrap();
        let big = |id: &str, ms| SpooledRecord {
            body: "x".repeat(400 * 1024),
            ..record(id, ms)
        };
        for (i, id) in ["big1", "big2", "big3"].iter().enumerate() {
            spool.write(&big(id, now - 100 + i as u64)).unwrap();
        }
        let left = spool.enforce_bounds(1024 * 1024, Duration::from_secs(3600));
        let names: Vec<_> = left
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names[0].ends_with("-big2.json") && names[1].ends_with("-big3.json"));
        let stats = SpoolStats::load(&spool.dir);
        assert_eq!((stats.dropped_age, stats.dropped_size), (1, 1));
    }

    #[test]
    fn only_one_delivery_process_runs_at_a_time() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "");
        let spool = Spool::new(s.layout.spool_dir());
        spool.write(&record("x", now_ms())).unwrap();
        let held = spool.try_take().unwrap();
        assert!(spool.deliverer_running());
        let transport = Scripted {
            answers: RefCell::new(Vec::new()),
            seen: RefCell::new(Vec::new()),
        };
        assert!(!deliver(&s, &transport, fast()).ran);
        drop(held);
        assert!(!spool.deliverer_running());
        assert_eq!(deliver(&s, &transport, fast()).delivered, 1);
    }

    #[test]
    fn ids_are_unique_uuids() {
        let ids: HashSet<String> = (0..2000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 2000);
        let id = ids.iter().next().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
