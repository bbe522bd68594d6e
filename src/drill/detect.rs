//! Detection: the policy evaluated on the released version, new-version
//! alerts, observation, and which action a firing trigger sets off.

use crate::scenario::{Action, Dur, FindingKind, Percent, Severity, Trigger};

use super::Staging;
use super::policy::{fires, metric_value, new_version_breach};
use super::procedure::*;
use super::record::Finding;

impl<'p> Procedure<'p> {
    pub(super) fn evaluate(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        if !matches!(
            self.phase,
            Phase::Monitoring | Phase::Observing | Phase::Responding
        ) {
            return Vec::new();
        }
        let next = vec![(now + self.plan.policy.evaluate_every.0, Wake::Evaluate)];
        let rel = &self.plan.release;
        let obs = port.version_metrics(now, &rel.route, &rel.version, self.plan.policy.window);
        if self.metrics_gap(now, obs.missing) {
            return next;
        }
        if obs.requests >= self.plan.policy.min_requests {
            self.record.judged += 1;
        }
        let baseline = port.baseline(&rel.route);
        self.fired_new_version = false;
        let slow = |ms: f64| {
            port.share_slower_than(now, &rel.route, &rel.version, self.plan.policy.window, ms)
        };
        let fired = fires(
            &self.plan.policy,
            self.alphas.triggers_at(now),
            &obs,
            baseline.as_ref(),
            slow,
        )
        .map(|(t, v)| (t.clone(), v))
        .or_else(|| self.new_version_alert(now, &obs, baseline.as_ref(), port));
        let Some((trigger, value)) = fired else {
            return next;
        };
        // While people respond, only a more urgent action takes over.
        if self.phase != Phase::Monitoring
            && self
                .current_action
                .is_some_and(|a| urgency(trigger.action) <= urgency(a))
        {
            return next;
        }
        self.current_action = Some(trigger.action);
        self.respond_gen += 1;
        if self.record.detected.is_none() {
            self.record.detected = Some(now);
        } else {
            self.record.new_version_alert = false;
        }
        self.record.new_version_alert |= self.fired_new_version;
        self.record.trigger = Some((trigger.clone(), value));
        let source = port
            .metric_source(trigger.metric.underlying())
            .map_or(String::new(), |s| format!(", read from {s}"));
        self.note(
            now,
            "policy",
            format!(
                "{} {} above {} on {} ({} requests{source}): {} → {}",
                trigger.metric,
                crate::scenario::Percent(value),
                trigger.above,
                rel.version,
                obs.requests,
                trigger.severity,
                trigger.action
            ),
        );
        self.observing = None;
        match trigger.action {
            Action::AutoRollback => {
                self.record.deciding_trigger = Some(trigger);
                self.record.deciding_at = Some(now);
                self.start_rollback(now, "policy (auto_rollback)", port)
            }
            // Evaluation goes on while people respond, so a more urgent
            // trigger can take over.
            Action::Page => {
                self.record.deciding_trigger = Some(trigger);
                self.record.deciding_at = Some(now);
                let mut wakes = self.page(now, port);
                wakes.extend(next);
                wakes
            }
            Action::Alert => {
                self.record.deciding_trigger = Some(trigger);
                self.record.deciding_at = Some(now);
                self.phase = Phase::Responding;
                self.note(now, "policy", "team and product alerted".into());
                let mut wakes = self.respond(now, Role::Product);
                wakes.extend(next);
                wakes
            }
            Action::Observe => {
                let watch = trigger.observe_for.unwrap_or_default();
                self.note(now, "policy", format!("observing for {watch}"));
                self.record.deciding_at = Some(now);
                self.observing = Some(trigger);
                self.phase = Phase::Observing;
                let mut wakes = next;
                wakes.push((now + watch.0, Wake::ObserveEnd));
                wakes
            }
        }
    }

    /// While the release is young, the stricter `new_version` limits raise
    /// an alert even when no trigger fires; a breach counts only beyond
    /// doubt (an exact test at the drill's budget), so noise does not alert.
    pub(super) fn new_version_alert(
        &mut self,
        now: u64,
        obs: &crate::metrics::Observation,
        baseline: Option<&crate::metrics::Observation>,
        port: &dyn Staging,
    ) -> Option<(Trigger, f64)> {
        let rel = &self.plan.release;
        let nv = &self.plan.policy.new_version;
        if now >= rel.at.0 + nv.for_.0 || obs.requests < self.plan.policy.min_requests {
            return None;
        }
        let slow = |ms: f64| {
            port.share_slower_than(now, &rel.route, &rel.version, self.plan.policy.window, ms)
        };
        let (metric, limit) = new_version_breach(nv, self.alphas.new_version, obs, baseline, slow)?;
        self.fired_new_version = true;
        let value = metric_value(metric, obs, baseline);
        Some((
            Trigger {
                metric,
                above: Percent(limit),
                severity: Severity::Medium,
                action: Action::Alert,
                decide_within: None,
                observe_for: None,
            },
            value,
        ))
    }

    pub(super) fn page(&mut self, now: u64, port: &dyn Staging) -> Wakes {
        self.phase = Phase::Responding;
        let outcome = port.page(now);
        if outcome.delivered {
            self.note(now, "policy", "paged on_call".into());
            return vec![(
                now + self.plan.responders.on_call.ack_after.0,
                Wake::Ack(Role::OnCall, self.respond_gen),
            )];
        }
        // The pager is down: the escalation policy reaches the platform
        // lead by another channel, later.
        let after = outcome.escalate_after;
        self.note(
            now,
            "policy",
            format!("page to on_call not delivered: escalation reaches platform_lead in {after}"),
        );
        self.record.findings.push(Finding {
            kind: FindingKind::PagerUnavailable,
            step: "decide".into(),
            message: format!(
                "the page to on_call was not delivered: platform_lead was reached by escalation {after} later; test the paging path in every drill and page a secondary"
            ),
        });
        let lead = &self.plan.responders.platform_lead;
        vec![(
            now + after.0 + lead.ack_after.0,
            Wake::Ack(Role::PlatformLead, self.respond_gen),
        )]
    }

    /// Tracks a gap in the metrics once the release is out: the policy is
    /// blind meanwhile. Returns whether metrics are missing now.
    fn metrics_gap(&mut self, now: u64, missing: bool) -> bool {
        let released = now >= self.plan.release.at.0;
        match (missing && released, self.gap_since) {
            (true, None) => {
                self.gap_since = Some(now);
                self.record.findings.push(Finding {
                    kind: FindingKind::MetricsMissing,
                    step: "detect".into(),
                    message: format!("no metrics arrived from {}", Dur(now)),
                });
            }
            (false, Some(since)) => {
                self.gap_since = None;
                self.record.amend_finding(
                    FindingKind::MetricsMissing,
                    format!(
                        "no metrics arrived from {} to {}: the policy was blind for {}; alert on missing metrics, not only on bad ones",
                        Dur(since),
                        Dur(now),
                        Dur(now - since)
                    ),
                );
            }
            _ => {}
        }
        missing
    }

    pub(super) fn observe_end(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some(trigger) = self.observing.take() else {
            return Vec::new();
        };
        if self.phase != Phase::Observing {
            return Vec::new();
        }
        let rel = &self.plan.release;
        let obs = port.version_metrics(now, &rel.route, &rel.version, self.plan.policy.window);
        let value = metric_value(trigger.metric, &obs, port.baseline(&rel.route).as_ref());
        if value > trigger.above.fraction() && obs.requests >= self.plan.policy.min_requests {
            self.note(
                now,
                "policy",
                format!(
                    "{} still {} after observing: escalating to a page",
                    trigger.metric,
                    crate::scenario::Percent(value)
                ),
            );
            self.record.deciding_trigger = Some(trigger);
            self.current_action = Some(Action::Page);
            self.respond_gen += 1;
            self.page(now, port)
        } else {
            self.note(
                now,
                "policy",
                format!(
                    "{} resolved while observed: keep monitoring",
                    trigger.metric
                ),
            );
            self.phase = Phase::Monitoring;
            Vec::new()
        }
    }
}
