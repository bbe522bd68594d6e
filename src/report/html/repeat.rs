//! `run --repeat N` on the page: the pass rate, p50/p95/max of every phase
//! over the seeds, and a strip of every seed's restore against the target.

use std::fmt::Write;

use super::esc;
use crate::outcome::{DrillOutcome, Repeat, human};

const W: f64 = 520.0;
const H: f64 = 46.0;

pub(super) fn render(out: &mut String, o: &DrillOutcome, r: &Repeat) {
    let passed = r.passed();
    let _ = write!(
        out,
        "<h3>Over {} seeds</h3>\n<p class=\"facts\"><span>pass rate <b>{:.1}%</b> ({passed} of {})</span>\
         <span>seeds <b>{}…{}</b></span></p>\n<table class=\"checks repeat\"><thead><tr><th>phase</th>\
         <th class=\"num\">seeds</th><th class=\"num\">p50</th><th class=\"num\">p95</th>\
         <th class=\"num\">max</th></tr></thead><tbody>\n",
        r.runs.len(),
        100.0 * passed as f64 / r.runs.len().max(1) as f64,
        r.runs.len(),
        r.runs.first().map_or(0, |o| o.seed),
        r.runs.last().map_or(0, |o| o.seed),
    );
    for (name, s) in r.spread() {
        match s {
            Some(s) => {
                let _ = writeln!(
                    out,
                    "<tr data-phase=\"{name}\"><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                     <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    s.n,
                    human(s.p50),
                    human(s.p95),
                    human(s.max)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "<tr data-phase=\"{name}\"><td>{name}</td><td class=\"num\">0</td><td class=\"num\">—</td>\
                     <td class=\"num\">—</td><td class=\"num\">—</td></tr>"
                );
            }
        }
    }
    out.push_str("</tbody></table>\n");
    strip(out, o, r);
}

/// Every seed's restore as a tick on one axis, the target as a line.
fn strip(out: &mut String, o: &DrillOutcome, r: &Repeat) {
    let target = o.restore_target.secs_f64();
    let values: Vec<(u64, f64, bool)> = r
        .runs
        .iter()
        .filter_map(|x| x.durations().restore.map(|v| (x.seed, v, x.passed())))
        .collect();
    if values.is_empty() {
        return;
    }
    let max = values.iter().map(|v| v.1).fold(target, f64::max) * 1.05;
    let x = |v: f64| 10.0 + (W - 20.0) * v / max;
    let _ = write!(
        out,
        "<svg class=\"strip\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">\
         <title>restore of every seed, target {}</title>\
         <line x1=\"10\" x2=\"{:.1}\" y1=\"24\" y2=\"24\" stroke=\"#cbd5e1\"/>",
        esc(&o.restore_target.to_string()),
        W - 10.0
    );
    for (seed, v, passed) in &values {
        let _ = write!(
            out,
            "<line class=\"seed\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"14\" y2=\"34\" stroke=\"{1}\" stroke-width=\"1.5\">\
             <title>seed {seed}: restore {2}</title></line>",
            x(*v),
            if *passed { "#16a34a" } else { "#dc2626" },
            human(*v)
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"target\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"6\" y2=\"42\" stroke=\"#dc2626\" stroke-dasharray=\"3 2\"/>\
         <text x=\"{0:.1}\" y=\"6\" font-size=\"9\" text-anchor=\"middle\">target {1}</text></svg>",
        x(target),
        esc(&o.restore_target.to_string())
    );
}
