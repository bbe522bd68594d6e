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
mod load;
mod port;
mod prometheus;
mod recorder;
mod request;
mod team;

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::drill::{self, Agenda, Procedure, Wake};
use crate::outcome::{DrillOutcome, Measured};
use crate::scenario::{FaultKind, FaultSpec, Plan};

pub use http::Http;
pub use load::{FULL_SPEED_POOL, Load, LoadError, LoadStats, Sink, Target};
use port::LivePort;
use recorder::Recorder;

#[derive(Clone)]
pub struct LiveOptions {
    /// `http://HOST:PORT`; `None` starts a registry server process.
    pub registry: Option<String>,
    pub token: Option<String>,
    pub time_scale: f64,
    /// The `rollback-drill` binary to start a registry server process
    /// with, when there is no `registry`; `None` serves in this process.
    pub server_exe: Option<PathBuf>,
    /// `--backend container`: each drill's registry runs in a container
    /// of its own, started from this engine and image.
    pub container: Option<Arc<ContainerBackend>>,
}

impl std::fmt::Debug for LiveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveOptions")
            .field("registry", &self.registry)
            .field("time_scale", &self.time_scale)
            .field("server_exe", &self.server_exe)
            .field("container", &self.container.as_ref().map(|c| &c.image.tag))
            .finish_non_exhaustive()
    }
}

/// A checked Docker engine and the registry image on it.
pub struct ContainerBackend {
    pub engine: crate::container::Engine,
    pub image: crate::container::ImageRef,
}

/// How long a live registry call waits for an answer: the simulated
/// client's timeout on the wall clock, but never under a second (a busy
/// machine must not look like a frozen registry).
pub fn call_timeout(scale: f64) -> Duration {
    Duration::from_secs_f64(
        (crate::faults::CALL_TIMEOUT.0 as f64 / 1000.0 / scale.max(1e-6)).clamp(1.0, 30.0),
    )
}

/// Sleeps until `wall` after `start`, or until Ctrl-C: `false` if
/// interrupted.
fn sleep_until(start: std::time::Instant, wall: Duration) -> bool {
    while let Some(wait) = wall.checked_sub(start.elapsed()) {
        if crate::interrupt::requested() {
            return false;
        }
        std::thread::sleep(wait.min(Duration::from_millis(50)));
    }
    !crate::interrupt::requested()
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "fault `{0}` cannot be injected in a drill on the {1} backend ({2}); run it simulated{3}"
    )]
    Unsupported(FaultKind, &'static str, &'static str, &'static str),
    #[error("{0}")]
    Container(#[from] crate::container::ContainerError),
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
    #[error("{0}")]
    Load(#[from] LoadError),
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
enum OwnServer<'a> {
    Process {
        child: Child,
        _state: tempfile::TempDir,
    },
    InProcess {
        _running: crate::server::Running,
        _state: tempfile::TempDir,
    },
    Container(Box<crate::container::RegistryContainer<'a>>),
}

impl Drop for OwnServer<'_> {
    fn drop(&mut self) {
        if let OwnServer::Process { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

const LEAD_TOKEN: &str = "drill-platform-lead";

fn own_server(exe: Option<&PathBuf>) -> Result<(OwnServer<'static>, String), LiveError> {
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
        // Its own process group: a Ctrl-C at the terminal reaches only
        // the harness, which stops the drill and then this server.
        .process_group(0)
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
    FaultEnd(usize),
    Procedure(Wake),
}

/// Which faults each live backend can inject, and how. The CLI checks
/// every scenario before any drill runs.
pub fn check_faults(plan: &Plan, opts: &LiveOptions) -> Result<(), LiveError> {
    for f in &plan.faults {
        let ok = match f {
            FaultSpec::RegistryOutage { .. } | FaultSpec::RegistrySlow { .. } => true,
            FaultSpec::RegistryFreeze { .. }
            | FaultSpec::RegistryCrash { .. }
            | FaultSpec::NetworkPartition { .. } => opts.container.is_some(),
            _ => false,
        };
        if !ok {
            return Err(if opts.container.is_some() {
                LiveError::Unsupported(
                    f.kind(),
                    "container",
                    "it injects registry_outage, registry_slow, registry_freeze, registry_crash and network_partition",
                    "",
                )
            } else {
                LiveError::Unsupported(
                    f.kind(),
                    "http",
                    "it injects registry_outage and registry_slow",
                    ", or with --backend container for registry_freeze, registry_crash and network_partition",
                )
            });
        }
    }
    Ok(())
}

/// Starts (`end` false) or ends a fault on a registry in a container:
/// freeze and outage pause it, a crash kills it and starts it again, a
/// partition takes it off the drill's network.
fn container_fault(
    c: &crate::container::RegistryContainer<'_>,
    fault: &FaultSpec,
    end: bool,
) -> Result<bool, LiveError> {
    match (fault, end) {
        (FaultSpec::RegistryOutage { .. } | FaultSpec::RegistryFreeze { .. }, false) => {
            c.freeze()?
        }
        (FaultSpec::RegistryOutage { .. } | FaultSpec::RegistryFreeze { .. }, true) => c.thaw()?,
        (FaultSpec::RegistryCrash { .. }, false) => c.kill()?,
        (FaultSpec::RegistryCrash { .. }, true) => c.restart()?,
        (FaultSpec::NetworkPartition { .. }, false) => c.disconnect()?,
        (FaultSpec::NetworkPartition { .. }, true) => c.reconnect()?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Runs one live drill.
pub fn run(plan: &Plan, opts: &LiveOptions) -> Result<DrillOutcome, LiveError> {
    let unset = plan.missing_env(|n| std::env::var(n).ok());
    if !unset.is_empty() {
        let lines: Vec<String> = unset.iter().map(ToString::to_string).collect();
        return Err(LiveError::Environment(lines.join("\n")));
    }
    check_faults(plan, opts)?;
    let (own, base, token) = match (&opts.container, &opts.registry) {
        (Some(backend), _) => {
            let c = backend
                .engine
                .start_registry(&backend.image, &format!("{LEAD_TOKEN}: platform_lead\n"))?;
            let url = c.url.clone();
            (
                Some(OwnServer::Container(Box::new(c))),
                url,
                Some(LEAD_TOKEN.to_string()),
            )
        }
        (None, Some(url)) => (None, url.clone(), opts.token.clone()),
        (None, None) => {
            let (server, url) = own_server(opts.server_exe.as_ref())?;
            (Some(server), url, Some(LEAD_TOKEN.to_string()))
        }
    };
    let container = match &own {
        Some(OwnServer::Container(c)) => Some(c),
        _ => None,
    };
    let scale = opts.time_scale.max(1e-6);
    let recorder = Arc::new(Mutex::new(Recorder::new(plan)));
    let mut port = LivePort::new(plan, &base, token.as_deref(), Arc::clone(&recorder), scale)?;
    port.seed()?;
    port.check_prometheus()?;
    let target = Target::new(
        &base,
        token.as_deref(),
        &plan.release.route,
        call_timeout(scale),
    )?;
    // Before the drill: can live traffic hold the policy's sample here?
    if let Some(line) = load::check(&target, plan, scale)? {
        eprintln!("{}: {line}", plan.name);
    }
    port.restart_clock();
    port.set_call_timeout(call_timeout(scale));
    let preflight = drill::preflight(plan, &port);

    // Traffic runs on its own thread until the drill ends.
    let traffic = Load::spawn(
        target,
        plan.traffic.rps * scale,
        port.start,
        scale,
        Arc::clone(&recorder),
    )?;

    let mut procedure = Procedure::new(plan);
    let mut agenda = Agenda::default();
    for (i, (offset, _)) in plan.release.schedule.iter().enumerate() {
        agenda.push(plan.release.at.0 + offset.0, Event::ReleaseStep(i));
    }
    agenda.push(plan.release.at.0 + plan.release.onset.0, Event::Onset);
    for (i, f) in plan.faults.iter().enumerate() {
        match (f.registry_window(), container.is_some()) {
            (Some((from, to)), true) => {
                agenda.push(from, Event::Fault(i));
                agenda.push(to, Event::FaultEnd(i));
            }
            (Some((from, _)), false) => agenda.push(from, Event::Fault(i)),
            (None, _) => agenda.push(0, Event::Fault(i)),
        }
    }
    let mut interrupted = false;
    let mut past_onset = false;
    let (at, wake) = procedure.first_wake();
    agenda.push(at, Event::Procedure(wake));
    let end = plan.duration.0;
    let mut ended = end;
    // Container faults in force: ended before the audit is read, whatever
    // happens.
    let mut active = std::collections::BTreeSet::new();
    let mut drive = || -> Result<(), LiveError> {
        while let Some((at, event)) = agenda.pop() {
            if at > end {
                break;
            }
            let wall = Duration::from_secs_f64(at as f64 / 1000.0 / scale);
            if !sleep_until(port.start, wall) {
                interrupted = true;
                ended = port.now_ms();
                break;
            }
            let now = port.now_ms().max(at);
            // The harness's own calls (the release, the regression) wait
            // until a container fault that holds the registry is over.
            if matches!(event, Event::ReleaseStep(_) | Event::Onset) && !active.is_empty() {
                let until = active
                    .iter()
                    .filter_map(|&i: &usize| plan.faults[i].registry_window())
                    .map(|(_, to)| to)
                    .max()
                    .unwrap_or(at);
                agenda.push(until.max(at) + 1, event);
                continue;
            }
            match event {
                Event::ReleaseStep(i) if i > 0 && procedure.record().detected.is_some() => {
                    procedure.note_promotion_halted(now, plan.release.schedule[i].1);
                }
                Event::ReleaseStep(i) => port.release_step(now, i)?,
                Event::Onset => {
                    port.onset()?;
                    past_onset = true;
                }
                Event::Fault(i) => match container {
                    Some(c) if container_fault(c, &plan.faults[i], false)? => {
                        active.insert(i);
                    }
                    _ => port.inject(&plan.faults[i])?,
                },
                Event::FaultEnd(i) => {
                    if let Some(c) = container {
                        active.remove(&i);
                        let fault = &plan.faults[i];
                        let crash = matches!(fault, FaultSpec::RegistryCrash { .. });
                        match container_fault(c, fault, true) {
                            Ok(_) if crash => port.after_restart(past_onset)?,
                            Ok(_) => {}
                            // A registry that cannot start again ends the drill.
                            Err(e) if crash => return Err(e),
                            // Overlapping faults, e.g. a freeze ending on a
                            // container that another fault stopped.
                            Err(e) => eprintln!("warning: ending fault `{}`: {e}", fault.kind()),
                        }
                    }
                }
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
        Ok(())
    };
    let driven = drive();
    if let Some(c) = container {
        for i in std::mem::take(&mut active) {
            let _ = container_fault(c, &plan.faults[i], true);
        }
    }
    if let Some(line) = traffic.stop().shortfall() {
        eprintln!("{}: warning: {line}", plan.name);
    }
    driven?;
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
        backend: if container.is_some() {
            "container"
        } else {
            "http"
        },
        interrupted,
    });
    drop(own);
    Ok(outcome)
}
