//! An HTTPS guardrail service that behaves like a plain Python server: it leaves
//! `TCP_NODELAY` off (Nagle's algorithm on) and writes each answer in two pieces, the
//! head and then the body. The second piece waits until the client acknowledges the
//! first, so a client that delays its acknowledgements (Linux does for up to 40 ms)
//! pays that delay on every call.

use crate::fake_akto::Reply;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The server; allows every call. Dropping it stops it.
pub struct NagleServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    accept: Option<JoinHandle<()>>,
}

impl NagleServer {
    /// Serves HTTPS on 127.0.0.1 (any free port) with `tls`, keeping connections
    /// alive between requests.
    pub fn start(tls: Arc<rustls::ServerConfig>) -> NagleServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let accept = {
            let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (tls, answered) = (Arc::clone(&tls), Arc::clone(&answered));
                    std::thread::spawn(move || {
                        let _ = serve(stream, tls, &answered);
                    });
                }
            })
        };
        NagleServer {
            addr,
            stop,
            answered,
            accept: Some(accept),
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
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

fn serve(
    tcp: TcpStream,
    tls: Arc<rustls::ServerConfig>,
    answered: &AtomicUsize,
) -> std::io::Result<()> {
    tcp.set_nodelay(false)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let conn = rustls::ServerConnection::new(tls).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let body = Reply::verdict(true, "", "block").body;
    loop {
        let mut reader = BufReader::new(&mut stream);
        let mut length = 0;
        let mut first = true;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(()); // the client hung up
            }
            if first && line.trim().is_empty() {
                continue;
            }
            first = false;
            if line.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
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
        // Two writes, each its own TLS record and TCP segment.
        stream.write_all(head.as_bytes())?;
        stream.flush()?;
        stream.write_all(body.as_bytes())?;
        stream.flush()?;
        answered.fetch_add(1, Ordering::SeqCst);
    }
}
