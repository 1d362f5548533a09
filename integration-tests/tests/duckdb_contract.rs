//! The destination contract suite (trait level) against the embedded DuckDB destination, a
//! database file in each case's working directory.

use sluice_integration_tests::contract::ContractTarget;
use std::sync::Arc;

fn target() -> ContractTarget {
    ContractTarget::from_toml(Arc::new(sluice_duckdb::DuckDbFactory), "")
}

sluice_integration_tests::contract_tests!(target());
