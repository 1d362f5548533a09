//! Any SQL over the loaded files, answered by an embedded DuckDB (the `sql` feature).
//!
//! Without this feature the filesystem destination answers only simple `SELECT`s of one table
//! (see `read.rs`). With it, [`query`] opens an in-memory DuckDB connection, creates the schema
//! `"<dataset>"` with one view per data table of the stored schemas over the table's files
//! from recorded loads (`read_parquet([...], union_by_name = true)`), and runs the SQL there,
//! so the same quoted names work as on the other destinations (`"dataset"."table"`). A table
//! of the schema without files yet is an empty table.
//!
//! This DuckDB build has no `httpfs`: files of a remote bucket (`s3://`, `gs://`, `az://`,
//! `memory://`) are first streamed into a temporary folder that lives for one query; local
//! buckets are read in place. DuckDB runs on a blocking thread, never on an async worker.

use crate::{Bucket, FilesystemDestination};
use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use sluice_core::capabilities::FileFormat;
use sluice_core::sql::{SqlDialect, literal};
use sluice_core::{Destination, Error, Result};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Run `sql` in DuckDB over the dataset's files.
pub(crate) async fn query(dest: &mut FilesystemDestination, sql: &str) -> Result<Vec<RecordBatch>> {
    let scratch = tempfile::tempdir()?;
    let setup = setup_sql(dest, scratch.path()).await?;
    let sql = sql.to_string();
    sluice_core::blocking::blocking(move || {
        let conn = duckdb::Connection::open_in_memory()
            .map_err(duck_err("cannot open an in-memory DuckDB database"))?;
        for statement in &setup {
            conn.execute_batch(statement)
                .map_err(duck_err("cannot create the views over the table files"))?;
        }
        let mut stmt = conn.prepare(&sql).map_err(duck_err("query failed"))?;
        let arrow = stmt.query_arrow([]).map_err(duck_err("query failed"))?;
        let schema = arrow.get_schema();
        let batches: Vec<RecordBatch> = arrow.collect();
        if batches.is_empty() {
            return Ok(vec![RecordBatch::new_empty(schema)]);
        }
        Ok(batches)
    })
}

/// The statements creating the dataset schema and one view (or empty table) per data table.
/// Files of a remote bucket are copied into `scratch` first.
async fn setup_sql(dest: &mut FilesystemDestination, scratch: &Path) -> Result<Vec<String>> {
    let settings = dest.settings().clone();
    let local = matches!(settings.bucket, Bucket::Local(_));
    let reader = match settings.file_format {
        FileFormat::Parquet => "read_parquet",
        FileFormat::Jsonl => "read_json_auto",
        FileFormat::Csv => "read_csv_auto",
    };
    let caps = dest.capabilities().clone();
    let dialect = SqlDialect::new(&caps, settings.dataset.clone());
    let mut sql = vec![dialect.create_dataset()];
    for table in dest.data_tables().await? {
        let files = if local {
            dest.table_file_urls(&table.name).await?
        } else {
            copy_table_files(dest, &table.name, scratch).await?
        };
        if files.is_empty() {
            if table.complete_columns().next().is_some() {
                sql.push(dialect.create_table(&table));
            }
            continue;
        }
        let list: Vec<String> = files.iter().map(|f| literal(f)).collect();
        sql.push(format!(
            "CREATE VIEW {} AS SELECT * FROM {reader}([{}], union_by_name = true)",
            dialect.table(&table.name),
            list.join(", ")
        ));
    }
    Ok(sql)
}

/// Stream the recorded files of `table` from the bucket into `scratch`; their local paths.
async fn copy_table_files(
    dest: &FilesystemDestination,
    table: &str,
    scratch: &Path,
) -> Result<Vec<String>> {
    let store = dest.store();
    let mut out = Vec::new();
    for (i, path) in dest.table_files(table).await?.into_iter().enumerate() {
        let name = path.filename().unwrap_or("file");
        let local = scratch.join(format!("{i}.{}", name.replace('/', "_")));
        let fetch_err = |e: object_store::Error| {
            Error::transient(format!("cannot read {path} for a query")).with_source(e)
        };
        let mut stream = store.get(&path).await.map_err(fetch_err)?.into_stream();
        let mut file = tokio::fs::File::create(&local).await?;
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(fetch_err)?).await?;
        }
        file.flush().await?;
        out.push(local.display().to_string());
    }
    Ok(out)
}

fn duck_err(context: &'static str) -> impl FnOnce(duckdb::Error) -> Error {
    move |e| Error::destination(format!("DuckDB over the files: {context}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use crate::FilesystemFactory;
    use arrow::array::AsArray;
    use arrow::datatypes::Int32Type;
    use sluice_core::{ConfigSection, DestinationConfig, DestinationFactoryExt};

    fn config(bucket_url: &str, dir: &std::path::Path) -> DestinationConfig {
        DestinationConfig {
            destination_name: "filesystem".into(),
            pipeline_name: "p".into(),
            dataset_name: "ds".into(),
            working_dir: dir.to_path_buf(),
            section: ConfigSection::from_table(
                "destination.filesystem",
                toml::Table::from_iter([("bucket_url".to_string(), bucket_url.into())]),
            ),
        }
    }

    // Queries over loaded files on local, memory://, s3:// and az:// buckets are checked value
    // by value by the contract suite (integration-tests/tests/filesystem_contract.rs), which
    // connects through the factory and so through this module. These two check what it does
    // not: SQL that names no table, on datasets without any load.

    #[tokio::test]
    async fn a_remote_dataset_without_loads_answers_sql() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = FilesystemFactory
            .open(&config("memory://m/x", dir.path()))
            .await
            .unwrap();
        d.initialize().await.unwrap();
        let batches = d.query("SELECT 41 + 1 AS answer").await.unwrap();
        let answer = batches[0].column(0).as_primitive::<Int32Type>().value(0);
        assert_eq!(answer, 42);
    }

    #[tokio::test]
    async fn a_local_dataset_without_loads_answers_sql() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("bucket").display().to_string();
        let mut d = FilesystemFactory
            .open(&config(&url, dir.path()))
            .await
            .unwrap();
        let b = d
            .query("SELECT 40 + 2 AS n UNION ALL SELECT 1")
            .await
            .unwrap();
        assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        // Unknown tables are DuckDB's error, with the query's context.
        let e = d.query("SELECT * FROM \"ds\".\"nope\"").await.unwrap_err();
        assert!(e.to_string().contains("query failed"), "{e}");
    }
}
