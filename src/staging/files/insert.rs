//! Inserting one item into a located sequence or mapping in the style of
//! the items already there: a YAML block item after the last one at the
//! same indentation, a flow (or JSON) item after the last one with the same
//! separator (same line, or a new line at the same indentation).

use super::tree::{Kind, Node};
use super::{Problem, after_line, column_of, dash_column};

/// An item to insert, in both forms; the writer picks the one that
/// matches its neighbours.
pub struct Item<'a> {
    /// Block form: the item's lines, the first one after `- `; nested
    /// lines carry their own indentation relative to the first key.
    pub block: &'a [String],
    /// Flow form, e.g. `{id: a, weight: 0}` or `["v2", 0]`.
    pub flow: &'a str,
}

/// The edit (an insertion at one byte offset) appending `item` to `seq`.
pub fn append_to_seq(text: &str, seq: &Node, item: &Item) -> Result<(usize, String), Problem> {
    let Some(items) = seq.items() else {
        return Err(Problem::new(
            seq.start,
            "expected a list",
            "write one `- item` per entry",
        ));
    };
    if seq.flow {
        let last = items.last().map(|n| (n.start, n.end));
        return Ok(append_flow(text, seq, last, item.flow));
    }
    let Some(last) = items.last() else {
        return Err(Problem::new(
            seq.start,
            "the list is empty",
            "list the entries that serve today",
        ));
    };
    let dash = dash_column(text, last.start);
    let (at, no_newline) = after_line(text, last.end);
    let mut out = String::new();
    if no_newline {
        out.push('\n');
    }
    let pad = " ".repeat(dash);
    if last.flow {
        out.push_str(&format!("{pad}- {}\n", item.flow));
        return Ok((at, out));
    }
    // The first key's column: `-   id:` keeps its spacing.
    let key_col = match &last.kind {
        Kind::Map(entries) => entries
            .first()
            .map_or(dash + 2, |(k, _)| column_of(text, k.start)),
        _ => column_of(text, last.start),
    }
    .max(dash + 2);
    for (i, line) in item.block.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("{pad}-{}{line}\n", " ".repeat(key_col - dash - 1)));
        } else {
            out.push_str(&format!("{}{line}\n", " ".repeat(key_col)));
        }
    }
    Ok((at, out))
}

/// Appends `flow_text` to a flow collection (YAML flow or JSON) after its
/// last element, or inside it when empty. `last` is the last element's
/// first byte (a key's, in a mapping) and the byte past its end.
pub fn append_flow(
    text: &str,
    coll: &Node,
    last: Option<(usize, usize)>,
    flow_text: &str,
) -> (usize, String) {
    let Some((start, end)) = last else {
        // `[]` or `{}`: between the brackets.
        return (coll.end.saturating_sub(1), flow_text.to_string());
    };
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..start];
    let own_line = before.trim().is_empty() && line_start > coll.start;
    if own_line {
        (end, format!(",\n{before}{flow_text}"))
    } else {
        (end, format!(", {flow_text}"))
    }
}

/// The span of a mapping's last entry, key to value.
pub fn last_entry(map: &Node) -> Option<(usize, usize)> {
    map.entries().last().map(|(k, v)| (k.start, v.end))
}

/// The span of a sequence's last item.
pub fn last_item(seq: &Node) -> Option<(usize, usize)> {
    seq.items()?.last().map(|n| (n.start, n.end))
}

/// The edit adding `key: value` to a YAML mapping (block or flow).
pub fn add_to_map(
    text: &str,
    map: &Node,
    key: &str,
    value: &str,
) -> Result<(usize, String), Problem> {
    let entries = map.entries();
    if map.flow {
        let pair = format!("{key}: {value}");
        return Ok(append_flow(text, map, last_entry(map), &pair));
    }
    let Some((first, _)) = entries.first() else {
        return Err(Problem::new(
            map.start,
            "expected a mapping",
            "write `key: value` lines",
        ));
    };
    let col = column_of(text, first.start);
    let (at, no_newline) = after_line(text, map.end);
    let lead = if no_newline { "\n" } else { "" };
    Ok((at, format!("{lead}{}{key}: {value}\n", " ".repeat(col))))
}

#[cfg(test)]
mod tests {
    use super::super::apply;
    use super::super::tree::{parse_json, parse_yaml};
    use super::*;

    fn insert_yaml(text: &str) -> String {
        let root = parse_yaml(text).expect("valid");
        let seq = root.get("l").expect("l");
        let block = ["id: n".to_string(), "w: 0".to_string()];
        let (at, s) = append_to_seq(
            text,
            seq,
            &Item {
                block: &block,
                flow: "{id: n, w: 0}",
            },
        )
        .expect("inserted");
        apply(text, vec![(at..at, s)])
    }

    #[test]
    fn yaml_items_follow_their_neighbours() {
        assert_eq!(
            insert_yaml("l:\n    -   id: a\n        w: 1 # one\n# after\nz: 1"),
            "l:\n    -   id: a\n        w: 1 # one\n    -   id: n\n        w: 0\n# after\nz: 1"
        );
        assert_eq!(
            insert_yaml("l:\n- {id: a, w: 1}"),
            "l:\n- {id: a, w: 1}\n- {id: n, w: 0}\n"
        );
        assert_eq!(
            insert_yaml("l: [{id: a}]\n"),
            "l: [{id: a}, {id: n, w: 0}]\n"
        );
        assert_eq!(insert_yaml("l: []\n"), "l: [{id: n, w: 0}]\n");
    }

    #[test]
    fn json_items_keep_the_layout() {
        let text = "{\n  \"v\": {\n    \"a\": 1\n  },\n  \"s\": [[\"a\", 1]]\n}";
        let root = parse_json(text).expect("valid");
        let v = root.get("v").unwrap();
        let (at, s) = append_flow(text, v, last_entry(v), "\"b\": 2");
        let seq = root.get("s").unwrap();
        let s2 = append_flow(text, seq, last_item(seq), "[\"b\", 0]");
        let out = apply(text, vec![(at..at, s), (s2.0..s2.0, s2.1)]);
        assert_eq!(
            out,
            "{\n  \"v\": {\n    \"a\": 1,\n    \"b\": 2\n  },\n  \"s\": [[\"a\", 1], [\"b\", 0]]\n}"
        );
    }

    #[test]
    fn keys_join_a_mapping_at_its_indentation() {
        let text = "p:\n  m: x # c\nq: 1\n";
        let root = parse_yaml(text).unwrap();
        let (at, s) = add_to_map(text, root.get("p").unwrap(), "weight", "5").unwrap();
        assert_eq!(
            apply(text, vec![(at..at, s)]),
            "p:\n  m: x # c\n  weight: 5\nq: 1\n"
        );
        let text = "p: {m: x}\n";
        let root = parse_yaml(text).unwrap();
        let (at, s) = add_to_map(text, root.get("p").unwrap(), "weight", "5").unwrap();
        assert_eq!(apply(text, vec![(at..at, s)]), "p: {m: x, weight: 5}\n");
    }
}
