//! YAML text → a tree of nodes that remember their line and column → serde.
//!
//! We parse YAML ourselves (on yaml-rust2's event parser) instead of handing
//! text straight to a serde YAML crate, for two reasons. Every error can then
//! name the exact node it is about — line, column and field path — including
//! errors found after parsing (weights that do not sum to 100) which serde
//! never sees. And the loader can deserialize each section of a scenario on
//! its own, so one bad section does not hide the problems of the others.

use std::collections::{HashMap, HashSet};
use std::fmt;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

mod de;
mod syntax;

pub use de::{DeError, edit_distance, from_node, suggest};

/// A 1-based line and column in a scenario file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    pub line: usize,
    pub column: usize,
}

impl From<Marker> for Mark {
    fn from(m: Marker) -> Mark {
        Mark {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    Null,
    /// A scalar; `plain` is false for quoted and block scalars, which are
    /// always strings.
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: NodeKind,
    pub mark: Mark,
}

impl Node {
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// The mark of the deepest node on `path` (for a key, the key itself),
    /// so a problem found after parsing still points at its line.
    pub fn locate(&self, path: &Path) -> Mark {
        let mut node = self;
        let mut mark = self.mark;
        for seg in &path.0 {
            let next = match (seg, &node.kind) {
                (Seg::Key(k), NodeKind::Map(entries)) => entries
                    .iter()
                    .find(|(key, _)| key.as_str() == Some(k.as_str()))
                    .map(|(key, value)| (key.mark, value)),
                (Seg::Index(i), NodeKind::Seq(items)) => items.get(*i).map(|n| (n.mark, n)),
                _ => None,
            };
            match next {
                Some((m, n)) => {
                    mark = m;
                    node = n;
                }
                None => break,
            }
        }
        mark
    }
}

/// A field path such as `procedure[3].execute.mechanism`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(pub Vec<Seg>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl Path {
    pub fn root() -> Path {
        Path(Vec::new())
    }

    pub fn key(&self, k: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    pub fn index(&self, i: usize) -> Path {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A syntax error in the YAML itself.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub mark: Mark,
    pub message: String,
    pub hint: std::borrow::Cow<'static, str>,
}

const SYNTAX_HINT: &str = "fix the YAML syntax (indent with spaces, close quotes and brackets)";

/// Parses the first YAML document of `text`. An empty file is a `Null` node.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    // Editors on Windows may save a byte order mark; the YAML parser would
    // read it as part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, true) {
        // The scanner notices an unclosed `{` or `[` only where the next
        // thing fails to fit, often lines later: point at the opener.
        let opener = builder.stack.iter().rev().find_map(|f| {
            let (mark, index) = f.start();
            match text.as_bytes().get(index) {
                Some(b'{') => Some((mark, '{')),
                Some(b'[') => Some((mark, '[')),
                _ => None,
            }
        });
        return Err(match opener {
            Some((mark, open)) => SyntaxError {
                mark,
                message: format!("`{open}` is never closed ({})", e.info()),
                hint: "close the flow collection, or check the commas between its items".into(),
            },
            None => {
                let mark: Mark = (*e.marker()).into();
                syntax::missing_colon(text, mark, e.info()).unwrap_or(SyntaxError {
                    mark,
                    message: e.info().to_string(),
                    hint: SYNTAX_HINT.into(),
                })
            }
        });
    }
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Null,
        mark: Mark { line: 1, column: 1 },
    }))
}

enum Frame {
    Seq(Vec<Node>, Mark, usize, usize),
    /// Entries, the key awaiting its value, mark, anchor, byte index, and
    /// the scalar keys seen so far (a set: a scan of the entries made a
    /// large mapping quadratic).
    Map(
        Vec<(Node, Node)>,
        Option<Node>,
        Mark,
        usize,
        usize,
        HashSet<String>,
    ),
}

impl Frame {
    /// Where the collection starts: mark and byte index.
    fn start(&self) -> (Mark, usize) {
        match self {
            Frame::Seq(_, m, _, i) | Frame::Map(_, _, m, _, i, _) => (*m, *i),
        }
    }
}

/// A document may hold at most this many nodes, each alias counting as a
/// copy of what it names (so a "billion laughs" file stops early).
const MAX_NODES: usize = 200_000;

#[derive(Default)]
struct Builder {
    nodes: usize,
    /// How many of `nodes` are copies made by aliases.
    aliased: usize,
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    error: Option<SyntaxError>,
    done: bool,
}

impl Builder {
    /// Counts `size` more nodes; false (and an error) past the limit.
    /// Each node is counted once, when it is first seen; an alias counts
    /// the whole copy it makes.
    fn count(&mut self, size: usize, mark: Mark, alias: bool) -> bool {
        self.nodes += size;
        if alias {
            self.aliased += size;
        }
        if self.nodes <= MAX_NODES {
            return true;
        }
        self.error.get_or_insert(if self.aliased > 0 {
            SyntaxError {
                mark,
                message: format!(
                    "aliases expand the document to more than {MAX_NODES} nodes ({} of them copies made by aliases)",
                    self.aliased
                ),
                hint: "a scenario is small: remove the repeated aliases".into(),
            }
        } else {
            SyntaxError {
                mark,
                message: format!("the document has more than {MAX_NODES} nodes"),
                hint: "a scenario is small: split the file, or remove generated bulk".into(),
            }
        });
        self.done = true;
        false
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, pending, _, _, _, keys)) => match pending.take() {
                None => {
                    let dup = node.as_str().is_some_and(|k| !keys.insert(k.to_string()));
                    if dup && self.error.is_none() {
                        self.error = Some(SyntaxError {
                            mark: node.mark,
                            message: format!(
                                "duplicate key `{}`: each key may appear once in a mapping",
                                node.as_str().unwrap_or_default()
                            ),
                            hint: "remove the repeated key, or merge its values into the first one"
                                .into(),
                        });
                    }
                    *pending = Some(node);
                }
                Some(key) => entries.push((key, node)),
            },
        }
    }
}

/// Nodes inside a node: what an alias of it copies.
fn aliased_size(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().map(|n| 1 + aliased_size(n)).sum(),
        NodeKind::Map(entries) => entries
            .iter()
            .map(|(k, v)| 2 + aliased_size(k) + aliased_size(v))
            .sum(),
        _ => 0,
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, marker: Marker) {
        if self.done {
            return;
        }
        let mark = Mark::from(marker);
        match ev {
            Event::DocumentStart if self.root.is_some() => {
                self.error.get_or_insert(SyntaxError {
                    mark,
                    message: "a second YAML document: a scenario file holds exactly one".into(),
                    hint: "put each scenario in its own file, or remove the `---` separator".into(),
                });
                self.done = true;
            }
            Event::Scalar(value, style, anchor, _) => {
                if !self.count(1, mark, false) {
                    return;
                }
                let plain = style == TScalarStyle::Plain;
                let kind = if plain && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar { value, plain }
                };
                self.push_node(Node { kind, mark }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                if !self.count(1, mark, false) {
                    return;
                }
                self.stack
                    .push(Frame::Seq(Vec::new(), mark, anchor, marker.index()))
            }
            Event::MappingStart(anchor, _) => {
                if !self.count(1, mark, false) {
                    return;
                }
                self.stack.push(Frame::Map(
                    Vec::new(),
                    None,
                    mark,
                    anchor,
                    marker.index(),
                    HashSet::new(),
                ))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(items, m, a, _)) => (
                        Node {
                            kind: NodeKind::Seq(items),
                            mark: m,
                        },
                        a,
                    ),
                    Some(Frame::Map(entries, _, m, a, _, _)) => {
                        // A block mapping's start event comes at its first
                        // `:`; its first key is where a reader looks.
                        let first_key = entries.first().map(|(k, _)| k.mark);
                        let mark = match first_key {
                            Some(k) if (k.line, k.column) < (m.line, m.column) => k,
                            _ => m,
                        };
                        (
                            Node {
                                kind: NodeKind::Map(entries),
                                mark,
                            },
                            a,
                        )
                    }
                    None => return,
                };
                self.push_node(node, anchor);
            }
            Event::Alias(id) => {
                let size = 1 + self.anchors.get(&id).map_or(0, aliased_size);
                if !self.count(size, mark, true) {
                    return;
                }
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    kind: NodeKind::Null,
                    mark,
                });
                self.push_node(Node { mark, ..node }, 0);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        steps: Vec<Step>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    enum Step {
        Confirm {},
        Execute {
            #[allow(dead_code)]
            mechanism: String,
        },
    }

    fn err_of(text: &str) -> DeError {
        let node = parse(text).unwrap();
        from_node::<Doc>(&node, &Path::root()).unwrap_err()
    }

    #[test]
    fn unknown_field_points_at_the_key_with_a_hint() {
        let e = err_of("steps:\n  - confirm: {}\n  - execute: {mechansim: x}\n");
        assert_eq!(e.message, "unknown field `mechansim`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `mechanism`?"));
        assert_eq!(
            e.mark,
            Some(Mark {
                line: 3,
                column: 15
            })
        );
        assert_eq!(e.path.unwrap().to_string(), "steps[1].execute.mechansim");
    }

    #[test]
    fn unknown_variant_is_located_on_the_step_name() {
        let e = err_of("steps:\n  - exeucte: {}\n");
        assert_eq!(e.hint.as_deref(), Some("did you mean `execute`?"));
        assert_eq!(e.mark, Some(Mark { line: 2, column: 5 }));
        assert_eq!(e.path.unwrap().to_string(), "steps[0].exeucte");
    }

    #[test]
    fn missing_field_names_the_field_in_the_path() {
        let e = err_of("steps:\n  - execute: {}\n");
        assert_eq!(e.message, "missing field `mechanism`");
        assert_eq!(e.path.unwrap().to_string(), "steps[0].execute.mechanism");
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_are_located() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.mark.line, 3);
        assert!(e.message.contains("duplicate key `a`"));
        let e = parse("a: 1\nb: {c: 1, d: 2\ne: 3\nf: 4\n").unwrap_err();
        assert_eq!(e.mark, Mark { line: 2, column: 4 }, "{e:?}");
        assert!(e.message.starts_with("`{` is never closed"), "{e:?}");
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(e.mark.line, 2);
        assert!(e.message.contains("second YAML document"));
    }

    #[test]
    fn a_leading_byte_order_mark_is_not_part_of_the_first_key() {
        let node = parse("\u{feff}name: x\nseed: 1\n").unwrap();
        let keys: Vec<_> = node
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, [Some("name"), Some("seed")]);
        assert_eq!(
            node.locate(&Path::root().key("seed")),
            Mark { line: 2, column: 1 }
        );
    }

    /// A flow list of `n` scalars nested `depth` mappings deep.
    fn nested_list(depth: usize, n: usize) -> String {
        let items = vec!["1"; n].join(",");
        format!("{}[{items}]{}", "{a: ".repeat(depth), "}".repeat(depth))
    }

    #[test]
    fn each_node_counts_once_however_deep_it_sits() {
        // 120,000 nodes five levels deep: well under the limit.
        assert!(parse(&nested_list(5, 120_000)).is_ok());
    }

    #[test]
    fn too_many_nodes_without_aliases_does_not_blame_aliases() {
        let e = parse(&nested_list(1, MAX_NODES + 1)).unwrap_err();
        assert!(e.message.contains("more than 200000 nodes"), "{e:?}");
        assert!(
            !e.message.contains("alias") && !e.hint.contains("alias"),
            "{e:?}"
        );
    }

    #[test]
    fn alias_expansion_past_the_limit_names_the_aliases() {
        let mut text = String::from("a: &a [1,1,1,1,1,1,1,1,1,1]\n");
        for (i, prev) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            let name = ["b", "c", "d", "e", "f", "g"][i];
            text += &format!(
                "{name}: &{name} [{}]\n",
                vec![format!("*{prev}"); 10].join(",")
            );
        }
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("alias"), "{e:?}");
        assert!(e.hint.contains("alias"), "{e:?}");
    }

    #[test]
    fn a_mapping_of_forty_thousand_keys_is_checked_for_duplicates() {
        let mut text: String = (0..40_000).map(|i| format!("k{i}: {i}\n")).collect();
        assert_eq!(parse(&text).unwrap().as_map().unwrap().len(), 40_000);
        text += "k7: again\n";
        let e = parse(&text).unwrap_err();
        assert_eq!(
            e.mark,
            Mark {
                line: 40_001,
                column: 1
            },
            "{e:?}"
        );
        assert!(e.message.contains("duplicate key `k7`"), "{e:?}");
    }

    #[test]
    fn locate_walks_keys_and_indexes() {
        let node = parse("a:\n  b:\n    - x: 1\n    - y: 2\n").unwrap();
        let path = Path::root().key("a").key("b").index(1).key("y");
        assert_eq!(node.locate(&path), Mark { line: 4, column: 7 });
        assert_eq!(path.to_string(), "a.b[1].y");
    }
}
