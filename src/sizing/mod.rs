//! Sizing tools: Erlang-B and its inverse, and the SNAT port-range sizing of `fabsim size snat`.

pub mod erlang;
pub mod scenario;
pub mod snat;
