//! Before a live drill: can live traffic hold the policy's sample? A short
//! full-speed burst against the drill's own registry measures how many
//! requests a second the generator, the registry and the machine answer
//! together; the arithmetic below turns that into the release's requests
//! per policy window at the chosen time scale, and the largest scale that
//! still holds `policy.min_requests`.
//!
//! Why a measurement and not a constant: the figure depends on the
//! registry (ours in a process or a container, or a team's over a
//! network) and on what else the machine runs, and a burst of a few
//! hundred milliseconds on the warmed-up registry is cheap next to a drill
//! that would silently take another path. The burst's requests reach the
//! stable version only (the release is not in the route yet) and are not
//! recorded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{FULL_SPEED_POOL, Load, LoadError, Sink, Target};
use crate::scenario::{Dur, Plan};

/// Connections opening and the registry warming up: not measured.
const WARM_UP: Duration = Duration::from_millis(100);
const MEASURED: Duration = Duration::from_millis(200);
/// The share of the measured rate a drill can count on: during the drill
/// the procedure's own calls, the metric evaluations and the recorder
/// share the machine with the generator, which the burst did not.
pub const USABLE: f64 = 0.8;

/// Requests a second answered in the calibration burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Capacity {
    pub per_s: f64,
    /// Failed requests in the burst (a registry that refuses traffic).
    pub failed: u64,
    pub measured: Duration,
}

struct Discard;

impl Sink for Discard {
    fn record(&self, _now_ms: u64, _reply: &Value) {}
}

/// Sends to `target` at full speed over `connections` for [`WARM_UP`] +
/// [`MEASURED`] and counts the answers of the measured part.
pub fn calibrate(target: &Target, connections: usize) -> Result<Capacity, LoadError> {
    let load = Load::full_speed(target.clone(), connections, Arc::new(Discard))?;
    std::thread::sleep(WARM_UP);
    let (before, from) = (load.answered(), Instant::now());
    std::thread::sleep(MEASURED);
    let (after, measured) = (load.answered(), from.elapsed());
    let stats = load.stop();
    Ok(Capacity {
        per_s: (after - before) as f64 / measured.as_secs_f64(),
        failed: stats.failed,
        measured,
    })
}

/// Calibrates against `target` and says whether live traffic fits
/// `plan`'s policy at `scale` (see [`Capacity::message`]).
/// The burst uses as many connections as the drill will (a registry
/// answers more with more of them in flight), at least
/// [`FULL_SPEED_POOL`].
pub fn check(target: &Target, plan: &Plan, scale: f64) -> Result<Option<String>, LoadError> {
    let connections = Load::connections(plan.traffic.rps * scale).max(FULL_SPEED_POOL);
    Ok(calibrate(target, connections)?.message(&Need::of(plan), scale))
}

/// What the policy needs from live traffic, from the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    /// Scenario requests a second on the release's route.
    pub rps: f64,
    /// The release's first canary share (its smallest), 0..=1:
    /// `min_requests` counts the release's requests.
    pub share: f64,
    pub window: Dur,
    pub min_requests: u64,
    pub version: String,
}

impl Need {
    pub fn of(plan: &Plan) -> Need {
        Need {
            rps: plan.traffic.rps,
            share: plan.release.schedule.first().map_or(1.0, |s| s.1),
            window: plan.policy.window,
            min_requests: plan.policy.min_requests,
            version: plan.release.version.clone(),
        }
    }

    /// The release's requests in one window when `real_per_s` requests a
    /// wall second are sent at time scale `scale`.
    fn in_window(&self, real_per_s: f64, scale: f64) -> f64 {
        real_per_s / scale * self.share * self.window.secs_f64()
    }

    /// The largest time scale at which `usable` requests a wall second
    /// still give the release `min_requests` per window.
    fn largest_scale(&self, usable: f64) -> f64 {
        usable * self.share * self.window.secs_f64() / self.min_requests as f64
    }
}

/// How live traffic fits the policy at one time scale.
#[derive(Debug, Clone, PartialEq)]
pub enum Fit {
    /// The generator can send the scenario's rate.
    Keeps,
    /// Thinner than simulated, but every window still holds
    /// `min_requests` (or the simulation's do not either).
    Thinner { usable: f64, needed: f64 },
    /// The simulation's windows hold `min_requests`, the live ones do not.
    Short {
        needed: f64,
        usable: f64,
        live: f64,
        simulated: f64,
        largest_scale: f64,
    },
}

impl Capacity {
    pub fn fit(&self, need: &Need, scale: f64) -> Fit {
        let needed = need.rps * scale;
        let usable = self.per_s * USABLE;
        if needed <= usable {
            return Fit::Keeps;
        }
        let min = need.min_requests as f64;
        let (live, simulated) = (need.in_window(usable, scale), need.in_window(needed, scale));
        if live >= min || simulated < min {
            return Fit::Thinner { usable, needed };
        }
        Fit::Short {
            needed,
            usable,
            live,
            simulated,
            largest_scale: need.largest_scale(usable),
        }
    }

    /// The line for stderr before the drill, if any: a `warning:` when the
    /// live windows cannot hold `min_requests`, a `note:` when traffic is
    /// only thinner than simulated.
    pub fn message(&self, need: &Need, scale: f64) -> Option<String> {
        let burst = format!(
            "in a {} ms calibration burst",
            self.measured.as_millis().max(1)
        );
        match self.fit(need, scale) {
            Fit::Keeps => None,
            Fit::Thinner { usable, needed } => Some(format!(
                "note: live traffic at --time-scale {} sends {}/s of the {}/s the scenario's {} rps needs ({:.0}%; the registry answered {}/s {burst}): windows hold fewer requests than simulated, min_requests {} still holds",
                number(scale),
                grouped(usable),
                grouped(needed),
                number(need.rps),
                usable / needed * 100.0,
                grouped(self.per_s),
                grouped(need.min_requests as f64),
            )),
            Fit::Short {
                needed,
                usable,
                live,
                simulated,
                largest_scale,
            } => {
                let answered = if self.per_s > 0.0 {
                    format!(
                        "the registry answered {}/s {burst} ({}/s usable, {:.0}%)",
                        grouped(self.per_s),
                        grouped(usable),
                        USABLE * 100.0
                    )
                } else {
                    format!(
                        "the registry answered no request {burst} ({} failed)",
                        self.failed
                    )
                };
                let largest = if largest_scale >= 0.01 {
                    format!(
                        "; the largest time scale that holds them is {} (--time-scale {})",
                        scale_figure(largest_scale),
                        scale_figure(largest_scale)
                    )
                } else if largest_scale > 0.0 {
                    "; no time scale holds them: raise the first canary share or lower min_requests"
                        .into()
                } else {
                    String::new()
                };
                Some(format!(
                    "warning: live traffic cannot hold policy.min_requests at --time-scale {}: the scenario's {} rps needs {}/s, {answered}; a {} window then holds about {} requests of {} at its {}% first share, under min_requests {} (the simulation's hold {}){largest}",
                    number(scale),
                    number(need.rps),
                    grouped(needed),
                    need.window,
                    grouped(live),
                    need.version,
                    number(need.share * 100.0),
                    grouped(need.min_requests as f64),
                    grouped(simulated),
                ))
            }
        }
    }
}

/// `1234567.8` → `1,234,568`.
fn grouped(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A figure as the user wrote it: `60`, `2.5`.
fn number(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A time scale that holds, rounded down so it still holds: whole above
/// 10, else to a tenth (a hundredth under 1).
fn scale_figure(x: f64) -> String {
    if x >= 10.0 {
        format!("{}", x.floor())
    } else if x >= 1.0 {
        number((x * 10.0).floor() / 10.0)
    } else {
        number((x * 100.0).floor() / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(rps: f64, share: f64, window_s: u64, min_requests: u64) -> Need {
        Need {
            rps,
            share,
            window: Dur(window_s * 1000),
            min_requests,
            version: "v13".into(),
        }
    }

    fn capacity(per_s: f64) -> Capacity {
        Capacity {
            per_s,
            failed: 0,
            measured: Duration::from_millis(200),
        }
    }

    #[test]
    fn a_generator_that_keeps_the_rate_says_nothing() {
        // 100 rps at 60x = 6,000/s; 10,000/s measured, 8,000 usable.
        let c = capacity(10_000.0);
        assert_eq!(c.fit(&need(100.0, 0.5, 300, 1000), 60.0), Fit::Keeps);
        assert_eq!(c.message(&need(100.0, 0.5, 300, 1000), 60.0), None);
        // Exactly the usable rate still keeps it.
        assert_eq!(c.fit(&need(100.0, 0.5, 300, 1000), 80.0), Fit::Keeps);
    }

    #[test]
    fn thinner_traffic_that_still_holds_min_requests_is_a_note() {
        // 100 rps at 600x = 60,000/s needed, 8,000 usable: a 5m window
        // holds 8,000 / 600 × 0.5 × 300 = 2,000 release requests ≥ 1,000.
        let (c, n) = (capacity(10_000.0), need(100.0, 0.5, 300, 1000));
        assert_eq!(
            c.fit(&n, 600.0),
            Fit::Thinner {
                usable: 8_000.0,
                needed: 60_000.0
            }
        );
        let m = c.message(&n, 600.0).unwrap();
        assert_eq!(
            m,
            "note: live traffic at --time-scale 600 sends 8,000/s of the 60,000/s the scenario's 100 rps needs (13%; the registry answered 10,000/s in a 200 ms calibration burst): windows hold fewer requests than simulated, min_requests 1,000 still holds"
        );
    }

    #[test]
    fn windows_under_min_requests_warn_with_the_largest_scale_that_holds() {
        // 1,200 usable of 1,500 measured; at 60x a 5m window holds
        // 1,200 / 60 × 0.1 × 300 = 600 release requests, under 1,000;
        // simulated: 100 × 0.1 × 300 = 3,000. Largest scale:
        // 1,200 × 0.1 × 300 / 1,000 = 36.
        let (c, n) = (capacity(1_500.0), need(100.0, 0.1, 300, 1000));
        match c.fit(&n, 60.0) {
            Fit::Short {
                needed,
                usable,
                live,
                simulated,
                largest_scale,
            } => {
                assert_eq!((needed, usable), (6_000.0, 1_200.0));
                assert!((live - 600.0).abs() < 1e-9, "{live}");
                assert!((simulated - 3_000.0).abs() < 1e-9, "{simulated}");
                assert!((largest_scale - 36.0).abs() < 1e-9, "{largest_scale}");
                // Just under the largest scale the live windows hold enough.
                assert!(matches!(c.fit(&n, 35.9), Fit::Thinner { .. }));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.message(&n, 60.0).unwrap(),
            "warning: live traffic cannot hold policy.min_requests at --time-scale 60: the scenario's 100 rps needs 6,000/s, the registry answered 1,500/s in a 200 ms calibration burst (1,200/s usable, 80%); a 5m window then holds about 600 requests of v13 at its 10% first share, under min_requests 1,000 (the simulation's hold 3,000); the largest time scale that holds them is 36 (--time-scale 36)"
        );
    }

    #[test]
    fn the_share_that_counts_is_the_first_canary_step() {
        // The same drill at a 50% share holds: 1,200 / 60 × 0.5 × 300 = 3,000.
        let c = capacity(1_500.0);
        assert!(matches!(
            c.fit(&need(100.0, 0.5, 300, 1000), 60.0),
            Fit::Thinner { .. }
        ));
        assert!(matches!(
            c.fit(&need(100.0, 0.05, 300, 1000), 60.0),
            Fit::Short { .. }
        ));
    }

    #[test]
    fn no_warning_when_the_simulation_cannot_hold_min_requests_either() {
        // 10 rps × 10% × 60 s = 60 simulated requests per window < 100.
        let c = capacity(100.0);
        assert!(matches!(
            c.fit(&need(10.0, 0.1, 60, 100), 60.0),
            Fit::Thinner { .. }
        ));
    }

    #[test]
    fn a_registry_that_answers_nothing_is_named() {
        let c = Capacity {
            per_s: 0.0,
            failed: 312,
            measured: Duration::from_millis(201),
        };
        let m = c.message(&need(100.0, 0.25, 300, 50), 60.0).unwrap();
        assert!(
            m.contains(
                "the registry answered no request in a 201 ms calibration burst (312 failed)"
            ) && m.contains("holds about 0 requests")
                && !m.contains("largest time scale"),
            "{m}"
        );
    }

    #[test]
    fn small_scales_keep_their_decimals_rounded_down() {
        // 40 usable × 0.25 × 60 s / 1,000 = 0.6 (rounded down, it holds);
        // simulated: 100 × 0.25 × 60 = 1,500.
        let c = capacity(50.0);
        let m = c.message(&need(100.0, 0.25, 60, 1000), 10.0);
        assert!(
            m.as_deref()
                .is_some_and(|m| m.ends_with("is 0.6 (--time-scale 0.6)")),
            "{m:?}"
        );
        // Under a hundredth, no figure: the drill cannot be made to hold.
        let m = capacity(0.5).message(&need(100.0, 0.25, 60, 1000), 10.0);
        assert!(
            m.as_deref().is_some_and(|m| m.ends_with(
                "; no time scale holds them: raise the first canary share or lower min_requests"
            )),
            "{m:?}"
        );
        assert_eq!(scale_figure(7.89), "7.8");
        assert_eq!(scale_figure(123.9), "123");
        assert_eq!(scale_figure(0.256), "0.25");
        assert_eq!(grouped(999.4), "999");
        assert_eq!(grouped(1_234_567.8), "1,234,568");
        assert_eq!(number(2.5), "2.5");
    }
}
