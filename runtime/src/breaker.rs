//! The circuit breaker in front of the guardrail service, shared by every hook
//! process of a user through a small state file, so an outage costs one deadline,
//! not one per event.
//!
//! Closed, every blocking event asks the service. When a call times out or cannot
//! reach the service, the breaker opens: for a cool-down (`breaker_cooldown_ms`,
//! doubled on each failed probe up to [`MAX_COOLDOWN`]) events are decided at once
//! by the fail policy, and the audit log says so. When the cool-down is over, one
//! event (the probe) asks the service while the others keep being decided at once;
//! a probe that gets an answer closes the breaker, one that fails opens it again
//! for longer.
//!
//! The state belongs to one service (its URL): a state left by another service, say
//! one an environment override pointed at for a while, reads as closed.
//!
//! The state file lives in the user's own state directory and is read under an
//! exclusive lock. Whatever it holds, every value read is bounded: an opening never
//! lasts longer than [`MAX_COOLDOWN`] and a probe never longer than one deadline, so
//! a garbage or hostile file can at worst cost one probe per minute, never keep the
//! hook failing open; a file that is not a state at all reads as closed. A lock
//! another process keeps for longer than [`LOCK_WAIT`] is ignored (the service is
//! asked), so it cannot stall the hook either.

use crate::spool::{millis, now_ms};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The state file, in the state directory.
pub const STATE_FILE: &str = "breaker.json";
/// Longest cool-down, however often the service failed.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(60);
/// How long a hook waits for another to release the state file.
const LOCK_WAIT: Duration = Duration::from_millis(20);
/// Largest state file read; a real one is about 200 bytes.
const MAX_STATE_BYTES: u64 = 4096;
/// Failures counted at most (the cool-down stops growing long before).
const MAX_FAILURES: u32 = 32;
/// Longest error text kept in the state.
const MAX_ERROR_CHARS: usize = 200;

/// What the breaker lets this event do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Closed: ask the service.
    Call,
    /// The cool-down is over and this event is the one that asks the service.
    Probe,
    /// Open: do not ask; the fail policy decides.
    Open {
        /// Failures in a row so far.
        failures: u32,
        /// Until the next probe may ask the service.
        retry_in: Duration,
        /// What the last failure was.
        last_error: String,
    },
}

/// The state as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct State {
    /// The service (base URL) this state is about.
    service: String,
    /// Failures in a row; 0 means closed.
    failures: u32,
    /// Until when (ms since the epoch) events are decided without asking.
    open_until_ms: u64,
    /// Until when a probe is under way (ms since the epoch).
    probe_until_ms: u64,
    last_error: String,
}

impl State {
    /// The state with every value brought within what this breaker could have
    /// written at `now`.
    fn bounded(mut self, now: u64, call_ms: u64) -> State {
        self.failures = self.failures.min(MAX_FAILURES);
        self.open_until_ms = self
            .open_until_ms
            .min(now.saturating_add(millis(MAX_COOLDOWN)));
        self.probe_until_ms = self.probe_until_ms.min(now.saturating_add(call_ms));
        if self.last_error.chars().count() > MAX_ERROR_CHARS {
            self.last_error = self.last_error.chars().take(MAX_ERROR_CHARS).collect();
        }
        self
    }
}

/// One user's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    path: PathBuf,
    service: String,
    first_cooldown: Duration,
    /// The longest a call to the service may take (the hook's deadline): a probe
    /// that has not reported back by then is taken as lost.
    call: Duration,
}

impl Breaker {
    /// The breaker of `service` (its base URL) whose state is
    /// `state_dir`/[`STATE_FILE`]; `None` when the cool-down is 0 (turned off).
    pub fn new(
        state_dir: &Path,
        service: &str,
        cooldown: Duration,
        call: Duration,
    ) -> Option<Breaker> {
        (!cooldown.is_zero()).then(|| Breaker {
            path: state_dir.join(STATE_FILE),
            service: service.to_string(),
            first_cooldown: cooldown.min(MAX_COOLDOWN),
            call,
        })
    }

    /// Whether this event may ask the service. A breaker whose state cannot be
    /// read or locked lets it ask.
    pub fn admit(&self) -> Admission {
        let now = now_ms();
        let Some(mut locked) = self.lock() else {
            return Admission::Call;
        };
        let state = locked.read(&self.service, now, self.call_ms());
        if state.failures == 0 {
            return Admission::Call;
        }
        if now < state.open_until_ms || now < state.probe_until_ms {
            return Admission::Open {
                failures: state.failures,
                retry_in: Duration::from_millis(
                    state
                        .open_until_ms
                        .max(state.probe_until_ms)
                        .saturating_sub(now),
                ),
                last_error: state.last_error,
            };
        }
        let claimed = State {
            probe_until_ms: now.saturating_add(self.call_ms()),
            ..state
        };
        if locked.write(&claimed).is_err() {
            // Nobody else will see the claim: ask, as if closed.
            return Admission::Call;
        }
        Admission::Probe
    }

    /// Reports how the call this breaker admitted went: `Ok` when the service
    /// answered (whatever the answer), else the error of a failure that opens it.
    pub fn record(&self, admitted: &Admission, outcome: Result<(), &str>) {
        // Not asked: nothing to report. Asked while closed and answered: still
        // closed, unless another hook opened it meanwhile, which its own probe
        // will undo; the common case costs no file access.
        if matches!(admitted, Admission::Open { .. })
            || (*admitted == Admission::Call && outcome.is_ok())
        {
            return;
        }
        let now = now_ms();
        let Some(mut locked) = self.lock() else {
            return;
        };
        let state = locked.read(&self.service, now, self.call_ms());
        let next = match outcome {
            Ok(()) if state.failures == 0 => return,
            Ok(()) => State {
                service: self.service.clone(),
                ..State::default()
            },
            // Several events that were already under way when the service went
            // away: one opening, not one per event.
            Err(_) if *admitted == Admission::Call && now < state.open_until_ms => return,
            Err(error) => {
                let failures = (state.failures + 1).min(MAX_FAILURES);
                State {
                    service: self.service.clone(),
                    failures,
                    open_until_ms: now.saturating_add(millis(self.cooldown(failures))),
                    probe_until_ms: 0,
                    last_error: error.chars().take(MAX_ERROR_CHARS).collect(),
                }
            }
        };
        let _ = locked.write(&next);
    }

    /// The cool-down after `failures` failures in a row.
    fn cooldown(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(16);
        self.first_cooldown
            .saturating_mul(1 << doublings)
            .min(MAX_COOLDOWN)
            .max(self.first_cooldown)
    }

    fn call_ms(&self) -> u64 {
        millis(self.call)
    }

    fn lock(&self) -> Option<Locked> {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = match options.open(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::private_dir(self.path.parent()?).ok()?;
                options.open(&self.path).ok()?
            }
            opened => opened.ok()?,
        };
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Some(Locked(file)),
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return None,
            }
        }
    }
}

/// The state file, locked until dropped.
struct Locked(File);

impl Locked {
    /// The state of `service`: closed when the file holds none (or another
    /// service's).
    fn read(&mut self, service: &str, now: u64, call_ms: u64) -> State {
        let mut bytes = Vec::new();
        let read = (&mut self.0).take(MAX_STATE_BYTES).read_to_end(&mut bytes);
        read.ok()
            .and_then(|_| serde_json::from_slice::<State>(&bytes).ok())
            .filter(|state| state.service == service)
            .unwrap_or_default()
            .bounded(now, call_ms)
    }

    fn write(&mut self, state: &State) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(state)?;
        self.0.rewind()?;
        self.0.set_len(0)?;
        self.0.write_all(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "https://akto.example";

    fn breaker(dir: &Path, cooldown_ms: u64) -> Breaker {
        Breaker::new(
            dir,
            SERVICE,
            Duration::from_millis(cooldown_ms),
            Duration::from_millis(500),
        )
        .unwrap()
    }

    #[test]
    fn a_failure_opens_it_one_probe_at_a_time_closes_it() {
        let dir = tempfile::tempdir().unwrap();
        let b = breaker(dir.path(), 100);
        assert_eq!(b.admit(), Admission::Call);
        b.record(&Admission::Call, Err("timed out"));
        let Admission::Open {
            failures,
            retry_in,
            last_error,
        } = b.admit()
        else {
            panic!("open after a failure");
        };
        assert_eq!((failures, last_error.as_str()), (1, "timed out"));
        assert!(retry_in <= Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(b.admit(), Admission::Probe);
        // While the probe is under way, the others do not ask.
        assert!(matches!(b.admit(), Admission::Open { .. }));
        b.record(&Admission::Probe, Ok(()));
        assert_eq!(b.admit(), Admission::Call);
    }

    #[test]
    fn the_cool_down_grows_on_failed_probes_and_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let b = breaker(dir.path(), 1000);
        let cooldowns: Vec<u64> = (1..=9).map(|n| millis(b.cooldown(n))).collect();
        assert_eq!(
            cooldowns,
            [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]
        );
        b.record(&Admission::Call, Err("refused"));
        b.record(&Admission::Probe, Err("refused"));
        let Admission::Open {
            failures, retry_in, ..
        } = b.admit()
        else {
            panic!("open");
        };
        assert_eq!(failures, 2);
        assert!(retry_in > Duration::from_secs(1), "{retry_in:?}");
    }

    #[test]
    fn concurrent_failures_open_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let b = breaker(dir.path(), 1000);
        for _ in 0..5 {
            b.record(&Admission::Call, Err("timed out"));
        }
        assert!(matches!(b.admit(), Admission::Open { failures: 1, .. }));
    }

    #[test]
    fn a_hostile_state_file_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let b = breaker(dir.path(), 100);
        let path = dir.path().join(STATE_FILE);
        // Open "forever", a probe "forever" under way, absurd counts.
        std::fs::write(
            &path,
            format!(
                r#"{{"service":"{SERVICE}","failures":4294967295,"open_until_ms":{max},"probe_until_ms":{max},"last_error":"{}"}}"#,
                "x".repeat(3000),
                max = u64::MAX
            ),
        )
        .unwrap();
        let Admission::Open {
            failures,
            retry_in,
            last_error,
        } = b.admit()
        else {
            panic!("open as the file says, within bounds");
        };
        assert_eq!(failures, MAX_FAILURES);
        assert!(retry_in <= MAX_COOLDOWN, "{retry_in:?}");
        assert!(last_error.chars().count() <= MAX_ERROR_CHARS);

        for garbage in [
            &b"\x00\xffnot json"[..],
            b"[]",
            b"{\"failures\":-1}",
            &[b'{'; 8192],
        ] {
            std::fs::write(&path, garbage).unwrap();
            assert_eq!(b.admit(), Admission::Call, "{garbage:?}");
        }
    }

    #[test]
    fn a_lock_held_elsewhere_lets_the_event_ask() {
        let dir = tempfile::tempdir().unwrap();
        let b = breaker(dir.path(), 60_000);
        b.record(&Admission::Call, Err("timed out"));
        let held = b.lock().unwrap();
        let started = Instant::now();
        assert_eq!(b.admit(), Admission::Call);
        assert!(started.elapsed() < Duration::from_millis(500));
        drop(held);
        assert!(matches!(b.admit(), Admission::Open { .. }));
    }

    #[test]
    fn a_cool_down_of_zero_turns_it_off() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Breaker::new(dir.path(), SERVICE, Duration::ZERO, Duration::from_secs(1)).is_none()
        );
    }

    #[test]
    fn another_services_state_reads_as_closed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = Breaker::new(
            dir.path(),
            "http://127.0.0.1:9",
            Duration::from_secs(60),
            Duration::from_millis(500),
        )
        .unwrap();
        dead.record(&Admission::Call, Err("connection refused"));
        assert!(matches!(dead.admit(), Admission::Open { .. }));
        let b = breaker(dir.path(), 60_000);
        assert_eq!(b.admit(), Admission::Call);
        // Its own failure replaces the other service's state.
        b.record(&Admission::Call, Err("timed out"));
        assert!(matches!(b.admit(), Admission::Open { failures: 1, .. }));
        assert_eq!(dead.admit(), Admission::Call);
    }
}
