//! Rollback-time SLOs over the history (SPEC section 9): per change type,
//! phase and backend, how many runs in the window met their target, the
//! phase's distribution, and the error budget left for an objective such
//! as "99% of prompt rollbacks restore within 5m over 30 days".
//!
//! Each run is judged by the target it had (history lines record them), so
//! a target changed mid-month judges each run fairly. Simulated and live
//! runs never share a figure: the backend is part of every key.

mod prom;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::backend::BackendKind;
use crate::history::HistoryRun;
use crate::outcome::CheckStatus;
use crate::scenario::ChangeType;

pub use prom::openmetrics;

/// The phases an SLO can be set on.
pub const PHASES: [&str; 4] = ["detect", "decide", "restore", "mitigate"];

/// What `slo` is asked.
#[derive(Debug, Clone)]
pub struct Query {
    /// Seconds of history before `until` that count.
    pub window_s: f64,
    /// The objective, a fraction (0.99).
    pub objective: f64,
    pub change: Option<ChangeType>,
    /// The end of the window (now, unless given).
    pub until: jiff::Timestamp,
}

/// One run that missed its target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub scenario: String,
    pub at: String,
    /// `None`: the phase never ended (e.g. never restored).
    pub measured_s: Option<f64>,
    pub target_s: f64,
}

/// The figures of one change type, phase and backend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub change: ChangeType,
    pub phase: &'static str,
    pub backend: BackendKind,
    /// Runs in the window held to a target for this phase.
    pub runs: usize,
    pub within: usize,
    /// `within / runs`; `None` without runs.
    pub attainment: Option<f64>,
    /// `1 - misses / allowed misses`, where allowed = (1 - objective) × runs:
    /// 1 untouched, 0 spent, below 0 overspent. `None` when no miss is
    /// allowed (objective 100%) and one happened.
    pub error_budget_remaining: Option<f64>,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub p99_s: Option<f64>,
    pub max_s: Option<f64>,
    /// Every measured value in the window, for histograms.
    #[serde(skip)]
    pub values: Vec<f64>,
    /// The target of the latest run held to one (targets may change).
    pub target_s: Option<f64>,
    /// The worst misses, most recent first among equals, at most three.
    pub worst_misses: Vec<Miss>,
}

/// The SLO report: the query and every series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub objective: f64,
    pub window_s: f64,
    pub until: String,
    /// History lines in the window that name no change type (written by
    /// older versions), left out.
    pub left_out: usize,
    pub series: Vec<Series>,
}

fn phase_value(r: &HistoryRun, phase: &str) -> (Option<f64>, Option<f64>) {
    let d = &r.durations;
    let t = &r.targets;
    match phase {
        "detect" => (d.detect, t.detect),
        "decide" => (d.decide, t.decide),
        "restore" => (d.restore, t.restore),
        _ => (d.mitigate.or(d.impact), t.mitigate),
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    Some(sorted[rank.min(sorted.len()) - 1])
}

/// The SLO figures of `runs` (every history line, any scenario).
pub fn compute<'a>(runs: impl IntoIterator<Item = &'a HistoryRun>, q: &Query) -> Report {
    let stamp = |t: jiff::Timestamp| t.as_second() as f64 + f64::from(t.subsec_nanosecond()) / 1e9;
    let from = stamp(q.until) - q.window_s;
    let mut left_out = 0;
    type Key = (ChangeType, &'static str, BackendKind);
    let mut groups: BTreeMap<Key, (Vec<f64>, usize, usize, Vec<Miss>)> = BTreeMap::new();
    let mut latest_target: BTreeMap<Key, (jiff::Timestamp, f64)> = BTreeMap::new();
    for r in runs {
        let Ok(at) = r.at.parse::<jiff::Timestamp>() else {
            continue;
        };
        let secs = stamp(at);
        if secs <= from || at > q.until {
            continue;
        }
        let Some(change) = r.change else {
            left_out += 1;
            continue;
        };
        if q.change.is_some_and(|c| c != change) {
            continue;
        }
        for phase in PHASES {
            let (measured, target) = phase_value(r, phase);
            let failed = r
                .checks
                .iter()
                .any(|c| c.name == phase && c.status == CheckStatus::Failed);
            if measured.is_none() && target.is_none() {
                continue;
            }
            let g = groups.entry((change, phase, r.backend)).or_default();
            if let Some(v) = measured {
                g.0.push(v);
            }
            let Some(target) = target else { continue };
            let latest = latest_target
                .entry((change, phase, r.backend))
                .or_insert((at, target));
            // Compared as instants, not as text.
            if at >= latest.0 {
                *latest = (at, target);
            }
            // A phase that never ended counts only where its check says
            // it should have (a rollback decided, never restored).
            let held = match measured {
                Some(v) => Some(v <= target),
                None if failed => Some(false),
                None => None,
            };
            match held {
                Some(true) => {
                    g.1 += 1;
                    g.2 += 1;
                }
                Some(false) => {
                    g.1 += 1;
                    g.3.push(Miss {
                        scenario: r.scenario.clone(),
                        at: r.at.clone(),
                        measured_s: measured,
                        target_s: target,
                    });
                }
                None => {}
            }
        }
    }
    let series = groups
        .into_iter()
        .map(
            |((change, phase, backend), (mut values, runs, within, mut misses))| {
                let target_s = latest_target.get(&(change, phase, backend)).map(|t| t.1);
                values.sort_by(f64::total_cmp);
                let misses_n = runs - within;
                let allowed = (1.0 - q.objective) * runs as f64;
                let error_budget_remaining = if runs == 0 {
                    None
                } else if allowed > 1e-12 {
                    Some(1.0 - misses_n as f64 / allowed)
                } else if misses_n == 0 {
                    Some(1.0)
                } else {
                    None
                };
                // Worst first: a phase that never ended, then by overrun.
                let overrun = |m: &Miss| m.measured_s.map_or(f64::INFINITY, |v| v / m.target_s);
                misses.sort_by(|a, b| overrun(b).total_cmp(&overrun(a)).then(b.at.cmp(&a.at)));
                misses.truncate(3);
                Series {
                    change,
                    phase,
                    backend,
                    runs,
                    within,
                    attainment: (runs > 0).then(|| within as f64 / runs as f64),
                    error_budget_remaining,
                    p50_s: percentile(&values, 0.50),
                    p95_s: percentile(&values, 0.95),
                    p99_s: percentile(&values, 0.99),
                    max_s: values.last().copied(),
                    values,
                    target_s,
                    worst_misses: misses,
                }
            },
        )
        .collect();
    Report {
        objective: q.objective,
        window_s: q.window_s,
        until: q.until.to_string(),
        left_out,
        series,
    }
}

/// The table `rollback-drill slo` prints.
pub fn table(report: &Report) -> String {
    use std::fmt::Write as _;
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", v * 100.0));
    let secs = |v: Option<f64>| v.map_or("-".to_string(), crate::outcome::human);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "objective {} over {} up to {} (simulated and live runs apart)",
        pct(Some(report.objective)),
        crate::scenario::Dur((report.window_s * 1000.0) as u64),
        report.until
    );
    let header = [
        "CHANGE",
        "PHASE",
        "BACKEND",
        "RUNS",
        "WITHIN",
        "ATTAINMENT",
        "P50",
        "P95",
        "P99",
        "BUDGET LEFT",
    ];
    let rows: Vec<[String; 10]> = report
        .series
        .iter()
        .map(|s| {
            [
                s.change.to_string(),
                s.phase.to_string(),
                s.backend.to_string(),
                s.runs.to_string(),
                s.within.to_string(),
                pct(s.attainment),
                secs(s.p50_s),
                secs(s.p95_s),
                secs(s.p99_s),
                match (s.runs, s.error_budget_remaining) {
                    (0, _) => "-".to_string(),
                    (_, None) => "exhausted".to_string(),
                    (_, b) => pct(b),
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i < 3 {
                let _ = write!(l, "{c:<w$}  ");
            } else {
                let _ = write!(l, "{c:>w$}  ");
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
    for s in report.series.iter().filter(|s| !s.worst_misses.is_empty()) {
        let _ = writeln!(
            out,
            "worst misses, {} {} ({}):",
            s.change, s.phase, s.backend
        );
        for m in &s.worst_misses {
            let _ = writeln!(
                out,
                "  {} at {}: {}, target {}",
                m.scenario,
                m.at,
                m.measured_s
                    .map_or("never ended".to_string(), crate::outcome::human),
                crate::outcome::human(m.target_s)
            );
        }
    }
    if report.left_out > 0 {
        let _ = writeln!(
            out,
            "{} run(s) in the window name no change type (history from an older version): left out",
            report.left_out
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.50), Some(10.0));
        assert_eq!(percentile(&v, 0.95), Some(19.0));
        assert_eq!(percentile(&v, 0.99), Some(20.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
