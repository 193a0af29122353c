//! Hash tables that map a flow hash to one member of a group: the resilient bucket table of PBR
//! (APIC resilient hashing) and plain hash-threshold selection.
//!
//! Resilient: a fixed number of buckets, each owned by a member. Removing a member hands only its
//! buckets to ONE other member (the next in the list), so only its flows move, all to one place. Adding a member takes a
//! fair share from the most loaded members. Approximation: APIC does not publish its bucket count;
//! we use [`BUCKETS`] (a multiple of the 64-destination maximum).
//! Hash-threshold (RFC 2992 style, resilient hashing off): `members[pick(hash, n)]`, so any change
//! of the member count remaps flows of every member.

use super::hash::pick;

/// Buckets in a resilient table.
pub const BUCKETS: usize = 256;

#[derive(Clone, Debug)]
pub struct HashGroup<T> {
    members: Vec<T>,
    /// Bucket → index into `members`; empty when not resilient.
    buckets: Vec<u16>,
    /// Bucket → its member (`members[buckets[b]]`, kept as they change): a choice reads one
    /// array, not two (a miss each, per connection, over 1,000 services' groups).
    owner: Vec<T>,
    resilient: bool,
}

/// Which member a hash chose, and through which bucket (for explanations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice<T> {
    pub member: T,
    pub bucket: usize,
    pub of: usize,
}

impl<T: Copy + PartialEq> HashGroup<T> {
    pub fn new(members: Vec<T>, resilient: bool) -> Self {
        // Bucket b to member b mod n, counted round rather than divided (a thousand groups
        // of 256 buckets are built per compile of a big fabric).
        let (buckets, owner) = if resilient && !members.is_empty() {
            let n = members.len().min(BUCKETS) as u16;
            (
                (0..n).cycle().take(BUCKETS).collect(),
                members.iter().copied().cycle().take(BUCKETS).collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        HashGroup {
            members,
            buckets,
            owner,
            resilient,
        }
    }

    /// Recomputes `owner` from the buckets and members.
    fn refresh_owner(&mut self) {
        self.owner.clear();
        let members = &self.members;
        self.owner
            .extend(self.buckets.iter().map(|b| members[*b as usize]));
    }

    pub fn members(&self) -> &[T] {
        &self.members
    }

    pub fn is_resilient(&self) -> bool {
        self.resilient
    }

    pub fn choose(&self, hash: u64) -> Option<Choice<T>> {
        if self.members.is_empty() {
            return None;
        }
        if self.resilient {
            let b = pick(hash, self.owner.len());
            Some(Choice {
                member: self.owner[b],
                bucket: b,
                of: self.buckets.len(),
            })
        } else {
            let i = pick(hash, self.members.len());
            Some(Choice {
                member: self.members[i],
                bucket: i,
                of: self.members.len(),
            })
        }
    }

    fn loads(&self) -> Vec<usize> {
        let mut l = vec![0; self.members.len()];
        for b in &self.buckets {
            l[*b as usize] += 1;
        }
        l
    }

    /// Removes a member; returns false if it was not one. Resilient: only the removed member's
    /// buckets change owner, and all of them go to ONE available member — Cisco's ACI PBR white
    /// paper: with resilient hashing "the traffic that was going to the failed node is redirected
    /// to one of the available PBR nodes", not spread over all (why "backup PBR policy" exists).
    /// Which one is not published: we take the member that followed the removed one in the list
    /// (wrapping) — the next destination by name, as the controller lists them, until a returning
    /// destination is appended at the end by [`HashGroup::add`]. Plain hashing rehashes every flow.
    pub fn remove(&mut self, m: T) -> bool {
        let Some(gone) = self.members.iter().position(|x| *x == m) else {
            return false;
        };
        self.members.remove(gone);
        if !self.resilient {
            return true;
        }
        if self.members.is_empty() {
            self.buckets.clear();
            self.owner.clear();
            return true;
        }
        // After the removal, index `gone` holds the member that followed it.
        let heir = (gone % self.members.len()) as u16;
        for b in self.buckets.iter_mut() {
            match (*b as usize).cmp(&gone) {
                std::cmp::Ordering::Equal => *b = heir,
                std::cmp::Ordering::Greater => *b -= 1,
                std::cmp::Ordering::Less => {}
            }
        }
        self.refresh_owner();
        true
    }

    /// Adds a member (appended; callers keep their own order); returns false if already present.
    pub fn add(&mut self, m: T) -> bool {
        if self.members.contains(&m) {
            return false;
        }
        self.members.push(m);
        if !self.resilient {
            return true;
        }
        let new = self.members.len() - 1;
        if self.buckets.is_empty() {
            self.buckets = vec![new as u16; BUCKETS];
            self.refresh_owner();
            return true;
        }
        let fair = BUCKETS / self.members.len();
        let mut loads = self.loads();
        while loads[new] < fair {
            let (most, _) = loads
                .iter()
                .enumerate()
                .max_by_key(|(j, l)| (**l, std::cmp::Reverse(*j)))
                .expect("non-empty");
            let b = self
                .buckets
                .iter()
                .rposition(|x| *x as usize == most)
                .expect("most loaded owns a bucket");
            self.buckets[b] = new as u16;
            loads[most] -= 1;
            loads[new] += 1;
        }
        self.refresh_owner();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::hash::mix64;
    use proptest::prelude::*;

    proptest! {
        /// FACTS §1: with resilient hashing, removing a destination moves only its flows.
        #[test]
        fn resilient_removal_moves_only_the_removed_members_flows(n in 2usize..40, victim in 0usize..40, seed in any::<u64>()) {
            let victim = victim % n;
            let mut g = HashGroup::new((0..n as u32).collect(), true);
            let flows: Vec<u64> = (0..2000u64).map(|i| mix64(seed ^ i)).collect();
            let before: Vec<u32> = flows.iter().map(|h| g.choose(*h).unwrap().member).collect();
            prop_assert!(g.remove(victim as u32));
            for (h, b) in flows.iter().zip(&before) {
                let after = g.choose(*h).unwrap().member;
                prop_assert_ne!(after, victim as u32);
                if *b != victim as u32 {
                    prop_assert_eq!(after, *b);
                }
            }
        }

        /// Every flow of the removed member lands on one and the same member.
        #[test]
        fn resilient_removal_sends_the_moved_flows_to_one_member(n in 2usize..40, victim in 0usize..40, seed in any::<u64>()) {
            let victim = (victim % n) as u32;
            let mut g = HashGroup::new((0..n as u32).collect(), true);
            let flows: Vec<u64> = (0..2000u64).map(|i| mix64(seed ^ i)).collect();
            let moved: Vec<u64> = flows.iter().copied().filter(|h| g.choose(*h).unwrap().member == victim).collect();
            g.remove(victim);
            let landed: std::collections::BTreeSet<u32> = moved.iter().map(|h| g.choose(*h).unwrap().member).collect();
            prop_assert!(landed.len() <= 1);
        }

        /// Without resilient hashing, a removal remaps flows of other members too (hash-threshold).
        #[test]
        fn plain_hashing_moves_other_flows(n in 3usize..40, seed in any::<u64>()) {
            let mut g = HashGroup::new((0..n as u32).collect(), false);
            let flows: Vec<u64> = (0..2000u64).map(|i| mix64(seed ^ i)).collect();
            let before: Vec<u32> = flows.iter().map(|h| g.choose(*h).unwrap().member).collect();
            g.remove(0);
            let moved_others = flows.iter().zip(&before).filter(|(h, b)| **b != 0 && g.choose(**h).unwrap().member != **b).count();
            prop_assert!(moved_others > 0);
        }
    }

    #[test]
    fn a_removed_members_buckets_go_to_one_member_and_come_back_on_return() {
        let mut g = HashGroup::new(vec![1u32, 2, 3, 4], true);
        let count = |g: &HashGroup<u32>, m: u32| {
            g.buckets
                .iter()
                .filter(|b| g.members[**b as usize] == m)
                .count()
        };
        // 256 buckets over 4 members: 64 each. Member 3 leaves: its 64 buckets all go to the
        // member after it (4), which now carries twice the others — the hotspot of the white
        // paper; 1 and 2 keep exactly their 64.
        g.remove(3);
        assert_eq!([1, 2, 4].map(|m| count(&g, m)), [64, 64, 128]);
        // The last member's heir wraps to the first.
        let mut h = HashGroup::new(vec![1u32, 2, 3, 4], true);
        h.remove(4);
        assert_eq!([1, 2, 3].map(|m| count(&h, m)), [128, 64, 64]);
        // Back again: it takes its fair share (64) from the most loaded, the hotspot.
        g.add(3);
        assert_eq!([1, 2, 3, 4].map(|m| count(&g, m)), [64, 64, 64, 64]);
    }
}
