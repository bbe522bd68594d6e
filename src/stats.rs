//! Exact binomial statistics for verdicts on sampled traffic: tails of the
//! binomial distribution through the regularized incomplete beta function,
//! Clopper–Pearson bounds, and the sample a percentile bound needs.
//!
//! Counts may be fractional (weighted latency samples); the formulas hold
//! for real arguments.

/// ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: ~1e-15 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1-x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function I_x(a, b), a, b > 0.
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2);
    // otherwise use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_fraction(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta (modified Lentz).
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=1000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let step = d * c;
        h *= step;
        if (step - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// P(X ≥ k) for X ~ Binomial(n, p).
pub fn tail_at_least(k: f64, n: f64, p: f64) -> f64 {
    if k <= 0.0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    inc_beta(k, n - k + 1.0, p)
}

/// P(X ≤ k) for X ~ Binomial(n, p).
pub fn tail_at_most(k: f64, n: f64, p: f64) -> f64 {
    if k >= n {
        return 1.0;
    }
    if k < 0.0 {
        return 0.0;
    }
    inc_beta(n - k, k + 1.0, 1.0 - p)
}

/// The one-sided Clopper–Pearson upper bound of a rate seen as `k` of `n`
/// at confidence 1 − `alpha`: the largest p with P(X ≤ k | p) ≥ alpha.
pub fn upper_bound(k: f64, n: f64, alpha: f64) -> f64 {
    if n <= 0.0 || k >= n {
        return 1.0;
    }
    bisect(|p| tail_at_most(k, n, p) >= alpha)
}

/// The one-sided Clopper–Pearson lower bound: the smallest p with
/// P(X ≥ k | p) ≥ alpha.
pub fn lower_bound(k: f64, n: f64, alpha: f64) -> f64 {
    if n <= 0.0 || k <= 0.0 {
        return 0.0;
    }
    1.0 - bisect(|q| tail_at_least(k, n, 1.0 - q) >= alpha)
}

/// The largest p in [0, 1] where `ok(p)` holds, for `ok` true below some
/// point and false above it.
fn bisect(ok: impl Fn(f64) -> bool) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if ok(mid) { lo = mid } else { hi = mid }
    }
    lo
}

/// The fewest requests whose upper bound can fall below `limit` at
/// confidence 1 − `alpha`: even with no event at all, fewer cannot show it.
pub fn requests_needed(limit: f64, alpha: f64) -> u64 {
    if limit >= 1.0 {
        return 0;
    }
    if limit <= 0.0 {
        return u64::MAX;
    }
    (alpha.ln() / (1.0 - limit).ln()).ceil().min(1e18) as u64
}

/// The fewest samples for which an order statistic bounds the `q`-quantile
/// from above at confidence 1 − `alpha` (the largest of n samples exceeds
/// the quantile with probability 1 − qⁿ).
pub fn samples_for_quantile(q: f64, alpha: f64) -> u64 {
    (alpha.ln() / q.ln()).ceil().min(1e18) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums of the binomial mass, for small n.
    fn exact_at_least(k: u64, n: u64, p: f64) -> f64 {
        let ln_choose = |n: u64, i: u64| {
            ln_gamma(n as f64 + 1.0) - ln_gamma(i as f64 + 1.0) - ln_gamma((n - i) as f64 + 1.0)
        };
        (k..=n)
            .map(|i| (ln_choose(n, i) + i as f64 * p.ln() + (n - i) as f64 * (1.0 - p).ln()).exp())
            .sum()
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30u32 {
            f *= f64::from(n);
            let rel = (ln_gamma(f64::from(n) + 1.0) - f.ln()).abs() / f.ln().max(1.0);
            assert!(rel < 1e-12, "{n}: {rel}");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn binomial_tails_match_summed_mass() {
        for (k, n, p) in [
            (0, 10, 0.3),
            (3, 10, 0.3),
            (10, 10, 0.3),
            (7, 400, 0.005),
            (40, 3000, 0.005),
            (1, 1, 0.5),
        ] {
            let want = exact_at_least(k, n, p);
            let got = tail_at_least(k as f64, n as f64, p);
            assert!(
                (got - want).abs() < 1e-10 * want.max(1e-6),
                "P(X≥{k}|{n},{p}) = {got}, want {want}"
            );
            let below = tail_at_most(k as f64, n as f64, p);
            let want_below = 1.0 - exact_at_least(k + 1, n, p);
            assert!(
                (below - want_below).abs() < 1e-9,
                "P(X≤{k}|{n},{p}) = {below}, want {want_below}"
            );
        }
    }

    #[test]
    fn clopper_pearson_bounds_are_the_textbook_ones() {
        // No event in n: the upper bound is 1 - alpha^(1/n) exactly.
        let up = upper_bound(0.0, 1000.0, 0.001);
        assert!(
            (up - (1.0 - 0.001f64.powf(1.0 / 1000.0))).abs() < 1e-9,
            "{up}"
        );
        // 5 of 100 at 95%, one-sided: about 10.2% above and 1.97% below.
        assert!((upper_bound(5.0, 100.0, 0.05) - 0.1024).abs() < 5e-4);
        assert!((lower_bound(5.0, 100.0, 0.05) - 0.0197).abs() < 5e-4);
        assert_eq!(lower_bound(0.0, 100.0, 0.05), 0.0);
        assert_eq!(upper_bound(100.0, 100.0, 0.05), 1.0);
    }

    #[test]
    fn evidence_needs_enough_requests() {
        // 0.5% at 99.9%: 1,379 clean requests at least.
        assert_eq!(requests_needed(0.005, 0.001), 1379);
        assert!(upper_bound(0.0, 1378.0, 0.001) >= 0.005);
        assert!(upper_bound(0.0, 1379.0, 0.001) < 0.005);
        // p99 at 99.9%: 688 samples.
        assert_eq!(samples_for_quantile(0.99, 0.001), 688);
    }
}
