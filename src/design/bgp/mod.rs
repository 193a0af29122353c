//! The BGP designs (FACTS.md §2): Calico, kube-router and Cilium peering with the fabric.

pub mod addressing;
pub mod advertise;
pub mod compile;
pub mod config;
mod ebgp;
mod lookup;
pub mod maglev;
pub mod plane;
pub mod routes;
pub mod sessions;
pub mod speaker;
pub mod summary;
pub mod tables;
pub mod walk;

pub use compile::BgpState;
pub use config::BgpConfig;
