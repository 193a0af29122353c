//! Maglev consistent hashing (Eisenbud et al., NSDI 2016) as Cilium and IPVS `mh` use it: each
//! backend fills a prime-sized lookup table by its own permutation, so removing one of N backends
//! moves about 1/N of the flows and leaves the others where they were.

use crate::net::hash::{mix64, salt};

/// A Maglev lookup table over backends identified by name.
#[derive(Clone, Debug)]
pub struct Maglev {
    table: Slots,
}

/// The table's slots: one byte each while the backends fit, else two, else four (a service's
/// 150 backends: 16 KB a table, not 64; the envelope's 1,000 tables 16 MB instead of 64, more
/// of them in cache for a look-up per connection).
#[derive(Clone, Debug)]
enum Slots {
    Tiny(Box<[u8]>),
    Narrow(Box<[u16]>),
    Wide(Box<[u32]>),
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
            return Maglev {
                table: Slots::Wide(Box::new([])),
            };
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
        let table = if n <= usize::from(u8::MAX) + 1 {
            Slots::Tiny(table.iter().map(|i| *i as u8).collect())
        } else if n <= usize::from(u16::MAX) + 1 {
            Slots::Narrow(table.iter().map(|i| *i as u16).collect())
        } else {
            Slots::Wide(table.into_boxed_slice())
        };
        Maglev { table }
    }

    /// The backend index for a flow hash.
    pub fn lookup(&self, hash: u64) -> Option<usize> {
        let at = |len: usize| (hash % len as u64) as usize;
        match &self.table {
            Slots::Tiny(t) if !t.is_empty() => Some(usize::from(t[at(t.len())])),
            Slots::Narrow(t) if !t.is_empty() => Some(usize::from(t[at(t.len())])),
            Slots::Wide(t) if !t.is_empty() => Some(t[at(t.len())] as usize),
            _ => None,
        }
    }

    /// Every slot's backend index, in slot order.
    #[cfg(test)]
    fn slots(&self) -> Vec<u32> {
        match &self.table {
            Slots::Tiny(t) => t.iter().map(|i| u32::from(*i)).collect(),
            Slots::Narrow(t) => t.iter().map(|i| u32::from(*i)).collect(),
            Slots::Wide(t) => t.to_vec(),
        }
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
            // At and past the one-byte slots' edge, and past the two-byte slots'.
            (256, 1031),
            (257, 1031),
            (300, 251),
            (65_536, 65_537),
            (66_000, 70_001),
        ] {
            let salts: Vec<u64> = (0..n as u64).map(|i| mix64(i * 7919 + m as u64)).collect();
            assert_eq!(
                Maglev::from_salts(&salts, m).slots(),
                by_the_paper(&salts, m),
                "{n} backends, table {m}"
            );
        }
    }
}
