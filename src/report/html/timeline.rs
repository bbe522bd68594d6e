//! The drill's timeline: error rate, traffic share and quality over the
//! drill's time, with the phase markers and the restore-target band.

use std::fmt::Write;

use crate::drill::secs;
use crate::outcome::{DrillOutcome, human};

use super::esc;
use super::svg::{Scale, json_secs, path, pct, tick_step};

/// Ceilings for the error-rate axis.
const NICE_RATES: [f64; 8] = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];
const MARKERS: [(&str, &str); 6] = [
    ("released", "#6b7280"),
    ("onset", "#7c3aed"),
    ("detected", "#d97706"),
    ("decided", "#dc2626"),
    ("restored", "#059669"),
    ("verified", "#0e7490"),
];
const RELEASE_COLOUR: &str = "#e4572e";
const OTHER_COLOURS: [&str; 5] = ["#2563eb", "#0d9488", "#9333ea", "#ca8a04", "#64748b"];
const QUALITY_COLOUR: &str = "#334155";
const W: f64 = 1000.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;

/// Every version on the route with its colour: the release stands out.
fn colours(o: &DrillOutcome) -> Vec<(String, &'static str)> {
    let mut others = OTHER_COLOURS.iter().cycle();
    o.timeline
        .versions()
        .into_iter()
        .map(|v| {
            let c = if v == o.release_version {
                RELEASE_COLOUR
            } else {
                others.next().copied().unwrap_or("#64748b")
            };
            (v, c)
        })
        .collect()
}

/// Error rate, traffic share and quality over the drill, with the phase
/// markers and the restore-target band across all three panels.
pub(super) fn render(o: &DrillOutcome) -> String {
    let (tl, r) = (&o.timeline, &o.record);
    let ended = secs(o.ended).max(1.0);
    let target = o.restore_target.secs_f64();
    let band = r.decided.map(|d| (secs(d), secs(d) + target));
    // Show the band whole unless it would squeeze the drill into a corner.
    let t1 = band.map_or(ended, |(_, e)| e.min(ended * 1.6).max(ended));
    let sc = Scale {
        t0: 0.0,
        t1,
        x0: LEFT,
        x1: W - RIGHT,
    };

    // Marker labels go in rows above the panels, a new row when they would
    // overlap; points a few pixels apart (a short drill, an instant
    // decision) share one line and one label instead of piling up.
    let points: Vec<(&(&str, &str), u64)> = MARKERS
        .iter()
        .zip([
            Some(o.released),
            Some(o.onset),
            r.detected,
            r.decided,
            r.restored,
            r.verified,
        ])
        .filter_map(|(p, ms)| Some((p, ms?)))
        .collect();
    let marks = layout_marks(&points, &sc);
    let rows = marks.iter().map(|m| m.row + 1).max().unwrap_or(1);
    // Each panel's title sits in the gap above it.
    let top = 10.0 + rows as f64 * 15.0 + 24.0;
    // A fourth panel, each version's p99 latency, wherever latencies were
    // recorded (every simulated and live drill has them).
    let p99 = |p: &crate::timeline::Point, v: &str| p.latency.get(v)?.quantile(0.99);
    let latency_max = tl
        .points
        .iter()
        .flat_map(|p| p.latency.keys().filter_map(move |v| p99(p, v)))
        .fold(0.0, f64::max);
    let has_latency = latency_max > 0.0;
    let mut panels = vec![(top, 120.0), (top + 154.0, 80.0), (top + 268.0, 80.0)];
    if has_latency {
        panels.push((top + 382.0, 80.0));
    }
    let bottom = top + if has_latency { 462.0 } else { 348.0 };
    let height = bottom + 26.0;
    let mut s = String::new();
    put!(
        s,
        "<svg class=\"timeline\" viewBox=\"0 0 {W} {height:.0}\" width=\"{W}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"timeline of {}\">\n",
        esc(&o.scenario)
    );
    // After the drill there is no data: a grey area, the band paler over it.
    let xe = sc.x(ended);
    if t1 > ended {
        put!(
            s,
            "<rect class=\"after-end\" x=\"{xe:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"#f1f5f9\"/>\n",
            sc.x(t1) - xe,
            bottom - top
        );
    }
    if let Some((from, to)) = band {
        let (x0, x1) = (sc.x(from), sc.x(to));
        let met = r.restored.is_some_and(|t| secs(t) <= to);
        let fill = if met { "#bbf7d0" } else { "#fecaca" };
        let clipped = if to > t1 { " (continues)" } else { "" };
        put!(
            s,
            "<rect class=\"target-band\" data-from=\"{}\" data-to=\"{}\" x=\"{x0:.1}\" y=\"{top:.1}\" \
             width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" opacity=\"0.6\">\
             <title>restore target {} from decided{clipped}</title></rect>\n",
            json_secs(from),
            json_secs(to),
            (x1.min(xe.max(x0)) - x0).max(1.0),
            bottom - top,
            o.restore_target
        );
        if x1 > xe.max(x0) {
            put!(
                s,
                "<rect class=\"band-after-end\" x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" \
                 height=\"{:.1}\" fill=\"{fill}\" opacity=\"0.35\"/>\n",
                xe.max(x0),
                x1 - xe.max(x0),
                bottom - top
            );
        }
        put!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"halo\" fill=\"{}\">restore target {}{clipped}</text>\n",
            x0 + 4.0,
            top + 14.0,
            if met { "#166534" } else { "#991b1b" },
            o.restore_target
        );
    }
    if sc.x(t1) - xe > 140.0 {
        put!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"halo\">drill ended at {}</text>\n",
            sc.x(t1) - 6.0,
            bottom - 8.0,
            human(ended)
        );
    }
    // Time axis: vertical grid lines through every panel, labels beneath.
    let step = tick_step(t1, 10.0);
    let mut t = 0.0;
    while t <= t1 + 1e-9 {
        let x = sc.x(t);
        put!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top:.1}\" y2=\"{bottom:.1}\" stroke=\"#eef0f3\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            bottom + 16.0,
            human(t)
        );
        t += step;
    }
    let colours = colours(o);
    let mid = |t_s: f64| sc.x((t_s + tl.bucket_s / 2.0).min(ended));
    let total = |p: &crate::timeline::Point| p.versions.values().map(|c| c.requests).sum::<u64>();
    // Panel 1: error rate by version.
    let max_rate = tl
        .points
        .iter()
        .flat_map(|p| p.versions.values())
        .filter(|c| c.requests > 0)
        .map(|c| c.errors as f64 / c.requests as f64)
        .fold(0.0, f64::max);
    let rate_top = NICE_RATES
        .iter()
        .copied()
        .find(|&n| n >= max_rate * 1.1)
        .unwrap_or(1.0);
    // Panel 3: quality of the route's answered requests.
    let quality = |p: &crate::timeline::Point| {
        let (mut answered, mut good) = (0u64, 0u64);
        for c in p.versions.values() {
            answered += c.requests - c.errors;
            good += c.good;
        }
        (answered > 0).then(|| good as f64 / answered as f64)
    };
    let version_quality = |p: &crate::timeline::Point, v: &str| {
        let c = p.versions.get(v)?;
        let answered = c.requests - c.errors;
        (answered > 0).then(|| c.good as f64 / answered as f64)
    };
    let versions = tl.versions();
    let q_min = tl
        .points
        .iter()
        .flat_map(|p| {
            versions
                .iter()
                .filter_map(|v| version_quality(p, v))
                .chain(quality(p))
        })
        .fold(1.0, f64::min);
    // A 1% or 5% canary is a hairline on a linear axis: when a release
    // step is below 10%, the share is drawn on a log axis from 0.1% to 100%.
    let log_share = o
        .audit
        .iter()
        .filter(|a| a.actor == "deployer")
        .filter_map(|a| {
            step_share(&a.to, &o.release_version)
                .strip_suffix('%')?
                .parse::<f64>()
                .ok()
        })
        .any(|pct| pct > 0.0 && pct < 10.0);
    let q_low = (((q_min - 0.02) * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let axes = [
        ("error rate by version", 0.0, rate_top),
        (
            if log_share {
                "traffic share by version (log scale)"
            } else {
                "traffic share by version"
            },
            0.0,
            1.0,
        ),
        (
            "quality by version and of the route (good / answered)",
            q_low,
            1.0,
        ),
        ("latency p99 by version", 0.0, nice_ms(latency_max * 1.1)),
    ];
    let axes = &axes[..panels.len()];
    let mut titles = String::new();
    for (i, (&(y0, h), &(title, lo, hi))) in panels.iter().zip(axes).enumerate() {
        let log = log_share && title.starts_with("traffic share");
        for k in 0..=if log { 3 } else { 2 } {
            let (v, y) = if log {
                // 0.1%, 1%, 10%, 100%.
                (10f64.powi(k - 3), y0 + h - h * k as f64 / 3.0)
            } else {
                (lo + (hi - lo) * k as f64 / 2.0, y0 + h - h * k as f64 / 2.0)
            };
            put!(
                s,
                "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e7eb\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                if i == 3 { human(v / 1000.0) } else { pct(v) }
            );
        }
        put!(
            titles,
            "<text x=\"{LEFT}\" y=\"{:.1}\" class=\"ptitle halo\">{title}</text>\n",
            y0 - 7.0
        );
    }
    let y_of = |panel: usize, v: f64| {
        let ((y0, h), (_, lo, hi)) = (panels[panel], axes[panel]);
        if panel == 1 && log_share {
            let decades = (v.max(0.001).log10() + 3.0) / 3.0;
            return y0 + h - decades.clamp(0.0, 1.0) * h;
        }
        y0 + h - (v.clamp(lo, hi) - lo) / (hi - lo) * h
    };
    for (v, colour) in &colours {
        let rates = path(tl.points.iter().map(|p| {
            let c = p.versions.get(v).filter(|c| c.requests > 0)?;
            Some((mid(p.t_s), y_of(0, c.errors as f64 / c.requests as f64)))
        }));
        let shares = path(tl.points.iter().map(|p| {
            let n = total(p);
            let mine = p.versions.get(v).map_or(0, |c| c.requests);
            (n > 0).then(|| (mid(p.t_s), y_of(1, mine as f64 / n as f64)))
        }));
        let qualities = path(
            tl.points
                .iter()
                .map(|p| version_quality(p, v).map(|q| (mid(p.t_s), y_of(2, q)))),
        );
        let latencies = path(tl.points.iter().map(|p| {
            let ms = p99(p, v).filter(|_| has_latency)?;
            Some((mid(p.t_s), y_of(3, ms)))
        }));
        for (class, d) in [
            ("error-rate", rates),
            ("share", shares),
            ("version-quality", qualities),
            ("latency-p99", latencies),
        ] {
            if class == "latency-p99" && d.trim().is_empty() {
                continue;
            }
            put!(
                s,
                "<path class=\"{class}\" data-version=\"{}\" d=\"{}\" fill=\"none\" stroke-linecap=\"round\" stroke=\"{colour}\" \
                 stroke-width=\"1.8\" stroke-linejoin=\"round\"/>\n",
                esc(v),
                d.trim()
            );
        }
    }
    let q = path(
        tl.points
            .iter()
            .map(|p| quality(p).map(|v| (mid(p.t_s), y_of(2, v)))),
    );
    put!(
        s,
        "<path class=\"quality\" d=\"{}\" fill=\"none\" stroke-linecap=\"round\" stroke=\"{QUALITY_COLOUR}\" stroke-width=\"1.8\" stroke-dasharray=\"5 3\"/>\n",
        q.trim()
    );
    for m in &marks {
        let ly = 10.0 + (m.row as f64 + 1.0) * 15.0 - 4.0;
        let (x, colour) = (m.x, m.colour);
        // One marker per point (each with its time); the group's label on
        // the first.
        for (k, (point, ms)) in m.points.iter().enumerate() {
            let text = if k == 0 {
                format!(
                    "<text x=\"{:.1}\" y=\"{ly:.1}\" fill=\"{colour}\" text-anchor=\"{}\" class=\"halo\">{}</text>",
                    if m.end_anchor { x - 3.0 } else { x + 3.0 },
                    if m.end_anchor { "end" } else { "start" },
                    m.label
                )
            } else {
                String::new()
            };
            put!(
                s,
                "<g class=\"marker\" data-point=\"{point}\" data-t=\"{}\">\
                 <line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{bottom:.1}\" stroke=\"{colour}\" \
                 stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>{text}</g>\n",
                json_secs(secs(*ms)),
                ly + 4.0,
            );
        }
    }
    // The release's canary steps: a tick on the share panel at each of the
    // deployer's writes, with the release's share after it.
    let (share_top, _) = panels[1];
    for a in o.audit.iter().filter(|a| a.actor == "deployer") {
        let x = sc.x(a.at_s);
        let share = step_share(&a.to, &o.release_version);
        put!(
            s,
            "<g class=\"release-step\" data-t=\"{}\"><path d=\"M{x:.1} {:.1} l-4 -7 h8 z\" fill=\"{RELEASE_COLOUR}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"halo\" fill=\"{RELEASE_COLOUR}\">{}</text>\
             <title>{} {}</title></g>\n",
            json_secs(a.at_s),
            share_top + 1.0,
            x + 5.0,
            share_top + 11.0,
            esc(&share),
            human(a.at_s),
            esc(&a.reason)
        );
    }
    s.push_str(&titles);
    s.push_str("</svg>\n<div class=\"legend\">");
    for (v, colour) in &colours {
        let what = if *v == o.release_version {
            " (release)"
        } else {
            ""
        };
        put!(
            s,
            "<span><i class=\"sw\" style=\"background:{colour}\"></i>{}{what}</span>",
            esc(v)
        );
    }
    put!(
        s,
        "<span><i class=\"sw\" style=\"background:{QUALITY_COLOUR}\"></i>route quality (dashed)</span>\
         <span><i class=\"sw box\" style=\"background:#bbf7d0\"></i>restore target from decided (red: missed)</span>\
         <span>buckets of {}</span></div>\n",
        human(tl.bucket_s)
    );
    s
}

/// One marker line and its label: the points it stands for (several when
/// they fall within a few pixels of each other).
struct Mark {
    points: Vec<(&'static str, u64)>,
    colour: &'static str,
    x: f64,
    row: usize,
    label: String,
    end_anchor: bool,
}

/// Points closer than this (px) share a marker.
const SAME_X: f64 = 6.0;

fn layout_marks(points: &[(&(&'static str, &'static str), u64)], sc: &Scale) -> Vec<Mark> {
    // (x, the points there, the first point's colour)
    type Group = (f64, Vec<(&'static str, u64)>, &'static str);
    let mut groups: Vec<Group> = Vec::new();
    for &(&(name, colour), ms) in points {
        let x = sc.x(secs(ms));
        match groups.last_mut() {
            Some((gx, members, _)) if (x - *gx).abs() < SAME_X => members.push((name, ms)),
            _ => groups.push((x, vec![(name, ms)], colour)),
        }
    }
    let mut rows: Vec<f64> = Vec::new();
    groups
        .into_iter()
        .map(|(x, members, colour)| {
            // Points of one instant are named together: `detected, decided 30s`.
            let mut parts: Vec<(Vec<&str>, u64)> = Vec::new();
            for &(name, ms) in &members {
                match parts.last_mut() {
                    Some((names, at)) if *at == ms => names.push(name),
                    _ => parts.push((vec![name], ms)),
                }
            }
            let label = parts
                .iter()
                .map(|(names, ms)| format!("{} {}", names.join(", "), human(secs(*ms))))
                .collect::<Vec<_>>()
                .join(", ");
            let w = label.chars().count() as f64 * 6.2 + 10.0;
            let end_anchor = x + w > W;
            let (from, to) = if end_anchor { (x - w, x) } else { (x, x + w) };
            let row = match rows.iter().position(|&e| e <= from) {
                Some(i) => i,
                None => {
                    rows.push(0.0);
                    rows.len() - 1
                }
            };
            rows[row] = to;
            Mark {
                points: members,
                colour,
                x,
                row,
                label,
                end_anchor,
            }
        })
        .collect()
}

/// The release's share in a route write's `to` (`v12 95%, v13 5%` → `5%`).
fn step_share(to: &str, release: &str) -> String {
    to.split(", ")
        .find_map(|part| {
            let (version, share) = part.rsplit_once(' ')?;
            (version == release).then(|| share.to_string())
        })
        .unwrap_or_else(|| "step".to_string())
}

/// A round ceiling (ms) for the latency axis: 1, 2 or 5 times a power of ten.
fn nice_ms(ms: f64) -> f64 {
    let mut step = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * step >= ms {
                return m * step;
            }
        }
        step *= 10.0;
    }
}
