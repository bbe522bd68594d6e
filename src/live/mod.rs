//! Live drills: the same procedure on the wall clock against a registry
//! server over HTTP (`run --backend http`).
//!
//! The driver seeds the registry with the scenario's state (or checks it
//! matches), sends synthetic traffic to `/v1/complete` and computes the
//! metrics from what it observes — with the same windowed code as the
//! simulation — and runs the procedure's steps as HTTP calls. Scenario time
//! runs `--time-scale` times faster than the wall clock; every reported
//! time is scaled back to scenario time.

mod http;
mod port;
mod prometheus;
mod request;
mod team;

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::drill::{self, Agenda, Procedure, Wake};
use crate::outcome::{DrillOutcome, Measured};
use crate::scenario::{FaultKind, FaultSpec, Plan};

pub use http::Http;
use port::{LivePort, Recorder};

#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// `http://HOST:PORT`; `None` starts a registry server process.
    pub registry: Option<String>,
    pub token: Option<String>,
    pub time_scale: f64,
    /// The `rollback-drill` binary to start a registry server process
    /// with, when there is no `registry`; `None` serves in this process.
    pub server_exe: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "fault `{0}` cannot be injected in a live drill yet (the http backend injects registry_outage and registry_slow); run it simulated"
    )]
    Unsupported(FaultKind),
    #[error("cannot start a registry server: {0}")]
    Server(String),
    #[error("registry {url} is unreachable or refused {what}: {message}")]
    Registry {
        url: String,
        what: String,
        message: String,
    },
    #[error(
        "Prometheus {url} is unreachable or refused a query: {message}; check metrics.prometheus (url, headers, queries)"
    )]
    Prometheus { url: String, message: String },
    #[error("{0}")]
    Environment(String),
    #[error(
        "registry {url} already holds route `{route}` with a different state: {diff}; use a fresh registry or align it"
    )]
    Mismatch {
        url: String,
        route: String,
        diff: String,
    },
}

/// A registry server of our own (a process, or in this process), stopped
/// when dropped.
enum OwnServer {
    Process {
        child: Child,
        _state: tempfile::TempDir,
    },
    InProcess {
        _running: crate::server::Running,
        _state: tempfile::TempDir,
    },
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let OwnServer::Process { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const LEAD_TOKEN: &str = "drill-platform-lead";

fn own_server(exe: Option<&PathBuf>) -> Result<(OwnServer, String), LiveError> {
    let err = |e: std::io::Error| LiveError::Server(e.to_string());
    let dir = tempfile::tempdir().map_err(err)?;
    let Some(exe) = exe else {
        let tokens = crate::server::Tokens::from_pairs([(
            LEAD_TOKEN.to_string(),
            crate::server::Role::PlatformLead,
        )]);
        let running = crate::server::start(
            "127.0.0.1:0".parse().expect("an address"),
            &dir.path().join("state.db"),
            tokens,
        )
        .map_err(|e| LiveError::Server(e.to_string()))?;
        let url = format!("http://{}", running.addr);
        return Ok((
            OwnServer::InProcess {
                _running: running,
                _state: dir,
            },
            url,
        ));
    };
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(&tokens, format!("{LEAD_TOKEN}: platform_lead\n")).map_err(err)?;
    let mut child = Command::new(exe)
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--state"])
        .arg(dir.path().join("state.db"))
        .arg("--tokens")
        .arg(&tokens)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(err)?;
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(err)?;
    let addr = line
        .trim()
        .strip_prefix("registry listening on ")
        .ok_or_else(|| LiveError::Server(format!("unexpected first line {line:?}")))?
        .to_string();
    Ok((
        OwnServer::Process { child, _state: dir },
        format!("http://{addr}"),
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    ReleaseStep(usize),
    Onset,
    Fault(usize),
    Procedure(Wake),
}

/// Runs one live drill.
pub fn run(plan: &Plan, opts: &LiveOptions) -> Result<DrillOutcome, LiveError> {
    let unset = plan.missing_env(|n| std::env::var(n).ok());
    if !unset.is_empty() {
        let lines: Vec<String> = unset.iter().map(ToString::to_string).collect();
        return Err(LiveError::Environment(lines.join("\n")));
    }
    for f in &plan.faults {
        if !matches!(
            f,
            FaultSpec::RegistryOutage { .. } | FaultSpec::RegistrySlow { .. }
        ) {
            return Err(LiveError::Unsupported(f.kind()));
        }
    }
    let (own, base, token) = match &opts.registry {
        Some(url) => (None, url.clone(), opts.token.clone()),
        None => {
            let (server, url) = own_server(opts.server_exe.as_ref())?;
            (Some(server), url, Some(LEAD_TOKEN.to_string()))
        }
    };
    let scale = opts.time_scale.max(1e-6);
    let recorder = Arc::new(Mutex::new(Recorder::new(plan)));
    let mut port = LivePort::new(plan, &base, token.as_deref(), Arc::clone(&recorder), scale)?;
    port.seed()?;
    port.check_prometheus()?;
    let preflight = drill::preflight(plan, &port);

    // Traffic runs on its own thread until the drill ends.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (stop, recorder) = (Arc::clone(&stop), Arc::clone(&recorder));
        let mut http = Http::new(&base, token.as_deref()).map_err(LiveError::Server)?;
        let route = plan.release.route.clone();
        let start = port.start;
        // Real requests per wall second: the scenario's rate sped up by the
        // time scale, within what one client thread can send.
        let rate = (plan.traffic.rps * scale).min(400.0);
        std::thread::spawn(move || {
            let body = json!({"route": route}).to_string();
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = Duration::from_secs_f64(sent as f64 / rate);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
                let now_ms = (start.elapsed().as_secs_f64() * 1000.0 * scale) as u64;
                let reply = http.call("POST", "/v1/complete", Some(&body));
                if reply.status == 200
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&reply.body)
                {
                    recorder
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .record(now_ms, &v);
                }
                sent += 1;
            }
        })
    };

    let mut procedure = Procedure::new(plan);
    let mut agenda = Agenda::default();
    for (i, (offset, _)) in plan.release.schedule.iter().enumerate() {
        agenda.push(plan.release.at.0 + offset.0, Event::ReleaseStep(i));
    }
    agenda.push(plan.release.at.0 + plan.release.onset.0, Event::Onset);
    for (i, f) in plan.faults.iter().enumerate() {
        let at = match f {
            FaultSpec::RegistryOutage { at, .. } => at.0,
            _ => 0,
        };
        agenda.push(at, Event::Fault(i));
    }
    let (at, wake) = procedure.first_wake();
    agenda.push(at, Event::Procedure(wake));
    let end = plan.duration.0;
    let mut ended = end;
    while let Some((at, event)) = agenda.pop() {
        if at > end {
            break;
        }
        let wall = Duration::from_secs_f64(at as f64 / 1000.0 / scale);
        if let Some(wait) = wall.checked_sub(port.start.elapsed()) {
            std::thread::sleep(wait);
        }
        let now = port.now_ms().max(at);
        match event {
            Event::ReleaseStep(i) if i > 0 && procedure.record().detected.is_some() => {
                procedure.note_promotion_halted(now, plan.release.schedule[i].1);
            }
            Event::ReleaseStep(i) => port.release_step(now, i)?,
            Event::Onset => port.onset()?,
            Event::Fault(i) => port.inject(&plan.faults[i])?,
            Event::Procedure(wake) => {
                for (at, next) in procedure.on_wake(now, wake, &mut port) {
                    agenda.push(at, Event::Procedure(next));
                }
            }
        }
        if procedure.is_done() {
            ended = port.now_ms();
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = traffic.join();
    let audit = port.audit();
    let rec = recorder.lock().unwrap_or_else(|p| p.into_inner());
    let measured = Measured {
        impacted_requests: rec.impacted,
        total_requests: rec.total,
        audit,
        timeline: rec.timeline.clone(),
    };
    drop(rec);
    let mut outcome = DrillOutcome::new(plan, procedure.into_record(), measured, ended);
    outcome.preflight = preflight;
    outcome.live = Some(crate::outcome::LiveInfo {
        time_scale: scale,
        wall_s: port.start.elapsed().as_secs_f64(),
    });
    drop(own);
    Ok(outcome)
}
