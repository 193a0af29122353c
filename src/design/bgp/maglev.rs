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
        let salts: Vec<u64> = backends.iter().map(|b| salt(b)).collect();
        Maglev::from_salts(&salts, m)
    }

    /// [`Maglev::new`] from the backends' name hashes (`net::hash::salt` of each name).
    pub fn from_salts(backends: &[u64], m: usize) -> Maglev {
        let n = backends.len();
        if n == 0 {
            return Maglev { table: Vec::new() };
        }
        // Backend i tries slots offset, offset + skip, offset + 2·skip, … (mod m): each its
        // position in that sequence, advanced by one addition (skip < m) rather than a
        // multiplication and a division per try.
        let mut at: Vec<(usize, usize)> = backends.iter().map(|h| permutation(*h, m)).collect();
        let advance = |(c, skip): &mut (usize, usize)| {
            *c += *skip;
            if *c >= m {
                *c -= m;
            }
        };
        let mut table = vec![u32::MAX; m];
        let mut filled = 0;
        'fill: loop {
            for (i, slot) in at.iter_mut().enumerate() {
                while table[slot.0] != u32::MAX {
                    advance(slot);
                }
                table[slot.0] = i as u32;
                advance(slot);
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

/// A backend's permutation of the `m` slots: where it starts and its stride (the paper's
/// offset and skip, from its name hash).
fn permutation(h: u64, m: usize) -> (usize, usize) {
    let offset = (mix64(h) % m as u64) as usize;
    let skip = (mix64(h ^ 0x5bd1_e995) % (m as u64 - 1)) as usize + 1;
    (offset, skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper's population loop as written (each try `(offset + j·skip) mod m`), the oracle
    /// for the table built by additions.
    fn by_the_paper(salts: &[u64], m: usize) -> Vec<u32> {
        let perms: Vec<(usize, usize)> = salts.iter().map(|h| permutation(*h, m)).collect();
        let mut next = vec![0usize; salts.len()];
        let mut table = vec![u32::MAX; m];
        let mut filled = 0;
        'fill: loop {
            for i in 0..salts.len() {
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
        table
    }

    #[test]
    fn table_is_the_papers_population() {
        for (n, m) in [
            (1, 7),
            (3, 13),
            (10, 251),
            (150, 4093),
            (150, 16381),
            (300, 251),
        ] {
            let salts: Vec<u64> = (0..n as u64).map(|i| mix64(i * 7919 + m as u64)).collect();
            assert_eq!(
                Maglev::from_salts(&salts, m).table,
                by_the_paper(&salts, m),
                "{n} backends, table {m}"
            );
        }
    }
}
