//! What a drill measured, and the checks derived from it.
//!
//! A [`DrillOutcome`] stores measurements only: timeline points, what the
//! procedure did, what the world counted. The checks of SPEC section 4, the
//! verdict and the exit code are computed from it whenever asked, never
//! stored beside it, so they cannot disagree.

use serde::Serialize;

use crate::backend::BackendKind;
use crate::drill::{DecisionEvent, Finding, Record, StepRecord, StepStatus, secs};
use crate::registry::AuditEntry;
use crate::scenario::{
    ChangeType, Decision, DriftPolicy, Dur, Expect, Mechanism, Percent, Plan, Step, Verdict,
};
use past::{HistoryRun, median};

mod checks;
mod drift;
pub mod past;
mod repeat;
mod targets;
mod twin;
pub use repeat::{Repeat, Spread};
pub use twin::Twin;

#[derive(Debug, Clone)]
pub struct DrillOutcome {
    pub scenario: String,
    pub description: String,
    pub file: String,
    pub scenario_hash: String,
    pub procedure_hash: String,
    pub change: ChangeType,
    pub seed: u64,
    pub route: String,
    pub release_version: String,
    pub mechanism: Option<Mechanism>,
    pub restore_target: Dur,
    /// `targets.detect`, `decide`, `mitigate` of the scenario.
    pub targets: crate::scenario::PhaseTargets,
    pub verify_within: Option<Dur>,
    pub expect: Expect,
    pub released: u64,
    pub onset: u64,
    pub ended: u64,
    pub record: Record,
    pub impacted_requests: u64,
    pub total_requests: u64,
    pub audit: Vec<AuditEntry>,
    /// What the preflight found before any traffic.
    pub preflight: Vec<Finding>,
    /// False for `--preflight-only`: nothing ran, only the preflight counts.
    pub ran: bool,
    /// Earlier runs of this scenario, oldest first; `None` when the history
    /// was not consulted (then the `drift` check is skipped).
    pub history: Option<Vec<HistoryRun>>,
    pub drift_policy: DriftPolicy,
    /// The release route's traffic over time, for charts.
    pub timeline: crate::timeline::Timeline,
    /// Set for live drills: how scenario time related to the wall clock.
    pub live: Option<LiveInfo>,
    /// `--compare-simulated`: what the simulated twin of a live drill did.
    pub twin: Option<Twin>,
    /// Why the drill did not run, when it did not.
    pub not_run_reason: &'static str,
    /// `run --repeat N`: every seed's run of this scenario (this outcome is
    /// the first seed's); its checks are theirs folded.
    pub repeat: Option<std::sync::Arc<Repeat>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LiveInfo {
    pub time_scale: f64,
    /// Wall-clock seconds the drill took; scenario times are these × time_scale.
    pub wall_s: f64,
    /// `http` or `container`.
    pub backend: BackendKind,
    /// Ctrl-C stopped the drill before it ended.
    pub interrupted: bool,
}

/// Everything one backend measured of a drill, from which the outcome is
/// built once.
#[derive(Debug, Clone, Default)]
pub struct Drilled {
    pub record: Record,
    pub measured: Measured,
    pub ended: u64,
    /// What the preflight found before any traffic.
    pub preflight: Vec<Finding>,
    /// `None`: the drill ran; otherwise why it did not.
    pub not_run: Option<&'static str>,
    pub live: Option<LiveInfo>,
    pub twin: Option<Twin>,
}

/// What the staging world counted during a drill (simulated or live).
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub impacted_requests: u64,
    pub total_requests: u64,
    pub audit: Vec<AuditEntry>,
    pub timeline: crate::timeline::Timeline,
}

/// Seconds between timeline points; `None` where a point was not reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Durations {
    pub detect: Option<f64>,
    pub decide: Option<f64>,
    pub restore: Option<f64>,
    pub rollback: Option<f64>,
    pub verify: Option<f64>,
    pub impact: Option<f64>,
    /// onset → restored, what users feel (the same span as `impact`),
    /// named for its target.
    #[serde(default)]
    pub mitigate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    /// Does not apply to this drill (e.g. `restore` when nothing was decided).
    Skipped,
}

/// How a drill ended, from its checks: `xfail` is a negative control
/// (`expect.verdict: fail`) that failed exactly as expected. It counts as
/// passed; its failed checks stay in every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillResult {
    Pass,
    Xfail,
    Fail,
}

impl DrillResult {
    /// Whether the run counts this drill as passed (exit 0).
    pub fn ok(self) -> bool {
        self != DrillResult::Fail
    }

    /// `pass`, `xfail`, `FAIL`: the word in the console table.
    pub fn word(self) -> &'static str {
        match self {
            DrillResult::Pass => "pass",
            DrillResult::Xfail => "xfail",
            DrillResult::Fail => "FAIL",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DrillResult::Pass => "pass",
            DrillResult::Xfail => "xfail",
            DrillResult::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub status: CheckStatus,
    pub measured_s: Option<f64>,
    pub limit_s: Option<f64>,
    pub message: String,
}

impl Check {
    fn new(
        name: &'static str,
        status: CheckStatus,
        measured: Option<f64>,
        limit: Option<f64>,
        message: String,
    ) -> Check {
        Check {
            name,
            passed: status != CheckStatus::Failed,
            status,
            measured_s: measured,
            limit_s: limit,
            message,
        }
    }

    fn skipped(name: &'static str, message: &str) -> Check {
        Check::new(name, CheckStatus::Skipped, None, None, message.to_string())
    }
}

/// Seconds from `from` to `to`, subtracted in whole milliseconds: a
/// difference of two float seconds carries noise (`60.00800000000004`).
fn span(from: Option<u64>, to: Option<u64>) -> Option<f64> {
    Some((to? as i64 - from? as i64) as f64 / 1000.0)
}

/// `12m30s` from seconds, to what matters for a phase of that length:
/// whole seconds from a minute on (`1m0.008s` is `1m`), tenths from a
/// second on, milliseconds below.
pub fn human(seconds: f64) -> String {
    let ms = (seconds.abs() * 1000.0).round() as u64;
    let shown = match ms {
        60_000.. => (ms + 500) / 1000 * 1000,
        1000.. => (ms + 50) / 100 * 100,
        _ => ms,
    };
    let sign = if seconds < 0.0 && shown > 0 { "-" } else { "" };
    format!("{sign}{}", Dur(shown))
}

impl DrillOutcome {
    pub fn new(plan: &Plan, drilled: Drilled) -> DrillOutcome {
        let Drilled {
            record,
            measured: world,
            ended,
            preflight,
            not_run,
            live,
            twin,
        } = drilled;
        let mechanism = plan.procedure.iter().find_map(|s| match s {
            Step::Execute(e) => Some(e.mechanism),
            _ => None,
        });
        let verify_within = plan.procedure.iter().find_map(|s| match s {
            Step::Verify(v) => Some(v.within),
            _ => None,
        });
        DrillOutcome {
            scenario: plan.name.clone(),
            description: plan.description.clone(),
            // `./scenarios/x.yaml` and `scenarios/x.yaml` are the same file.
            file: plan
                .file
                .components()
                .filter(|c| !matches!(c, std::path::Component::CurDir))
                .collect::<std::path::PathBuf>()
                .display()
                .to_string(),
            scenario_hash: plan.scenario_hash.clone(),
            procedure_hash: plan.procedure_hash.clone(),
            change: plan.change,
            seed: plan.seed,
            route: plan.release.route.clone(),
            release_version: plan.release.version.clone(),
            mechanism,
            restore_target: plan.restore_target,
            targets: plan.targets,
            verify_within,
            expect: plan.expect.clone(),
            // A release held by a fault serves, and can regress, only
            // once it shipped: phases count from then.
            released: record.shipped_at.unwrap_or(plan.release.at.0),
            onset: (plan.release.at.0 + plan.release.onset.0).max(record.shipped_at.unwrap_or(0)),
            ended,
            record,
            impacted_requests: world.impacted_requests,
            total_requests: world.total_requests,
            audit: world.audit,
            preflight,
            ran: not_run.is_none(),
            history: None,
            drift_policy: plan.drift,
            timeline: world.timeline,
            live,
            twin,
            not_run_reason: not_run.unwrap_or_default(),
            repeat: None,
        }
    }

    /// Earlier runs of this scenario (oldest first) for the drift check.
    pub fn with_history(mut self, runs: Vec<HistoryRun>) -> DrillOutcome {
        self.history = Some(runs);
        self
    }

    /// Where the drill ran.
    pub fn backend(&self) -> BackendKind {
        self.live.map_or(BackendKind::InProcess, |l| l.backend)
    }

    pub fn durations(&self) -> Durations {
        let r = &self.record;
        Durations {
            detect: span(Some(self.onset), r.detected),
            decide: span(r.detected, r.decided),
            restore: span(r.decided, r.restored),
            rollback: span(r.detected, r.restored),
            verify: span(r.restored, r.verified),
            impact: span(Some(self.onset), r.restored),
            mitigate: span(Some(self.onset), r.restored),
        }
    }

    /// Whether a rollback or a roll forward was decided: the restore clock runs.
    pub fn remedied(&self) -> bool {
        matches!(
            self.record.decision,
            Some(Decision::Rollback | Decision::RollForward)
        )
    }

    /// Whether a rollback was decided and carried out up to the restore.
    pub fn rolled_back(&self) -> bool {
        self.record.decision == Some(Decision::Rollback) && self.record.restored.is_some()
    }

    pub fn checks(&self) -> Vec<Check> {
        if let Some(r) = &self.repeat {
            return r.checks();
        }
        if !self.ran {
            let skip = |name| Check::skipped(name, self.not_run_reason);
            return vec![
                self.check_preflight(),
                skip("detect"),
                skip("decide"),
                skip("restore"),
                skip("verify"),
                skip("recovered"),
                skip("handled"),
                skip("procedure"),
                skip("drift"),
                skip("expectation"),
            ];
        }
        let mut checks = vec![
            self.check_preflight(),
            self.check_detect(),
            self.check_decide(),
            self.check_restore(),
            self.check_verify(),
            self.check_recovered(),
            self.check_handled(),
            self.check_procedure(),
        ];
        self.hold_phase_targets(&mut checks);
        if self.live.is_some_and(|l| l.interrupted) {
            checks.push(Check::new(
                "interrupted",
                CheckStatus::Failed,
                Some(self.ended as f64 / 1000.0),
                None,
                format!(
                    "Ctrl-C stopped the drill at {}: what it measured is incomplete",
                    Dur(self.ended)
                ),
            ));
        }
        if let Some(twin) = &self.twin {
            checks.push(twin.check(self));
        }
        checks.push(self.check_drift(&checks));
        let others_passed = checks.iter().all(|c| c.passed);
        checks.push(self.check_expectation(others_passed));
        checks
    }

    /// Whether the drill counts as passed: every check passed, or it is
    /// an expected failure (see [`DrillOutcome::result`]).
    pub fn passed(&self) -> bool {
        self.result().ok()
    }

    /// `pass` when every check passed; `xfail` when the scenario expects
    /// `verdict: fail` and the `expectation` check (strict: the expected
    /// findings and no others) passed while other checks failed; else
    /// `fail`.
    pub fn result(&self) -> DrillResult {
        Self::result_of(&self.expect, &self.checks())
    }

    /// [`DrillOutcome::result`] from checks already derived.
    pub fn result_of(expect: &Expect, checks: &[Check]) -> DrillResult {
        if checks.iter().all(|c| c.passed) {
            return DrillResult::Pass;
        }
        let expected = checks
            .iter()
            .any(|c| c.name == "expectation" && c.status == CheckStatus::Passed);
        if expect.verdict == Some(Verdict::Fail) && expected {
            DrillResult::Xfail
        } else {
            DrillResult::Fail
        }
    }

    pub fn steps(&self) -> &[StepRecord] {
        &self.record.steps
    }

    /// The preflight's findings, then the drill's, then how a live drill
    /// diverged from its simulated twin.
    pub fn findings(&self) -> Vec<Finding> {
        self.preflight
            .iter()
            .chain(&self.record.findings)
            .cloned()
            .chain(self.twin.iter().filter_map(|t| t.finding(self)))
            .collect()
    }

    fn check_preflight(&self) -> Check {
        if self.preflight.is_empty() {
            return Check::new(
                "preflight",
                CheckStatus::Passed,
                None,
                None,
                "route, rollback target and retention are in place".into(),
            );
        }
        let kinds: Vec<String> = self.preflight.iter().map(|f| f.message.clone()).collect();
        Check::new(
            "preflight",
            CheckStatus::Failed,
            None,
            None,
            kinds.join("; "),
        )
    }

    pub fn decision_path(&self) -> &[DecisionEvent] {
        &self.record.decision_path
    }

    /// The incident record the `postmortem` step asks for, in sentences.
    pub fn incident(&self) -> Option<Vec<String>> {
        if !self.record.postmortem {
            return None;
        }
        let r = &self.record;
        let t = |ms: Option<u64>| ms.map_or("never".to_string(), |v| Dur(v).to_string());
        let mut lines = vec![format!(
            "At {} {} was released on route {}; its regression began at {}.",
            Dur(self.released),
            self.release_version,
            self.route,
            Dur(self.onset)
        )];
        if let Some((trigger, value)) = &r.trigger {
            lines.push(format!(
                "At {} {} reached {} (threshold {}, {}): action {}.",
                t(r.detected),
                trigger.metric,
                crate::scenario::Percent(*value),
                trigger.above,
                trigger.severity,
                trigger.action
            ));
        }
        let remedy = match r.decision {
            Some(Decision::RollForward) => "Roll forward",
            _ => "Rollback",
        };
        lines.push(format!(
            "{remedy} decided at {} by {}; {} restored at {} and verified at {}.",
            t(r.decided),
            r.decided_by.as_deref().unwrap_or("nobody"),
            r.rollback_target
                .as_deref()
                .unwrap_or("the previous version"),
            t(r.restored),
            t(r.verified)
        ));
        lines.push(format!(
            "{} requests were served by the bad version between onset and restore.",
            self.impacted_requests
        ));
        for f in &r.findings {
            lines.push(format!("Finding ({}): {}", f.kind, f.message));
        }
        Some(lines)
    }
}

pub fn timeline_secs(ms: Option<u64>) -> Option<f64> {
    ms.map(secs)
}

#[cfg(test)]
mod tests {
    use super::{human, span};

    #[test]
    fn spans_are_whole_milliseconds_without_float_noise() {
        // 75.008 − 15.000 in float seconds is 60.007999999999996.
        let d = span(Some(15_000), Some(75_008)).unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "60.008");
        assert_eq!(span(Some(5), None), None);
    }

    #[test]
    fn human_times_round_to_what_matters() {
        let table = [
            (60.008, "1m"),
            (333.4, "5m33s"),
            (59.96, "1m"),
            (3.456, "3.5s"),
            (0.25, "250ms"),
            (0.0, "0s"),
            (-4.04, "-4s"),
        ];
        for (s, want) in table {
            assert_eq!(human(s), want, "{s}");
        }
    }
}
