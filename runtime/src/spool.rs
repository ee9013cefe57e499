//! The durable spool of records that only inform the service, and the background
//! process that delivers them.
//!
//! A hook never waits on the network for a record nobody waits for: it writes the
//! record to the spool (one file, written then renamed, so it is there whole or not
//! at all) and, unless a delivery process already runs, starts one detached from
//! Codex. The delivery process holds a lock for as long as it runs, sends the
//! records oldest first, several at a time over kept-alive connections, removes
//! each only once the service accepted it, backs off exponentially while the
//! service is down (retrying where it stopped, without listing the spool again),
//! keeps the spool within its size and age bounds (logging what it drops), and
//! exits when the spool stays empty. Killing either process at any moment repeats
//! a delivery at worst; it never loses one.
//!
//! Akto answers 422 to every failure, a passing one (a publish error) included, so
//! a 422 is not taken as final at once: the record waits and is tried again, with
//! a growing wait, and is set aside only once it has been refused
//! `refusal_budget` times and the service accepted other records after its first
//! refusal (so a service refusing everything sets nothing aside).

use crate::settings::Settings;
use crate::transport::{Post, Transport};
use codex_guard_common::spool::{
    self, SpoolStats, SpooledRecord, LOCK_FILE, REFUSALS_FILE, REJECTED_DIR, STATS_FILE, TMP_PREFIX,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
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
    /// Records in flight at once (one connection each).
    pub workers: usize,
    /// While draining, how often the spool is listed again (new records, bounds).
    pub rescan: Duration,
    /// Wait before a record answered 422 is tried again; doubled on each refusal.
    pub refusal_retry: Duration,
    /// Refusals after which a record is set aside (when the service meanwhile
    /// accepted others).
    pub refusal_budget: u32,
}

/// Longest wait before a refused record is tried again.
const MAX_REFUSAL_RETRY: Duration = Duration::from_secs(3600);
/// 422 answers in a row, without a success between them, that are taken as the
/// service failing (backed off from) rather than as refusals of single records.
const REFUSALS_IN_A_ROW: usize = 8;

impl Pacing {
    pub fn from_settings(s: &Settings) -> Pacing {
        let max_retry = Duration::from_millis(s.config.retry_max_ms.max(10));
        Pacing {
            first_retry: Duration::from_millis(250).min(max_retry),
            max_retry,
            linger: Duration::from_secs(2),
            poll: Duration::from_millis(50),
            give_up: Duration::from_secs(15 * 60).max(max_retry * 4),
            workers: 4,
            rescan: Duration::from_secs(10),
            refusal_retry: Duration::from_secs(30),
            refusal_budget: 5,
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
    /// is within its size bound. Returns the records left, oldest first, and what
    /// was dropped.
    fn enforce_bounds(&self, max_bytes: u64, max_age: Duration) -> (Vec<PathBuf>, Dropped) {
        let now = now_ms();
        let oldest_kept = now.saturating_sub(millis(max_age));
        let mut records = spool::pending(&self.dir);
        let mut dropped = Dropped::default();
        records.retain(|(path, len)| {
            let too_old = spool::created_ms_of(path).is_some_and(|ms| ms < oldest_kept);
            if too_old && std::fs::remove_file(path).is_ok() {
                dropped.add(path, *len, true);
            }
            !too_old
        });
        let mut total: u64 = records.iter().map(|(_, len)| len).sum();
        let mut first_kept = 0;
        while total > max_bytes && first_kept < records.len() {
            let (path, len) = &records[first_kept];
            if std::fs::remove_file(path).is_ok() {
                dropped.add(path, *len, false);
            }
            total -= len;
            first_kept += 1;
        }
        if dropped.count() > 0 {
            self.update_stats(|s| {
                s.dropped_age += dropped.by_age;
                s.dropped_size += dropped.by_size;
                s.last_drop_ms = Some(now);
            });
        }
        let left = records.drain(first_kept..).map(|(path, _)| path).collect();
        (left, dropped)
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

/// What one listing of the spool dropped to keep within its bounds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Dropped {
    by_age: u64,
    by_size: u64,
    bytes: u64,
    oldest_ms: Option<u64>,
    newest_ms: Option<u64>,
}

impl Dropped {
    fn add(&mut self, path: &Path, len: u64, by_age: bool) {
        if by_age {
            self.by_age += 1;
        } else {
            self.by_size += 1;
        }
        self.bytes += len;
        if let Some(ms) = spool::created_ms_of(path) {
            self.oldest_ms = Some(self.oldest_ms.map_or(ms, |o| o.min(ms)));
            self.newest_ms = Some(self.newest_ms.map_or(ms, |n| n.max(ms)));
        }
    }

    fn count(&self) -> u64 {
        self.by_age + self.by_size
    }

    /// Says in the audit log what was dropped, so a person reading `codex-guard
    /// events` sees the loss, not only a counter in the spool's stats.
    fn log(&self, s: &Settings) {
        let mut entry = serde_json::Map::new();
        entry.insert("ts".into(), json!(now_ms()));
        entry.insert("event".into(), json!(SPOOL_DROP_EVENT));
        entry.insert("decision".into(), json!("drop"));
        entry.insert("source".into(), json!("spool"));
        entry.insert(
            "dropped".into(),
            json!({"age": self.by_age, "size": self.by_size, "bytes": self.bytes,
                   "oldest_ms": self.oldest_ms, "newest_ms": self.newest_ms}),
        );
        entry.insert(
            "errors".into(),
            json!([format!(
                "spool: dropped {} undelivered record(s) ({} older than spool_max_age_hours = {}, \
                 {} oldest first to stay within spool_max_mb = {})",
                self.count(),
                self.by_age,
                s.config.spool_max_age_hours,
                self.by_size,
                s.config.spool_max_mb
            )]),
        );
        crate::log::append(&s.logs_dir(), &entry);
    }
}

/// The `event` of the audit-log line that reports records dropped from the spool.
pub const SPOOL_DROP_EVENT: &str = "SpoolDrop";

/// The retry budget of records answered 422, kept in [`REFUSALS_FILE`] by file name.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Refusal {
    /// Times refused.
    count: u32,
    /// First refusal (ms since the epoch).
    first_ms: u64,
    /// Not tried again before this (ms since the epoch).
    next_ms: u64,
}

type Refusals = BTreeMap<String, Refusal>;

/// Largest refusals file read; beyond it the budgets start again.
const MAX_REFUSALS_BYTES: u64 = 4 * 1024 * 1024;

impl Spool {
    /// The refusals so far, every value bounded (a wait never longer than
    /// [`MAX_REFUSAL_RETRY`] from now).
    fn load_refusals(&self, budget: u32) -> Refusals {
        let path = self.dir.join(REFUSALS_FILE);
        let too_big = std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_REFUSALS_BYTES);
        let mut refusals: Refusals = (!too_big)
            .then(|| std::fs::read(&path).ok())
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let now = now_ms();
        let latest = now.saturating_add(millis(MAX_REFUSAL_RETRY));
        for refusal in refusals.values_mut() {
            refusal.count = refusal.count.min(budget);
            refusal.first_ms = refusal.first_ms.min(now);
            refusal.next_ms = refusal.next_ms.min(latest);
        }
        refusals
    }

    fn save_refusals(&self, refusals: &Refusals) {
        let path = self.dir.join(REFUSALS_FILE);
        if refusals.is_empty() {
            let _ = std::fs::remove_file(&path);
            return;
        }
        let tmp = self.dir.join(format!("{TMP_PREFIX}{REFUSALS_FILE}"));
        let written = serde_json::to_vec(refusals)
            .map_err(std::io::Error::from)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
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
    /// Answers 422 (each retried, or set aside once its budget is used up).
    pub refused: usize,
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
    let mut refusals = spool.load_refusals(pacing.refusal_budget.max(1));
    let mut last_success_ms: Option<u64> = None;
    // The records listed and not yet sent, oldest first. Listed again when sent,
    // or every `rescan`; a failed call retries where it stopped.
    let mut queue: VecDeque<PathBuf> = VecDeque::new();
    let mut listed_at: Option<Instant> = None;
    loop {
        if queue.is_empty() || listed_at.is_none_or(|t| t.elapsed() >= pacing.rescan) {
            queue = spool.list_due(s, &mut refusals, max_bytes, max_age);
            listed_at = Some(Instant::now());
        }
        let Some(base) = s.remote().filter(|_| !queue.is_empty()) else {
            // Nothing to send (or no service configured: keep the records for when
            // one is). Linger, then let go of the lock and look once more, so a
            // record spooled while we were leaving is never stranded.
            let idle = *idle_since.get_or_insert_with(Instant::now);
            if idle.elapsed() < pacing.linger && s.remote().is_some() {
                std::thread::sleep(pacing.poll);
                continue;
            }
            drop(lock);
            // Records answered 422 and not due again yet wait for a later process
            // (the next event that spools a record starts one).
            let now = now_ms();
            let due = spool::pending(&spool.dir)
                .iter()
                .any(|(p, _)| refusals.get(&file_name(p)).is_none_or(|r| r.next_ms <= now));
            if s.remote().is_none() || !due {
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
        let until = listed_at.unwrap_or_else(Instant::now) + pacing.rescan;
        let batch = Batch::new(queue);
        std::thread::scope(|scope| {
            for _ in 0..pacing.workers.max(1) {
                scope.spawn(|| batch.work(&spool, s, base, transport, timeout, until));
            }
        });
        let outcome = batch.outcome;
        queue = outcome
            .queue
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let delivered = outcome.delivered.load(Ordering::SeqCst);
        run.delivered += delivered;
        run.set_aside += outcome.set_aside.load(Ordering::SeqCst);
        if delivered > 0 {
            last_success_ms = outcome.last_success_ms.into_inner().ok().flatten();
            retry = pacing.first_retry;
            failing_since = None;
        }
        let refused = outcome
            .refused
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if !refused.is_empty() {
            run.refused += refused.len();
            run.set_aside +=
                spool.account_refusals(&mut refusals, refused, last_success_ms, &pacing);
        }
        let failure = outcome
            .failure
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(error) = failure {
            run.failures += 1;
            let since = *failing_since.get_or_insert_with(Instant::now);
            spool.update_stats(|st| st.last_error = Some(error.clone()));
            if since.elapsed() >= pacing.give_up {
                return run;
            }
            std::thread::sleep(retry);
            retry = (retry * 2).min(pacing.max_retry);
        }
    }
}

impl Spool {
    /// The records to send now, oldest first, after the size and age bounds are
    /// enforced (what they drop is logged). Refusals of records gone are forgotten;
    /// refused records wait until they are due again.
    fn list_due(
        &self,
        s: &Settings,
        refusals: &mut Refusals,
        max_bytes: u64,
        max_age: Duration,
    ) -> VecDeque<PathBuf> {
        let (records, dropped) = self.enforce_bounds(max_bytes, max_age);
        if dropped.count() > 0 {
            dropped.log(s);
        }
        let names: HashSet<String> = records.iter().map(|p| file_name(p)).collect();
        let before = refusals.len();
        refusals.retain(|name, _| names.contains(name));
        if refusals.len() != before {
            self.save_refusals(refusals);
        }
        let now = now_ms();
        records
            .into_iter()
            .filter(|p| refusals.get(&file_name(p)).is_none_or(|r| r.next_ms <= now))
            .collect()
    }

    /// Counts the 422 answers of one batch against each record's budget: sets
    /// aside the records that used it up while the service accepted other records
    /// after their first refusal, and schedules the others' next try. Returns how
    /// many were set aside.
    fn account_refusals(
        &self,
        refusals: &mut Refusals,
        refused: Vec<(PathBuf, String)>,
        last_success_ms: Option<u64>,
        pacing: &Pacing,
    ) -> usize {
        let now = now_ms();
        let budget = pacing.refusal_budget.max(1);
        let mut set_aside = 0;
        let mut retried = 0;
        for (path, error) in refused {
            let name = file_name(&path);
            let refusal = refusals.entry(name.clone()).or_default();
            if refusal.count == 0 {
                refusal.first_ms = now;
            }
            refusal.count = (refusal.count + 1).min(budget);
            let others_accepted = last_success_ms.is_some_and(|ms| ms > refusal.first_ms);
            if refusal.count >= budget && others_accepted {
                let minutes = now.saturating_sub(refusal.first_ms) / 60_000;
                self.set_aside(
                    &path,
                    false,
                    &format!(
                        "{error} (refused {budget} times over {minutes} min while the service \
                         accepted other records)"
                    ),
                );
                refusals.remove(&name);
                set_aside += 1;
            } else {
                let doublings = refusal.count.saturating_sub(1).min(16);
                let wait = pacing
                    .refusal_retry
                    .saturating_mul(1 << doublings)
                    .min(MAX_REFUSAL_RETRY);
                refusal.next_ms = now.saturating_add(millis(wait));
                retried += 1;
            }
        }
        self.save_refusals(refusals);
        if retried > 0 {
            self.update_stats(|s| s.refusals_retried += retried);
        }
        set_aside
    }
}

/// One stretch of delivery by several workers, until the queue is sent, a call
/// fails, or it is time to list the spool again.
struct Batch {
    outcome: BatchOutcome,
}

#[derive(Default)]
struct BatchOutcome {
    queue: Mutex<VecDeque<PathBuf>>,
    delivered: AtomicUsize,
    set_aside: AtomicUsize,
    /// 422 answers in a row, across workers.
    refused_in_a_row: AtomicUsize,
    refused: Mutex<Vec<(PathBuf, String)>>,
    last_success_ms: Mutex<Option<u64>>,
    /// The error that stopped the batch (the service is failing).
    failure: Mutex<Option<String>>,
    stop: AtomicBool,
}

impl Batch {
    fn new(queue: VecDeque<PathBuf>) -> Batch {
        Batch {
            outcome: BatchOutcome {
                queue: Mutex::new(queue),
                ..BatchOutcome::default()
            },
        }
    }

    fn fail(&self, error: String) {
        let o = &self.outcome;
        o.stop.store(true, Ordering::SeqCst);
        let mut failure = o.failure.lock().unwrap_or_else(PoisonError::into_inner);
        failure.get_or_insert(error);
    }

    fn work(
        &self,
        spool: &Spool,
        s: &Settings,
        base: &str,
        transport: &dyn Transport,
        timeout: Duration,
        until: Instant,
    ) {
        let o = &self.outcome;
        while !o.stop.load(Ordering::SeqCst) && Instant::now() < until {
            let Some(path) = o
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
            else {
                return;
            };
            let record: SpooledRecord = match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(record) => record,
                // Removed meanwhile (another process delivered it before a crash).
                Err(_) if !path.exists() => continue,
                Err(e) => {
                    spool.set_aside(&path, true, &format!("unreadable record: {e}"));
                    o.set_aside.fetch_add(1, Ordering::SeqCst);
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
                    o.delivered.fetch_add(1, Ordering::SeqCst);
                    o.refused_in_a_row.store(0, Ordering::SeqCst);
                    *o.last_success_ms
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(now_ms());
                }
                Err(e) if e.status == Some(422) => {
                    o.refused
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((path, e.message.clone()));
                    if o.refused_in_a_row.fetch_add(1, Ordering::SeqCst) + 1 >= REFUSALS_IN_A_ROW {
                        self.fail(e.message);
                    }
                }
                Err(e) if !e.retryable => {
                    spool.set_aside(&path, false, &e.message);
                    o.set_aside.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    o.queue
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_front(path);
                    self.fail(e.message);
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
        .map(millis)
        .unwrap_or_default()
}

/// A duration in whole milliseconds, saturating at `u64::MAX` (half a billion years)
/// instead of wrapping.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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
    use std::collections::HashSet;

    struct Scripted {
        /// Answers in order; when exhausted, every call succeeds.
        answers: Mutex<Vec<Result<(), SendError>>>,
        seen: Mutex<Vec<String>>,
    }

    impl Scripted {
        fn new(answers: Vec<Result<(), SendError>>) -> Scripted {
            Scripted {
                answers: Mutex::new(answers),
                seen: Mutex::new(Vec::new()),
            }
        }

        fn seen(&self) -> Vec<String> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl Transport for Scripted {
        fn post_json(&self, post: &Post<'_>) -> Result<Vec<u8>, SendError> {
            self.seen.lock().unwrap().push(post.id.unwrap().to_string());
            let mut answers = self.answers.lock().unwrap();
            if answers.is_empty() {
                return Ok(b"{}".to_vec());
            }
            answers.remove(0).map(|()| b"{}".to_vec())
        }
    }

    /// Answers each record by its id.
    struct ById<F>(F, Mutex<Vec<String>>);

    impl<F: Fn(&str) -> Result<(), SendError> + Sync> Transport for ById<F> {
        fn post_json(&self, post: &Post<'_>) -> Result<Vec<u8>, SendError> {
            let id = post.id.unwrap();
            self.1.lock().unwrap().push(id.to_string());
            (self.0)(id).map(|()| b"{}".to_vec())
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
            workers: 1,
            rescan: Duration::from_secs(10),
            refusal_retry: Duration::from_millis(1),
            refusal_budget: 3,
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
        let down = || Err(SendError::outage("connection refused"));
        let transport = Scripted::new(vec![down(), down(), Ok(()), down()]);
        let run = deliver(&s, &transport, fast());
        assert_eq!(run.delivered, 3);
        assert_eq!(run.failures, 3);
        assert_eq!(transport.seen(), ["c", "c", "c", "a", "a", "b"]);
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
        let transport = Scripted::new(vec![Err(SendError::status(400, "HTTP 400: bad"))]);
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
        let (left, dropped) = spool.enforce_bounds(1024 * 1024, Duration::from_secs(3600));
        assert_eq!((dropped.by_age, dropped.by_size), (1, 1));
        assert_eq!(dropped.oldest_ms, Some(now - 2 * 3600 * 1000));
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
    fn what_the_bounds_drop_is_logged_in_the_audit_log() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "spool_max_mb = 1\n");
        let spool = Spool::new(s.layout.spool_dir());
        let now = now_ms();
        for (i, id) in ["big1", "big2", "big3"].iter().enumerate() {
            let big = SpooledRecord {
                body: "x".repeat(400 * 1024),
                ..record(id, now - 100 + i as u64)
            };
            spool.write(&big).unwrap();
        }
        let transport = Scripted::new(Vec::new());
        assert_eq!(deliver(&s, &transport, fast()).delivered, 2);
        let log = std::fs::read_to_string(s.logs_dir().join(crate::log::LOG_FILE)).unwrap();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{log}");
        let line = &lines[0];
        assert_eq!(line["event"], SPOOL_DROP_EVENT);
        assert_eq!(line["decision"], "drop");
        assert_eq!(line["dropped"]["size"], 1);
        assert_eq!(line["dropped"]["age"], 0);
        assert_eq!(line["dropped"]["oldest_ms"], now - 100);
        assert!(line["errors"][0]
            .as_str()
            .unwrap()
            .contains("spool_max_mb = 1"));
        assert_eq!(SpoolStats::load(&spool.dir).dropped_size, 1);
    }

    #[test]
    fn only_one_delivery_process_runs_at_a_time() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "");
        let spool = Spool::new(s.layout.spool_dir());
        spool.write(&record("x", now_ms())).unwrap();
        let held = spool.try_take().unwrap();
        assert!(spool.deliverer_running());
        let transport = Scripted::new(Vec::new());
        assert!(!deliver(&s, &transport, fast()).ran);
        drop(held);
        assert!(!spool.deliverer_running());
        assert_eq!(deliver(&s, &transport, fast()).delivered, 1);
    }

    #[test]
    fn a_422_is_retried_within_a_budget_and_only_a_proven_refusal_is_set_aside() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "");
        let spool = Spool::new(s.layout.spool_dir());
        let now = now_ms();
        // "poison" is refused every time; "flaky" twice, then accepted; the others
        // are accepted, and keep arriving, so the service is shown to take records.
        for (i, id) in ["poison", "flaky", "ok1"].iter().enumerate() {
            spool.write(&record(id, now - 100 + i as u64)).unwrap();
        }
        let flaky = AtomicUsize::new(0);
        let ok_sent = AtomicUsize::new(0);
        let transport = ById(
            |id: &str| match id {
                "poison" => Err(SendError::status(422, "HTTP 422: unprocessable")),
                "flaky" if flaky.fetch_add(1, Ordering::SeqCst) < 2 => {
                    Err(SendError::status(422, "HTTP 422: publish failed"))
                }
                _ => {
                    // Another record spooled meanwhile, accepted.
                    let n = ok_sent.fetch_add(1, Ordering::SeqCst);
                    if n < 6 {
                        spool
                            .write(&record(&format!("ok-more{n}"), now_ms()))
                            .unwrap();
                    }
                    Ok(())
                }
            },
            Mutex::new(Vec::new()),
        );
        // Lingering long enough for a refused record to be due again.
        let pacing = Pacing {
            linger: Duration::from_millis(200),
            ..fast()
        };
        let run = deliver(&s, &transport, pacing);
        let seen = transport.1.lock().unwrap().clone();
        let tries = |id: &str| seen.iter().filter(|s| *s == id).count();
        assert_eq!(tries("poison"), 3, "{seen:?}");
        assert_eq!(tries("flaky"), 3, "{seen:?}");
        assert_eq!(run.set_aside, 1);
        assert_eq!(run.refused, 5);
        assert_eq!(spool::rejected(&spool.dir), 1);
        let stats = SpoolStats::load(&spool.dir);
        assert_eq!((stats.rejected, stats.refusals_retried), (1, 4));
        assert!(stats.last_error.unwrap().contains("refused 3 times"));
        assert!(spool::pending(&spool.dir).is_empty());
        assert!(!spool.dir.join(REFUSALS_FILE).exists());
    }

    #[test]
    fn a_service_answering_422_to_everything_sets_nothing_aside() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "");
        let spool = Spool::new(s.layout.spool_dir());
        let now = now_ms();
        for i in 0..20 {
            spool
                .write(&record(&format!("r{i:02}"), now - 100 + i))
                .unwrap();
        }
        let transport = ById(
            |_: &str| Err(SendError::status(422, "HTTP 422: publish failed")),
            Mutex::new(Vec::new()),
        );
        let pacing = Pacing {
            give_up: Duration::from_millis(300),
            ..fast()
        };
        let run = deliver(&s, &transport, pacing);
        assert_eq!(run.set_aside, 0);
        assert!(run.failures > 0, "a wall of 422s is backed off from");
        assert_eq!(spool::pending(&spool.dir).len(), 20);
        assert_eq!(spool::rejected(&spool.dir), 0);
    }

    #[test]
    fn several_workers_deliver_everything_once() {
        let home = tempfile::tempdir().unwrap();
        let s = settings(home.path(), "");
        let spool = Spool::new(s.layout.spool_dir());
        let now = now_ms();
        for i in 0..500 {
            spool
                .write(&record(&format!("r{i:03}"), now - 1000 + i))
                .unwrap();
        }
        let calls = AtomicUsize::new(0);
        let transport = ById(
            |_: &str| {
                // Every 50th call fails once: workers stop, back off, resume.
                if calls.fetch_add(1, Ordering::SeqCst) % 50 == 49 {
                    Err(SendError::outage("connection reset"))
                } else {
                    Ok(())
                }
            },
            Mutex::new(Vec::new()),
        );
        let run = deliver(
            &s,
            &transport,
            Pacing {
                workers: 8,
                ..fast()
            },
        );
        assert_eq!(run.delivered, 500);
        assert!(run.failures >= 9);
        assert!(spool::pending(&spool.dir).is_empty());
        let seen = transport.1.lock().unwrap().clone();
        let distinct: HashSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), 500);
        // Only a failed call is repeated.
        assert_eq!(seen.len(), 500 + run.failures);
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
