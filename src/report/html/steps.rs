//! The procedure's steps as a table with bars: each step from start to
//! end, its phases (writes, waits, retries) as sub-bars.

use std::fmt::Write;

use crate::drill::StepStatus;
use crate::outcome::{DrillOutcome, human};

use super::esc;
use super::svg::Scale;

fn step_status(s: StepStatus) -> (&'static str, &'static str) {
    match s {
        StepStatus::Succeeded => ("succeeded", "#16a34a"),
        StepStatus::Failed => ("failed", "#dc2626"),
        StepStatus::NotRun => ("not_run", "#d1d5db"),
        StepStatus::Skipped => ("skipped", "#9ca3af"),
    }
}

/// The procedure's steps as a table, each with its bar (and its phases as
/// sub-bars) on one shared scale over the procedure's time.
pub(super) fn render(o: &DrillOutcome) -> String {
    let steps = o.steps();
    if steps.is_empty() {
        return "<p class=\"muted\">The procedure did not start.</p>\n".to_string();
    }
    let times = steps.iter().flat_map(|s| {
        let phases = s.phases.iter().flat_map(|p| [Some(p.start_s), p.end_s]);
        [s.start_s, s.end_s].into_iter().chain(phases).flatten()
    });
    let (t0, t1) = times.fold((f64::MAX, f64::MIN), |(a, b), t| (a.min(t), b.max(t)));
    let (t0, t1) = if t0 > t1 {
        (0.0, 1.0)
    } else {
        (t0, t1.max(t0 + 1.0))
    };
    const BW: f64 = 360.0;
    let sc = Scale {
        t0,
        t1,
        x0: 3.0,
        x1: BW - 3.0,
    };
    let mut s = String::new();
    put!(
        s,
        "<table class=\"steps\">\n<thead><tr><th>step</th><th>status</th><th class=\"num\">time</th>\
         <th><svg class=\"axis\" viewBox=\"0 0 {BW} 14\" width=\"{BW}\" height=\"14\">\
         <text x=\"3\" y=\"11\">{}</text><text x=\"{:.1}\" y=\"11\" text-anchor=\"end\">{}</text></svg></th>\
         <th>detail</th></tr></thead>\n<tbody>\n",
        human(t0),
        BW - 3.0,
        human(t1)
    );
    for step in steps {
        let (status, colour) = step_status(step.status);
        let when = match (step.start_s, step.end_s) {
            (Some(a), Some(b)) => format!("{} → {} ({})", human(a), human(b), human(b - a)),
            (Some(a), None) => format!("{} → never ended", human(a)),
            _ => "—".to_string(),
        };
        put!(
            s,
            "<tr data-status=\"{status}\"><td>{}</td><td><span class=\"st {status}\">{}</span></td>\
             <td class=\"num\">{when}</td><td><svg class=\"bar\" viewBox=\"0 0 {BW} 18\" width=\"{BW}\" height=\"18\">\
             <line x1=\"0\" x2=\"{BW}\" y1=\"9\" y2=\"9\" stroke=\"#eef0f3\"/>",
            esc(&step.name),
            status.replace('_', " ")
        );
        if let Some(a) = step.start_s {
            let b = step.end_s.unwrap_or(t1);
            let x = sc.x(a);
            let faint = if step.phases.is_empty() {
                "0.85"
            } else {
                "0.3"
            };
            put!(
                s,
                "<rect class=\"step\" data-status=\"{status}\" x=\"{x:.1}\" y=\"2\" width=\"{:.1}\" height=\"14\" \
                 rx=\"2\" fill=\"{colour}\" opacity=\"{faint}\"><title>{} {}</title></rect>",
                (sc.x(b) - x).max(2.0),
                esc(&step.name),
                when
            );
        }
        for (i, p) in step.phases.iter().enumerate() {
            // Time lost to a fault (retries, a refused write) stands out.
            let fault = [
                "unavailable",
                "refused",
                "mismatch",
                "retry",
                "failed",
                "stuck",
            ]
            .iter()
            .any(|w| p.name.contains(w));
            // Alternate two shades so back-to-back phases (retries) stay apart.
            let fill = match (fault, i % 2) {
                (true, 0) => "#ea580c",
                (true, _) => "#fb923c",
                (false, 0) => "#2563eb",
                (false, _) => "#60a5fa",
            };
            let x = sc.x(p.start_s);
            put!(
                s,
                "<rect class=\"phase{}\" x=\"{x:.1}\" y=\"5\" width=\"{:.1}\" height=\"8\" fill=\"{fill}\" \
                 stroke=\"#fff\" stroke-width=\"0.6\"><title>{} {}–{}: {}</title></rect>",
                if fault { " fault" } else { "" },
                (sc.x(p.end_s.unwrap_or(t1)) - x).max(1.5),
                esc(&p.name),
                human(p.start_s),
                p.end_s.map_or("never".to_string(), human),
                esc(&p.detail)
            );
        }
        put!(s, "</svg></td><td class=\"detail\">{}", esc(&step.detail));
        // The phases in words, repeated ones (retries) counted together.
        let mut groups: Vec<(&str, usize, f64)> = Vec::new();
        for p in &step.phases {
            let took = p.end_s.map_or(0.0, |e| e - p.start_s);
            match groups.last_mut() {
                Some(g) if g.0 == p.name => (g.1, g.2) = (g.1 + 1, g.2 + took),
                _ => groups.push((&p.name, 1, took)),
            }
        }
        for (name, n, took) in groups {
            let times = if n > 1 {
                format!(" ×{n}")
            } else {
                String::new()
            };
            put!(s, "<div>{}{times}: {}</div>", esc(name), human(took));
        }
        s.push_str("</td></tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    s
}
