//! One keep-alive HTTP/1.1 connection of the traffic generator: a request
//! prepared once and written as is, the answer read back into a buffer the
//! connection keeps. Enough for the registry's JSON answers (framed by
//! `Content-Length`, chunked, or by closing); no TLS.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A head bigger than this is not a registry answer.
const MAX_HEAD: usize = 64 * 1024;
/// Nor is a body bigger than this (the registry's answers are ~150 bytes).
const MAX_BODY: usize = 4 * 1024 * 1024;

pub struct Conn {
    stream: TcpStream,
    /// What was read and not yet consumed.
    buf: Vec<u8>,
    /// The decoded body of the last answer.
    body: Vec<u8>,
    /// The server said it closes the connection after this answer.
    closing: bool,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// How the body of an answer ends.
#[derive(Debug, PartialEq)]
enum Framing {
    Length(usize),
    Chunked,
    /// No length given: the body runs until the server closes.
    UntilClose,
}

#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    framing: Framing,
    close: bool,
}

fn parse_head(head: &[u8]) -> io::Result<Head> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("answer head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(invalid("not an HTTP/1.x answer"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("answer without a status"))?;
    // HTTP/1.0 closes unless asked to keep the connection alive.
    let mut close = version == "HTTP/1.0";
    let mut framing = if status == 204 || status == 304 {
        Framing::Length(0)
    } else {
        Framing::UntilClose
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim().to_ascii_lowercase());
        if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            let n = value.parse().map_err(|_| invalid("bad Content-Length"))?;
            framing = Framing::Length(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.contains("close") || (close && !value.contains("keep-alive"));
        }
    }
    if framing == Framing::UntilClose {
        close = true;
    }
    Ok(Head {
        status,
        framing,
        close,
    })
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(1024),
            body: Vec::with_capacity(256),
            closing: false,
        })
    }

    /// The server closes the connection after the last answer: open another.
    pub fn closing(&self) -> bool {
        self.closing
    }

    /// Reads more into the buffer; the end of the stream is an error
    /// unless `eof_ok`.
    async fn fill(&mut self, eof_ok: bool) -> io::Result<bool> {
        let n = self.stream.read_buf(&mut self.buf).await?;
        if n == 0 && !eof_ok {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(n > 0)
    }

    /// Sends `request` (a complete HTTP/1.1 request) and reads the answer:
    /// its status and body.
    pub async fn call(&mut self, request: &[u8]) -> io::Result<(u16, &[u8])> {
        self.buf.clear();
        self.body.clear();
        self.stream.write_all(request).await?;
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(invalid("answer head too long"));
            }
            self.fill(false).await?;
        };
        let head = parse_head(&self.buf[..head_end])?;
        self.closing = head.close;
        match head.framing {
            Framing::Length(n) if n > MAX_BODY => return Err(invalid("answer body too long")),
            Framing::Length(n) => {
                while self.buf.len() < head_end + n {
                    self.fill(false).await?;
                }
                self.body
                    .extend_from_slice(&self.buf[head_end..head_end + n]);
            }
            Framing::Chunked => self.read_chunks(head_end).await?,
            Framing::UntilClose => {
                while self.fill(true).await? {
                    if self.buf.len() - head_end > MAX_BODY {
                        return Err(invalid("answer body too long"));
                    }
                }
                self.body.extend_from_slice(&self.buf[head_end..]);
            }
        }
        Ok((head.status, &self.body))
    }

    /// A chunked body from `at` in the buffer: size lines, data, and a
    /// last empty chunk followed by (ignored) trailers.
    async fn read_chunks(&mut self, mut at: usize) -> io::Result<()> {
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf[at..], b"\r\n") {
                    break at + i;
                }
                if self.buf.len() - at > 1024 {
                    return Err(invalid("bad chunk size line"));
                }
                self.fill(false).await?;
            };
            let line = std::str::from_utf8(&self.buf[at..line_end])
                .map_err(|_| invalid("bad chunk size line"))?;
            let hex = line.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(hex, 16).map_err(|_| invalid("bad chunk size line"))?;
            at = line_end + 2;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    if let Some(i) = find(&self.buf[at..], b"\r\n") {
                        if i == 0 {
                            return Ok(());
                        }
                        at += i + 2;
                        continue;
                    }
                    self.fill(false).await?;
                }
            }
            if self.body.len() + size > MAX_BODY {
                return Err(invalid("answer body too long"));
            }
            while self.buf.len() < at + size + 2 {
                self.fill(false).await?;
            }
            self.body.extend_from_slice(&self.buf[at..at + size]);
            at += size + 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn heads_give_status_framing_and_close() {
        let h = |s: &str| parse_head(s.as_bytes());
        assert_eq!(
            h("HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n").unwrap(),
            Head {
                status: 200,
                framing: Framing::Length(12),
                close: false
            }
        );
        let chunked = h("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").unwrap();
        assert_eq!(
            (chunked.status, chunked.framing, chunked.close),
            (503, Framing::Chunked, true)
        );
        let old = h("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(old.close, "HTTP/1.0 closes by default");
        let kept = h("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
        assert!(!kept.unwrap().close);
        let until = h("HTTP/1.1 200 OK\r\n\r\n").unwrap();
        assert_eq!((until.framing, until.close), (Framing::UntilClose, true));
        assert_eq!(
            h("HTTP/1.1 204 No Content\r\n\r\n").unwrap().framing,
            Framing::Length(0)
        );
        assert!(h("SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(h("HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(h("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
    }

    /// A server that answers each request with the given bytes, in pieces
    /// of `piece` bytes (answers split across reads must still parse).
    async fn serve(answers: Vec<&'static [u8]>, piece: usize) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            for a in answers {
                let mut got = Vec::new();
                while find(&got, b"\r\n\r\n").is_none() {
                    let n = s.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                for p in a.chunks(piece) {
                    s.write_all(p).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn answers_in_every_framing_come_back_whole_over_one_connection() {
        let addr = serve(
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"good\":true}",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3;x=y\r\n 1}\r\n0\r\nX-T: 1\r\n\r\n",
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}",
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nlast",
            ],
            7,
        )
        .await;
        let mut c = Conn::open(addr).await.unwrap();
        let req = b"POST /v1/complete HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n";
        let (s, b) = c.call(req).await.unwrap();
        assert_eq!((s, b), (200, &b"{\"good\":true}"[..]));
        let (s, b) = c.call(req).await.unwrap();
        assert_eq!((s, b), (200, &b"{\"a\": 1}"[..]));
        assert!(!c.closing());
        let (s, b) = c.call(req).await.unwrap();
        assert_eq!((s, b), (404, &b"{}"[..]));
        let (s, b) = c.call(req).await.unwrap();
        assert_eq!((s, b), (200, &b"last"[..]));
        assert!(c.closing());
    }

    #[tokio::test]
    async fn a_connection_closed_mid_answer_is_an_error() {
        let addr = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{"], 64).await;
        let mut c = Conn::open(addr).await.unwrap();
        let err = c.call(b"GET / HTTP/1.1\r\n\r\n").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
