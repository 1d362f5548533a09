//! The running Redshift destination: the Postgres destination's protocol code
//! ([`ProtocolDestination`]) with Redshift's [`Flavor`]: every statement sent with the simple
//! query protocol, rows as batched `INSERT … VALUES` under the 16 MB statement limit, a
//! `LOCK` of `_dlt_loads` to serialize loaders, one `ADD COLUMN` per statement, identifiers
//! limited in bytes, and text query results.

use crate::config::{RedshiftCredentials, SslMode};
use crate::insert::{InsertStatement, STATEMENT_BUDGET, write_statements};
use crate::read::query_arrow;
use crate::statement_log::StatementLog;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use sluice_core::capabilities::{Capabilities, CaseFold};
use sluice_core::schema::SchemaChange;
use sluice_core::sql::SqlDialect;
use sluice_core::{Error, Result, Table};
use sluice_postgres::wire::{Connection, Flavor, ProtocolDestination, RowsTo};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// INSERT statements built ahead of the one being sent (each up to 16 MB).
const STATEMENTS_AHEAD: usize = 1;

/// A connected Redshift destination bound to one dataset (a Redshift schema).
pub type RedshiftDestination = ProtocolDestination<Redshift>;

/// What is Redshift's own on the shared protocol destination.
#[derive(Debug, Clone)]
pub struct Redshift {
    caps: Capabilities,
    statement_budget: usize,
}

impl Redshift {
    /// Cap INSERT statements at `bytes` instead of Redshift's 16 MB (tests of the batching).
    pub fn set_statement_budget(&mut self, bytes: usize) {
        self.statement_budget = bytes.clamp(1024, STATEMENT_BUDGET);
    }
}

/// Connect with `creds` and bind to `dataset`; `log`, when given, records every statement.
pub async fn connect(
    creds: RedshiftCredentials,
    dataset: &str,
    log: Option<StatementLog>,
) -> Result<RedshiftDestination> {
    let tls = creds.sslmode != SslMode::Disable;
    let observer = log.map(|log| Arc::new(move |sql: &str| log.record(sql)) as _);
    let conn = Connection::new("redshift", creds.pg_config(), tls, creds.display_url())
        .with_observer(observer);
    let flavor = Redshift {
        caps: crate::capabilities(),
        statement_budget: STATEMENT_BUDGET,
    };
    ProtocolDestination::start(conn, crate::capabilities(), dataset, flavor).await
}

/// The columns of every table of the dataset, by table.
async fn existing_columns(
    conn: &mut Connection,
    dialect: &SqlDialect<'_>,
    casefold: CaseFold,
) -> Result<HashMap<String, HashSet<String>>> {
    let dataset = casefold.apply(dialect.dataset_name());
    let sql = format!(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = {}",
        dialect.literal(&dataset)
    );
    let mut tables: HashMap<String, HashSet<String>> = HashMap::new();
    for row in conn.rows(&sql).await? {
        if let [Some(t), Some(c)] = row.as_slice() {
            tables.entry(t.clone()).or_default().insert(c.clone());
        }
    }
    Ok(tables)
}

/// The statements that bring `table` to its schema: `CREATE TABLE` when it does not exist,
/// else one `ALTER TABLE … ADD COLUMN` per missing column (Redshift adds one column per
/// statement and has no `IF NOT EXISTS` for columns). `existing` is updated.
fn table_statements(
    dialect: &SqlDialect<'_>,
    casefold: CaseFold,
    table: &Table,
    columns: &[&sluice_core::Column],
    existing: &mut HashMap<String, HashSet<String>>,
) -> Vec<String> {
    let d = dialect;
    let name = casefold.apply(&table.name);
    let Some(have) = existing.get_mut(&name) else {
        let mut created = HashSet::new();
        created.extend(table.complete_columns().map(|c| casefold.apply(&c.name)));
        existing.insert(name, created);
        return vec![d.create_table(table)];
    };
    let mut sql = Vec::new();
    for c in columns.iter().filter(|c| c.is_complete()) {
        if have.insert(casefold.apply(&c.name)) {
            let mut c = (*c).clone();
            c.nullable = true;
            sql.push(format!(
                "ALTER TABLE {} ADD COLUMN {}",
                d.table(&table.name),
                d.column_def(&c)
            ));
        }
    }
    sql
}

/// Redshift's limit on identifiers, in bytes (the naming convention shortens names to 127
/// characters; a name with multi-byte characters can still be longer in bytes).
const MAX_IDENTIFIER_BYTES: usize = 127;

/// Refuse a table or column name Redshift cannot hold, naming it, before any DDL is sent.
fn check_identifier(kind: &str, name: &str) -> Result<()> {
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(Error::schema(format!(
            "{kind} name '{name}' is {} bytes long; Redshift allows at most {MAX_IDENTIFIER_BYTES} bytes (a shorter name or fewer non-ASCII characters fit)",
            name.len()
        )));
    }
    Ok(())
}

#[async_trait]
impl Flavor for Redshift {
    const BACKSLASH_ESCAPES: bool = true;

    /// Redshift has no advisory locks: the second loader of the dataset waits on the lock of
    /// `_dlt_loads` until the first commits, then sees its row.
    fn load_lock(&self, dialect: &SqlDialect<'_>, _load_id: &str) -> String {
        format!("LOCK {}", dialect.table(sluice_core::LOADS_TABLE))
    }

    /// `CREATE TABLE` when missing, else one `ALTER TABLE … ADD COLUMN` per missing column;
    /// names too long for Redshift are refused before any DDL is sent.
    async fn schema_statements(
        &self,
        conn: &mut Connection,
        dialect: &SqlDialect<'_>,
        changes: &[SchemaChange],
    ) -> Result<Vec<String>> {
        let casefold = self.caps.casefold;
        let fold = |name: &str| casefold.apply(name);
        for change in changes {
            let (table, columns): (&str, Vec<&sluice_core::Column>) = match change {
                SchemaChange::CreateTable { table } => {
                    (&table.name, table.complete_columns().collect())
                }
                SchemaChange::AddColumns { table, columns } => (table, columns.iter().collect()),
            };
            check_identifier("table", &fold(table))?;
            for c in columns {
                check_identifier("column", &fold(&c.name))?;
            }
        }
        let mut existing = existing_columns(conn, dialect, casefold).await?;
        let mut statements = Vec::new();
        for change in changes {
            match change {
                SchemaChange::CreateTable { table } => {
                    let columns: Vec<_> = table.complete_columns().collect();
                    statements.extend(table_statements(
                        dialect,
                        casefold,
                        table,
                        &columns,
                        &mut existing,
                    ));
                }
                SchemaChange::AddColumns { table, columns } => {
                    let mut t = Table::new(table.clone());
                    for c in columns {
                        t = t.with_column(c.clone());
                    }
                    let columns: Vec<_> = columns.iter().collect();
                    statements.extend(table_statements(
                        dialect,
                        casefold,
                        &t,
                        &columns,
                        &mut existing,
                    ));
                }
            }
        }
        Ok(statements)
    }

    /// Insert the rows of `job`'s files into `target` (a qualified, quoted table name) with
    /// batched `INSERT … VALUES` statements. The statements are built from the Parquet files on
    /// a blocking thread, one ahead of the one being sent.
    async fn write_rows(&self, conn: &mut Connection, rows: &RowsTo<'_>) -> Result<u64> {
        let (dialect, job, target) = (rows.dialect, rows.job, rows.target);
        if job.files.is_empty() || job.table.complete_columns().next().is_none() {
            return Ok(0);
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<InsertStatement>>(STATEMENTS_AHEAD);
        let table = job.table.clone();
        let files = job.files.clone();
        let target_name = target.to_string();
        let caps = self.caps.clone();
        let dataset = dialect.dataset_name().to_string();
        let budget = self.statement_budget;
        let builder = tokio::task::spawn_blocking(move || {
            let dialect = SqlDialect::new(&caps, dataset);
            let quote = |name: &str| dialect.quote(name);
            let mut emit = |s: InsertStatement| tx.blocking_send(Ok(s)).is_ok();
            if let Err(e) =
                write_statements(&table, &target_name, &quote, budget, &files, &mut emit)
            {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let mut rows = 0;
        let mut sent = Ok(());
        while let Some(statement) = rx.recv().await {
            let result = match statement {
                Ok(s) => conn.exec(&s.sql).await.map(|()| s.rows),
                Err(e) => Err(e),
            };
            match result {
                Ok(n) => rows += n,
                Err(e) => {
                    sent = Err(e);
                    break;
                }
            }
        }
        // Dropping the receiver stops the builder at its next statement.
        drop(rx);
        let _ = builder.await;
        sent.map_err(|e| e.context(format!("cannot insert into {}", job.table.name)))?;
        tracing::debug!(table = %job.table.name, rows, "inserted");
        Ok(rows)
    }

    /// Describing the result's types may look up types in the catalog; a failure there would
    /// abort an open load's transaction, so inside a load the result is text only.
    async fn query(&self, conn: &mut Connection, sql: &str) -> Result<Vec<RecordBatch>> {
        let describe = conn.in_load().is_none();
        let client = conn.client().await?;
        query_arrow(client, sql, describe).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_limited_in_bytes_not_characters() {
        assert!(check_identifier("column", &"a".repeat(127)).is_ok());
        let wide = "ü".repeat(64);
        assert_eq!(wide.chars().count(), 64);
        let e = check_identifier("column", &wide).unwrap_err();
        assert_eq!(e.kind(), sluice_core::ErrorKind::Schema);
        assert!(e.to_string().contains("128 bytes"), "{e}");
    }
}
