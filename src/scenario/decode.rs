//! Decoding located YAML into typed values, collecting every problem instead of stopping.
//!
//! [`Fields`] reads one mapping: each key asked for is marked used, and [`Fields::finish`] reports
//! the keys nobody asked for (strict mode) — so an unknown or misspelt key is never silently ignored.

use super::diag::{Diagnostics, Loc};
use super::yaml::{Key, Node, Value};
use crate::net::Subnet;
use crate::time::Nanos;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A value that remembers where it was written, for errors found after decoding.
#[derive(Clone, Debug)]
pub struct At<T> {
    pub value: T,
    pub loc: Loc,
    pub path: String,
}

impl<T> At<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> At<U> {
        At {
            value: f(self.value),
            loc: self.loc,
            path: self.path,
        }
    }
}

/// A value that can be read from a located YAML node.
pub trait Decode: Sized {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self>;
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn expected(node: &Node, path: &str, d: &mut Diagnostics, what: &str) {
    d.error(
        &node.loc,
        path,
        format!("expected {what}, found {}", node.kind()),
    );
}

/// Reads the keys of one mapping.
pub struct Fields<'n> {
    loc: Loc,
    path: String,
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
    asked: Vec<&'static str>,
    strict: bool,
}

impl<'n> Fields<'n> {
    /// A mapping of fabsim's own format: unknown keys are errors.
    pub fn strict(node: &'n Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        Self::new(node, path, d, true)
    }

    /// A mapping of a foreign format (acc-provision): unknown keys are accepted here (the file's
    /// audit lists them).
    pub fn lenient(node: &'n Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        Self::new(node, path, d, false)
    }

    fn new(node: &'n Node, path: &str, d: &mut Diagnostics, strict: bool) -> Option<Self> {
        const EMPTY: &[(Key, Node)] = &[];
        let entries: &'n [(Key, Node)] = match &node.value {
            Value::Map(m) => m,
            // An empty value (`key:`) reads as an empty mapping.
            Value::Null => EMPTY,
            _ => {
                expected(node, path, d, "a mapping");
                return None;
            }
        };
        Some(Fields {
            loc: node.loc.clone(),
            path: path.to_string(),
            entries,
            used: vec![false; entries.len()],
            asked: Vec::new(),
            strict,
        })
    }

    pub fn loc(&self) -> &Loc {
        &self.loc
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn child(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The raw node of `key`, if present.
    pub fn node(&mut self, key: &'static str) -> Option<&'n Node> {
        self.asked.push(key);
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[i] = true;
        Some(&self.entries[i].1)
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k.name == key)
    }

    /// An optional key: `None` when absent, null, or invalid (the problem is then reported).
    pub fn opt<T: Decode>(&mut self, key: &'static str, d: &mut Diagnostics) -> Option<T> {
        let path = self.child(key);
        match self.node(key) {
            None => None,
            Some(n) if matches!(n.value, Value::Null) => None,
            Some(n) => T::decode(n, &path, d),
        }
    }

    /// An optional key with its location kept.
    pub fn opt_at<T: Decode>(&mut self, key: &'static str, d: &mut Diagnostics) -> Option<At<T>> {
        let path = self.child(key);
        let n = self.node(key)?;
        if matches!(n.value, Value::Null) {
            return None;
        }
        let loc = n.loc.clone();
        T::decode(n, &path, d).map(|value| At { value, loc, path })
    }

    /// A required key: reports it when missing.
    pub fn req<T: Decode>(&mut self, key: &'static str, d: &mut Diagnostics) -> Option<T> {
        self.req_at(key, d).map(|a| a.value)
    }

    pub fn req_at<T: Decode>(&mut self, key: &'static str, d: &mut Diagnostics) -> Option<At<T>> {
        if !self.has(key) {
            self.asked.push(key);
            d.error(
                &self.loc,
                &self.path,
                format!("missing required key `{key}`"),
            );
            return None;
        }
        let present = self.opt_at(key, d);
        if present.is_none()
            && self
                .entries
                .iter()
                .any(|(k, n)| k.name == key && matches!(n.value, Value::Null))
        {
            d.error(
                &self.loc,
                &self.child(key),
                format!("`{key}` must have a value"),
            );
        }
        present
    }

    /// Reports unknown keys (strict mode) and returns nothing: call it last.
    pub fn finish(self, d: &mut Diagnostics) {
        if !self.strict {
            // A real product file: what fabsim does not read is listed by `acc_audit`.
            return;
        }
        for ((k, _), used) in self.entries.iter().zip(&self.used) {
            if !used && !self.asked.contains(&k.name.as_str()) {
                let mut known: Vec<&str> = self.asked.clone();
                known.sort_unstable();
                known.dedup();
                let hint = did_you_mean(&k.name, &known);
                d.error(
                    &k.loc,
                    &join(&self.path, &k.name),
                    format!(
                        "unknown key `{}`{hint} (known here: {})",
                        k.name,
                        known.join(", ")
                    ),
                );
            }
        }
    }
}

/// The known name within edit distance 2 of `name`, if any.
/// "; did you mean `x`?" for the closest of `known` to `name`, or nothing.
pub(crate) fn did_you_mean(name: &str, known: &[&str]) -> String {
    closest(name, known)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

pub(crate) fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let sub = prev[j] + usize::from(ca != *cb);
                cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    known
        .iter()
        .map(|k| (dist(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

// ---- scalar decoders ----

impl Decode for String {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            _ => {
                expected(node, path, d, "a string");
                None
            }
        }
    }
}

impl Decode for bool {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                expected(node, path, d, "true or false");
                None
            }
        }
    }
}

macro_rules! decode_int {
    ($($t:ty),*) => {$(
        impl Decode for $t {
            fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
                let i = match &node.value {
                    Value::Int(i) => *i,
                    // acc-provision files sometimes quote numbers.
                    Value::Str(s) if s.trim().parse::<i128>().is_ok() => s.trim().parse().ok()?,
                    _ => {
                        expected(node, path, d, concat!("an integer (", stringify!($t), ")"));
                        return None;
                    }
                };
                match <$t>::try_from(i) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        d.error(&node.loc, path, format!(
                            "{i} is out of range (expected {}..={})", <$t>::MIN, <$t>::MAX));
                        None
                    }
                }
            }
        }
    )*};
}
decode_int!(u8, u16, u32, u64, usize, i64);

impl Decode for f64 {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match &node.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) if f.is_finite() => Some(*f),
            _ => {
                expected(node, path, d, "a number");
                None
            }
        }
    }
}

impl Decode for Nanos {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) | Value::Float(_) => node.scalar_text()?,
            _ => {
                expected(node, path, d, "a duration like 5us, 3s or 2m");
                return None;
            }
        };
        Nanos::parse(&text)
            .map_err(|m| d.error(&node.loc, path, m))
            .ok()
    }
}

impl Decode for super::warmup::WarmupSetting {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        if matches!(&node.value, Value::Str(s) if s == "auto") {
            return Some(super::warmup::WarmupSetting::Auto);
        }
        if matches!(&node.value, Value::Str(_) | Value::Int(_) | Value::Float(_)) {
            return Nanos::decode(node, path, d).map(super::warmup::WarmupSetting::Fixed);
        }
        expected(node, path, d, "`auto` or a duration like 90s");
        None
    }
}

impl Decode for Subnet {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let Value::Str(s) = &node.value else {
            expected(node, path, d, "an IPv4 prefix like 10.32.0.1/16");
            return None;
        };
        Subnet::parse(s)
            .map_err(|m| d.error(&node.loc, path, m))
            .ok()
    }
}

/// An address or a prefix, as SnatPolicy's snatIp and destIp take them (`10.20.30.1`, `10.20.30.0/30`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(pub ipnet::Ipv4Net);

impl Decode for Cidr {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let Value::Str(s) = &node.value else {
            expected(node, path, d, "an IPv4 address or prefix");
            return None;
        };
        let parsed = if s.contains('/') {
            s.trim().parse::<ipnet::Ipv4Net>().map(|n| n.trunc()).ok()
        } else {
            s.trim().parse::<Ipv4Addr>().ok().map(crate::net::host)
        };
        parsed.map(Cidr).or_else(|| {
            d.error(
                &node.loc,
                path,
                format!("`{s}` is not an IPv4 address or prefix"),
            );
            None
        })
    }
}

impl Decode for Ipv4Addr {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let Value::Str(s) = &node.value else {
            expected(node, path, d, "an IPv4 address");
            return None;
        };
        s.trim()
            .parse()
            .map_err(|_| d.error(&node.loc, path, format!("`{s}` is not an IPv4 address")))
            .ok()
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let Value::Seq(items) = &node.value else {
            expected(node, path, d, "a list");
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, n) in items.iter().enumerate() {
            match T::decode(n, &index(path, i), d) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

impl<T: Decode> Decode for At<T> {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        T::decode(node, path, d).map(|value| At {
            value,
            loc: node.loc.clone(),
            path: path.to_string(),
        })
    }
}

/// acc-provision's subnet keys: one subnet or a list, where a dual-stack cluster lists an IPv6
/// subnet beside the IPv4 one (acc-provision `dualstack` inputs). fabsim models IPv4 only: an
/// IPv6 entry is reported as a warning and left out; a key with no IPv4 subnet is an error.
#[derive(Clone, Debug)]
pub struct DualStackSubnets(pub Vec<Subnet>);

impl Decode for DualStackSubnets {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let items: Vec<(&Node, String)> = match &node.value {
            Value::Seq(xs) => xs
                .iter()
                .enumerate()
                .map(|(i, x)| (x, format!("{path}[{i}]")))
                .collect(),
            _ => vec![(node, path.to_string())],
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (n, p) in items {
            match &n.value {
                // IPv6 entries of a dual-stack file are listed once by the importer.
                Value::Str(s) if s.contains(':') => {}
                _ => match Subnet::decode(n, &p, d) {
                    Some(s) => out.push(s),
                    None => ok = false,
                },
            }
        }
        if ok && out.is_empty() {
            d.error(&node.loc, path, "no IPv4 subnet while the file's other subnets have one: acc-provision refuses such a mix of families (is_valid_dualstack_config), and fabsim models IPv4 only");
            return None;
        }
        ok.then_some(DualStackSubnets(out))
    }
}

/// Either one value or a list of them (acc-provision accepts both for subnets).
#[derive(Clone, Debug)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T: Decode> Decode for OneOrMany<T> {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        match &node.value {
            Value::Seq(_) => Vec::<T>::decode(node, path, d).map(OneOrMany),
            _ => T::decode(node, path, d).map(|v| OneOrMany(vec![v])),
        }
    }
}

/// A mapping of names to label sets (`cluster.node_labels`).
impl Decode for BTreeMap<String, Labels> {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let Value::Map(entries) = &node.value else {
            expected(node, path, d, "a mapping of names to labels");
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, v) in entries {
            if let Some(l) = Labels::decode(v, &join(path, &k.name), d) {
                out.insert(k.name.clone(), l);
            }
        }
        Some(out)
    }
}

pub use crate::cluster::Labels;

impl Decode for Labels {
    fn decode(node: &Node, path: &str, d: &mut Diagnostics) -> Option<Self> {
        let Value::Map(entries) = &node.value else {
            if matches!(node.value, Value::Null) {
                return Some(Labels::new());
            }
            expected(node, path, d, "a mapping of strings");
            return None;
        };
        let mut out = Labels::new();
        for (k, v) in entries {
            let value = match &v.value {
                Value::Str(s) => s.clone(),
                Value::Int(_) | Value::Float(_) | Value::Bool(_) => v.scalar_text()?,
                _ => {
                    expected(v, &join(path, &k.name), d, "a string");
                    continue;
                }
            };
            out.insert(k.name.clone(), value);
        }
        Some(out)
    }
}

impl Decode for Node {
    fn decode(node: &Node, _path: &str, _d: &mut Diagnostics) -> Option<Self> {
        Some(node.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn parse(text: &str) -> (Node, Diagnostics) {
        let mut d = Diagnostics::default();
        let n = super::super::yaml::parse(&Arc::from("t.yaml"), text, &mut d).unwrap();
        (n, d)
    }

    #[test]
    fn unknown_keys_are_reported_with_a_suggestion_and_their_line() {
        let (n, mut d) = parse("name: x\nsede: 3\n");
        let mut f = Fields::strict(&n, "", &mut d).unwrap();
        let _: Option<String> = f.req("name", &mut d);
        let _: Option<u64> = f.opt("seed", &mut d);
        f.finish(&mut d);
        let msgs: Vec<String> = d.items.iter().map(|x| x.to_string()).collect();
        assert_eq!(msgs.len(), 1);
        assert!(
            msgs[0].starts_with("t.yaml:2:1: sede: unknown key `sede`; did you mean `seed`?"),
            "{msgs:?}"
        );
    }

    #[test]
    fn wrong_types_and_missing_keys_are_all_reported() {
        let (n, mut d) = parse("seed: many\nduration: 5\n");
        let mut f = Fields::strict(&n, "", &mut d).unwrap();
        let _: Option<u64> = f.opt("seed", &mut d);
        let _: Option<Nanos> = f.opt("duration", &mut d);
        let _: Option<String> = f.req("name", &mut d);
        f.finish(&mut d);
        let msgs: Vec<String> = d.items.iter().map(|x| x.to_string()).collect();
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("t.yaml:1:7: seed: expected an integer"));
        assert!(msgs[1].contains("t.yaml:2:11: duration: `5` has no unit"));
        assert!(msgs[2].contains("missing required key `name`"));
    }
}
