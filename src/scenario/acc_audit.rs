//! Nothing in an acc-provision file is ignored in silence: every key the file holds is either
//! modelled, or named in a warning with its line and what leaving it out means for the result.
//!
//! The catalogue (`acc_provision_keys.tsv`) lists acc-provision's own input keys with their
//! effect in the product (admin / mode / behaviour), read from acc-provision 399c158
//! (`acc_provision.py` `config_default`, `config_validate`; `apic_provision.py`; the templates).
//! Administrative keys (APIC access, images, VLANs, logging) are listed together, one warning per
//! section; a mode fabsim does not simulate, or a behaviour it does not model, gets a warning of
//! its own; a key acc-provision does not know gets "did you mean". Values are never printed
//! (an acc-provision file holds credentials).

use super::decode::join;
use super::diag::{Diagnostics, Loc};
use super::yaml::{Node, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Category {
    Admin,
    Mode,
    Behaviour,
}

fn catalogue() -> &'static BTreeMap<&'static str, (Category, &'static str)> {
    static TABLE: OnceLock<BTreeMap<&'static str, (Category, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("acc_provision_keys.tsv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let mut parts = l.splitn(3, '\t');
                let (path, cat, meaning) = (parts.next()?, parts.next()?, parts.next()?);
                let cat = match cat {
                    "admin" => Category::Admin,
                    "mode" => Category::Mode,
                    _ => Category::Behaviour,
                };
                Some((path, (cat, meaning)))
            })
            .collect()
    })
}

/// What fabsim does instead, for the modes it does not simulate (said with the mode's warning).
const MODE_CONSEQUENCE: &[(&str, &str)] = &[
    (
        "aci_config.vmm_domain.nested_inside",
        "nodes as VMs behind a vSwitch are not modelled; simulated as bare-metal nodes on the leaves",
    ),
    (
        "kube_config.run_gbp_container",
        "the k8s-overlay flavour is not modelled; simulated as ACI-CNI with opflex on the fabric",
    ),
    (
        "kube_config.run_opflex_server_container",
        "the k8s-overlay flavour is not modelled; simulated as ACI-CNI with opflex on the fabric",
    ),
    (
        "cilium_chaining.enable",
        "ACI-CNI chained with Cilium is not modelled; simulated as plain ACI-CNI (opflex forwarding, no Cilium data path)",
    ),
    (
        "chained_cni_config.primary_interface_chaining",
        "chained mode is not modelled; simulated as plain ACI-CNI as the primary CNI",
    ),
    (
        "chained_cni_config.secondary_interface_chaining",
        "secondary-interface chaining is not modelled; only the primary pod interface is simulated",
    ),
    (
        "chained_cni_config.skip_node_network_provisioning",
        "chained mode is not modelled; the node network is simulated as acc-provision provisions it",
    ),
    (
        "aci_config.vmm_domain.type",
        "OpenShift's EPG and contract layout is not modelled; simulated as the Kubernetes flavour",
    ),
    (
        "kube_config.opflex_mode",
        "only the physical (bare-metal) opflex mode is modelled; simulated as physical",
    ),
    (
        "sriov_config.enable",
        "SR-IOV / hardware offload is not modelled; simulated as OVS on the host",
    ),
    (
        "dpu_config.enable",
        "DPU offload is not modelled; simulated as OVS on the host",
    ),
    (
        "multus.disable",
        "extra Multus interfaces are not modelled; only the primary pod interface is simulated",
    ),
    (
        "vmm_lite_config.aaep_monitoring_enabled",
        "VMM-lite is not modelled; simulated as plain ACI-CNI",
    ),
    (
        "aci_config.secondary_aep",
        "secondary networks are not modelled; only the primary pod interface is simulated",
    ),
];

/// Whether a mode key's value turns the mode on (`false`, `physical`, `Kubernetes`, empty: off).
fn mode_on(path: &str, v: &Node) -> bool {
    match (&v.value, path) {
        (Value::Bool(b), "multus.disable") => !b,
        (Value::Bool(b), _) => *b,
        (Value::Null, _) => false,
        (Value::Str(s), "aci_config.vmm_domain.type") => !s.eq_ignore_ascii_case("kubernetes"),
        (Value::Str(s), "kube_config.opflex_mode") => s != "physical",
        (Value::Str(s), _) => !s.is_empty() && s != "false" && s != "False",
        (Value::Map(m), _) => !m.is_empty(),
        _ => true,
    }
}

/// Lists, as warnings, every key of the acc-provision file `root` that fabsim does not model.
/// `modelled`: the key paths fabsim reads for this design (`net_config.node_subnet`, …).
pub fn audit(root: &Node, modelled: &[&str], d: &mut Diagnostics) {
    let mut admin: BTreeMap<String, (Loc, Vec<String>)> = BTreeMap::new();
    let mut behaviour = Behaviours::new();
    walk(root, "", modelled, &mut admin, &mut behaviour, d);
    // One warning per key, however many list entries hold it.
    for (p, (loc, meaning, lines)) in behaviour {
        let at = if lines.len() > 1 {
            let l: Vec<String> = lines.iter().map(u64::to_string).collect();
            format!(" (lines {})", l.join(", "))
        } else {
            String::new()
        };
        d.warning(
            &loc,
            &p,
            format!("read, not modelled{at}: {meaning} — fabsim simulates without it"),
        );
    }
    for (section, (loc, keys)) in admin {
        d.warning(
            &loc,
            &section,
            format!(
                "read, not modelled — no effect on what fabsim simulates (APIC access, VMM and VLAN settings, images, logging, operator timers): {}",
                keys.join(", ")
            ),
        );
    }
}

fn has_children(prefix: &str) -> bool {
    let dot = format!("{prefix}.");
    let list = format!("{prefix}[]");
    catalogue()
        .range(prefix..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .any(|(k, _)| k.starts_with(&dot) || k.starts_with(&list))
}

/// Behaviour keys not modelled: path → (first location, meaning, lines).
type Behaviours = BTreeMap<String, (Loc, &'static str, Vec<u64>)>;

fn walk(
    node: &Node,
    path: &str,
    modelled: &[&str],
    admin: &mut BTreeMap<String, (Loc, Vec<String>)>,
    behaviour: &mut Behaviours,
    d: &mut Diagnostics,
) {
    let Value::Map(entries) = &node.value else {
        return;
    };
    for (k, v) in entries {
        let p = join(path, &k.name);
        let under_modelled = modelled
            .iter()
            .any(|m| m.starts_with(&format!("{p}.")) || m.starts_with(&format!("{p}[]")));
        if modelled.contains(&p.as_str()) {
            continue;
        }
        let entry = catalogue().get(p.as_str()).copied();
        if matches!(v.value, Value::Map(_)) && (has_children(&p) || under_modelled) {
            if let Some((Category::Mode, meaning)) = entry
                && consequence(&p).is_some()
                && mode_on(&p, v)
            {
                // The mode is said once; its own keys are part of it.
                mode_warning(&p, v, &k.loc, meaning, d);
                continue;
            }
            walk(v, &p, modelled, admin, behaviour, d);
            continue;
        }
        if let (Value::Seq(items), true) = (&v.value, has_children(&format!("{p}[]"))) {
            if !under_modelled && entry.is_none_or(|e| e.0 == Category::Admin) {
                section_list(admin, path, &p, &k.loc, v);
                continue;
            }
            for item in items {
                walk(item, &format!("{p}[]"), modelled, admin, behaviour, d);
            }
            continue;
        }
        match entry {
            Some((Category::Admin, _)) => section_list(admin, path, &p, &k.loc, v),
            // A mode that does not change the data path (a pre-existing tenant, the flavour
            // name, an installer) is administrative here.
            Some((Category::Mode, _)) if consequence(&p).is_none() => {
                section_list(admin, path, &p, &k.loc, v)
            }
            Some((Category::Mode, meaning)) => mode_warning(&p, v, &k.loc, meaning, d),
            Some((Category::Behaviour, meaning)) => behaviour
                .entry(p.clone())
                .or_insert_with(|| (k.loc.clone(), meaning, Vec::new()))
                .2
                .push(k.loc.line),
            None => unknown(&p, path, &k.name, &k.loc, d),
        }
    }
}

/// Adds `p` to its top-level section's list of administrative keys.
fn section_list(
    admin: &mut BTreeMap<String, (Loc, Vec<String>)>,
    parent: &str,
    p: &str,
    loc: &Loc,
    _v: &Node,
) {
    let section = parent
        .split('.')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(p);
    let short = p.strip_prefix(&format!("{section}.")).unwrap_or(p);
    let e = admin
        .entry(section.to_string())
        .or_insert_with(|| (loc.clone(), Vec::new()));
    e.1.push(format!("{short} (line {})", loc.line));
}

fn consequence(p: &str) -> Option<&'static str> {
    MODE_CONSEQUENCE
        .iter()
        .find(|(k, _)| *k == p)
        .map(|(_, c)| *c)
}

fn mode_warning(p: &str, v: &Node, loc: &Loc, meaning: &str, d: &mut Diagnostics) {
    if !mode_on(p, v) {
        return;
    }
    let c = consequence(p).unwrap_or("this mode is not modelled");
    d.warning(loc, p, format!("`{p}`: {c} (acc-provision: {meaning})"));
}

fn unknown(p: &str, parent: &str, key: &str, loc: &Loc, d: &mut Diagnostics) {
    let prefix = if parent.is_empty() {
        String::new()
    } else {
        format!("{parent}.")
    };
    // Sibling keys acc-provision knows at this level.
    let mut siblings: Vec<&str> = catalogue()
        .keys()
        .filter_map(|k| k.strip_prefix(prefix.as_str()))
        .map(|rest| rest.split(['.', '[']).next().unwrap_or(rest))
        .collect();
    siblings.dedup();
    let mut hint = super::decode::did_you_mean(key, &siblings);
    if hint.is_empty() {
        hint.push('.');
    }
    d.warning(
        loc,
        p,
        format!("`{key}` is not an acc-provision key{hint} As written, acc-provision ignores it, and so does fabsim (the default applies)"),
    );
}
