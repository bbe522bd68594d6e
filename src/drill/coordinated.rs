//! Coordinated rollbacks: a release set (several routes shipped as one
//! change) rolled back together. Who may decide one, which routes of the
//! set roll back and in what order, each route's own mechanism, and what
//! happens when one route cannot be rolled back.

use crate::registry::{RegistryError, describe};
use crate::scenario::{
    Candidate, Dur, FindingKind, Mechanism, OnPartial, Percent, ReleasePlan, ReleaseSet, Responder,
    RollbackScope,
};

use super::Staging;
use super::policy::fires;
use super::procedure::*;
use super::record::*;

/// A route's rollback target: its main version and candidates, or why it
/// has none (the finding's kind and message).
type Resolved = Result<(String, Vec<Candidate>), (FindingKind, String)>;

/// A release set's rollback under way.
#[derive(Debug, Default)]
pub(super) struct SetRun {
    /// Each route's candidates before its rollback, in rollback order,
    /// for `on_partial: roll_all_forward`.
    forward: Vec<(String, Vec<Candidate>)>,
    /// The routes rolled back are being put forward again.
    forwarding: bool,
    /// The id linking the set's writes in the audit.
    change_id: Option<String>,
}

impl<'p> Procedure<'p> {
    /// The routes of the set, if rolling them back needs an authority
    /// `role` lacks: more than one route needs `platform_lead` or a
    /// responder with `coordinated` authority.
    pub(super) fn lacks_coordinated(&self, role: Role, responder: &Responder) -> Option<usize> {
        let set = self.plan.release_set.as_ref()?;
        (role != Role::PlatformLead && !responder.coordinated).then_some(set.changes.len())
    }

    /// A responder without `coordinated` authority hands a rollback of
    /// several routes to the platform lead, who acknowledges in turn.
    pub(super) fn escalate_coordinated(&mut self, now: u64, role: Role, routes: usize) -> Wakes {
        self.note(
            now,
            role.as_str(),
            format!(
                "has no authority for a coordinated rollback of {routes} routes: escalated to platform_lead"
            ),
        );
        let lead = &self.plan.responders.platform_lead;
        vec![(
            now + lead.ack_after.0,
            Wake::Ack(Role::PlatformLead, self.respond_gen),
        )]
    }

    /// The rollback of a release set: which routes roll back, each one's
    /// target, then one write per route in rollback order, each waiting
    /// for the routers before the next (restore is the sum of the
    /// per-route phases) — or, where the registry takes a set in one
    /// transaction, one write for all (restore is their overlap). A route
    /// that cannot be rolled back does not stop the others; the step fails
    /// at the end (see `finish_set`).
    pub(super) fn start_set(
        &mut self,
        now: u64,
        set: &'p ReleaseSet,
        port: &mut dyn Staging,
    ) -> Result<Next, Halt> {
        self.set_run = SetRun::default();
        let policy = &self.plan.policy;
        // Which routes each trigger fires on, judged once; then the set
        // grows until it stops: a route related only to one that joins
        // later in release order still joins (a single pass in release
        // order missed it).
        let mut fires_on = vec![false; set.changes.len()];
        for (i, fired) in fires_on.iter_mut().enumerate().skip(1) {
            let rel = &set.changes[i].release;
            let obs = port.version_metrics(now, &rel.route, &rel.version, policy.window);
            // Judged as detection judges the release: beyond noise, within
            // the drill's false-alarm budget.
            let slow =
                |ms: f64| port.share_slower_than(now, &rel.route, &rel.version, policy.window, ms);
            let fires_on_it = fires(
                policy,
                self.alphas.triggers_at(now),
                &obs,
                port.baseline(&rel.route).as_ref(),
                slow,
            )
            .is_some();
            *fired = fires_on_it;
        }
        let mut rolling = vec![0];
        loop {
            let joining: Vec<usize> = (1..set.changes.len())
                .filter(|i| !rolling.contains(i) && in_scope(set, *i, fires_on[*i], &rolling))
                .collect();
            if joining.is_empty() {
                break;
            }
            rolling.extend(joining);
        }
        rolling.sort_unstable();
        // Every read first: an outage retries the whole step.
        let mut resolved = Vec::new();
        for &i in &set.rollback_order {
            if !rolling.contains(&i) {
                continue;
            }
            let rel = &set.changes[i].release;
            let current = port
                .candidates(now, &rel.route)
                .map_err(|e| self.registry_halt(now, e, "reading the route"))?;
            if !current.iter().any(|c| c.version == rel.version) {
                // Detected before this change shipped: nothing to undo.
                continue;
            }
            let target = match &self.target {
                Some(t) if i == 0 => Ok((t.version.clone(), t.candidates.clone())),
                _ => self.set_target(now, rel, port)?,
            };
            resolved.push((i, target, current));
        }
        self.record.routes.clear();
        self.exec.clear();
        let mut writes = Vec::new();
        // One id links the set's writes in the audit; the same scenario
        // and decision give the same id.
        let id = format!("rollback-{}-{now}", &self.plan.scenario_hash[..8]);
        port.set_change_id(Some(&id));
        self.set_run.change_id = Some(id);
        for &i in &set.rollback_order {
            let change = &set.changes[i];
            let rel = &change.release;
            let mut route = RouteRollback {
                route: rel.route.clone(),
                release: rel.version.clone(),
                mechanism: change.mechanism,
                target: None,
                status: RouteStatus::Kept,
                start_s: None,
                end_s: None,
                detail: if rolling.contains(&i) {
                    format!("{} was never shipped: nothing to roll back", rel.version)
                } else {
                    format!(
                        "the policy did not fire on {}: left as it is (rollback: per_route)",
                        rel.version
                    )
                },
            };
            match resolved.iter().find(|(k, ..)| *k == i) {
                None => {}
                Some((_, Err((kind, message)), _)) => {
                    self.fail(*kind, message.clone());
                    route.status = RouteStatus::Failed;
                    route.detail = message.clone();
                }
                Some((_, Ok((version, candidates)), current)) => {
                    if i == 0 {
                        self.record.rollback_target = Some(version.clone());
                    }
                    route.status = RouteStatus::Pending;
                    route.target = Some(version.clone());
                    route.detail = String::new();
                    self.set_run
                        .forward
                        .push((rel.route.clone(), current.clone()));
                    writes.push((
                        rel.route.clone(),
                        switch_to(change.mechanism, candidates, rel),
                        version.clone(),
                        format!("{}: {} to {version}", rel.route, change.mechanism),
                    ));
                }
            }
            self.record.routes.push(route);
        }
        if port.writes_sets() && !writes.is_empty() {
            self.record.set_in_one_write = true;
            self.exec.push_back(ExecAction::SetWrite { writes });
        } else {
            for (route, candidates, _, label) in writes {
                self.exec.push_back(ExecAction::RouteWrite {
                    route,
                    candidates,
                    label,
                });
            }
        }
        Ok(Next::Wait(self.advance_exec(now, port)))
    }

    /// The set's writes as one transaction: every route's phase is the
    /// same span (they overlap; restore is that span, not a sum). Refused,
    /// nothing was written: every route of it failed, with the registry's
    /// answer (which names the route).
    pub(super) fn set_write(
        &mut self,
        now: u64,
        writes: Vec<(String, Vec<Candidate>, String, String)>,
        port: &mut dyn Staging,
    ) -> Wakes {
        let generation = self.exec_gen;
        let reason = self.write_reason();
        let id = self.set_run.change_id.clone().unwrap_or_default();
        let plain: Vec<(String, Vec<Candidate>, String)> = writes
            .iter()
            .map(|(r, c, t, _)| (r.clone(), c.clone(), t.clone()))
            .collect();
        let Some(answer) = port.write_set(now, &plain, &reason, &id) else {
            // No transaction after all: route after route.
            for (route, candidates, _, label) in writes.into_iter().rev() {
                self.exec.push_front(ExecAction::RouteWrite {
                    route,
                    candidates,
                    label,
                });
            }
            return self.advance_exec(now, port);
        };
        match answer {
            Ok(ack) => {
                self.registry_recovered(now);
                for (route, candidates, _, label) in &writes {
                    self.record.steps[self.step].phases.push(PhaseRecord {
                        name: label.clone(),
                        start_s: secs(now),
                        end_s: Some(secs(ack.converged_at)),
                        detail: format!(
                            "{}; one transaction for the {} routes of the set, acknowledged after {}",
                            describe(candidates),
                            writes.len(),
                            Dur(ack.acked_at - now)
                        ),
                    });
                    if let Some(r) = self.route_mut(route) {
                        r.start_s = Some(secs(now));
                        r.end_s = Some(secs(ack.converged_at));
                        r.status = RouteStatus::RolledBack;
                    }
                }
                vec![(ack.converged_at, Wake::ExecNext(generation))]
            }
            Err(e) => match self.registry_halt(now, e, "the set's rollback") {
                Halt::Retry(at) => {
                    self.exec.push_front(ExecAction::SetWrite { writes });
                    vec![(at, Wake::ExecNext(generation))]
                }
                Halt::Fail(message) => {
                    for (route, ..) in &writes {
                        if let Some(r) = self.route_mut(route) {
                            r.status = RouteStatus::Failed;
                            r.detail = format!("nothing of the set was written: {message}");
                        }
                    }
                    self.advance_exec(now, port)
                }
            },
        }
    }

    /// `identify_target` on a set: each route's previous version. A route
    /// without one does not stop the step: `execute` rolls back the others
    /// and fails as a partial rollback naming it.
    pub(super) fn identify_set(&mut self, now: u64, port: &mut dyn Staging) -> Result<Next, Halt> {
        let Some(set) = self.plan.release_set.as_ref() else {
            return Ok(Next::Done(String::new()));
        };
        let mut found = Vec::new();
        for &i in &set.rollback_order {
            let rel = &set.changes[i].release;
            match self.set_target(now, rel, port)? {
                Ok((version, candidates)) => {
                    found.push(format!("{} on {}", version, rel.route));
                    if i == 0 {
                        self.record.rollback_target = Some(version.clone());
                        self.target = Some(Target {
                            version,
                            candidates,
                        });
                    }
                }
                Err((_, why)) => found.push(format!("none on {}: {why}", rel.route)),
            }
        }
        let detail = format!("targets {}", found.join("; "));
        // A slow registry makes each route's read take longer, as for a
        // single route.
        let delay = port.read_delay(now).0 * set.rollback_order.len() as u64;
        if delay > 0 {
            self.pending = Some((
                StepStatus::Succeeded,
                format!("{detail}; reads took {}", Dur(delay)),
            ));
            return Ok(Next::Wait(vec![(now + delay, Wake::StepFinished)]));
        }
        Ok(Next::Done(detail))
    }

    /// The route's previous candidates, if they are still held.
    fn set_target(
        &mut self,
        now: u64,
        rel: &ReleasePlan,
        port: &mut dyn Staging,
    ) -> Result<Resolved, Halt> {
        let previous = port
            .previous_candidates(now, &rel.route, &rel.version)
            .map_err(|e| self.registry_halt(now, e, "reading the route's history"))?;
        let Some(candidates) = previous.filter(|c| !c.is_empty()) else {
            return Ok(Err((
                FindingKind::NoRollbackTarget,
                format!("route {} has no earlier version to roll back to", rel.route),
            )));
        };
        let held = port
            .versions(now, &rel.route)
            .map_err(|e| self.registry_halt(now, e, "reading the route's versions"))?;
        if let Some(gone) = candidates.iter().find(|c| !held.contains(&c.version)) {
            return Ok(Err((
                FindingKind::TargetRetired,
                format!(
                    "rollback target {} of route {} was removed by retention (keep_last={}) before the rollback: keep the previous version of every route of the set for the whole rollback window",
                    gone.version, rel.route, self.plan.registry.keep_last
                ),
            )));
        }
        let main = candidates
            .iter()
            .max_by(|a, b| a.weight.total_cmp(&b.weight))
            .expect("non-empty");
        Ok(Ok((main.version.clone(), candidates)))
    }

    fn route_mut(&mut self, route: &str) -> Option<&mut RouteRollback> {
        self.record.routes.iter_mut().find(|r| r.route == route)
    }

    /// One route's write of a set's rollback (or of its roll forward).
    pub(super) fn route_write(
        &mut self,
        now: u64,
        route: String,
        candidates: Vec<Candidate>,
        label: String,
        port: &mut dyn Staging,
    ) -> Wakes {
        let generation = self.exec_gen;
        let reason = self.write_reason();
        let actor = self.record.decided_by.clone().unwrap_or_default();
        let to = describe(&candidates);
        let retry = ExecAction::RouteWrite {
            route: route.clone(),
            candidates: candidates.clone(),
            label: label.clone(),
        };
        let what = format!("the rollback write to {route}");
        match port.write_route(now, &route, candidates, &actor, &reason) {
            Ok(ack) => {
                self.registry_recovered(now);
                self.push_write_phase(now, &label, &to, ack);
                let forwarding = self.set_run.forwarding;
                if let Some(r) = self.route_mut(&route) {
                    if forwarding {
                        r.status = RouteStatus::RolledForward;
                        r.detail = format!("forward again to {} at {}s", r.release, secs(now));
                    } else {
                        r.start_s.get_or_insert(secs(now));
                        r.end_s = Some(secs(ack.converged_at));
                        r.status = RouteStatus::RolledBack;
                    }
                }
                vec![(ack.converged_at, Wake::ExecNext(generation))]
            }
            Err(e @ RegistryError::ConfigMismatch { .. }) => {
                if let Some(r) = self.route_mut(&route) {
                    r.start_s.get_or_insert(secs(now));
                }
                self.write_failed(now, retry, e, &what)
            }
            Err(e) => match self.registry_halt(now, e, &what) {
                Halt::Retry(at) => {
                    if let Some(r) = self.route_mut(&route) {
                        r.start_s.get_or_insert(secs(now));
                    }
                    self.exec.push_front(retry);
                    vec![(at, Wake::ExecNext(generation))]
                }
                Halt::Fail(message) => {
                    if let Some(r) = self.route_mut(&route) {
                        r.status = RouteStatus::Failed;
                        r.detail = message;
                    }
                    self.advance_exec(now, port)
                }
            },
        }
    }

    /// Every write of the set is over: restored when every route serves
    /// its target; otherwise a `partial_rollback` (after putting the
    /// others forward again under `on_partial: roll_all_forward`).
    pub(super) fn finish_set(&mut self, now: u64, port: &mut dyn Staging) -> Wakes {
        let Some(set) = self.plan.release_set.as_ref() else {
            return Vec::new();
        };
        if !self.set_run.forwarding {
            for r in &mut self.record.routes {
                if r.status != RouteStatus::RolledBack {
                    continue;
                }
                let left = port.serving_share(now, &r.route, &r.release);
                if left > 1e-9 {
                    r.status = RouteStatus::Failed;
                    r.detail = format!(
                        "{} of its traffic still reaches {} after the rollback: some routers never received it",
                        Percent(left),
                        r.release
                    );
                }
            }
        }
        port.set_change_id(None);
        let failed: Vec<String> = self
            .record
            .routes
            .iter()
            .filter(|r| r.status == RouteStatus::Failed)
            .map(|r| r.route.clone())
            .collect();
        if failed.is_empty() {
            self.record.restored = Some(now);
            let parts: Vec<String> = self
                .record
                .routes
                .iter()
                .filter_map(|r| {
                    let took = r.took_s()?;
                    Some(format!(
                        "{} {} {}",
                        r.route,
                        r.mechanism,
                        Dur((took * 1000.0).round() as u64)
                    ))
                })
                .collect();
            let total = Dur(now - self.step_started);
            self.finish_step(
                now,
                StepStatus::Succeeded,
                format!(
                    "coordinated rollback of {} routes, one after another: {}: {total} in all",
                    parts.len(),
                    parts.join(", then ")
                ),
            );
            return self.run_steps(now, port);
        }
        if set.on_partial == OnPartial::RollAllForward && !self.set_run.forwarding {
            self.set_run.forwarding = true;
            let back: Vec<(String, Vec<Candidate>)> = self
                .set_run
                .forward
                .iter()
                .rev()
                .filter(|(route, _)| {
                    self.record
                        .routes
                        .iter()
                        .any(|r| &r.route == route && r.status == RouteStatus::RolledBack)
                })
                .cloned()
                .collect();
            if !back.is_empty() {
                if let Some(id) = self.set_run.change_id.clone() {
                    port.set_change_id(Some(&id));
                }
                for (route, candidates) in back {
                    let label = format!("{route}: forward again");
                    self.exec.push_back(ExecAction::RouteWrite {
                        route,
                        candidates,
                        label,
                    });
                }
                return self.advance_exec(now, port);
            }
        }
        let rolled: Vec<String> = self
            .record
            .routes
            .iter()
            .filter(|r| {
                matches!(
                    r.status,
                    RouteStatus::RolledBack | RouteStatus::RolledForward
                )
            })
            .map(|r| r.route.clone())
            .collect();
        let why: Vec<String> = self
            .record
            .routes
            .iter()
            .filter(|r| r.status == RouteStatus::Failed)
            .map(|r| format!("{}: {}", r.route, r.detail))
            .collect();
        let message = self.fail(
            FindingKind::PartialRollback,
            format!(
                "the coordinated rollback is partial: {} could not be rolled back ({}); {}. The set is inconsistent: make every route of a set rollback-ready before releasing it",
                failed.join(", "),
                why.join("; "),
                on_partial_words(set.on_partial, &rolled)
            ),
        );
        self.exec_failed(now, message)
    }
}

/// The candidates that put `route` back on `target` by `mechanism`: the
/// alias at 100% on the target's main version, or the target's weights
/// with the release at 0%.
pub(super) fn switch_to(
    mechanism: Mechanism,
    target: &[Candidate],
    release: &ReleasePlan,
) -> Vec<Candidate> {
    let main = target
        .iter()
        .max_by(|a, b| a.weight.total_cmp(&b.weight))
        .expect("a target has candidates");
    if mechanism == Mechanism::AliasRemap {
        return vec![Candidate {
            weight: 100.0,
            ..main.clone()
        }];
    }
    let total: f64 = target.iter().map(|c| c.weight).sum();
    let mut out: Vec<Candidate> = target
        .iter()
        .map(|c| Candidate {
            weight: c.weight / total * 100.0,
            ..c.clone()
        })
        .collect();
    out.push(Candidate {
        id: release.id.clone(),
        version: release.version.clone(),
        weight: 0.0,
    });
    out
}

/// Whether change `i` of the set rolls back: always under `together`;
/// under `per_route` when it is the watched release, or related to a
/// rolled-back route (every route is when `related` is empty) and the
/// policy fires on its own release.
pub(super) fn in_scope(set: &ReleaseSet, i: usize, fires_on_it: bool, rolling: &[usize]) -> bool {
    if set.rollback == RollbackScope::Together || i == 0 {
        return true;
    }
    let route = &set.changes[i].release.route;
    let related = set.related.is_empty()
        || rolling
            .iter()
            .any(|&k| set.related(&set.changes[k].release.route, route));
    related && fires_on_it
}

/// `on_partial` in words, for the finding.
pub(super) fn on_partial_words(on_partial: OnPartial, rolled: &[String]) -> String {
    match (on_partial, rolled) {
        (_, []) => "no other route of the set was rolled back".into(),
        (OnPartial::Stay, r) => format!("{} stay rolled back", r.join(", ")),
        (OnPartial::RollAllForward, r) => format!(
            "{} went forward again (on_partial: roll_all_forward)",
            r.join(", ")
        ),
    }
}
