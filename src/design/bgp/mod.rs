//! The BGP designs (FACTS.md §2): Calico, kube-router and Cilium peering with the fabric.

pub mod compile;
pub mod config;
pub mod maglev;
pub mod plane;
pub mod routes;
pub mod speaker;
pub mod summary;
pub mod walk;

pub use compile::BgpState;
pub use config::BgpConfig;
