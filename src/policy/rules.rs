//! The contract rules between two EPGs as [`PolicyModel::check`](super::PolicyModel::check)
//! reads them per connection: each pair's rules with their filters copied inline when few (a
//! LoadBalancer service's contract has one filter per port), so a check is one probe of one
//! map. Through the contracts it took a probe, the pair's rule list, the contract record and its
//! filter list: four cache misses for each of a connection's two checks. Built from the
//! contracts on the first check after a change.

use super::{Contract, ContractId, EpgId, Filter};
use rustc_hash::FxHashMap;

/// Rules and filters held in place per pair; a pair with more takes the contracts' path.
const RULES: usize = 2;
const FILTERS: usize = 2;

/// One contract between the pair, in one direction, with its filters.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rule {
    pub(super) contract: ContractId,
    /// The pair is (provider, consumer) of the contract: the reply direction.
    pub(super) reply: bool,
    pub(super) reverse_tcp_established: bool,
    pub(super) filters: u8,
    pub(super) filter: [Filter; FILTERS],
}

/// A pair's rules in contract order (the forward rule of a contract before its reply rule).
#[derive(Clone, Copy, Debug)]
pub(super) enum PairRules {
    Few {
        n: u8,
        rules: [Rule; RULES],
    },
    /// More rules or filters than held in place.
    Many,
}

/// Every pair's rules, from the pairs' contract lists.
pub(super) fn index(
    pairs: &FxHashMap<(EpgId, EpgId), Vec<(ContractId, bool)>>,
    contracts: &[Contract],
) -> FxHashMap<(EpgId, EpgId), PairRules> {
    let mut out = FxHashMap::with_capacity_and_hasher(pairs.len(), Default::default());
    // Not iterated into output: each entry is worked out on its own.
    for (key, list) in pairs {
        out.insert(*key, pair_rules(list, contracts));
    }
    out
}

fn pair_rules(list: &[(ContractId, bool)], contracts: &[Contract]) -> PairRules {
    if list.len() > RULES {
        return PairRules::Many;
    }
    let empty = Rule {
        contract: ContractId(0),
        reply: false,
        reverse_tcp_established: false,
        filters: 0,
        filter: [Filter::ANY; FILTERS],
    };
    let mut rules = [empty; RULES];
    for (slot, &(id, reply)) in rules.iter_mut().zip(list) {
        let c = &contracts[id.index()];
        if c.filters.len() > FILTERS {
            return PairRules::Many;
        }
        let mut filter = [Filter::ANY; FILTERS];
        filter[..c.filters.len()].copy_from_slice(&c.filters);
        *slot = Rule {
            contract: id,
            reply,
            reverse_tcp_established: c.reverse_tcp_established,
            filters: c.filters.len() as u8,
            filter,
        };
    }
    PairRules::Few {
        n: list.len() as u8,
        rules,
    }
}
