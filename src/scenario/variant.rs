//! What-if variants of a scenario: `--set PATH=VALUE` changes one value (PATH is a dotted YAML
//! path; a list element is named by its `name` or its index, so
//! `designs.aci-cni.kube_config.snat_operator.port_range.ports_per_node=6000` reaches the design
//! named aci-cni), `--fail REF@TIME` adds a failure event, and a scenario may list its own under
//! `variants: [{ name, set: { PATH: VALUE }, fail: [REF@TIME] }]`.
//!
//! Overrides apply to the located YAML tree before decoding, so a bad path or value is reported
//! by the same strict decoder as a bad file, naming the `--set` it came from.

use super::diag::{Diagnostics, Loc};
use super::yaml::{self, Key, Node, Value};
use super::{Loaded, raw, resolve};
use std::path::Path;
use std::sync::Arc;

/// One change to a scenario.
#[derive(Clone, Debug)]
pub enum Change {
    Set {
        path: String,
        value: Node,
    },
    Fail {
        target: String,
        at: String,
        loc: Loc,
    },
}

/// A named set of changes; the base has none.
#[derive(Clone, Debug)]
pub struct Variant {
    pub name: String,
    pub changes: Vec<Change>,
}

fn pseudo(label: &str) -> Loc {
    Loc::new(Arc::from(label), 1, 1)
}

/// `PATH=VALUE` from the command line; VALUE is read as YAML (`6000`, `true`, `[a, b]`, `3s`).
pub fn parse_set(arg: &str, d: &mut Diagnostics) -> Option<Change> {
    // A credential's value never appears in a message (`secret`).
    let label = format!("--set {}", super::secret::shown_set(arg));
    let Some((path, text)) = arg.split_once('=') else {
        d.error(
            &pseudo(&label),
            "",
            "write --set PATH=VALUE, e.g. --set conntrack.time_wait=60s",
        );
        return None;
    };
    if path.trim().is_empty() {
        d.error(&pseudo(&label), "", "the path before `=` is empty");
        return None;
    }
    // `--set seed=` would set nothing (null) and quietly fall back to a default.
    if text.trim().is_empty() || matches!(text.trim(), "null" | "~") {
        d.error(
            &pseudo(&label),
            path.trim(),
            "give a value after `=` (a variant that sets nothing would run the default)",
        );
        return None;
    }
    let value = yaml::parse(&Arc::from(label.as_str()), text, d)?;
    Some(Change::Set {
        path: path.trim().to_string(),
        value,
    })
}

/// `REF@TIME` from the command line (`node:k8s-r1-2@100s`).
pub fn parse_fail(arg: &str, d: &mut Diagnostics) -> Option<Change> {
    let loc = pseudo(&format!("--fail {arg}"));
    match arg.rsplit_once('@') {
        Some((t, at)) if !t.is_empty() && !at.is_empty() => Some(Change::Fail {
            target: t.to_string(),
            at: at.to_string(),
            loc,
        }),
        _ => {
            d.error(
                &loc,
                "",
                "write --fail REF@TIME, e.g. --fail node:k8s-r1-2@100s",
            );
            None
        }
    }
}

fn scalar(text: &str, loc: &Loc) -> Node {
    Node {
        value: Value::Str(text.to_string()),
        loc: loc.clone(),
    }
}

fn key(name: &str, loc: &Loc) -> Key {
    Key {
        name: name.to_string(),
        loc: loc.clone(),
    }
}

/// Sets `path` to `value` in `root`, creating missing mappings (the strict decoder then names any
/// key that does not exist). A list element is found by its `name` or its index.
// Long: one `--set` walked down the tree, one case per node kind it meets.
fn set(root: &mut Node, path: &str, value: Node, d: &mut Diagnostics) {
    let loc = value.loc.clone();
    let segments: Vec<&str> = path.split('.').collect();
    let mut node = root;
    let mut walked = String::new();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let here = if walked.is_empty() {
            seg.to_string()
        } else {
            format!("{walked}.{seg}")
        };
        if matches!(node.value, Value::Null) {
            node.value = Value::Map(Vec::new());
        }
        let kind = node.kind();
        node = match &mut node.value {
            Value::Map(entries) => {
                let pos = match entries.iter().position(|(k, _)| k.name == *seg) {
                    Some(p) => p,
                    None => {
                        entries.push((
                            key(seg, &loc),
                            Node {
                                value: Value::Null,
                                loc: loc.clone(),
                            },
                        ));
                        entries.len() - 1
                    }
                };
                &mut entries[pos].1
            }
            Value::Seq(items) => {
                let by_name = items.iter().position(|it| match &it.value {
                    Value::Map(e) => e
                        .iter()
                        .any(|(k, v)| k.name == "name" && v.scalar_text().as_deref() == Some(seg)),
                    _ => false,
                });
                match by_name.or_else(|| seg.parse::<usize>().ok().filter(|x| *x < items.len())) {
                    Some(p) => &mut items[p],
                    None => {
                        let names: Vec<String> = items
                            .iter()
                            .filter_map(|it| match &it.value {
                                Value::Map(e) => e
                                    .iter()
                                    .find(|(k, _)| k.name == "name")
                                    .and_then(|(_, v)| v.scalar_text()),
                                _ => None,
                            })
                            .collect();
                        d.error(
                            &loc,
                            &here,
                            format!(
                                "`{walked}` has no element named `{seg}` (elements: {}; or an index below {})",
                                if names.is_empty() { "unnamed".into() } else { names.join(", ") },
                                items.len()
                            ),
                        );
                        return;
                    }
                }
            }
            _ => {
                d.error(
                    &loc,
                    &here,
                    format!("`{walked}` is {kind}, so it has no `{seg}` to set"),
                );
                return;
            }
        };
        if last {
            *node = value;
            return;
        }
        walked = here;
    }
}

/// Appends a failure event.
fn add_failure(root: &mut Node, target: &str, at: &str, loc: &Loc) {
    let event = Node {
        value: Value::Map(vec![
            (key("at", loc), scalar(at, loc)),
            (key("fail", loc), scalar(target, loc)),
        ]),
        loc: loc.clone(),
    };
    if let Value::Map(entries) = &mut root.value {
        match entries.iter_mut().find(|(k, _)| k.name == "events") {
            Some((
                _,
                Node {
                    value: Value::Seq(v),
                    ..
                },
            )) => v.push(event),
            Some((_, other)) => {
                other.value = Value::Seq(vec![event]);
            }
            None => entries.push((
                key("events", loc),
                Node {
                    value: Value::Seq(vec![event]),
                    loc: loc.clone(),
                },
            )),
        }
    }
}

/// The scenario's own `variants:` list.
pub fn listed(root: &Node, d: &mut Diagnostics) -> Vec<Variant> {
    let Value::Map(entries) = &root.value else {
        return Vec::new();
    };
    let Some((_, list)) = entries.iter().find(|(k, _)| k.name == "variants") else {
        return Vec::new();
    };
    let Value::Seq(items) = &list.value else {
        d.error(
            &list.loc,
            "variants",
            format!(
                "expected a list of {{ name, set, fail }}, found {}",
                list.kind()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let path = format!("variants[{i}]");
        let Value::Map(fields) = &it.value else {
            d.error(
                &it.loc,
                &path,
                format!(
                    "expected a mapping {{ name, set, fail }}, found {}",
                    it.kind()
                ),
            );
            continue;
        };
        let mut v = Variant {
            name: format!("variant-{}", i + 1),
            changes: Vec::new(),
        };
        for (k, val) in fields {
            match (k.name.as_str(), &val.value) {
                ("name", _) => v.name = val.scalar_text().unwrap_or(v.name),
                ("set", Value::Map(sets)) => {
                    v.changes.extend(sets.iter().map(|(p, value)| Change::Set {
                        path: p.name.clone(),
                        value: value.clone(),
                    }))
                }
                ("fail", Value::Seq(fails)) => {
                    for f in fails {
                        let text = f.scalar_text().unwrap_or_default();
                        match text.rsplit_once('@') {
                            Some((t, at)) => v.changes.push(Change::Fail {
                                target: t.into(),
                                at: at.into(),
                                loc: f.loc.clone(),
                            }),
                            None => d.error(
                                &f.loc,
                                &format!("{path}.fail"),
                                "write REF@TIME, e.g. node:k8s-r1-2@100s",
                            ),
                        }
                    }
                }
                (other, _) => d.error(
                    &k.loc,
                    &format!("{path}.{other}"),
                    "a variant has `name`, `set: { PATH: VALUE }` and `fail: [REF@TIME]`",
                ),
            }
        }
        out.push(v);
    }
    out
}

/// The parsed tree of a scenario file (with its diagnostics when it does not parse).
pub fn parse_file(path: &Path, d: &mut Diagnostics) -> Option<Node> {
    let file: Arc<str> = Arc::from(path.display().to_string());
    match super::read_input(path) {
        Ok(text) => yaml::parse(&file, &text, d),
        Err(e) => {
            d.error(
                &Loc::new(file, 1, 1),
                "",
                format!("cannot read the scenario: {e}"),
            );
            None
        }
    }
}

/// Decodes `root` with `variant`'s changes applied (`base_dir` resolves relative files).
pub fn load_variant(root: &Node, variant: &Variant, base_dir: &Path) -> Loaded {
    let mut d = Diagnostics::default();
    let mut tree = root.clone();
    for c in &variant.changes {
        match c {
            Change::Set { path, value } => set(&mut tree, path, value.clone(), &mut d),
            Change::Fail { target, at, loc } => add_failure(&mut tree, target, at, loc),
        }
    }
    let scenario = if d.has_errors() {
        None
    } else {
        raw::RawScenario::decode(&tree, &mut d, base_dir)
            .and_then(|raw| resolve::resolve(raw, &mut d))
    };
    Loaded {
        scenario: if d.has_errors() { None } else { scenario },
        diagnostics: d,
    }
}
