//! Peak memory of a 1-day and a 7-day drill (100 rps, a healthy canary that
//! runs the whole horizon), each in its own process so the peaks do not mix.
//!
//! `cargo bench --bench memory`

use std::path::Path;
use std::process::Command;

use rollback_drill::{scenario, sim};

fn plan(days: u64) -> scenario::Plan {
    let yaml = format!(
        "name: mem-{days}d\nchange: prompt\nduration: {days}d\n\
         registry:\n  routes:\n    r:\n      candidates:\n        - {{id: r:v1, version_pin: v1, weight: 100}}\n  propagation: 2s\n\
         traffic:\n  rps: 100\n  behaviour:\n    v1: {{error_rate: 0.5%, latency: {{p50: 800ms, p99: 2s}}, quality: 88%}}\n\
         release: {{route: r, version: v2, at: 10m, weight: 25%}}\n\
         procedure:\n  - execute: {{mechanism: route_weight}}\n"
    );
    scenario::load_str(&yaml, Path::new("mem.yaml")).expect("valid")
}

/// Peak resident set size of this process, in KiB (Linux).
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if let Ok(days) = std::env::var("MEMORY_BENCH_DAYS") {
        let before = peak_kib();
        let o = sim::run(&plan(days.parse().unwrap()));
        assert!(o.record.detected.is_none());
        println!("{days} {before} {}", peak_kib());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut peaks = Vec::new();
    for days in [1, 7] {
        let out = Command::new(&exe)
            .env("MEMORY_BENCH_DAYS", days.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<u64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        assert_eq!(fields.len(), 3, "child said: {text}");
        eprintln!(
            "memory: {days}-day drill: peak RSS {} KiB (before the drill {} KiB)",
            fields[2], fields[1]
        );
        peaks.push(fields[2] as f64);
    }
    let ratio = peaks[1] / peaks[0];
    eprintln!("memory: 7-day / 1-day peak = {ratio:.2}");
    assert!(ratio <= 2.0, "memory grew with duration: {ratio:.2}x");
}
