//! The detection yardstick: every case of `tests/data/commands/dangerous.toml` and
//! `benign.toml` run through the real `codex-guard-hook` with the shipped rules and no
//! Akto service, in a temporary HOME. It prints, per pack, how many dangerous calls
//! were blocked and how many benign ones were, lists every miss and every false
//! positive (with the hook's reason), and asserts the targets: at least 97% of all
//! dangerous calls blocked, every pack at least 90%, at most 1% of benign calls blocked.
//!
//! The table is printed on stdout; see it with
//! `cargo test -j2 -p codex-guard-hook --test corpus -- --nocapture`.
//! `CORPUS_REPORT_ONLY=1` prints the same report and skips only the final target
//! asserts, to measure a build that is not expected to meet them (an older one, or
//! one with rules removed); the corpus is still loaded and checked, and a hook that
//! fails to answer still fails the test.

use crate::common::Home;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The packs of the local policy, in the order the report lists them.
const PACKS: [&str; 7] = [
    "filesystem",
    "download",
    "credentials",
    "git-history",
    "disks",
    "guard-tamper",
    "git-work-loss",
];

/// Targets, in per cent.
const MIN_DETECTED: f64 = 97.0;
const MIN_DETECTED_PER_PACK: f64 = 90.0;
const MAX_FALSE_POSITIVES: f64 = 1.0;

/// Hooks run at once: the hook is a short process, and the machines that run the
/// suite are small.
const WORKERS: usize = 3;

const DANGEROUS: &str = include_str!("../../../tests/data/commands/dangerous.toml");
const BENIGN: &str = include_str!("../../../tests/data/commands/benign.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    pack: String,
    family: String,
    command: Option<String>,
    cwd: Option<String>,
    tool: Option<String>,
    tool_input: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    case: Vec<Case>,
}

impl Case {
    fn tool(&self) -> &str {
        self.tool.as_deref().unwrap_or("Bash")
    }

    /// What the report shows for this case: the command, or the tool and its input.
    fn label(&self) -> String {
        match (&self.command, &self.tool_input) {
            (Some(command), _) => command.replace('\n', "\\n"),
            (None, Some(input)) => format!("{} {input}", self.tool()),
            (None, None) => format!("{} (no input)", self.tool()),
        }
    }

    /// The PreToolUse event Codex would send for this case, with `{home}` and
    /// `{codex_home}` standing for the test's directories.
    fn event(&self, home: &Home) -> Vec<u8> {
        let home_dir = home.home_dir().to_str().expect("a UTF-8 temp path");
        let codex_home = home.codex_home();
        let codex_home = codex_home.to_str().expect("a UTF-8 temp path");
        let fill = |s: &str| {
            s.replace("{codex_home}", codex_home)
                .replace("{home}", home_dir)
        };
        let tool_input = match (&self.command, &self.tool_input) {
            (Some(command), None) => json!({ "command": fill(command) }),
            (None, Some(input)) => serde_json::from_str::<Value>(&fill(input))
                .unwrap_or_else(|e| panic!("tool_input of {} is not JSON: {e}", self.label())),
            _ => panic!("{}: give either command or tool_input", self.label()),
        };
        let cwd = fill(self.cwd.as_deref().unwrap_or("{home}/project"));
        json!({
            "session_id": "sess-corpus", "turn_id": "turn-1", "transcript_path": null,
            "cwd": cwd, "hook_event_name": "PreToolUse", "model": "gpt-5.4",
            "permission_mode": "default", "tool_name": self.tool(), "tool_use_id": "call-1",
            "tool_input": tool_input,
        })
        .to_string()
        .into_bytes()
    }
}

fn load(text: &str, name: &str) -> Vec<Case> {
    toml::from_str::<CorpusFile>(text)
        .unwrap_or_else(|e| panic!("tests/data/commands/{name}: {e}"))
        .case
}

/// The hook's answer to one case: `Some(reason)` when it blocks.
fn verdict(case: &Case) -> Option<String> {
    // A home of its own for every case, so nothing one call leaves behind (a warned
    // fingerprint, a log) changes the answer to another; and not in the system's
    // temporary directory, since benign cases clean up /tmp, which would then hold
    // the Codex home.
    let home = Home::new_in(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")), "");
    std::fs::create_dir_all(home.home_dir().join("project")).unwrap();
    let codex_home = home.codex_home();
    let out = home.run_with_env(
        &case.event(&home),
        &[("CODEX_HOME", codex_home.to_str().unwrap())],
    );
    if out.status.code() == Some(2) {
        return Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    assert!(
        out.status.success(),
        "the hook failed on {}: {out:?}",
        case.label()
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the hook's answer to {} is not JSON: {e}: {out:?}",
            case.label()
        )
    });
    let specific = &answer["hookSpecificOutput"];
    let (blocked, reason) = if specific["permissionDecision"] == "deny" {
        assert_eq!(
            specific["hookEventName"], "PreToolUse",
            "Codex ignores a deny for another event: {answer}"
        );
        (true, &specific["permissionDecisionReason"])
    } else {
        (answer["decision"] == "block", &answer["reason"])
    };
    if !blocked {
        return None;
    }
    // Codex takes a block without a reason as a failed hook, and runs the call.
    let reason = reason.as_str().unwrap_or_default();
    assert!(
        !reason.trim().is_empty(),
        "a block without a reason for {}: {answer}",
        case.label()
    );
    Some(reason.to_string())
}

/// Every case's verdict, in the cases' order, from a few hooks at a time.
fn verdicts(cases: &[&Case]) -> Vec<Option<String>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let answer = verdict(case);
                results.lock().unwrap()[i] = answer;
            });
        }
    });
    results.into_inner().unwrap()
}

#[derive(Default, Clone, Copy)]
struct Tally {
    dangerous: usize,
    detected: usize,
    benign: usize,
    false_positives: usize,
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    100.0 * part as f64 / whole as f64
}

fn row(name: &str, t: Tally) -> String {
    format!(
        "{name:<14} {:>9} {:>8} {:>6.1}%   {:>6} {:>8} {:>5.1}%\n",
        t.dangerous,
        t.detected,
        percent(t.detected, t.dangerous),
        t.benign,
        t.false_positives,
        percent(t.false_positives, t.benign),
    )
}

#[test]
fn the_corpus_is_well_formed() {
    for (name, text) in [("dangerous.toml", DANGEROUS), ("benign.toml", BENIGN)] {
        let cases = load(text, name);
        let mut seen = HashSet::new();
        for case in &cases {
            let label = case.label();
            assert!(
                PACKS.contains(&case.pack.as_str()),
                "{name}: unknown pack {:?} for {label}",
                case.pack
            );
            assert!(
                !case.family.trim().is_empty(),
                "{name}: no family for {label}"
            );
            match (&case.command, &case.tool_input) {
                (Some(command), None) => {
                    assert!(!command.trim().is_empty(), "{name}: an empty command");
                    // A case a shell would refuse measures nothing: each one must
                    // parse (with the parser the hook uses; bash -n accepts them too).
                    let options = brush_parser::ParserOptions::default();
                    let parsed =
                        brush_parser::Parser::new(command.as_bytes(), &options).parse_program();
                    assert!(
                        parsed.is_ok(),
                        "{name}: {label} is not valid shell: {parsed:?}"
                    );
                    assert_eq!(
                        case.tool(),
                        "Bash",
                        "{name}: {label}: a command is a Bash call"
                    );
                }
                (None, Some(input)) => {
                    assert_ne!(
                        case.tool(),
                        "Bash",
                        "{name}: {label}: tool_input needs a tool"
                    );
                    let value: Value = serde_json::from_str(input)
                        .unwrap_or_else(|e| panic!("{name}: tool_input of {label}: {e}"));
                    assert!(
                        value.is_object(),
                        "{name}: tool_input of {label} is an object"
                    );
                }
                _ => panic!("{name}: {label}: give exactly one of command and tool_input"),
            }
            assert!(seen.insert(label.clone()), "{name}: {label} appears twice");
        }
        for pack in PACKS {
            assert!(
                cases.iter().any(|c| c.pack == pack),
                "{name} has no case for the {pack} pack"
            );
        }
    }
}

#[test]
fn the_hook_blocks_the_dangerous_corpus_and_passes_the_benign_one() {
    let dangerous = load(DANGEROUS, "dangerous.toml");
    let benign = load(BENIGN, "benign.toml");
    let all: Vec<&Case> = dangerous.iter().chain(&benign).collect();
    let answers = verdicts(&all);
    let (dangerous_answers, benign_answers) = answers.split_at(dangerous.len());

    let mut tallies: BTreeMap<&str, Tally> = PACKS.iter().map(|p| (*p, Tally::default())).collect();
    let mut misses = String::new();
    let mut false_positives = String::new();
    for (case, answer) in dangerous.iter().zip(dangerous_answers) {
        let tally = tallies.get_mut(case.pack.as_str()).expect("a known pack");
        tally.dangerous += 1;
        if answer.is_some() {
            tally.detected += 1;
        } else {
            let _ = writeln!(
                misses,
                "  [{} / {}] {}",
                case.pack,
                case.family,
                case.label()
            );
        }
    }
    for (case, answer) in benign.iter().zip(benign_answers) {
        let tally = tallies.get_mut(case.pack.as_str()).expect("a known pack");
        tally.benign += 1;
        if let Some(reason) = answer {
            tally.false_positives += 1;
            let _ = writeln!(
                false_positives,
                "  [{} / {}] {}\n      reason: {reason}",
                case.pack,
                case.family,
                case.label()
            );
        }
    }

    let mut total = Tally::default();
    let mut report = format!(
        "{:<14} {:>9} {:>8} {:>7}   {:>6} {:>8} {:>6}\n",
        "pack", "dangerous", "blocked", "rate", "benign", "blocked", "rate"
    );
    for pack in PACKS {
        let t = tallies[pack];
        report.push_str(&row(pack, t));
        total.dangerous += t.dangerous;
        total.detected += t.detected;
        total.benign += t.benign;
        total.false_positives += t.false_positives;
    }
    report.push_str(&row("total", total));
    println!("{report}");
    println!("missed dangerous calls:\n{misses}");
    println!("blocked benign calls:\n{false_positives}");

    if std::env::var_os("CORPUS_REPORT_ONLY").is_some_and(|v| v == "1") {
        return;
    }
    let detected = percent(total.detected, total.dangerous);
    assert!(
        detected >= MIN_DETECTED,
        "{detected:.1}% of dangerous calls blocked, below {MIN_DETECTED}%:\n{report}\n{misses}"
    );
    for pack in PACKS {
        let t = tallies[pack];
        let rate = percent(t.detected, t.dangerous);
        assert!(
            rate >= MIN_DETECTED_PER_PACK,
            "{pack}: {rate:.1}% of dangerous calls blocked, below {MIN_DETECTED_PER_PACK}%:\n{report}\n{misses}"
        );
    }
    let fp = percent(total.false_positives, total.benign);
    assert!(
        fp <= MAX_FALSE_POSITIVES,
        "{fp:.1}% of benign calls blocked, above {MAX_FALSE_POSITIVES}%:\n{report}\n{false_positives}"
    );
}
