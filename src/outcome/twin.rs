//! `--compare-simulated`: a live drill beside its simulated twin.
//!
//! The simulation is the model of what the procedure should do; a live run
//! that fires another trigger, takes another action or severity, or detects
//! or restores more than one evaluation interval apart from its twin has
//! taken another path. That is a `path_diverged` finding and a failed
//! `simulated_twin` check: the live run measured something the scenario
//! does not describe.

use super::{Check, CheckStatus, DrillOutcome, human};
use crate::drill::Finding;
use crate::scenario::{Action, FindingKind, Severity, TriggerMetric};

/// What the simulated twin of a live drill measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Twin {
    pub trigger: Option<(TriggerMetric, Action, Severity)>,
    pub detect_s: Option<f64>,
    pub restore_s: Option<f64>,
    /// One evaluation interval: how far apart detect and restore may be.
    pub tolerance_s: f64,
}

impl Twin {
    /// The twin's measurements, read off its outcome.
    pub fn of(sim: &DrillOutcome, tolerance_s: f64) -> Twin {
        let d = sim.durations();
        Twin {
            trigger: path(sim),
            detect_s: d.detect,
            restore_s: d.restore,
            tolerance_s,
        }
    }

    /// Every way the live run differs from the twin, in words.
    pub fn differences(&self, live: &DrillOutcome) -> Vec<String> {
        let mut out = Vec::new();
        let name = |p: Option<(TriggerMetric, Action, Severity)>| match p {
            Some((m, a, s)) => format!("{m} {a} ({s})"),
            None => "no trigger".to_string(),
        };
        let live_path = path(live);
        if live_path != self.trigger {
            out.push(format!(
                "live fired {}, the simulation {}",
                name(live_path),
                name(self.trigger)
            ));
        }
        let d = live.durations();
        for (phase, live_s, sim_s) in [
            ("detect", d.detect, self.detect_s),
            ("restore", d.restore, self.restore_s),
        ] {
            match (live_s, sim_s) {
                (Some(l), Some(s)) if (l - s).abs() > self.tolerance_s => out.push(format!(
                    "{phase} took {} live, {} simulated (more than one evaluation interval, {}, apart)",
                    human(l),
                    human(s),
                    human(self.tolerance_s)
                )),
                (Some(_), None) | (None, Some(_)) => out.push(format!(
                    "{phase} {} live, {} simulated",
                    live_s.map_or("never happened".into(), human),
                    sim_s.map_or("never happened".into(), human)
                )),
                _ => {}
            }
        }
        out
    }

    pub(super) fn check(&self, live: &DrillOutcome) -> Check {
        let diffs = self.differences(live);
        if diffs.is_empty() {
            Check::new(
                "simulated_twin",
                CheckStatus::Passed,
                None,
                None,
                "the live drill took the simulated path".into(),
            )
        } else {
            Check::new(
                "simulated_twin",
                CheckStatus::Failed,
                None,
                None,
                format!(
                    "the live drill diverged from its simulated twin: {}",
                    diffs.join("; ")
                ),
            )
        }
    }

    pub(super) fn finding(&self, live: &DrillOutcome) -> Option<Finding> {
        let diffs = self.differences(live);
        (!diffs.is_empty()).then(|| Finding {
            kind: FindingKind::PathDiverged,
            step: "compare-simulated".into(),
            message: format!(
                "{}: the scenario no longer models this staging (time scale, traffic, or the registry's behaviour); align them, or run at a lower --time-scale",
                diffs.join("; ")
            ),
        })
    }
}

fn path(o: &DrillOutcome) -> Option<(TriggerMetric, Action, Severity)> {
    o.record
        .trigger
        .as_ref()
        .map(|(t, _)| (t.metric, t.action, t.severity))
}
