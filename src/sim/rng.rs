//! Named random streams: each is a Xoshiro256++ generator seeded from (scenario seed, stream
//! name), so adding a traffic generator does not change the draws of the others.

use crate::net::hash::{mix64, salt};
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

pub type Stream = Xoshiro256PlusPlus;

/// The stream `name` of a run with `seed`.
pub fn stream(seed: u64, name: &str) -> Stream {
    Xoshiro256PlusPlus::seed_from_u64(mix64(seed ^ salt(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_are_independent_of_each_other_and_reproducible() {
        let a1: Vec<u64> = (0..4)
            .map({
                let mut s = stream(1, "arrivals:web");
                move |_| s.random()
            })
            .collect();
        let a2: Vec<u64> = (0..4)
            .map({
                let mut s = stream(1, "arrivals:web");
                move |_| s.random()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut s = stream(1, "arrivals:batch");
                move |_| s.random()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut s = stream(2, "arrivals:web");
                move |_| s.random()
            })
            .collect();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }
}
