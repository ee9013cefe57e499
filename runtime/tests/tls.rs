//! TLS is always verified: a service behind the configured CA (`ca_cert`,
//! `SSL_CERT_PATH`) is trusted, an unknown CA or another name is refused and the
//! fail policy applies; `HTTPS_PROXY` and `NO_PROXY` are honoured.

mod common;

use codex_guard_e2e::fake_akto::Listen;
use codex_guard_e2e::{ConnectProxy, FakeAkto, TestCa};
use common::{pre_tool_use, stdout_json, Home, WAIT};

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
