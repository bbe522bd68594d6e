//! Helpers shared by the page's charts: inline SVG without `xmlns` (inline
//! SVG in HTML needs none, and the page holds no URL at all), coordinates
//! rounded to 0.1 px.

use std::fmt::Write;

/// Tick spacings for time axes, in seconds.
const NICE_SECS: [f64; 19] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10800.0, 21600.0, 43200.0, 86400.0, 172800.0,
];

/// The smallest nice spacing giving at most `max` ticks over `span` seconds.
pub(super) fn tick_step(span: f64, max: f64) -> f64 {
    NICE_SECS
        .iter()
        .copied()
        .find(|s| span / s <= max)
        .unwrap_or_else(|| (span / max).ceil())
}

/// Seconds exactly as serde_json prints them in `<scenario>.json`.
pub(super) fn json_secs(s: f64) -> String {
    serde_json::to_string(&s).unwrap_or_default()
}

pub(super) fn pct(v: f64) -> String {
    let s = format!("{:.2}", v * 100.0);
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

/// Maps `t0..t1` onto `x0..x1`, clamping outside values.
pub(super) struct Scale {
    pub t0: f64,
    pub t1: f64,
    pub x0: f64,
    pub x1: f64,
}

impl Scale {
    pub(super) fn x(&self, t: f64) -> f64 {
        let span = (self.t1 - self.t0).max(1e-9);
        self.x0 + (t.clamp(self.t0, self.t1) - self.t0) / span * (self.x1 - self.x0)
    }
}

/// An SVG path through the points, broken wherever a value is missing; a
/// lone point becomes a dot (with a round line cap).
pub(super) fn path(points: impl Iterator<Item = Option<(f64, f64)>>) -> String {
    let mut d = String::new();
    let mut run = 0;
    for p in points.chain(std::iter::once(None)) {
        match p {
            Some((x, y)) => {
                put!(d, "{}{x:.1} {y:.1}", if run > 0 { " L" } else { " M" });
                run += 1;
            }
            None => {
                if run == 1 {
                    d.push_str(" l0.1 0");
                }
                run = 0;
            }
        }
    }
    d
}
