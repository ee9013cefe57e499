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
    let akto = FakeAkto::deny_containing("rm-me", "bench deny");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = akto.url();
    let blocking = guard_dir(
        dir.path(),
        "blocking",
        &format!("url = \"{url}\"\ntimeout_ms = 2000\n"),
    );
    let observe = guard_dir(
        dir.path(),
        "observe",
        &format!("url = \"{url}\"\nblocking = false\ntimeout_ms = 2000\n"),
    );
    let local = guard_dir(dir.path(), "local", "");
    // The shipped rules plus 1,000 of the user's own: read from the cache, and (the
    // cache removed before each run) as the first event after the file changed.
    let many = guard_dir(dir.path(), "many-rules", "");
    let many_uncached = guard_dir(dir.path(), "many-rules-uncached", "");
    for config in [&many, &many_uncached] {
        let rules = config.with_file_name("rules.toml");
        let shipped = std::fs::read_to_string(&rules).expect("rules");
        std::fs::write(&rules, format!("{shipped}\n{}", user_rules(1000))).expect("rules");
    }
    // A file changed within the last second is not cached (its times could still
    // miss a change): let these settle.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let redacting = FakeAkto::redacting("SECRET-VALUE", "[REDACTED]");
    let redacted = guard_dir(
        dir.path(),
        "redacted",
        &format!("url = \"{}\"\ntimeout_ms = 2000\n", redacting.url()),
    );

    // HTTPS with a CA made for the run: trusted through `ca_cert`, or found only in
    // a full OS-style bundle (SSL_CERT_FILE = the system bundle + the test CA), the
    // cost of reading and parsing a whole trust store on a call.
    let ca = TestCa::new("bench CA");
    let ca_pem = dir.path().join("bench-ca.pem");
    ca.write_pem(&ca_pem);
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
    let https = guard_dir(
        dir.path(),
        "https",
        &format!(
            "url = \"{}\"\ntimeout_ms = 2000\nca_cert = \"{}\"\n",
            tls_akto.url(),
            ca_pem.display()
        ),
    );
    let https_os = guard_dir(
        dir.path(),
        "https-os",
        &format!("url = \"{}\"\ntimeout_ms = 2000\n", tls_akto.url()),
    );
    let os_bundle = dir.path().join("os-bundle.pem");
    let system = [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .unwrap_or_default();
    let system_certs = system.matches("BEGIN CERTIFICATE").count();
    std::fs::write(&os_bundle, format!("{system}\n{}", ca.pem())).expect("bundle");

    // A service that leaves TCP_NODELAY off and writes head and body apart.
    let nagle = NagleServer::start(ca.server_config(&["127.0.0.1"]));
    let https_nagle = guard_dir(
        dir.path(),
        "https-nagle",
        &format!(
            "url = \"{}\"\ntimeout_ms = 2000\nca_cert = \"{}\"\n",
            nagle.url(),
            ca_pem.display()
        ),
    );
    // A service that takes the request and never answers: when each event finds
    // it so afresh (the breaker's state removed) it waits its deadline; otherwise
    // only the first event does and the breaker decides the others.
    let hung = hung_service();
    let hung_config = format!("url = \"{hung}\"\ntimeout_ms = {HUNG_TIMEOUT_MS}\n");
    let hung_deadline = guard_dir(dir.path(), "hung-deadline", &hung_config);
    let hung_breaker = guard_dir(dir.path(), "hung-breaker", &hung_config);

    let small_transcript = transcript(dir.path(), "small.jsonl", 0);
    let big_transcript = transcript(dir.path(), "big.jsonl", 200 * 1024 * 1024);
    let stop = |path: &Path| {
        event(
            "Stop",
            json!({"transcript_path": path, "stop_hook_active": false,
                   "last_assistant_message": "done"}),
        )
    };
    let mcp_result = event(
        "PostToolUse",
        json!({"tool_name": "mcp__github__get_issue", "tool_use_id": "c1",
               "tool_input": {"number": 7}, "tool_response": {"content": [{"type": "text", "text": "issue"}]}}),
    );
    let secret_result = event(
        "PostToolUse",
        json!({"tool_name": "mcp__vault__read_secret", "tool_use_id": "c1",
               "tool_input": {"name": "db"},
               "tool_response": {"content": [{"type": "text", "text": "db: SECRET-VALUE"}]}}),
    );
    let bash = |cmd: &str| {
        event(
            "PreToolUse",
            json!({"tool_name": "Bash", "tool_use_id": "c1", "tool_input": {"command": cmd}}),
        )
    };
    let case = |name, stdin, config: &PathBuf, expect| Case {
        name,
        program: hook.clone(),
        args: Vec::new(),
        stdin,
        config: config.clone(),
        env: Vec::new(),
        expect,
        runs: None,
        reset: None,
    };
    let cases = vec![
        external("/bin/true", "/bin/true", Vec::new(), &local),
        case(
            "PreToolUse, blocking, allowed by Akto",
            bash("ls -la"),
            &blocking,
            "",
        ),
        case(
            "PreToolUse, blocking, denied by Akto",
            bash("touch rm-me"),
            &blocking,
            "deny",
        ),
        case(
            "PreToolUse, local rules only, denied",
            bash("rm -rf ~"),
            &local,
            "deny",
        ),
        case(
            "PreToolUse, local rules only, allowed",
            bash("ls"),
            &local,
            "",
        ),
        case(
            "PreToolUse, local, a pipeline of 8 commands",
            bash(
                "cd src && grep -rn TODO . | sort | uniq -c | head -20 > /tmp/todo.txt && \
                 git diff --stat && python3 -c 'import sys; print(sys.version)' && ls -la",
            ),
            &local,
            "",
        ),
        case(
            "PreToolUse, local, 3,900-word command",
            bash(&format!(
                "echo {}",
                (0..3900)
                    .map(|i| format!("w{i}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            &local,
            "",
        ),
        case(
            "PreToolUse, local, 1 MB command",
            bash(&format!("echo {} && rm -rf ~", "a".repeat(1 << 20))),
            &local,
            "deny",
        ),
        case(
            "PreToolUse local rules, 1000 user rules",
            bash("ls"),
            &many,
            "",
        ),
        Case {
            // codex_guard_hook::rules_cache::FILE
            reset: Some(
                many_uncached
                    .with_file_name("state")
                    .join("rules-cache.bin"),
            ),
            ..case(
                "PreToolUse local rules, 1000 user rules, 1st",
                bash("ls"),
                &many_uncached,
                "",
            )
        },
        case(
            "PreToolUse local rules, 1000 user rules, denied",
            bash("terraform destroy -auto-approve -target=module.db7"),
            &many,
            "deny",
        ),
        case(
            "PreToolUse, blocking, https, ca_cert",
            bash("ls -la"),
            &https,
            "",
        ),
        case(
            "PreToolUse, blocking, https, denied",
            bash("touch rm-me"),
            &https,
            "deny",
        ),
        Case {
            env: vec![("SSL_CERT_FILE", os_bundle.display().to_string())],
            ..case(
                "PreToolUse, blocking, https, CA in OS store",
                bash("ls -la"),
                &https_os,
                "",
            )
        },
        case(
            "PreToolUse, https, server without NODELAY",
            bash("ls -la"),
            &https_nagle,
            "",
        ),
        Case {
            runs: Some(5),
            reset: Some(hung_deadline.with_file_name("state").join("breaker.json")),
            ..case(
                "PreToolUse, hung service, 500 ms deadline",
                bash("ls -la"),
                &hung_deadline,
                "",
            )
        },
        case(
            "PreToolUse, hung service, breaker open",
            bash("ls -la"),
            &hung_breaker,
            "",
        ),
        case(
            "UserPromptSubmit, observe (spooled)",
            event("UserPromptSubmit", json!({"prompt": "hello"})),
            &observe,
            "",
        ),
        case(
            "PostToolUse MCP result, observe (spooled)",
            mcp_result.clone(),
            &observe,
            "",
        ),
        case(
            "PostToolUse MCP result, blocking, allowed",
            mcp_result.clone(),
            &blocking,
            "",
        ),
        case(
            "PostToolUse MCP result, blocking, redacted",
            secret_result,
            &redacted,
            "[REDACTED]",
        ),
        case(
            "SessionStart (spooled)",
            event("SessionStart", json!({"source": "startup"})),
            &blocking,
            "",
        ),
        case(
            "Stop, blocking, 1 KiB transcript",
            stop(&small_transcript),
            &blocking,
            "",
        ),
        case(
            "Stop, blocking, 200 MiB transcript",
            stop(&big_transcript),
            &blocking,
            "",
        ),
        case("garbage on stdin", b"\x00not json".to_vec(), &local, ""),
        external(
            "python3 -c \"import json, urllib.request\"",
            "python3",
            vec!["-c", "import json, urllib.request"],
            &local,
        ),
    ];

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
        for _ in 0..runs.min(5) {
            run_once(case); // warm the page cache (and open the breaker)
            if let Some(before) = &before {
                run_once(before);
            }
        }
        let mut walls = Vec::with_capacity(runs);
        let mut before_walls = Vec::with_capacity(runs);
        let mut peak_kib = 0;
        for run in 0..runs {
            // Which build goes first alternates: the second of a pair finds the
            // other's pages and the fakes warmer.
            if let Some(before) = before.as_ref().filter(|_| run % 2 == 1) {
                before_walls.push(run_once(before).0);
            }
            let (ms, kib) = run_once(case);
            walls.push(ms);
            peak_kib = peak_kib.max(kib);
            if let Some(before) = before.as_ref().filter(|_| run % 2 == 0) {
                before_walls.push(run_once(before).0);
            }
        }
        // The requests the fakes keep would grow this process, and a child's peak RSS
        // starts from its parent's (Linux carries it across fork and exec).
        akto.clear();
        tls_akto.clear();
        redacting.clear();
        walls.sort_by(f64::total_cmp);
        before_walls.sort_by(f64::total_cmp);
        let pct = |p: usize| percentile(&walls, p);
        println!(
            "{:44} {:>5} {:>10.2} {:>8.2} {:>8.2} {:>13.1}{}",
            case.name,
            runs,
            pct(50),
            pct(95),
            walls[walls.len() - 1],
            peak_kib as f64 / 1024.0,
            if before_walls.is_empty() {
                String::new()
            } else {
                format!("  {:>19.2}", percentile(&before_walls, 50))
            }
        );
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

/// The nearest-rank percentile `p` of sorted `walls`.
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
                let mut buf = [0; 65536];
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
    let mut out = String::new();
    for i in 0..count {
        let tool = TOOLS[i % TOOLS.len()];
        let verb = VERBS[(i / 3) % VERBS.len()];
        let n = i / 7;
        let (action, events) = match i % 10 {
            0..=5 => ("deny", ""),
            6 | 7 => ("warn", "events = [\"PreToolUse\"]\n"),
            8 => ("deny", "events = [\"PreToolUse\", \"PostToolUse\"]\n"),
            _ => ("allow", "events = [\"PermissionRequest\"]\n"),
        };
        let requires = if i % 3 == 0 {
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
        out.push_str(&format!(
            "[[rule]]\nid = \"user-{i}\"\naction = \"{action}\"\n{events}{requires}{condition}\nmessage = \"rule {i}: {tool} {verb} needs a review\"\n\n"
        ));
    }
    out
}

fn event(name: &str, fields: serde_json::Value) -> Vec<u8> {
    let mut event = json!({"session_id": "bench", "turn_id": "t1", "transcript_path": null,
        "cwd": "/tmp", "hook_event_name": name, "model": "gpt-5.4", "permission_mode": "default"});
    for (k, v) in fields.as_object().expect("fields object") {
        event[k] = v.clone();
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
