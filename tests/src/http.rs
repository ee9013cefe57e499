//! A tiny std-only HTTP/1.1 server for the fakes: enough of the protocol to take
//! one request per connection from Codex or the hook runtime, and nothing more.
//! Keeping it std-only means the suite depends on no HTTP stack we would also be testing.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a connection may sit idle before the server gives up on it, so a
/// client that never finishes its request cannot park a thread forever.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Requests larger than this are refused: the fakes only ever see small JSON.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, exactly as sent on the request line.
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The raw query string (without `?`), empty when there is none.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// First header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Writes the answer to one request. Handlers own the response bytes so each fake can
/// choose how to frame them (the model streams SSE, Akto sends plain JSON). The
/// stream is the TCP connection, or the TLS session over it.
pub type Handler = dyn Fn(&Request, &mut dyn Write) -> io::Result<()> + Send + Sync;

/// A listening server on `127.0.0.1:<ephemeral>` that records every request.
/// Dropping it stops the accept loop.
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1 on port 0 (never another interface) and serves each
    /// connection on its own thread.
    pub fn start(handler: Arc<Handler>) -> Server {
        Server::start_with(handler, None, 0)
    }

    /// Like [`Server::start`], speaking TLS with `tls` (see [`crate::tls`]).
    pub fn start_tls(handler: Arc<Handler>, tls: Arc<rustls::ServerConfig>) -> Server {
        Server::start_with(handler, Some(tls), 0)
    }

    /// Binds 127.0.0.1 on `port` (0: any free port). A fixed port serves a test that
    /// brings a service back where a client expects it.
    pub fn start_with(
        handler: Arc<Handler>,
        tls: Option<Arc<rustls::ServerConfig>>,
        port: u16,
    ) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("bind 127.0.0.1:{port} for a fake server: {e}"));
        let addr = listener
            .local_addr()
            .expect("local address of a fake server");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let is_tls = tls.is_some();
        let accept_thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let requests = Arc::clone(&requests);
                    let handler = Arc::clone(&handler);
                    let tls = tls.clone();
                    std::thread::spawn(move || match tls {
                        None => serve(stream, &requests, &*handler),
                        Some(tls) => serve_tls(stream, tls, &requests, &*handler),
                    });
                }
            })
        };
        Server {
            addr,
            tls: is_tls,
            requests,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    /// `http://127.0.0.1:<port>` (`https://` for TLS), no trailing slash.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests lock").clone()
    }

    /// Forgets the requests received so far (a long benchmark keeps its memory flat).
    pub fn clear(&self) {
        self.requests.lock().expect("requests lock").clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop only sees the flag when a connection arrives: make one.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(mut stream: TcpStream, requests: &Mutex<Vec<Request>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    answer(&mut stream, requests, handler);
    let _ = stream.shutdown(Shutdown::Write);
}

fn serve_tls(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    requests: &Mutex<Vec<Request>>,
    handler: &Handler,
) {
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    let Ok(conn) = rustls::ServerConnection::new(tls) else {
        return;
    };
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    answer(&mut stream, requests, handler);
    stream.conn.send_close_notify();
    let _ = stream.flush();
    let _ = stream.sock.shutdown(Shutdown::Write);
}

/// Reads one request, records it and lets the handler answer.
fn answer<S: Read + Write>(stream: &mut S, requests: &Mutex<Vec<Request>>, handler: &Handler) {
    let request = match read_request(stream) {
        Ok(Some(request)) => request,
        // The wake-up connection from `Drop`, or a client that hung up.
        Ok(None) => return,
        Err(e) => {
            let _ = write_response(stream, 400, "text/plain", e.to_string().as_bytes());
            return;
        }
    };
    requests
        .lock()
        .expect("requests lock")
        .push(request.clone());
    let _ = handler(&request, stream);
    let _ = stream.flush();
}

/// Reads one request; `Ok(None)` when the peer closed before sending anything.
fn read_request(stream: &mut dyn Read) -> io::Result<Option<Request>> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("bad request line {line:?}")));
    };
    let (method, target) = (method.to_string(), target.to_string());

    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(invalid("connection closed inside the headers".into()));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };

    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let len: usize = header("content-length")
            .map(|v| {
                v.parse()
                    .map_err(|_| invalid(format!("bad content-length {v:?}")))
            })
            .transpose()?
            .unwrap_or(0);
        if len > MAX_BODY {
            return Err(invalid(format!("body of {len} bytes is too large")));
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size_hex = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers, then the final empty line.
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("chunked body is too large".into()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// A complete response with a Content-Length, closing the connection afterwards.
pub fn write_response(
    stream: &mut dyn Write,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
