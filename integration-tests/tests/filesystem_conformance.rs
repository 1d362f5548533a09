//! The conformance suite against the filesystem destination on a local folder and on Azure Blob
//! Storage (Azurite, when `SLUICE_TEST_AZURE_ENDPOINT` is set; `make test` sets it), queried
//! through the DuckDB-backed SQL of `sluice::registry()`.

use sluice_core::ConfigProvider;
use sluice_integration_tests::conformance::Target;

/// Cases plain files cannot pass, with why.
const SKIP: &[(&str, &str)] = &[
    (
        "merge",
        "plain files cannot be merged into: the filesystem destination appends merge loads (documented, as dlt does)",
    ),
    ("merge_hard_delete", "no merge on plain files (see merge)"),
    ("upsert_hard_delete", "no merge on plain files (see merge)"),
    ("scd2", "no merge on plain files (see merge)"),
    ("scd2_settings", "no merge on plain files (see merge)"),
    ("scd2_row_version", "no merge on plain files (see merge)"),
    ("scd2_after_append", "no merge on plain files (see merge)"),
];

fn target() -> Target {
    let bucket = std::env::temp_dir().join(format!("sluice_fs_conformance_{}", std::process::id()));
    Target {
        registry: sluice::registry(),
        destination: "filesystem".into(),
        config: ConfigProvider::empty().with_env([(
            "DESTINATION__FILESYSTEM__BUCKET_URL",
            bucket.display().to_string(),
        )]),
        skip: SKIP,
    }
}

sluice_integration_tests::conformance_tests!(target());

mod azure {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    static N: AtomicU32 = AtomicU32::new(0);

    /// A folder of its own in the container that `scripts/services/azurite.sh` created, with
    /// the credentials given as dlt's environment variables.
    fn target() -> Option<Target> {
        let endpoint = sluice_core::test_support::service_url(
            "SLUICE_TEST_AZURE_ENDPOINT",
            "the filesystem conformance suite on Azure",
        )?;
        let var = |v: &str| {
            std::env::var(v).unwrap_or_else(|_| {
                panic!(
                    "{v} must be set with SLUICE_TEST_AZURE_ENDPOINT (scripts/services/azurite.sh)"
                )
            })
        };
        let n = N.fetch_add(1, Ordering::SeqCst);
        let url = format!(
            "az://{}/conformance-{}-{n}",
            var("SLUICE_TEST_AZURE_CONTAINER"),
            std::process::id()
        );
        const CREDENTIALS: &str = "DESTINATION__FILESYSTEM__CREDENTIALS__";
        Some(Target {
            registry: sluice::registry(),
            destination: "filesystem".into(),
            config: ConfigProvider::empty().with_env([
                ("DESTINATION__FILESYSTEM__BUCKET_URL".to_string(), url),
                (
                    format!("{CREDENTIALS}AZURE_STORAGE_ACCOUNT_NAME"),
                    var("SLUICE_TEST_AZURE_ACCOUNT"),
                ),
                (
                    format!("{CREDENTIALS}AZURE_STORAGE_ACCOUNT_KEY"),
                    var("SLUICE_TEST_AZURE_KEY"),
                ),
                (format!("{CREDENTIALS}ENDPOINT_URL"), endpoint),
            ]),
            skip: SKIP,
        })
    }

    sluice_integration_tests::conformance_tests!(match target() {
        Some(t) => t,
        None => return,
    });
}
