//! The trend of `restore` and `decide` over the scenario's history.

use std::fmt::Write;

use crate::outcome::{DrillOutcome, human};

use super::esc;
use super::svg::{path, tick_step};

/// `restore` and `decide` over the earlier runs and this one, with the
/// target line; `None` without earlier runs.
pub(super) fn render(o: &DrillOutcome) -> Option<String> {
    let history = o.history.as_ref().filter(|h| !h.is_empty())?;
    let now = o.durations();
    let mut runs: Vec<(Option<f64>, Option<f64>, bool, String)> = history
        .iter()
        .map(|h| {
            (
                h.durations.restore,
                h.durations.decide,
                h.passed,
                h.at.clone(),
            )
        })
        .collect();
    runs.push((now.restore, now.decide, o.passed(), "this run".to_string()));
    if runs.iter().all(|r| r.0.is_none() && r.1.is_none()) {
        return Some(format!(
            "<p class=\"muted\">{} earlier run(s) and this one: none measured decide or restore \
             (nothing was rolled back).</p>\n",
            history.len()
        ));
    }
    let target = o.restore_target.secs_f64();
    let vmax = runs
        .iter()
        .flat_map(|r| [r.0, r.1])
        .flatten()
        .fold(target, f64::max)
        .max(1.0)
        * 1.15;
    let (tw, th, l, rgt, t, b) = (640.0, 180.0, 60.0, 150.0, 12.0, 24.0);
    let n = runs.len();
    let x = |i: usize| l + (tw - l - rgt) * i as f64 / (n - 1).max(1) as f64;
    let y = |v: f64| th - b - v / vmax * (th - b - t);
    let mut s = String::new();
    put!(
        s,
        "<svg class=\"trend\" viewBox=\"0 0 {tw} {th}\" width=\"{tw}\" height=\"{th}\" role=\"img\" \
         aria-label=\"restore and decide over {n} runs\">\n"
    );
    let step = tick_step(vmax, 4.0);
    let mut v = 0.0;
    while v <= vmax {
        put!(
            s,
            "<line x1=\"{l}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e5e7eb\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            tw - rgt,
            y(v),
            y(v),
            l - 6.0,
            y(v) + 4.0,
            human(v)
        );
        v += step;
    }
    let every = n.div_ceil(12);
    for i in (0..n).filter(|i| i % every == 0 || *i == n - 1) {
        let label = if i == n - 1 {
            "now".to_string()
        } else {
            format!("#{}", i + 1)
        };
        put!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>\n",
            x(i),
            th - 6.0
        );
    }
    put!(
        s,
        "<line class=\"target\" x1=\"{l}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#dc2626\" \
         stroke-dasharray=\"6 4\"/>\n",
        tw - rgt,
        y(target),
        y(target)
    );
    let series = [("restore", "#2563eb"), ("decide", "#d97706")];
    for (k, (name, colour)) in series.iter().enumerate() {
        let value = |r: &(Option<f64>, Option<f64>, bool, String)| if k == 0 { r.0 } else { r.1 };
        let d = path(
            runs.iter()
                .enumerate()
                .map(|(i, r)| value(r).map(|v| (x(i), y(v)))),
        );
        put!(
            s,
            "<path class=\"{name}\" d=\"{}\" fill=\"none\" stroke-linecap=\"round\" stroke=\"{colour}\" stroke-width=\"2\"/>\n",
            d.trim()
        );
        for (i, r) in runs.iter().enumerate() {
            let Some(v) = value(r) else { continue };
            put!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\" fill=\"{}\" stroke=\"{colour}\" stroke-width=\"2\">\
                 <title>{}: {name} {}{}</title></circle>\n",
                x(i),
                y(v),
                if i == n - 1 { 4.5 } else { 3.0 },
                if r.2 { colour } else { "#fff" },
                esc(&r.3),
                human(v),
                if r.2 { "" } else { " (failed run)" }
            );
        }
        let ly = t + 14.0 + 18.0 * k as f64;
        put!(
            s,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            tw - rgt + 16.0,
            tw - rgt + 36.0,
            ly - 4.0,
            ly - 4.0,
            tw - rgt + 42.0,
            ly
        );
    }
    let ly = t + 14.0 + 36.0;
    put!(
        s,
        "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#dc2626\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{:.1}\" y=\"{ly:.1}\">restore target {}</text>\n</svg>\n\
         <p class=\"muted\">{} earlier run(s), oldest first; hollow points are failed runs.</p>\n",
        tw - rgt + 16.0,
        tw - rgt + 36.0,
        ly - 4.0,
        ly - 4.0,
        tw - rgt + 42.0,
        o.restore_target,
        n - 1
    );
    Some(s)
}
