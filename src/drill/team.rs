//! The steps that reach a team's own staging: `http`, `exec`, `wait_for`.
//!
//! The procedure only sequences them; the port runs them. A live port
//! makes the call on the wall clock and says how much scenario time it
//! took; the simulated world cannot reach anything real, so the procedure
//! records these steps as skipped (taking no time) rather than pretend they
//! passed — the simulation stays deterministic and honest.

use crate::scenario::{Step, format_metric};

use super::Staging;
use super::procedure::*;
use super::record::*;

/// The detail of a live-only step in a simulated drill.
pub const LIVE_ONLY: &str = "live only: runs with --backend http or container";

impl<'p> Procedure<'p> {
    /// Runs an `http` or `exec` step; it ends when the call did, in
    /// scenario time.
    pub(super) fn team_call(&mut self, now: u64, step: &Step, port: &mut dyn Staging) -> Next {
        let reply = port.team_call(now, step);
        let status = if reply.ok {
            StepStatus::Succeeded
        } else {
            StepStatus::Failed
        };
        self.pending = Some((status, reply.detail));
        Next::Wait(vec![(now.saturating_add(reply.took.0), Wake::StepFinished)])
    }

    /// Queries a `wait_for` condition; polls until it holds or `within`
    /// has passed since the step started.
    pub(super) fn wait_for(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some(Step::WaitFor(w)) = self.plan.procedure.get(self.step) else {
            return Vec::new();
        };
        let value = port.promql(now, w);
        match value {
            Ok(v) if w.holds(v) => {
                let detail = format!("Prometheus: {} (value {v})", w.describe());
                self.finish_step(now, StepStatus::Succeeded, detail);
                return self.run_steps(now, port);
            }
            Ok(v) => self.wait_last = format!("last value {v}"),
            Err(e @ crate::metrics::ExternalError::NotHere) => {
                self.wait_last = format!("last query failed: {e}")
            }
            Err(e) => self.wait_last = format!("last query failed: Prometheus {}: {e}", w.url),
        }
        let deadline = self.step_started + w.within.0;
        if now >= deadline {
            let detail = format!(
                "Prometheus: {} did not hold within {}; {}",
                w.describe(),
                w.within,
                self.wait_last
            );
            self.finish_step(now, StepStatus::Failed, detail);
            self.phase = Phase::Done;
            return Vec::new();
        }
        vec![((now + w.every.0).min(deadline), Wake::WaitFor)]
    }

    /// The verify metric read from an external source for the version
    /// that should now serve, if the scenario maps the metric to one.
    /// `Ok((value, note))`, or `Err(why)` when the source gave nothing.
    pub(super) fn external_verify_value(
        &self,
        now: u64,
        metric: crate::scenario::VerifyMetric,
        port: &dyn Staging,
    ) -> Option<Result<(f64, String), String>> {
        let version = self.record.rollback_target.as_deref()?;
        let ext = port.external_metric(now, metric, &self.plan.release.route, version)?;
        Some(match ext.value {
            Ok(v) => Ok((
                v,
                format!(
                    "{metric} of {version} from Prometheus ({}): {}",
                    ext.query,
                    format_metric(metric, v)
                ),
            )),
            Err(e) => Err(format!("no {metric} of {version} from {}: {e}", ext.source)),
        })
    }
}
