//! Many hooks at once against one guard directory, as Codex runs them for parallel
//! tool calls: every event gets exactly one whole audit line and exactly one spooled
//! record, whatever the interleaving.

use crate::common::{pre_tool_use, ClosedPort, Home, WAIT};
use codex_guard_common::spool::{LOCK_FILE, STATS_FILE, TMP_PREFIX};
use codex_guard_hook::log::MAX_LOG_BYTES;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOOKS: usize = 200;

/// Starts the hook on `stdin` without waiting for it (like `Home::run`).
fn spawn(home: &Home, stdin: &[u8]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_codex-guard-hook"))
        .env_clear()
        .env("CODEX_GUARD_CONFIG", home.guard.join("config.toml"))
        .env("HOME", home.guard.parent().unwrap().parent().unwrap())
        .env("USER", "dev")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Written whole into the pipe's buffer, then closed: the hook sees its event.
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child
}

/// The delivery process the hooks started: it cannot deliver to a closed port, so
/// it keeps retrying (for up to 15 minutes) and never removes a record. Dropping
/// this stops it by its pid (from its lock file) and holds the lock meanwhile, so
/// no later one starts against a port that may be reused once the test is over.
struct Deliverer {
    lock: PathBuf,
}

impl Deliverer {
    fn lock(&self) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.lock)
            .unwrap()
    }

    fn running(&self) -> bool {
        matches!(
            self.lock().try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    }
}

impl Drop for Deliverer {
    fn drop(&mut self) {
        let file = self.lock();
        let deadline = Instant::now() + WAIT;
        while file.try_lock().is_err() && Instant::now() < deadline {
            let pid = std::fs::read_to_string(&self.lock).unwrap_or_default();
            if let Ok(pid) = pid.trim().parse::<u32>() {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Whoever still starts finds the lock held and leaves at once.
        std::mem::forget(file);
    }
}

/// Runs `count` hooks, each a PreToolUse of `echo <n>`, all started before any is
/// waited on; each must allow (fail open, no output). Returns the wall time.
fn run_hooks(home: &Home, count: usize) -> Duration {
    let started = Instant::now();
    let children: Vec<Child> = (0..count)
        .map(|n| spawn(home, &pre_tool_use(&format!("echo {n}"))))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert!(out.stdout.is_empty(), "fail open: {out:?}");
    }
    started.elapsed()
}

/// The lines of a JSON-lines file, each of which must be a whole JSON object.
fn read_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read(path).unwrap();
    assert_eq!(text.last(), Some(&b'\n'), "{} ends a line", path.display());
    text[..text.len() - 1]
        .split(|&b| b == b'\n')
        .map(|line| {
            let value: Value = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!(
                    "not a whole JSON line ({e}): {}",
                    String::from_utf8_lossy(line)
                )
            });
            assert!(value.is_object(), "{value}");
            value
        })
        .collect()
}

#[test]
fn two_hundred_hooks_at_once_write_whole_log_lines_and_spool_every_event() {
    let port = ClosedPort::reserve();
    let home = Home::remote(
        &format!("http://127.0.0.1:{}", port.port),
        "retry_max_ms = 200\n",
    );
    let spool = home.guard.join("spool");
    let deliverer = Deliverer {
        lock: spool.join(LOCK_FILE),
    };

    let elapsed = run_hooks(&home, HOOKS);
    eprintln!("{HOOKS} hooks in parallel: {elapsed:?}");

    // One whole JSON object per line, one line per hook.
    let lines = read_lines(&home.guard.join("logs/events.jsonl"));
    assert_eq!(lines.len(), HOOKS);
    assert!(!home.guard.join("logs/events.jsonl.1").exists());
    let mut ids = HashSet::new();
    let mut commands = BTreeSet::new();
    for line in &lines {
        assert_eq!(line["event"], "PreToolUse", "{line}");
        assert_eq!(line["source"], "fail-open", "{line}");
        assert_eq!(line["spooled"], 1, "{line}");
        ids.insert(line["id"].as_str().unwrap().to_string());
        commands.insert(line["command"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), HOOKS, "distinct ids");
    let expected: BTreeSet<String> = (0..HOOKS).map(|n| format!("echo {n}")).collect();
    assert_eq!(commands, expected, "each hook's own line");

    // The delivery process the first hook started is still trying the closed port,
    // having removed nothing. Stopped now, so the spool holds still.
    assert!(deliverer.running(), "a delivery process was started");
    drop(deliverer);

    // One whole record per event, under the event's id; nothing half-written left.
    let (tmp, stats) = (TMP_PREFIX, STATS_FILE);
    let mut spooled = HashSet::new();
    for entry in std::fs::read_dir(&spool).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        // The delivery process's own counters are not records.
        if name == stats || name == format!("{tmp}{stats}") {
            continue;
        }
        assert!(!name.starts_with(tmp), "left over: {name}");
        if std::path::Path::new(&name)
            .extension()
            .is_none_or(|e| e != "json")
        {
            continue;
        }
        let record: Value = serde_json::from_slice(&std::fs::read(entry.path()).unwrap())
            .unwrap_or_else(|e| panic!("{name} is not a whole record: {e}"));
        let id = record["id"].as_str().unwrap().to_string();
        assert!(name.ends_with(&format!("-{id}.json")), "{name}");
        assert!(spooled.insert(id), "{name} twice");
    }
    assert_eq!(spooled.len(), HOOKS);
    assert_eq!(spooled, ids, "the spool holds exactly the logged events");
    assert_eq!(codex_guard_common::spool::rejected(&spool), 0);
}

#[test]
fn hooks_crossing_the_log_size_bound_together_rotate_once_and_lose_no_line() {
    let port = ClosedPort::reserve();
    let home = Home::remote(
        &format!("http://127.0.0.1:{}", port.port),
        "retry_max_ms = 200\n",
    );
    let deliverer = Deliverer {
        lock: home.guard.join("spool").join(LOCK_FILE),
    };
    // A log just short of its bound: the first few dozen hooks fill it, and many of
    // the others find it too big at about the same time.
    let logs = home.guard.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let filler = format!("{{\"filler\":\"{}\"}}\n", "x".repeat(1000));
    let fillers = (usize::try_from(MAX_LOG_BYTES).unwrap() - 20 * 1024) / filler.len();
    std::fs::write(logs.join("events.jsonl"), filler.repeat(fillers)).unwrap();

    let elapsed = run_hooks(&home, HOOKS);
    eprintln!("{HOOKS} hooks across a rotation: {elapsed:?}");

    // One rotation: the previous generation is the whole old log plus the lines
    // written before it moved; the current one has the rest. Every hook's line is in
    // one of them, once.
    let previous = read_lines(&logs.join("events.jsonl.1"));
    let current = read_lines(&logs.join("events.jsonl"));
    let kept_fillers = previous
        .iter()
        .filter(|l| l.get("filler").is_some())
        .count();
    assert_eq!(
        kept_fillers, fillers,
        "the previous generation is kept whole"
    );
    assert!(current.iter().all(|l| l.get("filler").is_none()));
    let ids: Vec<&str> = previous
        .iter()
        .chain(&current)
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert_eq!(ids.len(), HOOKS, "one line per hook");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), HOOKS);
    assert_eq!(home.spooled().len(), HOOKS);
    drop(deliverer);
}
