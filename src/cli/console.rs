//! What a run prints: the summary table on stdout, progress on stderr.

use std::io::IsTerminal;

use crate::outcome::{CheckStatus, DrillOutcome, human};
use crate::report;
use crate::scenario::Plan;

/// Scenario names and messages may hold control characters (ANSI escapes,
/// NUL): never let them reach a terminal or a CI log raw.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The table printed on stdout: failures first, each failed check beneath.
pub fn summary_table(outcomes: &[DrillOutcome]) -> String {
    use std::fmt::Write as _;
    let ordered = report::markdown::ordered(outcomes);
    let width = outcomes
        .iter()
        .map(|o| o.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:6}  {:width$}  {:10}  {:>8}  {:>8}  {:>8}  {:>7}",
        "RESULT", "SCENARIO", "CHANGE", "DETECT", "DECIDE", "RESTORE", "TARGET"
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), human);
    for o in &ordered {
        let d = o.durations();
        let _ = writeln!(
            out,
            "{:6}  {:width$}  {:10}  {:>8}  {:>8}  {:>8}  {:>7}",
            o.result().word(),
            printable(&o.scenario),
            o.change.as_str(),
            opt(d.detect),
            opt(d.decide),
            opt(d.restore),
            o.restore_target.to_string()
        );
        if let Some(r) = &o.repeat {
            let _ = writeln!(out, "        repeat: {}", r.line());
        }
        for c in o
            .checks()
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
        {
            let _ = writeln!(out, "        {}: {}", c.name, printable(&c.message));
        }
    }
    let _ = writeln!(out, "{}", report::counts_line(outcomes));
    out
}

/// Progress on stderr: a bar with the drill in flight on a terminal, one
/// plain line per finished drill otherwise (CI logs).
pub(super) struct Progress {
    total: usize,
    terminal: bool,
    done: std::sync::atomic::AtomicUsize,
    lock: std::sync::Mutex<()>,
}

impl Progress {
    pub(super) fn new(total: usize) -> Progress {
        Progress {
            total,
            terminal: std::io::stderr().is_terminal(),
            done: std::sync::atomic::AtomicUsize::new(0),
            lock: std::sync::Mutex::new(()),
        }
    }

    pub(super) fn started(&self, plan: &Plan) {
        if self.terminal {
            let _guard = self.lock.lock();
            let done = self.done.load(std::sync::atomic::Ordering::Relaxed);
            eprint!(
                "\r\x1b[2K{} running {}",
                self.bar(done),
                printable(&plan.name)
            );
        }
    }

    pub(super) fn finished(&self, done: usize, plan: &Plan, outcome: &DrillOutcome) {
        let _guard = self.lock.lock();
        self.done.store(done, std::sync::atomic::Ordering::Relaxed);
        let verdict = outcome.result().word();
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
        let d = outcome.durations();
        let restore = d.restore.map_or("-".to_string(), human);
        eprintln!(
            "[{done}/{}] {verdict} {} (restore {restore}, target {})",
            self.total,
            printable(&plan.name),
            outcome.restore_target
        );
        if self.terminal && done < self.total {
            eprint!("{}", self.bar(done));
        }
    }

    fn bar(&self, done: usize) -> String {
        let width = 24;
        let filled = (done * width).checked_div(self.total).unwrap_or(width);
        format!(
            "[{}{}] {done}/{}",
            "=".repeat(filled),
            " ".repeat(width - filled),
            self.total
        )
    }

    pub(super) fn clear(&self) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}
