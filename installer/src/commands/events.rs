//! `codex-guard events`: what the hooks decided, summed up from the runtime's event log
//! (`events.jsonl` and its rotated `events.jsonl.1`), with the state of the spool of
//! records still waiting for the service.
//!
//! The log is written by many short-lived hook processes and may hold lines from older
//! runtimes, cut lines or foreign text: every field is optional, and a line that is not
//! a JSON object is counted and skipped, never fatal.

use crate::cli::EventsArgs;
use crate::failure::{ExitCode, Failure};
use crate::home;
use anyhow::Result;
use codex_guard_common::layout::EVENTS_LOG as LOG_FILE;
use codex_guard_common::spool::{self, SpoolStats};
use codex_guard_common::{Layout, RuntimeConfig};
use rustc_hash::FxHashMap;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Version of the `--json` document.
pub const SCHEMA_VERSION: u32 = 1;

/// Decisions the runtime writes, in the order reports list them.
const DECISIONS: [&str; 4] = ["allow", "block", "observe", "ignore"];

/// Longest command, prompt or error shown in one line of the human report.
const SHOWN_CHARS: usize = 100;

pub fn run(args: &EventsArgs) -> Result<ExitCode> {
    let now = SystemTime::now();
    let since = match &args.since {
        Some(text) => Some(parse_since(text, now).map_err(Failure::bad_input)?),
        None => None,
    };
    let layout = home::resolve(&args.home)?;
    let log_dir = log_dir(&layout);
    let mut summary = Summary::new(since.map(ms_of));
    let files = read_logs(&log_dir, &mut summary)?;
    summary.finish();
    let report = Report {
        log_dir,
        files,
        summary,
        spool: SpoolState::read(&layout.spool_dir()),
        top: args.top,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_human());
    }
    Ok(ExitCode::Ok)
}

/// `--since`: a duration back from `now` (`30m`, `24h`, `7d`, `1h 30m`), an RFC 3339
/// time (`2025-11-20T08:00:00Z`, `2025-11-20 08:00:00`, `...+02:00`; UTC without an
/// offset) or a date (`2025-11-20`, midnight UTC).
pub fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let text = text.trim();
    let bad = || {
        format!(
            "--since {text:?} is not a duration (30m, 24h, 7d), an RFC 3339 time \
             (2025-11-20T08:00:00Z) or a date (2025-11-20)"
        )
    };
    if text.starts_with(|c: char| c.is_ascii_digit()) {
        if let Ok(ago) = humantime::parse_duration(text) {
            return now
                .checked_sub(ago)
                .filter(|t| *t >= UNIX_EPOCH)
                .ok_or_else(|| format!("--since {text:?} reaches back before 1970"));
        }
    }
    let is_date = text.len() == 10
        && text.bytes().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if is_date {
        return humantime::parse_rfc3339_weak(&format!("{text}T00:00:00Z")).map_err(|_| bad());
    }
    // humantime reads UTC only: apply any other offset ourselves.
    let (time, offset) = split_offset(text);
    let time = humantime::parse_rfc3339_weak(time).map_err(|_| bad())?;
    let shifted = if offset >= 0 {
        time.checked_sub(Duration::from_secs(offset.unsigned_abs()))
    } else {
        time.checked_add(Duration::from_secs(offset.unsigned_abs()))
    };
    shifted.ok_or_else(bad)
}

/// `2025-11-20T08:00:00+02:00` -> (`2025-11-20T08:00:00`, 7200 seconds east of UTC).
fn split_offset(text: &str) -> (&str, i64) {
    let Some(at) = text.len().checked_sub(6).filter(|&at| at >= 19) else {
        return (text, 0);
    };
    let b = text.as_bytes();
    let digits = |i: usize| -> Option<i64> {
        let pair = text.get(i..i + 2)?;
        pair.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| pair.parse().ok())
            .flatten()
    };
    let sign = match b[at] {
        b'+' => 1,
        b'-' => -1,
        _ => return (text, 0),
    };
    match (digits(at + 1), b[at + 3], digits(at + 4)) {
        (Some(h), b':', Some(m)) if h < 24 && m < 60 => (&text[..at], sign * (h * 3600 + m * 60)),
        _ => (text, 0),
    }
}

fn ms_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(time_of(ms)).to_string()
}

fn rfc3339_seconds(ms: u64) -> String {
    humantime::format_rfc3339_seconds(time_of(ms)).to_string()
}

/// The runtime config's `log_dir` when set, else `<guard dir>/logs`. A broken config
/// is worth a warning, not a refusal: the log is most wanted when something is wrong.
fn log_dir(layout: &Layout) -> PathBuf {
    let path = layout.runtime_config();
    let configured = match std::fs::read_to_string(&path) {
        Ok(text) => match RuntimeConfig::from_toml(&text) {
            Ok(config) => config.log_dir,
            Err(e) => {
                eprintln!(
                    "warning: {} is invalid ({}); reading the default log directory",
                    path.display(),
                    e.message().trim()
                );
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            eprintln!(
                "warning: cannot read {} ({e}); reading the default log directory",
                path.display()
            );
            None
        }
    };
    configured.unwrap_or_else(|| layout.logs_dir())
}

/// Adds the log files that exist in `dir` to `summary`, oldest generation first, one
/// line at a time; returns their paths. A missing directory is an empty log; one that
/// cannot be read is an error (exit 1).
///
/// The hook appends whole lines from many processes and rotates by renaming the full
/// log to `.1` (runtime/src/log.rs): lines are in write order, not strictly in `ts`
/// order, so every line is looked at and none is assumed older than the one before.
fn read_logs(dir: &Path, summary: &mut Summary) -> Result<Vec<PathBuf>, Failure> {
    let unreadable = |path: &Path, reason: String| Failure {
        code: ExitCode::Degraded,
        message: format!("cannot read the event log {}: {reason}", path.display()),
        hint: Some(format!(
            "run as the user Codex runs as, or make {} readable",
            dir.display()
        )),
    };
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(unreadable(dir, e.to_string())),
        Ok(meta) if !meta.is_dir() => return Err(unreadable(dir, "not a directory".into())),
        Ok(_) => {}
    }
    // Listing proves the directory is readable even before the first event.
    std::fs::read_dir(dir).map_err(|e| unreadable(dir, e.to_string()))?;
    let mut files = Vec::new();
    for path in [dir.join(format!("{LOG_FILE}.1")), dir.join(LOG_FILE)] {
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(unreadable(&path, e.to_string())),
        };
        let read = file
            .metadata()
            .and_then(|meta| {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
                let parts = if meta.len() < PARALLEL_FROM { 1 } else { cores };
                read_in_parts(&file, meta.len(), parts, summary.since_ms)
            })
            .map_err(|e| unreadable(&path, e.to_string()))?;
        summary.merge(read);
        files.push(path);
    }
    Ok(files)
}

/// A log smaller than this is read by one thread.
const PARALLEL_FROM: u64 = 8 * 1024 * 1024;

/// Sums up one log of `len` bytes, cut at line ends into `parts` (a part per core for
/// a big log), each read by its own thread into its own summary with its own buffer
/// (so memory stays flat); the parts are merged in file order.
fn read_in_parts(
    file: &std::fs::File,
    len: u64,
    parts: usize,
    since_ms: Option<u64>,
) -> std::io::Result<Summary> {
    let cuts = line_cuts(file, len, parts)?;
    let parts: Vec<std::io::Result<Summary>> = std::thread::scope(|scope| {
        let handles: Vec<_> = cuts
            .windows(2)
            .map(|range| {
                let (start, end) = (range[0], range[1]);
                scope.spawn(move || {
                    let mut summary = Summary::new(since_ms);
                    let mut buffer = vec![0; READ_BUFFER];
                    let part = ReadAt {
                        file,
                        at: start,
                        end,
                    };
                    each_line(part, &mut buffer, |line| summary.add_line(line))?;
                    Ok(summary)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut summary = Summary::new(since_ms);
    for part in parts {
        summary.merge(part?);
    }
    Ok(summary)
}

/// `parts + 1` offsets from 0 to `len`, each after a `\n` (or at the end), so that no
/// line is cut in two.
fn line_cuts(file: &std::fs::File, len: u64, parts: usize) -> std::io::Result<Vec<u64>> {
    let mut cuts = vec![0];
    let mut probe = vec![0; 64 * 1024];
    for i in 1..parts as u64 {
        let mut at = (len * i / parts as u64).max(*cuts.last().unwrap_or(&0));
        // The next line starts after the first `\n` at or after `at`.
        loop {
            let n = read_at(file, &mut probe, at)?;
            if n == 0 {
                at = len;
                break;
            }
            if let Some(newline) = memchr::memchr(b'\n', &probe[..n]) {
                at += newline as u64 + 1;
                break;
            }
            at += n as u64;
        }
        cuts.push(at.min(len));
    }
    cuts.push(len);
    cuts.dedup();
    if cuts.len() == 1 {
        cuts.push(len);
    }
    Ok(cuts)
}

/// Reads from `file` at `offset` without moving a shared cursor (threads read one
/// file side by side).
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

/// The bytes of `file` from `at` to `end`, as a reader.
struct ReadAt<'a> {
    file: &'a std::fs::File,
    at: u64,
    end: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = read_at(self.file, &mut buf[..want], self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Calls `add` with each line of `reader` (without its `\n`; the last one even
/// without), reading into `buffer`, which grows only for a line longer than it.
fn each_line(
    mut reader: impl Read,
    buffer: &mut Vec<u8>,
    mut add: impl FnMut(&[u8]),
) -> std::io::Result<()> {
    // `buffer[..filled]` holds bytes read and not yet given out: the start of a line.
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            buffer.resize((buffer.len() * 2).max(64), 0);
        }
        let n = match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut start = 0;
        // Only the new bytes can hold the end of a line.
        let mut at = filled;
        filled += n;
        while let Some(end) = memchr::memchr(b'\n', &buffer[at..filled]) {
            add(&buffer[start..at + end]);
            start = at + end + 1;
            at = start;
        }
        buffer.copy_within(start..filled, 0);
        filled -= start;
    }
    if filled > 0 {
        add(&buffer[..filled]);
    }
    Ok(())
}

/// Bytes read from a log at a time.
const READ_BUFFER: usize = 256 * 1024;

/// Events per name, ordered most frequent first, then by name.
#[derive(Debug, Default)]
struct Counter(FxHashMap<String, u64>);

impl Counter {
    fn add(&mut self, key: &str) {
        // Most events repeat a name already counted: allocate only for a new one.
        match self.0.get_mut(key) {
            Some(count) => *count += 1,
            None => {
                self.0.insert(key.to_string(), 1);
            }
        }
    }

    fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    fn merge(&mut self, other: Counter) {
        for (key, n) in other.0 {
            *self.0.entry(key).or_insert(0) += n;
        }
    }

    fn sorted(&self) -> Vec<(&str, u64)> {
        let mut out: Vec<(&str, u64)> = self.0.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        out
    }

    fn to_json(&self) -> Value {
        Value::Object(
            self.sorted()
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect(),
        )
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct ToolCounts {
    events: u64,
    allow: u64,
    block: u64,
    observe: u64,
}

/// One blocked command (or prompt) and how often it was blocked.
#[derive(Debug)]
struct Blocked {
    kind: &'static str,
    text: String,
    count: u64,
    last_ms: Option<u64>,
    source: Option<String>,
    rule: Option<String>,
    policy: Option<String>,
}

impl Blocked {
    /// The human table's row: count, last time, who blocked it, what.
    fn row(&self) -> Vec<String> {
        let by = match (&self.source, &self.policy) {
            (Some(source), Some(policy)) => format!("{source} ({policy})"),
            (Some(source), None) => source.clone(),
            (None, _) => self.rule.as_deref().unwrap_or("-").to_string(),
        };
        let subject = match self.kind {
            "prompt" => format!("prompt: {}", one_line(&self.text)),
            _ => one_line(&self.text),
        };
        vec![
            self.count.to_string(),
            self.last_ms.map_or_else(|| "-".into(), rfc3339_seconds),
            by,
            subject,
        ]
    }
}

/// Who decided, grouped: the local rules, Akto, or a fail policy.
fn source_group(source: Option<&str>) -> &'static str {
    match source {
        None => "none",
        Some(s) if s.starts_with("rule:") => "rules",
        Some(s) if s == "akto" || s.starts_with("akto:") => "akto",
        Some("fail-open") => "fail-open",
        Some("fail-closed") => "fail-closed",
        Some(_) => "other",
    }
}

const SOURCE_GROUPS: [&str; 5] = ["rules", "akto", "fail-open", "fail-closed", "none"];

#[derive(Debug, Default)]
struct Summary {
    since_ms: Option<u64>,
    malformed: u64,
    /// Well-formed events left out by `--since` (or without a time when it is given).
    outside: u64,
    events: u64,
    first_ms: Option<u64>,
    last_ms: Option<u64>,
    decisions: Counter,
    by_event: Counter,
    tools: BTreeMap<String, ToolCounts>,
    sources: Counter,
    /// Blocked commands and prompts, by kind, then by text.
    blocked: FxHashMap<&'static str, FxHashMap<String, Blocked>>,
    error_events: u64,
    errors: Counter,
    elapsed: Vec<f64>,
    delivered: u64,
    spooled: u64,
    /// The circuit breaker's part (`open`, `probe`, `opened`), by events.
    breaker: Counter,
    /// What the guardrail service changed and what became of it
    /// (`tool_result:applied`, `tool_input:withheld`, ...), by events.
    modified: Counter,
}

/// One log line, as far as the summary reads it. Fields borrow from the line (a
/// field with escapes is copied); any field may be missing or of another type, which
/// counts as absent, and fields the summary does not use are skipped unread.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Line<'a> {
    #[serde(borrow)]
    ts: Field<'a>,
    #[serde(borrow)]
    decision: Field<'a>,
    #[serde(borrow)]
    event: Field<'a>,
    #[serde(borrow)]
    tool: Field<'a>,
    #[serde(borrow)]
    source: Field<'a>,
    #[serde(borrow)]
    command: Field<'a>,
    #[serde(borrow)]
    prompt: Field<'a>,
    #[serde(borrow)]
    rule: Field<'a>,
    #[serde(borrow)]
    policy: Field<'a>,
    #[serde(borrow)]
    breaker: Field<'a>,
    #[serde(borrow)]
    elapsed_ms: Field<'a>,
    #[serde(borrow)]
    delivered: Field<'a>,
    #[serde(borrow)]
    spooled: Field<'a>,
    /// Rare (an event with errors, a changed payload) and of any shape, shown as
    /// JSON text when it is not a string: read as a value when present.
    errors: Option<Value>,
    modified: Option<Value>,
}

/// A field's value when it is a string or a number; anything else is `Other`.
#[derive(Debug, Default, Clone, PartialEq)]
enum Field<'a> {
    #[default]
    Other,
    Text(Cow<'a, str>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl Field<'_> {
    /// A non-empty string.
    fn text(&self) -> Option<&str> {
        match self {
            Field::Text(text) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    /// A whole number of at least 0 (not one written as a float).
    fn unsigned(&self) -> Option<u64> {
        match self {
            Field::Unsigned(n) => Some(*n),
            _ => None,
        }
    }

    /// A finite number of at least 0.
    fn number(&self) -> Option<f64> {
        let n = match self {
            Field::Unsigned(n) => *n as f64,
            Field::Signed(n) => *n as f64,
            Field::Float(n) => *n,
            _ => return None,
        };
        (n.is_finite() && n >= 0.0).then_some(n)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor(std::marker::PhantomData))
    }
}

struct FieldVisitor<'a>(std::marker::PhantomData<Field<'a>>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for FieldVisitor<'a> {
    type Value = Field<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'a>, E> {
        Ok(Field::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Field<'a>, E> {
        Ok(Field::Text(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Field<'a>, E> {
        Ok(Field::Text(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Field<'a>, E> {
        Ok(Field::Unsigned(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Field<'a>, E> {
        Ok(Field::Signed(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Field<'a>, E> {
        Ok(Field::Float(v))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
        Ok(Field::Other)
    }
    fn visit_unit<E>(self) -> Result<Field<'a>, E> {
        Ok(Field::Other)
    }
    fn visit_none<E>(self) -> Result<Field<'a>, E> {
        Ok(Field::Other)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Field<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other)
    }
}

impl Summary {
    fn new(since_ms: Option<u64>) -> Summary {
        Summary {
            since_ms,
            ..Summary::default()
        }
    }

    #[cfg(test)]
    fn add_log(&mut self, bytes: &[u8]) {
        for line in bytes.split(|&c| c == b'\n') {
            self.add_line(line);
        }
    }

    /// One line of a log: an event, a blank line, or a malformed one.
    fn add_line(&mut self, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        // Only an object is an event (a struct would also accept a JSON array), and
        // the whole line must be valid UTF-8 even where its fields are skipped unread.
        let is_object = line
            .iter()
            .find(|c| !c.is_ascii_whitespace())
            .is_some_and(|&c| c == b'{');
        let parsed = std::str::from_utf8(line)
            .ok()
            .filter(|_| is_object)
            .and_then(|text| serde_json::from_str::<Line>(text).ok());
        match parsed {
            Some(entry) => self.add(&entry),
            None => self.malformed += 1,
        }
    }

    fn add(&mut self, entry: &Line) {
        let ts = entry
            .ts
            .unsigned()
            .or_else(|| entry.ts.number().and_then(float_ms));
        if let Some(since) = self.since_ms {
            if ts.is_none_or(|ts| ts < since) {
                self.outside += 1;
                return;
            }
        }
        self.events += 1;
        if let Some(ts) = ts {
            self.first_ms = Some(self.first_ms.map_or(ts, |f| f.min(ts)));
            self.last_ms = Some(self.last_ms.map_or(ts, |l| l.max(ts)));
        }
        let decision = entry.decision.text().unwrap_or("unknown");
        self.decisions.add(decision);
        self.by_event.add(entry.event.text().unwrap_or("unknown"));
        if let Some(tool) = entry.tool.text() {
            if !self.tools.contains_key(tool) {
                self.tools.insert(tool.to_string(), ToolCounts::default());
            }
            if let Some(counts) = self.tools.get_mut(tool) {
                counts.events += 1;
                match decision {
                    "allow" => counts.allow += 1,
                    "block" => counts.block += 1,
                    "observe" => counts.observe += 1,
                    _ => {}
                }
            }
        }
        let source = entry.source.text();
        if let Some(source) = source {
            self.sources.add(source);
        }
        if decision == "block" {
            self.add_blocked(entry, ts, source);
        }
        match &entry.errors {
            Some(Value::Array(list)) if !list.is_empty() => {
                self.error_events += 1;
                for error in list {
                    match error.as_str() {
                        Some(text) => self.errors.add(text),
                        None => self.errors.add(&error.to_string()),
                    }
                }
            }
            Some(Value::String(one)) => {
                self.error_events += 1;
                self.errors.add(one);
            }
            _ => {}
        }
        if let Some(ms) = entry.elapsed_ms.number() {
            self.elapsed.push(ms);
        }
        self.delivered += entry.delivered.unsigned().unwrap_or(0);
        self.spooled += entry.spooled.unsigned().unwrap_or(0);
        if let Some(breaker) = entry.breaker.text() {
            self.breaker.add(breaker);
        }
        if let Some(modified) = entry.modified.as_ref().and_then(Value::as_object) {
            let field = |key| {
                modified
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
            };
            self.modified
                .add(&format!("{}:{}", field("what"), field("outcome")));
        }
    }

    fn add_blocked(&mut self, entry: &Line, ts: Option<u64>, source: Option<&str>) {
        let (kind, subject) = match (entry.command.text(), entry.prompt.text()) {
            (Some(command), _) => ("command", command),
            (None, Some(prompt)) => ("prompt", prompt),
            (None, None) => return,
        };
        let by_kind = self.blocked.entry(kind).or_default();
        if !by_kind.contains_key(subject) {
            by_kind.insert(
                subject.to_string(),
                Blocked {
                    kind,
                    text: subject.to_string(),
                    count: 0,
                    last_ms: None,
                    source: None,
                    rule: None,
                    policy: None,
                },
            );
        }
        let Some(blocked) = by_kind.get_mut(subject) else {
            return;
        };
        blocked.count += 1;
        // Who blocked it is told by its latest occurrence (rules and policies change).
        if blocked.count == 1 || ts >= blocked.last_ms {
            blocked.last_ms = ts.or(blocked.last_ms);
            blocked.source = source.map(str::to_string);
            blocked.rule = entry
                .rule
                .text()
                .or_else(|| source.and_then(|s| s.strip_prefix("rule:")))
                .map(str::to_string);
            blocked.policy = entry.policy.text().map(str::to_string);
        }
    }

    fn top_blocked(&self, n: usize) -> Vec<&Blocked> {
        let mut all: Vec<&Blocked> = self.blocked.values().flat_map(FxHashMap::values).collect();
        all.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.last_ms.cmp(&a.last_ms))
                .then(a.kind.cmp(b.kind))
                .then(a.text.cmp(&b.text))
        });
        all.truncate(n);
        all
    }

    /// Events per source group, the known groups always present.
    fn source_groups(&self) -> Vec<(&'static str, u64)> {
        let mut groups: Vec<(&'static str, u64)> = SOURCE_GROUPS.iter().map(|g| (*g, 0)).collect();
        let mut other = 0;
        let mut add =
            |group: &'static str, n: u64| match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, count)) => *count += n,
                None => other += n,
            };
        let with_source: u64 = self.sources.0.values().sum();
        for (source, n) in &self.sources.0 {
            add(source_group(Some(source)), *n);
        }
        add("none", self.events - with_source);
        if other > 0 {
            groups.push(("other", other));
        }
        groups
    }

    /// The human table of tools, most events first.
    fn tool_rows(&self) -> Vec<Vec<String>> {
        let mut tools: Vec<(&String, &ToolCounts)> = self.tools.iter().collect();
        tools.sort_by(|a, b| b.1.events.cmp(&a.1.events).then(a.0.cmp(b.0)));
        tools
            .into_iter()
            .map(|(tool, c)| {
                vec![
                    tool.clone(),
                    c.events.to_string(),
                    c.allow.to_string(),
                    c.block.to_string(),
                    c.observe.to_string(),
                ]
            })
            .collect()
    }

    /// The human table of sources: each group, then its sources when they say more.
    fn source_rows(&self) -> Vec<Vec<String>> {
        let mut rows = Vec::new();
        let detail = self.sources.sorted();
        for (group, n) in self.source_groups() {
            rows.push(vec![group.to_string(), n.to_string()]);
            let members: Vec<&(&str, u64)> = detail
                .iter()
                .filter(|(source, _)| source_group(Some(source)) == group)
                .collect();
            // `fail-open` alone under `fail-open` says nothing new.
            if members.len() > 1 || members.first().is_some_and(|(source, _)| *source != group) {
                for (source, m) in members {
                    rows.push(vec![format!("  {source}"), m.to_string()]);
                }
            }
        }
        rows
    }

    /// Decisions, the four the runtime writes always present and first.
    fn decision_counts(&self) -> Vec<(&str, u64)> {
        let mut out: Vec<(&str, u64)> = DECISIONS
            .iter()
            .map(|d| (*d, self.decisions.get(d)))
            .collect();
        out.extend(
            self.decisions
                .sorted()
                .into_iter()
                .filter(|(d, _)| !DECISIONS.contains(d)),
        );
        out
    }

    /// Adds the summary of the lines that come after this one's in the log, so that
    /// the result is what reading all of them in order would have given.
    fn merge(&mut self, later: Summary) {
        self.malformed += later.malformed;
        self.outside += later.outside;
        self.events += later.events;
        self.first_ms = combine(self.first_ms, later.first_ms, u64::min);
        self.last_ms = combine(self.last_ms, later.last_ms, u64::max);
        self.decisions.merge(later.decisions);
        self.by_event.merge(later.by_event);
        for (tool, counts) in later.tools {
            let mine = self.tools.entry(tool).or_default();
            mine.events += counts.events;
            mine.allow += counts.allow;
            mine.block += counts.block;
            mine.observe += counts.observe;
        }
        self.sources.merge(later.sources);
        for (kind, texts) in later.blocked {
            let mine = self.blocked.entry(kind).or_default();
            for (text, blocked) in texts {
                match mine.get_mut(&text) {
                    None => {
                        mine.insert(text, blocked);
                    }
                    Some(earlier) => {
                        earlier.count += blocked.count;
                        // As when read in order: the latest occurrence tells who blocked
                        // it, a later line winning a tie.
                        if blocked.last_ms >= earlier.last_ms {
                            earlier.last_ms = blocked.last_ms;
                            earlier.source = blocked.source;
                            earlier.rule = blocked.rule;
                            earlier.policy = blocked.policy;
                        }
                    }
                }
            }
        }
        self.error_events += later.error_events;
        self.errors.merge(later.errors);
        self.elapsed.extend(later.elapsed);
        self.delivered += later.delivered;
        self.spooled += later.spooled;
        self.breaker.merge(later.breaker);
        self.modified.merge(later.modified);
    }

    /// Puts the latency samples in order, once every line is read.
    fn finish(&mut self) {
        self.elapsed.sort_unstable_by(f64::total_cmp);
    }

    /// (median, 95th percentile) of `elapsed_ms`, nearest rank for the percentile,
    /// from the samples [`Summary::finish`] sorted. Exact: every sample is kept, 8
    /// bytes each (a rotated log pair holds some 40,000 events, a million take 8 MB).
    fn latency(&self) -> Option<(f64, f64)> {
        let sorted = &self.elapsed;
        let n = sorted.len();
        if n == 0 {
            return None;
        }
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            f64::midpoint(sorted[n / 2 - 1], sorted[n / 2])
        };
        let rank = (n * 95).div_ceil(100).max(1);
        Some((round3(median), round3(sorted[rank - 1])))
    }
}

/// A time written as a float (`1.7e12`): whole milliseconds, when it is one.
fn float_ms(ms: f64) -> Option<u64> {
    // f64 holds every integer up to 2^53 exactly: no time of this era is lost.
    (ms.is_finite() && (0.0..9.0e15).contains(&ms)).then(|| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = ms as u64;
        whole
    })
}

/// `pick` of two optional times, either alone when the other is absent.
fn combine(a: Option<u64>, b: Option<u64>, pick: fn(u64, u64) -> u64) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Records waiting in the spool, set aside, and dropped.
#[derive(Debug, Default)]
struct SpoolState {
    dir: PathBuf,
    waiting: usize,
    waiting_bytes: u64,
    oldest_ms: Option<u64>,
    rejected: usize,
    stats: SpoolStats,
}

impl SpoolState {
    fn read(dir: &Path) -> SpoolState {
        let pending = spool::pending(dir);
        SpoolState {
            dir: dir.to_path_buf(),
            waiting: pending.len(),
            waiting_bytes: pending.iter().map(|(_, size)| size).sum(),
            oldest_ms: pending.first().and_then(|(p, _)| spool::created_ms_of(p)),
            rejected: spool::rejected(dir),
            stats: SpoolStats::load(dir),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "dir": self.dir,
            "waiting": self.waiting,
            "waiting_bytes": self.waiting_bytes,
            "oldest_waiting": self.oldest_ms.map(rfc3339),
            "rejected": self.rejected,
            "dropped_age": self.stats.dropped_age,
            "dropped_size": self.stats.dropped_size,
            "dropped_corrupt": self.stats.dropped_corrupt,
            "rejected_total": self.stats.rejected,
            "last_drop": self.stats.last_drop_ms.map(rfc3339),
            "last_error": self.stats.last_error,
        })
    }
}

struct Report {
    log_dir: PathBuf,
    files: Vec<PathBuf>,
    summary: Summary,
    spool: SpoolState,
    top: usize,
}

impl Report {
    fn to_json(&self) -> Value {
        let s = &self.summary;
        let pairs = |list: Vec<(&str, u64)>| -> Value {
            Value::Object(
                list.into_iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect(),
            )
        };
        let mut tools: Vec<(&String, &ToolCounts)> = s.tools.iter().collect();
        tools.sort_by(|a, b| b.1.events.cmp(&a.1.events).then(a.0.cmp(b.0)));
        let latency = s.latency();
        json!({
            "schema_version": SCHEMA_VERSION,
            "log_dir": self.log_dir,
            "files": self.files,
            "since": s.since_ms.map(rfc3339),
            "first": s.first_ms.map(rfc3339),
            "last": s.last_ms.map(rfc3339),
            "events": s.events,
            "malformed_lines": s.malformed,
            "outside_since": s.outside,
            "by_decision": pairs(s.decision_counts()),
            "by_event": s.by_event.to_json(),
            "by_tool": tools.into_iter().map(|(tool, c)| (tool.clone(), json!({
                "events": c.events,
                "allow": c.allow,
                "block": c.block,
                "observe": c.observe,
            }))).collect::<Map<String, Value>>(),
            "by_source": pairs(s.source_groups()),
            "sources": s.sources.to_json(),
            "top_blocked": s.top_blocked(self.top).into_iter().map(|b| json!({
                "kind": b.kind,
                "text": b.text,
                "count": b.count,
                "last": b.last_ms.map(rfc3339),
                "source": b.source,
                "rule": b.rule,
                "policy": b.policy,
            })).collect::<Vec<_>>(),
            "errors": {
                "events": s.error_events,
                "top": s.errors.sorted().into_iter().take(self.top).map(|(message, count)| json!({
                    "message": message,
                    "count": count,
                })).collect::<Vec<_>>(),
            },
            "elapsed_ms": {
                "samples": s.elapsed.len(),
                "median": latency.map(|l| l.0),
                "p95": latency.map(|l| l.1),
            },
            "delivered": s.delivered,
            "spooled": s.spooled,
            "breaker": s.breaker.to_json(),
            "modified": s.modified.to_json(),
            "spool": self.spool.to_json(),
        })
    }

    fn to_human(&self) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let since = s
            .since_ms
            .map(|ms| format!(" since {}", rfc3339_seconds(ms)))
            .unwrap_or_default();
        if self.files.is_empty() || (s.events == 0 && s.outside == 0 && s.malformed == 0) {
            _ = writeln!(out, "no events recorded yet in {}", self.log_dir.display());
        } else {
            match (s.first_ms, s.last_ms) {
                (Some(first), Some(last)) => {
                    _ = writeln!(
                        out,
                        "{} events{since}, from {} to {}, in {}",
                        s.events,
                        rfc3339_seconds(first),
                        rfc3339_seconds(last),
                        self.log_dir.display()
                    );
                }
                _ => {
                    _ = writeln!(
                        out,
                        "{} events{since} in {}",
                        s.events,
                        self.log_dir.display()
                    );
                }
            }
            let mut notes = Vec::new();
            if s.malformed > 0 {
                notes.push(format!("{} malformed line(s) skipped", s.malformed));
            }
            if s.outside > 0 {
                notes.push(format!("{} earlier event(s) not counted", s.outside));
            }
            if !notes.is_empty() {
                _ = writeln!(out, "({})", notes.join("; "));
            }
        }
        if s.events > 0 {
            self.human_tables(&mut out);
        }
        out.push('\n');
        out.push_str(&self.spool_line());
        out
    }

    fn human_tables(&self, out: &mut String) {
        let s = &self.summary;
        let counts = |list: Vec<(&str, u64)>| -> Vec<Vec<String>> {
            list.into_iter()
                .map(|(k, v)| vec![k.to_string(), v.to_string()])
                .collect()
        };
        out.push('\n');
        table(
            out,
            &["decision", "events"],
            "lr",
            counts(s.decision_counts()),
        );
        out.push('\n');
        table(out, &["event", "events"], "lr", counts(s.by_event.sorted()));
        if !s.tools.is_empty() {
            out.push('\n');
            table(
                out,
                &["tool", "events", "allow", "block", "observe"],
                "lrrrr",
                s.tool_rows(),
            );
        }
        out.push('\n');
        table(out, &["source", "events"], "lr", s.source_rows());

        let top = s.top_blocked(self.top);
        if !top.is_empty() {
            let rows = top.into_iter().map(Blocked::row).collect();
            out.push('\n');
            table(
                out,
                &["blocked", "last", "by", "command or prompt"],
                "rlll",
                rows,
            );
        }
        if s.error_events > 0 {
            let rows = s
                .errors
                .sorted()
                .into_iter()
                .take(self.top)
                .map(|(message, n)| vec![n.to_string(), one_line(message)])
                .collect();
            _ = write!(out, "\n{} event(s) with errors:\n", s.error_events);
            table(out, &["count", "error"], "rl", rows);
        }
        out.push('\n');
        match s.latency() {
            Some((median, p95)) => {
                _ = writeln!(
                    out,
                    "elapsed: median {median} ms, p95 {p95} ms ({} events)",
                    s.elapsed.len()
                );
            }
            None => out.push_str("elapsed: not recorded\n"),
        }
        _ = writeln!(
            out,
            "records: {} delivered, {} spooled",
            s.delivered, s.spooled
        );
        let breaker = |part: &str| s.breaker.get(part);
        if breaker("open") + breaker("opened") + breaker("probe") > 0 {
            _ = writeln!(
                out,
                "guardrail service failing: {} event(s) decided by the fail policy while the \
                 circuit breaker was open, {} opened it, {} probe(s)",
                breaker("open"),
                breaker("opened"),
                breaker("probe")
            );
        }
        let modified = s.modified.sorted();
        if !modified.is_empty() {
            let parts: Vec<String> = modified
                .iter()
                .map(|(what, n)| format!("{n} {}", what.replace(':', " ")))
                .collect();
            _ = writeln!(
                out,
                "changed by the guardrail service: {}",
                parts.join(", ")
            );
        }
    }

    fn spool_line(&self) -> String {
        let sp = &self.spool;
        let oldest = sp
            .oldest_ms
            .map(|ms| format!(", oldest {}", rfc3339_seconds(ms)))
            .unwrap_or_default();
        let mut line = format!(
            "spool: {} waiting ({} bytes{oldest}), {} rejected; dropped {} (age {}, size {}, corrupt {})",
            sp.waiting,
            sp.waiting_bytes,
            sp.rejected,
            sp.stats.dropped(),
            sp.stats.dropped_age,
            sp.stats.dropped_size,
            sp.stats.dropped_corrupt,
        );
        if let Some(error) = &sp.stats.last_error {
            _ = write!(line, "; last error: {}", one_line(error));
        }
        line.push('\n');
        line
    }
}

/// Text on one line of at most [`SHOWN_CHARS`] characters.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// A table: `align` has one `l` or `r` per column; the last column is never padded.
fn table(out: &mut String, header: &[&str], align: &str, rows: Vec<Vec<String>>) {
    let width = |col: usize| {
        rows.iter()
            .map(|r| r[col].chars().count())
            .chain([header[col].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let header: Vec<String> = header
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (col, cell) in row.iter().enumerate() {
            if col > 0 {
                line.push_str("  ");
            }
            let last = col + 1 == row.len();
            let pad = widths[col].saturating_sub(cell.chars().count());
            match align.as_bytes().get(col) {
                Some(b'r') => {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                }
                _ => {
                    line.push_str(cell);
                    if !last {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-11-21T04:00:00Z
    const NOW_MS: u64 = 1_763_697_600_000;

    fn since(text: &str) -> Result<u64, String> {
        parse_since(text, time_of(NOW_MS)).map(ms_of)
    }

    #[test]
    fn since_accepts_durations_times_and_dates() {
        assert_eq!(since("30m"), Ok(NOW_MS - 30 * 60_000));
        assert_eq!(since("24h"), Ok(NOW_MS - 24 * 3_600_000));
        assert_eq!(since(" 7d "), Ok(NOW_MS - 7 * 86_400_000));
        assert_eq!(since("1h 30m"), Ok(NOW_MS - 90 * 60_000));
        assert_eq!(since("2025-11-20"), Ok(NOW_MS - 28 * 3_600_000));
        assert_eq!(since("2025-11-21T04:00:00Z"), Ok(NOW_MS));
        assert_eq!(since("2025-11-21T04:00:00.250Z"), Ok(NOW_MS + 250));
        assert_eq!(since("2025-11-21 04:00:00"), Ok(NOW_MS));
        assert_eq!(since("2025-11-21T06:30:00+02:30"), Ok(NOW_MS));
        assert_eq!(since("2025-11-21T01:00:00-03:00"), Ok(NOW_MS));
        assert_eq!(since("2025-11-21T04:00:00+00:00"), Ok(NOW_MS));
    }

    #[test]
    fn since_rejects_anything_else_in_one_line() {
        for bad in [
            "",
            "yesterday",
            "7 days ago",
            "-1h",
            "2025-13-01",
            "2025-11-21T25:00:00Z",
            "2025/11/21",
            "12",
            "1000000y",
            "2025-11-21T04:00:00+2:00",
            "é",
        ] {
            let error = since(bad).unwrap_err();
            assert!(error.starts_with("--since "), "{bad:?}: {error}");
            assert!(!error.contains('\n'), "{bad:?}: {error}");
        }
    }

    #[test]
    fn latency_is_the_median_and_the_nearest_rank_95th_percentile() {
        let mut s = Summary::default();
        assert_eq!(s.latency(), None);
        s.elapsed = vec![3.0, 1.0, 2.0];
        s.finish();
        assert_eq!(s.latency(), Some((2.0, 3.0)));
        s.elapsed = (1..=20).rev().map(f64::from).collect();
        s.finish();
        assert_eq!(s.latency(), Some((10.5, 19.0)));
        s.elapsed = vec![1.93];
        assert_eq!(s.latency(), Some((1.93, 1.93)));
    }

    #[test]
    fn lines_are_counted_leniently() {
        let mut s = Summary::new(None);
        s.add_log(
            b"{\"ts\": 5, \"decision\": \"block\", \"tool\": 7, \"command\": \"rm -rf /\", \"source\": \"rule:rm\"}\n\
              not json\n\
              [1, 2]\n\
              \n\
              {\"decision\": null, \"errors\": \"one\", \"elapsed_ms\": \"fast\"}\n\
              {\"ts\": 9, \"decision\": \"blo",
        );
        assert_eq!((s.events, s.malformed), (2, 3));
        assert_eq!(s.decisions.get("block"), 1);
        assert_eq!(s.decisions.get("unknown"), 1);
        assert!(s.tools.is_empty());
        assert_eq!(s.error_events, 1);
        assert!(s.elapsed.is_empty());
        let top = s.top_blocked(10);
        assert_eq!(top[0].rule.as_deref(), Some("rm"));
        assert_eq!(s.source_groups()[0], ("rules", 1));
        assert_eq!(s.source_groups()[4], ("none", 1));
    }

    /// A reader that hands out at most 3 bytes a call.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(out.len()).min(3);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn lines_are_split_across_reads_and_a_small_buffer_grows() {
        let text = b"first\n\na line longer than the buffer\r\nlast without newline";
        for initial in [1, 4, 64] {
            let mut lines = Vec::new();
            let mut buffer = vec![0; initial];
            each_line(Trickle(text), &mut buffer, |line| lines.push(line.to_vec())).unwrap();
            assert_eq!(
                lines,
                [
                    &b"first"[..],
                    b"",
                    b"a line longer than the buffer\r",
                    b"last without newline"
                ],
                "buffer of {initial}"
            );
        }
        let mut lines = 0;
        each_line(&b""[..], &mut vec![0; 8], |_| lines += 1).unwrap();
        each_line(&b"\n"[..], &mut vec![0; 8], |_| lines += 1).unwrap();
        assert_eq!(lines, 1);
    }

    #[test]
    fn a_log_read_in_parts_sums_up_as_read_in_one() {
        // Ties, lines without a time, the same command blocked by different rules,
        // escapes, malformed and blank lines, a line longer than the read buffer.
        let mut log = String::new();
        for i in 0..3000_u64 {
            let ts = match i % 7 {
                0 => String::new(),
                _ => format!("\"ts\":{},", 1000 + (i * 7919 % 50) * 10),
            };
            let decision = ["allow", "block", "observe", "block"][(i % 4) as usize];
            let rule = ["a", "b", "c"][(i % 3) as usize];
            let command = format!("rm -rf /tmp/\\\"{}\\\"", i % 11);
            writeln!(
                log,
                "{{{ts}\"event\":\"PreToolUse\",\"tool\":\"Bash\",\"decision\":\"{decision}\",\"source\":\"rule:{rule}\",\"command\":\"{command}\",\"elapsed_ms\":{}.5,\"delivered\":1}}",
                i % 13
            )
            .unwrap();
            match i % 500 {
                1 => log.push_str("not json\n\n"),
                2 if i < 500 => writeln!(
                    log,
                    "{{\"ts\":5,\"decision\":\"block\",\"prompt\":\"{}\"}}",
                    "x".repeat(300_000)
                )
                .unwrap(),
                _ => {}
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, &log).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let len = log.len() as u64;
        let report = |parts: usize, since: Option<u64>| {
            let mut summary = read_in_parts(&file, len, parts, since).unwrap();
            summary.finish();
            Report {
                log_dir: dir.path().to_path_buf(),
                files: vec![path.clone()],
                summary,
                spool: SpoolState::default(),
                top: 50,
            }
            .to_json()
        };
        for since in [None, Some(1200)] {
            let whole = report(1, since);
            assert!(whole["events"].as_u64().unwrap() > 1000, "{whole}");
            for parts in [2, 3, 5, 7, 16] {
                assert_eq!(
                    report(parts, since),
                    whole,
                    "{parts} parts, since {since:?}"
                );
            }
        }
    }

    #[test]
    fn tables_align_numbers_right() {
        let mut out = String::new();
        table(
            &mut out,
            &["tool", "events"],
            "lr",
            vec![
                vec!["Bash".into(), "12".into()],
                vec!["apply_patch".into(), "3".into()],
            ],
        );
        assert_eq!(
            out,
            "tool         events\nBash             12\napply_patch       3\n"
        );
    }
}
