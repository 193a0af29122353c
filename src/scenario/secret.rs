//! Credentials never leave fabsim: a value under a key that holds one (passwords, secrets,
//! tokens, keys, logins, certificates) is shown as `***` in every message, variant name, report
//! and plot.

/// Parts of a key name that mark a credential (matched case-insensitively, `_`/`-` ignored).
const MARKS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "key",
    "login",
    "credential",
    "cert",
    "auth",
];

/// Key names that contain a mark but hold no credential.
const NOT_SECRET: &[&str] = &["keepalive", "keepalivetime", "keepaliveinterval"];

/// Whether the last segment of a dotted key path names a credential (`bgp.password`,
/// `aci_config.apic_login.username`, `authSecretRef`).
pub fn is_credential(path: &str) -> bool {
    path.split(['.', '/'])
        .filter(|seg| !seg.is_empty())
        .any(|seg| {
            let k: String = seg
                .chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase();
            !NOT_SECRET.contains(&k.as_str()) && MARKS.iter().any(|m| k.contains(m))
        })
}

/// Marks that a value (a map, a list of flags) holds a credential somewhere inside.
const MARKS_IN_VALUES: &[&str] = &["password", "passwd", "secret", "token", "credential"];

/// Whether a value's text holds a credential: a key or flag named like one inside a map or list
/// (`{ password: x }`, `[--peer-router-passwords=…]`, `{ kube-router.io/peer.passwords: … }`).
pub fn holds_credential(text: &str) -> bool {
    let t = text.to_lowercase();
    MARKS_IN_VALUES.iter().any(|m| t.contains(m))
}

/// Whether a parsed value holds a credential: a key named like one, or a string holding one.
pub fn node_holds_credential(node: &super::yaml::Node) -> bool {
    use super::yaml::Value;
    match &node.value {
        Value::Str(s) => holds_credential(s),
        Value::Seq(items) => items.iter().any(node_holds_credential),
        Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| is_credential(&k.name) || node_holds_credential(v)),
        _ => false,
    }
}

/// `PATH=VALUE` as it may be shown: the value replaced by `***` under a credential key, or when
/// it holds one.
pub fn shown_set(arg: &str) -> String {
    match arg.split_once('=') {
        Some((path, value)) if is_credential(path) || holds_credential(value) => {
            format!("{path}=***")
        }
        _ => arg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_keys_are_recognised_and_timers_are_not() {
        for k in [
            "designs.calico.bgp.password",
            "designs.calico.bgp.passwordd",
            "aci_config.apic_login.username",
            "peer.passwords",
            "authSecretRef",
            "designs.x.token",
            "private_key",
        ] {
            assert!(is_credential(k), "{k}");
        }
        for k in [
            "designs.aci-cni.kube_config.snat_operator.port_range.ports_per_node",
            "fabric.bgp.keepalive",
            "conntrack.time_wait",
            "seed",
        ] {
            assert!(!is_credential(k), "{k}");
        }
        assert_eq!(shown_set("bgp.password=hunter2"), "bgp.password=***");
        assert_eq!(shown_set("seed=3"), "seed=3");
        assert_eq!(
            shown_set("designs.kube-router.args=[--peer-router-passwords=c2VjcmV0]"),
            "designs.kube-router.args=***"
        );
        assert_eq!(
            shown_set("designs.calico.bgp={ password: x }"),
            "designs.calico.bgp=***"
        );
    }
}
