//! What a drill measured, and the checks derived from it.
//!
//! A [`DrillOutcome`] stores measurements only: timeline points, what the
//! procedure did, what the world counted. The checks of SPEC section 4, the
//! verdict and the exit code are computed from it whenever asked, never
//! stored beside it, so they cannot disagree.

use serde::Serialize;

use crate::backend::BackendKind;
use crate::drill::{DecisionEvent, Finding, Record, StepRecord, StepStatus, secs};
use crate::history::{HistoryRun, median};
use crate::registry::AuditEntry;
use crate::scenario::{
    ChangeType, Decision, DriftPolicy, Dur, Expect, Mechanism, Percent, Plan, Step, Verdict,
};

mod targets;
mod twin;
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

fn span(from: Option<u64>, to: Option<u64>) -> Option<f64> {
    Some(to? as f64 / 1000.0 - from? as f64 / 1000.0)
}

/// `12m30s` from seconds.
pub fn human(seconds: f64) -> String {
    if seconds < 0.0 {
        return format!("-{}", Dur((-seconds * 1000.0).round() as u64));
    }
    Dur((seconds * 1000.0).round() as u64).to_string()
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
            released: plan.release.at.0,
            onset: plan.release.at.0 + plan.release.onset.0,
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
        if !self.ran {
            let skip = |name| Check::skipped(name, self.not_run_reason);
            return vec![
                self.check_preflight(),
                skip("detect"),
                skip("decide"),
                skip("restore"),
                skip("verify"),
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

    pub fn passed(&self) -> bool {
        self.checks().iter().all(|c| c.passed)
    }

    fn check_detect(&self) -> Check {
        let d = self.durations();
        match (self.record.detected, self.expect.rollback_expected()) {
            (Some(_), _) => Check::new(
                "detect",
                CheckStatus::Passed,
                d.detect,
                None,
                format!(
                    "detected {} after onset",
                    human(d.detect.unwrap_or_default())
                ),
            ),
            (None, true) => Check::new(
                "detect",
                CheckStatus::Failed,
                None,
                None,
                format!(
                    "no trigger fired within {}: the regression went undetected",
                    Dur(self.ended.saturating_sub(self.onset))
                ),
            ),
            (None, false) => Check::skipped("detect", "no rollback expected and none detected"),
        }
    }

    fn check_decide(&self) -> Check {
        let r = &self.record;
        let d = self.durations();
        let Some(detected) = r.detected else {
            return Check::skipped("decide", "nothing was detected");
        };
        let limit = r.deciding_trigger.as_ref().and_then(|t| t.decide_within);
        let limit_s = limit.map(Dur::secs_f64);
        // A trigger that took over is held to its own limit from when it
        // fired; `decide` itself stays decided - detected.
        let since = r.deciding_at.unwrap_or(detected);
        let context = || {
            if since != detected {
                format!(
                    " after the deciding trigger fired ({} after first detection)",
                    human(d.decide.unwrap_or_default())
                )
            } else {
                String::new()
            }
        };
        let from_trigger = r.decided.map(|t| (t - since) as f64 / 1000.0);
        match (r.decided, from_trigger) {
            (Some(_), Some(took)) => match limit {
                Some(l) if took > l.secs_f64() => Check::new(
                    "decide",
                    CheckStatus::Failed,
                    Some(took),
                    limit_s,
                    format!(
                        "decide took {}{}, limit {l} ({})",
                        human(took),
                        context(),
                        self.decision_summary()
                    ),
                ),
                _ => Check::new(
                    "decide",
                    CheckStatus::Passed,
                    Some(took),
                    limit_s,
                    format!(
                        "decided in {}{} ({})",
                        human(took),
                        context(),
                        self.decision_summary()
                    ),
                ),
            },
            _ if !self.expect.rollback_expected() => {
                Check::skipped("decide", "no rollback expected and none decided")
            }
            _ => {
                let last = r
                    .decision_path
                    .last()
                    .map(|e| format!("{} {}", e.who, e.what))
                    .unwrap_or_default();
                let waited = human(self.ended as f64 / 1000.0 - detected as f64 / 1000.0);
                Check::new(
                    "decide",
                    CheckStatus::Failed,
                    None,
                    limit_s,
                    format!("no rollback decided {waited} after detection (last: {last})"),
                )
            }
        }
    }

    fn decision_summary(&self) -> String {
        let r = &self.record;
        let by = r.decided_by.as_deref().unwrap_or("nobody");
        match &r.deciding_trigger {
            Some(t) => format!("{} {} → {}, by {by}", t.metric, t.severity, t.action),
            None => format!("by {by}"),
        }
    }

    fn check_restore(&self) -> Check {
        let target = self.restore_target;
        let limit = Some(target.secs_f64());
        if !self.remedied() {
            return Check::skipped("restore", "no rollback was decided");
        }
        match self.durations().restore {
            Some(took) if took <= target.secs_f64() => Check::new(
                "restore",
                CheckStatus::Passed,
                Some(took),
                limit,
                format!(
                    "restore took {}, target {target} ({})",
                    human(took),
                    self.change
                ),
            ),
            Some(took) => Check::new(
                "restore",
                CheckStatus::Failed,
                Some(took),
                limit,
                format!(
                    "restore took {}, target {target} ({})",
                    human(took),
                    self.change
                ),
            ),
            None => Check::new(
                "restore",
                CheckStatus::Failed,
                None,
                limit,
                format!(
                    "never restored: {}, target {target} ({})",
                    self.stuck_reason(),
                    self.change
                ),
            ),
        }
    }

    fn stuck_reason(&self) -> String {
        match self
            .record
            .steps
            .iter()
            .find(|s| s.status == StepStatus::Failed)
        {
            Some(s) => format!("step `{}` failed: {}", s.name, s.detail),
            None => format!("the drill ended at {} first", Dur(self.ended)),
        }
    }

    fn check_verify(&self) -> Check {
        let Some(within) = self.verify_within else {
            return Check::skipped("verify", "the procedure has no verify step");
        };
        if self.record.restored.is_none() {
            return Check::skipped("verify", "nothing was restored to verify");
        }
        let limit = Some(within.secs_f64());
        match self.durations().verify {
            Some(took) => Check::new(
                "verify",
                CheckStatus::Passed,
                Some(took),
                limit,
                format!("recovered {} after restore, within {within}", human(took)),
            ),
            None => {
                let why = self
                    .record
                    .steps
                    .iter()
                    .find(|s| s.name == "verify")
                    .map(|s| s.detail.clone())
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| format!("the drill ended at {} first", Dur(self.ended)));
                Check::new("verify", CheckStatus::Failed, None, limit, why)
            }
        }
    }

    fn check_procedure(&self) -> Check {
        let steps = &self.record.steps;
        if steps.is_empty() {
            return Check::skipped("procedure", "the procedure did not start");
        }
        if let Some(failed) = steps.iter().find(|s| s.status == StepStatus::Failed) {
            return Check::new(
                "procedure",
                CheckStatus::Failed,
                None,
                None,
                format!("step `{}` failed: {}", failed.name, failed.detail),
            );
        }
        let skipped = steps
            .iter()
            .filter(|s| s.status == StepStatus::Skipped)
            .count();
        let not_run: Vec<&str> = steps
            .iter()
            .filter(|s| s.status == StepStatus::NotRun)
            .map(|s| s.name.as_str())
            .collect();
        if !not_run.is_empty() {
            return Check::new(
                "procedure",
                CheckStatus::Failed,
                None,
                None,
                format!(
                    "the drill ended at {} before step(s) {} ran",
                    Dur(self.ended),
                    not_run.join(", ")
                ),
            );
        }
        Check::new(
            "procedure",
            CheckStatus::Passed,
            None,
            None,
            match skipped {
                0 => format!("all {} steps succeeded", steps.len()),
                n => format!("{} steps succeeded, {n} did not apply", steps.len() - n),
            },
        )
    }

    fn check_expectation(&self, others_passed: bool) -> Check {
        let e = &self.expect;
        let mut wrong = Vec::new();
        let mut declared = false;
        if let Some(want) = e.rollback {
            declared = true;
            let got = self.rolled_back();
            if got != want {
                wrong.push(if want {
                    "expected a rollback, none happened".to_string()
                } else {
                    "expected no rollback, but the release was rolled back".to_string()
                });
            }
        }
        if let Some(want) = e.severity {
            declared = true;
            let got = self.record.trigger.as_ref().map(|(t, _)| t.severity);
            if got != Some(want) {
                let got = got.map_or("none".to_string(), |s| s.to_string());
                wrong.push(format!("expected severity {want}, got {got}"));
            }
        }
        let findings = self.findings();
        for kind in &e.findings {
            declared = true;
            if !findings.iter().any(|f| f.kind == *kind) {
                wrong.push(format!("expected a `{kind}` finding, none was made"));
            }
        }
        if let Some(want) = e.verdict {
            declared = true;
            let got = if others_passed {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            if got != want {
                wrong.push(format!("expected verdict {want}, the checks say {got}"));
            }
        }
        match (declared, wrong.is_empty()) {
            (false, _) => Check::skipped("expectation", "the scenario declares no `expect`"),
            (true, true) => Check::new(
                "expectation",
                CheckStatus::Passed,
                None,
                None,
                "matches `expect`".into(),
            ),
            (true, false) => Check::new(
                "expectation",
                CheckStatus::Failed,
                None,
                None,
                wrong.join("; "),
            ),
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

    /// Drift against the history: a check that passed last time and fails
    /// now, or a phase slower than the median of the last passing runs by
    /// more than the tolerance.
    fn check_drift(&self, checks: &[Check]) -> Check {
        let Some(history) = &self.history else {
            return Check::skipped("drift", "the history was not consulted");
        };
        // Live and simulated timings never judge each other.
        let backend = self.backend();
        let history: Vec<HistoryRun> = history
            .iter()
            .filter(|r| r.backend == backend)
            .cloned()
            .collect();
        let history = &history;
        let Some(last) = history.last() else {
            // (Of this backend; the text predates backends in history.)
            return Check::skipped("drift", "no earlier runs of this scenario in the history");
        };
        let mut problems = Vec::new();
        for c in checks.iter().filter(|c| c.status == CheckStatus::Failed) {
            let passed_before = last
                .checks
                .iter()
                .any(|h| h.name == c.name && h.status == CheckStatus::Passed);
            if passed_before {
                problems.push(format!(
                    "`{}` passed in the previous run and fails now",
                    c.name
                ));
            }
        }
        let policy = self.drift_policy;
        let passing: Vec<&HistoryRun> = history
            .iter()
            .rev()
            .filter(|r| r.passed)
            .take(policy.runs)
            .collect();
        let now = self.durations();
        let mut worst: Option<(f64, f64)> = None;
        for (phase, current) in [
            ("detect", now.detect),
            ("decide", now.decide),
            ("restore", now.restore),
            ("verify", now.verify),
        ] {
            let mut past: Vec<f64> = passing
                .iter()
                .filter_map(|r| match phase {
                    "detect" => r.durations.detect,
                    "decide" => r.durations.decide,
                    "restore" => r.durations.restore,
                    _ => r.durations.verify,
                })
                .collect();
            let (Some(current), Some(med)) = (current, median(&mut past)) else {
                continue;
            };
            let slower = current - med;
            if current > med * (1.0 + policy.tolerance) && slower >= 1.0 {
                problems.push(format!(
                    "{phase} took {}, median of the last {} passing runs {} (+{}, tolerance {})",
                    human(current),
                    past.len(),
                    human(med),
                    if med > 0.0 {
                        Percent(slower / med).to_string()
                    } else {
                        human(slower)
                    },
                    Percent(policy.tolerance)
                ));
                if phase == "restore" {
                    worst = Some((current, med * (1.0 + policy.tolerance)));
                }
            }
        }
        let changed = passing.first().is_some_and(|r| {
            !r.procedure_hash.is_empty() && r.procedure_hash != self.procedure_hash
        });
        let note = if changed {
            " (the procedure changed since the last passing run)"
        } else {
            ""
        };
        let (measured, limit) = worst.map_or((None, None), |(m, l)| (Some(m), Some(l)));
        if problems.is_empty() {
            Check::new(
                "drift",
                CheckStatus::Passed,
                now.restore,
                None,
                format!(
                    "no drift against {} earlier run(s), {} passing{note}",
                    history.len(),
                    passing.len()
                ),
            )
        } else {
            Check::new(
                "drift",
                CheckStatus::Failed,
                measured,
                limit,
                format!("{}{note}", problems.join("; ")),
            )
        }
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
