//! Maglev consistent hashing (Eisenbud et al., NSDI 2016) as Cilium and IPVS `mh` use it: each
//! backend fills a prime-sized lookup table by its own permutation, so removing one of N backends
//! moves about 1/N of the flows and leaves the others where they were.

use crate::net::hash::{mix64, salt};

/// A Maglev lookup table over backends identified by name.
#[derive(Clone, Debug)]
pub struct Maglev {
    table: Vec<u32>,
}

impl Maglev {
    /// Builds the table of size `m` (a prime) for `backends` (their names seed the permutations).
    pub fn new(backends: &[String], m: usize) -> Maglev {
        let n = backends.len();
        if n == 0 {
            return Maglev { table: Vec::new() };
        }
        let perms: Vec<(usize, usize)> = backends
            .iter()
            .map(|b| {
                let h = salt(b);
                let offset = (mix64(h) % m as u64) as usize;
                let skip = (mix64(h ^ 0x5bd1_e995) % (m as u64 - 1)) as usize + 1;
                (offset, skip)
            })
            .collect();
        let mut next = vec![0usize; n];
        let mut table = vec![u32::MAX; m];
        let mut filled = 0;
        'fill: loop {
            for i in 0..n {
                let (offset, skip) = perms[i];
                let mut c = (offset + next[i] * skip) % m;
                while table[c] != u32::MAX {
                    next[i] += 1;
                    c = (offset + next[i] * skip) % m;
                }
                table[c] = i as u32;
                next[i] += 1;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
        Maglev { table }
    }

    /// The backend index for a flow hash.
    pub fn lookup(&self, hash: u64) -> Option<usize> {
        (!self.table.is_empty())
            .then(|| self.table[(hash % self.table.len() as u64) as usize] as usize)
    }
}
