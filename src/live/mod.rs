//! Live drills: the same procedure on the wall clock against a registry
//! server over HTTP (`run --backend http`).
//!
//! The driver seeds the registry with the scenario's state (or checks it
//! matches), sends synthetic traffic to `/v1/complete` and computes the
//! metrics from what it observes — with the same windowed code as the
//! simulation — and runs the procedure's steps as HTTP calls. Scenario time
//! runs `--time-scale` times faster than the wall clock; every reported
//! time is scaled back to scenario time.

mod load;
mod port;
mod prometheus;
pub(crate) mod recorder;
pub mod request;
pub(crate) mod team;

use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backend::BackendKind;
use crate::drill::{self, Backend, Staging};
use crate::outcome::{DrillOutcome, Drilled, Measured};
use crate::scenario::{FaultSpec, Plan};

pub use crate::registry::client::{Http, NotHttp};
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
    /// `--backend container` was asked for (the engine is checked later).
    pub container_wanted: bool,
    /// `--preflight-only`: read the registry, change nothing, run nothing.
    pub preflight_only: bool,
    /// `--compare-simulated`: also run the simulated twin and compare.
    pub compare_simulated: bool,
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
pub(crate) fn sleep_until(start: std::time::Instant, wall: Duration) -> bool {
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
    #[error("{0}")]
    Unsupported(#[from] crate::faults::Unsupported),
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
    /// A team's staging system (`staging:`) that cannot be reached or read.
    #[error("{system} is unreachable or refused {what}: {message}")]
    Staging {
        system: String,
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

/// The live backend these options drill on.
pub fn backend_kind(opts: &LiveOptions) -> BackendKind {
    if opts.container.is_some() || opts.container_wanted {
        BackendKind::Container
    } else {
        BackendKind::Http
    }
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

/// Runs one live drill: reach the registry, seed what it lacks, record
/// the state it found, preflight, drive the drill loop with traffic
/// running, and put the registry back as it was found (teardown).
pub fn run(plan: &Plan, opts: &LiveOptions) -> Result<DrillOutcome, LiveError> {
    if !opts.preflight_only {
        let unset = plan.missing_env(|n| std::env::var(n).ok());
        if !unset.is_empty() {
            let lines: Vec<String> = unset.iter().map(ToString::to_string).collect();
            return Err(LiveError::Environment(lines.join("\n")));
        }
    }
    crate::faults::check(plan, backend_kind(opts))?;
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
        Some(OwnServer::Container(c)) => Some(&**c),
        _ => None,
    };
    let scale = opts.time_scale.max(1e-6);
    let info = |interrupted, wall_s| crate::outcome::LiveInfo {
        time_scale: scale,
        wall_s,
        backend: backend_kind(opts),
        interrupted,
    };
    let recorder = Arc::new(Mutex::new(Recorder::new(plan)));
    let mut port = LivePort::new(plan, &base, token.as_deref(), Arc::clone(&recorder), scale)?;
    port.reach()?;
    // A registry the drill started itself is seeded even for the
    // preflight; a team's registry (--registry) is only read by it.
    if own.is_some() || !opts.preflight_only {
        port.seed_absent()?;
    } else {
        port.read_routes()?;
    }
    port.check_prometheus()?;
    let preflight = drill::preflight(plan, &port);
    if opts.preflight_only || !preflight.is_empty() {
        let reason = if opts.preflight_only {
            "preflight only: the drill did not run"
        } else {
            "the registry failed the preflight: the drill did not run; fix the findings (or the scenario) and run again"
        };
        return Ok(DrillOutcome::new(
            plan,
            Drilled {
                preflight,
                not_run: Some(reason),
                live: Some(info(false, 0.0)),
                ..Drilled::default()
            },
        ));
    }
    let found = port.found()?;
    // From here on, whatever happens, the registry goes back as found.
    let traffic = match start_traffic(plan, &mut port, &base, token.as_deref(), &recorder) {
        Ok(traffic) => traffic,
        Err(e) => {
            let teardown = port.teardown(&found);
            eprintln!("{}: teardown: {}", plan.name, teardown.detail);
            return Err(e);
        }
    };

    let mut wired = Wired {
        plan,
        port,
        container,
        past_onset: false,
        in_force: std::collections::BTreeSet::new(),
        deferred: Vec::new(),
    };
    let driven = drill::drive(plan, &mut wired);
    // Container faults still in force end before the teardown, whatever
    // happened.
    if let Some(c) = container {
        for i in std::mem::take(&mut wired.in_force) {
            let _ = container_fault(c, &plan.faults[i], true);
        }
    }
    let mut port = wired.port;
    if let Some(line) = traffic.stop().shortfall() {
        eprintln!("{}: warning: {line}", plan.name);
    }
    // Passed, failed, stopped by an error or by Ctrl-C: the registry goes
    // back as the drill found it.
    let teardown = port.teardown(&found);
    if driven.is_err() {
        // The drill's error ends the run and this drill has no report: say
        // what the teardown did, and what the registry was left as.
        let status = match teardown.status {
            crate::drill::StepStatus::Failed => "failed",
            _ => "succeeded",
        };
        eprintln!("{}: teardown {status}: {}", plan.name, teardown.detail);
    }
    let mut driven = driven?;
    driven.record.steps.push(teardown);
    let audit = port.audit();
    let rec = recorder.lock().unwrap_or_else(|p| p.into_inner());
    let measured = Measured {
        impacted_requests: rec.impacted,
        total_requests: rec.total,
        audit,
        timeline: rec.timeline.clone(),
    };
    drop(rec);
    let twin = opts.compare_simulated.then(|| {
        crate::outcome::Twin::of(
            &crate::sim::run(plan),
            plan.policy.evaluate_every.0 as f64 / 1000.0,
        )
    });
    let outcome = DrillOutcome::new(
        plan,
        Drilled {
            record: driven.record,
            measured,
            ended: driven.ended,
            preflight,
            not_run: None,
            live: Some(info(driven.interrupted, port.start.elapsed().as_secs_f64())),
            twin,
        },
    );
    drop(own);
    Ok(outcome)
}

/// Calibrates the generator against the route, sets how every version
/// behaves, starts the drill's clock, then live traffic on its own thread.
fn start_traffic(
    plan: &Plan,
    port: &mut LivePort<'_>,
    base: &str,
    token: Option<&str>,
    recorder: &Arc<Mutex<Recorder>>,
) -> Result<Load, LiveError> {
    let scale = port.scale();
    let target = Target::new(base, token, &plan.release.route, call_timeout(scale))?;
    // Before the drill: can live traffic hold the policy's sample here?
    if let Some(line) = load::check(&target, plan, scale)? {
        eprintln!("{}: {line}", plan.name);
    }
    // Behaviours set and scenario time 0 after the calibration burst,
    // whose wall time is no part of the drill.
    port.start()?;
    port.set_call_timeout(call_timeout(scale));
    Ok(Load::spawn(
        target,
        plan.traffic.rps * scale,
        port.start,
        scale,
        Arc::clone(recorder),
    )?)
}

/// A live registry as a backend of the drill loop: the wall clock runs
/// `time_scale` times slower than scenario time, the release and the
/// regression are registry calls, and faults are injected into the server
/// (outage, slowness) or into its container (freeze, crash, partition).
struct Wired<'p, 'c> {
    plan: &'p Plan,
    port: LivePort<'p>,
    container: Option<&'c crate::container::RegistryContainer<'c>>,
    past_onset: bool,
    /// Container faults started and not yet ended.
    in_force: std::collections::BTreeSet<usize>,
    /// Onsets due while a container fault stopped the registry (`None`:
    /// the release's, `Some(c)`: change `c` of a set): set once it ends.
    deferred: Vec<Option<usize>>,
}

impl Backend for Wired<'_, '_> {
    type Error = LiveError;

    fn advance_to(&mut self, at: u64) -> Option<u64> {
        let wall = Duration::from_secs_f64(at as f64 / 1000.0 / self.port.scale());
        sleep_until(self.port.start, wall).then(|| self.port.now_ms().max(at))
    }

    fn now(&self) -> u64 {
        self.port.now_ms()
    }

    fn release_step(&mut self, now: u64, step: usize) -> Result<(), LiveError> {
        self.port.release_step(now, step)
    }

    fn change_step(&mut self, now: u64, change: usize, step: usize) -> Result<(), LiveError> {
        let rel = self.plan.releases()[change];
        self.port.ship(rel, now, step, false)
    }

    fn change_onset(&mut self, _now: u64, change: usize) -> Result<(), LiveError> {
        if !self.in_force.is_empty() {
            self.deferred.push(Some(change));
            return Ok(());
        }
        self.port.change_onset(change)
    }

    fn onset(&mut self, _now: u64) -> Result<(), LiveError> {
        // A paused, killed or cut-off container cannot be told how the
        // release behaves; it regresses the moment it can be.
        self.past_onset = true;
        if !self.in_force.is_empty() {
            self.deferred.push(None);
            return Ok(());
        }
        self.port.onset()
    }

    fn fault_start(&mut self, _now: u64, i: usize) -> Result<(), LiveError> {
        let fault = &self.plan.faults[i];
        match self.container {
            Some(c) if container_fault(c, fault, false)? => {
                self.in_force.insert(i);
                Ok(())
            }
            _ => self.port.inject(fault),
        }
    }

    fn fault_end(&mut self, _now: u64, i: usize) -> Result<(), LiveError> {
        let Some(c) = self.container else {
            // The server ends its own faults when their time is up.
            return Ok(());
        };
        if !self.in_force.remove(&i) {
            return Ok(());
        }
        let fault = &self.plan.faults[i];
        let crash = matches!(fault, FaultSpec::RegistryCrash { .. });
        match container_fault(c, fault, true) {
            Ok(_) if crash => self.port.after_restart(self.past_onset)?,
            Ok(_) => {}
            // A registry that cannot start again ends the drill.
            Err(e) if crash => return Err(e),
            // Overlapping faults, e.g. a freeze ending on a container that
            // another fault stopped.
            Err(e) => eprintln!("warning: ending fault `{}`: {e}", fault.kind()),
        }
        // The registry answers again: the onsets due meanwhile take effect.
        if self.in_force.is_empty() {
            for change in std::mem::take(&mut self.deferred) {
                match change {
                    None => self.port.onset()?,
                    Some(c) => self.port.change_onset(c)?,
                }
            }
        }
        Ok(())
    }

    fn port(&mut self) -> &mut dyn Staging {
        &mut self.port
    }
}
