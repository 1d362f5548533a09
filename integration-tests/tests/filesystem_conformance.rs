//! The conformance suite against the filesystem destination on a local folder, queried through
//! the DuckDB-backed SQL of `sluice::registry()`.

use sluice_core::ConfigProvider;
use sluice_integration_tests::conformance::Target;

fn target() -> Target {
    let bucket = std::env::temp_dir().join(format!("sluice_fs_conformance_{}", std::process::id()));
    Target {
        registry: sluice::registry(),
        destination: "filesystem".into(),
        config: ConfigProvider::empty().with_env([(
            "DESTINATION__FILESYSTEM__BUCKET_URL",
            bucket.display().to_string(),
        )]),
        skip: &[
            (
                "merge",
                "plain files cannot be merged into: the filesystem destination appends merge loads (documented, as dlt does)",
            ),
            ("merge_hard_delete", "no merge on plain files (see merge)"),
            ("upsert_hard_delete", "no merge on plain files (see merge)"),
        ],
    }
}

sluice_integration_tests::conformance_tests!(target());
