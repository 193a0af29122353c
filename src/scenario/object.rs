//! Reading Kubernetes-style objects (manifests, Calico and Cilium resources): the value at a
//! path of keys, labels, label selectors. Absent keys are `None`; a wrong type is reported.

use super::decode::{At, Decode, Labels};
use super::diag::Diagnostics;
use super::yaml::{Node, Value};
use crate::cluster::selector::{LabelSelector, Requirement};

pub fn child<'n>(n: &'n Node, key: &str) -> Option<&'n Node> {
    match &n.value {
        Value::Map(m) => m.iter().find(|(k, _)| k.name == key).map(|(_, v)| v),
        _ => None,
    }
}

pub fn text_at(n: &Node, keys: &[&str]) -> Option<String> {
    let mut cur = n;
    for k in keys {
        cur = child(cur, k)?;
    }
    match &cur.value {
        Value::Str(s) => Some(s.clone()),
        _ => cur.scalar_text(),
    }
}

/// The value at `keys`, decoded (a wrong type is reported); its path is the dotted keys.
pub fn at<T: Decode>(n: &Node, keys: &[&str], d: &mut Diagnostics) -> Option<At<T>> {
    let mut cur = n;
    for k in keys {
        cur = child(cur, k)?;
    }
    if matches!(cur.value, Value::Null) {
        return None;
    }
    let path = keys.join(".");
    T::decode(cur, &path, d).map(|value| At {
        value,
        loc: cur.loc.clone(),
        path,
    })
}

pub fn labels_at(n: &Node, keys: &[&str], d: &mut Diagnostics) -> Labels {
    at::<Labels>(n, keys, d)
        .map(|a| a.value)
        .unwrap_or_default()
}

/// A Kubernetes label selector (`matchLabels`, `matchExpressions`).
pub fn label_selector(n: &Node, d: &mut Diagnostics) -> LabelSelector {
    let mut sel = LabelSelector {
        match_labels: labels_at(n, &["matchLabels"], d),
        match_expressions: Vec::new(),
    };
    if let Some(Value::Seq(exprs)) = child(n, "matchExpressions").map(|e| &e.value) {
        for e in exprs {
            let key = text_at(e, &["key"]).unwrap_or_default();
            let op = text_at(e, &["operator"]).unwrap_or_default();
            let values = at::<Vec<String>>(e, &["values"], d)
                .map(|a| a.value)
                .unwrap_or_default();
            let req = match op.as_str() {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => {
                    d.error(&e.loc, "matchExpressions", format!("selector operator `{other}`: expected In, NotIn, Exists or DoesNotExist"));
                    continue;
                }
            };
            sel.match_expressions.push(req);
        }
    }
    sel
}

/// The first item of a list.
pub fn first(n: &Node) -> Option<&Node> {
    match &n.value {
        Value::Seq(v) => v.first(),
        _ => None,
    }
}

/// Every object of a file of Kubernetes-style objects: the documents, with the items of a
/// `kind: List` (what `kubectl get -o yaml` writes) in place of the list; empty documents
/// skipped. `None` when the file cannot be read or parsed (reported at `at`).
pub fn load_objects(name: &str, at: &At<String>, d: &mut Diagnostics) -> Option<Vec<Node>> {
    let text = super::read_input(name)
        .map_err(|e| d.error(&at.loc, &at.path, format!("cannot read {name}: {e}")))
        .ok()?;
    let docs = super::yaml::parse_multi(&std::sync::Arc::from(name), &text, d)?;
    Some(objects_of(docs, d))
}

/// The objects of parsed documents: the items of a `kind: List` (`…List`) in its place, empty
/// documents skipped.
pub fn objects_of(docs: Vec<Node>, d: &mut Diagnostics) -> Vec<Node> {
    let mut out = Vec::new();
    for doc in docs {
        if matches!(doc.value, Value::Null) {
            continue;
        }
        let kind = text_at(&doc, &["kind"]).unwrap_or_default();
        if !kind.ends_with("List") {
            out.push(doc);
            continue;
        }
        match doc.value {
            Value::Map(entries) => match entries.into_iter().find(|(k, _)| k.name == "items") {
                Some((
                    _,
                    Node {
                        value: Value::Seq(items),
                        ..
                    },
                )) => out.extend(items),
                Some((
                    _,
                    Node {
                        value: Value::Null, ..
                    },
                ))
                | None => {}
                Some((_, n)) => d.error(
                    &n.loc,
                    "items",
                    "`items` of a List must be a list of objects",
                ),
            },
            _ => unreachable!("a document with a kind is a mapping"),
        }
    }
    out
}
