//! `history.jsonl`: one line per drill run, appended, never rewritten.
//!
//! The `drift` check reads the runs of the same scenario back before a new
//! run is appended, and `rollback-drill history` summarises them.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::json;

use crate::outcome::DrillOutcome;
/// The past runs' shape lives beside the checks that judge by them.
pub use crate::outcome::past::{HistoryCheck, HistoryRun, RunTargets, median};

mod table;
pub use table::table;

pub fn line(o: &DrillOutcome, version: &str, at: &str) -> String {
    let checks: Vec<_> = o
        .checks()
        .iter()
        .map(|c| json!({"name": c.name, "status": c.status, "measured_s": c.measured_s}))
        .collect();
    json!({
        "scenario": o.scenario,
        "scenario_hash": o.scenario_hash,
        "procedure_hash": o.procedure_hash,
        "seed": o.seed,
        "version": version,
        "at": at,
        "passed": o.passed(),
        "result": o.result(),
        "durations": o.durations(),
        "checks": checks,
        "backend": o.backend(),
        "time_scale": o.live.map(|l| l.time_scale),
        "change": o.change,
        "targets": RunTargets {
            detect: o.targets.detect.map(crate::scenario::Dur::secs_f64),
            decide: o.targets.decide.map(crate::scenario::Dur::secs_f64),
            restore: Some(o.restore_target.secs_f64()),
            mitigate: o.targets.mitigate.map(crate::scenario::Dur::secs_f64),
        },
    })
    .to_string()
}

pub fn append(
    file: &Path,
    outcomes: &[DrillOutcome],
    version: &str,
    at: &str,
) -> std::io::Result<()> {
    let mut text = String::new();
    // An interrupted drill measured too little to count as a run.
    // `--repeat`: one line per seed run.
    let runs = outcomes.iter().flat_map(|o| match &o.repeat {
        Some(r) => r.runs.iter().collect::<Vec<_>>(),
        None => vec![o],
    });
    for o in runs.filter(|o| o.ran && !o.live.is_some_and(|l| l.interrupted)) {
        text.push_str(&line(o, version, at));
        text.push('\n');
    }
    if text.is_empty() {
        return Ok(());
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(file)?;
    // A file edited by hand may lack its last newline: the first new
    // record would be glued onto that line and every later read fail.
    if ends_without_newline(&mut f)? {
        text.insert(0, '\n');
    }
    f.write_all(text.as_bytes())
}

fn ends_without_newline(f: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if f.metadata()?.len() == 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    f.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// A problem reading the history: the line and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: not a history record ({message}); remove or repair that line")]
    Line {
        file: String,
        line: usize,
        message: String,
    },
}

/// Every run in the file, oldest first, grouped by scenario. A missing file
/// is an empty history.
pub fn read(file: &Path) -> Result<BTreeMap<String, Vec<HistoryRun>>, HistoryError> {
    let name = file.display().to_string();
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(HistoryError::Io { file: name, source }),
    };
    let mut runs: BTreeMap<String, Vec<HistoryRun>> = BTreeMap::new();
    // Split on bytes, not `lines()`: an invalid UTF-8 byte must be an error
    // that names its line, not one about the whole stream.
    for (i, l) in std::io::BufReader::new(f).split(b'\n').enumerate() {
        let bad = |message: String| HistoryError::Line {
            file: name.clone(),
            line: i + 1,
            message,
        };
        let l = l.map_err(|source| HistoryError::Io {
            file: name.clone(),
            source,
        })?;
        let l = String::from_utf8(l).map_err(|e| {
            bad(format!(
                "invalid UTF-8 at byte {}",
                e.utf8_error().valid_up_to() + 1
            ))
        })?;
        // Editors on Windows may start the file with a byte order mark.
        let l = if i == 0 {
            l.strip_prefix('\u{feff}').unwrap_or(&l)
        } else {
            &l
        };
        if l.starts_with('\u{feff}') {
            return Err(bad(
                "a byte order mark inside the file, where only its first line may have one".into(),
            ));
        }
        if l.trim().is_empty() {
            continue;
        }
        let run: HistoryRun = serde_json::from_str(l).map_err(|e| bad(e.to_string()))?;
        runs.entry(run.scenario.clone()).or_default().push(run);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> DrillOutcome {
        let text = include_str!("../scenarios/prompt-error-spike-auto-rollback.yaml");
        let plan = crate::scenario::load_str(text, Path::new("spike.yaml")).unwrap();
        crate::sim::run(&plan)
    }

    fn error_of(bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.jsonl");
        std::fs::write(&file, bytes).unwrap();
        read(&file).unwrap_err().to_string()
    }

    #[test]
    fn a_record_is_not_glued_onto_a_last_line_without_newline() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.jsonl");
        let o = outcome();
        std::fs::write(&file, line(&o, "0.1.0", "then")).unwrap();
        append(&file, std::slice::from_ref(&o), "0.1.0", "now").unwrap();
        let runs = read(&file).unwrap();
        let at: Vec<_> = runs[&o.scenario].iter().map(|r| r.at.as_str()).collect();
        assert_eq!(at, ["then", "now"]);
    }

    #[test]
    fn a_byte_order_mark_before_the_first_record_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.jsonl");
        let o = outcome();
        let text = format!("\u{feff}{}\n", line(&o, "0.1.0", "then"));
        std::fs::write(&file, text).unwrap();
        assert_eq!(read(&file).unwrap()[&o.scenario].len(), 1);
    }

    #[test]
    fn every_error_names_the_line() {
        let good = line(&outcome(), "0.1.0", "then");
        let mut invalid_utf8 = format!("{good}\n").into_bytes();
        invalid_utf8.extend_from_slice(b"{\"scenario\": \"\xff\"}\n");
        let e = error_of(&invalid_utf8);
        assert!(e.contains("history.jsonl:2: "), "{e}");
        assert!(e.contains("UTF-8"), "{e}");
        let e = error_of(format!("{good}\n{good}\n\u{feff}{good}\n").as_bytes());
        assert!(e.contains("history.jsonl:3: "), "{e}");
        assert!(e.contains("byte order mark"), "{e}");
        let e = error_of(format!("{good}\nnot json\n").as_bytes());
        assert!(e.contains("history.jsonl:2: not a history record"), "{e}");
    }
}
