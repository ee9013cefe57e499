//! An outage of the guardrail service never slows Codex down more than once: the
//! first event that finds the service hung or unreachable waits its deadline (a hard
//! one), the circuit breaker shared by every hook process of the user opens, and the
//! events after it are decided at once by the fail policy, logged as such, until one
//! probe finds the service back and closes it again.

use crate::common::{pre_tool_use, stdout_json, ClosedPort, Home};
use codex_guard_e2e::fake_akto::Reply;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The deadline of these tests.
const TIMEOUT_MS: u64 = 700;
/// How far past the deadline a hook may decide.
const HARD_DEADLINE_SLACK: Duration = Duration::from_millis(50);

/// A service that hangs (reads the request, never answers) while `hung` is set,
/// and allows everything otherwise.
struct Flaky {
    url: String,
    hung: Arc<AtomicBool>,
}

impl Flaky {
    fn start() -> Flaky {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hung = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&hung);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let flag = Arc::clone(&flag);
                std::thread::spawn(move || serve(stream, &flag));
            }
        });
        Flaky { url, hung }
    }
}

fn serve(mut stream: TcpStream, hung: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    loop {
        let mut reader = BufReader::new(&mut stream);
        let mut length = 0;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line.trim().is_empty() => break,
                Ok(_) => {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if hung.load(Ordering::SeqCst) {
            // Hold the connection without a word until the client hangs up.
            let _ = stream.read(&mut [0; 1]);
            return;
        }
        let answer = Reply::verdict(true, "", "block").body;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
    }
}

fn home(url: &str, extra: &str) -> Home {
    Home::new(&format!(
        "url = \"{url}\"\ntimeout_ms = {TIMEOUT_MS}\n{extra}"
    ))
}

/// Runs one PreToolUse event; its wall time and audit line.
fn run(home: &Home) -> (Duration, Value, std::process::Output) {
    let before = home.log().len();
    let started = Instant::now();
    let out = home.run(&pre_tool_use("ls -la"));
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{out:?}");
    let log = home.log();
    assert_eq!(log.len(), before + 1, "{log:?}");
    (elapsed, log[before].clone(), out)
}

fn errors(line: &Value) -> String {
    line["errors"].to_string()
}

#[test]
fn a_hung_service_costs_one_deadline_then_the_breaker_decides_until_a_probe_closes_it() {
    let service = Flaky::start();
    let home = home(&service.url, "breaker_cooldown_ms = 3000\n");

    // The first event finds the service hung: it waits its deadline, no longer.
    let (first, line, out) = run(&home);
    assert!(out.stdout.is_empty(), "fails open: {out:?}");
    assert!(first >= Duration::from_millis(TIMEOUT_MS), "{first:?}");
    assert_eq!(line["source"], "fail-open");
    assert_eq!(line["breaker"], "opened", "{line}");
    assert!(errors(&line).contains("timed out"), "{line}");

    // Several hook processes at once: none asks the service, each decides at once.
    let runs: Vec<Duration> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let started = Instant::now();
                    let out = home.run(&pre_tool_use("ls -la"));
                    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
                    started.elapsed()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    eprintln!("decided by the open breaker in {runs:?}");
    for elapsed in &runs {
        assert!(*elapsed < Duration::from_millis(400), "{elapsed:?}");
    }
    let log = home.log();
    assert_eq!(log.len(), 7);
    for line in &log[1..] {
        assert_eq!(line["source"], "fail-open", "{line}");
        assert_eq!(line["breaker"], "open", "{line}");
        assert!(errors(line).contains("not asked"), "{line}");
        // The event is still kept for ingestion.
        assert_eq!(line["spooled"], 1, "{line}");
    }

    // The service is back; after the cool-down one probe asks it and closes the breaker.
    service.hung.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(3100));
    let (_, probe, _) = run(&home);
    assert_eq!(probe["source"], "akto", "{probe}");
    assert_eq!(probe["breaker"], "probe", "{probe}");
    let (_, closed, _) = run(&home);
    assert_eq!(closed["source"], "akto", "{closed}");
    assert!(closed.get("breaker").is_none(), "{closed}");
}

#[test]
fn a_failed_probe_opens_the_breaker_for_longer_and_fail_closed_blocks_meanwhile() {
    let service = Flaky::start();
    let home = home(
        &service.url,
        "breaker_cooldown_ms = 500\nfail_closed = true\n",
    );
    let (_, line, out) = run(&home);
    assert_eq!(line["source"], "fail-closed");
    assert_eq!(line["breaker"], "opened");
    let deny = stdout_json(&out);
    assert_eq!(deny["hookSpecificOutput"]["permissionDecision"], "deny");

    let (fast, line, out) = run(&home);
    assert!(fast < Duration::from_millis(400), "{fast:?}");
    assert_eq!(line["source"], "fail-closed", "{line}");
    assert_eq!(line["breaker"], "open", "{line}");
    let reason = stdout_json(&out)["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("fail closed"), "{reason}");

    // The probe after the first cool-down fails: the next cool-down is twice as long.
    std::thread::sleep(Duration::from_millis(550));
    let (slow, probe, _) = run(&home);
    assert!(slow >= Duration::from_millis(TIMEOUT_MS), "{slow:?}");
    assert_eq!(probe["breaker"], "opened", "{probe}");
    std::thread::sleep(Duration::from_millis(550));
    let (_, still_open, _) = run(&home);
    assert_eq!(still_open["breaker"], "open", "{still_open}");
    assert!(
        errors(&still_open).contains("after 2 failure(s) in a row"),
        "{still_open}"
    );
}

#[test]
fn a_refused_connection_opens_the_breaker_too() {
    let port = ClosedPort::reserve();
    let home = home(
        &format!("http://127.0.0.1:{}", port.port),
        "breaker_cooldown_ms = 60000\n",
    );
    let (_, line, _) = run(&home);
    assert!(errors(&line).contains("refused"), "{line}");
    assert_eq!(line["breaker"], "opened");
    let (_, line, _) = run(&home);
    assert_eq!(line["breaker"], "open");
    assert_eq!(line["source"], "fail-open");
}

#[test]
fn a_garbage_or_hostile_breaker_file_neither_crashes_the_hook_nor_keeps_it_failing_open() {
    let service = Flaky::start();
    service.hung.store(false, Ordering::SeqCst);
    let home = home(&service.url, "");
    let state = home.guard.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let file = state.join(codex_guard_hook::breaker::STATE_FILE);
    for garbage in [
        &b"\x00\x01garbage"[..],
        b"{\"failures\": \"many\"}",
        b"{\"failures\": 1e400}",
        &vec![b'['; 1 << 20],
    ] {
        std::fs::write(&file, garbage).unwrap();
        let (_, line, _) = run(&home);
        assert_eq!(line["source"], "akto", "{line}");
    }
    // Open "until the end of time": bounded to the longest cool-down, after which a
    // probe asks the service and closes it.
    std::fs::write(
        &file,
        format!(
            "{{\"service\":\"{}\",\"failures\":4000000000,\"open_until_ms\":{1},\
             \"probe_until_ms\":{1},\"last_error\":\"x\"}}",
            service.url,
            u64::MAX
        ),
    )
    .unwrap();
    let (_, line, _) = run(&home);
    assert_eq!(line["breaker"], "open", "{line}");
    let next_ms = line["breaker_retry_ms"].as_u64().unwrap();
    assert!(next_ms <= 60_000, "{line}");
    // A directory where the file should be: the breaker is off, the hook works.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let (_, line, _) = run(&home);
    assert_eq!(line["source"], "akto", "{line}");
}

/// The deadline is a wall: whatever the socket does, the hook decides within
/// [`HARD_DEADLINE_SLACK`] of it (process start-up included).
#[test]
fn the_deadline_is_hard() {
    let service = Flaky::start();
    let home = home(&service.url, "breaker_cooldown_ms = 0\n");
    let mut overshoots: Vec<Duration> = (0..5)
        .map(|_| {
            let (elapsed, line, _) = run(&home);
            assert_eq!(line["source"], "fail-open", "{line}");
            elapsed.saturating_sub(Duration::from_millis(TIMEOUT_MS))
        })
        .collect();
    overshoots.sort();
    eprintln!("overshoot past the deadline: {overshoots:?}");
    assert!(
        overshoots[2] < HARD_DEADLINE_SLACK,
        "median overshoot {:?}",
        overshoots[2]
    );
}
