//! A release set over HTTP: the deployer ships each change of the set as
//! it ships the release, each regresses at its own onset, and the set's
//! rollback is one `POST /api/rollback` with a `set` (all or nothing).

use serde_json::json;

use super::{LivePort, behaviour_body, refused};
use crate::drill::WriteAck;
use crate::live::LiveError;
use crate::metrics::{self, observe};
use crate::registry::RegistryError;
use crate::scenario::{Candidate, ReleasePlan};

/// How long the deployer asks again while the registry is unavailable
/// (wall time): the drill loop holds its calls during an injected outage,
/// and this covers the server timing the outage's end from its own clock
/// (from when it was injected, a little after the loop's start of it).
const DEPLOYER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

impl LivePort<'_> {
    /// The deployer ships canary step `step` of `rel`; the watched release
    /// (`watched`) also takes the baseline when it first ships.
    pub fn ship(
        &mut self,
        rel: &ReleasePlan,
        now: u64,
        step: usize,
        watched: bool,
    ) -> Result<(), LiveError> {
        if step == 0 {
            if watched {
                let window = self.plan.policy.window.0;
                let rec = self.recorder.lock().unwrap_or_else(|p| p.into_inner());
                let (from, to) = metrics::tick_range(now.saturating_sub(window), now);
                self.baseline = Some(observe(rec.series.values(), from, to));
                drop(rec);
                self.baseline_from_prometheus()?;
            }
            let body = json!({"route": rel.route, "version": rel.version}).to_string();
            self.must_within(
                "POST",
                "/api/versions",
                Some(&body),
                "adding the release",
                DEPLOYER_PATIENCE,
            )?;
        }
        let route = self.must_within(
            "GET",
            &format!("/api/routes/{}", rel.route),
            None,
            "reading the route",
            DEPLOYER_PATIENCE,
        )?;
        let current: Vec<Candidate> =
            serde_json::from_value(route["candidates"].clone()).unwrap_or_default();
        let share = rel.schedule[step].1 * 100.0;
        let next = rel.canary(&current, step);
        let body = json!({"revision": route["revision"], "candidates": next, "reason": format!("release {} at {share}%", rel.version)});
        self.must_within(
            "PUT",
            &format!("/api/routes/{}", rel.route),
            Some(&body.to_string()),
            "releasing",
            DEPLOYER_PATIENCE,
        )?;
        Ok(())
    }

    /// Change `change` of the release set regresses from now on.
    pub fn change_onset(&mut self, change: usize) -> Result<(), LiveError> {
        let rel = self.plan.releases()[change];
        let body = behaviour_body(&rel.version, &rel.regressed);
        self.must(
            "POST",
            "/admin/behaviour",
            Some(&body),
            "starting the regression",
        )
        .map(drop)
    }

    /// How the set's other releases behave now (before or after onset).
    pub(super) fn send_set_behaviours(&mut self) -> Result<(), LiveError> {
        let now = self.now_ms();
        for rel in self.plan.releases().into_iter().skip(1) {
            let b = if now >= rel.at.0 + rel.onset.0 {
                &rel.regressed
            } else {
                &rel.healthy
            };
            let body = behaviour_body(&rel.version, b);
            self.must(
                "POST",
                "/admin/behaviour",
                Some(&body),
                "setting behaviours",
            )?;
        }
        Ok(())
    }

    /// `POST /api/rollback` with the set: each route's target takes 100%,
    /// in one transaction. A refusal names the route and changes nothing.
    pub(super) fn post_set(
        &mut self,
        writes: &[(String, Vec<Candidate>, String)],
        reason: &str,
        change_id: &str,
    ) -> Result<WriteAck, RegistryError> {
        let set: Vec<_> = writes
            .iter()
            .map(|(route, _, target)| json!({"route": route, "target_version": target}))
            .collect();
        let body = json!({"set": set, "reason": reason, "change_id": change_id}).to_string();
        let r = self.http.call("POST", "/api/rollback", Some(&body));
        let at = self.now_ms();
        match r.status {
            200 => Ok(WriteAck {
                acked_at: at,
                converged_at: at,
            }),
            0 | 503 => Err(RegistryError::Unavailable {
                until_ms: at,
                timed_out_ms: self.waited_ms(&r),
            }),
            s => Err(refused(s, &r.body)),
        }
    }
}
