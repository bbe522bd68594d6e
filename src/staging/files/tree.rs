//! A document tree whose every node knows its byte span in the source, so
//! a rewriter can change one scalar (or insert one item) and leave every
//! other byte as it was. Built from YAML (yaml-rust2's marked events) or
//! from JSON (a small parser of its own: serde_json keeps no positions).

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Byte offset of the node's first character.
    pub start: usize,
    /// Byte offset just past the node. For a YAML block collection, the
    /// end of its last descendant scalar.
    pub end: usize,
    /// Flow style (`{}`/`[]`, and all of JSON) rather than YAML block style.
    pub flow: bool,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    /// The value, and whether it was quoted in the source.
    Scalar(String, bool),
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            Kind::Map(entries) => entries,
            _ => &[],
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_str()?
            .trim()
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite())
    }

    pub fn quoted(&self) -> bool {
        matches!(self.kind, Kind::Scalar(_, true))
    }
}

/// A parse error: 1-based line and column, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

// ---- YAML ----

enum Frame {
    Map(Node, Vec<(Node, Node)>, Option<Node>),
    Seq(Node, Vec<Node>),
}

struct Builder<'a> {
    text: &'a str,
    /// Byte offset of each char index (yaml-rust2 counts chars).
    bytes: Vec<usize>,
    stack: Vec<Frame>,
    root: Option<Node>,
    error: Option<String>,
}

impl Builder<'_> {
    fn byte(&self, m: Marker) -> usize {
        self.bytes
            .get(m.index())
            .copied()
            .unwrap_or(self.text.len())
    }

    fn in_flow(&self) -> bool {
        self.stack.iter().any(|f| match f {
            Frame::Map(n, ..) | Frame::Seq(n, _) => n.flow,
        })
    }

    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }

    fn scalar_end(&self, start: usize, style: TScalarStyle) -> usize {
        let t = &self.text.as_bytes()[start..];
        let mut i = 1;
        match style {
            TScalarStyle::SingleQuoted => {
                while i < t.len() {
                    if t[i] == b'\'' {
                        if t.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        return start + i + 1;
                    }
                    i += 1;
                }
                self.text.len()
            }
            TScalarStyle::DoubleQuoted => {
                while i < t.len() {
                    match t[i] {
                        b'\\' => i += 2,
                        b'"' => return start + i + 1,
                        _ => i += 1,
                    }
                }
                self.text.len()
            }
            _ => {
                let flow = self.in_flow();
                let mut end = 0;
                let mut j = 0;
                while j < t.len() {
                    let c = t[j];
                    let next_blank = t.get(j + 1).is_none_or(|n| n.is_ascii_whitespace());
                    if c == b'\n'
                        || c == b'\r'
                        || (c == b'#' && j > 0 && t[j - 1].is_ascii_whitespace())
                        || (c == b':' && next_blank)
                        || (flow && b",[]{}".contains(&c))
                    {
                        break;
                    }
                    if !c.is_ascii_whitespace() {
                        end = j + 1;
                    }
                    j += 1;
                }
                start + end
            }
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = self.byte(mark);
        let flow_at = |b: u8| self.text.as_bytes().get(at) == Some(&b);
        match ev {
            Event::Scalar(value, style, ..) => {
                let end = self.scalar_end(at, style);
                let quoted = matches!(
                    style,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
                );
                self.push(Node {
                    start: at,
                    end,
                    flow: false,
                    kind: Kind::Scalar(value, quoted),
                });
            }
            Event::MappingStart(..) => {
                let n = Node {
                    start: at,
                    end: at,
                    flow: flow_at(b'{'),
                    kind: Kind::Map(Vec::new()),
                };
                self.stack.push(Frame::Map(n, Vec::new(), None));
            }
            Event::SequenceStart(..) => {
                let n = Node {
                    start: at,
                    end: at,
                    flow: flow_at(b'['),
                    kind: Kind::Seq(Vec::new()),
                };
                self.stack.push(Frame::Seq(n, Vec::new()));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (mut node, last_end) = match frame {
                    Frame::Map(mut n, entries, _) => {
                        let e = entries.last().map_or(n.start, |(_, v)| v.end);
                        n.kind = Kind::Map(entries);
                        (n, e)
                    }
                    Frame::Seq(mut n, items) => {
                        let e = items.last().map_or(n.start, |v| v.end);
                        n.kind = Kind::Seq(items);
                        (n, e)
                    }
                };
                node.end = if node.flow { at + 1 } else { last_end };
                self.push(node);
            }
            Event::Alias(_) => {
                self.error
                    .get_or_insert_with(|| "aliases (`*name`) are not supported here".into());
            }
            _ => {}
        }
    }
}

/// Parses one YAML document into a located tree.
pub fn parse_yaml(text: &str) -> Result<Node, ParseError> {
    let mut bytes: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    bytes.push(text.len());
    let mut b = Builder {
        text,
        bytes,
        stack: Vec::new(),
        root: None,
        error: None,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, false) {
        let m = e.marker();
        return Err(ParseError {
            line: m.line(),
            column: m.col() + 1,
            message: e.info().to_string(),
        });
    }
    if let Some(message) = b.error {
        return Err(ParseError {
            line: 1,
            column: 1,
            message,
        });
    }
    Ok(b.root.unwrap_or(Node {
        start: 0,
        end: 0,
        flow: false,
        kind: Kind::Scalar(String::new(), false),
    }))
}

// ---- JSON ----

struct Json<'a> {
    t: &'a [u8],
    i: usize,
}

impl Json<'_> {
    fn ws(&mut self) {
        while self.i < self.t.len() && self.t[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    /// An error at the current byte (the message is serde_json's).
    fn fail<T>(&self) -> Result<T, usize> {
        Err(self.i)
    }

    fn value(&mut self) -> Result<Node, usize> {
        self.ws();
        let start = self.i;
        let leaf = |kind, end| Node {
            start,
            end,
            flow: true,
            kind,
        };
        match self.t.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.t.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(leaf(Kind::Map(entries), self.i));
                }
                loop {
                    self.ws();
                    let key = self.value()?;
                    if !matches!(key.kind, Kind::Scalar(_, true)) {
                        return Err(key.start);
                    }
                    self.ws();
                    if self.t.get(self.i) != Some(&b':') {
                        return self.fail();
                    }
                    self.i += 1;
                    let value = self.value()?;
                    entries.push((key, value));
                    self.ws();
                    match self.t.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(leaf(Kind::Map(entries), self.i));
                        }
                        _ => return self.fail(),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.t.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(leaf(Kind::Seq(items), self.i));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.t.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(leaf(Kind::Seq(items), self.i));
                        }
                        _ => return self.fail(),
                    }
                }
            }
            Some(b'"') => {
                self.i += 1;
                while self.i < self.t.len() && self.t[self.i] != b'"' {
                    self.i += if self.t[self.i] == b'\\' { 2 } else { 1 };
                }
                if self.i >= self.t.len() {
                    return Err(start);
                }
                self.i += 1;
                let raw = std::str::from_utf8(&self.t[start..self.i]).map_err(|_| start)?;
                let s: String = serde_json::from_str(raw).map_err(|_| start)?;
                Ok(leaf(Kind::Scalar(s, true), self.i))
            }
            Some(_) => {
                while self.i < self.t.len()
                    && (self.t[self.i].is_ascii_alphanumeric() || b"+-.".contains(&self.t[self.i]))
                {
                    self.i += 1;
                }
                let raw = std::str::from_utf8(&self.t[start..self.i]).map_err(|_| start)?;
                if serde_json::from_str::<serde_json::Value>(raw).is_err() || raw.is_empty() {
                    return Err(start);
                }
                Ok(leaf(Kind::Scalar(raw.to_string(), false), self.i))
            }
            None => self.fail(),
        }
    }
}

/// Parses a JSON document into a located tree.
pub fn parse_json(text: &str) -> Result<Node, ParseError> {
    let mut p = Json {
        t: text.as_bytes(),
        i: 0,
    };
    let at = match p.value() {
        Ok(node) => {
            p.ws();
            if p.i == text.len() {
                return Ok(node);
            }
            p.i
        }
        Err(at) => at,
    };
    let (line, column) = line_col(text, at);
    // serde_json's wording for the same text, where it finds a problem.
    let message = serde_json::from_str::<serde_json::Value>(text)
        .err()
        .map_or_else(|| "unexpected text".to_string(), |e| e.to_string());
    Err(ParseError {
        line,
        column,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span<'a>(text: &'a str, n: &Node) -> &'a str {
        &text[n.start..n.end]
    }

    #[test]
    fn yaml_scalars_know_their_bytes_in_every_style() {
        let text = "# ünïcode comment\na:\n  - {id: 'it''s', w: 90}   # note\n  - id: \"q\\\"x\"\n    w: 10 # ten\nb: [1, two]\n";
        let root = parse_yaml(text).expect("valid");
        let a = root.get("a").and_then(Node::items).expect("a list");
        assert!(a[0].flow && !a[1].flow);
        assert_eq!(span(text, a[0].get("id").unwrap()), "'it''s'");
        assert_eq!(a[0].get("id").unwrap().as_str(), Some("it's"));
        assert_eq!(span(text, a[0].get("w").unwrap()), "90");
        assert_eq!(span(text, &a[0]), "{id: 'it''s', w: 90}");
        assert_eq!(span(text, a[1].get("id").unwrap()), "\"q\\\"x\"");
        assert_eq!(span(text, a[1].get("w").unwrap()), "10");
        assert_eq!(a[1].end, a[1].get("w").unwrap().end);
        let b = root.get("b").unwrap();
        assert_eq!(span(text, b), "[1, two]");
        assert_eq!(span(text, &b.items().unwrap()[1]), "two");
    }

    #[test]
    fn json_nodes_know_their_bytes() {
        let text = "{\n  \"f\": {\"v\": [[\"a\", 75], [\"b\"]], \"s\": \"\\u00e9\"}\n}\n";
        let root = parse_json(text).expect("valid");
        let v = root.get("f").and_then(|f| f.get("v")).unwrap();
        assert_eq!(span(text, v), "[[\"a\", 75], [\"b\"]]");
        assert_eq!(span(text, &v.items().unwrap()[0].items().unwrap()[1]), "75");
        assert_eq!(root.get("f").unwrap().get("s").unwrap().as_str(), Some("é"));
        let e = parse_json("{\"a\": [1,\n 2,, 3]}").expect_err("invalid");
        assert_eq!((e.line, e.column), (2, 4));
        assert!(parse_json("{\"a\": 1} x").is_err());
    }

    #[test]
    fn yaml_errors_are_located() {
        let e = parse_yaml("a: [1, 2\nb: 3\n").expect_err("invalid");
        assert!(e.line >= 1 && !e.message.is_empty(), "{e:?}");
        assert!(parse_yaml("a: &x 1\nb: *x\n").is_err());
    }
}
