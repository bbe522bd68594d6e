//! `slo.prom`: the SLO figures as OpenMetrics text, for a node-exporter
//! textfile collector or a Pushgateway. Histograms of phase durations
//! (buckets that include every default restore target) and gauges of
//! attainment and error budget, labelled by change type, phase, backend.

use std::fmt::Write as _;

use super::Report;

/// Bucket bounds in seconds: the default targets (5m, 10m, 15m, 30m, 4h)
/// are among them, so "within target" reads off one bucket.
pub const BUCKETS: [f64; 14] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
    28800.0,
];

fn labels(change: &str, phase: &str, backend: &str) -> String {
    format!("change=\"{change}\",phase=\"{phase}\",backend=\"{backend}\"")
}

fn num(v: f64) -> String {
    // Integers without a fraction, others as Rust prints them (shortest
    // round-trip), which both exposition formats accept.
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A bucket bound in OpenMetrics' canonical float form: `1.0`, `300.0`
/// (the `+Inf` bucket is written apart).
fn le(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

pub fn openmetrics(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP rollback_drill_phase_seconds Rollback drill phase durations in the SLO window."
    );
    let _ = writeln!(out, "# TYPE rollback_drill_phase_seconds histogram");
    let _ = writeln!(out, "# UNIT rollback_drill_phase_seconds seconds");
    for s in &report.series {
        let l = labels(s.change.as_str(), s.phase, s.backend.as_str());
        for b in BUCKETS {
            let n = s.values.iter().filter(|v| **v <= b).count();
            let _ = writeln!(
                out,
                "rollback_drill_phase_seconds_bucket{{{l},le=\"{}\"}} {n}",
                le(b)
            );
        }
        let _ = writeln!(
            out,
            "rollback_drill_phase_seconds_bucket{{{l},le=\"+Inf\"}} {}",
            s.values.len()
        );
        let _ = writeln!(
            out,
            "rollback_drill_phase_seconds_sum{{{l}}} {}",
            num(s.values.iter().sum::<f64>())
        );
        let _ = writeln!(
            out,
            "rollback_drill_phase_seconds_count{{{l}}} {}",
            s.values.len()
        );
    }
    for (name, help, value) in [
        (
            "rollback_drill_slo_attainment",
            "Share of drills in the window whose phase was within its target.",
            (|s: &super::Series| s.attainment) as fn(&super::Series) -> Option<f64>,
        ),
        (
            "rollback_drill_error_budget_remaining",
            "Error budget left for the objective: 1 untouched, 0 spent, below 0 overspent.",
            |s: &super::Series| match (s.runs, s.error_budget_remaining) {
                (0, _) => None,
                // No miss was allowed and one happened: overspent.
                (_, None) => Some(-1.0),
                (_, b) => b,
            },
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for s in &report.series {
            if let Some(v) = value(s) {
                let l = labels(s.change.as_str(), s.phase, s.backend.as_str());
                let _ = writeln!(out, "{name}{{{l}}} {}", num(v));
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP rollback_drill_slo_objective The objective the budget is computed for."
    );
    let _ = writeln!(out, "# TYPE rollback_drill_slo_objective gauge");
    let _ = writeln!(
        out,
        "rollback_drill_slo_objective {}",
        num(report.objective)
    );
    out.push_str("# EOF\n");
    out
}
