//! Compact declarations: a list entry with `count: N` stands for N entries, the i-th (1-based)
//! with every `{…}` template in its strings replaced (`app{i}`, `r{i}-n`, `'{2*i+999}'`).
//!
//! Invariant: expansion happens on the located YAML tree before decoding, so every copy is
//! decoded and checked exactly like a hand-written entry, and its messages point at the line of
//! the counted entry. A template is `{i}`, `{i+C}`, `{i-C}`, `{K*i}`, `{K*i+C}` or `{K*i-C}`
//! with non-negative integers K and C; a string that is one template alone becomes an integer.

use super::decode::index;
use super::diag::Diagnostics;
use super::yaml::{Key, Node, Value};

/// The most copies one counted entry may stand for (the Kubernetes envelope has 150,000 pods in
/// 1,000 deployments; this leaves room without letting a typo allocate gigabytes).
pub const MAX_COUNT: u64 = 100_000;

/// The items of a list with counted entries expanded, each with its path for messages
/// (`deployments[3]` for a plain entry, `deployments[3](i=7)` for the 7th copy of a counted one).
pub fn expand_list(items: &[Node], path: &str, d: &mut Diagnostics) -> Vec<(Node, String)> {
    let mut out = Vec::with_capacity(items.len());
    for (k, item) in items.iter().enumerate() {
        let item_path = index(path, k);
        let Value::Map(entries) = &item.value else {
            out.push((item.clone(), item_path));
            continue;
        };
        let Some(pos) = entries.iter().position(|(key, _)| key.name == "count") else {
            out.push((item.clone(), item_path));
            continue;
        };
        let count_node = &entries[pos].1;
        let count = match count_node.value {
            Value::Int(n) if n >= 1 && n as u64 <= MAX_COUNT => n as u64,
            _ => {
                d.error(
                    &count_node.loc,
                    &format!("{item_path}.count"),
                    format!(
                        "`count` must be a whole number from 1 to {MAX_COUNT}, found {}",
                        count_node
                            .scalar_text()
                            .unwrap_or_else(|| count_node.kind().to_string())
                    ),
                );
                continue;
            }
        };
        let rest: Vec<(Key, Node)> = entries
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != pos)
            .map(|(_, e)| e.clone())
            .collect();
        let template = Node {
            value: Value::Map(rest),
            loc: item.loc.clone(),
        };
        // Check the templates once, on the first copy, so a bad one is reported once.
        if let Err(m) = substitute(&template, 1) {
            d.error(&item.loc, &item_path, m);
            continue;
        }
        for i in 1..=count {
            let copy = substitute(&template, i).expect("checked on the first copy");
            out.push((copy, format!("{item_path}(i={i})")));
        }
    }
    out
}

/// `node` with every template replaced for copy `i`.
fn substitute(node: &Node, i: u64) -> Result<Node, TemplateError> {
    let value = match &node.value {
        Value::Str(s) => fill(s, i)?,
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .map(|n| substitute(n, i))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let name = match fill(&k.name, i)? {
                        Value::Str(s) => s,
                        Value::Int(n) => n.to_string(),
                        _ => unreachable!("fill gives a string or an integer"),
                    };
                    Ok((
                        Key {
                            name,
                            loc: k.loc.clone(),
                        },
                        substitute(v, i)?,
                    ))
                })
                .collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    };
    Ok(Node {
        value,
        loc: node.loc.clone(),
    })
}

/// Why a `{i}` template could not be filled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{0}`: a `{{` without its `}}`")]
    Unclosed(String),
    #[error(
        "`{text}`: `{{{expr}}}` is not a template; write {{i}}, {{i+C}}, {{i-C}}, {{K*i}} or {{K*i+C}}"
    )]
    NotATemplate { text: String, expr: String },
}

/// A reference's text with its templates filled for copy `i` (always text).
pub fn fill_text(s: &str, i: u64) -> Result<String, TemplateError> {
    Ok(match fill(s, i)? {
        Value::Int(n) => n.to_string(),
        Value::Str(t) => t,
        _ => unreachable!("fill gives a string or an integer"),
    })
}

/// A string with its templates filled; one template alone gives an integer.
fn fill(s: &str, i: u64) -> Result<Value, TemplateError> {
    if !s.contains('{') {
        return Ok(Value::Str(s.to_string()));
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    let mut alone = None;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(TemplateError::Unclosed(s.into()));
        };
        out.push_str(&rest[..open]);
        let v =
            eval(&rest[open + 1..open + close], i).ok_or_else(|| TemplateError::NotATemplate {
                text: s.into(),
                expr: rest[open + 1..open + close].into(),
            })?;
        if open == 0 && open + close + 1 == rest.len() && out.is_empty() {
            alone = Some(v);
        }
        out.push_str(&v.to_string());
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(match alone {
        Some(v) => Value::Int(v),
        None => Value::Str(out),
    })
}

/// `i`, `i+C`, `i-C`, `K*i`, `K*i+C`, `K*i-C` (spaces allowed); none when it is not one.
fn eval(expr: &str, i: u64) -> Option<i128> {
    let e: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let num = |t: &str| t.parse::<u32>().map(i128::from).ok();
    let (lhs, offset) = match e.find(['+', '-']) {
        Some(p) => {
            let c = num(&e[p + 1..])?;
            (&e[..p], if &e[p..=p] == "-" { -c } else { c })
        }
        None => (e.as_str(), 0),
    };
    let factor = match lhs.strip_suffix("*i") {
        Some(k) => num(k)?,
        None if lhs == "i" => 1,
        None => return None,
    };
    Some(factor * i128::from(i) + offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn expand(text: &str) -> (Vec<(Node, String)>, Vec<String>) {
        let mut d = Diagnostics::default();
        let n = super::super::yaml::parse(&Arc::from("t.yaml"), text, &mut d).unwrap();
        let Value::Seq(items) = &n.value else {
            panic!()
        };
        let out = expand_list(items, "xs", &mut d);
        (out, d.items.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn a_counted_entry_stands_for_its_copies() {
        let (out, errs) = expand(
            "- { count: 3, name: 'app{i}', id: '{2*i+999}', x: 'r{i-1}/{i}' }\n- { name: b }\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(out.len(), 4);
        let text: Vec<String> = out
            .iter()
            .map(|(n, p)| format!("{p} {:?}", n.value))
            .collect();
        assert!(text[0].starts_with("xs[0](i=1)"), "{text:?}");
        assert!(
            text[2].contains("\"app3\"") && text[2].contains("Int(1005)"),
            "{}",
            text[2]
        );
        assert!(text[2].contains("\"r2/3\""), "{}", text[2]);
        assert!(!text[0].contains("count"));
        assert_eq!(out[3].1, "xs[1]");
    }

    #[test]
    fn bad_counts_and_templates_are_reported_once() {
        let (out, errs) = expand(
            "- { count: 0, name: a }\n- { count: 2, name: 'a{j}' }\n- { count: 2, name: 'a{i' }\n",
        );
        assert!(out.is_empty());
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].contains("from 1 to 100000, found 0"), "{}", errs[0]);
        assert!(errs[1].contains("`{j}` is not a template"), "{}", errs[1]);
        assert!(errs[2].contains("without its"), "{}", errs[2]);
    }
}
