//! The located node tree as a serde `Deserializer`: every error names the
//! node it is about (line, column, field path) and, for unknown names, the
//! closest known one.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::{Mark, Node, NodeKind, Path};

/// A deserialization problem, located at the node that caused it.
#[derive(Debug, Clone)]
pub struct DeError {
    pub message: String,
    pub hint: Option<String>,
    pub mark: Option<Mark>,
    pub path: Option<Path>,
    missing_field: Option<&'static str>,
}

impl DeError {
    fn new(message: String) -> DeError {
        DeError {
            message,
            hint: None,
            mark: None,
            path: None,
            missing_field: None,
        }
    }

    /// Pins the error on `node` unless a deeper node already claimed it.
    fn at(mut self, node: &Node, path: &Path) -> DeError {
        if self.mark.is_none() {
            self.mark = Some(node.mark);
            self.path = Some(match self.missing_field {
                Some(field) => path.key(field),
                None => path.clone(),
            });
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string())
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::new(format!("unknown field `{field}`"));
        e.hint = Some(suggest(field, expected));
        e
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::new(format!("unknown value `{variant}`"));
        e.hint = Some(suggest(variant, expected));
        e
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!(
            "invalid type: {unexp}, expected {}",
            friendly(&exp.to_string())
        ))
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DeError::new(format!(
            "invalid value: {unexp}, expected {}",
            friendly(&exp.to_string())
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = DeError::new(format!("missing field `{field}`"));
        e.missing_field = Some(field);
        e.hint = Some(format!("add `{field}:` here"));
        e
    }
}

/// serde names Rust types ("expected u32"); users read YAML.
fn friendly(expected: &str) -> String {
    match expected {
        "f32" | "f64" => "a number".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "a boolean" => "`true` or `false`".into(),
        "a sequence" => "a list".into(),
        "a string" => "text".into(),
        other => other.to_string(),
    }
}

/// "did you mean `alias_remap`?" when a close name exists, else the list.
pub fn suggest(given: &str, expected: &[&str]) -> String {
    let best = expected
        .iter()
        .map(|cand| (edit_distance(given, cand), *cand))
        .min();
    match best {
        Some((d, cand)) if d <= 2.max(given.len() / 3) => format!("did you mean `{cand}`?"),
        _ if expected.is_empty() => "nothing is allowed here".to_string(),
        _ => format!(
            "expected one of {}",
            expected
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Deserializes `T` from `node`, reporting errors with their location.
pub fn from_node<'de, T: de::Deserialize<'de>>(node: &Node, path: &Path) -> Result<T, DeError> {
    T::deserialize(NodeDe { node, path })
}

struct NodeDe<'a> {
    node: &'a Node,
    path: &'a Path,
}

impl NodeDe<'_> {
    fn located<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.at(self.node, self.path))
    }
}

fn plain_scalar<'de, V: Visitor<'de>>(value: &str, visitor: V) -> Result<V::Value, DeError> {
    match value {
        "true" | "True" | "TRUE" => return visitor.visit_bool(true),
        "false" | "False" | "FALSE" => return visitor.visit_bool(false),
        _ => {}
    }
    if let Ok(n) = value.parse::<u64>() {
        return visitor.visit_u64(n);
    }
    if let Ok(n) = value.parse::<i64>() {
        return visitor.visit_i64(n);
    }
    if value.contains(|c: char| c.is_ascii_digit())
        && let Ok(x) = value.parse::<f64>()
    {
        return visitor.visit_f64(x);
    }
    visitor.visit_str(value)
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Scalar { value, plain: true } => plain_scalar(value, visitor),
            NodeKind::Scalar { value, .. } => visitor.visit_str(value),
            NodeKind::Seq(items) => visitor.visit_seq(SeqDe {
                items,
                path: self.path,
                next: 0,
            }),
            NodeKind::Map(entries) => visitor.visit_map(MapDe {
                entries,
                path: self.path,
                next: 0,
                key_path: None,
            }),
        };
        self.located(r)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            NodeKind::Scalar { value, .. } => visitor.visit_str(value),
            _ => return self.deserialize_any(visitor),
        };
        self.located(r)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.kind {
            NodeKind::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            // `- postmortem:` with nothing after it means "no fields".
            NodeKind::Null => visitor.visit_map(MapDe {
                entries: &[],
                path: self.path,
                next: 0,
                key_path: None,
            }),
            NodeKind::Map(_) => return self.deserialize_any(visitor),
            _ => Err(DeError::new(format!(
                "expected a mapping of fields, found {}",
                self.node.describe()
            ))),
        };
        self.located(r)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            NodeKind::Scalar { value, .. } => visitor.visit_enum(
                IntoDeserializer::<DeError>::into_deserializer(value.as_str()),
            ),
            NodeKind::Map(entries) if entries.len() == 1 => visitor.visit_enum(EnumDe {
                key: &entries[0].0,
                value: &entries[0].1,
                path: self.path,
            }),
            _ => Err(DeError::new(format!(
                "expected a single name (like `execute: {{...}}`), found {}",
                self.node.describe()
            ))),
        };
        self.located(r)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct SeqDe<'a> {
    items: &'a [Node],
    path: &'a Path,
    next: usize,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.get(self.next) else {
            return Ok(None);
        };
        let path = self.path.index(self.next);
        self.next += 1;
        seed.deserialize(NodeDe { node, path: &path })
            .map(Some)
            .map_err(|e| e.at(node, &path))
    }
}

struct MapDe<'a> {
    entries: &'a [(Node, Node)],
    path: &'a Path,
    next: usize,
    key_path: Option<Path>,
}

impl<'de> de::MapAccess<'de> for MapDe<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, _)) = self.entries.get(self.next) else {
            return Ok(None);
        };
        let path = self.path.key(key.as_str().unwrap_or("?"));
        let r = seed.deserialize(NodeDe {
            node: key,
            path: &path,
        });
        self.key_path = Some(path);
        r.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let (_, value) = &self.entries[self.next];
        self.next += 1;
        let path = self.key_path.take().unwrap_or_default();
        seed.deserialize(NodeDe {
            node: value,
            path: &path,
        })
        .map_err(|e| e.at(value, &path))
    }
}

struct EnumDe<'a> {
    key: &'a Node,
    value: &'a Node,
    path: &'a Path,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumDe<'a> {
    type Error = DeError;
    type Variant = VariantDe<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDe<'a>), DeError> {
        let path = self.path.key(self.key.as_str().unwrap_or("?"));
        let v = seed
            .deserialize(NodeDe {
                node: self.key,
                path: &path,
            })
            .map_err(|e| e.at(self.key, &path))?;
        Ok((
            v,
            VariantDe {
                value: self.value,
                path,
            },
        ))
    }
}

struct VariantDe<'a> {
    value: &'a Node,
    path: Path,
}

impl<'de> de::VariantAccess<'de> for VariantDe<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value.kind {
            NodeKind::Null => Ok(()),
            _ => Err(DeError::new("this name takes no fields".into()).at(self.value, &self.path)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(NodeDe {
            node: self.value,
            path: &self.path,
        })
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(
            NodeDe {
                node: self.value,
                path: &self.path,
            },
            visitor,
        )
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(
            NodeDe {
                node: self.value,
                path: &self.path,
            },
            "",
            fields,
            visitor,
        )
    }
}
