//! A guardrail service that behaves like a plain Python server: it leaves
//! `TCP_NODELAY` off (Nagle's algorithm on) and writes each answer in two pieces, the
//! head and then the body. The second piece waits until the client acknowledges the
//! first, so a client that delays its acknowledgements (Linux does for up to 40 ms)
//! pays that delay on every call. It keeps connections alive and counts the distinct
//! records it accepted (`X-Codex-Guard-Event-Id`), for delivery measurements.

use crate::fake_akto::Reply;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The server; allows every call. Dropping it stops it.
pub struct NagleServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    ids: Arc<Mutex<HashSet<String>>>,
    tls: bool,
    accept: Option<JoinHandle<()>>,
}

impl NagleServer {
    /// Serves HTTPS on 127.0.0.1 (any free port) with `tls`, keeping connections
    /// alive between requests.
    pub fn start(tls: Arc<rustls::ServerConfig>) -> NagleServer {
        NagleServer::start_with(Some(tls))
    }

    /// Like [`NagleServer::start`], in plain HTTP.
    pub fn start_plain() -> NagleServer {
        NagleServer::start_with(None)
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> NagleServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let ids = Arc::new(Mutex::new(HashSet::new()));
        let is_tls = tls.is_some();
        let accept = {
            let (stop, answered, ids) =
                (Arc::clone(&stop), Arc::clone(&answered), Arc::clone(&ids));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (tls, answered, ids) =
                        (tls.clone(), Arc::clone(&answered), Arc::clone(&ids));
                    std::thread::spawn(move || {
                        let _ = match tls {
                            Some(tls) => serve_tls(stream, tls, &answered, &ids),
                            None => serve(stream, &answered, &ids),
                        };
                    });
                }
            })
        };
        NagleServer {
            addr,
            stop,
            answered,
            ids,
            tls: is_tls,
            accept: Some(accept),
        }
    }

    /// `https://127.0.0.1:<port>` (`http://` in plain HTTP).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The distinct record ids accepted so far.
    pub fn distinct_ids(&self) -> usize {
        self.ids.lock().expect("ids").len()
    }

    /// Calls answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for NagleServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve_tls(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    answered: &AtomicUsize,
    ids: &Mutex<HashSet<String>>,
) -> std::io::Result<()> {
    tcp.set_nodelay(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    answer_all(rustls::StreamOwned::new(conn, tcp), answered, ids)
}

fn serve(
    tcp: TcpStream,
    answered: &AtomicUsize,
    ids: &Mutex<HashSet<String>>,
) -> std::io::Result<()> {
    tcp.set_nodelay(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    answer_all(tcp, answered, ids)
}

/// Answers every request of one connection until the client hangs up.
fn answer_all<S: Read + Write>(
    mut stream: S,
    answered: &AtomicUsize,
    ids: &Mutex<HashSet<String>>,
) -> std::io::Result<()> {
    let body = Reply::verdict(true, "", "block").body;
    loop {
        let mut reader = BufReader::new(&mut stream);
        let mut length = 0;
        let mut id = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(()); // the client hung up
            }
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("x-codex-guard-event-id") {
                    id = Some(value.trim().to_string());
                }
            }
        }
        let mut request_body = vec![0; length];
        reader.read_exact(&mut request_body)?;
        drop(reader);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // Two writes, each its own TCP segment (and TLS record).
        stream.write_all(head.as_bytes())?;
        stream.flush()?;
        stream.write_all(body.as_bytes())?;
        stream.flush()?;
        if let Some(id) = id {
            ids.lock().expect("ids").insert(id);
        }
        answered.fetch_add(1, Ordering::SeqCst);
    }
}
