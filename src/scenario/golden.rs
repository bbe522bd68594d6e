//! The golden set: the prompts a real-staging drill sends and the text a
//! good answer contains (`traffic.golden: FILE.jsonl`, or a built-in set).
//!
//! Quality against a real system is graded, not drawn: an answer is good
//! when it contains its prompt's `expect`. The file is JSON Lines, one
//! `{"prompt": "...", "expect": "..."}` per line; blank lines are skipped.
//! Every bad line is reported with its line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::diagnostic::Diagnostic;
use super::yaml::Mark;

/// One golden request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenCase {
    pub prompt: String,
    pub expect: String,
}

/// The prompts of a drill, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldenSet {
    /// The file they came from; `None` for the built-in set.
    pub source: Option<PathBuf>,
    pub cases: Vec<GoldenCase>,
}

/// The built-in set: questions with one short, unambiguous answer each.
const BUILTIN: &[(&str, &str)] = &[
    ("What is the capital of France?", "Paris"),
    ("How many days are in a leap year?", "366"),
    ("What is 12 times 12?", "144"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("In which year did Apollo 11 land on the Moon?", "1969"),
    (
        "At what Celsius temperature does water boil at sea level?",
        "100",
    ),
    ("How many minutes are in two hours?", "120"),
    ("What is the largest ocean on Earth?", "Pacific"),
];

impl Default for GoldenSet {
    fn default() -> GoldenSet {
        GoldenSet::builtin()
    }
}

impl GoldenSet {
    pub fn builtin() -> GoldenSet {
        GoldenSet {
            source: None,
            cases: BUILTIN
                .iter()
                .map(|(p, e)| GoldenCase {
                    prompt: (*p).to_string(),
                    expect: (*e).to_string(),
                })
                .collect(),
        }
    }

    /// The `expect` of a prompt, if the set has it.
    pub fn expect_of(&self, prompt: &str) -> Option<&str> {
        self.cases
            .iter()
            .find(|c| c.prompt == prompt)
            .map(|c| c.expect.as_str())
    }

    /// Reads a JSON Lines file; every bad line is one diagnostic.
    pub fn load(file: &Path) -> Result<GoldenSet, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            vec![Diagnostic::file_level(
                file,
                format!("cannot read the golden set: {e}"),
                "write one `{\"prompt\": \"...\", \"expect\": \"...\"}` per line",
            )]
        })?;
        GoldenSet::parse(&text, file)
    }

    pub fn parse(text: &str, file: &Path) -> Result<GoldenSet, Vec<Diagnostic>> {
        let mut cases = Vec::new();
        let mut problems = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let at = |line: usize, column: usize, message: String, hint: &str| {
            Diagnostic::new(
                file,
                Mark { line, column },
                format!("line {line}"),
                message,
                hint.to_string(),
            )
        };
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let case: GoldenCase = match serde_json::from_str(raw) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(at(
                        line,
                        e.column().max(1),
                        format!("not a golden case: {e}"),
                        "write `{\"prompt\": \"...\", \"expect\": \"...\"}` on one line",
                    ));
                    continue;
                }
            };
            let column = raw.len() - raw.trim_start().len() + 1;
            if case.prompt.trim().is_empty() {
                problems.push(at(
                    line,
                    column,
                    "the prompt is empty".into(),
                    "write the request's text",
                ));
                continue;
            }
            if case.expect.trim().is_empty() {
                problems.push(at(
                    line,
                    column,
                    "`expect` is empty: every answer would be good".into(),
                    "write the text a good answer contains, e.g. `\"expect\": \"Paris\"`",
                ));
                continue;
            }
            if let Some(first) = seen.insert(case.prompt.clone(), line) {
                problems.push(at(
                    line,
                    column,
                    format!("this prompt is already on line {first}"),
                    "keep each prompt once: the mock answers a prompt by its `expect`",
                ));
                continue;
            }
            cases.push(case);
        }
        if cases.is_empty() && problems.is_empty() {
            problems.push(Diagnostic::file_level(
                file,
                "the golden set holds no cases".into(),
                "write one `{\"prompt\": \"...\", \"expect\": \"...\"}` per line",
            ));
        }
        if problems.is_empty() {
            Ok(GoldenSet {
                source: Some(file.to_path_buf()),
                cases,
            })
        } else {
            Err(problems)
        }
    }
}

/// Whether an answer is good: it contains the expected text (exactly, as
/// written; case counts).
pub fn is_good(answer: &str, expect: &str) -> bool {
    answer.contains(expect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        GoldenSet::parse(text, Path::new("g.jsonl"))
            .expect_err("invalid")
            .into_iter()
            .map(|d| format!("{}:{} {}: {}", d.line, d.column, d.path, d.message))
            .collect()
    }

    #[test]
    fn a_file_parses_in_order_skipping_blank_lines() {
        let set = GoldenSet::parse(
            "{\"prompt\": \"a?\", \"expect\": \"A\"}\n\n  {\"expect\": \"B\", \"prompt\": \"b?\"}\n",
            Path::new("g.jsonl"),
        )
        .expect("valid");
        assert_eq!(set.cases.len(), 2);
        assert_eq!(set.expect_of("b?"), Some("B"));
        assert_eq!(set.expect_of("c?"), None);
        assert_eq!(set.source.as_deref(), Some(Path::new("g.jsonl")));
    }

    #[test]
    fn every_bad_line_is_located() {
        let found = problems(
            "{\"prompt\": \"a\", \"expect\": \"A\"}
{\"prompt\": \"b\"}
not json
{\"prompt\": \"c\", \"expect\": \"\"}
{\"prompt\": \" \", \"expect\": \"x\"}
 {\"prompt\": \"a\", \"expect\": \"A2\"}
{\"prompt\": \"d\", \"expect\": \"D\", \"weight\": 2}
",
        );
        assert_eq!(
            found,
            [
                "2:15 line 2: not a golden case: missing field `expect` at line 1 column 15",
                "3:2 line 3: not a golden case: expected ident at line 1 column 2",
                "4:1 line 4: `expect` is empty: every answer would be good",
                "5:1 line 5: the prompt is empty",
                "6:2 line 6: this prompt is already on line 1",
                "7:39 line 7: not a golden case: unknown field `weight`, expected `prompt` or `expect` at line 1 column 39",
            ]
        );
    }

    #[test]
    fn an_empty_file_is_an_error() {
        assert_eq!(
            problems("\n\n"),
            ["1:1 (document): the golden set holds no cases"]
        );
    }

    #[test]
    fn the_builtin_set_has_distinct_prompts_and_grades_by_containment() {
        let set = GoldenSet::builtin();
        assert!(set.cases.len() >= 5);
        let mut prompts: Vec<&str> = set.cases.iter().map(|c| c.prompt.as_str()).collect();
        prompts.sort();
        prompts.dedup();
        assert_eq!(prompts.len(), set.cases.len());
        assert!(is_good("It is Paris.", "Paris"));
        assert!(!is_good("It is paris.", "Paris"));
    }
}
