//! The Redshift destination against its Postgres stand-in (`SLUICE_TEST_POSTGRES_URL`, started
//! by `make test`; see `sluice_redshift::stand_in` for what the stand-in adds to Postgres), with
//! every statement it sends recorded and parsed by `sqlparser`'s Redshift dialect.
//!
//! The shared scenario (`scenario/mod.rs`): one load of every sluice type (merge into a root and
//! a nested table), a second merge that updates a key and adds a column (ALTER TABLE), a replace
//! whose INSERTs are cut into many statements by a small statement budget. The data is read
//! back; the statements are parsed, and for CREATE TABLE, ALTER TABLE, INSERT and DELETE the
//! parsed tree is checked: target table, column types. Then a lost connection and a rejected
//! statement in the middle of a load.

mod scenario;

use scenario::{cells, chain, connect, order_file, orders};
use sluice_core::{ChainDisposition, Destination, ErrorKind, SchemaChange};
use sluice_redshift::StatementLog;

/// A fresh stand-in database for one test; dropped by [`StandIn::done`] when the test passed.
struct StandIn {
    admin: String,
    name: String,
    url: String,
}

impl StandIn {
    async fn done(self) {
        sluice_redshift::stand_in::drop_database(&self.admin, &self.name)
            .await
            .unwrap();
    }
}

async fn stand_in(test: &str) -> Option<StandIn> {
    let admin = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the redshift stand-in tests",
    )?;
    let name = format!("sluice_rs_{test}_{}", std::process::id());
    let url = sluice_redshift::stand_in::prepare_database(&admin, &name)
        .await
        .unwrap();
    Some(StandIn { admin, name, url })
}

#[tokio::test]
async fn every_type_loads_merges_and_replaces_with_redshift_sql() {
    let Some(db) = stand_in("types").await else {
        return;
    };
    scenario::every_type(&db.url, "Shop_Data").await;
    db.done().await;
}

#[tokio::test]
async fn a_lost_connection_during_a_load_is_transient_and_nothing_is_committed() {
    let Some(db) = stand_in("lost").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let log = StatementLog::new();
    let mut dest = connect(&db.url, "lost", &log).await;
    dest.initialize().await.unwrap();
    dest.begin_load("2000.1").await.unwrap();
    let changes = vec![SchemaChange::CreateTable {
        table: orders(false),
    }];
    dest.apply_schema_changes(&changes).await.unwrap();
    let pid = cells(&mut dest, "SELECT pg_backend_pid()").await[0][0].clone();
    // Another session ends this one, as a network failure or a cluster restart would.
    let mut killer = connect(&db.url, "lost", &StatementLog::new()).await;
    cells(&mut killer, &format!("SELECT pg_terminate_backend({pid})")).await;
    let f = order_file(dir.path(), "o", &[1], &["x"], false);
    let job = chain(
        "2000.1",
        ChainDisposition::Append,
        (orders(false), vec![f], 1),
        (vec![], 0),
        dir.path(),
    );
    let e = dest.write_chain(&job).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient, "{e}");
    dest.abort_load().await.unwrap();
    assert!(!dest.is_loaded("2000.1").await.unwrap());
    assert_eq!(
        cells(
            &mut dest,
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'lost' AND table_name = 'orders'"
        )
        .await,
        vec![vec!["0"]],
        "the table created in the lost transaction is gone"
    );
    drop(dest);
    db.done().await;
}

#[tokio::test]
async fn a_rejected_statement_names_the_sqlstate_and_rolls_back() {
    let Some(db) = stand_in("rejected").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&db.url, "rej", &StatementLog::new()).await;
    dest.initialize().await.unwrap();
    let mut narrow = orders(false);
    narrow.columns.get_mut("name").unwrap().precision = Some(2);
    dest.begin_load("3000.1").await.unwrap();
    dest.apply_schema_changes(&[SchemaChange::CreateTable {
        table: narrow.clone(),
    }])
    .await
    .unwrap();
    let f = order_file(dir.path(), "o", &[1], &["too long"], false);
    let job = chain(
        "3000.1",
        ChainDisposition::Append,
        (narrow, vec![f], 1),
        (vec![], 0),
        dir.path(),
    );
    let e = dest.write_chain(&job).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Destination, "{e}");
    assert!(e.to_string().contains("SQLSTATE 22001"), "{e}");
    dest.abort_load().await.unwrap();
    assert!(!dest.is_loaded("3000.1").await.unwrap());
    drop(dest);
    db.done().await;
}
