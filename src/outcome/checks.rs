//! The checks of SPEC section 4 that judge one drill's measurements:
//! detect, decide, restore, verify, procedure and expectation.

use super::*;
use crate::scenario::FindingKind;

impl DrillOutcome {
    pub(super) fn check_detect(&self) -> Check {
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

    pub(super) fn check_decide(&self) -> Check {
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

    pub(super) fn decision_summary(&self) -> String {
        let r = &self.record;
        let by = r.decided_by.as_deref().unwrap_or("nobody");
        match &r.deciding_trigger {
            Some(t) => format!("{} {} → {}, by {by}", t.metric, t.severity, t.action),
            None => format!("by {by}"),
        }
    }

    pub(super) fn check_restore(&self) -> Check {
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

    pub(super) fn stuck_reason(&self) -> String {
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

    pub(super) fn check_verify(&self) -> Check {
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

    pub(super) fn check_procedure(&self) -> Check {
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

    pub(super) fn check_expectation(&self, others_passed: bool) -> Check {
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
        // A negative control is strict: it must fail with exactly the
        // findings it names, not with others besides.
        if e.verdict == Some(Verdict::Fail) {
            let extra: Vec<String> = findings
                .iter()
                .filter(|f| !e.findings.contains(&f.kind))
                .map(|f| format!("`{}`", f.kind))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if !extra.is_empty() {
                wrong.push(format!(
                    "expected to fail with only {}, but also found {}",
                    if e.findings.is_empty() {
                        "no findings".to_string()
                    } else {
                        e.findings
                            .iter()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    extra.join(", ")
                ));
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
}

impl DrillOutcome {
    /// After `restored`, every version still serving passes the whole
    /// policy over the traffic since the restore.
    pub(super) fn check_recovered(&self) -> Check {
        let Some(restored) = self.record.restored else {
            return Check::skipped("recovered", "nothing was restored");
        };
        let Some(recovery) = &self.record.recovery else {
            return Check::skipped("recovered", "the drill ended before what serves was judged");
        };
        let requests: u64 = recovery.versions.iter().map(|j| j.requests).sum();
        let breaches: Vec<String> = recovery
            .breaches()
            .map(|(j, b)| {
                format!(
                    "{} ({} of the traffic) still fails the policy after the restore: {} {} above {} ({}) over {} requests",
                    j.version,
                    Percent(j.share),
                    b.metric,
                    Percent(b.value),
                    Percent(b.threshold),
                    b.source,
                    j.requests
                )
            })
            .collect();
        let at = (recovery.at_s * 1000.0).round() as u64;
        let since = Dur(at.saturating_sub(restored));
        if !breaches.is_empty() {
            return Check::new(
                "recovered",
                CheckStatus::Failed,
                None,
                None,
                breaches.join("; "),
            );
        }
        let serving: Vec<String> = recovery
            .versions
            .iter()
            .map(|j| {
                format!(
                    "{} ({}, {} requests)",
                    j.version,
                    Percent(j.share),
                    j.requests
                )
            })
            .collect();
        if requests == 0 {
            return Check::skipped(
                "recovered",
                "no request was served after the restore: nothing to judge",
            );
        }
        Check::new(
            "recovered",
            CheckStatus::Passed,
            None,
            None,
            format!(
                "what serves passes every trigger over the {since} since the restore: {}",
                serving.join(", ")
            ),
        )
    }

    /// A trigger that fired (and was to be acted on) must end in a restore:
    /// a regression left serving fails, whatever `expect` says. So does a
    /// release the policy never saw, metrics missing.
    pub(super) fn check_handled(&self) -> Check {
        let r = &self.record;
        let has = |kind: FindingKind| self.findings().iter().any(|f| f.kind == kind);
        let Some(trigger) = &r.deciding_trigger else {
            if r.detected.is_none() && has(FindingKind::MetricsMissing) {
                return Check::new(
                    "handled",
                    CheckStatus::Failed,
                    None,
                    None,
                    "no trigger could fire: metrics were missing after the release, so the policy never judged it; a release nobody watched is not a healthy one".into(),
                );
            }
            if r.detected.is_none() && r.judged == 0 {
                return Check::new(
                    "handled",
                    CheckStatus::Failed,
                    None,
                    None,
                    "no trigger could fire: no evaluation saw min_requests of the release's traffic (metrics late or missing, or too little traffic), so the policy never judged it; a release nobody watched is not a healthy one".into(),
                );
            }
            return Check::new(
                "handled",
                CheckStatus::Passed,
                None,
                None,
                match r.detected {
                    None => "no trigger fired: nothing to handle".into(),
                    Some(_) => "the observed trigger resolved: nothing to handle".into(),
                },
            );
        };
        if let Some(restored) = r.restored {
            return Check::new(
                "handled",
                CheckStatus::Passed,
                None,
                None,
                format!(
                    "{} {} → {} was handled: the route was restored at {}",
                    trigger.metric,
                    trigger.severity,
                    trigger.action,
                    Dur(restored)
                ),
            );
        }
        let why = match r.decision {
            Some(Decision::Investigate) => format!(
                "{} decided `investigate`",
                r.decided_by.as_deref().unwrap_or("the responder")
            ),
            Some(Decision::Rollback | Decision::RollForward) => {
                let remedy = if r.rolled_forward {
                    "roll forward"
                } else {
                    "rollback"
                };
                match r.steps.iter().find(|s| s.status == StepStatus::Failed) {
                    Some(s) => format!("the {remedy} was decided, but step `{}` failed", s.name),
                    None => format!("the {remedy} was decided, but did not restore the route in time"),
                }
            }
            None if has(FindingKind::PagerUnavailable) => {
                "the page to on_call was not delivered (pager down) and nobody decided before the drill ended".into()
            }
            None if has(FindingKind::MetricsMissing) => {
                "metrics went missing and nobody decided before the drill ended".into()
            }
            None => match r.decision_path.last() {
                Some(e) => format!("nobody decided before the drill ended (last: {} {})", e.who, e.what),
                None => "nobody decided before the drill ended".into(),
            },
        };
        Check::new(
            "handled",
            CheckStatus::Failed,
            None,
            None,
            format!(
                "{} above {} ({} → {}) fired at {} and was never handled: {why}; the release still served when the drill ended at {}",
                trigger.metric,
                trigger.above,
                trigger.severity,
                trigger.action,
                Dur(r.deciding_at.or(r.detected).unwrap_or_default()),
                Dur(self.ended)
            ),
        )
    }
}
