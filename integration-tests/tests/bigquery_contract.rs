//! The destination contract suite (trait level) against bqemulator, the local BigQuery
//! stand-in (`SLUICE_TEST_BIGQUERY_ENDPOINT`, started by `scripts/services/bqemulator.sh`;
//! `make test` sets it). Without the variable every case prints a notice and passes without
//! running.

use sluice_core::{ConfigProvider, DataType};
use sluice_integration_tests::contract::ContractTarget;
use std::sync::Arc;

fn target() -> Option<ContractTarget> {
    let endpoint = sluice_core::test_support::service_url(
        "SLUICE_TEST_BIGQUERY_ENDPOINT",
        "the bigquery contract suite",
    )?;
    let section = ConfigProvider::empty()
        .with_env([
            ("DESTINATION__BIGQUERY__API_ENDPOINT", endpoint),
            (
                "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID",
                "test-project".to_string(),
            ),
        ])
        .section(&["destination", "bigquery"]);
    Some(
        ContractTarget::new(Arc::new(sluice_bigquery::BigQueryFactory), section)
            .skip_type(
                DataType::Wei,
                "bqemulator cannot create BIGNUMERIC columns (HTTP 500 internalError), the type \
                 wei maps to",
            )
            .skip_type(
                DataType::Binary,
                "bqemulator keeps the base64 text of a BYTES value in a JSON load as the bytes \
                 (it reads back as base64 of the base64); BigQuery decodes it",
            )
            .row_counts_unreliable(
                "bqemulator reports a load job's output rows as the table's row count after \
                 the job, not the rows the job loaded",
            ),
    )
}

sluice_integration_tests::contract_tests!(match target() {
    Some(t) => t,
    None => return,
});
