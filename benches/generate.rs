//! Generates varied, valid drills: the suite benchmark runs 1,000 of them
//! and `tests/generated.rs` checks a sample passes, so the generator cannot
//! rot unnoticed.

/// `n` scenarios as (file name, YAML), every one expecting to pass.
pub fn scenarios(n: usize) -> Vec<(String, String)> {
    (0..n).map(one).collect()
}

fn one(i: usize) -> (String, String) {
    let seed = i as u64;
    let rps = 120 + (i * 37) % 180;
    let weight = [10, 20, 25, 40, 50][i % 5];
    let (kind, change, body) = match i % 5 {
        0 => (
            "error-spike",
            "prompt",
            format!(
                "release: {{route: r, version: v2, at: 10m, weight: {weight}%, behaviour: {{error_rate: {}%}}}}\n\
                 procedure:\n  - confirm: {{}}\n  - identify_target: {{previous: true}}\n  - execute: {{mechanism: route_weight}}\n  - verify: {{metric: error_rate, below: 1%, every: 5s, within: 5m}}\n\
                 expect: {{rollback: true, severity: critical, verdict: pass}}\n",
                10 + i % 10
            ),
        ),
        1 => (
            "paged",
            "prompt",
            format!(
                "release: {{route: r, version: v2, at: 10m, weight: {}%, behaviour: {{error_rate: 3.5%}}}}\n\
                 procedure:\n  - identify_target: {{previous: true}}\n  - execute: {{mechanism: route_weight}}\n  - verify: {{metric: error_rate, below: 1%, every: 5s, within: 5m}}\n\
                 expect: {{rollback: true, verdict: pass}}\n",
                weight.max(40)
            ),
        ),
        2 => (
            "latency",
            "model",
            format!(
                "release: {{route: r, version: v2, at: 10m, weight: {weight}%, behaviour: {{latency: {{p50: 1.5s, p99: 7s}}}}}}\n\
                 procedure:\n  - identify_target: {{previous: true}}\n  - execute: {{mechanism: alias_remap}}\n  - verify: {{metric: latency_p99, below: 3s, every: 5s, within: 5m}}\n\
                 expect: {{rollback: true, verdict: pass}}\n"
            ),
        ),
        3 => (
            "healthy",
            "prompt",
            format!(
                "release: {{route: r, version: v2, at: 10m, weight: {weight}%}}\n\
                 procedure:\n  - execute: {{mechanism: route_weight}}\n\
                 expect: {{rollback: false, verdict: pass}}\n"
            ),
        ),
        _ => (
            "redeploy",
            "agent_code",
            format!(
                "release: {{route: r, version: v2, at: 10m, weight: {weight}%, behaviour: {{error_rate: 12%}}}}\n\
                 procedure:\n  - identify_target: {{previous: true}}\n  - execute: {{mechanism: redeploy, replicas: {}, surge: 2, per_replica: 60s, image_pull: 30s}}\n  - verify: {{metric: error_rate, below: 1%, every: 5s, within: 5m}}\n\
                 expect: {{rollback: true, verdict: pass}}\n",
                2 + i % 8
            ),
        ),
    };
    let name = format!("gen-{i:04}-{kind}");
    let yaml = format!(
        "name: {name}\nchange: {change}\nseed: {seed}\nduration: 2h\n\
         registry:\n  routes:\n    r:\n      candidates:\n        - {{id: r:v1, version_pin: v1, weight: 100}}\n  propagation: 2s\n\
         traffic:\n  rps: {rps}\n  behaviour:\n    v1: {{error_rate: 0.4%, latency: {{p50: 800ms, p99: 2s}}, quality: 88%}}\n\
         {body}"
    );
    (format!("{name}.yaml"), yaml)
}
