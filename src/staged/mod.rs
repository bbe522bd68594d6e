//! Drills on a team's real staging (SPEC section 8): the same drill loop
//! over the route in the team's own system — an MLflow alias, a LiteLLM
//! proxy's model group, a gateway alias file, a flagd flag file.
//!
//! The run: reach the system; preflight it against the scenario (drift is
//! a finding, and nothing is changed); snapshot it; serve every version
//! from the harness's mock backend; send traffic through the team's path
//! (the proxy, or the stand-in app that resolves the route as a client
//! does); drive the drill on the wall clock (`--time-scale`) with the
//! release registered in the system and the rollback written with the
//! real mechanism; and, whatever happened, put the system back as the
//! snapshot found it (the `teardown` step).
//!
//! MLflow versions the drill registered are deleted at teardown (MLflow
//! keeps no history of alias moves, so the drill's own audit rows are the
//! record of what it did).

mod connect;
mod port;
mod traffic;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backend::BackendKind;
use crate::drill::{self, Backend, StepRecord, StepStatus};
use crate::live::LiveError;
use crate::live::recorder::Recorder;
use crate::outcome::{DrillOutcome, Drilled, LiveInfo, Measured};
use crate::scenario::Plan;
use crate::scenario::staging::StagingPlan;
use crate::staging::mock::MockBackend;
use crate::staging::standin::{AliasLookup, FileLookup, StandIn};

use connect::{Connected, System};
use port::StagedPort;
use traffic::{Path, Routing, Traffic};

/// How a drill on a team's staging runs.
#[derive(Debug, Clone, Copy)]
pub struct StagedOptions {
    pub time_scale: f64,
    /// Read the system and report the findings; change nothing.
    pub preflight_only: bool,
}

fn outcome_not_run(
    plan: &Plan,
    preflight: Vec<drill::Finding>,
    reason: &'static str,
    scale: f64,
) -> DrillOutcome {
    DrillOutcome::new(
        plan,
        Drilled {
            preflight,
            not_run: Some(reason),
            live: Some(LiveInfo {
                time_scale: scale,
                wall_s: 0.0,
                backend: BackendKind::Staged,
                interrupted: false,
            }),
            ..Drilled::default()
        },
    )
}

/// Runs one drill against the team's system `plan.staging` names.
pub fn run(plan: &Plan, opts: &StagedOptions) -> Result<DrillOutcome, LiveError> {
    let scale = opts.time_scale.max(1e-6);
    let unset = plan.missing_env(|n| std::env::var(n).ok());
    if !unset.is_empty() {
        let lines: Vec<String> = unset.iter().map(ToString::to_string).collect();
        return Err(LiveError::Environment(lines.join("\n")));
    }
    crate::faults::check(plan, BackendKind::Staged)?;
    let mut conn = connect::connect(plan)?;
    let findings = connect::preflight(plan, &mut conn)?;
    if opts.preflight_only || !findings.is_empty() {
        let reason = if opts.preflight_only {
            "preflight only: the drill did not run"
        } else {
            "the team's staging failed the preflight: the drill did not run and changed nothing; fix the findings (or the scenario) and run again"
        };
        return Ok(outcome_not_run(plan, findings, reason, scale));
    }
    let rel = &plan.release;
    let mut versions = plan.traffic.behaviour.clone();
    versions.push((rel.version.clone(), rel.healthy));
    let mock = Arc::new(
        MockBackend::start(plan.seed, scale, plan.traffic.golden.clone(), &versions)
            .map_err(|e| LiveError::Environment(e.to_string()))?,
    );
    let path = traffic_path(plan, &conn, &mock, scale)?;
    let recorder = Arc::new(Mutex::new(Recorder::new(plan)));
    let routing = Arc::new(Mutex::new(Routing::default()));
    let mut port = StagedPort::new(
        plan,
        scale,
        conn,
        mock.clone(),
        recorder.clone(),
        routing.clone(),
        path.clone(),
    );
    let traffic = Traffic::spawn(
        path,
        plan.traffic.rps * scale,
        port.start,
        scale,
        rel.version.clone(),
        recorder.clone(),
        routing,
    );
    let mut staged = Staged { port };
    let driven = drill::drive(plan, &mut staged);
    port = staged.port;
    if let Some(line) = traffic.stop() {
        eprintln!("{}: warning: {line}", plan.name);
    }
    // Passed, failed, stopped by an error or by Ctrl-C: the system goes
    // back as preflight found it.
    let teardown = teardown(&mut port);
    if teardown.status == StepStatus::Failed {
        eprintln!("{}: teardown: {}", plan.name, teardown.detail);
    }
    let mut driven = driven.map_err(|e| LiveError::Environment(e.to_string()))?;
    driven.record.steps.push(teardown);
    let rec = recorder.lock().unwrap_or_else(|p| p.into_inner());
    let measured = Measured {
        impacted_requests: rec.impacted,
        total_requests: rec.total,
        audit: std::mem::take(&mut port.audit),
        timeline: rec.timeline.clone(),
    };
    drop(rec);
    Ok(DrillOutcome::new(
        plan,
        Drilled {
            record: driven.record,
            measured,
            ended: driven.ended,
            preflight: findings,
            not_run: None,
            live: Some(LiveInfo {
                time_scale: scale,
                wall_s: port.start.elapsed().as_secs_f64(),
                backend: BackendKind::Staged,
                interrupted: driven.interrupted,
            }),
            twin: None,
        },
    ))
}

/// The stand-in app for a registry or a file; the proxy itself for
/// LiteLLM.
fn traffic_path(
    plan: &Plan,
    conn: &Connected,
    mock: &Arc<MockBackend>,
    scale: f64,
) -> Result<Arc<Path>, LiveError> {
    let refresh = Duration::from_secs_f64(conn.refresh.0 as f64 / 1000.0 / scale);
    let m = mock.clone();
    let backend = Box::new(move |v: &str| m.base_url(v));
    let golden = plan.traffic.golden.clone();
    let app = |resolver| {
        Arc::new(Path::StandIn(Box::new(Mutex::new(StandIn::new(
            resolver,
            refresh,
            backend,
            golden.clone(),
            plan.seed,
        )))))
    };
    Ok(match (&conn.system, &plan.staging) {
        (System::Mlflow { entity, .. }, StagingPlan::Mlflow(s)) => {
            let url = s.url.expand_env().map_err(LiveError::Environment)?;
            let client = crate::staging::mlflow::Mlflow::new(&url)
                .map_err(|e| LiveError::Environment(e.to_string()))?;
            app(Box::new(AliasLookup {
                client,
                name: entity.name().to_string(),
                alias: s.alias.clone(),
            }))
        }
        (System::File(file), _) => app(Box::new(FileLookup(file.clone()))),
        (System::Litellm { model_name, .. }, StagingPlan::Litellm(s)) => {
            let url = s.proxy.expand_env().map_err(LiveError::Environment)?;
            let key = match &s.key {
                Some(k) => Some(k.expand_env().map_err(LiveError::Environment)?),
                None => None,
            };
            let client = crate::staging::litellm::Litellm::new(&url, key.as_deref())
                .map_err(|e| LiveError::Environment(e.to_string()))?;
            let mut versions: Vec<(String, String)> = plan
                .registry
                .routes
                .iter()
                .flat_map(|r| r.candidates.iter())
                .map(|c| (c.id.clone(), c.version.clone()))
                .collect();
            versions.push((plan.release.id.clone(), plan.release.version.clone()));
            Arc::new(Path::Proxy {
                client,
                model_name: model_name.clone(),
                golden,
                versions: Mutex::new(versions),
                next: std::sync::atomic::AtomicU64::new(0),
            })
        }
        _ => {
            return Err(LiveError::Environment(
                "the staging kind and its system disagree".into(),
            ));
        }
    })
}

/// Puts the system back as preflight found it, and runs the reload so its
/// readers serve the restored route.
fn teardown(port: &mut StagedPort<'_>) -> StepRecord {
    let start_s = port.now_ms() as f64 / 1000.0;
    let plan = port.plan;
    let mut conn = port.conn.borrow_mut();
    let label = conn.label.clone();
    let restored = conn.route.restore();
    let reload = conn.reload.clone();
    drop(conn);
    let (status, detail) = match restored {
        Err(e) => (
            StepStatus::Failed,
            format!(
                "{label} could not be put back: {}; it is left as the drill ended: put it back by hand before the next drill",
                connect::clean(plan, &e.to_string())
            ),
        ),
        Ok(()) => match reload {
            Some(reload) => match port::run_reload(plan, &reload) {
                (true, _) => (
                    StepStatus::Succeeded,
                    format!("{label} put back as the preflight found it, and reloaded"),
                ),
                (false, msg) => (
                    StepStatus::Failed,
                    format!(
                        "{label} put back as the preflight found it, but its reload failed: {msg}; reload it by hand"
                    ),
                ),
            },
            None => (
                StepStatus::Succeeded,
                format!(
                    "{label} put back as the preflight found it{}",
                    what_was_put_back(plan)
                ),
            ),
        },
    };
    StepRecord {
        name: "teardown".into(),
        status,
        start_s: Some(start_s),
        end_s: Some(port.now_ms() as f64 / 1000.0),
        detail,
        phases: Vec::new(),
    }
}

fn what_was_put_back(plan: &Plan) -> &'static str {
    match plan.staging {
        StagingPlan::Mlflow(_) => {
            " (every alias as it was; the versions the drill registered deleted)"
        }
        _ => " (the file's original bytes)",
    }
}

/// A team's staging as a backend of the drill loop, on the wall clock
/// `time_scale` times slower than scenario time. It injects no faults.
struct Staged<'p> {
    port: StagedPort<'p>,
}

impl Backend for Staged<'_> {
    type Error = crate::registry::RegistryError;

    fn advance_to(&mut self, at: u64) -> Option<u64> {
        let wall = Duration::from_secs_f64(at as f64 / 1000.0 / self.port.scale);
        // A blocking call (a reload, the wait until traffic is back) can
        // leave the loop behind its agenda: events then run when they can.
        crate::live::sleep_until(self.port.start, wall).then(|| self.port.now_ms().max(at))
    }

    fn now(&self) -> u64 {
        self.port.now_ms()
    }

    fn release_step(&mut self, now: u64, step: usize) -> Result<(), Self::Error> {
        self.port.release_step(now, step)
    }

    fn onset(&mut self, _now: u64) -> Result<(), Self::Error> {
        let rel = &self.port.plan.release;
        self.port.mock.set_behaviour(&rel.version, rel.regressed);
        Ok(())
    }

    fn fault_start(&mut self, _now: u64, _i: usize) -> Result<(), Self::Error> {
        // Faults are refused on a team's staging before the drill starts.
        Ok(())
    }

    fn fault_end(&mut self, _now: u64, _i: usize) -> Result<(), Self::Error> {
        Ok(())
    }

    fn port(&mut self) -> &mut dyn drill::Staging {
        &mut self.port
    }
}
