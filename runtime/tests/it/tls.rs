//! TLS is always verified: a service behind the configured CA (`ca_cert`,
//! `SSL_CERT_PATH`) is trusted, an unknown CA or another name is refused and the
//! fail policy applies; `HTTPS_PROXY` and `NO_PROXY` are honoured.

use crate::common::{pre_tool_use, stdout_json, Home, WAIT};
use codex_guard_e2e::fake_akto::Listen;
use codex_guard_e2e::{ConnectProxy, FakeAkto, TestCa};
use codex_guard_hook::transport::{Http, Post, Transport};

/// A fake Akto over HTTPS with a certificate from `ca` for `names`, denying
/// commands that mention `rm-me`.
fn https_akto(ca: &TestCa, names: &[&str]) -> FakeAkto {
    let listen = Listen {
        tls: Some(ca.server_config(names)),
        ..Listen::default()
    };
    FakeAkto::listening(listen, |request| {
        let denied = request.body["requestPayload"]
            .as_str()
            .is_some_and(|p| p.contains("rm-me"));
        codex_guard_e2e::Reply::verdict(!denied, "blocked over TLS", "block")
    })
}

/// The logged error of the verdict call, if it failed.
fn guardrails_error(entry: &serde_json::Value) -> Option<String> {
    entry["errors"]
        .as_array()?
        .iter()
        .filter_map(|e| e.as_str())
        .find(|e| e.starts_with("guardrails:"))
        .map(str::to_string)
}

fn denied_reason(home: &Home, env: &[(&str, &str)]) -> Option<String> {
    let out = home.run_with_env(&pre_tool_use("touch rm-me"), env);
    assert!(out.status.success());
    if out.stdout.is_empty() {
        return None;
    }
    stdout_json(&out)["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn a_service_behind_the_configured_ca_is_trusted() {
    let ca = TestCa::new("codex-guard test CA");
    let akto = https_akto(&ca, &["127.0.0.1"]);
    assert!(akto.url().starts_with("https://127.0.0.1:"));
    let home = Home::remote(&akto.url(), "");
    let ca_path = home.guard.join("ca.pem");
    ca.write_pem(&ca_path);
    std::fs::write(
        home.guard.join("config.toml"),
        format!(
            "url = \"{}\"\ntimeout_ms = 3000\nca_cert = \"{}\"\n",
            akto.url(),
            ca_path.display()
        ),
    )
    .unwrap();
    assert_eq!(
        denied_reason(&home, &[]).as_deref(),
        Some("blocked over TLS")
    );
    assert_eq!(home.log()[0]["source"], "akto");
}

#[test]
fn ssl_cert_path_names_a_trusted_bundle_too() {
    let ca = TestCa::new("codex-guard test CA");
    let akto = https_akto(&ca, &["127.0.0.1"]);
    let home = Home::remote(&akto.url(), "");
    let ca_path = home.guard.join("corp-ca.pem");
    ca.write_pem(&ca_path);
    let ca_path = ca_path.to_string_lossy().into_owned();
    assert_eq!(
        denied_reason(&home, &[("SSL_CERT_PATH", &ca_path)]).as_deref(),
        Some("blocked over TLS")
    );
}

#[test]
fn an_unknown_ca_is_refused_and_the_fail_policy_applies() {
    let ca = TestCa::new("codex-guard test CA");
    let akto = https_akto(&ca, &["127.0.0.1"]);
    // Fail open: the command goes through, the refusal is logged, the event spooled.
    let home = Home::remote(&akto.url(), "");
    assert_eq!(denied_reason(&home, &[]), None);
    let log = home.log();
    assert_eq!(log[0]["source"], "fail-open");
    let error = guardrails_error(&log[0]).unwrap();
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert_eq!(log[0]["spooled"], 1);
    // Fail closed: blocked, with the reason.
    let home = Home::remote(&akto.url(), "fail_closed = true\n");
    let reason = denied_reason(&home, &[]).unwrap();
    assert!(reason.contains("fail closed"), "{reason}");
    // A bundle that is not the service's CA changes nothing.
    let other = TestCa::new("another CA");
    let other_path = home.guard.join("other.pem");
    other.write_pem(&other_path);
    let other_path = other_path.to_string_lossy().into_owned();
    let reason = denied_reason(&home, &[("SSL_CERT_PATH", &other_path)]).unwrap();
    assert!(reason.contains("fail closed"), "{reason}");
}

#[test]
fn a_certificate_for_another_name_is_refused() {
    let ca = TestCa::new("codex-guard test CA");
    let akto = https_akto(&ca, &["akto.other.example"]);
    let home = Home::remote(&akto.url(), "fail_closed = true\n");
    let ca_path = home.guard.join("ca.pem");
    ca.write_pem(&ca_path);
    let ca_path = ca_path.to_string_lossy().into_owned();
    let reason = denied_reason(&home, &[("SSL_CERT_PATH", &ca_path)]).unwrap();
    assert!(reason.contains("fail closed"), "{reason}");
    let error = guardrails_error(&home.log()[0]).unwrap();
    assert!(error.contains("not valid for name"), "{error}");
}

#[test]
fn https_proxy_is_used_and_no_proxy_bypasses_it() {
    let ca = TestCa::new("codex-guard test CA");
    let akto = https_akto(&ca, &["127.0.0.1"]);
    let proxy = ConnectProxy::start();
    let home = Home::remote(&akto.url(), "");
    let ca_path = home.guard.join("ca.pem");
    ca.write_pem(&ca_path);
    let ca_path = ca_path.to_string_lossy().into_owned();
    let proxy_url = proxy.url();
    let through_proxy = [
        ("SSL_CERT_PATH", ca_path.as_str()),
        ("HTTPS_PROXY", proxy_url.as_str()),
    ];
    assert_eq!(
        denied_reason(&home, &through_proxy).as_deref(),
        Some("blocked over TLS")
    );
    let tunnel = format!("CONNECT 127.0.0.1:{} HTTP/1.1", akto.port());
    assert_eq!(proxy.seen().first(), Some(&tunnel), "{:?}", proxy.seen());
    // The record of the block goes the same way, from the delivery process.
    akto.wait_for(WAIT, |r| r.len() >= 2);
    assert!(codex_guard_e2e::wait_until(WAIT, || home
        .spooled()
        .is_empty()));
    assert_eq!(proxy.seen(), [tunnel.clone(), tunnel]);

    // An allowed command: the verdict call is the only call.
    let bypass = [
        ("SSL_CERT_PATH", ca_path.as_str()),
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("NO_PROXY", "localhost,127.0.0.1"),
    ];
    let out = home.run_with_env(&pre_tool_use("ls"), &bypass);
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    assert_eq!(akto.requests().len(), 3);
    assert_eq!(guardrails_error(&home.log()[1]), None);
    assert_eq!(proxy.seen().len(), 2, "NO_PROXY bypasses the proxy");
}

/// Median of `runs` timings of `call`, in ms.
fn median_ms(runs: usize, mut call: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = std::time::Instant::now();
            call();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// One HTTPS POST the way a client without this module's care makes it: a fresh
/// connection with `TCP_NODELAY` (as ureq sets it), the request in two writes, and
/// the kernel's ordinary delayed acknowledgements.
fn naive_post(url: &str, ca: &TestCa) {
    use rustls::pki_types::pem::PemObject;
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap();
    roots.add(der).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let addr = url.trim_start_matches("https://");
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let body = b"{}";
    write!(
        stream,
        "POST /api/http-proxy HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    stream.write_all(body).unwrap();
    stream.flush().unwrap();
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&answer).contains("guardrailsResult\":{") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "answer cut short");
        answer.extend_from_slice(&buf[..n]);
    }
    while !answer.ends_with(b"}}}") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "answer cut short");
        answer.extend_from_slice(&buf[..n]);
    }
}

/// A service that leaves Nagle's algorithm on and writes head and body apart holds
/// the body until the client acknowledges the head: a client that delays that
/// acknowledgement waits about 40 ms per call. The runtime's calls do not.
#[test]
fn a_service_without_tcp_nodelay_does_not_stall_calls() {
    let ca = TestCa::new("codex-guard nagle CA");
    let server = codex_guard_e2e::NagleServer::start(ca.server_config(&["127.0.0.1"]));
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    ca.write_pem(&ca_path);
    let url = format!("{}/api/http-proxy?guardrails=true", server.url());

    // The stall is real for a client that does nothing about it.
    let naive = median_ms(9, || naive_post(&server.url(), &ca));
    // A fresh transport (new connection, full handshake) per call, as each hook has.
    let fresh = median_ms(9, || {
        let http = Http::new(vec![ca_path.clone()]);
        post(&http, &url).unwrap();
    });
    // Calls on one transport reuse the connection, as the delivery process does.
    let http = Http::new(vec![ca_path.clone()]);
    post(&http, &url).unwrap();
    let reused = median_ms(9, || {
        post(&http, &url).unwrap();
    });
    eprintln!("median per call: naive client {naive:.1} ms, runtime {fresh:.1} ms (new connection), {reused:.1} ms (kept alive)");
    assert!(
        naive >= 35.0,
        "the server should stall a client with delayed ACKs ({naive:.1} ms)"
    );
    // Both pay the same handshake; only the naive client pays the stall.
    assert!(
        fresh + 25.0 < naive,
        "a new connection stalled: {fresh:.1} ms against {naive:.1} ms"
    );
    assert!(
        reused < 25.0,
        "a kept-alive connection stalled: {reused:.1} ms"
    );
    assert_eq!(server.answered(), 9 + 9 + 10);
}

/// One POST of `{}` to `url`.
fn post(http: &Http, url: &str) -> Result<Vec<u8>, codex_guard_hook::transport::SendError> {
    http.post_json(&Post {
        url,
        token: None,
        body: b"{}",
        id: None,
        timeout: std::time::Duration::from_secs(5),
    })
}
