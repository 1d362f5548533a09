//! The destination contract suite (trait level), run against this out-of-tree-style destination.

use sluice_integration_tests::contract::ContractTarget;
use std::sync::Arc;

fn target() -> ContractTarget {
    ContractTarget::from_toml(Arc::new(sluice_example_sqlite::SqliteFactory), "")
}

sluice_integration_tests::contract_tests!(target());
