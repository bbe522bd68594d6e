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
use crate::outcome::{CheckStatus, DrillResult};
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
    /// The seed: every seed of one `--repeat` run shares one `at`.
    pub seed: u64,
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
    /// Runs in the window that measured this phase (with or without a
    /// target): what p50/p95/p99 rank.
    pub measured: usize,
    /// Runs in the window held to a target for this phase.
    pub runs: usize,
    pub within: usize,
    /// `within / runs`; `None` without runs.
    pub attainment: Option<f64>,
    /// `1 - misses / allowed misses`, where allowed = (1 - objective) × runs:
    /// 1 untouched, 0 spent, below 0 overspent, computed exactly (0 is 0).
    /// `None` when no miss is allowed (objective 100%) and one happened.
    pub error_budget_remaining: Option<f64>,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub p99_s: Option<f64>,
    pub max_s: Option<f64>,
    /// Every measured value in the window, smallest first, for histograms.
    #[serde(skip)]
    pub values: Vec<f64>,
    /// Every measured value with the target its run had (`None`: none),
    /// in run order, for the page's strip.
    #[serde(skip)]
    pub samples: Vec<(f64, Option<f64>)>,
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
    /// History lines in the window that name no change type or no backend
    /// (written by older versions), left out.
    pub left_out: usize,
    /// Negative controls (`expect.verdict: fail`, history `result: xfail`)
    /// in the window: they fail on purpose, so they are left out too.
    pub left_out_xfail: usize,
    /// History lines in the window, any kind.
    pub lines_in_window: usize,
    /// When the history's latest run ran (`None`: an empty history).
    pub latest_run_at: Option<String>,
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
    let objective_ppm = ppm(q.objective);
    let mut left_out = 0;
    let mut left_out_xfail = 0;
    let mut lines_in_window = 0;
    let mut latest_run: Option<(jiff::Timestamp, String)> = None;
    type Key = (ChangeType, &'static str, BackendKind);
    /// A measured value with the target its run had.
    type Sample = (f64, Option<f64>);
    let mut groups: BTreeMap<Key, (Vec<Sample>, usize, usize, Vec<Miss>)> = BTreeMap::new();
    let mut latest_target: BTreeMap<Key, (jiff::Timestamp, f64)> = BTreeMap::new();
    for r in runs {
        let Ok(at) = r.at.parse::<jiff::Timestamp>() else {
            continue;
        };
        if latest_run.as_ref().is_none_or(|l| at > l.0) {
            latest_run = Some((at, r.at.clone()));
        }
        let secs = stamp(at);
        if secs <= from || at > q.until {
            continue;
        }
        lines_in_window += 1;
        if r.result == Some(DrillResult::Xfail) {
            left_out_xfail += 1;
            continue;
        }
        let (Some(change), Some(backend)) = (r.change, r.backend) else {
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
            let g = groups.entry((change, phase, backend)).or_default();
            if let Some(v) = measured {
                g.0.push((v, target));
            }
            let Some(target) = target else { continue };
            let latest = latest_target
                .entry((change, phase, backend))
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
                        seed: r.seed,
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
            |((change, phase, backend), (samples, runs, within, mut misses))| {
                let target_s = latest_target.get(&(change, phase, backend)).map(|t| t.1);
                let mut values: Vec<f64> = samples.iter().map(|s| s.0).collect();
                values.sort_by(f64::total_cmp);
                let error_budget_remaining = budget_left(objective_ppm, runs, runs - within);
                // Worst first: a phase that never ended, then by overrun.
                let overrun = |m: &Miss| m.measured_s.map_or(f64::INFINITY, |v| v / m.target_s);
                misses.sort_by(|a, b| overrun(b).total_cmp(&overrun(a)).then(b.at.cmp(&a.at)));
                misses.truncate(3);
                Series {
                    change,
                    phase,
                    backend,
                    measured: values.len(),
                    runs,
                    within,
                    attainment: (runs > 0).then(|| within as f64 / runs as f64),
                    error_budget_remaining,
                    p50_s: percentile(&values, 0.50),
                    p95_s: percentile(&values, 0.95),
                    p99_s: percentile(&values, 0.99),
                    max_s: values.last().copied(),
                    values,
                    samples,
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
        left_out_xfail,
        lines_in_window,
        latest_run_at: latest_run.map(|l| l.1),
        series,
    }
}

/// The objective in parts per million (0.95 → 950 000): budgets are
/// computed from integers, so a spent budget is exactly 0.
fn ppm(objective: f64) -> u64 {
    (objective * 1e6).round().clamp(0.0, 1e6) as u64
}

/// `1 - misses / allowed`, allowed = (1 - objective) × runs, as one
/// division of exact integers: (allowed - misses) / allowed in ppm.
fn budget_left(objective_ppm: u64, runs: usize, misses: usize) -> Option<f64> {
    if runs == 0 {
        return None;
    }
    let allowed = (1_000_000 - objective_ppm) as i128 * runs as i128;
    let spent = misses as i128 * 1_000_000;
    if allowed > 0 {
        Some((allowed - spent) as f64 / allowed as f64)
    } else if misses == 0 {
        Some(1.0)
    } else {
        None
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
        "MEASURED",
        "TARGET",
        "RUNS",
        "WITHIN",
        "ATTAINMENT",
        "P50",
        "P95",
        "P99",
        "BUDGET LEFT",
    ];
    let rows: Vec<[String; 12]> = report
        .series
        .iter()
        .map(|s| {
            [
                s.change.to_string(),
                s.phase.to_string(),
                s.backend.to_string(),
                s.measured.to_string(),
                secs(s.target_s),
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
                "  {} seed {} at {}: {}, target {}",
                m.scenario,
                m.seed,
                m.at,
                m.measured_s
                    .map_or("never ended".to_string(), crate::outcome::human),
                crate::outcome::human(m.target_s)
            );
        }
    }
    if report.left_out_xfail > 0 {
        let _ = writeln!(
            out,
            "{} negative control run(s) (expect.verdict: fail) in the window: left out, they fail on purpose",
            report.left_out_xfail
        );
    }
    if report.left_out > 0 {
        let _ = writeln!(
            out,
            "{} run(s) in the window name no change type or no backend (history from an older version): left out",
            report.left_out
        );
    }
    if report.lines_in_window == 0
        && let Some(latest) = &report.latest_run_at
    {
        let _ = writeln!(
            out,
            "no run of history.jsonl is in the window; the latest ran at {latest}: pass `--until {latest}` to end the window there"
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

    #[test]
    fn budgets_are_exact() {
        // (1 - 0.95) × 20 is 1.0000000000000009 in floating point.
        assert_eq!(budget_left(ppm(0.95), 20, 1), Some(0.0));
        assert_eq!(budget_left(ppm(0.90), 20, 1), Some(0.5));
        assert_eq!(budget_left(ppm(0.95), 4, 1), Some(-4.0));
        assert_eq!(budget_left(ppm(0.999), 1000, 0), Some(1.0));
        assert_eq!(budget_left(ppm(1.0), 10, 0), Some(1.0));
        assert_eq!(budget_left(ppm(1.0), 10, 1), None);
        assert_eq!(budget_left(ppm(0.99), 0, 0), None);
    }
}
