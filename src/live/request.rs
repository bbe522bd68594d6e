//! One HTTP/1.1 request to any `http://` URL, on its own connection: the
//! `http` steps, Prometheus queries and the clients of a team's staging
//! (`crate::staging::http`) reach a team's endpoints with it.
//! `Connection: close` keeps it simple (the body ends where the stream
//! does); chunked bodies, which Prometheus sends for larger answers, are
//! decoded. No TLS, as for the registry client.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: Option<&'a str>,
    pub timeout: Duration,
    /// The most of the answer's body that is read; the connection is
    /// closed once it is (a step's message quotes a few hundred
    /// characters, and a 400 MB body must not be held in memory).
    pub max_body: usize,
}

/// An answer: status, headers (names lowercased) and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body was longer than `max_body`: `body` is its beginning.
    pub truncated: bool,
}

/// The longest answer head read before giving up on it.
const MAX_HEAD: usize = 64 * 1024;

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why a request got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the URL does not start with http://")]
    NotHttp,
    #[error("the URL needs a host (credentials in the URL are not supported: send a header)")]
    NoHost,
    #[error("cannot resolve {authority}: {source}")]
    Resolve {
        authority: String,
        source: std::io::Error,
    },
    #[error("{0} resolves to no address")]
    NoAddress(String),
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        authority: String,
        source: std::io::Error,
    },
    #[error("sending to {authority}: {source}")]
    Write {
        authority: String,
        source: std::io::Error,
    },
    #[error("{authority} sent more than {kib} KiB without ending its headers")]
    HeadTooLong { authority: String, kib: usize },
    #[error("no full answer from {authority} within {timeout:?}")]
    Timeout {
        authority: String,
        timeout: std::time::Duration,
    },
    #[error("reading from {authority}: {source}")]
    Read {
        authority: String,
        source: std::io::Error,
    },
    #[error("{0} did not answer with HTTP")]
    NotAnHttpAnswer(String),
}

/// `http://host[:port][/path][?query]` → (host:port, path and query).
fn split_url(url: &str) -> Result<(String, String), SendError> {
    let rest = url.strip_prefix("http://").ok_or(SendError::NotHttp)?;
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(cut);
    if authority.is_empty() || authority.contains('@') {
        return Err(SendError::NoHost);
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'))
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let target = match target {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    Ok((authority, target))
}

pub fn send(req: &Request<'_>) -> Result<Response, SendError> {
    let (authority, target) = split_url(req.url)?;
    let deadline = Instant::now() + req.timeout;
    let addr = authority
        .to_socket_addrs()
        .map_err(|source| SendError::Resolve {
            authority: authority.clone(),
            source,
        })?
        .next()
        .ok_or_else(|| SendError::NoAddress(authority.clone()))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, req.timeout).map_err(|source| SendError::Connect {
            authority: authority.clone(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let body = req.body.unwrap_or("");
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.method,
        body.len()
    );
    for (k, v) in req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|source| SendError::Write {
            authority: authority.clone(),
            source,
        })?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        if let Some(end) = head_end(&raw) {
            if raw.len() - end > req.max_body {
                raw.truncate(end + req.max_body);
                truncated = true;
                break;
            }
        } else if raw.len() > MAX_HEAD {
            return Err(SendError::HeadTooLong {
                authority,
                kib: MAX_HEAD / 1024,
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(SendError::Timeout {
                authority,
                timeout: req.timeout,
            });
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|source| SendError::Read {
                authority: authority.clone(),
                source,
            })?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(SendError::Read { authority, source }),
        }
    }
    // Dropping the stream closes it: whatever is left unread is not waited for.
    let mut reply = parse(&raw, truncated).ok_or(SendError::NotAnHttpAnswer(authority))?;
    reply.truncated = truncated;
    Ok(reply)
}

fn head_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn parse(raw: &[u8], truncated: bool) -> Option<Response> {
    let end = head_end(raw)? - 4;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body, truncated)?
    } else {
        body.to_vec()
    };
    Some(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        truncated: false,
    })
}

/// Decodes a chunked body; a `cut` one (read only in part) gives what
/// its whole chunks and the start of the last one hold.
fn dechunk(mut body: &[u8], cut: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return cut.then_some(out);
        };
        let size = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        match body.get(..size) {
            Some(chunk) => out.extend_from_slice(chunk),
            None if cut => {
                out.extend_from_slice(body);
                return Some(out);
            }
            None => return None,
        }
        body = match body.get(size + 2..) {
            Some(rest) => rest,
            None => return cut.then_some(out),
        };
    }
}

/// Percent-encodes a query parameter's value.
pub use crate::scenario::template::percent_encode as encode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_target() {
        assert_eq!(
            split_url("http://h:9090/api/v1/query?query=up").unwrap(),
            ("h:9090".into(), "/api/v1/query?query=up".into())
        );
        assert_eq!(split_url("http://h").unwrap(), ("h:80".into(), "/".into()));
        assert_eq!(
            split_url("http://h:1?x=1").unwrap(),
            ("h:1".into(), "/?x=1".into())
        );
        assert!(split_url("https://h").is_err());
        assert!(split_url("http://u:p@h/").is_err());
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
        let r = parse(raw, false).unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "abcdefg"));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Litellm-Model-Id: a\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse(raw, false).unwrap();
        assert_eq!((r.status, r.body.as_str()), (200, "abcde"));
        assert_eq!(r.header("x-litellm-model-id"), Some("a"));
        assert!(r.is_success());
        assert!(parse(b"garbage\r\n", false).is_none());
        assert_eq!(encode("a b{c=\"1\"}"), "a%20b%7Bc%3D%221%22%7D");
        // Cut inside the second chunk.
        let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nef";
        assert_eq!(parse(cut, true).unwrap().body, "abcdef");
        assert!(parse(cut, false).is_none());
    }

    /// The case that drove a drill to 1.2 GB: a body that does not end.
    /// Read as a whole, the step waited out its timeout and reported no
    /// status; bounded, it has the status and the body's start at once.
    #[test]
    fn an_endless_body_is_read_only_up_to_the_bound() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request);
            let _ = conn.write_all(b"HTTP/1.1 500 Internal Server Error\r\n\r\n");
            let block = [b'x'; 8192];
            let mut sent = 0usize;
            // Until the client hangs up (or 1 GiB, so the test cannot spin).
            while sent < 1 << 30 && conn.write_all(&block).is_ok() {
                sent += block.len();
            }
            sent
        });
        let url = format!("http://{addr}/big");
        let reply = send(&Request {
            method: "GET",
            url: &url,
            headers: &[],
            body: None,
            timeout: Duration::from_secs(20),
            max_body: 64 * 1024,
        })
        .unwrap();
        assert_eq!(reply.status, 500);
        assert!(reply.truncated);
        assert_eq!(reply.body.len(), 64 * 1024);
        let sent = server.join().unwrap();
        assert!(sent < 1 << 30, "the client read everything: {sent} bytes");
    }
}
