//! The one kind of HTTP call the runtime makes: a JSON POST bounded by a deadline,
//! TLS always verified, proxies from the environment (`HTTPS_PROXY`, `NO_PROXY`, ...)
//! honoured.
//!
//! The deadline of a hook's call is a wall-clock wall: a watchdog thread, sleeping
//! beside the call, shuts the agent's connections down when the deadline passes,
//! which ends a read, a write or a TLS handshake at once (a socket timeout alone
//! fired late). Name resolution and connecting are bounded by ureq's own timeout of
//! the same length. The call itself runs on the caller's thread, so an answer is
//! used without waiting for another thread to be scheduled. The delivery process,
//! which reuses its agent for thousands of calls, relies on ureq's timeouts alone
//! ([`Http::without_watchdog`]).
//!
//! Latency: every socket has `TCP_NODELAY`, a request leaves in one write (the
//! bytes ureq hands over are held until it waits for the answer), and on Linux
//! `TCP_QUICKACK` is set before each read, so a service that writes its answer in
//! two pieces without `TCP_NODELAY` is not held 40 ms by a delayed acknowledgement.
//!
//! Trust: a certificate is accepted when it chains to the configured CA bundle
//! (`ca_cert`, `SSL_CERT_PATH`) or to the OS trust store. The stores are consulted in
//! that order and each only when the previous one does not know the issuer, so a
//! hook talking to a service behind the configured CA never reads the OS store. The
//! OS store's trust anchors, once parsed, are cached in the state directory keyed by
//! the identity (device, inode, size, change times) of the bundle files and
//! directories they came from, so later hooks skip reading and parsing ~150
//! certificates. Mozilla's roots, compiled in, stand in for an OS store that is
//! missing or empty.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, Der, ServerName, TrustAnchor, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme, StreamOwned};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    ShutdownHandle, Transport as UreqTransport, TransportAdapter,
};

/// Stack of the deadline's watchdog thread.
const WATCHDOG_STACK: usize = 64 * 1024;

/// Largest answer read from the service; Akto's verdicts are a few hundred bytes.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
/// Idle keep-alive connections kept per host: one per delivery worker.
const IDLE_CONNECTIONS: usize = 8;

/// One POST of a JSON record.
#[derive(Debug, Clone, Copy)]
pub struct Post<'a> {
    pub url: &'a str,
    /// Sent verbatim as `Authorization`.
    pub token: Option<&'a str>,
    pub body: &'a [u8],
    /// The record's unique id, sent as `X-Codex-Guard-Event-Id`.
    pub id: Option<&'a str>,
    pub timeout: Duration,
}

/// Why a call did not get a 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub message: String,
    /// `false` when the service refused the record itself (HTTP 4xx other than 408,
    /// 422 and 429): sending it again would be refused again. Akto answers 422 to
    /// every failure, a passing one included, so a 422 is retried (within a budget).
    pub retryable: bool,
    /// The service could not be reached or did not answer in time (connection
    /// refused, name not resolved, TLS failed, timed out): what opens the breaker.
    /// An HTTP error status is an answer, not an outage.
    pub outage: bool,
    /// The HTTP status of an answer that was not 2xx.
    pub status: Option<u16>,
}

impl SendError {
    /// The service did not answer.
    pub fn outage(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            retryable: true,
            outage: true,
            status: None,
        }
    }

    /// The service answered with a status other than 2xx.
    pub fn status(status: u16, message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            retryable: status >= 500 || matches!(status, 408 | 422 | 429),
            outage: false,
            status: Some(status),
        }
    }

    /// The service answered something unusable (too large, not HTTP).
    fn answer(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            retryable: true,
            outage: false,
            status: None,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Sends one record. Tests substitute a fake. `Sync`: the delivery process sends
/// from several threads at once.
pub trait Transport: Sync {
    /// POSTs the record and returns the body of a 2xx answer.
    fn post_json(&self, post: &Post<'_>) -> Result<Vec<u8>, SendError>;
}

/// The real transport. The agent (TLS configuration, connection pool) is built on
/// the first call, so an event that sends nothing pays nothing for it.
#[derive(Clone)]
pub struct Http {
    inner: Arc<HttpInner>,
    /// Whether a watchdog ends a call at its deadline (which shuts the agent down
    /// for good: for a process that makes one call).
    watchdog: bool,
}

struct HttpInner {
    ca_files: Vec<PathBuf>,
    trust_cache: Option<PathBuf>,
    agent: OnceLock<Result<ureq::Agent, String>>,
}

impl Http {
    /// A transport that also trusts the CA certificates in `ca_files` (PEM).
    pub fn new(ca_files: Vec<PathBuf>) -> Http {
        Http::with_trust_cache(ca_files, None)
    }

    /// Like [`Http::new`], caching the parsed OS trust store in the file `cache`.
    pub fn with_trust_cache(ca_files: Vec<PathBuf>, cache: Option<PathBuf>) -> Http {
        Http {
            inner: Arc::new(HttpInner {
                ca_files,
                trust_cache: cache,
                agent: OnceLock::new(),
            }),
            watchdog: true,
        }
    }

    /// This transport without the watchdog: a call past its deadline ends with
    /// ureq's timeouts, and the agent stays usable for the next calls.
    #[must_use]
    pub fn without_watchdog(self) -> Http {
        Http {
            watchdog: false,
            ..self
        }
    }
}

impl HttpInner {
    fn agent(&self) -> Result<&ureq::Agent, SendError> {
        self.agent
            .get_or_init(|| build_agent(&self.ca_files, self.trust_cache.clone()))
            .as_ref()
            .map_err(|e| SendError::outage(e.clone()))
    }

    fn send(&self, post: &Post<'_>) -> Result<Vec<u8>, SendError> {
        let mut request = self
            .agent()?
            .post(post.url)
            .config()
            .timeout_global(Some(post.timeout))
            .build()
            .header("Content-Type", "application/json");
        if let Some(token) = post.token {
            request = request.header("Authorization", token);
        }
        if let Some(id) = post.id {
            request = request.header("X-Codex-Guard-Event-Id", id);
        }
        let mut response = request.send(post.body).map_err(describe)?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(describe)?;
        if !(200..300).contains(&status) {
            let snippet = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(SendError::status(
                status,
                format!("HTTP {status}: {}", snippet.trim()),
            ));
        }
        Ok(bytes)
    }
}

impl Transport for Http {
    fn post_json(&self, post: &Post<'_>) -> Result<Vec<u8>, SendError> {
        if post.timeout.is_zero() {
            return Err(SendError::outage("no time left before the deadline"));
        }
        let deadline = Instant::now() + post.timeout;
        if !self.watchdog {
            return self.inner.send(post);
        }
        let agent = self.inner.agent()?.clone();
        let done = Arc::new(AtomicBool::new(false));
        let watchdog = {
            let done = Arc::clone(&done);
            std::thread::Builder::new()
                .name("codex-guard-deadline".into())
                // It only sleeps and shuts a socket down: a small stack is quicker to set up.
                .stack_size(WATCHDOG_STACK)
                .spawn(move || loop {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        agent.shutdown();
                        return;
                    }
                    std::thread::park_timeout(left);
                })
        };
        // Without a watchdog thread (none could be started), ureq's timeouts still
        // end the call.
        let result = self.inner.send(post);
        done.store(true, Ordering::SeqCst);
        if let Ok(watchdog) = watchdog {
            watchdog.thread().unpark();
        }
        match result {
            Err(e) if e.outage && Instant::now() >= deadline => Err(SendError::outage("timed out")),
            result => result,
        }
    }
}

fn describe(e: ureq::Error) -> SendError {
    match e {
        ureq::Error::Timeout(_) => SendError::outage("timed out"),
        ureq::Error::Io(io) => SendError::outage(io.to_string()),
        e @ (ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Tls(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::ConnectProxyFailed(_)
        | ureq::Error::TlsRequired) => SendError::outage(e.to_string()),
        other => SendError::answer(other.to_string()),
    }
}

/// An agent that verifies TLS the runtime's way (also used by `codex-guard doctor`).
/// HTTP status codes are answers, not errors.
pub fn agent(ca_files: &[PathBuf]) -> Result<ureq::Agent, String> {
    build_agent(ca_files, None)
}

fn build_agent(ca_files: &[PathBuf], trust_cache: Option<PathBuf>) -> Result<ureq::Agent, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Layered::new(provider.clone(), ca_files, trust_cache)?;
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous() // a verifier that verifies: only the choice of roots is ours
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(format!("codex-guard/{}", codex_guard_common::VERSION))
        // No Accept-Encoding: the requests are exactly Akto's contract, whichever ureq
        // features the rest of the workspace turns on.
        .accept_encoding("")
        .no_delay(true)
        .max_idle_connections_per_host(IDLE_CONNECTIONS)
        .build();
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(FastTcpConnector)
            .chain(TlsConnector {
                config: Arc::new(tls),
            });
    Ok(ureq::Agent::with_parts(config, connector, LiteralFirst))
}

/// Resolves a host that is an IP address at once, and any other through ureq's
/// resolver. With a timeout, ureq's resolver runs the lookup in a thread of its own,
/// which an IP address (a service on loopback or the local network) does not need.
#[derive(Debug)]
struct LiteralFirst;

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let literal = uri.authority().and_then(|authority| {
            let host = authority.host();
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let ip: std::net::IpAddr = host.parse().ok()?;
            let port = authority.port_u16().or_else(|| match uri.scheme_str() {
                Some("https") => Some(443),
                Some("http") => Some(80),
                _ => None,
            })?;
            Some(std::net::SocketAddr::new(ip, port))
        });
        match literal {
            Some(addr) => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => DefaultResolver::default().resolve(uri, config, timeout),
        }
    }
}

/// Opens the TCP connection (ureq's own connector, with the socket options and
/// write coalescing described at the top of this module).
#[derive(Debug)]
struct FastTcpConnector;

impl<In: UreqTransport> Connector<In> for FastTcpConnector {
    type Out = Either<In, FastTcp>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(chained) = chained {
            return Ok(Some(Either::A(chained)));
        }
        let deadline = details.timeout.not_zero().map(|t| Instant::now() + *t);
        let mut last = None;
        for addr in &details.addrs {
            let connected = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ureq::Error::Timeout(details.timeout.reason));
                    }
                    TcpStream::connect_timeout(addr, left)
                }
                None => TcpStream::connect(addr),
            };
            match connected {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    let socket = Arc::new(Socket(stream));
                    let handle: Arc<dyn ShutdownHandle> = socket.clone();
                    (details.register_shutdown)(Arc::downgrade(&handle))?;
                    return Ok(Some(Either::B(FastTcp {
                        socket,
                        buffers: LazyBuffers::new(
                            details.config.input_buffer_size(),
                            details.config.output_buffer_size(),
                        ),
                        pending: Vec::new(),
                    })));
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    last = Some(ureq::Error::Timeout(details.timeout.reason));
                }
                Err(e) => last = Some(ureq::Error::Io(e)),
            }
        }
        Err(last.unwrap_or(ureq::Error::ConnectionFailed))
    }
}

/// A connected socket that ureq's agent can shut down from another thread.
#[derive(Debug)]
struct Socket(TcpStream);

impl ShutdownHandle for Socket {
    fn shutdown(&self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// A TCP connection whose writes are held until the next read, so a request (head
/// and body, or a TLS flight) leaves in one write.
struct FastTcp {
    socket: Arc<Socket>,
    buffers: LazyBuffers,
    pending: Vec<u8>,
}

impl std::fmt::Debug for FastTcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FastTcp")
    }
}

impl FastTcp {
    fn flush_pending(&mut self, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let stream = &self.socket.0;
        stream.set_write_timeout(timeout.for_write().not_zero().map(|t| *t))?;
        let written = (&mut &*stream).write_all(&self.pending);
        self.pending.clear();
        written.map_err(io_error(timeout))
    }
}

/// A socket error, with a timeout reported as ureq's.
fn io_error(timeout: NextTimeout) -> impl Fn(std::io::Error) -> ureq::Error {
    move |e| match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            ureq::Error::Timeout(timeout.reason)
        }
        _ => ureq::Error::Io(e),
    }
}

impl UreqTransport for FastTcp {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, _timeout: NextTimeout) -> Result<(), ureq::Error> {
        let output = &self.buffers.output()[..amount];
        self.pending.extend_from_slice(output);
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.flush_pending(timeout)?;
        let stream = &self.socket.0;
        quick_ack(stream);
        let timeout = timeout.for_read();
        stream.set_read_timeout(timeout.not_zero().map(|t| *t))?;
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match (&mut &*stream).read(input) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                result => break result.map_err(io_error(timeout))?,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        if !self.pending.is_empty() {
            return true;
        }
        // Open when nothing is waiting to be read and the peer has not hung up.
        let stream = &self.socket.0;
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let open = matches!(
            stream.peek(&mut [0]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        );
        open && stream.set_nonblocking(false).is_ok()
    }
}

/// Acknowledges what arrives at once instead of after the delayed-ACK timer: a
/// service that sends its answer in two writes with Nagle on waits for that
/// acknowledgement before the second. Linux only; it resets after use, hence
/// before every read.
fn quick_ack(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::net::sockopt::set_tcp_quickack(stream, true);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = stream;
}

/// Checks that `path` is a PEM bundle with at least one usable CA certificate;
/// returns how many it holds.
pub fn check_ca_bundle(path: &Path) -> Result<usize, String> {
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(read_pem_bundle(path)?);
    if added == 0 {
        return Err(format!(
            "CA bundle {} holds no usable CA certificate",
            path.display()
        ));
    }
    Ok(added)
}

/// Reads every certificate of a PEM bundle.
fn read_pem_bundle(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read CA bundle {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("CA bundle {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("CA bundle {} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// The configured CA bundle, then the OS store (read only when needed), then
/// Mozilla's roots when the OS store has none.
#[derive(Debug)]
struct Layered {
    provider: Arc<CryptoProvider>,
    configured: Option<Arc<WebPkiServerVerifier>>,
    trust_cache: Option<PathBuf>,
    os: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
}

impl Layered {
    fn new(
        provider: Arc<CryptoProvider>,
        ca_files: &[PathBuf],
        trust_cache: Option<PathBuf>,
    ) -> Result<Layered, String> {
        let configured = if ca_files.is_empty() {
            None
        } else {
            let mut roots = RootCertStore::empty();
            for path in ca_files {
                check_ca_bundle(path)?;
                roots.add_parsable_certificates(read_pem_bundle(path)?);
            }
            Some(verifier(roots, &provider)?)
        };
        Ok(Layered {
            provider,
            configured,
            trust_cache,
            os: OnceLock::new(),
        })
    }

    fn os_verifier(&self) -> Option<Arc<WebPkiServerVerifier>> {
        self.os
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.roots = os_trust_anchors(self.trust_cache.as_deref());
                if roots.is_empty() {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
                verifier(roots, &self.provider).ok()
            })
            .clone()
    }
}

/// The OS store's trust anchors: from the cache when it was made from the same
/// files, else read and parsed (and cached when a cache file is given).
fn os_trust_anchors(cache: Option<&Path>) -> Vec<TrustAnchor<'static>> {
    let key = trust_store_key();
    if let Some(anchors) = cache.and_then(|c| trust_cache::read(c, &key)) {
        return anchors;
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(cache) = cache.filter(|_| !roots.is_empty()) {
        trust_cache::write(cache, &key, &roots.roots);
    }
    roots.roots
}

/// Where the OS store is read from (as `rustls-native-certs` finds it) and the
/// identity of each of those files and directories: any change to the store
/// changes this text.
fn trust_store_key() -> String {
    let env_file = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let env_dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|d| {
            std::env::split_paths(&d)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let (file, dirs) = if env_file.is_some() || !env_dirs.is_empty() {
        (env_file, env_dirs)
    } else {
        let probed = openssl_probe::probe();
        (probed.cert_file, probed.cert_dir)
    };
    let mut key = String::from("native-certs 0.8\n");
    for path in file.iter().chain(&dirs) {
        // Writing to a String cannot fail.
        let _ = writeln!(key, "{}\t{}", path.display(), identity(path));
    }
    key
}

/// Device, inode, size and modification and change times of `path` (following
/// links, as the store's reader does), or "missing".
fn identity(path: &Path) -> String {
    let Ok(meta) = std::fs::metadata(path) else {
        return "missing".into();
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!(
            "{}:{}:{}:{}.{}:{}.{}",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        )
    }
    #[cfg(not(unix))]
    {
        format!("{}:{:?}", meta.len(), meta.modified().ok())
    }
}

/// The cache file of parsed trust anchors: a header line, the key text, then each
/// anchor as length-prefixed DER (subject, public key, name constraints). Only read
/// when its key matches; anything malformed is ignored and rewritten. It lives in
/// the user's own state directory, like the `SSL_CERT_FILE` setting it mirrors.
mod trust_cache {
    use super::{Der, TrustAnchor};
    use std::io::Write;
    use std::path::Path;

    const MAGIC: &[u8] = b"codex-guard trust anchors 1\n";
    /// Far more than any OS store (~150 anchors, ~40 KB).
    const MAX_BYTES: u64 = 8 * 1024 * 1024;
    const NONE: u32 = u32::MAX;

    pub(super) fn read(path: &Path, key: &str) -> Option<Vec<TrustAnchor<'static>>> {
        let file = std::fs::File::open(path).ok()?;
        if file.metadata().ok()?.len() > MAX_BYTES {
            return None;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_BYTES), &mut bytes).ok()?;
        let mut rest = bytes.strip_prefix(MAGIC)?;
        let stored_key = take(&mut rest)?;
        if stored_key != key.as_bytes() {
            return None;
        }
        let mut anchors = Vec::new();
        while !rest.is_empty() {
            let subject = take(&mut rest)?.to_vec();
            let spki = take(&mut rest)?.to_vec();
            let constraints = take_optional(&mut rest).ok()?;
            anchors.push(TrustAnchor {
                subject: Der::from(subject),
                subject_public_key_info: Der::from(spki),
                name_constraints: constraints.map(|c| Der::from(c.to_vec())),
            });
        }
        (!anchors.is_empty()).then_some(anchors)
    }

    pub(super) fn write(path: &Path, key: &str, anchors: &[TrustAnchor<'_>]) {
        let Some(bytes) = encode(key, anchors) else {
            return;
        };
        let Some(dir) = path.parent() else { return };
        if crate::private_dir(dir).is_err() {
            return;
        }
        let tmp = dir.join(format!(".tmp-trust-{}", std::process::id()));
        let written = (|| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(&bytes)?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn encode(key: &str, anchors: &[TrustAnchor<'_>]) -> Option<Vec<u8>> {
        let mut bytes = MAGIC.to_vec();
        put(&mut bytes, Some(key.as_bytes()))?;
        for anchor in anchors {
            put(&mut bytes, Some(&anchor.subject))?;
            put(&mut bytes, Some(&anchor.subject_public_key_info))?;
            put(&mut bytes, anchor.name_constraints.as_deref())?;
        }
        Some(bytes)
    }

    /// Appends a length-prefixed field; `None` when a field is too long to be framed
    /// (its length would collide with [`NONE`] or overflow the u32 prefix).
    fn put(out: &mut Vec<u8>, field: Option<&[u8]>) -> Option<()> {
        let len = match field {
            Some(bytes) => u32::try_from(bytes.len()).ok().filter(|&n| n != NONE)?,
            None => NONE,
        };
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(field.unwrap_or_default());
        Some(())
    }

    /// A field that must be present.
    fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        take_optional(rest).ok()?
    }

    /// The file ends inside a field: the cache is corrupt.
    struct Truncated;

    /// A field that may be absent (`Ok(None)`).
    fn take_optional<'a>(rest: &mut &'a [u8]) -> Result<Option<&'a [u8]>, Truncated> {
        let (len, tail) = rest.split_first_chunk::<4>().ok_or(Truncated)?;
        let len = u32::from_le_bytes(*len);
        if len == NONE {
            *rest = tail;
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| Truncated)?;
        if len > tail.len() {
            return Err(Truncated);
        }
        let (field, tail) = tail.split_at(len);
        *rest = tail;
        Ok(Some(field))
    }
}

fn verifier(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("TLS setup: {e}"))
}

impl ServerCertVerifier for Layered {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(configured) = &self.configured {
            match configured.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
                Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {}
                other => return other,
            }
        }
        match self.os_verifier() {
            Some(os) => os.verify_server_cert(end_entity, intermediates, server_name, ocsp, now),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Wraps the chained transport in TLS with our own client configuration (ureq's
/// built-in connector only offers one root store at a time).
#[derive(Debug)]
struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl<In: UreqTransport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::Tls("no connection to wrap in TLS"));
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("URL without a host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::Tls("invalid TLS server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned { conn, sock },
        })))
    }
}

struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl UreqTransport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors() -> Vec<TrustAnchor<'static>> {
        webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .take(20)
            .map(|a| TrustAnchor {
                subject: Der::from(a.subject.to_vec()),
                subject_public_key_info: Der::from(a.subject_public_key_info.to_vec()),
                name_constraints: a.name_constraints.as_ref().map(|c| Der::from(c.to_vec())),
            })
            .collect()
    }

    #[test]
    fn the_trust_cache_is_read_back_only_for_the_same_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("anchors.bin");
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let mut roots = anchors();
        // One with name constraints, so both forms of the field go through.
        roots[0].name_constraints = Some(Der::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]));
        trust_cache::write(&path, "key one", &roots);
        assert_eq!(trust_cache::read(&path, "key one"), Some(roots.clone()));
        // Another store (a changed bundle): not this cache.
        assert_eq!(trust_cache::read(&path, "key two"), None);
    }

    #[test]
    fn a_damaged_trust_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchors.bin");
        trust_cache::write(&path, "key", &anchors());
        let whole = std::fs::read(&path).unwrap();
        for damaged in [
            whole[..whole.len() - 3].to_vec(),
            whole[..40].to_vec(),
            b"codex-guard trust anchors 1\n\xff\xff\xff\x7f".to_vec(),
            b"something else".to_vec(),
            Vec::new(),
        ] {
            std::fs::write(&path, &damaged).unwrap();
            assert_eq!(trust_cache::read(&path, "key"), None, "{damaged:?}");
        }
    }

    #[test]
    fn the_store_key_changes_when_the_bundle_changes() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&bundle, "one").unwrap();
        let before = identity(&bundle);
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&bundle, "two, longer").unwrap();
        assert_ne!(identity(&bundle), before);
        assert_eq!(identity(&dir.path().join("absent")), "missing");
    }
}
