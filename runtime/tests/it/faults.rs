//! Every way the guardrail service can fail, against the real hook binary: whatever
//! the fault, the hook answers Codex within its deadline, applies the fail policy
//! (open by default, closed when configured), records why in the audit log and keeps
//! the event in the spool for delivery later.
//!
//! Each fault is its own server on 127.0.0.1, port 0. Where the service would, had
//! the hook waited for it or read it all, eventually have allowed the event (slow
//! answers, the huge answer), a fail-closed deny also proves the hook did not.

use crate::common::{pre_tool_use, stdout_json, ClosedPort, Home, WAIT};
use codex_guard_e2e::fake_akto::Listen;
use codex_guard_e2e::{FakeAkto, Reply, TestCa};
use serde_json::{json, Value};
use std::any::Any;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The hook's deadline in these tests.
const TIMEOUT_MS: u64 = 800;
/// How far past its deadline a hook may finish: process start-up, spooling and
/// logging on a loaded machine. A bound, not a benchmark.
const MARGIN: Duration = Duration::from_secs(2);
/// The size of the huge answer.
const HUGE_BYTES: u64 = 50 * 1024 * 1024;
/// How often a slow service sends its next byte.
const DRIBBLE: Duration = Duration::from_millis(200);
/// A name only a name server could resolve (none of /etc/hosts).
const HANGING_NAME: &str = "akto.codex-guard-test.example";
/// The body of a verdict allowing everything: what the slow and huge answers would
/// amount to, had the hook waited for them or read them whole.
const ALLOW: &str = r#"{"success":true,"data":{"guardrailsResult":{"Allowed":true,"Reason":"","behaviour":"block"}}}"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Nothing listens on the port.
    ConnectionRefused,
    /// The host name never resolves (`.invalid` is reserved for that).
    DnsFailure,
    /// The service accepts the connection, reads the request, never answers.
    Timeout,
    /// The status line and headers arrive one byte every [`DRIBBLE`].
    SlowHeaders,
    /// The headers arrive at once, the body one byte every [`DRIBBLE`].
    SlowBody,
    Http500,
    Http422,
    /// 200 with a body that is not JSON (truncated).
    InvalidJson,
    /// 200 with a 50 MB body: valid JSON, an allowing verdict, if read whole.
    HugeBody,
    /// HTTPS with a certificate, from the configured CA, for another name.
    WrongCertName,
    /// The name server never answers (only inside the private network namespace of
    /// [`a_name_server_that_never_answers_costs_no_more_than_the_deadline`]).
    DnsHangs,
}

const FAULTS: [Fault; 10] = [
    Fault::ConnectionRefused,
    Fault::DnsFailure,
    Fault::Timeout,
    Fault::SlowHeaders,
    Fault::SlowBody,
    Fault::Http500,
    Fault::Http422,
    Fault::InvalidJson,
    Fault::HugeBody,
    Fault::WrongCertName,
];

impl Fault {
    /// What the logged guardrails error says for this fault (any of these).
    fn expected_error(self) -> &'static [&'static str] {
        match self {
            Fault::ConnectionRefused => &["refused"],
            // The resolver's wording varies; a resolver that is itself unreachable
            // runs into the deadline instead.
            Fault::DnsFailure => &["lookup", "not known", "resolve", "host", "timed out"],
            Fault::Timeout | Fault::SlowHeaders | Fault::SlowBody | Fault::DnsHangs => {
                &["timed out"]
            }
            Fault::Http500 => &["HTTP 500"],
            Fault::Http422 => &["HTTP 422"],
            Fault::InvalidJson => &["invalid JSON"],
            Fault::HugeBody => &["limit"],
            Fault::WrongCertName => &["not valid for name"],
        }
    }

    fn start(self) -> Service {
        match self {
            Fault::ConnectionRefused => {
                let port = ClosedPort::reserve();
                Service::new(format!("http://127.0.0.1:{}", port.port), port)
            }
            Fault::DnsFailure => Service::new("http://codex-guard-fault.invalid/".into(), ()),
            Fault::DnsHangs => Service::new(format!("http://{HANGING_NAME}:8080/"), ()),
            Fault::Timeout => RawServer::start(|mut stream, _| {
                read_request(&mut stream)?;
                // Hold the connection without a word until the hook hangs up.
                let _ = stream.read(&mut [0; 1]);
                Ok(())
            }),
            Fault::SlowHeaders => RawServer::start(|mut stream, _| {
                read_request(&mut stream)?;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{ALLOW}",
                    ALLOW.len()
                );
                dribble(&mut stream, response.as_bytes())
            }),
            Fault::SlowBody => RawServer::start(|mut stream, _| {
                read_request(&mut stream)?;
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    ALLOW.len()
                )?;
                stream.flush()?;
                dribble(&mut stream, ALLOW.as_bytes())
            }),
            Fault::Http500 => respond(500, "oops"),
            Fault::Http422 => respond(422, r#"{"error":"unprocessable"}"#),
            Fault::InvalidJson => respond(200, r#"{"success":true,"data":{"guardrailsRes"#),
            Fault::HugeBody => RawServer::start(|mut stream, sent| {
                read_request(&mut stream)?;
                let result = huge_answer(&mut stream, sent);
                sent.finished.store(true, Ordering::SeqCst);
                result
            }),
            Fault::WrongCertName => {
                let ca = TestCa::new("codex-guard fault CA");
                let akto = FakeAkto::listening(
                    Listen {
                        tls: Some(ca.server_config(&["other.example"])),
                        ..Listen::default()
                    },
                    |_| Reply::verdict(true, "", "block"),
                );
                let dir = tempfile::tempdir().unwrap();
                let ca_path = dir.path().join("ca.pem");
                ca.write_pem(&ca_path);
                let mut service = Service::new(akto.url(), (akto, dir));
                service.config = format!("ca_cert = \"{}\"\n", ca_path.display());
                service
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Policy {
    FailOpen,
    FailClosed,
}

#[derive(Debug, Clone, Copy)]
enum Event {
    PreToolUse,
    UserPromptSubmit,
}

const CASES: [(Policy, Event); 4] = [
    (Policy::FailOpen, Event::PreToolUse),
    (Policy::FailOpen, Event::UserPromptSubmit),
    (Policy::FailClosed, Event::PreToolUse),
    (Policy::FailClosed, Event::UserPromptSubmit),
];

impl Event {
    fn stdin(self) -> Vec<u8> {
        match self {
            Event::PreToolUse => pre_tool_use("ls -la"),
            Event::UserPromptSubmit => json!({"hook_event_name": "UserPromptSubmit",
                "session_id": "sess-1", "turn_id": "turn-1", "prompt": "list the files"})
            .to_string()
            .into_bytes(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Event::PreToolUse => "PreToolUse",
            Event::UserPromptSubmit => "UserPromptSubmit",
        }
    }
}

/// A faulty service and what keeps it running.
struct Service {
    url: String,
    /// Extra lines for the hook's config.
    config: String,
    /// What a raw server wrote of its answers.
    sent: Arc<Sent>,
    _keep: Box<dyn Any>,
}

impl Service {
    fn new(url: String, keep: impl Any) -> Service {
        Service {
            url,
            config: String::new(),
            sent: Arc::default(),
            _keep: Box::new(keep),
        }
    }
}

#[derive(Default)]
struct Sent {
    /// Body bytes the kernel took from the server, over all connections.
    bytes: Mutex<u64>,
    /// Set when the (last) answer ended: written whole, or the hook hung up.
    finished: AtomicBool,
}

/// A std-only server on 127.0.0.1:0 answering each connection (on its own thread)
/// with `answer`, however badly.
struct RawServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl RawServer {
    fn start(
        answer: impl Fn(TcpStream, &Sent) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Sent::default());
        let answer = Arc::new(answer);
        let accept = {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // A hook that never hangs up cannot park the thread forever.
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
                    let (answer, sent) = (Arc::clone(&answer), Arc::clone(&sent));
                    std::thread::spawn(move || {
                        let _ = answer(stream, &sent);
                    });
                }
            })
        };
        let server = RawServer {
            addr,
            stop,
            accept: Some(accept),
        };
        let mut service = Service::new(format!("http://{addr}"), server);
        service.sent = sent;
        service
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop only sees the flag when a connection arrives: make one.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// A complete answer with this status and body.
fn respond(status: u16, body: &'static str) -> Service {
    RawServer::start(move |mut stream, _| {
        read_request(&mut stream)?;
        codex_guard_e2e::http::write_response(
            &mut stream,
            status,
            "application/json",
            body.as_bytes(),
        )
    })
}

/// Reads one request (headers, then Content-Length bytes of body).
fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    std::io::copy(&mut reader.take(length), &mut std::io::sink())?;
    Ok(())
}

/// Sends `bytes` one at a time, every [`DRIBBLE`], until done or the hook hangs up.
fn dribble(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    for byte in bytes {
        stream.write_all(std::slice::from_ref(byte))?;
        stream.flush()?;
        std::thread::sleep(DRIBBLE);
    }
    Ok(())
}

/// A 200 with a [`HUGE_BYTES`] body, as fast as the hook takes it, counting what the
/// kernel accepted. Read whole, the body is an allowing verdict with padding.
fn huge_answer(stream: &mut TcpStream, sent: &Sent) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
         Content-Length: {HUGE_BYTES}\r\nConnection: close\r\n\r\n"
    )?;
    let head = format!("{},\"padding\":\"", ALLOW.strip_suffix('}').unwrap());
    let tail = "\"}";
    let mut left = HUGE_BYTES;
    let mut write = |bytes: &[u8]| -> std::io::Result<()> {
        let mut bytes = bytes;
        while !bytes.is_empty() {
            let n = stream.write(bytes)?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            *sent.bytes.lock().unwrap() += n as u64;
            left -= n as u64;
            bytes = &bytes[n..];
        }
        Ok(())
    };
    write(head.as_bytes())?;
    let chunk = vec![b'a'; 64 * 1024];
    let padding = HUGE_BYTES - (head.len() + tail.len()) as u64;
    let mut padded = 0;
    while padded < padding {
        let n = chunk
            .len()
            .min(usize::try_from(padding - padded).unwrap_or(usize::MAX));
        write(&chunk[..n])?;
        padded += n as u64;
    }
    write(tail.as_bytes())?;
    assert_eq!(left, 0);
    Ok(())
}

/// Holds the delivery process's lock, as a running delivery process would: the hook
/// then starts none, so the spool is seen exactly as the hook left it and nothing
/// but the hook's own verdict call ever reaches the faulty service.
fn hold_delivery_lock(home: &Home) -> File {
    let spool = home.guard.join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(spool.join(codex_guard_common::spool::LOCK_FILE))
        .unwrap();
    lock.try_lock()
        .expect("nobody else holds the delivery lock");
    lock
}

/// One run of the hook against a fault; returns its wall time.
fn run_case(fault: Fault, service: &Service, policy: Policy, event: Event) -> Duration {
    let what = format!("{fault:?} {policy:?} {}", event.name());
    let fail_closed = matches!(policy, Policy::FailClosed);
    let home = Home::new(&format!(
        "url = \"{}\"\ntimeout_ms = {TIMEOUT_MS}\nfail_closed = {fail_closed}\n{}",
        service.url, service.config
    ));
    let _lock = hold_delivery_lock(&home);

    let started = Instant::now();
    let out = home.run(&event.stdin());
    let elapsed = started.elapsed();

    assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
    let bound = Duration::from_millis(TIMEOUT_MS) + MARGIN;
    assert!(elapsed < bound, "{what}: took {elapsed:?}, bound {bound:?}");
    match (policy, event) {
        (Policy::FailOpen, _) => assert!(out.stdout.is_empty(), "{what}: allowed: {out:?}"),
        (Policy::FailClosed, Event::PreToolUse) => {
            let decision = stdout_json(&out);
            let output = &decision["hookSpecificOutput"];
            assert_eq!(output["hookEventName"], "PreToolUse", "{what}");
            assert_eq!(output["permissionDecision"], "deny", "{what}: {decision}");
            let reason = output["permissionDecisionReason"].as_str().unwrap();
            assert!(reason.contains("fail closed"), "{what}: {reason}");
        }
        (Policy::FailClosed, Event::UserPromptSubmit) => {
            let decision = stdout_json(&out);
            assert_eq!(decision["decision"], "block", "{what}: {decision}");
            let reason = decision["reason"].as_str().unwrap();
            assert!(reason.contains("fail closed"), "{what}: {reason}");
        }
    }

    // The audit line says which policy decided, and why.
    let log = home.log();
    assert_eq!(log.len(), 1, "{what}: {log:?}");
    let line = &log[0];
    assert_eq!(line["event"], event.name(), "{what}");
    let (source, decision) = match policy {
        Policy::FailOpen => ("fail-open", "allow"),
        Policy::FailClosed => ("fail-closed", "block"),
    };
    assert_eq!(line["source"], source, "{what}: {line}");
    assert_eq!(line["decision"], decision, "{what}: {line}");
    let errors: Vec<&str> = line["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors logged: {line}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let error = errors
        .iter()
        .find(|e| e.starts_with("guardrails:"))
        .unwrap_or_else(|| panic!("{what}: no guardrails error: {errors:?}"));
    assert!(
        fault.expected_error().iter().any(|e| error.contains(e)),
        "{what}: {error:?} mentions none of {:?}",
        fault.expected_error()
    );

    // The event the service never took is kept for delivery, under the log's id.
    assert_eq!(line["spooled"], 1, "{what}: {line}");
    assert_eq!(line["delivered"], 0, "{what}: {line}");
    let spooled = home.spooled();
    assert_eq!(spooled.len(), 1, "{what}: {spooled:?}");
    assert_eq!(spooled[0]["id"], line["id"], "{what}");
    assert_eq!(spooled[0]["event"], event.name(), "{what}");
    assert_eq!(
        spooled[0]["target"], "/api/http-proxy?akto_connector=codex_cli&ingest_data=true",
        "{what}"
    );

    eprintln!(
        "{:<18} {:<11} {:<17} {:>5} ms  {error}",
        format!("{fault:?}"),
        format!("{policy:?}"),
        event.name(),
        elapsed.as_millis()
    );
    elapsed
}

/// Every case of one fault, against one server.
fn check_fault(fault: Fault) {
    let service = fault.start();
    for (policy, event) in CASES {
        run_case(fault, &service, policy, event);
        if fault == Fault::HugeBody {
            // The hook gave up after reading at most MAX_RESPONSE_BYTES (1 MiB):
            // what the server got rid of is that plus what the kernel buffers,
            // nowhere near the whole body.
            assert!(
                codex_guard_e2e::wait_until(WAIT, || service.sent.finished.load(Ordering::SeqCst)),
                "the huge answer never ended"
            );
            service.sent.finished.store(false, Ordering::SeqCst);
            let sent = std::mem::take(&mut *service.sent.bytes.lock().unwrap());
            eprintln!("HugeBody: the server wrote {sent} of {HUGE_BYTES} bytes");
            assert!(sent < HUGE_BYTES / 4, "{sent} of {HUGE_BYTES} bytes taken");
        }
    }
}

#[test]
fn every_service_fault_applies_the_fail_policy_within_the_deadline_and_spools_the_event() {
    // What the slow and huge answers would amount to is a verdict indeed.
    let allow: Value = serde_json::from_str(ALLOW).unwrap();
    assert_eq!(allow["data"]["guardrailsResult"]["Allowed"], true);
    // One thread per fault: the slow faults take a deadline each, not in turn.
    let failed: Vec<String> = std::thread::scope(|scope| {
        let threads: Vec<_> = FAULTS
            .iter()
            .map(|&fault| (fault, scope.spawn(move || check_fault(fault))))
            .collect();
        threads
            .into_iter()
            .filter_map(|(fault, thread)| thread.join().err().map(|_| format!("{fault:?}")))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "faults not handled: {failed:?} (see above)"
    );
}

/// A name server that never answers: the lookup that glibc would keep trying for
/// 3 x 30 s must not hold the hook past its deadline. The test runs itself again in
/// private network and mount namespaces (nothing outside the test sees them), where
/// `/etc/resolv.conf` is replaced, for that run alone, by one naming 192.0.2.53: an
/// address on a veth link whose other end nobody answers on, so every query is lost.
#[cfg(target_os = "linux")]
#[test]
fn a_name_server_that_never_answers_costs_no_more_than_the_deadline() {
    const INNER: &str = "CODEX_GUARD_TEST_NETNS";
    const TEST: &str = "faults::a_name_server_that_never_answers_costs_no_more_than_the_deadline";
    if std::env::var_os(INNER).is_some() {
        // The fault is real: a lookup goes unanswered.
        let mut lookup = std::process::Command::new("getent")
            .args(["hosts", HANGING_NAME])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("getent runs");
        std::thread::sleep(Duration::from_millis(TIMEOUT_MS * 2));
        let answered = lookup.try_wait().unwrap();
        let _ = lookup.kill();
        let _ = lookup.wait();
        assert_eq!(answered, None, "the name server answered: no hang to test");
        check_fault(Fault::DnsHangs);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 192.0.2.53\noptions timeout:30 attempts:3\n",
    )
    .unwrap();
    codex_guard_e2e::namespace::run_test_inside(
        TEST,
        &["--net"],
        "ip link set lo up; ip link add dns0 type veth peer name dns1; \
         ip addr add 192.0.2.1/24 dev dns0; ip link set dns0 up; ip link set dns1 up; \
         mount --bind \"$0\" /etc/resolv.conf",
        &resolv,
        (INNER, "1".as_ref()),
        "private network and mount namespaces and iproute2",
    );
}
