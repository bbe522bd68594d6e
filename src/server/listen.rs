//! Accepting connections without being starved by them.
//!
//! Every connection must send a complete request head within
//! `header_timeout`, on arrival and again whenever it sits idle between
//! requests; otherwise it is closed. At most `max_connections` are open at
//! once: one over the cap is closed at once, so `accept` never runs out of
//! descriptors and a client that asks something is served as soon as idle
//! ones time out. At start the server raises its own descriptor limit to
//! the hard limit, so the cap, not the limit, is what binds.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

/// How many descriptors the server keeps for itself (its state file,
/// logs) beyond its connections.
const RESERVED_FDS: u64 = 64;

/// How long a graceful shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(5);

/// The limits `registry serve` puts on its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A connection must send a whole request head this soon after it
    /// opens or after its last answer.
    pub header_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Raises the soft descriptor limit to the hard one and returns the
/// connections that fit under it with [`RESERVED_FDS`] to spare.
pub fn connection_room() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024 - RESERVED_FDS;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur.saturating_sub(RESERVED_FDS).max(1)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets
/// requests in flight finish (up to [`DRAIN`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cap = limits
        .max_connections
        .min(connection_room() as usize)
        .max(1);
    let open = Arc::new(tokio::sync::Semaphore::new(cap));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut over_cap_told = false;
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors or a connection reset before it was
                // taken: try again shortly rather than spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            if !over_cap_told {
                eprintln!(
                    "registry: {cap} connections open (the cap): closing new ones until some end (see --max-connections)"
                );
                over_cap_told = true;
            }
            drop(stream);
            continue;
        };
        over_cap_told = false;
        let service = TowerToHyperService::new(router.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(DRAIN) => {},
    }
    Ok(())
}
