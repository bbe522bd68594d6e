//! `rollback-drill registry serve`: the staging registry as an HTTP/JSON
//! service (SPEC section 7), durable in SQLite, with bearer-token roles and
//! rollback authority by role and change type.

mod api;
mod auth;
mod complete;
mod coordinated;
mod listen;
mod store;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use auth::{Role, Tokens, TokensError};
pub use listen::Limits;
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

    /// What is left of an outage, and the added delay.
    fn in_force(&self) -> (Duration, Duration) {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let left = g.0.map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        });
        (left, g.1)
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
    Tokens(#[from] auth::TokensError),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "no place for the registry's state: neither XDG_DATA_HOME nor HOME is set; pass --state FILE"
    )]
    NoStateDir,
    #[error("cannot create the state folder {dir}: {source}; pass --state FILE")]
    StateDir { dir: String, source: std::io::Error },
}

/// Where `registry serve` keeps its state without `--state`: a per-user
/// data folder (created if missing), so a server started inside a project
/// never leaves a database in its working tree.
pub fn default_state() -> Result<std::path::PathBuf, ServeError> {
    let nonempty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    let dir = match (nonempty("XDG_DATA_HOME"), nonempty("HOME")) {
        (Some(data), _) => std::path::PathBuf::from(data),
        (None, Some(home)) => std::path::Path::new(&home).join(".local/share"),
        (None, None) => return Err(ServeError::NoStateDir),
    }
    .join("rollback-drill");
    std::fs::create_dir_all(&dir).map_err(|source| ServeError::StateDir {
        dir: dir.display().to_string(),
        source,
    })?;
    Ok(dir.join("registry.db"))
}

fn app(state: &Path, tokens: Tokens) -> Result<Arc<App>, ServeError> {
    let store = Store::open(state).map_err(|source| ServeError::State {
        file: state.display().to_string(),
        source,
    })?;
    Ok(Arc::new(App {
        store,
        tokens,
        faults: Faults::default(),
        synthetic: complete::Synthetic::default(),
    }))
}

fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Runs the API on `listener` until `shutdown` completes.
fn run(
    listener: std::net::TcpListener,
    app: Arc<App>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        listen::serve(listener, api::router(app), limits, shutdown).await?;
        Ok(())
    })
}

/// Without `--tokens`, the token mapping may come from this variable (the
/// same YAML as a tokens file): how the container backend hands a server
/// its tokens without a file.
pub const TOKENS_ENV: &str = "ROLLBACK_DRILL_TOKENS";

/// Serves until Ctrl-C or SIGTERM. Prints `registry listening on ADDR` once
/// ready (tests and containers wait for that line).
pub fn serve(
    addr: SocketAddr,
    state: &Path,
    tokens: Option<&Path>,
    limits: Limits,
) -> Result<(), ServeError> {
    let from_env = std::env::var(TOKENS_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty());
    let tokens = match (tokens, from_env) {
        (Some(f), _) => Tokens::load(f)?,
        (None, Some(text)) => Tokens::parse(&text, TOKENS_ENV)?,
        (None, None) => {
            let t = Tokens::generate();
            eprintln!("no --tokens file: generated one token per role for this run:");
            for (token, role) in t.iter() {
                eprintln!("  {:13} {token}", role.as_str());
            }
            t
        }
    };
    let app = app(state, tokens)?;
    let listener = bind(addr)?;
    eprintln!("registry state in {}", state.display());
    println!("registry listening on {}", listener.local_addr()?);
    run(listener, app, limits, async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    })
}

/// A registry server running in this process (for benches and drivers);
/// it stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

pub fn start(addr: SocketAddr, state: &Path, tokens: Tokens) -> Result<Running, ServeError> {
    let app = app(state, tokens)?;
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        run(listener, app, Limits::default(), async {
            let _ = stopped.await;
        })
    });
    Ok(Running {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
