//! The YAML layer: serde-saphyr parses a file into a tree of [`Node`]s that each carry their location.
//!
//! Invariant: this is the only module that knows YAML. Everything above works on the located tree,
//! so that decoding can report every problem at once with its line and column.

use super::diag::{Diagnostics, Loc};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::sync::Arc;

/// A YAML value as parsed, before any meaning is given to it.
#[derive(Debug, Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its location.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub loc: Loc,
}

/// A located value.
#[derive(Debug, Clone)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
}

impl Node {
    /// A short name of the value's kind, for messages ("a mapping", "a string").
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The scalar as text (for values whose meaning is given by a string grammar: units, prefixes).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

// ---- serde-saphyr glue: a raw spanned tree, converted into `Node` with the file name attached ----

enum RawValue {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawValue>>),
    Map(Vec<(Spanned<String>, Spanned<RawValue>)>),
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_none<E>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawValue, D::Error> {
                RawValue::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawValue, E> {
                Ok(RawValue::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawValue, E> {
                Ok(RawValue::Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawValue, E> {
                Ok(RawValue::Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<RawValue, E> {
                Ok(RawValue::Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawValue, E> {
                i128::try_from(v)
                    .map(RawValue::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_f64<E>(self, v: f64) -> Result<RawValue, E> {
                Ok(RawValue::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawValue, E> {
                Ok(RawValue::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(RawValue::Seq(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<RawValue, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_entry()? {
                    v.push(x);
                }
                Ok(RawValue::Map(v))
            }
        }
        d.deserialize_any(V)
    }
}

fn loc_of(file: &Arc<str>, l: &serde_saphyr::Location) -> Loc {
    Loc::new(file.clone(), l.line().max(1), l.column().max(1))
}

fn convert(file: &Arc<str>, raw: Spanned<RawValue>) -> Node {
    let loc = loc_of(file, &raw.referenced);
    let value = match raw.value {
        RawValue::Null => Value::Null,
        RawValue::Bool(b) => Value::Bool(b),
        RawValue::Int(i) => Value::Int(i),
        RawValue::Float(f) => Value::Float(f),
        RawValue::Str(s) => Value::Str(s),
        RawValue::Seq(v) => Value::Seq(v.into_iter().map(|x| convert(file, x)).collect()),
        RawValue::Map(v) => Value::Map(
            v.into_iter()
                .map(|(k, x)| {
                    let key = Key {
                        name: k.value,
                        loc: loc_of(file, &k.referenced),
                    };
                    (key, convert(file, x))
                })
                .collect(),
        ),
    };
    Node { value, loc }
}

/// Reports a serde-saphyr error at its location, in fabsim's words.
fn syntax_error(file: &Arc<str>, e: &serde_saphyr::Error, diags: &mut Diagnostics) {
    let (line, col) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let loc = Loc::new(file.clone(), line.max(1), col.max(1));
    let text = e.to_string();
    // serde-saphyr prefixes its message with "line N column M: "; we print the location ourselves.
    let message = match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => text,
    };
    let mut message = message.lines().next().unwrap_or_default().to_string();
    // Drop the location serde-saphyr repeats at the end, and its advice about its own options.
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    if let Some(rest) = message.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        message = format!("duplicate key `{key}` (a key may appear once per mapping)");
    }
    // The parser's budget (its guard against alias bombs), said without its internals.
    if message.contains("budget breached") {
        message = "the document expands to more values than fabsim reads (250,000; aliases that repeat aliases multiply): write it out, or split it".into();
    }
    diags.error(&loc, "", format!("YAML syntax: {message}"));
}

/// Tags YAML itself defines for plain values and collections; any other (`!custom`, `!!binary`)
/// is not understood, and said.
const PLAIN_TAGS: &[&str] = &[
    "!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq",
];

/// Warns about every tag in `text` that fabsim does not understand (the parser reads the value
/// as if the tag were not there).
fn unknown_tags(file: &Arc<str>, text: &str, diags: &mut Diagnostics) {
    for (n, line) in text.lines().enumerate() {
        // Outside comments and quotes: a tag starts a value, after a space, `[`, `{` or `,`.
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (i, c) in line.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '#') if prev == ' ' || i == 0 => break,
                (None, '!') if matches!(prev, ' ' | '[' | '{' | ',' | '-') || i == 0 => {
                    let tag: String = line[i..]
                        .chars()
                        .take_while(|c| !c.is_whitespace() && !",]}".contains(*c))
                        .collect();
                    if !PLAIN_TAGS.contains(&tag.as_str()) {
                        diags.warning(
                            &Loc::new(file.clone(), n as u64 + 1, i as u64 + 1),
                            "",
                            format!("YAML tag `{tag}` is not understood: the value is read as if it had no tag"),
                        );
                    }
                }
                _ => {}
            }
            prev = c;
        }
    }
}

/// Parses YAML text. A syntax error (including a duplicate key) is reported with its location and
/// yields `None`: nothing of a file that does not parse can be trusted.
pub fn parse(file: &Arc<str>, text: &str, diags: &mut Diagnostics) -> Option<Node> {
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    match serde_saphyr::from_str_with_options::<Spanned<RawValue>>(text, options) {
        Ok(raw) => {
            unknown_tags(file, text, diags);
            Some(convert(file, raw))
        }
        Err(e) => {
            syntax_error(file, &e, diags);
            None
        }
    }
}

/// Parses a stream of YAML documents (`---` separated), as Kubernetes manifests are written.
pub fn parse_multi(file: &Arc<str>, text: &str, diags: &mut Diagnostics) -> Option<Vec<Node>> {
    let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
    match serde_saphyr::from_multiple_with_options::<Spanned<RawValue>>(text, options) {
        Ok(docs) => {
            unknown_tags(file, text, diags);
            Some(docs.into_iter().map(|d| convert(file, d)).collect())
        }
        Err(e) => {
            syntax_error(file, &e, diags);
            None
        }
    }
}
