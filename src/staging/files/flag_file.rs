//! A flagd / OpenFeature flag file (JSON): a flag's `variants` and the
//! `fractional` split in its `targeting`, e.g.
//! `{"fractional": [["v1", 75], ["v2", 25]]}`. flagd has no write API: the
//! file is the source of truth, so a rollback rewrites the split.

use super::insert::{append_flow, last_entry, last_item};
use super::tree::{Kind, Node, parse_json};
use super::{Entry, NewEntry, Problem, apply, weight_text};

fn flag<'a>(root: &'a Node, name: &str) -> Result<Option<&'a Node>, Problem> {
    let Some(flags) = root.get("flags") else {
        return Err(Problem::new(
            root.start,
            "no `flags` object",
            "a flagd file holds `{\"flags\": {\"NAME\": {...}}}`",
        ));
    };
    Ok(flags.get(name))
}

/// The first `fractional` array anywhere in the flag's targeting.
fn fractional(node: &Node) -> Option<&Node> {
    match &node.kind {
        Kind::Map(entries) => entries.iter().find_map(|(k, v)| {
            if k.as_str() == Some("fractional") && v.items().is_some() {
                Some(v)
            } else {
                fractional(v)
            }
        }),
        Kind::Seq(items) => items.iter().find_map(fractional),
        Kind::Scalar(..) => None,
    }
}

/// The split's buckets: `[variant, weight?]` arrays (a bucketing
/// expression, an object, may come first and is skipped).
fn buckets(split: &Node) -> Vec<&Node> {
    split
        .items()
        .unwrap_or_default()
        .iter()
        .filter(|b| {
            b.items()
                .and_then(|i| i.first())
                .and_then(Node::as_str)
                .is_some()
        })
        .collect()
}

fn split_of<'a>(root: &'a Node, name: &str) -> Result<Option<(&'a Node, &'a Node)>, Problem> {
    let Some(f) = flag(root, name)? else {
        return Ok(None);
    };
    let split = f.get("targeting").and_then(fractional).ok_or_else(|| {
        Problem::new(
            f.start,
            format!("flag `{name}` has no `fractional` split in its `targeting`"),
            "split traffic with `\"targeting\": {\"fractional\": [[\"v1\", 90], [\"v2\", 10]]}`",
        )
    })?;
    Ok(Some((f, split)))
}

fn parse(text: &str) -> Result<Node, Problem> {
    parse_json(text).map_err(|e| Problem::from((e, text)))
}

pub fn entries(text: &str, name: &str) -> Result<Option<Vec<Entry>>, Problem> {
    let root = parse(text)?;
    let Some((_, split)) = split_of(&root, name)? else {
        return Ok(None);
    };
    Ok(Some(
        buckets(split)
            .into_iter()
            .map(|b| {
                let items = b.items().unwrap_or_default();
                let variant = items[0].as_str().unwrap_or_default().to_string();
                Entry {
                    id: variant.clone(),
                    version: variant,
                    weight: items.get(1).and_then(Node::as_f64),
                }
            })
            .collect(),
    ))
}

/// The variants the split names that `variants` does not define: flagd
/// answers an error for the share of traffic bucketed to them.
pub fn missing_variants(text: &str, name: &str) -> Result<Vec<String>, Problem> {
    let root = parse(text)?;
    let Some((f, split)) = split_of(&root, name)? else {
        return Err(no_flag(name));
    };
    let variants = f.get("variants");
    Ok(buckets(split)
        .into_iter()
        .filter_map(|b| b.items()?.first()?.as_str())
        .filter(|v| variants.and_then(|vs| vs.get(v)).is_none())
        .map(str::to_string)
        .collect())
}

fn no_flag(name: &str) -> Problem {
    Problem::new(
        0,
        format!("the flag file has no flag `{name}`"),
        "the flag was renamed or deleted: check `staging.flag`",
    )
}

pub fn set_weights(text: &str, name: &str, weights: &[(String, f64)]) -> Result<String, Problem> {
    let root = parse(text)?;
    let (_, split) = split_of(&root, name)?.ok_or_else(|| no_flag(name))?;
    let buckets = buckets(split);
    let mut edits = Vec::new();
    for (variant, w) in weights {
        let b = buckets
            .iter()
            .find(|b| b.items().and_then(|i| i.first()).and_then(Node::as_str) == Some(variant))
            .ok_or_else(|| {
                Problem::new(
                    split.start,
                    format!("the split of flag `{name}` has no variant `{variant}`"),
                    "the variant was removed from the split",
                )
            })?;
        let w = weight_text(w.round());
        match b.items().and_then(|i| i.get(1)) {
            Some(old) => edits.push((old.start..old.end, w)),
            // `["v1"]` weighs 1: the weight goes in before the `]`.
            None => edits.push((b.end - 1..b.end - 1, format!(", {w}"))),
        }
    }
    Ok(apply(text, edits))
}

/// Adds the release's variant (its value the mock's base URL) and its
/// bucket in the split.
pub fn add(text: &str, name: &str, new: &NewEntry) -> Result<String, Problem> {
    let root = parse(text)?;
    let (f, split) = split_of(&root, name)?.ok_or_else(|| no_flag(name))?;
    let variants = f
        .get("variants")
        .filter(|v| matches!(v.kind, Kind::Map(_)))
        .ok_or_else(|| {
            Problem::new(
                f.start,
                format!("flag `{name}` has no `variants` object"),
                "define the flag's variants",
            )
        })?;
    let key = serde_json::Value::from(new.version.as_str()).to_string();
    let value = serde_json::Value::from(new.base_url.as_str()).to_string();
    let v = append_flow(
        text,
        variants,
        last_entry(variants),
        &format!("{key}: {value}"),
    );
    let bucket = format!("[{key}, {}]", weight_text(new.weight.round()));
    let s = append_flow(text, split, last_item(split), &bucket);
    Ok(apply(text, vec![(v.0..v.0, v.1), (s.0..s.0, s.1)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
  "$schema": "https://flagd.dev/schema/v0/flags.json",
  "flags": {
    "support-llm-route": {
      "state": "ENABLED",
      "variants": {
        "v1": "http://127.0.0.1:1/mock/v1/v1",
        "v0": "http://127.0.0.1:1/mock/v0/v1"
      },
      "defaultVariant": "v1",
      "targeting": {
        "if": [true, {"fractional": [{"cat": [{"var": "$flagd.flagKey"}, {"var": "user"}]}, ["v1", 75], ["v0"]]}, "v1"]
      }
    },
    "other": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}
  }
}
"#;

    #[test]
    fn the_split_is_read_wherever_it_sits() {
        let e = entries(FILE, "support-llm-route").unwrap().unwrap();
        let got: Vec<(&str, Option<f64>)> = e.iter().map(|e| (e.id.as_str(), e.weight)).collect();
        assert_eq!(got, [("v1", Some(75.0)), ("v0", None)]);
        assert_eq!(entries(FILE, "gone").unwrap(), None);
        let err = entries(FILE, "other").unwrap_err();
        assert_eq!(
            err.message,
            "flag `other` has no `fractional` split in its `targeting`"
        );
        assert!(
            missing_variants(FILE, "support-llm-route")
                .unwrap()
                .is_empty()
        );
        let drifted = FILE.replace("\"v0\": \"http", "\"v0-old\": \"http");
        assert_eq!(
            missing_variants(&drifted, "support-llm-route").unwrap(),
            ["v0"]
        );
    }

    #[test]
    fn weights_change_and_nothing_else() {
        let out = set_weights(
            FILE,
            "support-llm-route",
            &[("v1".into(), 0.0), ("v0".into(), 100.0)],
        )
        .unwrap();
        assert_eq!(
            out,
            FILE.replace("[\"v1\", 75], [\"v0\"]", "[\"v1\", 0], [\"v0\", 100]")
        );
        assert!(set_weights(FILE, "support-llm-route", &[("v9".into(), 1.0)]).is_err());
    }

    #[test]
    fn the_release_adds_a_variant_and_a_bucket() {
        let new = NewEntry {
            id: "v2".into(),
            version: "v2".into(),
            base_url: "http://127.0.0.1:1/mock/v2/v1".into(),
            weight: 0.0,
        };
        let out = add(FILE, "support-llm-route", &new).unwrap();
        let want = FILE
            .replace(
                "\"v0\": \"http://127.0.0.1:1/mock/v0/v1\"\n",
                "\"v0\": \"http://127.0.0.1:1/mock/v0/v1\",\n        \"v2\": \"http://127.0.0.1:1/mock/v2/v1\"\n",
            )
            .replace("[\"v0\"]]", "[\"v0\"], [\"v2\", 0]]");
        assert_eq!(out, want);
        serde_json::from_str::<serde_json::Value>(&out).expect("still JSON");
        assert!(
            missing_variants(&out, "support-llm-route")
                .unwrap()
                .is_empty()
        );
    }
}
