//! Setup and doctor tell the truth about the Akto service: against a service that
//! takes the token, one that rejects it (401, 403), one that accepts connections and
//! never answers, a port nobody listens on, and a certificate nobody trusts, each as
//! a real process, per-user and managed. Setup must install anyway and exit 1 with
//! the cause and its fix; doctor must fail `service.reachable` with its own message
//! and fix and call the install degraded (exit 1).

use crate::common::{check, json_of, TestEnv};
use codex_guard_e2e::http::{self, Request, Server};
use codex_guard_e2e::{ConnectProxy, TestCa};
use serde_json::Value;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "right-token-0b8f";

/// Short, so a service that never answers costs the suite one second per run.
const TIMEOUT_MS: &str = "1000";

/// A service on 127.0.0.1, or the address of one that is not there.
struct Service {
    url: String,
    server: Option<Server>,
    /// Holds a port that accepts connections (the kernel completes them) but is never read.
    _silent: Option<TcpListener>,
}

impl Service {
    /// Akto as it answers: 401 to a wrong or missing token, else `{"success":true}`.
    fn requiring(token: &'static str) -> Service {
        Service::answering(None, move |request| {
            if request.header("authorization") == Some(token) {
                (200, r#"{"success":true,"data":{"success":true}}"#)
            } else {
                (401, "")
            }
        })
    }

    /// Answers every call with `status` (a gateway in front of the service, say).
    fn always(status: u16) -> Service {
        Service::answering(None, move |_| (status, r#"{"error":"no"}"#))
    }

    fn answering(
        tls: Option<Arc<rustls::ServerConfig>>,
        answer: impl Fn(&Request) -> (u16, &'static str) + Send + Sync + 'static,
    ) -> Service {
        let handler = move |request: &Request, stream: &mut dyn Write| {
            let (status, body) = answer(request);
            http::write_response(stream, status, "application/json", body.as_bytes())
        };
        let server = Server::start_with(Arc::new(handler), tls, 0);
        Service {
            url: server.url(),
            server: Some(server),
            _silent: None,
        }
    }

    /// Accepts connections and never answers.
    fn silent() -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Service {
            url: format!("http://{}", listener.local_addr().unwrap()),
            server: None,
            _silent: Some(listener),
        }
    }

    /// A port nothing listens on.
    fn refusing() -> Service {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        Service {
            url: format!("http://{addr}"),
            server: None,
            _silent: None,
        }
    }

    /// HTTPS with a certificate signed by `ca`, valid for 127.0.0.1.
    fn tls(ca: &TestCa) -> Service {
        Service::answering(
            Some(ca.server_config(&["127.0.0.1"])),
            |request| match request.header("authorization") {
                Some(TOKEN) => (200, r#"{"success":true}"#),
                _ => (401, ""),
            },
        )
    }

    fn requests(&self) -> Vec<Request> {
        self.server
            .as_ref()
            .map(Server::requests)
            .unwrap_or_default()
    }
}

/// One way the service can fail, and what setup and doctor must say about it.
struct Fault {
    name: &'static str,
    service: Service,
    /// The setup flags besides the URL.
    flags: Vec<String>,
    /// Both setup's warning and doctor's message hold these.
    message: &'static [&'static str],
    /// Doctor's fix (and setup's warning) holds this.
    fix: &'static str,
}

fn faults(ca_dir: &Path) -> Vec<Fault> {
    let untrusted = TestCa::new("nobody trusts this CA");
    std::fs::create_dir_all(ca_dir).unwrap();
    let token = |t: &str| vec!["--token".to_string(), t.to_string()];
    vec![
        Fault {
            name: "401",
            service: Service::requiring(TOKEN),
            flags: token("wrong-token"),
            message: &["rejected the token (HTTP 401)", "hooks fail open"],
            fix: "--token-file FILE` (or --token TOKEN)",
        },
        Fault {
            name: "401 without a token",
            service: Service::requiring(TOKEN),
            flags: Vec::new(),
            message: &["requires a token (HTTP 401) and none is configured"],
            fix: "--token-file FILE` (or --token TOKEN)",
        },
        Fault {
            name: "403",
            service: Service::always(403),
            flags: token(TOKEN),
            message: &["rejected the token (HTTP 403)"],
            fix: "--token-file FILE` (or --token TOKEN)",
        },
        Fault {
            name: "hang",
            service: Service::silent(),
            flags: token(TOKEN),
            message: &["did not answer within 1.0 s (the hooks' deadline, timeout_ms)"],
            fix: "--timeout-ms MS",
        },
        Fault {
            name: "refused",
            service: Service::refusing(),
            flags: token(TOKEN),
            message: &["is unreachable (connection refused"],
            fix: "--url URL",
        },
        Fault {
            name: "untrusted certificate",
            service: Service::tls(&untrusted),
            flags: token(TOKEN),
            message: &["TLS with https://127.0.0.1:", "UnknownIssuer"],
            fix: "--ca-cert FILE",
        },
        Fault {
            name: "no ingestion endpoint",
            service: Service::always(404),
            flags: token(TOKEN),
            message: &["has no Akto ingestion endpoint (HTTP 404"],
            fix: "--url URL` with the Akto data-ingestion URL",
        },
        Fault {
            name: "failing service",
            service: Service::always(503),
            flags: token(TOKEN),
            message: &["failed the probe call (HTTP 503"],
            fix: "check the Akto service and its logs",
        },
    ]
}

/// A hook runtime that answers `--version` as the real one does (doctor runs it).
fn versioned_runtime(path: &Path) {
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then echo \"codex-guard-hook {}\"; fi\nexit 0\n",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A per-user home whose doctor is healthy but for the service.
fn user_env() -> TestEnv {
    let env = TestEnv::new();
    versioned_runtime(&env.runtime);
    std::fs::set_permissions(&env.codex_home, std::fs::Permissions::from_mode(0o755)).unwrap();
    env
}

/// Every check but the service passes (or only warns), so the verdict is the service's.
#[track_caller]
fn only_the_service_fails(report: &Value) {
    let failing: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail" && c["id"] != "service.reachable")
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

#[track_caller]
fn assert_holds(text: &str, needles: &[&str], what: &str) {
    for needle in needles {
        assert!(text.contains(needle), "{what}: {needle:?} not in {text}");
    }
}

/// The probe setup and doctor send: an authenticated POST to Akto's endpoint that asks
/// for neither guardrails nor ingestion, marked as a probe.
#[track_caller]
fn assert_probe_call(request: &Request, token: Option<&str>) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/api/http-proxy?akto_connector=codex_cli");
    assert_eq!(request.header("authorization"), token);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-codex-guard-probe"), Some("1"));
    let body = request.json();
    assert_eq!(body["path"], "/codex-guard/probe");
    assert!(!body["requestPayload"].as_str().unwrap().is_empty());
    let tag: Value = serde_json::from_str(body["tag"].as_str().unwrap()).unwrap();
    assert_eq!(tag["codex-guard-probe"], "true");
}

#[test]
fn a_good_service_is_probed_with_the_token_and_the_install_is_healthy() {
    let service = Service::requiring(TOKEN);
    let env = user_env();
    let out = env
        .setup(&["--url", &service.url, "--token", TOKEN, "--json"])
        .success();
    let report = json_of(&out);
    assert_eq!(report["warnings"], serde_json::json!([]), "{report:#}");
    let requests = service.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_probe_call(&requests[0], Some(TOKEN));

    let out = env
        .run("doctor", &["--json", "--codex-bin", "/nonexistent"])
        .success();
    let report = json_of(&out);
    assert_eq!(report["status"], "healthy", "{report:#}");
    let c = check(&report, "service.reachable");
    assert_eq!(c["status"], "pass", "{c:#}");
    assert_holds(
        c["message"].as_str().unwrap(),
        &["took a probe call with the token (HTTP 200)"],
        "doctor",
    );
    let requests = service.requests();
    assert_eq!(requests.len(), 2);
    assert_probe_call(&requests[1], Some(TOKEN));
}

#[test]
fn each_fault_is_named_by_setup_and_doctor_of_a_per_user_install() {
    let scratch = tempfile::tempdir().unwrap();
    for fault in faults(scratch.path()) {
        let env = user_env();
        let mut args = vec!["--url", &fault.service.url, "--timeout-ms", TIMEOUT_MS];
        args.extend(fault.flags.iter().map(String::as_str));
        let started = Instant::now();
        let out = env.setup(&args).code(1);
        let took = started.elapsed();
        let text = stderr(&out);
        assert_holds(&text, fault.message, fault.name);
        assert_holds(&text, &[fault.fix], fault.name);
        assert!(
            took < Duration::from_secs(6),
            "{}: setup took {took:?}",
            fault.name
        );
        // Installed anyway: the hooks run (failing open), and setup says why they fail.
        assert!(
            env.read("codex-guard/config.toml")
                .contains(&format!("url = \"{}\"", fault.service.url)),
            "{}",
            fault.name
        );
        assert!(env.codex_home.join("hooks.json").is_file());
        assert!(env
            .codex_home
            .join("codex-guard/bin/codex-guard-hook")
            .is_file());
        if let Some(token) = fault.flags.get(1) {
            assert_eq!(env.read("codex-guard/token"), format!("{token}\n"));
        }

        let out = env
            .run("doctor", &["--json", "--codex-bin", "/nonexistent"])
            .code(1);
        let report = json_of(&out);
        assert_eq!(report["status"], "degraded", "{}: {report:#}", fault.name);
        only_the_service_fails(&report);
        let c = check(&report, "service.reachable");
        assert_eq!(c["status"], "fail", "{}: {c:#}", fault.name);
        assert_holds(c["message"].as_str().unwrap(), fault.message, fault.name);
        assert_holds(c["fix"].as_str().unwrap(), &[fault.fix], fault.name);
        assert!(
            !report.to_string().contains("wrong-token"),
            "the token never appears in the report"
        );
        for request in fault.service.requests() {
            assert_probe_call(&request, fault.flags.get(1).map(String::as_str));
        }
    }
}

/// A machine-wide install, against a temp system root.
struct System {
    env: TestEnv,
    root: PathBuf,
    runtime: PathBuf,
}

impl System {
    fn new() -> System {
        let env = TestEnv::new();
        let root = env.root.join("system");
        std::fs::create_dir_all(root.join("etc/codex")).unwrap();
        let runtime = env.root.join("codex-guard-hook");
        versioned_runtime(&runtime);
        System { env, root, runtime }
    }

    fn setup(&self, extra: &[&str], vars: &[(&str, &str)]) -> assert_cmd::assert::Assert {
        self.env
            .cmd()
            .envs(vars.iter().copied())
            .args(["setup", "--managed", "--silent", "--runtime"])
            .arg(&self.runtime)
            .arg("--system-root")
            .arg(&self.root)
            .args(extra)
            .assert()
    }

    fn doctor(&self, code: i32, vars: &[(&str, &str)]) -> Value {
        json_of(
            &self
                .env
                .cmd()
                .envs(vars.iter().copied())
                .args([
                    "doctor",
                    "--managed",
                    "--json",
                    "--codex-bin",
                    "/nonexistent",
                ])
                .arg("--system-root")
                .arg(&self.root)
                .assert()
                .code(code),
        )
    }
}

#[test]
fn each_fault_is_named_by_setup_and_doctor_of_a_managed_install() {
    let scratch = tempfile::tempdir().unwrap();
    for fault in faults(scratch.path()) {
        let sys = System::new();
        let mut args = vec!["--url", &fault.service.url, "--timeout-ms", TIMEOUT_MS];
        args.extend(fault.flags.iter().map(String::as_str));
        let out = sys.setup(&args, &[]).code(1);
        let text = stderr(&out);
        assert_holds(&text, fault.message, fault.name);
        assert_holds(&text, &[fault.fix], fault.name);
        // A fix that changes a setting names the managed setup.
        if fault.fix.starts_with("--") {
            assert_holds(&text, &["codex-guard setup --managed --"], fault.name);
        }
        let config = std::fs::read_to_string(sys.root.join("etc/codex-guard/config.toml")).unwrap();
        assert!(config.contains(&fault.service.url), "{}", fault.name);
        assert!(sys.root.join("etc/codex/requirements.toml").is_file());

        let report = sys.doctor(1, &[]);
        assert_eq!(report["status"], "degraded", "{}: {report:#}", fault.name);
        assert_eq!(report["scope"], "managed");
        only_the_service_fails(&report);
        let c = check(&report, "service.reachable");
        assert_eq!(c["status"], "fail", "{}: {c:#}", fault.name);
        assert_holds(c["message"].as_str().unwrap(), fault.message, fault.name);
        assert_holds(c["fix"].as_str().unwrap(), &[fault.fix], fault.name);
        if fault.fix.starts_with("--") {
            assert_holds(
                c["fix"].as_str().unwrap(),
                &["codex-guard setup --managed --"],
                fault.name,
            );
        }
    }
}

#[test]
fn a_managed_install_probes_with_the_machine_token_not_the_users() {
    let service = Service::requiring(TOKEN);
    let sys = System::new();
    // The user's environment names another token: every user's hook ignores it, so
    // setup and doctor do too.
    let theirs = [("AKTO_API_TOKEN", "the-users-own-token")];
    sys.setup(&["--url", &service.url, "--token", TOKEN], &theirs)
        .success();
    let report = sys.doctor(0, &theirs);
    assert_eq!(report["status"], "healthy", "{report:#}");
    for request in service.requests() {
        assert_probe_call(&request, Some(TOKEN));
    }
    assert_eq!(service.requests().len(), 2);
}

#[test]
fn a_per_user_install_probes_with_the_token_its_hook_sends() {
    let service = Service::requiring(TOKEN);
    let env = user_env();
    let token_file = env.root.join("token.txt");
    std::fs::write(&token_file, format!("  {TOKEN}\n")).unwrap();
    env.setup(&[
        "--url",
        &service.url,
        "--token-file",
        token_file.to_str().unwrap(),
    ])
    .success();
    // The hook of a per-user install sends AKTO_API_TOKEN instead of the file's token.
    let out = env
        .cmd()
        .env("AKTO_API_TOKEN", "a-stale-token")
        .args([
            "doctor",
            "--json",
            "--codex-bin",
            "/nonexistent",
            "--codex-home",
        ])
        .arg(&env.codex_home)
        .assert()
        .code(1);
    let report = json_of(&out);
    let c = check(&report, "service.reachable");
    assert_holds(
        c["message"].as_str().unwrap(),
        &["rejected the token from AKTO_API_TOKEN (HTTP 401)"],
        "doctor",
    );
    assert_holds(
        c["fix"].as_str().unwrap(),
        &["unset or correct AKTO_API_TOKEN"],
        "doctor",
    );
    assert!(!report.to_string().contains("a-stale-token"));
    let requests = service.requests();
    assert_probe_call(&requests[0], Some(TOKEN));
    assert_probe_call(&requests[1], Some("a-stale-token"));
}

#[test]
fn the_probe_trusts_what_the_hook_trusts() {
    let ca = TestCa::new("the company's CA");
    let service = Service::tls(&ca);
    let scratch = tempfile::tempdir().unwrap();
    let pem = scratch.path().join("company-ca.pem");
    ca.write_pem(&pem);
    let pem = pem.to_str().unwrap();

    // ca_cert in the config.
    let env = user_env();
    env.setup(&["--url", &service.url, "--token", TOKEN, "--ca-cert", pem])
        .success();
    let report = json_of(
        &env.run("doctor", &["--json", "--codex-bin", "/nonexistent"])
            .success(),
    );
    assert_eq!(check(&report, "service.reachable")["status"], "pass");

    // SSL_CERT_PATH, which a per-user hook honours.
    let env = user_env();
    env.setup_with(
        &[("SSL_CERT_PATH", pem)],
        &["--url", &service.url, "--token", TOKEN],
    )
    .success();

    // ... and a managed hook ignores.
    let sys = System::new();
    let out = sys
        .setup(
            &["--url", &service.url, "--token", TOKEN],
            &[("SSL_CERT_PATH", pem)],
        )
        .code(1);
    assert_holds(
        &stderr(&out),
        &["UnknownIssuer", "--ca-cert FILE"],
        "managed",
    );
    let report = sys.doctor(1, &[("SSL_CERT_PATH", pem)]);
    assert_eq!(check(&report, "service.reachable")["status"], "fail");
    sys.setup(&["--ca-cert", pem], &[]).success();
    let report = sys.doctor(0, &[]);
    assert_eq!(report["status"], "healthy", "{report:#}");
}

#[test]
fn the_probe_goes_through_the_proxy_of_the_environment() {
    let service = Service::requiring(TOKEN);
    let proxy = ConnectProxy::start();
    let env = user_env();
    let proxy_url = proxy.url();
    env.setup_with(
        &[("HTTP_PROXY", &proxy_url), ("HTTPS_PROXY", &proxy_url)],
        &["--url", &service.url, "--token", TOKEN],
    )
    .success();
    let port = service.url.rsplit(':').next().unwrap().to_string();
    assert!(
        proxy.seen().iter().any(|line| line.contains(&port)),
        "{:?}",
        proxy.seen()
    );
    assert_eq!(service.requests().len(), 1);
}
