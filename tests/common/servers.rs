//! Real MLflow and LiteLLM proxy servers for the tests, started from the
//! venvs `.ci/venvs` builds, on free loopback ports, each in its own
//! process group and stopped by its PID when dropped.
//!
//! A missing venv skips the test loudly outside CI (with the command that
//! builds it); under `CI` it fails: nothing here is faked.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rollback_drill::staging::http::Client;

/// Where `.ci/venvs` puts the venvs.
pub fn venvs() -> PathBuf {
    std::env::var_os("ROLLBACK_DRILL_VENVS")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                super::root().join(p)
            }
        })
        .unwrap_or_else(|| super::root().join("target/venvs"))
}

/// The executable `exe` of venv `name`, or `None` after saying why the
/// test is skipped (a failure under CI).
pub fn venv_bin(name: &str, exe: &str) -> Option<PathBuf> {
    let dir = venvs().join(name);
    let bin = dir.join("bin").join(exe);
    if bin.is_file() && dir.join(".complete").is_file() {
        return Some(bin);
    }
    let why = format!(
        "the `{name}` venv is missing or incomplete at {}: build it with `.ci/venvs` (folder: ROLLBACK_DRILL_VENVS)",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("SKIPPED (not under CI): {why}");
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A server process; killed with its process group on drop.
pub struct Server {
    name: &'static str,
    child: Option<Child>,
    command: Vec<String>,
    env: Vec<(String, String)>,
    ready_path: &'static str,
    pub url: String,
    pub dir: tempfile::TempDir,
    log: PathBuf,
    /// How long the last start took until ready.
    pub started_in: Duration,
}

impl Server {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("a log file");
        let mut cmd = Command::new(&self.command[0]);
        cmd.args(&self.command[1..])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log handle"))
            .stderr(log);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        // Its own group: the server's workers die with it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let start = Instant::now();
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name)),
        );
        let client = Client::new(&self.url)
            .expect("a URL")
            .timeout(Duration::from_secs(2));
        let limit = Duration::from_secs(180);
        loop {
            if client.get(self.ready_path).is_ok_and(|r| r.status == 200) {
                break;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "{} exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if start.elapsed() > limit {
                panic!(
                    "{} not ready after {limit:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.started_in = start.elapsed();
        eprintln!(
            "{} ready at {} in {:.1} s",
            self.name,
            self.url,
            self.started_in.as_secs_f64()
        );
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGTERM to the group, SIGKILL after 15 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = format!("-{}", child.id());
        let kill = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever of the group outlived the leader.
        kill("-KILL");
        let _ = child.wait();
    }

    /// Stops and starts it again with the same command (how a config-mode
    /// LiteLLM proxy picks a config change up); returns the time to ready.
    pub fn restart(&mut self) -> Duration {
        self.stop();
        self.spawn();
        self.started_in
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn server(
    name: &'static str,
    command: Vec<String>,
    env: Vec<(String, String)>,
    port: u16,
    ready_path: &'static str,
    dir: tempfile::TempDir,
) -> Server {
    let log = dir.path().join(format!("{name}.log"));
    let mut s = Server {
        name,
        child: None,
        command,
        env,
        ready_path,
        url: format!("http://127.0.0.1:{port}"),
        dir,
        log,
        started_in: Duration::ZERO,
    };
    s.spawn();
    s
}

/// An MLflow tracking server with a fresh SQLite store.
pub fn mlflow() -> Option<Server> {
    let bin = venv_bin("mlflow", "mlflow")?;
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port();
    let d = dir.path().display().to_string();
    let command = vec![
        bin.display().to_string(),
        "server".into(),
        "--backend-store-uri".into(),
        format!("sqlite:///{d}/mlflow.db"),
        "--default-artifact-root".into(),
        format!("{d}/artifacts"),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--workers".into(),
        "1".into(),
    ];
    let env = [
        ("MLFLOW_DISABLE_TELEMETRY", "true"),
        ("DO_NOT_TRACK", "true"),
        // The job executor triples the start time and is not used.
        ("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false"),
    ];
    let env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(server("mlflow", command, env, port, "/health", dir))
}

/// A LiteLLM proxy in config mode, on `config` (written by the caller into
/// a folder of its own).
pub fn litellm(config: &Path) -> Option<Server> {
    let bin = venv_bin("litellm", "litellm")?;
    let dir = tempfile::tempdir().expect("a temp dir");
    let port = free_port();
    let command = vec![
        bin.display().to_string(),
        "--config".into(),
        config.display().to_string(),
        "--host".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
    ];
    // Without it the proxy fetches its cost map from the network.
    let env = vec![(
        "LITELLM_LOCAL_MODEL_COST_MAP".to_string(),
        "True".to_string(),
    )];
    Some(server(
        "litellm",
        command,
        env,
        port,
        "/health/liveliness",
        dir,
    ))
}
