//! `fabsim trace SCENARIO --design NAME --from REF --to REF [--proto P] [--sport N] [--json]`.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, load_valid};
use crate::dataplane::Outcome;
use crate::dataplane::Record;
use crate::dataplane::request;
use crate::dataplane::trace::{JsonTrace, to_json, to_text};
use crate::net::Proto;
use crate::scenario::{Scenario, reference};
use std::path::Path;

pub struct Args<'a> {
    pub scenario: &'a Path,
    pub design: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub proto: Option<Proto>,
    pub sport: Option<u16>,
    pub json: bool,
}

/// The flow a trace asks for, as the user wrote it.
pub struct Query<'a> {
    pub design: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub proto: Option<Proto>,
    pub sport: Option<u16>,
}

/// Walks the flow of `q` through `s`; the error says what in the query is wrong.
pub fn trace(s: &Scenario, q: &Query) -> Result<(JsonTrace, Outcome), String> {
    let Some(design) = s.design(q.design) else {
        let names: Vec<&str> = s.designs.iter().map(|d| d.name.as_str()).collect();
        return Err(format!(
            "no design named `{}` (designs: {})",
            q.design,
            names.join(", ")
        ));
    };
    let from = reference::resolve(q.from, &s.fabric, &s.cluster)
        .map_err(|m| format!("--from {}: {m}", q.from))?;
    let to = reference::resolve(q.to, &s.fabric, &s.cluster)
        .map_err(|m| format!("--to {}: {m}", q.to))?;
    let req = request::build(&from, &to, q.proto, q.sport, &s.fabric, &s.cluster)
        .map_err(|e| e.to_string())?;
    let mut rec = Record::default();
    // The engine's own compiled design: trace walks exactly what simulate walks.
    let outcome = design
        .compile(s)
        .walk_recorded(&s.fabric, &s.cluster, &req, &mut rec);
    Ok((
        to_json(&design.name, &outcome, &rec, &s.fabric, &s.cluster),
        outcome,
    ))
}

pub fn run(a: &Args) -> u8 {
    let s = match load_valid(a.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let q = Query {
        design: a.design,
        from: a.from,
        to: a.to,
        proto: a.proto,
        sport: a.sport,
    };
    let (t, outcome) = match trace(&s, &q) {
        Ok(x) => x,
        Err(m) => {
            eprintln!("{m}");
            return EXIT_BAD_INPUT;
        }
    };
    if a.json {
        match serde_json::to_string_pretty(&t) {
            Ok(j) => super::emit(&(j + "\n")),
            Err(e) => {
                eprintln!("cannot render JSON: {e}");
                return EXIT_FAILURE;
            }
        }
    } else {
        super::emit(&to_text(&t, outcome.latency));
    }
    EXIT_OK
}
