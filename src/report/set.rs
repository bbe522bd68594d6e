//! A coordinated rollback in every report: each route of the release set
//! with its mechanism, target, status and timed phase, and the set's
//! totals. Single-route drills have none of this (their reports do not
//! change).

use serde_json::{Value, json};

use crate::drill::{RouteRollback, RouteStatus};
use crate::outcome::{DrillOutcome, human};

/// The set's totals: the per-route phases added up, and `restore`.
pub struct Totals {
    pub routes: usize,
    pub rolled_back: usize,
    /// Sum of the per-route phases, in seconds.
    pub phases_s: f64,
    /// From the first phase's start to the last one's end.
    pub span_s: f64,
    /// The phases overlap (one transaction) rather than follow each other.
    pub overlap: bool,
    /// decided → restored (`None` when not every route was restored).
    pub restore_s: Option<f64>,
}

pub fn routes(o: &DrillOutcome) -> &[RouteRollback] {
    &o.record.routes
}

pub fn totals(o: &DrillOutcome) -> Option<Totals> {
    let routes = routes(o);
    if routes.is_empty() {
        return None;
    }
    let timed: Vec<(f64, f64)> = routes
        .iter()
        .filter_map(|r| Some((r.start_s?, r.end_s?)))
        .collect();
    let first = timed.iter().map(|t| t.0).fold(f64::INFINITY, f64::min);
    let last = timed.iter().map(|t| t.1).fold(f64::NEG_INFINITY, f64::max);
    Some(Totals {
        span_s: if timed.is_empty() {
            0.0
        } else {
            round3(last - first)
        },
        // Which write path ran, as the procedure recorded it (equal
        // phase times alone would also fit a refused set).
        overlap: o.record.set_in_one_write,
        routes: routes.len(),
        rolled_back: routes
            .iter()
            .filter(|r| r.status == RouteStatus::RolledBack)
            .count(),
        phases_s: round3(routes.iter().filter_map(RouteRollback::took_s).sum()),
        restore_s: o.durations().restore,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `release_set` in `<scenario>.json`.
pub fn json(o: &DrillOutcome) -> Option<Value> {
    let t = totals(o)?;
    Some(json!({
        "routes": routes(o),
        "totals": {
            "routes": t.routes,
            "rolled_back": t.rolled_back,
            "phases_s": t.phases_s,
            "span_s": t.span_s,
            "restore_s": t.restore_s,
            "restore_is": restore_is(&t),
        },
    }))
}

/// How `restore` relates to the per-route phases.
pub fn restore_is(t: &Totals) -> &'static str {
    if t.overlap {
        "the overlap of the per-route phases: the set was one transaction"
    } else {
        "the sum of the per-route phases: routes roll back one after another"
    }
}

/// One line per route, then the totals: for summary.md and JUnit.
pub fn lines(o: &DrillOutcome) -> Vec<String> {
    let Some(t) = totals(o) else {
        return Vec::new();
    };
    let mut out: Vec<String> = routes(o)
        .iter()
        .map(|r| {
            let took = r.took_s().map_or("—".to_string(), human);
            let target = r.target.as_deref().unwrap_or("—");
            let mut line = format!(
                "{}: {} → {} by {}, {} ({took})",
                r.route,
                r.release,
                target,
                r.mechanism,
                r.status.as_str()
            );
            if !r.detail.is_empty() {
                line.push_str(": ");
                line.push_str(&r.detail);
            }
            line
        })
        .collect();
    out.push(format!(
        "set: {} of {} routes rolled back; phases {} in all, {} from first to last; restore {} ({})",
        t.rolled_back,
        t.routes,
        human(t.phases_s),
        human(t.span_s),
        t.restore_s.map_or("—".to_string(), human),
        restore_is(&t)
    ));
    out
}
