//! The hook runtime: one Codex event in, at most one Codex decision out.
//!
//! Order of work for an event: local rules (no network), then Akto's guardrails
//! when the event can be blocked and blocking is on, then the Codex output, then
//! the records that only inform Akto. Every failure fails open (or closed, when
//! configured, for prompts and tool calls) within the configured deadline.

pub mod akto;
pub mod breaker;
pub mod drift;
pub mod input;
pub mod log;
pub mod modify;
pub mod overrides;
pub mod packs;
mod prefilter;
pub mod probe;
pub mod protect;
pub mod redact;
pub mod rules;
pub mod rules_cache;
pub mod settings;
pub mod shell;
pub mod spool;
pub mod transcript;
pub mod transport;
pub mod turns;
pub mod warn;

use akto::{Behaviour, BlockedBy, Flags, Ids, Record, ToolKind, Verdict};
use codex_guard_common::spool::SpooledRecord;
use input::HookInput;
use rules::Action;
use serde_json::{json, Map, Value};
use settings::Settings;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use transport::{Http, Post, Transport};

const HELP: &str = "\
codex-guard-hook: the program Codex runs for every hook event.

Codex starts it with one event as JSON on stdin. It applies the local rules, asks
the Akto guardrails when configured, prints Codex's blocking output when the event
is rejected, and exits 0.

Configuration: CODEX_GUARD_CONFIG, else <dir of this program>/../config.toml, else
$CODEX_HOME/codex-guard/config.toml. Akto's variables (AKTO_DATA_INGESTION_URL,
AKTO_API_TOKEN, AKTO_SYNC_MODE, AKTO_TIMEOUT, MODE, ...) override the file.

Records that only inform the service are written to a spool and delivered by a
background process (`codex-guard-hook --deliver`), so Codex never waits for them.

A managed (machine-wide) install runs it with --machine-config FILE: settings, token,
machine id and admin rules come from FILE's directory; logs, spool and state go to
the user's own $CODEX_HOME/codex-guard/. There the machine config is authoritative:
the environment may only make it stricter, and an ignored override is recorded in
the audit log (`ignored_env`, once per session).

Environment (a per-user install honours every one; a managed install as shown):
";

const HELP_OPTIONS: &str = "
An event that cannot be parsed still gets the local deny rules on its text; an
install that fails closed blocks it.

Options:
      --machine-config FILE   read the machine-wide config FILE
      --deliver   deliver the spooled records now, then exit
  -V, --version   print the version
  -h, --help      print this help
";

/// The `--help` text, with the table of environment variables.
pub fn help() -> String {
    format!(
        "{HELP}{}{HELP_OPTIONS}",
        codex_guard_common::env::text_table()
    )
}

/// What happened to one event: the log line and Codex's output.
#[derive(Debug, Default)]
pub struct Report {
    /// Unique id of this event; the ids of its records derive from it.
    pub id: String,
    /// Akto's `<session_id>:<turn>` message id (when Akto is configured).
    pub message_id: Option<String>,
    pub event: Option<String>,
    pub tool: Option<String>,
    /// The JSON printed on stdout for Codex, if any.
    pub output: Option<Value>,
    /// "allow", "block", "observe" or "ignore".
    pub decision: &'static str,
    pub reason: Option<String>,
    /// Who decided: "akto", "rule:<id>", "fail-open", "fail-closed".
    pub source: Option<String>,
    /// The circuit breaker's part in a guardrails check: "open" (the service was not
    /// asked; the fail policy decided at once), "probe" (this event asked it after a
    /// cool-down), "opened" (this event's failure opened it).
    pub breaker: Option<&'static str>,
    /// While the breaker is open: ms until the next probe may ask the service.
    pub breaker_retry_ms: Option<u64>,
    pub policy: Option<String>,
    /// The local rule that matched, if any.
    pub rule: Option<String>,
    /// What the event was about, for the audit log: the command of a tool call
    /// (redacted excerpt), or a blocked prompt (redacted excerpt).
    pub command: Option<String>,
    pub prompt: Option<String>,
    pub errors: Vec<String>,
    /// SessionStart only: whether the install is as setup left it.
    pub session_check: Option<drift::SessionCheck>,
    /// Records that only inform the service, to spool after Codex has its answer.
    pub deliveries: Vec<SpooledRecord>,
    /// Calls the service answered.
    pub delivered: usize,
    /// Records written to the spool.
    pub spooled: usize,
    /// Overrides a managed install ignored, logged once per session.
    pub ignored_env: Vec<String>,
    /// What the guardrail service changed, and whether Codex got its version.
    pub modified: Option<modify::Change>,
    /// What the local analysis noticed without deciding on it (a shell command it
    /// could not parse in full).
    pub findings: Vec<String>,
    records: usize,
}

impl Report {
    fn new(input: &HookInput) -> Report {
        Report {
            id: spool::new_id(),
            event: Some(input.event.clone()),
            tool: input.tool_name().map(str::to_string),
            command: input
                .tool_name()
                .and_then(|_| input.command_text())
                .map(|c| redact::excerpt(&c, AUDIT_EXCERPT_CHARS)),
            decision: "allow",
            ..Report::default()
        }
    }

    fn block(&mut self, event: &str, reason: String, source: String, warn: bool) {
        self.output = block_output(event, &reason, warn);
        self.decision = if self.output.is_some() {
            "block"
        } else {
            "allow"
        };
        self.reason = Some(reason);
        self.source = Some(source);
    }

    /// The identities of the next record of this event.
    fn next_ids(&mut self) -> Ids {
        let n = self.records;
        self.records += 1;
        Ids {
            id: if n == 0 {
                self.id.clone()
            } else {
                format!("{}-{n}", self.id)
            },
            message_id: self.message_id.clone(),
        }
    }
}

/// Creates one of our directories (mode 0700) inside the guard directory, which
/// must exist: the runtime never brings back a guard directory that uninstall
/// removed while a hook or the delivery process was still running.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        result => result,
    }
}

/// A managed install has no per-user setup: the first event of each user makes
/// that user's `$CODEX_HOME/codex-guard/` for logs, spool and state.
fn make_user_guard_dir(settings: &Settings, machine_config: Option<&Path>) {
    let dir = settings.layout.guard_dir();
    if machine_config.is_none() || dir.is_dir() {
        return;
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    let _ = builder.create(dir);
}

/// Longest command or prompt excerpt kept in the audit log.
const AUDIT_EXCERPT_CHARS: usize = 300;

/// Runs the hook for the current process: stdin, environment, stdout. Returns the
/// exit code: 0, or 2 (Codex's "blocked" for a tool call) when stdin could not even
/// be read as an event and the install is set to fail closed.
pub fn run_from_process(machine_config: Option<&Path>) -> i32 {
    let started = Instant::now();
    let env = |k: &str| std::env::var(k).ok();
    let exe = std::env::current_exe().ok();
    let settings = Settings::load_with(&env, exe.as_deref(), machine_config);
    settings.scrub_process_env();
    make_user_guard_dir(&settings, machine_config);
    let deadline = started + Duration::from_millis(settings.config.timeout_ms);
    let http = http_for(&settings);

    let (input, mut report, exit_code) = decide_stdin(&settings, deadline, &http);
    if let Some(input) = &input {
        if report.decision == "block" {
            report.prompt = input
                .str("prompt")
                .map(|p| redact::excerpt(p, AUDIT_EXCERPT_CHARS));
        }
        if let Some(output) = &report.output {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{output}");
            let _ = stdout.flush();
        }
    }
    report.ignored_env =
        overrides::first_in_session(&settings, input.as_ref().and_then(|i| i.str("session_id")));
    spool_deliveries(&settings, &mut report, deadline, &http, exe.as_deref());
    write_log(&settings, &report, started.elapsed());
    exit_code
}

/// Reads the event on stdin and decides on it: the event as read (when it could be),
/// the report and the exit code.
fn decide_stdin(s: &Settings, deadline: Instant, http: &Http) -> (Option<HookInput>, Report, i32) {
    let ignored = |error: String| Report {
        decision: "ignore",
        errors: vec![error],
        ..Report::default()
    };
    let bytes = match input::read_stdin(deadline) {
        Ok(bytes) => bytes,
        Err(e) => return (None, ignored(e), 0),
    };
    let error = match HookInput::parse(&bytes) {
        Ok(input) => {
            // A bug must not turn into a pass: a decision that panics is handled as
            // one that could not be made (fail-closed blocks), not as a crash.
            let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                handle(s, &input, deadline, http)
            }));
            let report = decided.unwrap_or_else(|_| failed(s, &input));
            return (Some(input), report, 0);
        }
        Err(e) => e,
    };
    if let Some(input) = HookInput::lenient(&bytes) {
        let report = handle_unparsed(s, &input, error);
        return (Some(input), report, 0);
    }
    let mut report = ignored(error);
    if !fails_closed(s) || bytes.iter().all(u8::is_ascii_whitespace) {
        return (None, report, 0);
    }
    let reason = "codex-guard could not read this event and is set to fail closed";
    eprintln!("{reason}");
    report.decision = "block";
    report.reason = Some(reason.into());
    report.source = Some("fail-closed".into());
    (None, report, 2)
}

/// The decision on an event whose handling panicked (a bug): no rule or service
/// could be trusted to have run, so the fail policy decides.
fn failed(s: &Settings, input: &HookInput) -> Report {
    let mut report = Report::new(input);
    report
        .errors
        .push("codex-guard failed while deciding (a bug); the fail policy applies".into());
    apply_fail_policy(s, &mut report, &input.event, "could not check this event");
    report
}

/// Blocks a prompt, tool call or permission request nothing could check when the
/// install fails closed (`what` went wrong, as in "codex-guard <what> and is set to
/// fail closed"); lets it through, saying so, otherwise.
fn apply_fail_policy(s: &Settings, report: &mut Report, event: &str, what: &str) {
    if fails_closed(s)
        && matches!(
            event,
            "UserPromptSubmit" | "PreToolUse" | "PermissionRequest"
        )
    {
        report.block(
            event,
            format!("codex-guard {what} and is set to fail closed"),
            "fail-closed".into(),
            false,
        );
    } else {
        report.source = Some("fail-open".into());
    }
}

/// Whether an event nobody could check is blocked: blocking is on and the install
/// fails closed.
fn fails_closed(s: &Settings) -> bool {
    s.config.blocking && s.config.fail_closed
}

/// An event [`HookInput::parse`] refused (larger than the input limit, not UTF-8,
/// malformed), as [`HookInput::lenient`] read it. The local deny rules still apply
/// to its text; nothing is sent to Akto, which could not be shown a faithful
/// record; and an install that fails closed blocks a prompt or tool call that no
/// rule blocked, since nothing could check it.
fn handle_unparsed(s: &Settings, input: &HookInput, error: String) -> Report {
    let mut report = Report::new(input);
    report.errors.extend(s.problems.iter().cloned());
    report.errors.push(error);
    let event = input.event.as_str();
    // Only deny rules: an allow rule must never approve what could not be read.
    let matched = local_rules(s, input, &mut report).filter(|m| m.action == Action::Deny);
    match matched {
        Some(m) if !s.config.blocking => {
            report.decision = "observe";
            report.reason = Some(m.message);
            report.source = Some(format!("rule:{}", m.id));
        }
        Some(m) if blockable(event) => {
            report.block(event, rule_reason(&m), format!("rule:{}", m.id), false);
        }
        _ => apply_fail_policy(s, &mut report, event, "could not read this event"),
    }
    report
}

/// The delivery process (`codex-guard-hook --deliver`): drains the spool, then exits.
pub fn run_delivery(machine_config: Option<&Path>) {
    let env = |k: &str| std::env::var(k).ok();
    let exe = std::env::current_exe().ok();
    let settings = Settings::load_with(&env, exe.as_deref(), machine_config);
    settings.scrub_process_env();
    make_user_guard_dir(&settings, machine_config);
    let http = http_for(&settings).without_watchdog();
    spool::deliver(&settings, &http, spool::Pacing::from_settings(&settings));
    turns::prune(
        &settings.layout.state_dir(),
        Duration::from_secs(7 * 24 * 3600),
    );
}

/// The transport of a hook or delivery process: the configured CAs, and the OS
/// trust store cached in the user's state directory.
fn http_for(s: &Settings) -> Http {
    Http::with_trust_cache(
        s.ca_files.clone(),
        Some(s.layout.state_dir().join(TRUST_CACHE_FILE)),
    )
}

/// The cache of the OS trust store's parsed anchors, in the state directory.
pub const TRUST_CACHE_FILE: &str = "os-trust-anchors.bin";

/// Decides on one event. Network calls that need an answer happen here; records
/// that only inform Akto are left in `deliveries`.
pub fn handle(
    s: &Settings,
    input: &HookInput,
    deadline: Instant,
    transport: &dyn Transport,
) -> Report {
    let mut report = Report::new(input);
    report.errors.extend(s.problems.iter().cloned());
    let event = input.event.as_str();
    if event == "SessionStart" {
        report.session_check = Some(drift::SessionCheck::run(s, &|k| std::env::var(k).ok()));
    }
    if s.remote().is_some() {
        report.message_id = turns::message_id(
            &s.layout.state_dir(),
            input.str("session_id"),
            input.str("turn_id"),
        );
    }
    if let Some(m) = local_rules(s, input, &mut report) {
        if apply_rule_match(s, input, &mut report, m) {
            return report;
        }
    }
    if s.remote().is_some() {
        consult_akto(s, input, &mut report, deadline, transport);
    }
    report
}

/// Applies the local rule that matched; true when it decided the event, so nothing
/// goes to Akto.
fn apply_rule_match(s: &Settings, input: &HookInput, report: &mut Report, m: rules::Match) -> bool {
    let event = input.event.as_str();
    // Observe mode never blocks or approves anything: the match is only recorded.
    if !s.config.blocking {
        report.decision = "observe";
        report.reason = Some(m.message);
        report.source = Some(format!("rule:{}", m.id));
        return false;
    }
    match m.action {
        Action::Deny if blockable(event) => {
            report.block(event, rule_reason(&m), format!("rule:{}", m.id), false);
            if let Some(record) = s.remote().and_then(|_| record_for(s, input)) {
                let record = record.blocked(BlockedBy::Rule(m.id.clone()), &m.message);
                queue(s, input, report, &record, Flags::INGEST);
            }
            true
        }
        Action::Warn if event == "PreToolUse" || event == "UserPromptSubmit" => {
            let fp = warn::fingerprint(&[
                "local-warn",
                &m.id,
                event,
                input.tool_name().unwrap_or_default(),
                &input.tool_input().to_string(),
                input.str("prompt").unwrap_or_default(),
            ]);
            if warn::resubmitted(&s.layout.state_dir(), &fp) {
                // Made again unchanged after the warning: it goes on to the
                // service like any other call.
                report.reason = Some(format!("{} (warned, then submitted again)", m.message));
                report.source = Some(format!("rule:{}", m.id));
                false
            } else {
                // The warning wraps the reason: it says what was flagged, not
                // that it was blocked.
                let reason = format!("codex-guard rule {}: {}", m.id, m.message);
                report.block(event, reason, format!("rule:{}", m.id), true);
                true
            }
        }
        Action::Allow if event == "PermissionRequest" => {
            report.output = Some(json!({"hookSpecificOutput": {
                "hookEventName": "PermissionRequest",
                "decision": {"behavior": "allow"}
            }}));
            report.reason = Some(m.message);
            report.source = Some(format!("rule:{}", m.id));
            true
        }
        _ => false,
    }
}

/// What Akto is told about this event, and asked when the answer decides it (the
/// service is configured).
fn consult_akto(
    s: &Settings,
    input: &HookInput,
    report: &mut Report,
    deadline: Instant,
    transport: &dyn Transport,
) {
    let event = input.event.as_str();
    let blocking = s.config.blocking;
    match event {
        "SessionStart" => {
            let flags = Flags {
                client_hook_session_start: true,
                ..Flags::INGEST
            };
            let record = Record::session_start(s, input, report.session_check.as_ref());
            queue(s, input, report, &record, flags);
            report.decision = "observe";
        }
        "UserPromptSubmit" | "PreToolUse" => {
            let Some(record) = record_for(s, input) else {
                return;
            };
            if blocking {
                let flags = Flags {
                    guardrails: true,
                    ingest_data: true,
                    ..Flags::default()
                };
                check(s, input, report, record, flags, deadline, transport);
            } else {
                queue(s, input, report, &record, Flags::INGEST);
                report.decision = "observe";
            }
        }
        "PostToolUse" => post_tool_use(s, input, report, deadline, transport),
        "Stop" => {
            let Some(record) = record_for(s, input) else {
                return;
            };
            let flags = Flags {
                response_guardrails: true,
                ingest_data: true,
                ..Flags::default()
            };
            if blocking {
                check(s, input, report, record, flags, deadline, transport);
            } else {
                queue(s, input, report, &record, flags);
                report.decision = "observe";
            }
        }
        _ => {}
    }
}

/// The admin's and the user's rules for this event, evaluated; the rule that
/// decided is recorded in the report.
fn local_rules(s: &Settings, input: &HookInput, report: &mut Report) -> Option<rules::Match> {
    let rules = rules::load_policy(
        Some(&s.admin_rules_file()),
        &s.rules_file(),
        Some(rules_cache::Cache {
            path: &s.layout.state_dir().join(rules_cache::FILE),
            input: Some(input),
        }),
        &input.event,
        &mut report.errors,
    );
    let matched = rules.evaluate(input, &s.paths);
    report.errors.extend(rules.take_problems());
    report.findings.extend(rules.take_notes());
    report.rule = matched.as_ref().map(|m| m.id.clone());
    matched
}

/// What Codex, the model and the user are told when a rule blocks: the rule, its
/// message, and what it found when it says more (which program changes which path).
fn rule_reason(m: &rules::Match) -> String {
    match &m.detail {
        Some(detail) => format!(
            "Blocked by codex-guard rule {}: {} ({detail})",
            m.id, m.message
        ),
        None => format!("Blocked by codex-guard rule {}: {}", m.id, m.message),
    }
}

/// Events Codex lets a hook block.
fn blockable(event: &str) -> bool {
    matches!(
        event,
        "UserPromptSubmit" | "PreToolUse" | "PermissionRequest" | "PostToolUse" | "Stop"
    )
}

/// The Akto record describing this event, or `None` when there is nothing to send
/// (an empty prompt, a tool call without input).
fn record_for(s: &Settings, input: &HookInput) -> Option<Record> {
    let event: &'static str = match input.event.as_str() {
        "UserPromptSubmit" => "UserPromptSubmit",
        "PreToolUse" => "PreToolUse",
        "PermissionRequest" => "PermissionRequest",
        "PostToolUse" => "PostToolUse",
        "Stop" => "Stop",
        _ => return None,
    };
    match event {
        "UserPromptSubmit" => {
            let prompt = input.str("prompt")?.trim();
            (!prompt.is_empty()).then(|| Record::conversation(s, event, prompt, None))
        }
        "Stop" => {
            let prompt = input
                .str("transcript_path")
                .and_then(|p| transcript::last_user_prompt(Path::new(p)))
                .unwrap_or_default();
            let answer = input.str("last_assistant_message").unwrap_or_default();
            if prompt.trim().is_empty() && answer.trim().is_empty() {
                return None;
            }
            Some(Record::conversation(s, event, prompt.trim(), Some(answer)))
        }
        _ => {
            let tool_input = input.tool_input();
            if is_empty(tool_input) {
                return None;
            }
            let response = input.get("tool_response").filter(|r| !is_empty(r));
            if event == "PostToolUse" && response.is_none() {
                return None;
            }
            Some(Record::tool(
                s,
                event,
                input.tool_name().unwrap_or("unknown"),
                tool_input,
                response,
            ))
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn post_tool_use(
    s: &Settings,
    input: &HookInput,
    report: &mut Report,
    deadline: Instant,
    transport: &dyn Transport,
) {
    let Some(record) = record_for(s, input) else {
        return;
    };
    let is_mcp = ToolKind::of(input.tool_name().unwrap_or_default()).is_mcp();
    let ingest = is_mcp || s.config.ingest_non_mcp_tools;
    if s.config.blocking {
        let flags = Flags {
            response_guardrails: true,
            ..Flags::default()
        };
        check(s, input, report, record.clone(), flags, deadline, transport);
        if report.decision == "block" && report.modified.is_none() {
            return;
        }
    } else {
        report.decision = "observe";
    }
    if ingest {
        let flags = Flags {
            response_guardrails: !s.config.blocking,
            ..Flags::INGEST
        };
        queue(s, input, report, &tagged_modified(record, report), flags);
    }
}

/// Asks the guardrails and applies the verdict (or the fail policy). While the
/// circuit breaker is open the service is not asked and the fail policy decides at
/// once.
fn check(
    s: &Settings,
    input: &HookInput,
    report: &mut Report,
    record: Record,
    flags: Flags,
    deadline: Instant,
    transport: &dyn Transport,
) {
    let event = input.event.as_str();
    let base = s.remote().expect("checked by caller");
    let url = akto::proxy_url(base, &s.config.connector, flags);
    let ids = report.next_ids();
    let body = record.encode(s, input, now_ms(), &ids).to_string();
    let breaker = breaker::Breaker::new(
        &s.layout.state_dir(),
        base,
        Duration::from_millis(s.config.breaker_cooldown_ms),
        Duration::from_millis(s.config.timeout_ms),
    );
    let admitted = breaker
        .as_ref()
        .map_or(breaker::Admission::Call, breaker::Breaker::admit);
    let verdict = match &admitted {
        breaker::Admission::Open {
            failures,
            retry_in,
            last_error,
        } => {
            report.breaker = Some("open");
            report.breaker_retry_ms = Some(spool::millis(*retry_in));
            Err(format!(
                "not asked: the circuit breaker is open after {failures} failure(s) in a row \
                 (last: {last_error})"
            ))
        }
        call => {
            if *call == breaker::Admission::Probe {
                report.breaker = Some("probe");
            }
            let post = Post {
                url: &url,
                token: s.token.as_deref(),
                body: body.as_bytes(),
                id: Some(&ids.id),
                timeout: deadline.saturating_duration_since(Instant::now()),
            };
            let sent = transport.post_json(&post);
            if let Some(breaker) = &breaker {
                match &sent {
                    Err(e) if e.outage => {
                        breaker.record(call, Err(&e.message));
                        report.breaker = Some("opened");
                    }
                    _ => breaker.record(call, Ok(())),
                }
            }
            sent.map_err(|e| e.message)
                .and_then(|bytes| akto::parse_verdict(&bytes))
        }
    };
    report.source = Some("akto".into());
    match verdict {
        Ok(verdict) => {
            report.delivered += 1;
            let modified = verdict.modified.clone();
            // Kept for the block record of a modified input that a local rule denies.
            let spare =
                (event == "PreToolUse" && modified.request().is_some()).then(|| record.clone());
            apply_verdict(s, input, report, record, &verdict);
            if report.decision != "block" {
                apply_modification(s, input, report, &modified, spare);
            }
        }
        Err(e) => {
            report.errors.push(format!("guardrails: {e}"));
            // The service did not take the record: keep it for ingestion later.
            if flags.ingest_data {
                report
                    .deliveries
                    .push(spooled(s, input, ids.id, Flags::INGEST, body));
            }
            let why = if report.breaker == Some("open") {
                "the guardrail service is failing"
            } else {
                "could not get a decision from the guardrail service"
            };
            apply_fail_policy(s, report, event, &format!("{why} ({e})"));
        }
    }
}

fn apply_verdict(
    s: &Settings,
    input: &HookInput,
    report: &mut Report,
    record: Record,
    verdict: &Verdict,
) {
    report.policy.clone_from(&verdict.policy);
    if verdict.allowed {
        return;
    }
    let event = input.event.as_str();
    let reason = if verdict.reason.trim().is_empty() {
        "Policy violation".to_string()
    } else {
        verdict.reason.clone()
    };
    report.reason = Some(reason.clone());
    let warn = match verdict.behaviour {
        Behaviour::Alert => {
            report.source = Some("akto:alert".into());
            return;
        }
        Behaviour::Block => false,
        Behaviour::Warn => {
            let fp = warn_fingerprint(input, &record);
            if input.get("stop_hook_active") == Some(&Value::Bool(true))
                || warn::resubmitted(&s.layout.state_dir(), &fp)
            {
                report.source = Some("akto:warn-resubmitted".into());
                return;
            }
            true
        }
    };
    report.block(event, reason.clone(), "akto".into(), warn);
    if report.decision == "block" {
        let is_mcp = ToolKind::of(input.tool_name().unwrap_or_default()).is_mcp();
        if event != "PostToolUse" || is_mcp || s.config.ingest_non_mcp_tools {
            let record = record.blocked(BlockedBy::Akto, &reason);
            queue(s, input, report, &record, Flags::INGEST);
        }
    }
}

/// What makes a resubmission "identical" after a `warn`: everything the service
/// judged (the record's request and response payloads: the prompt, the tool call,
/// its result, the response and its prompt) and, for a tool result, the call it
/// belongs to, as Akto's hooks fingerprint it.
fn warn_fingerprint(input: &HookInput, record: &Record) -> String {
    let tool_use_id = match input.event.as_str() {
        "PostToolUse" => input.str("tool_use_id").unwrap_or_default(),
        _ => "",
    };
    warn::fingerprint(&[
        &input.event,
        input.tool_name().unwrap_or_default(),
        tool_use_id,
        &record.request_payload.to_string(),
        &record.response_payload.to_string(),
    ])
}

/// The local deny rule that `new` (a tool input in place of `input`'s) matches,
/// with the errors met while evaluating the rules.
fn denied_tool_input(
    s: &Settings,
    input: &HookInput,
    new: &Value,
) -> Option<(rules::Match, Vec<String>)> {
    let mut raw = input.raw.clone();
    raw.insert("tool_input".into(), new.clone());
    let modified_input = HookInput {
        event: input.event.clone(),
        raw,
    };
    let mut scratch = Report::new(&modified_input);
    let denied = local_rules(s, &modified_input, &mut scratch).filter(|m| m.action == Action::Deny);
    denied.map(|m| (m, scratch.errors))
}

/// Gives Codex the guardrail service's version of what a verdict let through (allowed,
/// `alert`, a `warn` resubmission): a tool input through `updatedInput`, a tool result
/// in place of the original. A version that cannot be read is recorded; an install
/// that fails closed then denies the call or withholds the result, one that fails
/// open lets the original go ahead. Codex lets no hook replace a prompt or a final
/// response, so for those the modification is only recorded. A modified tool input
/// must pass the local deny rules; `record` (the call's record) then reports the
/// rule's block to Akto.
fn apply_modification(
    s: &Settings,
    input: &HookInput,
    report: &mut Report,
    modified: &akto::Modified,
    record: Option<Record>,
) {
    use modify::{Change, Outcome};
    let event = input.event.as_str();
    let tool = input.tool_name().unwrap_or_default();
    let (what, payload) = match event {
        "PreToolUse" => ("tool_input", modified.request()),
        "PostToolUse" => ("tool_result", modified.response()),
        "UserPromptSubmit" => ("prompt", modified.request()),
        "Stop" => ("response", modified.response()),
        _ => return,
    };
    let Some(payload) = payload else {
        return;
    };
    let mut change = Change {
        what,
        bytes_before: 0,
        bytes_after: None,
        outcome: Outcome::NotApplied,
        error: None,
    };
    let replacement = match event {
        "PreToolUse" => {
            let original = input.tool_input();
            change.bytes_before = original.to_string().len();
            modify::tool_input(tool, original, payload).map(|new| {
                change.bytes_after = Some(new.to_string().len());
                (new != *original).then(|| modify::input_output(&new))
            })
        }
        "PostToolUse" => {
            let original = modify::result_text(input.get("tool_response").unwrap_or(&Value::Null));
            change.bytes_before = original.len();
            modify::tool_result(tool, payload).map(|text| {
                change.bytes_after = Some(text.len());
                (text != original).then(|| modify::result_output(&text))
            })
        }
        _ => {
            let field = if event == "Stop" {
                "last_assistant_message"
            } else {
                "prompt"
            };
            change.bytes_before = input.str(field).map_or(0, str::len);
            change.error = Some(format!(
                "Codex lets no hook replace a {what}; the original went ahead"
            ));
            report.modified = Some(change);
            return;
        }
    };
    // What runs instead must pass the same local deny rules as the original: the
    // admin's rules hold whatever the service sends back.
    if event == "PreToolUse" {
        if let Ok(Some(output)) = &replacement {
            let new = &output["hookSpecificOutput"]["updatedInput"];
            if let Some((m, errors)) = denied_tool_input(s, input, new) {
                report.errors.extend(errors);
                report.rule = Some(m.id.clone());
                report.block(event, rule_reason(&m), format!("rule:{}", m.id), false);
                // Akto saw the call allowed: it also gets the record of the block.
                if let Some(record) = record {
                    let record = record.blocked(BlockedBy::Rule(m.id.clone()), &m.message);
                    queue(s, input, report, &record, Flags::INGEST);
                }
                change.outcome = Outcome::Withheld;
                change.error = Some(format!(
                    "the modified tool input is denied by rule {}",
                    m.id
                ));
                report.modified = Some(change);
                return;
            }
        }
    }
    match replacement {
        Ok(Some(output)) => {
            report.output = Some(output);
            change.outcome = Outcome::Applied;
        }
        Ok(None) => change.outcome = Outcome::Unchanged,
        Err(e) => {
            report
                .errors
                .push(format!("guardrails: cannot apply the modified {what}: {e}"));
            if s.config.fail_closed {
                let reason = format!(
                    "codex-guard could not apply the guardrail service's change to this {} ({e}) \
                     and is set to fail closed",
                    what.replace('_', " ")
                );
                report.block(event, reason, "fail-closed".into(), false);
                change.outcome = Outcome::Withheld;
            }
            change.error = Some(e);
        }
    }
    report.modified = Some(change);
}

/// The record of a result the service modified, tagged with what became of the
/// modification (`codex-guard-modified`: `tool_result:applied`, ...).
fn tagged_modified(mut record: Record, report: &Report) -> Record {
    if let Some(change) = &report.modified {
        record.tags.insert(
            "codex-guard-modified".into(),
            format!("{}:{}", change.what, change.outcome.as_str()).into(),
        );
    }
    record
}

/// Codex's output that blocks `event` with `reason`; `None` for events that cannot be blocked.
pub fn block_output(event: &str, reason: &str, warn: bool) -> Option<Value> {
    let warned = |what: &str| {
        format!("Warning: {what} was flagged ({reason}). Submit it again unchanged to proceed.")
    };
    Some(match event {
        "UserPromptSubmit" => json!({
            "decision": "block",
            "reason": if warn { warned("this prompt") } else { format!("Prompt blocked: {reason}") }
        }),
        "PreToolUse" => json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": if warn { warned("this tool call") } else { reason.to_string() }
        }}),
        "PermissionRequest" => json!({"hookSpecificOutput": {
            "hookEventName": "PermissionRequest",
            "decision": {"behavior": "deny", "message": reason}
        }}),
        "PostToolUse" => json!({
            "decision": "block",
            "reason": if warn { warned("this tool result") } else { format!("Tool result blocked: {reason}") },
            "hookSpecificOutput": {"hookEventName": "PostToolUse", "additionalContext": reason}
        }),
        "Stop" if warn => json!({"decision": "block", "reason": warned("the response")}),
        "Stop" => json!({
            "continue": false,
            "stopReason": reason,
            "systemMessage": format!("Response blocked: {reason}")
        }),
        _ => return None,
    })
}

fn queue(s: &Settings, input: &HookInput, report: &mut Report, record: &Record, flags: Flags) {
    if s.remote().is_none() {
        return;
    }
    let ids = report.next_ids();
    let body = record.encode(s, input, now_ms(), &ids).to_string();
    report
        .deliveries
        .push(spooled(s, input, ids.id, flags, body));
}

/// A record of `input` for the spool, sent later with `flags`.
fn spooled(
    s: &Settings,
    input: &HookInput,
    id: String,
    flags: Flags,
    body: String,
) -> SpooledRecord {
    SpooledRecord {
        id,
        created_ms: spool::now_ms(),
        event: input.event.clone(),
        target: akto::proxy_target(&s.config.connector, flags),
        body,
    }
}

/// Writes the records that only inform the service to the spool and makes sure a
/// delivery process runs. A record the spool cannot take (disk full, no write
/// permission) is sent at once instead, within what is left of the deadline.
pub fn spool_deliveries(
    s: &Settings,
    report: &mut Report,
    deadline: Instant,
    transport: &dyn Transport,
    exe: Option<&Path>,
) {
    let spool = spool::Spool::new(s.layout.spool_dir());
    for record in std::mem::take(&mut report.deliveries) {
        match spool.write(&record) {
            Ok(()) => report.spooled += 1,
            Err(e) => {
                report.errors.push(format!(
                    "cannot spool a record in {} ({e}); sending it now",
                    spool.dir.display()
                ));
                let url = spool::record_url(s.remote().unwrap_or_default(), &record);
                let post = Post {
                    url: &url,
                    token: s.token.as_deref(),
                    body: record.body.as_bytes(),
                    id: Some(&record.id),
                    timeout: deadline.saturating_duration_since(Instant::now()),
                };
                match transport.post_json(&post) {
                    Ok(_) => report.delivered += 1,
                    Err(e) => report
                        .errors
                        .push(format!("ingest: {e} (record {} lost)", record.id)),
                }
            }
        }
    }
    if report.spooled > 0 {
        if let Some(exe) = exe {
            if let Err(e) = spool.ensure_deliverer(exe, s.machine_config.as_deref()) {
                report
                    .errors
                    .push(format!("cannot start the delivery process: {e}"));
            }
        }
    }
}

fn write_log(s: &Settings, report: &Report, elapsed: Duration) {
    let mut entry = Map::new();
    entry.insert("ts".into(), json!(spool::now_ms()));
    if !report.id.is_empty() {
        entry.insert("id".into(), json!(report.id));
    }
    entry.insert("event".into(), json!(report.event));
    entry.insert("tool".into(), json!(report.tool));
    entry.insert("mode".into(), json!(s.mode_label()));
    entry.insert("decision".into(), json!(report.decision));
    entry.insert("reason".into(), json!(report.reason));
    entry.insert("source".into(), json!(report.source));
    if let Some(breaker) = report.breaker {
        entry.insert("breaker".into(), json!(breaker));
    }
    if let Some(ms) = report.breaker_retry_ms {
        entry.insert("breaker_retry_ms".into(), json!(ms));
    }
    if let Some(policy) = &report.policy {
        entry.insert("policy".into(), json!(policy));
    }
    if let Some(rule) = &report.rule {
        entry.insert("rule".into(), json!(rule));
    }
    if let Some(command) = &report.command {
        entry.insert("command".into(), json!(command));
    }
    if let Some(prompt) = &report.prompt {
        entry.insert("prompt".into(), json!(prompt));
    }
    entry.insert("delivered".into(), json!(report.delivered));
    entry.insert("spooled".into(), json!(report.spooled));
    entry.insert("elapsed_ms".into(), json!(elapsed.as_secs_f64() * 1000.0));
    if !report.errors.is_empty() {
        entry.insert("errors".into(), json!(report.errors));
    }
    if !report.findings.is_empty() {
        entry.insert("findings".into(), json!(report.findings));
    }
    if let Some(check) = &report.session_check {
        entry.insert("integrity".into(), json!(check));
    }
    if !report.ignored_env.is_empty() {
        entry.insert("ignored_env".into(), json!(report.ignored_env));
    }
    if let Some(change) = &report.modified {
        entry.insert("modified".into(), change.to_json());
    }
    log::append(&s.logs_dir(), &entry);
}

fn now_ms() -> u128 {
    u128::from(spool::now_ms())
}
