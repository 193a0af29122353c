//! Address translation shared by the designs: ACI-CNI's SNAT port ranges and per-node chunks,
//! and a conntrack table that hands out NAT source ports with uniqueness on the whole 5-tuple.

pub mod conntrack;
pub mod kernel;
mod key_map;
pub mod ports;
pub mod snat;
