//! Shared test support for sluice: the destination conformance suite and local test servers.

pub mod bench_data;
pub mod conformance;
pub mod contract;
pub mod forter_server;
pub mod rest_server;
