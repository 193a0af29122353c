//! `fabsim trace SCENARIO --design NAME --from REF --to REF [--proto P] [--sport N] [--json]`.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, load_valid};
use crate::dataplane::aci::AciWalk;
use crate::dataplane::request;
use crate::dataplane::trace::{to_json, to_text};
use crate::dataplane::Record;
use crate::design::aci_cni::AciState;
use crate::nat::conntrack::NatTable;
use crate::net::Proto;
use crate::scenario::reference;
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

pub fn run(a: &Args) -> u8 {
    let s = match load_valid(a.scenario) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let Some(design) = s.design(a.design) else {
        let names: Vec<&str> = s.designs.iter().map(|d| d.name.as_str()).collect();
        eprintln!("{}: no design named `{}` (designs: {})", a.scenario.display(), a.design, names.join(", "));
        return EXIT_BAD_INPUT;
    };
    let Some(cfg) = &design.aci else {
        eprintln!("design `{}` is {}: only aci-cni is modelled so far (the BGP designs come with their own issue)", design.name, design.cni.name());
        return EXIT_BAD_INPUT;
    };
    let from = match reference::resolve(a.from, &s.fabric, &s.cluster) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("--from {}: {m}", a.from);
            return EXIT_BAD_INPUT;
        }
    };
    let to = match reference::resolve(a.to, &s.fabric, &s.cluster) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("--to {}: {m}", a.to);
            return EXIT_BAD_INPUT;
        }
    };
    let req = match request::build(&from, &to, a.proto, a.sport, &s.fabric, &s.cluster) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("{m}");
            return EXIT_BAD_INPUT;
        }
    };
    let state = AciState::compile(&s.cluster, cfg);
    let walker = AciWalk::new(&s.fabric, &s.cluster, &state);
    let mut rec = Record::default();
    let outcome = walker.walk(&req, &mut NatTable::default(), &mut rec);
    let t = to_json(&design.name, &outcome, &rec, &s.fabric, &s.cluster);
    if a.json {
        match serde_json::to_string_pretty(&t) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("cannot render JSON: {e}");
                return EXIT_FAILURE;
            }
        }
    } else {
        print!("{}", to_text(&t, outcome.latency));
    }
    EXIT_OK
}
