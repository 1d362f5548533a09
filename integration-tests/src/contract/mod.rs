//! The destination contract suite: the load protocol of [`sluice_core::Destination`] checked at
//! trait level against every destination, with shared fixtures.
//!
//! Where [`crate::conformance`] runs whole pipelines, these cases drive a destination the way the
//! pipeline's loader does — `initialize`, `is_loaded`, `begin_load`, `apply_schema_changes`,
//! `write_chain`, `commit_load`, `abort_load`, `stored_schema`, `stored_state` — with Parquet
//! files, chains and commits built by hand ([`fixtures`]), and read the rows back through
//! [`Destination::query`](sluice_core::Destination::query) to compare values.
//!
//! A destination's test file builds a [`ContractTarget`] (a factory and its config section) and
//! expands [`contract_tests!`](crate::contract_tests) to one `#[tokio::test]` per case. Cases a
//! destination cannot pass are skipped with a reason: derived from its
//! [`Capabilities`](sluice_core::Capabilities) where they say so (no transactions, a merge
//! strategy not listed), or declared by the target ([`ContractTarget::skip`]).

pub mod cases;
pub mod fixtures;
pub mod rollback;
pub mod types;

use sluice_core::{ConfigSection, DataType, DestinationFactory, MergeStrategy};
use std::sync::Arc;

/// The destination under test: how to open it, and what it skips.
#[derive(Clone)]
pub struct ContractTarget {
    /// The factory; each case opens the destination with [`DestinationFactoryExt::open`](sluice_core::DestinationFactoryExt::open).
    pub factory: Arc<dyn DestinationFactory>,
    /// The `[destination.<name>]` section every case connects with (the dataset and working
    /// directory are the case's own).
    pub section: ConfigSection,
    /// A name for messages (`filesystem (s3)`); the factory's name by default.
    pub label: String,
    declared_skips: Vec<(&'static str, String)>,
    skipped_types: Vec<(DataType, String)>,
    row_counts_unreliable: Option<String>,
}

impl ContractTarget {
    /// A target for `factory` configured by `section`.
    pub fn new(factory: Arc<dyn DestinationFactory>, section: ConfigSection) -> Self {
        let label = factory.name().to_string();
        Self {
            factory,
            section,
            label,
            declared_skips: Vec::new(),
            skipped_types: Vec::new(),
            row_counts_unreliable: None,
        }
    }

    /// A target whose section is `[destination.<name>]` of `toml_text`.
    pub fn from_toml(factory: Arc<dyn DestinationFactory>, toml_text: &str) -> Self {
        let path = format!("destination.{}", factory.name());
        let values: toml::Table = toml_text.parse().expect("a TOML table");
        Self::new(factory, ConfigSection::from_table(path, values))
    }

    /// Name the target `label` in messages.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Declare that `case` cannot pass on this destination, and why.
    pub fn skip(mut self, case: &'static str, reason: impl Into<String>) -> Self {
        self.declared_skips.push((case, reason.into()));
        self
    }

    /// Declare that the destination (or its test stand-in) cannot hold columns of `data_type`,
    /// and why: `types_round_trip` leaves that column out, saying so.
    pub fn skip_type(mut self, data_type: DataType, reason: impl Into<String>) -> Self {
        self.skipped_types.push((data_type, reason.into()));
        self
    }

    /// Whether columns of `data_type` are tested; prints a `SKIPPED` line when they are not.
    pub fn tests_type(&self, data_type: DataType) -> bool {
        match self.skipped_types.iter().find(|(t, _)| *t == data_type) {
            Some((_, reason)) => {
                println!("SKIPPED {data_type:?} columns on {}: {reason}", self.label);
                false
            }
            None => true,
        }
    }

    /// Declare that the row counts `write_chain` returns cannot be checked here, and why (the
    /// rows read back still are).
    pub fn row_counts_unreliable(mut self, reason: impl Into<String>) -> Self {
        self.row_counts_unreliable = Some(reason.into());
        self
    }

    /// Check that `write_chain` reported `expected` rows (`got`), unless the target declared
    /// its counts unreliable (then a `SKIPPED` line shows both).
    pub fn assert_written(&self, got: u64, expected: u64) {
        match &self.row_counts_unreliable {
            Some(reason) if got != expected => println!(
                "SKIPPED row count check on {}: {got} rows reported for {expected}: {reason}",
                self.label
            ),
            _ => assert_eq!(got, expected, "{}: rows written", self.label),
        }
    }

    /// Why `case` does not run on this target: a declared reason, else one derived from the
    /// capabilities; `None` when it runs.
    pub fn skip_reason(&self, case: &str) -> Option<String> {
        if let Some((_, reason)) = self.declared_skips.iter().find(|(c, _)| *c == case) {
            return Some(reason.clone());
        }
        let caps = self.factory.capabilities();
        let needs_strategy = |s: MergeStrategy, name: &str| {
            (!caps.supports_merge_strategy(s)).then(|| {
                format!("its capabilities list no {name} merge strategy (merge tables are appended or refused)")
            })
        };
        match case {
            "merge_delete_insert" => needs_strategy(MergeStrategy::DeleteInsert, "delete-insert"),
            "merge_upsert" => needs_strategy(MergeStrategy::Upsert, "upsert"),
            "abort_rolls_back" | "failed_replace_rolls_back" => {
                (!caps.supports_transactions).then(|| {
                    "its capabilities say loads are not transactional: what a failed load wrote \
                     stays until the retried load replaces it"
                        .to_string()
                })
            }
            _ => None,
        }
    }

    /// Whether `case` is skipped; prints `SKIPPED <case> on <label>: <reason>` when it is.
    pub fn skips(&self, case: &str) -> bool {
        match self.skip_reason(case) {
            Some(reason) => {
                println!("SKIPPED {case} on {}: {reason}", self.label);
                true
            }
            None => false,
        }
    }
}

/// Expands to one `#[tokio::test]` per contract case, each evaluating `$target` (an expression
/// of type [`ContractTarget`]; it may `.await`, and may `return` early from the test to skip
/// when a service is not configured) and running the case unless the target skips it.
#[macro_export]
macro_rules! contract_tests {
    ($target:expr) => {
        $crate::contract_tests!(@cases $target;
            append_and_read_back, missing_dataset_reads_as_empty, add_column_reads_old_and_new_files, replace_swaps_the_chain,
            merge_delete_insert, merge_upsert, reload_of_a_committed_load_is_detected,
            retried_load_after_abort_writes_once, abort_rolls_back, failed_replace_rolls_back,
            stored_schema_and_state_round_trip, drop_tables_ignores_missing, types_round_trip,
            unicode_and_reserved_identifiers);
    };
    (@cases $target:expr; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let target: $crate::contract::ContractTarget = $target;
                if target.skips(stringify!($case)) {
                    return;
                }
                $crate::contract::cases::$case(&target).await.unwrap();
            }
        )*
    };
}
