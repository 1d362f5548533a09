//! The destination contract suite (trait level) against the filesystem destination: a local
//! folder in each case's working directory, `memory://`, S3 (moto's server, when
//! `SLUICE_TEST_S3_ENDPOINT` is set) and Azure Blob Storage (Azurite, when
//! `SLUICE_TEST_AZURE_ENDPOINT` is set; `make test` sets both). Rows are read back through the
//! destination's own `query` (one table, listed columns, ORDER BY).

use sluice::filesystem::FilesystemFactory;
use sluice_integration_tests::contract::ContractTarget;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

fn factory() -> Arc<FilesystemFactory> {
    Arc::new(FilesystemFactory)
}

/// Create a bucket on moto.
async fn create_bucket(endpoint: &str, bucket: &str) {
    sluice_core::test_support::create_s3_bucket(endpoint, bucket).await
}

mod local {
    use super::*;

    fn target() -> ContractTarget {
        // A relative bucket is under each case's working directory.
        ContractTarget::from_toml(factory(), "bucket_url = \"out/lake\"")
            .with_label("filesystem (local)")
    }

    sluice_integration_tests::contract_tests!(target());
}

mod memory {
    use super::*;

    fn target() -> ContractTarget {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let url = format!("memory://contract-{}-{n}/base", std::process::id());
        ContractTarget::from_toml(factory(), &format!("bucket_url = \"{url}\""))
            .with_label("filesystem (memory)")
    }

    sluice_integration_tests::contract_tests!(target());
}

mod s3 {
    use super::*;

    async fn target() -> Option<ContractTarget> {
        let endpoint = sluice_core::test_support::service_url(
            "SLUICE_TEST_S3_ENDPOINT",
            "the filesystem contract suite on S3",
        )?;
        let n = N.fetch_add(1, Ordering::SeqCst);
        let bucket = format!("sluice-contract-{}-{n}", std::process::id());
        create_bucket(&endpoint, &bucket).await;
        let section = format!(
            "bucket_url = \"s3://{bucket}/base\"\n\
             [credentials]\n\
             aws_access_key_id = \"testing-key\"\n\
             aws_secret_access_key = \"testing-secret-value\"\n\
             region_name = \"us-east-1\"\n\
             endpoint_url = \"{endpoint}\"\n"
        );
        Some(ContractTarget::from_toml(factory(), &section).with_label("filesystem (s3)"))
    }

    sluice_integration_tests::contract_tests!(match target().await {
        Some(t) => t,
        None => return,
    });
}

mod azure {
    use super::*;

    /// A folder of its own in the container that `scripts/services/azurite.sh` created.
    fn target() -> Option<ContractTarget> {
        let endpoint = sluice_core::test_support::service_url(
            "SLUICE_TEST_AZURE_ENDPOINT",
            "the filesystem contract suite on Azure",
        )?;
        let var = |v: &str| {
            std::env::var(v).unwrap_or_else(|_| {
                panic!(
                    "{v} must be set with SLUICE_TEST_AZURE_ENDPOINT (scripts/services/azurite.sh)"
                )
            })
        };
        let n = N.fetch_add(1, Ordering::SeqCst);
        let section = format!(
            "bucket_url = \"az://{container}/contract-{pid}-{n}/base\"\n\
             [credentials]\n\
             azure_storage_account_name = \"{account}\"\n\
             azure_storage_account_key = \"{key}\"\n\
             endpoint_url = \"{endpoint}\"\n",
            container = var("SLUICE_TEST_AZURE_CONTAINER"),
            account = var("SLUICE_TEST_AZURE_ACCOUNT"),
            key = var("SLUICE_TEST_AZURE_KEY"),
            pid = std::process::id(),
        );
        Some(ContractTarget::from_toml(factory(), &section).with_label("filesystem (azure)"))
    }

    sluice_integration_tests::contract_tests!(match target() {
        Some(t) => t,
        None => return,
    });
}
