//! `run --set FIELD=VALUE`: a scalar field of every scenario changed on
//! the command line (per-release CI: `--set release.version=v2.1.0`),
//! applied to the parsed file before validation, so the value is validated
//! like the file's own and an error names the flag.

use super::yaml::{Node, NodeKind};

/// One `--set FIELD=VALUE`: a dotted path (`release.version`,
/// `registry.routes.r.candidates[0].weight`) and a plain YAML scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSet {
    pub field: String,
    pub value: String,
}

/// A `--set` that does not say FIELD=VALUE, or names no scalar field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--set {flag}: {message}")]
pub struct SetError {
    pub flag: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl std::str::FromStr for FieldSet {
    type Err = SetError;

    fn from_str(s: &str) -> Result<FieldSet, SetError> {
        let err = |message: &str| SetError {
            flag: s.to_string(),
            message: message.to_string(),
        };
        let (field, value) = s
            .split_once('=')
            .ok_or_else(|| err("write FIELD=VALUE, e.g. --set release.version=v2.1.0"))?;
        let set = FieldSet {
            field: field.trim().to_string(),
            value: value.to_string(),
        };
        set.segments().map_err(|m| err(&m))?;
        Ok(set)
    }
}

impl FieldSet {
    fn flag(&self) -> String {
        format!("{}={}", self.field, self.value)
    }

    fn segments(&self) -> Result<Vec<Seg>, String> {
        let mut out = Vec::new();
        for part in self.field.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() {
                return Err(format!(
                    "`{}` is not a field path: write keys joined by `.`, e.g. release.version",
                    self.field
                ));
            }
            out.push(Seg::Key(key.to_string()));
            while let Some(r) = rest.strip_prefix('[') {
                let (n, after) = r
                    .split_once(']')
                    .ok_or_else(|| format!("`{}`: an index is written `[N]`", self.field))?;
                let n = n
                    .parse()
                    .map_err(|_| format!("`{}`: `[{n}]` is not an index", self.field))?;
                out.push(Seg::Index(n));
                rest = after;
            }
            if !rest.is_empty() {
                return Err(format!("`{}`: an index is written `[N]`", self.field));
            }
        }
        Ok(out)
    }

    /// Sets the field in `root`: replaces a scalar, or adds a key to a map
    /// that exists. A field that is a section or a list is an error.
    pub fn apply(&self, root: &mut Node) -> Result<(), SetError> {
        let err = |message: String| SetError {
            flag: self.flag(),
            message,
        };
        let segments = self.segments().map_err(&err)?;
        let mut node = root;
        let mut at = String::new();
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            let mark = node.mark;
            node = match (seg, &mut node.kind) {
                (Seg::Key(k), NodeKind::Map(entries)) => {
                    let found = entries.iter().position(|(key, _)| key.as_str() == Some(k));
                    let i = match found {
                        Some(i) => i,
                        None if last => {
                            let key = Node {
                                kind: NodeKind::Scalar {
                                    value: k.clone(),
                                    plain: true,
                                },
                                mark,
                            };
                            entries.push((
                                key,
                                Node {
                                    kind: NodeKind::Null,
                                    mark,
                                },
                            ));
                            entries.len() - 1
                        }
                        None => {
                            return Err(err(format!(
                                "the scenario has no `{}`: set a field inside a section the file has",
                                join(&at, k)
                            )));
                        }
                    };
                    &mut entries[i].1
                }
                (Seg::Index(n), NodeKind::Seq(items)) => {
                    let len = items.len();
                    items
                        .get_mut(*n)
                        .ok_or_else(|| err(format!("`{at}` has {len} items, there is no [{n}]")))?
                }
                (seg, _) => {
                    return Err(err(format!(
                        "`{at}` is not a {}",
                        match seg {
                            Seg::Key(_) => "section with keys",
                            Seg::Index(_) => "list",
                        }
                    )));
                }
            };
            at = match seg {
                Seg::Key(k) => join(&at, k),
                Seg::Index(n) => format!("{at}[{n}]"),
            };
        }
        if matches!(node.kind, NodeKind::Map(_) | NodeKind::Seq(_)) {
            return Err(err(format!(
                "`{at}` is {}, not a scalar field: set one of its fields",
                node.describe()
            )));
        }
        node.kind = NodeKind::Scalar {
            value: self.value.clone(),
            plain: true,
        };
        Ok(())
    }

    /// Whether a diagnostic at `path` is about this field.
    pub fn covers(&self, path: &str) -> bool {
        path == self.field
            || path
                .strip_prefix(self.field.as_str())
                .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
    }

    /// The note a diagnostic about this field carries.
    pub fn note(&self) -> String {
        format!("(set by --set {})", self.flag())
    }
}

fn join(at: &str, k: &str) -> String {
    if at.is_empty() {
        k.to_string()
    } else {
        format!("{at}.{k}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> FieldSet {
        s.parse().expect("a FIELD=VALUE")
    }

    #[test]
    fn a_flag_is_parsed_and_a_bad_one_is_named() {
        assert_eq!(
            set("release.version=v2.1.0"),
            FieldSet {
                field: "release.version".into(),
                value: "v2.1.0".into()
            }
        );
        assert_eq!(set("a=b=c").value, "b=c");
        let e = "release.version".parse::<FieldSet>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "--set release.version: write FIELD=VALUE, e.g. --set release.version=v2.1.0"
        );
        let e = "release..version=1".parse::<FieldSet>().unwrap_err();
        assert!(
            e.to_string().starts_with("--set release..version=1: "),
            "{e}"
        );
        assert!("a[x]=1".parse::<FieldSet>().is_err());
    }

    #[test]
    fn a_scalar_is_replaced_or_added_and_sections_are_refused() {
        let text = "release:\n  version: v2\n  at: 10m\nregistry:\n  routes:\n    r:\n      candidates:\n        - {id: a, weight: 100}\n";
        let mut root = super::super::yaml::parse(text).unwrap();
        set("release.version=v2.1.0").apply(&mut root).unwrap();
        set("release.onset=5m").apply(&mut root).unwrap();
        set("registry.routes.r.candidates[0].weight=90")
            .apply(&mut root)
            .unwrap();
        let release = &root.as_map().unwrap()[0].1;
        let fields: Vec<(&str, &str)> = release
            .as_map()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap(), v.as_str().unwrap()))
            .collect();
        assert_eq!(
            fields,
            [("version", "v2.1.0"), ("at", "10m"), ("onset", "5m")]
        );
        let e = set("release=v3").apply(&mut root).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--set release=v3: `release` is a mapping, not a scalar field: set one of its fields"
        );
        let e = set("policy.window=1m").apply(&mut root).unwrap_err();
        assert!(e.message.contains("the scenario has no `policy`"), "{e}");
        let e = set("registry.routes.r.candidates[3].weight=1")
            .apply(&mut root)
            .unwrap_err();
        assert!(e.message.contains("has 1 items, there is no [3]"), "{e}");
        assert!(set("release.version=x").covers("release.version"));
        assert!(set("release=x").covers("release.version"));
        assert!(!set("release.v=x").covers("release.version"));
    }
}
