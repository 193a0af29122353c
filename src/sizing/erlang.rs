//! Erlang-B: the loss probability of `c` servers offered `A` erlangs (FACTS §4). Port exhaustion
//! is such a loss system — the ports are the servers, a port is held for the connection's
//! lifetime plus TIME_WAIT — and the result holds whatever the holding-time distribution.

/// B(c, A) by the stable recursion B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1)).
pub fn erlang_b(c: u64, a: f64) -> f64 {
    if a <= 0.0 {
        return if c == 0 { 1.0 } else { 0.0 };
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    b
}

/// The smallest `c` with B(c, A) ≤ `target`, searching no further than `limit` (`None` beyond).
/// One pass of the recursion: B(k, A) decreases in k.
pub fn servers_for(a: f64, target: f64, limit: u64) -> Option<u64> {
    let mut b = 1.0;
    if b <= target {
        return Some(0);
    }
    if a <= 0.0 {
        return Some(1.min(limit)).filter(|_| limit >= 1);
    }
    for k in 1..=limit {
        b = a * b / (k as f64 + a * b);
        if b <= target {
            return Some(k);
        }
    }
    None
}

/// Loss of a pool of `c` ports shared by several independent streams, each with its own `c`
/// (per-destination port reuse): the traffic-weighted mean of each stream's B(c, A_i).
/// `shares` are the streams' fractions of the traffic, `a` the total offered load.
pub fn weighted_loss(c: u64, a: f64, shares: &[(f64, u64)]) -> f64 {
    shares
        .iter()
        .map(|(share, count)| *count as f64 * share * erlang_b(c, share * a))
        .sum()
}

/// The smallest `c` with [`weighted_loss`] ≤ `target`, up to `limit`.
pub fn ports_for_streams(a: f64, shares: &[(f64, u64)], target: f64, limit: u64) -> Option<u64> {
    // The loss falls with c: binary search over 0..=limit.
    if weighted_loss(limit, a, shares) > target {
        return None;
    }
    let (mut lo, mut hi) = (0u64, limit);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if weighted_loss(mid, a, shares) <= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_by_hand() {
        // B(1, A) = A / (1 + A); B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2.
        assert!((erlang_b(1, 3.0) - 0.75).abs() < 1e-12);
        assert!((erlang_b(2, 1.0) - 0.2).abs() < 1e-12);
        assert_eq!(servers_for(1.0, 0.2, 10), Some(2));
        assert_eq!(servers_for(1.0, 0.19, 10), Some(3));
    }

    #[test]
    fn one_stream_matches_the_plain_inverse() {
        let one = [(1.0, 1)];
        for a in [0.5, 7.0, 120.0] {
            assert_eq!(
                ports_for_streams(a, &one, 1e-3, 10_000),
                servers_for(a, 1e-3, 10_000)
            );
        }
    }
}
