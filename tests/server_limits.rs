//! `registry serve` under idle connections: a client that asks is served
//! while many connections sit open sending nothing, and an idle one is
//! closed after the header timeout. Each server is a process on a free
//! loopback port, killed when the test ends.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use common::http::{Server, TOKENS, request};

fn server(args: &[&str], fds: Option<u64>) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(&tokens, TOKENS).unwrap();
    let s = Server::start_with(&dir.path().join("state.db"), &tokens, args, fds);
    (dir, s)
}

/// Whether the server closed `conn` (end of stream) before `wait` passed.
fn closed_within(conn: &mut TcpStream, wait: Duration) -> bool {
    conn.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 64];
    matches!(conn.read(&mut buf), Ok(0))
        || matches!(conn.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

/// The reproduction: 1,100 idle, unauthenticated connections to a server
/// started at a 1,024-descriptor limit took every descriptor, and
/// `/healthz` was never answered. The server now raises its limit and
/// caps its connections; this client asks while 1,100 are still open.
/// This test process holds the 1,100 client ends itself: its own soft
/// descriptor limit goes up to the hard one first.
fn raise_own_fd_limit() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct given.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
    }
    l.rlim_cur
}

#[test]
fn a_healthy_client_is_served_while_1100_idle_connections_are_open() {
    let own = raise_own_fd_limit();
    assert!(
        own >= 1200,
        "this machine allows {own} descriptors: the test needs 1,200"
    );
    let (_dir, s) = server(&[], Some(1024));
    let idle: Vec<TcpStream> = (0..1100)
        .map(|i| TcpStream::connect(&s.addr).unwrap_or_else(|e| panic!("connection {i}: {e}")))
        .collect();
    let (status, body) = request(&s.addr, "GET", "/healthz", None, None, &[]);
    assert_eq!(status, 200, "{body}");
    // And again, for a route that reads the state.
    let (status, _) = request(&s.addr, "GET", "/api/routes", Some("viewer-t"), None, &[]);
    assert_eq!(status, 200);
    drop(idle);
}

/// With the descriptor limit fixed (soft = hard) the header timeout is
/// what frees the server: the idle connections are closed, and a client
/// that asks is answered.
#[test]
fn an_idle_connection_is_closed_after_the_header_timeout() {
    let (_dir, s) = server(&["--header-timeout", "1s"], None);
    let mut idle = TcpStream::connect(&s.addr).unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(15)),
        "an idle connection was kept open past --header-timeout"
    );
    // A connection that asked once and then sits idle is closed too.
    let (status, _) = request(&s.addr, "GET", "/healthz", None, None, &[]);
    assert_eq!(status, 200);
}

/// Over `--max-connections`, a new connection is closed at once; once
/// the idle ones end, clients are served again.
#[test]
fn a_connection_over_the_cap_is_closed_at_once() {
    let (_dir, s) = server(&["--max-connections", "8", "--header-timeout", "2s"], None);
    let idle: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(&s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut over = TcpStream::connect(&s.addr).unwrap();
    assert!(
        closed_within(&mut over, Duration::from_millis(1500)),
        "the ninth connection was kept although the cap is 8"
    );
    drop(idle);
    let (status, _) = request(&s.addr, "GET", "/healthz", None, None, &[]);
    assert_eq!(status, 200);
}
