//! An HTTP proxy on 127.0.0.1 that records where clients asked to go: `CONNECT
//! host:port` tunnels (HTTPS) and absolute-form requests (plain HTTP), both passed
//! through to the target. Shows that `HTTPS_PROXY`/`HTTP_PROXY` and `NO_PROXY` are
//! honoured.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct ConnectProxy {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    let _ = relay(client, &log);
                });
            }
        });
        ConnectProxy { port, seen }
    }

    /// `http://127.0.0.1:<port>`, for `HTTPS_PROXY`/`HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The request lines received, in order (`CONNECT 127.0.0.1:4433 HTTP/1.1`, ...).
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("proxy log").clone()
    }
}

fn relay(client: TcpStream, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let line = line.trim_end().to_string();
    log.lock().expect("proxy log").push(line.clone());
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client_w = client;
    let (upstream_addr, first_line) = if method == "CONNECT" {
        // Skip the CONNECT request's headers.
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
        }
        (target.to_string(), None)
    } else {
        let rest = target.strip_prefix("http://").unwrap_or(target);
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path = if path.is_empty() { "/" } else { path };
        (
            authority.to_string(),
            Some(format!(
                "{method} {path} {}\r\n",
                parts.next().unwrap_or("HTTP/1.1")
            )),
        )
    };
    // Only ever forward to loopback: the suite never reaches another address.
    if !upstream_addr.starts_with("127.0.0.1:") {
        client_w.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    }
    let mut upstream = TcpStream::connect(&upstream_addr)?;
    match first_line {
        None => client_w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?,
        Some(first) => upstream.write_all(first.as_bytes())?,
    }
    // Whatever the reader buffered belongs to the tunnel.
    let buffered = reader.buffer().to_vec();
    upstream.write_all(&buffered)?;
    let mut from_client = reader.into_inner();
    let mut to_upstream = upstream.try_clone()?;
    let pump = std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_upstream);
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream, &mut client_w);
    let _ = client_w.shutdown(Shutdown::Write);
    let _ = pump.join();
    Ok(())
}
