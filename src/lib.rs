//! fabsim: a discrete-event simulator of Kubernetes networking on a Cisco ACI fabric, comparing
//! the ACI-CNI design with the BGP designs on forwarding paths, port exhaustion and failover.
//!
//! See ARCHITECTURE.md for the code map and its invariants.

pub mod bgp;
pub mod cli;
pub mod cluster;
pub mod dataplane;
pub mod design;
pub mod fabric;
pub mod nat;
pub mod net;
pub mod policy;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod sizing;
pub mod time;
