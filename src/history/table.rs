//! `rollback-drill history`: per scenario, the last runs with their
//! backend, the medians of the passing runs of each backend, the trend of
//! `restore` and the latest drift verdict.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{HistoryRun, median};
use crate::backend::BackendKind;
use crate::outcome::{CheckStatus, human};

/// The table, columns as wide as their widest cell.
pub fn table(past: &BTreeMap<String, Vec<HistoryRun>>, last: usize) -> String {
    let opt = |v: Option<f64>| v.map_or("-".to_string(), human);
    let mut out = String::new();
    for (scenario, runs) in past {
        let passing = runs.iter().filter(|r| r.passed).count();
        let _ = writeln!(out, "{scenario}: {} run(s), {passing} passed", runs.len());
        let shown: Vec<&HistoryRun> = runs.iter().rev().take(last).rev().collect();
        let rows: Vec<[String; 7]> = shown
            .iter()
            .map(|r| {
                [
                    r.at.clone(),
                    backend_cell(r),
                    if r.passed { "pass" } else { "FAIL" }.to_string(),
                    opt(r.durations.detect),
                    opt(r.durations.decide),
                    opt(r.durations.restore),
                    opt(r.durations.verify),
                ]
            })
            .collect();
        let header = [
            "AT", "BACKEND", "RESULT", "DETECT", "DECIDE", "RESTORE", "VERIFY",
        ];
        let mut widths = header.map(str::len);
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: [&str; 7]| {
            let mut l = String::from(" ");
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                // Text left, times right.
                if i < 3 {
                    let _ = write!(l, " {cell:<w$} ");
                } else {
                    let _ = write!(l, " {cell:>w$} ");
                }
            }
            l.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(header));
        for row in &rows {
            let cells = [0, 1, 2, 3, 4, 5, 6].map(|i| row[i].as_str());
            let _ = writeln!(out, "{}", line(cells));
        }
        // Medians and trend per backend: live and simulated timings never
        // mix in one figure.
        // Lines without a backend (older versions) form a series of their
        // own, `unknown`.
        let mut by_backend: BTreeMap<Option<BackendKind>, Vec<&HistoryRun>> = BTreeMap::new();
        for r in runs {
            by_backend.entry(r.backend).or_default().push(r);
        }
        for (backend, runs) in &by_backend {
            let backend = backend_name(*backend);
            let passing: Vec<&&HistoryRun> = runs.iter().filter(|r| r.passed).collect();
            let med = |f: fn(&HistoryRun) -> Option<f64>| {
                let mut v: Vec<f64> = passing.iter().filter_map(|r| f(r)).collect();
                median(&mut v)
            };
            let restore = med(|r| r.durations.restore);
            let _ = writeln!(
                out,
                "  {backend}: median of {} passing run(s): detect {}, decide {}, restore {}",
                passing.len(),
                opt(med(|r| r.durations.detect)),
                opt(med(|r| r.durations.decide)),
                opt(restore)
            );
            let latest = runs.last().expect("a backend listed has runs");
            let _ = writeln!(out, "  {backend}: trend: {}", trend(latest, restore));
        }
        let latest = runs.last().expect("a scenario has runs");
        let drift = latest
            .checks
            .iter()
            .find(|c| c.name == "drift")
            .map_or("not checked", |c| match c.status {
                CheckStatus::Failed => "DRIFT in the latest run",
                CheckStatus::Passed => "no drift in the latest run",
                CheckStatus::Skipped => "drift not checked (no earlier runs)",
            });
        let _ = writeln!(
            out,
            "  latest run ({}): {drift}",
            backend_name(latest.backend)
        );
    }
    out
}

/// A line's backend, `unknown` where it recorded none.
fn backend_name(b: Option<BackendKind>) -> String {
    b.map_or("unknown".to_string(), |b| b.to_string())
}

/// `http ×60`: a live run's backend with its time scale.
fn backend_cell(r: &HistoryRun) -> String {
    match r.time_scale {
        Some(x) => format!(
            "{} ×{}",
            backend_name(r.backend),
            (x * 100.0).round() / 100.0
        ),
        None => backend_name(r.backend),
    }
}

fn trend(latest: &HistoryRun, restore_median: Option<f64>) -> String {
    match (latest.durations.restore, restore_median) {
        (Some(now), Some(m)) if m > 0.0 && now > m * 1.1 => format!(
            "restore slower than the median (+{})",
            crate::scenario::Percent(now / m - 1.0)
        ),
        (Some(now), Some(m)) if m > 0.0 && now < m * 0.9 => {
            "restore faster than the median".to_string()
        }
        (Some(_), Some(_)) => "restore steady".to_string(),
        _ => "no restore to compare".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Durations;

    fn run(at: &str, backend: BackendKind, scale: Option<f64>, restore: f64) -> HistoryRun {
        HistoryRun {
            scenario: "s".into(),
            scenario_hash: String::new(),
            procedure_hash: String::new(),
            seed: 0,
            version: String::new(),
            at: at.into(),
            passed: true,
            durations: Durations {
                restore: Some(restore),
                ..Durations::default()
            },
            checks: Vec::new(),
            backend: Some(backend),
            time_scale: scale,
            ..HistoryRun::default()
        }
    }

    #[test]
    fn every_row_is_aligned_and_names_its_backend() {
        let mut past = BTreeMap::new();
        past.insert(
            "s".to_string(),
            vec![
                run(
                    "2026-12-01T07:33:12.123456789Z",
                    BackendKind::InProcess,
                    None,
                    3.0,
                ),
                run("2026-12-01T07:34Z", BackendKind::Http, Some(60.0), 125.5),
                run(
                    "2026-12-01T07:35:00Z",
                    BackendKind::Container,
                    Some(600.0),
                    3600.0,
                ),
            ],
        );
        let text = table(&past, 10);
        let lines: Vec<Vec<char>> = text
            .lines()
            .skip(1)
            .take(4)
            .map(|l| l.chars().collect())
            .collect();
        let header: String = lines[0].iter().collect();
        let pos = |col: &str| header[..header.find(col).unwrap()].chars().count();
        for col in ["BACKEND", "RESULT"] {
            let at = pos(col);
            for l in &lines[1..] {
                assert!(
                    l[at - 1] == ' ' && l[at] != ' ',
                    "{col} misaligned:\n{text}"
                );
            }
        }
        let end = pos("RESTORE") + "RESTORE".len();
        for l in &lines[1..] {
            assert!(
                l[end - 1] != ' ' && l.get(end).is_none_or(|c| *c == ' '),
                "RESTORE misaligned:\n{text}"
            );
        }
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert!(lines[2].contains("http ×60"), "{text}");
        assert!(lines[3].contains("container ×600"), "{text}");
        assert!(
            text.contains("in-process: median of 1 passing run(s)"),
            "{text}"
        );
        assert!(
            text.contains("http: median of 1 passing run(s): detect -, decide -, restore 2m6s"),
            "{text}"
        );
    }

    /// A line from before backends were recorded is still shown, as
    /// `unknown`, with medians of its own (not merged into in-process).
    #[test]
    fn a_line_without_a_backend_is_shown_as_unknown() {
        let old = HistoryRun {
            backend: None,
            ..run("2026-10-01T00:00:00Z", BackendKind::InProcess, None, 400.0)
        };
        let mut past = BTreeMap::new();
        past.insert(
            "s".to_string(),
            vec![
                old,
                run("2026-12-01T00:00:00Z", BackendKind::InProcess, None, 3.0),
            ],
        );
        let text = table(&past, 10);
        assert!(
            text.contains("unknown: median of 1 passing run(s): detect -, decide -, restore 6m40s"),
            "{text}"
        );
        assert!(
            text.contains("in-process: median of 1 passing run(s): detect -, decide -, restore 3s"),
            "{text}"
        );
    }
}
