//! ACI-CNI
pub mod config;
pub use config::AciConfig;
