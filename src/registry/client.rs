//! A small blocking HTTP/1.1 client for the registry API: one keep-alive
//! connection, reopened after any error. Enough for JSON on loopback or a
//! staging network; no TLS (put a TLS-terminating proxy in front).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Http {
    host: String,
    token: Option<String>,
    conn: Option<(BufReader<TcpStream>, TcpStream)>,
    timeout: Duration,
}

/// A response: status and body. Status 0 means no answer at all;
/// `timed_out` says the client gave up waiting for one.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub timed_out: bool,
}

/// A registry URL this client cannot speak to (bad input: exit 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "registry URL `{0}` must start with http:// (no TLS here: put a TLS-terminating proxy in front and give its plain address)"
)]
pub struct NotHttp(pub String);

impl Http {
    /// `base` is `http://HOST:PORT`.
    pub fn new(base: &str, token: Option<&str>) -> Result<Http, NotHttp> {
        let host = base
            .strip_prefix("http://")
            .ok_or_else(|| NotHttp(base.to_string()))?
            .trim_end_matches('/')
            .to_string();
        Ok(Http {
            host,
            token: token.map(str::to_string),
            conn: None,
            timeout: Duration::from_secs(30),
        })
    }

    /// How long to wait to connect, and for each read of an answer.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout.max(Duration::from_millis(1));
        self.conn = None;
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn connect(&mut self) -> std::io::Result<&mut (BufReader<TcpStream>, TcpStream)> {
        if self.conn.is_none() {
            let addr = std::net::ToSocketAddrs::to_socket_addrs(&self.host)?
                .next()
                .ok_or_else(|| std::io::Error::other(format!("{} has no address", self.host)))?;
            let s = TcpStream::connect_timeout(&addr, self.timeout)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            self.conn = Some((BufReader::new(s.try_clone()?), s));
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    pub fn call(&mut self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let no_answer = |e: std::io::Error| Reply {
            status: 0,
            body: String::new(),
            timed_out: matches!(
                e.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ),
        };
        match self.try_call(method, path, body) {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                let first = no_answer(e);
                if first.timed_out {
                    // A server that does not answer is not a stale
                    // keep-alive connection: waiting again would double the wait.
                    return first;
                }
                self.try_call(method, path, body).unwrap_or_else(no_answer)
            }
        }
    }

    fn try_call(&mut self, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Reply> {
        let auth = self
            .token
            .as_ref()
            .map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let body = body.unwrap_or("");
        let host = self.host.clone();
        let (reader, writer) = self.connect()?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(req.as_bytes())?;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            if h == "\r\n" || h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            close |= lower.starts_with("connection:") && lower.contains("close");
        }
        let mut buf = vec![0; length];
        reader.read_exact(&mut buf)?;
        if close {
            self.conn = None;
        }
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&buf).into_owned(),
            timed_out: false,
        })
    }
}
