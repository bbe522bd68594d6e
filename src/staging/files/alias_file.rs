//! The gateway alias file: `aliases: NAME: candidates: [{id, version_pin,
//! weight}]`, the shape of the scenario's `registry.routes`.

use super::insert::{Item, append_to_seq};
use super::tree::{Node, parse_yaml};
use super::{Entry, NewEntry, Problem, apply, weight_text, yaml_scalar};

/// The candidates of `alias`; `None` if the file has no such alias.
fn candidates<'a>(root: &'a Node, alias: &str) -> Result<Option<&'a Node>, Problem> {
    let Some(aliases) = root.get("aliases") else {
        return Err(Problem::new(
            root.start,
            "no `aliases:` mapping",
            "a gateway alias file maps `aliases: NAME: candidates: [...]`",
        ));
    };
    let Some(route) = aliases.get(alias) else {
        return Ok(None);
    };
    match route.get("candidates") {
        Some(c) if c.items().is_some() => Ok(Some(c)),
        _ => Err(Problem::new(
            route.start,
            format!("alias `{alias}` has no `candidates:` list"),
            "list `- {id, version_pin, weight}` under `candidates:`",
        )),
    }
}

fn entry(c: &Node) -> Result<Entry, Problem> {
    let field = |k: &str| {
        c.get(k)
            .and_then(Node::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                Problem::new(
                    c.start,
                    format!("a candidate without `{k}`"),
                    "each candidate has `id`, `version_pin` and `weight`",
                )
            })
    };
    Ok(Entry {
        id: field("id")?,
        version: field("version_pin")?,
        weight: c.get("weight").and_then(Node::as_f64),
    })
}

pub fn entries(text: &str, alias: &str) -> Result<Option<Vec<Entry>>, Problem> {
    let root = parse_yaml(text).map_err(|e| Problem::from((e, text)))?;
    let Some(seq) = candidates(&root, alias)? else {
        return Ok(None);
    };
    seq.items()
        .unwrap_or_default()
        .iter()
        .map(entry)
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn no_alias(alias: &str) -> Problem {
    Problem::new(
        0,
        format!("the alias file has no alias `{alias}`"),
        "the route was renamed or removed: check `staging.alias`",
    )
}

/// The text with the weights of the candidates named by id replaced.
pub fn set_weights(text: &str, alias: &str, weights: &[(String, f64)]) -> Result<String, Problem> {
    let root = parse_yaml(text).map_err(|e| Problem::from((e, text)))?;
    let seq = candidates(&root, alias)?.ok_or_else(|| no_alias(alias))?;
    let mut edits = Vec::new();
    for (id, w) in weights {
        let cand = seq
            .items()
            .unwrap_or_default()
            .iter()
            .find(|c| c.get("id").and_then(Node::as_str) == Some(id))
            .ok_or_else(|| {
                Problem::new(
                    seq.start,
                    format!("alias `{alias}` has no candidate `{id}`"),
                    "the candidate was removed from the file",
                )
            })?;
        let weight = cand.get("weight").ok_or_else(|| {
            Problem::new(
                cand.start,
                format!("candidate `{id}` has no `weight`"),
                "give every candidate a `weight`",
            )
        })?;
        edits.push((
            weight.start..weight.end,
            quoted_like(weight, &weight_text(*w)),
        ));
    }
    Ok(apply(text, edits))
}

/// A replacement scalar in the quoting of the one it replaces.
pub fn quoted_like(old: &Node, new: &str) -> String {
    if old.quoted() {
        format!("\"{new}\"")
    } else {
        new.to_string()
    }
}

/// The text with the release's candidate after the alias's last one. The
/// format has no URL field (a gateway maps a candidate's `id` to a
/// backend), so the file gets only `id`, `version_pin` and `weight`; the
/// stand-in app maps the version to the mock's base URL itself.
pub fn add(text: &str, alias: &str, new: &NewEntry) -> Result<String, Problem> {
    let root = parse_yaml(text).map_err(|e| Problem::from((e, text)))?;
    let seq = candidates(&root, alias)?.ok_or_else(|| no_alias(alias))?;
    let w = weight_text(new.weight);
    let block = [
        format!("id: {}", yaml_scalar(&new.id, false)),
        format!("version_pin: {}", yaml_scalar(&new.version, false)),
        format!("weight: {w}"),
    ];
    let flow = format!(
        "{{id: {}, version_pin: {}, weight: {w}}}",
        yaml_scalar(&new.id, true),
        yaml_scalar(&new.version, true),
    );
    let (at, s) = append_to_seq(
        text,
        seq,
        &Item {
            block: &block,
            flow: &flow,
        },
    )?;
    Ok(apply(text, vec![(at..at, s)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# A gateway's alias file.
aliases:
  smart-reasoner:   # the reasoning tier
    candidates:
      - id: anthropic:claude-sonnet-4-5:ap-south-1
        version_pin: claude-sonnet-4-5
        weight: 90    # most traffic
      - {id: 'eu', version_pin: \"claude-sonnet-4-5-eu\", weight: \"10\"}
  # the fast tier
  fast-answer:
    candidates:
      - id: haiku
        version_pin: claude-haiku-4-5
        weight: 100
";

    #[test]
    fn the_route_is_read_with_its_weights() {
        let e = entries(FILE, "smart-reasoner").unwrap().expect("the alias");
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[1].id.as_str(), e[1].version.as_str(), e[1].weight),
            ("eu", "claude-sonnet-4-5-eu", Some(10.0))
        );
        assert_eq!(entries(FILE, "gone").unwrap(), None);
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/aliases/gateway-aliases.yaml"
        ))
        .unwrap();
        assert_eq!(
            entries(&shipped, "fast-answer").unwrap().unwrap()[0].weight,
            Some(100.0)
        );
    }

    #[test]
    fn only_the_weights_change() {
        let out = set_weights(
            FILE,
            "smart-reasoner",
            &[
                ("anthropic:claude-sonnet-4-5:ap-south-1".into(), 100.0),
                ("eu".into(), 0.0),
            ],
        )
        .unwrap();
        let want = FILE
            .replace("weight: 90    #", "weight: 100    #")
            .replace("weight: \"10\"}", "weight: \"0\"}");
        assert_eq!(out, want);
        let err = set_weights(FILE, "smart-reasoner", &[("nope".into(), 1.0)]).unwrap_err();
        assert_eq!(
            err.message,
            "alias `smart-reasoner` has no candidate `nope`"
        );
        assert!(set_weights(FILE, "gone", &[]).is_err());
    }

    #[test]
    fn the_release_joins_after_the_last_candidate() {
        let new = NewEntry {
            id: "mock:v2".into(),
            version: "v2".into(),
            base_url: "http://127.0.0.1:7/mock/v2/v1".into(),
            weight: 0.0,
        };
        let out = add(FILE, "fast-answer", &new).unwrap();
        let want =
            FILE.to_string() + "      - id: mock:v2\n        version_pin: v2\n        weight: 0\n";
        assert_eq!(out, want);
        let out = add(FILE, "smart-reasoner", &new).unwrap();
        assert!(out.contains("weight: \"10\"}\n      - {id: \"mock:v2\", version_pin: v2, weight: 0}\n  # the fast tier"), "{out}");
        let e = entries(&out, "smart-reasoner").unwrap().unwrap();
        assert_eq!((e[2].id.as_str(), e[2].weight), ("mock:v2", Some(0.0)));
    }
}
