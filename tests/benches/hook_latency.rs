//! Whole-process wall time and peak memory of `codex-guard-hook`, per event, against a
//! fake Akto on 127.0.0.1 that answers at once (or, for the outage cases, never).
//! Prints a table, with `/bin/true` for the cost of starting any process; asserts
//! nothing about speed (numbers are read by people, not by CI).
//!
//! `scripts/bench.sh [--runs N] [--baseline DIR]` builds the release runtime and runs
//! this. With `--baseline`, the `codex-guard-hook` in DIR (another build, say main's)
//! runs each case too, its runs interleaved with ours so that a machine whose load
//! changes during the run weighs on both alike, and its median is printed beside ours.

use codex_guard_e2e::fake_akto::Listen;
use codex_guard_e2e::{guard, FakeAkto, NagleServer, Reply, TestCa};
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

struct Case {
    name: &'static str,
    program: PathBuf,
    args: Vec<&'static str>,
    stdin: Vec<u8>,
    config: PathBuf,
    /// Extra environment.
    env: Vec<(&'static str, String)>,
    /// Text the output must contain (a block), or empty for no output.
    expect: &'static str,
    /// Runs of this case, when not `--runs` (the deadline cases take long).
    runs: Option<usize>,
    /// A file removed before each run (the breaker's state: every run finds the
    /// service hung afresh).
    reset: Option<PathBuf>,
}

fn main() {
    let runs = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .map_or(200, |n| n.parse().expect("--runs takes a number"));
    let hook = guard::bin("codex-guard-hook");
    let baseline: Option<PathBuf> = std::env::args()
        .skip_while(|a| a != "--baseline")
        .nth(1)
        .map(|dir| PathBuf::from(dir).join("codex-guard-hook"));
    let dir = tempfile::tempdir().expect("temp dir");
    let services = Services::start();
    let (configs, system_certs) = Configs::write(dir.path(), &services);
    let cases = [
        local_cases(&hook, &configs),
        service_cases(&hook, &configs),
        other_event_cases(&hook, &configs),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();

    println!(
        "{:44} {:>5} {:>10} {:>8} {:>8} {:>13}{}",
        "case",
        "runs",
        "median ms",
        "p95 ms",
        "max ms",
        "peak RSS MiB",
        if baseline.is_some() {
            "  baseline median ms"
        } else {
            ""
        }
    );
    for case in &cases {
        let runs = case.runs.unwrap_or(runs);
        // The same case run by the baseline build (only the cases of our runtime).
        let before = baseline
            .as_ref()
            .filter(|_| case.program == hook)
            .map(|program| Case {
                program: program.clone(),
                args: case.args.clone(),
                stdin: case.stdin.clone(),
                config: case.config.clone(),
                env: case.env.clone(),
                reset: case.reset.clone(),
                ..*case
            });
        let measured = measure(case, before.as_ref(), runs);
        // The requests the fakes keep would grow this process, and a child's peak RSS
        // starts from its parent's (Linux carries it across fork and exec).
        services.clear();
        measured.print(case.name, runs);
    }
    let size = std::fs::metadata(&hook).expect("runtime binary").len();
    println!(
        "\ncodex-guard-hook binary: {:.2} MiB ({})",
        size as f64 / 1024.0 / 1024.0,
        hook.display()
    );
    println!("OS-store case: {system_certs} system certificates + the test CA in SSL_CERT_FILE");
    println!(
        "peak RSS includes this benchmark's own resident size at spawn ({}), which Linux \
         carries into a child: the hook's own peak is at most the figure shown",
        own_rss()
    );
}

/// The fake services the cases call; they live as long as the run.
struct Services {
    akto: FakeAkto,
    redacting: FakeAkto,
    tls_akto: FakeAkto,
    nagle: NagleServer,
    hung: String,
    ca: TestCa,
}

impl Services {
    fn start() -> Services {
        let akto = FakeAkto::deny_containing("rm-me", "bench deny");
        let redacting = FakeAkto::redacting("SECRET-VALUE", "[REDACTED]");
        // HTTPS with a CA made for the run.
        let ca = TestCa::new("bench CA");
        let tls_akto = FakeAkto::listening(
            Listen {
                tls: Some(ca.server_config(&["127.0.0.1"])),
                ..Listen::default()
            },
            |r| {
                let denied = r.body["requestPayload"]
                    .as_str()
                    .is_some_and(|p| p.contains("rm-me"));
                Reply::verdict(!denied, "bench deny", "block")
            },
        );
        // A service that leaves TCP_NODELAY off and writes head and body apart.
        let nagle = NagleServer::start(ca.server_config(&["127.0.0.1"]));
        Services {
            akto,
            redacting,
            tls_akto,
            nagle,
            hung: hung_service(),
            ca,
        }
    }

    fn clear(&self) {
        self.akto.clear();
        self.tls_akto.clear();
        self.redacting.clear();
    }
}

/// The runtime configs of the cases (each in a guard directory of its own) and the
/// files they read.
struct Configs {
    blocking: PathBuf,
    observe: PathBuf,
    local: PathBuf,
    many: PathBuf,
    many_uncached: PathBuf,
    redacted: PathBuf,
    https: PathBuf,
    https_os: PathBuf,
    https_nagle: PathBuf,
    hung_deadline: PathBuf,
    hung_breaker: PathBuf,
    os_bundle: PathBuf,
    small_transcript: PathBuf,
    big_transcript: PathBuf,
}

impl Configs {
    /// Writes them under `root`; also returns how many certificates the system
    /// bundle holds.
    fn write(root: &Path, services: &Services) -> (Configs, usize) {
        let url = services.akto.url();
        let blocking = guard_dir(
            root,
            "blocking",
            &format!("url = \"{url}\"\ntimeout_ms = 2000\n"),
        );
        let observe = guard_dir(
            root,
            "observe",
            &format!("url = \"{url}\"\nblocking = false\ntimeout_ms = 2000\n"),
        );
        let local = guard_dir(root, "local", "");
        // The shipped rules plus 1,000 of the user's own: read from the cache, and (the
        // cache removed before each run) as the first event after the file changed.
        let many = guard_dir(root, "many-rules", "");
        let many_uncached = guard_dir(root, "many-rules-uncached", "");
        for config in [&many, &many_uncached] {
            let rules = config.with_file_name("rules.toml");
            let shipped = std::fs::read_to_string(&rules).expect("rules");
            std::fs::write(&rules, format!("{shipped}\n{}", user_rules(1000))).expect("rules");
        }
        // A file changed within the last second is not cached (its times could still
        // miss a change): let these settle.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let redacted = guard_dir(
            root,
            "redacted",
            &format!(
                "url = \"{}\"\ntimeout_ms = 2000\n",
                services.redacting.url()
            ),
        );
        // HTTPS trusted through `ca_cert`, or found only in a full OS-style bundle
        // (SSL_CERT_FILE = the system bundle + the test CA), the cost of reading and
        // parsing a whole trust store on a call.
        let ca_pem = root.join("bench-ca.pem");
        services.ca.write_pem(&ca_pem);
        let tls = |name, url: String| {
            guard_dir(
                root,
                name,
                &format!(
                    "url = \"{url}\"\ntimeout_ms = 2000\nca_cert = \"{}\"\n",
                    ca_pem.display()
                ),
            )
        };
        let https = tls("https", services.tls_akto.url());
        let https_nagle = tls("https-nagle", services.nagle.url());
        let https_os = guard_dir(
            root,
            "https-os",
            &format!("url = \"{}\"\ntimeout_ms = 2000\n", services.tls_akto.url()),
        );
        let (os_bundle, system_certs) = os_bundle(root, &services.ca);
        // A service that takes the request and never answers: when each event finds
        // it so afresh (the breaker's state removed) it waits its deadline; otherwise
        // only the first event does and the breaker decides the others.
        let hung_config = format!(
            "url = \"{}\"\ntimeout_ms = {HUNG_TIMEOUT_MS}\n",
            services.hung
        );
        let configs = Configs {
            blocking,
            observe,
            local,
            many,
            many_uncached,
            redacted,
            https,
            https_os,
            https_nagle,
            hung_deadline: guard_dir(root, "hung-deadline", &hung_config),
            hung_breaker: guard_dir(root, "hung-breaker", &hung_config),
            os_bundle,
            small_transcript: transcript(root, "small.jsonl", 0),
            big_transcript: transcript(root, "big.jsonl", 200 * 1024 * 1024),
        };
        (configs, system_certs)
    }
}

/// The system's CA bundle plus the test CA, and how many certificates the system's
/// bundle holds.
fn os_bundle(root: &Path, ca: &TestCa) -> (PathBuf, usize) {
    let path = root.join("os-bundle.pem");
    let system = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .unwrap_or_default();
    std::fs::write(&path, format!("{system}\n{}", ca.pem())).expect("bundle");
    (path, system.matches("BEGIN CERTIFICATE").count())
}

/// One case of our runtime.
fn case(
    hook: &Path,
    name: &'static str,
    stdin: Vec<u8>,
    config: &Path,
    expect: &'static str,
) -> Case {
    Case {
        name,
        program: hook.to_path_buf(),
        args: Vec::new(),
        stdin,
        config: config.to_path_buf(),
        env: Vec::new(),
        expect,
        runs: None,
        reset: None,
    }
}

fn bash(cmd: &str) -> Vec<u8> {
    event(
        "PreToolUse",
        json!({"tool_name": "Bash", "tool_use_id": "c1", "tool_input": {"command": cmd}}),
    )
}

fn stop(path: &Path) -> Vec<u8> {
    event(
        "Stop",
        json!({"transcript_path": path, "stop_hook_active": false,
               "last_assistant_message": "done"}),
    )
}

fn mcp_result() -> Vec<u8> {
    event(
        "PostToolUse",
        json!({"tool_name": "mcp__github__get_issue", "tool_use_id": "c1",
               "tool_input": {"number": 7}, "tool_response": {"content": [{"type": "text", "text": "issue"}]}}),
    )
}

fn secret_result() -> Vec<u8> {
    event(
        "PostToolUse",
        json!({"tool_name": "mcp__vault__read_secret", "tool_use_id": "c1",
               "tool_input": {"name": "db"},
               "tool_response": {"content": [{"type": "text", "text": "db: SECRET-VALUE"}]}}),
    )
}

/// `/bin/true` for scale, then PreToolUse with the local rules (shipped and many).
fn local_cases(hook: &Path, c: &Configs) -> Vec<Case> {
    vec![
        external("/bin/true", "/bin/true", Vec::new(), &c.local),
        case(
            hook,
            "PreToolUse, blocking, allowed by Akto",
            bash("ls -la"),
            &c.blocking,
            "",
        ),
        case(
            hook,
            "PreToolUse, blocking, denied by Akto",
            bash("touch rm-me"),
            &c.blocking,
            "deny",
        ),
        case(
            hook,
            "PreToolUse, local rules only, denied",
            bash("rm -rf ~"),
            &c.local,
            "deny",
        ),
        case(
            hook,
            "PreToolUse, local rules only, allowed",
            bash("ls"),
            &c.local,
            "",
        ),
        case(
            hook,
            "PreToolUse, local, a pipeline of 8 commands",
            bash(
                "cd src && grep -rn TODO . | sort | uniq -c | head -20 > /tmp/todo.txt && \
                 git diff --stat && python3 -c 'import sys; print(sys.version)' && ls -la",
            ),
            &c.local,
            "",
        ),
        case(
            hook,
            "PreToolUse, local, 3,900-word command",
            bash(&format!(
                "echo {}",
                (0..3900)
                    .map(|i| format!("w{i}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            &c.local,
            "",
        ),
        case(
            hook,
            "PreToolUse, local, 1 MB command",
            bash(&format!("echo {} && rm -rf ~", "a".repeat(1 << 20))),
            &c.local,
            "deny",
        ),
        case(
            hook,
            "PreToolUse local rules, 1000 user rules",
            bash("ls"),
            &c.many,
            "",
        ),
        Case {
            // codex_guard_hook::rules_cache::FILE
            reset: Some(
                c.many_uncached
                    .with_file_name("state")
                    .join("rules-cache.bin"),
            ),
            ..case(
                hook,
                "PreToolUse local rules, 1000 user rules, 1st",
                bash("ls"),
                &c.many_uncached,
                "",
            )
        },
        case(
            hook,
            "PreToolUse local rules, 1000 user rules, denied",
            bash("terraform destroy -auto-approve -target=module.db7"),
            &c.many,
            "deny",
        ),
    ]
}

/// PreToolUse against the service over HTTPS, and against a hung one.
fn service_cases(hook: &Path, c: &Configs) -> Vec<Case> {
    vec![
        case(
            hook,
            "PreToolUse, blocking, https, ca_cert",
            bash("ls -la"),
            &c.https,
            "",
        ),
        case(
            hook,
            "PreToolUse, blocking, https, denied",
            bash("touch rm-me"),
            &c.https,
            "deny",
        ),
        Case {
            env: vec![("SSL_CERT_FILE", c.os_bundle.display().to_string())],
            ..case(
                hook,
                "PreToolUse, blocking, https, CA in OS store",
                bash("ls -la"),
                &c.https_os,
                "",
            )
        },
        case(
            hook,
            "PreToolUse, https, server without NODELAY",
            bash("ls -la"),
            &c.https_nagle,
            "",
        ),
        Case {
            runs: Some(5),
            reset: Some(c.hung_deadline.with_file_name("state").join("breaker.json")),
            ..case(
                hook,
                "PreToolUse, hung service, 500 ms deadline",
                bash("ls -la"),
                &c.hung_deadline,
                "",
            )
        },
        case(
            hook,
            "PreToolUse, hung service, breaker open",
            bash("ls -la"),
            &c.hung_breaker,
            "",
        ),
    ]
}

/// The other events, garbage on stdin, and python's start-up for scale.
fn other_event_cases(hook: &Path, c: &Configs) -> Vec<Case> {
    vec![
        case(
            hook,
            "UserPromptSubmit, observe (spooled)",
            event("UserPromptSubmit", json!({"prompt": "hello"})),
            &c.observe,
            "",
        ),
        case(
            hook,
            "PostToolUse MCP result, observe (spooled)",
            mcp_result(),
            &c.observe,
            "",
        ),
        case(
            hook,
            "PostToolUse MCP result, blocking, allowed",
            mcp_result(),
            &c.blocking,
            "",
        ),
        case(
            hook,
            "PostToolUse MCP result, blocking, redacted",
            secret_result(),
            &c.redacted,
            "[REDACTED]",
        ),
        case(
            hook,
            "SessionStart (spooled)",
            event("SessionStart", json!({"source": "startup"})),
            &c.blocking,
            "",
        ),
        case(
            hook,
            "Stop, blocking, 1 KiB transcript",
            stop(&c.small_transcript),
            &c.blocking,
            "",
        ),
        case(
            hook,
            "Stop, blocking, 200 MiB transcript",
            stop(&c.big_transcript),
            &c.blocking,
            "",
        ),
        case(
            hook,
            "garbage on stdin",
            b"\x00not json".to_vec(),
            &c.local,
            "",
        ),
        external(
            "python3 -c \"import json, urllib.request\"",
            "python3",
            vec!["-c", "import json, urllib.request"],
            &c.local,
        ),
    ]
}

/// Wall times (ms) of `runs` runs of `case` and of its baseline, interleaved, and
/// the case's peak RSS (KiB).
struct Measured {
    walls: Vec<f64>,
    before_walls: Vec<f64>,
    peak_kib: i64,
}

fn measure(case: &Case, before: Option<&Case>, runs: usize) -> Measured {
    for _ in 0..runs.min(5) {
        run_once(case); // warm the page cache (and open the breaker)
        if let Some(before) = before {
            run_once(before);
        }
    }
    let mut walls = Vec::with_capacity(runs);
    let mut before_walls = Vec::with_capacity(runs);
    let mut peak_kib = 0;
    for run in 0..runs {
        // Which build goes first alternates: the second of a pair finds the
        // other's pages and the fakes warmer.
        if let Some(before) = before.filter(|_| run % 2 == 1) {
            before_walls.push(run_once(before).0);
        }
        let (ms, kib) = run_once(case);
        walls.push(ms);
        peak_kib = peak_kib.max(kib);
        if let Some(before) = before.filter(|_| run % 2 == 0) {
            before_walls.push(run_once(before).0);
        }
    }
    walls.sort_by(f64::total_cmp);
    before_walls.sort_by(f64::total_cmp);
    Measured {
        walls,
        before_walls,
        peak_kib,
    }
}

impl Measured {
    fn print(&self, name: &str, runs: usize) {
        let walls = &self.walls;
        println!(
            "{:44} {:>5} {:>10.2} {:>8.2} {:>8.2} {:>13.1}{}",
            name,
            runs,
            percentile(walls, 50),
            percentile(walls, 95),
            walls[walls.len() - 1],
            self.peak_kib as f64 / 1024.0,
            if self.before_walls.is_empty() {
                String::new()
            } else {
                format!("  {:>19.2}", percentile(&self.before_walls, 50))
            }
        );
    }
}

/// Another program, measured in the same run for scale (no stdin, no output).
fn external(
    name: &'static str,
    program: &str,
    args: Vec<&'static str>,
    config: &std::path::Path,
) -> Case {
    Case {
        name,
        program: PathBuf::from(program),
        args,
        stdin: Vec::new(),
        config: config.to_path_buf(),
        env: Vec::new(),
        expect: "",
        runs: None,
        reset: None,
    }
}

/// The nearest-rank percentile `p` (0-100) of sorted `walls`.
fn percentile(walls: &[f64], p: usize) -> f64 {
    walls[(walls.len() * p).div_ceil(100).clamp(1, walls.len()) - 1]
}

/// The deadline of the hung-service cases.
const HUNG_TIMEOUT_MS: u64 = 500;

/// `http://127.0.0.1:<port>` of a service that reads each request and never answers.
fn hung_service() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = vec![0; 65536];
                // Read until the client hangs up; answer nothing.
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    url
}

/// This process's resident size, from /proc.
fn own_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l["VmRSS:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A Codex transcript of about `size` bytes whose last turn asks "list the files".
fn transcript(dir: &Path, name: &str, size: usize) -> PathBuf {
    let path = dir.join(name);
    let filler =
        json!({"type": "response_item", "payload": {"type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": "x".repeat(4000)}]}})
        .to_string();
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("transcript"));
    let mut written = 0;
    while written < size {
        writeln!(file, "{filler}").expect("write transcript");
        written += filler.len() + 1;
    }
    let turn = [
        json!({"type": "response_item", "payload": {"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "list the files"}]}}),
        json!({"type": "response_item", "payload": {"type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": "done"}]}}),
    ];
    for line in turn {
        writeln!(file, "{line}").expect("write transcript");
    }
    file.flush().expect("flush transcript");
    path
}

/// A Codex home's guard directory with a runtime config and the shipped rules.
fn guard_dir(root: &Path, name: &str, config: &str) -> PathBuf {
    let guard = root.join(name).join("codex-guard");
    std::fs::create_dir_all(&guard).expect("guard dir");
    std::fs::write(guard.join("config.toml"), config).expect("config");
    std::fs::write(
        guard.join("rules.toml"),
        include_str!("../../templates/rules.toml"),
    )
    .expect("rules");
    guard.join("config.toml")
}

/// `count` rules of the kinds people write: commands, paths, MCP arguments, prompts
/// and tool names; about a third with `requires`; deny, warn and allow; on various
/// events. None matches `ls`.
fn user_rules(count: usize) -> String {
    (0..count).map(user_rule).collect()
}

const TOOLS: &[&str] = &[
    "terraform",
    "kubectl",
    "helm",
    "aws",
    "gcloud",
    "az",
    "docker",
    "psql",
    "mysql",
    "redis-cli",
    "ansible-playbook",
    "pulumi",
    "vault",
    "npm",
    "cargo",
    "pip",
];
const VERBS: &[&str] = &[
    "destroy",
    "delete",
    "drop",
    "purge",
    "rollback",
    "uninstall",
    "publish",
    "rotate",
    "flushall",
    "truncate",
    "apply",
    "scale",
];
const DIRS: &[&str] = &[
    "etc",
    "var/lib",
    "opt",
    "srv",
    "usr/local/etc",
    "home/shared",
];
const EXTS: &[&str] = &[
    "pem",
    "key",
    "tfstate",
    "kubeconfig",
    "env",
    "sqlite",
    "p12",
];
const SERVERS: &[&str] = &[
    "github", "gitlab", "jira", "slack", "postgres", "s3", "vault",
];

/// Rule number `i` of [`user_rules`].
fn user_rule(i: usize) -> String {
    let tool = TOOLS[i % TOOLS.len()];
    let verb = VERBS[(i / 3) % VERBS.len()];
    let n = i / 7;
    let (action, events) = match i % 10 {
        0..=5 => ("deny", ""),
        6 | 7 => ("warn", "events = [\"PreToolUse\"]\n"),
        8 => ("deny", "events = [\"PreToolUse\", \"PostToolUse\"]\n"),
        _ => ("allow", "events = [\"PermissionRequest\"]\n"),
    };
    let requires = if i.is_multiple_of(3) {
        format!("requires = [\"{tool}\"]\n")
    } else {
        String::new()
    };
    let condition = match i % 8 {
        0..=2 => format!(
            "command = '(^|[;&|]\\s*)(sudo\\s+)?{tool}\\s+(\\S+\\s+)*{verb}\\b.*(-target=module\\.[a-z]+{n}|--all|-auto-approve)'"
        ),
        3 => format!("command = '(?i)\\b{tool}\\s+{verb}\\s+(prod|production|live)-{n}\\b'"),
        4 => {
            let dir = DIRS[i % DIRS.len()];
            let ext = EXTS[i % EXTS.len()];
            format!("path = '^/{dir}/team{n}/.*\\.{ext}$'")
        }
        5 => {
            let server = SERVERS[i % SERVERS.len()];
            format!(
                "tool_regex = '^mcp__{server}__'\narguments = '\"(repo|project|bucket)\"\\s*:\\s*\"(acme|corp)/svc-{n}\"'"
            )
        }
        6 => {
            let server = SERVERS[i % SERVERS.len()];
            format!("tool_regex = '^mcp__{server}__({verb}|{verb}_all)_[a-z]+{n}$'")
        }
        _ => format!(
            "prompt = '(?i)(ignore|disregard)\\s+(all\\s+)?(previous|prior)\\s+instructions?\\s+about\\s+{tool}-{n}'"
        ),
    };
    let events = if condition.starts_with("prompt") {
        ""
    } else {
        events
    };
    let action = if condition.starts_with("prompt") {
        "deny"
    } else {
        action
    };
    format!(
        "[[rule]]\nid = \"user-{i}\"\naction = \"{action}\"\n{events}{requires}{condition}\nmessage = \"rule {i}: {tool} {verb} needs a review\"\n\n"
    )
}

fn event(name: &str, fields: serde_json::Value) -> Vec<u8> {
    let mut event = json!({"session_id": "bench", "turn_id": "t1", "transcript_path": null,
        "cwd": "/tmp", "hook_event_name": name, "model": "gpt-5.4", "permission_mode": "default"});
    let serde_json::Value::Object(fields) = fields else {
        panic!("fields must be an object: {fields}");
    };
    for (k, v) in fields {
        event[k] = v;
    }
    event.to_string().into_bytes()
}

/// Runs the case once: wall time in ms (spawn to exit) and the child's peak RSS in KiB.
#[allow(clippy::zombie_processes)] // reaped by `wait4`, which also reports its rusage
fn run_once(case: &Case) -> (f64, i64) {
    if let Some(reset) = &case.reset {
        let _ = std::fs::remove_file(reset);
    }
    let started = Instant::now();
    let mut child = Command::new(&case.program)
        .args(&case.args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", case.config.parent().expect("guard dir"))
        .env("USER", "bench")
        .env("CODEX_GUARD_CONFIG", &case.config)
        .envs(case.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&case.stdin)
        .expect("write stdin");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    let (status, usage) = wait4(i32::try_from(child.id()).expect("a pid fits pid_t"));
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(status, 0, "{} exited with status {status}", case.name);
    assert!(
        out.contains(case.expect) && (case.expect.is_empty() == out.is_empty()),
        "{}: unexpected output {out:?}",
        case.name
    );
    (ms, usage.ru_maxrss)
}

/// Reaps the child and returns its exit status and resource usage (peak RSS in KiB).
/// std cannot report a child's rusage, hence the one FFI call of the project.
#[allow(unsafe_code)]
fn wait4(pid: i32) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    assert_eq!(reaped, pid, "wait4 failed");
    (libc::WEXITSTATUS(status), usage)
}
