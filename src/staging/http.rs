//! A small blocking HTTP/1.1 client for a team's staging systems: one
//! connection per call, response headers kept (LiteLLM names the serving
//! deployment in one), chunked bodies read. No TLS, as for the registry
//! client in `live::http`, which keeps no headers and reads no chunks.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// An answer: status, headers (names lowercased) and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

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

/// Why there was no answer at all.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{0}` is not an http:// URL")]
    Url(String),
    #[error("{method} {url}: no answer: {source}")]
    Io {
        method: String,
        url: String,
        source: std::io::Error,
    },
}

/// A base URL (`http://host:port/prefix`) and the headers sent with every
/// call.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    prefix: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl Client {
    pub fn new(base: &str) -> Result<Client, HttpError> {
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| HttpError::Url(base.to_string()))?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(HttpError::Url(base.to_string()));
        }
        Ok(Client {
            host: host.to_string(),
            prefix: prefix.to_string(),
            headers: Vec::new(),
            timeout: Duration::from_secs(30),
        })
    }

    /// Sends `Authorization: Bearer TOKEN` with every call.
    pub fn bearer(mut self, token: &str) -> Client {
        self.headers
            .push(("Authorization".into(), format!("Bearer {token}")));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The URL of `path` (which starts with `/`), for messages.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}{path}", self.host, self.prefix)
    }

    pub fn get(&self, path: &str) -> Result<Response, HttpError> {
        self.call("GET", path, None)
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Response, HttpError> {
        self.call("POST", path, Some(&body.to_string()))
    }

    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<Response, HttpError> {
        self.try_call(method, path, body)
            .map_err(|source| HttpError::Io {
                method: method.to_string(),
                url: self.url(path),
                source,
            })
    }

    fn try_call(&self, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Response> {
        let addr = self
            .host
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{} has no address", self.host)))?;
        let stream = TcpStream::connect_timeout(&addr, self.timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let mut req = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: */*\r\n",
            self.prefix, self.host
        );
        for (name, value) in &self.headers {
            req.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body.unwrap_or(""));
        (&stream).write_all(req.as_bytes())?;
        read_response(BufReader::new(stream))
    }
}

fn read_response(mut reader: impl BufRead) -> std::io::Result<Response> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP status line: {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::other("a malformed chunk size"))?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
    } else if let Some(length) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_bodies_are_read_whole() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Litellm-Model-Id: a\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = read_response(chunked.as_bytes()).expect("a response");
        assert_eq!((r.status, r.body.as_str()), (200, "abcde"));
        assert_eq!(r.header("x-litellm-model-id"), Some("a"));
        let sized = "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nnoEXTRA";
        let r = read_response(sized.as_bytes()).expect("a response");
        assert_eq!((r.status, r.body.as_str()), (404, "no"));
        assert!(read_response("garbage\r\n".as_bytes()).is_err());
    }

    #[test]
    fn base_urls_keep_their_prefix() {
        let c = Client::new("http://127.0.0.1:9/api/").expect("a URL");
        assert_eq!(c.url("/x"), "http://127.0.0.1:9/api/x");
        assert!(Client::new("https://h").is_err());
        assert!(Client::new("http:///x").is_err());
    }
}
