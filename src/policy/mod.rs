//! ACI policy: EPGs (application and external), contracts with their filters and service graphs,
//! and classification of outside addresses into external EPGs by longest-prefix match.
//!
//! Semantics: a contract permits traffic from a consumer EPG to a provider EPG matching one of
//! its filters on the destination port, and the reply (provider → consumer, filter matched on the
//! source port), as ACI's "apply both directions / reverse filter ports" defaults do. Traffic
//! inside one EPG is permitted (ACI's intra-EPG default). Anything else is dropped.

use crate::fabric::id_type;
use crate::net::Proto;
use crate::net::lpm::LpmTable;
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

mod rules;

id_type!(EpgId, ContractId, RedirectId);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EpgKind {
    /// An application EPG (kube-default, kube-system, kube-nodes, custom).
    App,
    /// An external EPG of the L3Out.
    External,
}

#[derive(Clone, Debug)]
pub struct Epg {
    pub name: String,
    pub kind: EpgKind,
}

/// One filter entry: a protocol (or any IP) and an optional destination port range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    pub proto: Option<Proto>,
    pub ports: Option<(u16, u16)>,
}

/// Why a contract filter could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("`{0}` is not a filter; write tcp/443, udp/53, tcp/5000-5999, icmp or any")]
    NotAFilter(String),
    #[error("`{0}` is not a port or port range")]
    NotAPortRange(String),
    #[error("port range `{0}` is backwards")]
    Backwards(String),
}

impl Filter {
    pub const ANY: Filter = Filter {
        proto: None,
        ports: None,
    };
    pub fn tcp(p: u16) -> Filter {
        Filter {
            proto: Some(Proto::Tcp),
            ports: Some((p, p)),
        }
    }
    pub fn udp(p: u16) -> Filter {
        Filter {
            proto: Some(Proto::Udp),
            ports: Some((p, p)),
        }
    }
    pub fn proto(p: Proto) -> Filter {
        Filter {
            proto: Some(p),
            ports: None,
        }
    }

    fn matches(&self, proto: Proto, port: u16) -> bool {
        self.proto.is_none_or(|p| p == proto)
            && (self.ports.is_none()
                || !proto.has_ports()
                || self.ports.is_some_and(|(a, b)| (a..=b).contains(&port)))
    }

    /// Parses `tcp/443`, `udp/53`, `tcp/5000-5999`, `tcp`, `icmp`, `any`.
    pub fn parse(s: &str) -> Result<Filter, FilterError> {
        let s = s.trim().to_ascii_lowercase();
        if s == "any" || s == "ip" {
            return Ok(Filter::ANY);
        }
        let (p, ports) = match s.split_once('/') {
            Some((p, r)) => (p, Some(r)),
            None => (s.as_str(), None),
        };
        let proto = Proto::parse(p).ok_or_else(|| FilterError::NotAFilter(s.clone()))?;
        let ports = match ports {
            None => None,
            Some(r) => {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                let a: u16 = a
                    .parse()
                    .map_err(|_| FilterError::NotAPortRange(r.into()))?;
                let b: u16 = b
                    .parse()
                    .map_err(|_| FilterError::NotAPortRange(r.into()))?;
                if a > b {
                    return Err(FilterError::Backwards(r.into()));
                }
                Some((a, b))
            }
        };
        Ok(Filter {
            proto: Some(proto),
            ports,
        })
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.proto, self.ports) {
            (None, _) => f.write_str("any"),
            (Some(p), None) => write!(f, "{p}"),
            (Some(p), Some((a, b))) if a == b => write!(f, "{p}/{a}"),
            (Some(p), Some((a, b))) => write!(f, "{p}/{a}-{b}"),
        }
    }
}

/// A service graph attached to a contract: traffic towards `toward` is redirected by `redirect`.
#[derive(Clone, Copy, Debug)]
pub struct Graph {
    pub redirect: RedirectId,
    pub toward: EpgId,
}

#[derive(Clone, Debug)]
pub struct Contract {
    pub name: String,
    pub filters: Vec<Filter>,
    pub providers: Vec<EpgId>,
    pub consumers: Vec<EpgId>,
    pub graph: Option<Graph>,
    /// The provider → consumer direction admits only packets of established TCP connections
    /// (a subject's out-term filter with `tcpRules: est`, acc-provision's health-check): the
    /// provider cannot open a TCP connection through it.
    pub reverse_tcp_established: bool,
}

/// The outcome of a policy check between two EPGs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    IntraEpg,
    Permit {
        contract: ContractId,
        filter: Filter,
        reply: bool,
    },
    Deny,
}

#[derive(Clone, Debug, Default)]
pub struct PolicyModel {
    epgs: Vec<Epg>,
    /// (name, kind) → the EPG: `add_epg` looks up before it adds (a scan of every EPG per
    /// added EPG was quadratic: 1,000 LoadBalancer services add 1,000 external EPGs).
    epg_index: rustc_hash::FxHashMap<(String, EpgKind), EpgId>,
    contracts: Vec<Contract>,
    external_lpm: LpmTable<EpgId>,
    /// (a, b) → the contracts between them in contract order, each with its direction: `a`
    /// consumes and `b` provides (`reply: false`), or the other way round (`reply: true`, after
    /// the forward entry of the same contract). One look-up per check.
    pairs: rustc_hash::FxHashMap<(EpgId, EpgId), Vec<(ContractId, bool)>>,
    /// The pairs' rules with their filters in place (`rules`), built on the first check after
    /// a contract or filter was added.
    rules: std::sync::OnceLock<rustc_hash::FxHashMap<(EpgId, EpgId), rules::PairRules>>,
}

impl PolicyModel {
    pub fn add_epg(&mut self, name: &str, kind: EpgKind) -> EpgId {
        let next = EpgId(self.epgs.len() as u32);
        let id = *self
            .epg_index
            .entry((name.to_string(), kind))
            .or_insert(next);
        if id == next {
            self.epgs.push(Epg {
                name: name.to_string(),
                kind,
            });
        }
        id
    }

    /// Every EPG, in the order they were added.
    pub fn epgs(&self) -> &[Epg] {
        &self.epgs
    }

    /// The first EPG added with this name, of either kind.
    pub fn epg_by_name(&self, name: &str) -> Option<EpgId> {
        [EpgKind::App, EpgKind::External]
            .into_iter()
            .filter_map(|k| self.epg_index.get(&(name.to_string(), k)).copied())
            .min()
    }

    pub fn epg(&self, id: EpgId) -> &Epg {
        &self.epgs[id.index()]
    }

    pub fn contract(&self, id: ContractId) -> &Contract {
        &self.contracts[id.index()]
    }

    /// Every contract, in the order they were added.
    pub fn contracts(&self) -> &[Contract] {
        &self.contracts
    }

    /// Adds a filter to contract `id`.
    pub fn add_filter(&mut self, id: ContractId, f: Filter) {
        self.contracts[id.index()].filters.push(f);
        self.rules = std::sync::OnceLock::new();
    }

    pub fn add_contract(&mut self, c: Contract) -> ContractId {
        let id = ContractId(self.contracts.len() as u32);
        for consumer in &c.consumers {
            for provider in &c.providers {
                for (key, reply) in [
                    ((*consumer, *provider), false),
                    ((*provider, *consumer), true),
                ] {
                    let list = self.pairs.entry(key).or_default();
                    list.push((id, reply));
                    // Contract order, the forward entry before the reply entry of a contract.
                    list.sort();
                }
            }
        }
        self.contracts.push(c);
        self.rules = std::sync::OnceLock::new();
        id
    }

    /// Adds a subnet to an external EPG's classification.
    pub fn add_external_subnet(&mut self, prefix: Ipv4Net, epg: EpgId) {
        self.external_lpm.insert(prefix, epg);
    }

    /// Classifies an outside address: the external EPG of the longest matching subnet.
    pub fn classify_external(&self, ip: Ipv4Addr) -> Option<(Ipv4Net, EpgId)> {
        self.external_lpm.lookup(ip).map(|(p, e)| (p, *e))
    }

    /// The external-EPG subnets, for listings.
    pub fn external_subnets(&self) -> impl Iterator<Item = (Ipv4Net, EpgId)> + '_ {
        self.external_lpm.iter().map(|(p, e)| (p, *e))
    }

    /// Checks traffic from `src` to `dst` with the given protocol and ports. Contracts are
    /// searched in order; the first that permits wins. `opening`: the packet opens a connection
    /// (a TCP SYN), which an established-only reverse filter does not admit.
    pub fn check(
        &self,
        src: EpgId,
        dst: EpgId,
        proto: Proto,
        (sport, dport): (u16, u16),
        opening: bool,
    ) -> Verdict {
        if src == dst {
            return Verdict::IntraEpg;
        }
        // Contracts where src consumes and dst provides (forward), or the other way (reply),
        // in contract order.
        let rules = self
            .rules
            .get_or_init(|| rules::index(&self.pairs, &self.contracts));
        let packet = (proto, (sport, dport), opening);
        let few = match rules.get(&(src, dst)) {
            None => return Verdict::Deny,
            Some(rules::PairRules::Few { n, rules }) => &rules[..usize::from(*n)],
            Some(rules::PairRules::Many) => return self.check_contracts((src, dst), packet),
        };
        few.iter()
            .find_map(|r| {
                let filters = &r.filter[..usize::from(r.filters)];
                permits(
                    r.contract,
                    r.reply,
                    r.reverse_tcp_established,
                    filters,
                    packet,
                )
            })
            .unwrap_or(Verdict::Deny)
    }

    /// [`PolicyModel::check`] through the contracts themselves (a pair with more rules or
    /// filters than `rules` holds in place).
    fn check_contracts(&self, pair: (EpgId, EpgId), packet: Packet) -> Verdict {
        let Some(list) = self.pairs.get(&pair) else {
            return Verdict::Deny;
        };
        list.iter()
            .find_map(|&(id, reply)| {
                let c = &self.contracts[id.index()];
                permits(id, reply, c.reverse_tcp_established, &c.filters, packet)
            })
            .unwrap_or(Verdict::Deny)
    }
}

/// What a check reads of a packet: its protocol, (source, destination) port, and whether it
/// opens a connection.
type Packet = (Proto, (u16, u16), bool);

/// One direction of a contract against a packet (protocol, (source, destination) port,
/// whether it opens a connection): permitted by its first filter matching the destination port,
/// or the source port in the reply direction ("reverse filter ports") — unless the reply
/// direction admits only established TCP and the packet opens a connection.
fn permits(
    contract: ContractId,
    reply: bool,
    reverse_tcp_established: bool,
    filters: &[Filter],
    (proto, (sport, dport), opening): Packet,
) -> Option<Verdict> {
    if reply && opening && proto == Proto::Tcp && reverse_tcp_established {
        return None;
    }
    let port = if reply { sport } else { dport };
    let f = filters.iter().find(|f| f.matches(proto, port))?;
    Some(Verdict::Permit {
        contract,
        filter: *f,
        reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A check through the pairs' rules held in place gives what the scan of the
        /// contracts gives: contracts with 0–4 filters (past the 2 held in place), several per
        /// pair (past the 2 held), established-only replies, filters added after the first check.
        #[test]
        fn rules_in_place_check_as_the_contracts_do(
            contracts in prop::collection::vec(
                (0u32..4, 0u32..4, prop::collection::vec((0u8..3, 0u16..6, 0u16..3), 0..5), any::<bool>()),
                0..7,
            ),
            late in prop::collection::vec((0usize..7, 0u16..6), 0..3),
            probes in prop::collection::vec((0u32..4, 0u32..4, 0u8..3, 0u16..8, 0u16..8, any::<bool>()), 1..40),
        ) {
            let protos = [Proto::Tcp, Proto::Udp, Proto::Icmp];
            let filter = |(p, lo, w): (u8, u16, u16)| Filter {
                proto: (p < 2).then_some(protos[p as usize]),
                ports: (w > 0).then_some((lo, lo + w - 1)),
            };
            let mut m = PolicyModel::default();
            let mut ids = Vec::new();
            for (consumer, provider, filters, est) in &contracts {
                ids.push(m.add_contract(Contract {
                    name: String::new(),
                    filters: filters.iter().map(|f| filter(*f)).collect(),
                    providers: vec![EpgId(*provider)],
                    consumers: vec![EpgId(*consumer)],
                    graph: None,
                    reverse_tcp_established: *est,
                }));
            }
            let checked = |m: &PolicyModel| -> Result<(), TestCaseError> {
                for (a, b, p, sport, dport, opening) in &probes {
                    let (a, b, proto) = (EpgId(*a), EpgId(*b), protos[*p as usize]);
                    let want = if a == b {
                        Verdict::IntraEpg
                    } else {
                        m.check_contracts((a, b), (proto, (*sport, *dport), *opening))
                    };
                    prop_assert_eq!(m.check(a, b, proto, (*sport, *dport), *opening), want);
                }
                Ok(())
            };
            checked(&m)?;
            for (c, port) in late {
                if let Some(id) = ids.get(c) {
                    m.add_filter(*id, Filter::tcp(port));
                }
            }
            checked(&m)?;
        }
    }

    #[test]
    fn an_epg_is_named_once_per_kind_and_found_by_its_first_addition() {
        let mut m = PolicyModel::default();
        let ext = m.add_epg("web", EpgKind::External);
        let app = m.add_epg("web", EpgKind::App);
        assert_eq!((ext, app), (EpgId(0), EpgId(1)));
        assert_eq!(m.add_epg("web", EpgKind::App), app);
        assert_eq!(m.add_epg("db", EpgKind::App), EpgId(2));
        assert_eq!(m.epgs().len(), 3);
        assert_eq!(m.epg_by_name("web"), Some(ext));
        assert_eq!(m.epg_by_name("db"), Some(EpgId(2)));
        assert_eq!(m.epg_by_name("none"), None);
    }

    #[test]
    fn consumer_to_provider_and_the_reply_only() {
        let mut m = PolicyModel::default();
        let web = m.add_epg("kube-default", EpgKind::App);
        let sys = m.add_epg("kube-system", EpgKind::App);
        m.add_contract(Contract {
            name: "dns".into(),
            filters: vec![Filter::udp(53), Filter::tcp(53)],
            providers: vec![sys],
            consumers: vec![web],
            graph: None,
            reverse_tcp_established: false,
        });
        assert!(matches!(
            m.check(web, sys, Proto::Udp, (40000, 53), true),
            Verdict::Permit { reply: false, .. }
        ));
        assert!(matches!(
            m.check(sys, web, Proto::Udp, (53, 40000), false),
            Verdict::Permit { reply: true, .. }
        ));
        assert!(matches!(
            m.check(web, sys, Proto::Tcp, (40000, 80), true),
            Verdict::Deny
        ));
        // The provider cannot open connections to the consumer.
        assert!(matches!(
            m.check(sys, web, Proto::Udp, (40000, 53), true),
            Verdict::Deny
        ));
        assert!(matches!(
            m.check(web, web, Proto::Tcp, (1, 2), true),
            Verdict::IntraEpg
        ));
    }

    #[test]
    fn an_established_only_reverse_filter_admits_replies_not_openings() {
        // acc-provision's health-check: nodes (consumer) → pods (provider) on any TCP port; the
        // out term has tcpRules `est`, so a pod cannot open a TCP connection to a node with it.
        let mut m = PolicyModel::default();
        let pods = m.add_epg("aci-containers-default", EpgKind::App);
        let nodes = m.add_epg("aci-containers-nodes", EpgKind::App);
        m.add_contract(Contract {
            name: "health-check".into(),
            filters: vec![Filter::proto(Proto::Tcp)],
            providers: vec![pods],
            consumers: vec![nodes],
            graph: None,
            reverse_tcp_established: true,
        });
        assert!(matches!(
            m.check(nodes, pods, Proto::Tcp, (40000, 8080), true),
            Verdict::Permit { reply: false, .. }
        ));
        assert!(matches!(
            m.check(pods, nodes, Proto::Tcp, (8080, 40000), false),
            Verdict::Permit { reply: true, .. }
        ));
        assert!(matches!(
            m.check(pods, nodes, Proto::Tcp, (8080, 10250), true),
            Verdict::Deny
        ));
    }

    #[test]
    fn filters_parse() {
        assert_eq!(Filter::parse("tcp/443").unwrap(), Filter::tcp(443));
        assert_eq!(
            Filter::parse("tcp/5000-5999").unwrap().ports,
            Some((5000, 5999))
        );
        assert_eq!(Filter::parse("any").unwrap(), Filter::ANY);
        assert!(Filter::parse("tcp/99999").is_err());
        assert!(Filter::parse("sctp").is_err());
    }
}
