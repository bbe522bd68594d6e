//! Windowed metrics of a version's traffic: what a drill observes.
//!
//! Traffic is kept in one-second ticks per version: requests, errors, good
//! answers and a latency histogram (2% buckets, so percentiles are exact to
//! about 1%). Each version keeps only the ticks inside the policy window,
//! so memory is bounded by the window, not by the drill's duration. The
//! simulation fills the ticks with drawn traffic, a live drill with the
//! responses it really got; both read them back with [`observe`].

use std::collections::VecDeque;

pub const TICK_MS: u64 = 1000;
/// Latency buckets grow by 2%: percentiles are exact to about 1%.
const BUCKET_RATIO: f64 = 1.02;
const BUCKET_FLOOR_MS: f64 = 0.1;
const BUCKETS: usize = 1400;

/// Metrics of some traffic over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observation {
    pub requests: u64,
    pub errors: u64,
    pub good: u64,
    pub error_rate: f64,
    /// Good answers among successful ones.
    pub quality: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// No metrics arrived for this read (a gap in the pipeline).
    pub missing: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Slot {
    pub(crate) tick: u64,
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) good: u64,
    pub(crate) latency: Vec<(u16, f32)>,
}

/// One version's recent ticks.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub(crate) slots: VecDeque<Slot>,
    /// Slots kept after use, so steady state allocates nothing.
    spare: Vec<Slot>,
}

impl Series {
    /// A fresh slot for `tick`, dropping the ticks older than `keep_ticks`.
    pub(crate) fn push(&mut self, tick: u64, keep_ticks: u64) -> &mut Slot {
        while self
            .slots
            .front()
            .is_some_and(|s| s.tick + keep_ticks <= tick)
        {
            let old = self.slots.pop_front().expect("front exists");
            self.spare.push(old);
        }
        let mut slot = self.spare.pop().unwrap_or_default();
        slot.tick = tick;
        slot.requests = 0;
        slot.errors = 0;
        slot.good = 0;
        slot.latency.clear();
        self.slots.push_back(slot);
        self.slots.back_mut().expect("just pushed")
    }
}

impl Series {
    /// Adds one observed request to tick `tick` (live drills).
    pub fn record(&mut self, tick: u64, keep_ticks: u64, error: bool, good: bool, latency_ms: f64) {
        if self.slots.back().is_none_or(|s| s.tick != tick) {
            self.push(tick, keep_ticks);
        }
        let slot = self.slots.back_mut().expect("pushed above");
        slot.requests += 1;
        slot.errors += u64::from(error);
        slot.good += u64::from(good);
        slot.latency.push((bucket_of(latency_ms), 1.0));
    }
}

/// The ticks whose traffic lies in `[since_ms, now_ms)`: a tick counts
/// once it is complete and only if it started at or after `since_ms`.
pub fn tick_range(since_ms: u64, now_ms: u64) -> (u64, u64) {
    (since_ms.div_ceil(TICK_MS), now_ms / TICK_MS)
}

/// Folds several series' ticks in `[from_tick, to_tick)` into one observation.
pub fn observe<'a>(
    series: impl IntoIterator<Item = &'a Series>,
    from_tick: u64,
    to_tick: u64,
) -> Observation {
    let mut hist = vec![0f64; BUCKETS];
    let (mut requests, mut errors, mut good) = (0u64, 0u64, 0u64);
    let mut weight = 0f64;
    for s in series {
        for slot in s
            .slots
            .iter()
            .filter(|s| s.tick >= from_tick && s.tick < to_tick)
        {
            requests += slot.requests;
            errors += slot.errors;
            good += slot.good;
            for &(b, w) in &slot.latency {
                hist[b as usize] += f64::from(w);
                weight += f64::from(w);
            }
        }
    }
    let ok = requests - errors;
    Observation {
        requests,
        errors,
        good,
        error_rate: ratio(errors, requests),
        quality: ratio(good, ok),
        p50_ms: quantile(&hist, weight, 0.50),
        p99_ms: quantile(&hist, weight, 0.99),
        missing: false,
    }
}

/// The weighted share of latency samples in `[from_tick, to_tick)` slower
/// than `ms`, and the number of samples.
pub fn share_slower_than(series: &Series, from_tick: u64, to_tick: u64, ms: f64) -> (f64, u64) {
    let limit = bucket_of(ms);
    let (mut above, mut total, mut samples) = (0f64, 0f64, 0u64);
    for slot in series
        .slots
        .iter()
        .filter(|s| s.tick >= from_tick && s.tick < to_tick)
    {
        for &(b, w) in &slot.latency {
            total += f64::from(w);
            samples += 1;
            if b > limit {
                above += f64::from(w);
            }
        }
    }
    (if total > 0.0 { above / total } else { 0.0 }, samples)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

pub(crate) fn bucket_of(ms: f64) -> u16 {
    let b = ((ms.max(BUCKET_FLOOR_MS) / BUCKET_FLOOR_MS).ln() / BUCKET_RATIO.ln()).floor();
    b.clamp(0.0, (BUCKETS - 1) as f64) as u16
}

/// The latency (ms) a histogram bucket stands for: its middle.
pub fn bucket_ms(b: u16) -> f64 {
    bucket_value(usize::from(b))
}

fn bucket_value(b: usize) -> f64 {
    BUCKET_FLOOR_MS * BUCKET_RATIO.powf(b as f64 + 0.5)
}

fn quantile(hist: &[f64], total: f64, q: f64) -> f64 {
    if total <= 0.0 {
        return 0.0;
    }
    let target = q * total;
    let mut acc = 0.0;
    for (b, w) in hist.iter().enumerate() {
        acc += w;
        if acc >= target {
            return bucket_value(b);
        }
    }
    bucket_value(hist.len() - 1)
}
