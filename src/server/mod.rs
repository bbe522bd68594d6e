//! `rollback-drill registry serve`: the staging registry as an HTTP/JSON
//! service (SPEC section 7), durable in SQLite, with bearer-token roles and
//! rollback authority by role and change type.

mod api;
mod auth;
mod complete;
mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use auth::{Role, Tokens};
pub use store::{AuditRow, RouteRecord, Store, StoreError};

/// Shared by every request.
pub struct App {
    store: Store,
    tokens: Tokens,
    faults: Faults,
    synthetic: complete::Synthetic,
}

/// Registry faults injected at run time.
#[derive(Default)]
struct Faults(Mutex<(Option<Instant>, Duration)>);

impl Faults {
    fn state(&self) -> (bool, Duration) {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (g.0.is_some_and(|until| Instant::now() < until), g.1)
    }

    fn outage(&self, d: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).0 = Some(Instant::now() + d);
    }

    fn slow(&self, d: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).1 = d;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the state file {file}: {source}")]
    State { file: String, source: StoreError },
    #[error("cannot listen on {addr}: {source}; pick a free port or another address")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tokens(String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves until Ctrl-C or SIGTERM. Prints `registry listening on ADDR` once
/// ready (tests and containers wait for that line).
pub fn serve(addr: SocketAddr, state: &Path, tokens: Option<&Path>) -> Result<(), ServeError> {
    let store = Store::open(state).map_err(|source| ServeError::State {
        file: state.display().to_string(),
        source,
    })?;
    let tokens = match tokens {
        Some(f) => Tokens::load(f).map_err(ServeError::Tokens)?,
        None => {
            let t = Tokens::generate();
            eprintln!("no --tokens file: generated one token per role for this run:");
            for (token, role) in t.iter() {
                eprintln!("  {:13} {token}", role.as_str());
            }
            t
        }
    };
    let app = Arc::new(App {
        store,
        tokens,
        faults: Faults::default(),
        synthetic: complete::Synthetic::default(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let local = listener.local_addr()?;
        println!("registry listening on {local}");
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        };
        axum::serve(listener, api::router(app))
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    })
}
