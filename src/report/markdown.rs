//! `summary.md`: a table to paste into a pull request or incident record.
//! Failures come first, each with the failed checks' messages.

use std::fmt::Write;

use crate::outcome::{CheckStatus, DrillOutcome, human};

/// Scenario text made safe for one table cell, as JUnit does it: ANSI
/// escape sequences and every other control character dropped, line
/// breaks and tabs made spaces, `|` escaped.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters up to a final byte in `@`..=`~`.
                Some('[') => {
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC `\`.
                Some(']') => {
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' || (n == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\n' | '\r' | '\t' => out.push(' '),
            '|' => out.push_str("\\|"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".to_string(), human)
}

/// Failing drills first, then by name: the order of every summary.
pub fn ordered(outcomes: &[DrillOutcome]) -> Vec<&DrillOutcome> {
    let mut v: Vec<&DrillOutcome> = outcomes.iter().collect();
    // `passed()` derives every check: once per outcome, not per comparison.
    v.sort_by_cached_key(|o| (o.passed(), o.scenario.clone()));
    v
}

pub fn render(outcomes: &[DrillOutcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Rollback drills: {}\n", super::counts(outcomes));
    let _ = writeln!(
        out,
        "| result | scenario | change | detect | decide | restore | target | failed checks |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for o in ordered(outcomes) {
        let d = o.durations();
        let checks = o.checks();
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| c.status == CheckStatus::Failed)
            .map(|c| format!("**{}**: {}", c.name, cell(&c.message)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            match crate::outcome::DrillOutcome::result_of(&o.expect, &checks) {
                crate::outcome::DrillResult::Pass => "✅ pass",
                crate::outcome::DrillResult::Xfail => "☑️ xfail (expected fail)",
                crate::outcome::DrillResult::Fail => "❌ FAIL",
            },
            cell(&o.scenario),
            o.change,
            opt(d.detect),
            opt(d.decide),
            opt(d.restore),
            o.restore_target,
            if failed.is_empty() {
                "—".to_string()
            } else {
                failed.join("<br>")
            }
        );
    }
    repeats(&mut out, outcomes);
    let with_path: Vec<_> = ordered(outcomes)
        .into_iter()
        .filter(|o| !o.decision_path().is_empty())
        .collect();
    if !with_path.is_empty() {
        let _ = writeln!(out, "\n**Decision paths**\n");
        for o in with_path {
            let path: Vec<String> = o
                .decision_path()
                .iter()
                .map(|e| format!("{} {}: {}", human(e.at_s), e.who, cell(&e.what)))
                .collect();
            let _ = writeln!(out, "- {}: {}", cell(&o.scenario), path.join("; "));
        }
    }
    for o in ordered(outcomes) {
        let set = super::set::lines(o);
        if !set.is_empty() {
            let _ = writeln!(out, "\n**Coordinated rollback in {}**\n", cell(&o.scenario));
            for line in set {
                let _ = writeln!(out, "- {}", cell(&line));
            }
        }
    }
    for o in ordered(outcomes)
        .into_iter()
        .filter(|o| !o.findings().is_empty())
    {
        let _ = writeln!(out, "\n**Findings in {}**\n", cell(&o.scenario));
        for f in o.findings() {
            let _ = writeln!(out, "- `{}` ({}): {}", f.kind, f.step, cell(&f.message));
        }
    }
    out
}

/// `run --repeat N`: per scenario, the pass rate and p50/p95/max of every
/// phase over its seeds.
fn repeats(out: &mut String, outcomes: &[DrillOutcome]) {
    let with: Vec<_> = ordered(outcomes)
        .into_iter()
        .filter_map(|o| o.repeat.as_ref().map(|r| (o, r)))
        .collect();
    if with.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n**Over seeds** (p50 / p95 / max)\n\n| scenario | seeds | pass rate | detect | decide | restore | verify | mitigate |\n|---|---|---|---|---|---|---|---|"
    );
    for (o, r) in with {
        let cells: Vec<String> = r
            .spread()
            .into_iter()
            .map(|(_, s)| {
                s.map_or("—".to_string(), |s| {
                    format!("{} / {} / {}", human(s.p50), human(s.p95), human(s.max))
                })
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {:.1}% ({} of {}) | {} |",
            cell(&o.scenario),
            r.runs.len(),
            100.0 * r.passed() as f64 / r.runs.len().max(1) as f64,
            r.passed(),
            r.runs.len(),
            cells.join(" | ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn cells_carry_no_escape_sequences_or_control_characters() {
        assert_eq!(
            cell("\u{1b}[1;31mred\u{1b}[0m | x\u{7}\u{0}\u{9b}y\r\nz\tw"),
            "red \\| xy  z w"
        );
        assert_eq!(
            cell("\u{1b}]0;title\u{7}a\u{1b}]8;;http://x\u{1b}\\b"),
            "ab"
        );
    }
}
