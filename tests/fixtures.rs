//! Invalid scenario fixtures: every file in `fixtures/invalid/` is a
//! near-copy of a valid scenario with a mistake in it, and says in its
//! header which diagnostics validation must report:
//!
//! ```text
//! # expect: LINE:COLUMN PATH: MESSAGE
//! # hint: TEXT
//! ```
//!
//! `LINE:COLUMN`, `PATH` and `MESSAGE` must match a diagnostic exactly; the
//! optional `# hint:` line belongs to the `# expect:` line above it and must
//! be contained in that diagnostic's hint. A file may hold several
//! `# expect:` lines (validation reports every problem at once); it must
//! hold at least one, and validation may report nothing it does not expect.
//! New fixtures are picked up without touching this file.

mod common;

use std::path::{Path, PathBuf};

use common::bin as run_binary;

use rollback_drill::scenario::{self, Diagnostic};

const FIXTURES: &str = "fixtures/invalid";

/// One `# expect:` line and its optional `# hint:`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    line: usize,
    column: usize,
    path: String,
    message: String,
    hint: Option<String>,
}

impl Expected {
    fn matches(&self, d: &Diagnostic) -> bool {
        d.line == self.line
            && d.column == self.column
            && d.path == self.path
            && d.message == self.message
    }

    fn location(&self) -> String {
        format!(
            "{}:{} {}: {}",
            self.line, self.column, self.path, self.message
        )
    }
}

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file in the fixture folder (dotfiles aside), sorted.
fn fixture_files() -> Vec<PathBuf> {
    let dir = manifest_dir().join(FIXTURES);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a readable folder entry").path())
        .filter(|path| path.is_file())
        .filter(|path| {
            !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Parses the header: the leading run of `#` lines. Other comment lines in
/// it are free text.
fn parse_header(text: &str) -> Result<Vec<Expected>, String> {
    let mut expected: Vec<Expected> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let comment = comment.trim_start();
        let at = |e: String| format!("header line {}: {e}", n + 1);
        if let Some(rest) = comment.strip_prefix("expect:") {
            expected.push(parse_expect(rest.trim()).map_err(at)?);
        } else if let Some(rest) = comment.strip_prefix("hint:") {
            let hint = rest.trim();
            match expected.last_mut() {
                None => return Err(at("`# hint:` before any `# expect:` line".into())),
                Some(e) if e.hint.is_some() => {
                    return Err(at("two `# hint:` lines for one `# expect:` line".into()));
                }
                Some(_) if hint.is_empty() => return Err(at("empty `# hint:`".into())),
                Some(e) => e.hint = Some(hint.to_string()),
            }
        }
    }
    if expected.is_empty() {
        return Err(
            "no `# expect: LINE:COLUMN PATH: MESSAGE` header: every fixture must say what \
             validation reports"
                .into(),
        );
    }
    Ok(expected)
}

/// `LINE:COLUMN PATH: MESSAGE`.
fn parse_expect(text: &str) -> Result<Expected, String> {
    let shape = "expected `# expect: LINE:COLUMN PATH: MESSAGE`";
    let (location, rest) = text
        .split_once(' ')
        .ok_or_else(|| format!("{shape}, found `{text}`"))?;
    let (line, column) = location
        .split_once(':')
        .ok_or_else(|| format!("{shape}: `{location}` is not LINE:COLUMN"))?;
    let number = |s: &str| {
        s.parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{shape}: `{location}` is not a 1-based LINE:COLUMN"))
    };
    let (path, message) = rest
        .split_once(": ")
        .ok_or_else(|| format!("{shape}: no `PATH: MESSAGE` in `{rest}`"))?;
    if path.is_empty() || message.is_empty() {
        return Err(format!("{shape}: empty PATH or MESSAGE in `{rest}`"));
    }
    Ok(Expected {
        line: number(line)?,
        column: number(column)?,
        path: path.to_string(),
        message: message.to_string(),
        hint: None,
    })
}

fn render(d: &Diagnostic) -> String {
    format!(
        "{}:{} {}: {}\n      hint: {}",
        d.line, d.column, d.path, d.message, d.hint
    )
}

/// Loads one fixture and compares what validation reports with its header.
fn check_fixture(file: &Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(file).map_err(|e| format!("cannot read the fixture: {e}"))?;
    let expected = parse_header(&text)?;
    let diags = match scenario::load_file(file) {
        Ok(plan) => {
            return Err(format!(
                "loaded as a valid scenario (`{}`), expected diagnostics",
                plan.name
            ));
        }
        Err(diags) => diags,
    };
    let mut used = vec![false; diags.len()];
    let mut problems = Vec::new();
    for e in &expected {
        let found = diags
            .iter()
            .enumerate()
            .find(|(i, d)| !used[*i] && e.matches(d));
        match found {
            None => problems.push(format!("missing:    {}", e.location())),
            Some((i, d)) => {
                used[i] = true;
                match &e.hint {
                    Some(hint) if !d.hint.contains(hint.as_str()) => {
                        problems.push(format!(
                            "wrong hint: {}\n      hint `{}` does not contain `{hint}`",
                            e.location(),
                            d.hint
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    for (d, _) in diags.iter().zip(&used).filter(|(_, used)| !**used) {
        problems.push(format!("unexpected: {}", render(d)));
    }
    if problems.is_empty() {
        return Ok(());
    }
    let reported: Vec<String> = diags.iter().map(|d| format!("  {}", render(d))).collect();
    Err(format!(
        "{}\n  validation reported:\n{}",
        problems.join("\n  "),
        reported.join("\n")
    ))
}

#[test]
fn every_invalid_fixture_reports_exactly_its_expected_diagnostics() {
    let files = fixture_files();
    assert!(!files.is_empty(), "no fixtures in {FIXTURES}/");
    let failures: Vec<String> = files
        .iter()
        .filter_map(|file| {
            check_fixture(file).err().map(|e| {
                let name = file.strip_prefix(manifest_dir()).unwrap_or(file);
                format!("{}:\n  {e}", name.display())
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixture(s) failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_fixture_without_an_expect_header_fails() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("no-header.yaml");
    std::fs::write(&file, "# a comment, but no expectation\nname: x\n").expect("write");
    let err = check_fixture(&file).expect_err("a fixture without `# expect:` must fail");
    assert!(err.contains("no `# expect:"), "{err}");
}

#[test]
fn header_lines_parse_into_expectations() {
    let text = "# expect: 3:15 procedure[2].execute.mechansim: unknown field `mechansim`\n\
                # hint: did you mean `mechanism`?\n\
                # free comment\n\
                # expect: 1:1 (document): a: b\n\
                name: x\n\
                # expect: 9:9 not: a header any more\n";
    let expected = parse_header(text).expect("a valid header");
    assert_eq!(
        expected,
        vec![
            Expected {
                line: 3,
                column: 15,
                path: "procedure[2].execute.mechansim".into(),
                message: "unknown field `mechansim`".into(),
                hint: Some("did you mean `mechanism`?".into()),
            },
            Expected {
                line: 1,
                column: 1,
                path: "(document)".into(),
                message: "a: b".into(),
                hint: None,
            },
        ]
    );
    for bad in [
        "# hint: orphan\n",
        "# expect: 3 path: message\n",
        "# expect: 0:1 path: message\n",
        "# expect: 3:1 path-without-message\n",
        "# expect: 3:1 p: m\n# hint: a\n# hint: b\n",
    ] {
        assert!(parse_header(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn validate_command_prints_a_located_diagnostic_and_exits_2() {
    let file = format!("{FIXTURES}/unknown-nested-field.yaml");
    let text = std::fs::read_to_string(manifest_dir().join(&file)).expect("the fixture exists");
    let expected = parse_header(&text).expect("the fixture has a header");
    let out = run_binary(&["validate", &file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    for e in &expected {
        let line = format!("{file}:{}:{}: {}: {}", e.line, e.column, e.path, e.message);
        assert!(stderr.contains(&line), "stderr lacks `{line}`:\n{stderr}");
    }
}

#[test]
fn validate_command_accepts_the_shipped_scenarios() {
    let out = run_binary(&["validate", "scenarios/"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
