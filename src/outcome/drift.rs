//! The `drift` check: this run against the earlier runs of the same
//! scenario on the same backend in the history.

use super::*;

impl DrillOutcome {
    /// Drift against the history: a check that passed last time and fails
    /// now, or a phase slower than the median of the last passing runs by
    /// more than the tolerance.
    pub(super) fn check_drift(&self, checks: &[Check]) -> Check {
        let Some(history) = &self.history else {
            return Check::skipped("drift", "the history was not consulted");
        };
        // Live and simulated timings never judge each other; a line that
        // recorded no backend (older versions) could be either: left out.
        // Each seed is judged by the earlier runs of that seed (`--repeat`
        // writes one line per seed; another seed's timings are no baseline).
        let backend = self.backend();
        let any = !history.is_empty();
        let history: Vec<HistoryRun> = history
            .iter()
            .filter(|r| r.backend == Some(backend) && r.seed == self.seed)
            .cloned()
            .collect();
        let history = &history;
        let Some(last) = history.last() else {
            return Check::skipped(
                "drift",
                &if any {
                    format!(
                        "no earlier runs of this scenario with seed {} on {backend} in the history",
                        self.seed
                    )
                } else {
                    "no earlier runs of this scenario in the history".to_string()
                },
            );
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> DrillOutcome {
        let text = include_str!("../../scenarios/prompt-error-spike-auto-rollback.yaml");
        let plan = crate::scenario::load_str(text, std::path::Path::new("spike.yaml")).unwrap();
        crate::sim::run(&plan)
    }

    fn past(backend: Option<BackendKind>) -> HistoryRun {
        HistoryRun {
            scenario: "s".into(),
            passed: true,
            // Far faster than the simulated run: drift, if it counted.
            durations: Durations {
                detect: Some(0.001),
                decide: Some(0.001),
                restore: Some(0.001),
                verify: Some(0.001),
                ..Durations::default()
            },
            backend,
            seed: outcome().seed,
            ..HistoryRun::default()
        }
    }

    /// A line without a backend (older versions; maybe a live run) never
    /// judges a simulated run; one recorded as simulated does.
    #[test]
    fn a_line_without_a_backend_is_left_out_of_drift() {
        let drift = |h: Vec<HistoryRun>| {
            let o = outcome().with_history(h);
            o.checks().into_iter().find(|c| c.name == "drift").unwrap()
        };
        let unknown = drift(vec![past(None)]);
        assert_eq!(unknown.status, CheckStatus::Skipped, "{}", unknown.message);
        let known = drift(vec![past(Some(BackendKind::InProcess))]);
        assert_eq!(known.status, CheckStatus::Failed, "{}", known.message);
    }
}
