//! The page's SLO section: per change type, phase and backend over the
//! history (as `rollback-drill slo` computes it at its defaults), the
//! attainment against the objective, the error budget left, and a strip
//! of every run's value with the target line.

use std::fmt::Write;

use super::esc;
use crate::outcome::human;
use crate::slo::{Report, Series};

const W: f64 = 360.0;
const H: f64 = 30.0;

pub(super) fn render(out: &mut String, report: &Report) {
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.2}%", v * 100.0));
    let _ = write!(
        out,
        "<section class=\"run slo\">\n<h2>Rollback-time SLOs</h2>\n<p class=\"muted\">Objective {} over {} of history up to {}; \
         each run judged by the target it had; simulated and live runs apart.</p>\n\
         <table class=\"summary\"><thead><tr><th>change</th><th>phase</th><th>backend</th>\
         <th class=\"num\">runs</th><th class=\"num\">attainment</th><th class=\"num\">budget left</th>\
         <th class=\"num\">p50</th><th class=\"num\">p95</th><th>runs against the target</th></tr></thead>\n<tbody>\n",
        pct(Some(report.objective)),
        crate::scenario::Dur((report.window_s * 1000.0) as u64),
        esc(&report.until)
    );
    for s in report.series.iter().filter(|s| s.runs > 0) {
        let met = s.attainment.is_some_and(|a| a + 1e-12 >= report.objective);
        let _ = writeln!(
            out,
            "<tr data-change=\"{}\" data-phase=\"{}\" data-backend=\"{}\" data-met=\"{met}\"><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\"><span class=\"st {}\">{}</span></td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            s.change,
            s.phase,
            s.backend,
            s.change,
            s.phase,
            s.backend,
            s.runs,
            if met { "succeeded" } else { "failed" },
            pct(s.attainment),
            match s.error_budget_remaining {
                Some(b) => pct(Some(b)),
                None => "exhausted".to_string(),
            },
            s.p50_s.map_or("—".to_string(), human),
            s.p95_s.map_or("—".to_string(), human),
            strip(s)
        );
    }
    out.push_str("</tbody></table>\n");
    // What the figures leave out, as `slo` says under its table.
    for (n, what) in [
        (
            report.left_out_xfail,
            "negative control run(s) (expect.verdict: fail) left out: they fail on purpose",
        ),
        (
            report.left_out,
            "run(s) without a change type or a backend (history from an older version) left out",
        ),
    ] {
        if n > 0 {
            let _ = writeln!(out, "<p class=\"muted left-out\">{n} {what}.</p>");
        }
    }
    out.push_str("</section>\n");
}

/// Every value as a tick, the target as a dashed line.
fn strip(s: &Series) -> String {
    let Some(max) = s
        .values
        .iter()
        .copied()
        .chain(s.target_s)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    else {
        return String::new();
    };
    let max = (max * 1.05).max(1e-9);
    let x = |v: f64| 4.0 + (W - 8.0) * v / max;
    let mut svg = format!(
        "<svg class=\"strip\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\"><title>{} runs of {} {} ({})</title>\
         <line x1=\"4\" x2=\"{:.1}\" y1=\"15\" y2=\"15\" stroke=\"#cbd5e1\"/>",
        s.values.len(),
        s.change,
        s.phase,
        s.backend,
        W - 4.0
    );
    // Each run against the target it had, not the latest one.
    for (v, target) in &s.samples {
        let over = target.is_some_and(|t| *v > t);
        let _ = write!(
            svg,
            "<line class=\"run\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"8\" y2=\"22\" stroke=\"{1}\" stroke-width=\"1\"/>",
            x(*v),
            if over { "#dc2626" } else { "#16a34a" }
        );
    }
    if let Some(t) = s.target_s {
        let _ = write!(
            svg,
            "<line class=\"target\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"2\" y2=\"28\" stroke=\"#dc2626\" stroke-dasharray=\"3 2\"><title>target {1}</title></line>",
            x(t),
            human(t)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendKind;
    use crate::history::{HistoryRun, RunTargets};
    use crate::outcome::Durations;

    fn run(at: &str, restore: f64, target: f64) -> HistoryRun {
        HistoryRun {
            scenario: "s".into(),
            at: at.into(),
            passed: true,
            durations: Durations {
                restore: Some(restore),
                ..Durations::default()
            },
            backend: Some(BackendKind::InProcess),
            change: Some(crate::scenario::ChangeType::Prompt),
            targets: RunTargets {
                restore: Some(target),
                ..RunTargets::default()
            },
            ..HistoryRun::default()
        }
    }

    /// A 400 s restore held to 10m was within its target, even though the
    /// target is 5m now: its tick is green, the later 350 s one red.
    #[test]
    fn each_tick_is_coloured_by_its_own_runs_target() {
        let runs = [
            run("2026-11-01T00:00:00Z", 400.0, 600.0),
            run("2026-11-02T00:00:00Z", 350.0, 300.0),
        ];
        let q = crate::slo::Query {
            window_s: 30.0 * 86_400.0,
            objective: 0.99,
            change: None,
            until: "2026-11-03T00:00:00Z".parse().unwrap(),
        };
        let report = crate::slo::compute(&runs, &q);
        let s = report.series.iter().find(|s| s.phase == "restore").unwrap();
        let svg = strip(s);
        let ticks: Vec<&str> = svg
            .split("<line class=\"run\"")
            .skip(1)
            .map(|t| {
                if t.contains("#16a34a") {
                    "green"
                } else {
                    "red"
                }
            })
            .collect();
        let x = |v: f64| {
            let max = 400.0 * 1.05;
            format!("x1=\"{:.1}\"", 4.0 + (W - 8.0) * v / max)
        };
        let at = |v: f64| svg.find(&x(v)).unwrap_or_else(|| panic!("{svg}"));
        let mut by_x = [(at(400.0), "400"), (at(350.0), "350")];
        by_x.sort();
        let order: Vec<&str> = by_x.iter().map(|p| p.1).collect();
        let colour = |v: &str| ticks[order.iter().position(|o| *o == v).unwrap()];
        assert_eq!((colour("400"), colour("350")), ("green", "red"), "{svg}");
    }

    #[test]
    fn the_section_says_what_it_left_out() {
        let mut control = run("2026-11-01T00:00:00Z", 4000.0, 600.0);
        control.result = Some(crate::outcome::DrillResult::Xfail);
        let mut old = run("2026-11-01T00:00:00Z", 10.0, 600.0);
        old.backend = None;
        let runs = [run("2026-11-02T00:00:00Z", 350.0, 600.0), control, old];
        let q = crate::slo::Query {
            window_s: 30.0 * 86_400.0,
            objective: 0.99,
            change: None,
            until: "2026-11-03T00:00:00Z".parse().unwrap(),
        };
        let mut page = String::new();
        render(&mut page, &crate::slo::compute(&runs, &q));
        assert!(
            page.contains("1 negative control run(s) (expect.verdict: fail) left out"),
            "{page}"
        );
        assert!(
            page.contains("1 run(s) without a change type or a backend"),
            "{page}"
        );
        let mut clean = String::new();
        render(&mut clean, &crate::slo::compute(&runs[..1], &q));
        assert!(!clean.contains("left-out"), "{clean}");
    }
}
