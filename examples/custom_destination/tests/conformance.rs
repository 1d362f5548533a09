//! The destination conformance suite, run against this out-of-tree-style destination.

use sluice_core::{ConfigProvider, Registry};
use sluice_integration_tests::conformance::Target;
use std::sync::Arc;

fn target() -> Target {
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_example_sqlite::SqliteFactory));
    Target {
        registry,
        destination: "sqlite".into(),
        config: ConfigProvider::empty(),
        skip: &[(
            "upsert_hard_delete",
            "SQLite has no MERGE: this destination offers delete-insert only",
        )],
    }
}

sluice_integration_tests::conformance_tests!(target());

/// An unknown key is refused with its name, and upsert is refused before anything loads.
#[tokio::test]
async fn config_and_capabilities_are_checked_by_the_pipeline() {
    use sluice_pipeline::{FileSource, Pipeline, PipelineOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_example_sqlite::SqliteFactory));
    let options = |config: &str| {
        let mut o = PipelineOptions::new("sq", "sqlite");
        o.pipelines_dir = Some(dir.path().join("p"));
        o.working_dir = Some(dir.path().to_path_buf());
        o.config = Some(ConfigProvider::empty().with_config_toml(config).unwrap());
        o
    };
    let err = Pipeline::new(&registry, options("[destination.sqlite]\npaht = \"x\"\n"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("paht") && err.contains("path"), "{err}");

    let input = dir.path().join("rows.json");
    std::fs::write(&input, r#"[{"id": 1}]"#).unwrap();
    let mut hints = sluice_core::ResourceHints::new("rows");
    hints.write_disposition = sluice_core::WriteDisposition::Merge;
    hints.merge_strategy = Some(sluice_core::MergeStrategy::Upsert);
    hints.primary_key = vec!["id".into()];
    let source = FileSource::new("rows", vec![input]).with_hints(hints);
    let mut p = Pipeline::new(&registry, options("")).unwrap();
    let err = p.run(Box::new(source)).await.unwrap_err().to_string();
    assert!(err.contains("upsert"), "{err}");
}
