//! The ACI-CNI design (FACTS.md §1): configuration, SNAT scopes and the compiled state the
//! packet walk runs on.

pub mod allocation;
pub mod compile;
pub mod config;
pub mod epgs;
pub mod plane;
pub mod routes;
pub mod snat_scope;
pub mod walk;

pub use compile::AciState;
pub use config::AciConfig;
