//! The one kind of HTTP call the runtime makes: a JSON POST bounded by a deadline,
//! TLS always verified, proxies from the environment (`HTTPS_PROXY`, `NO_PROXY`, ...)
//! honoured.
//!
//! Trust: a certificate is accepted when it chains to the configured CA bundle
//! (`ca_cert`, `SSL_CERT_PATH`) or to the OS trust store. The stores are consulted in
//! that order and each only when the previous one does not know the issuer, so a
//! hook talking to a service behind the configured CA never pays for reading and
//! parsing the whole OS store (which would cost more than the rest of the hook).
//! Mozilla's roots, compiled in, stand in for an OS store that is missing or empty.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct};
use rustls::{RootCertStore, SignatureScheme, StreamOwned};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    TcpConnector, Transport as UreqTransport, TransportAdapter,
};

/// Largest answer read from the service; Akto's verdicts are a few hundred bytes.
const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;

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
    /// `false` when the service refused the record itself (HTTP 4xx other than 408
    /// and 429): sending it again would be refused again.
    pub retryable: bool,
}

impl SendError {
    fn retryable(message: impl Into<String>) -> SendError {
        SendError {
            message: message.into(),
            retryable: true,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Sends one record. Tests substitute a fake.
pub trait Transport {
    /// POSTs the record and returns the body of a 2xx answer.
    fn post_json(&self, post: &Post<'_>) -> Result<Vec<u8>, SendError>;
}

/// The real transport. The agent (TLS configuration, connection pool) is built on
/// the first call, so an event that sends nothing pays nothing for it.
pub struct Http {
    ca_files: Vec<PathBuf>,
    agent: OnceLock<Result<ureq::Agent, String>>,
}

impl Http {
    /// A transport that also trusts the CA certificates in `ca_files` (PEM).
    pub fn new(ca_files: Vec<PathBuf>) -> Http {
        Http {
            ca_files,
            agent: OnceLock::new(),
        }
    }

    fn agent(&self) -> Result<&ureq::Agent, SendError> {
        self.agent
            .get_or_init(|| agent(&self.ca_files))
            .as_ref()
            .map_err(|e| SendError::retryable(e.clone()))
    }
}

impl Transport for Http {
    fn post_json(&self, post: &Post<'_>) -> Result<Vec<u8>, SendError> {
        if post.timeout.is_zero() {
            return Err(SendError::retryable("no time left before the deadline"));
        }
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
            return Err(SendError {
                message: format!("HTTP {status}: {}", snippet.trim()),
                retryable: status >= 500 || status == 408 || status == 429,
            });
        }
        Ok(bytes)
    }
}

fn describe(e: ureq::Error) -> SendError {
    SendError::retryable(match e {
        ureq::Error::Timeout(_) => "timed out".to_string(),
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    })
}

/// An agent that verifies TLS the runtime's way (also used by `codex-guard doctor`).
/// HTTP status codes are answers, not errors.
pub fn agent(ca_files: &[PathBuf]) -> Result<ureq::Agent, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Layered::new(provider.clone(), ca_files)?;
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
        .build();
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(TcpConnector::default())
            .chain(TlsConnector {
                config: Arc::new(tls),
            });
    Ok(ureq::Agent::with_parts(
        config,
        connector,
        DefaultResolver::default(),
    ))
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
    os: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
}

impl Layered {
    fn new(provider: Arc<CryptoProvider>, ca_files: &[PathBuf]) -> Result<Layered, String> {
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
            os: OnceLock::new(),
        })
    }

    fn os_verifier(&self) -> Option<Arc<WebPkiServerVerifier>> {
        self.os
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                if roots.is_empty() {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                }
                verifier(roots, &self.provider).ok()
            })
            .clone()
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
