//! The system tables (`_dlt_loads`, `_dlt_version`, `_dlt_pipeline_state`) created and read
//! through SQL, written once for every SQL destination.
//!
//! A destination that speaks SQL implements [`SqlRunner`] (its dialect, text rows of a query,
//! whether a table exists) and returns itself from [`Destination::sql_runner`]; then
//! `check`, `initialize`, `is_loaded`, `stored_schema` and `stored_state` of
//! [`Destination`] have working defaults built from the functions here. A destination may
//! still override any of them (a faster catalog lookup, a literal its SQL cannot take).
//!
//! [`Destination`]: crate::Destination
//! [`Destination::sql_runner`]: crate::Destination::sql_runner

use crate::destination::StateRecord;
use crate::error::{Error, Result};
use crate::schema::Schema;
use crate::sql::{SqlDialect, timestamp_to_rfc3339};
use async_trait::async_trait;

/// What the system-table steps need of a SQL destination.
#[async_trait]
pub trait SqlRunner: Send {
    /// The destination's dialect for its dataset.
    fn dialect(&self) -> SqlDialect<'_>;

    /// Run one statement and return its rows as text (a cell is `None` for NULL); an error says
    /// what failed with `context`.
    async fn text_rows(&mut self, sql: &str, context: &str) -> Result<Vec<Vec<Option<String>>>>;

    /// Whether a table of the dataset exists.
    async fn table_exists(&mut self, table: &str) -> Result<bool>;
}

/// The first cell of the first row.
fn first(rows: Vec<Vec<Option<String>>>) -> Option<String> {
    rows.into_iter().next()?.into_iter().next().flatten()
}

/// A whole number as a warehouse prints it (`3`, `3.0`, `3.000000000`).
fn whole(text: &str) -> Option<i64> {
    text.split('.').next()?.trim().parse().ok()
}

/// Verify that the destination answers (`SELECT 1`).
pub async fn check(r: &mut dyn SqlRunner) -> Result<()> {
    r.text_rows("SELECT 1", "the destination does not answer")
        .await
        .map(|_| ())
}

/// Create the dataset and the system tables when missing.
pub async fn initialize(r: &mut dyn SqlRunner) -> Result<()> {
    let statements = r.dialect().initialize_statements();
    for sql in statements {
        r.text_rows(&sql, "cannot create the dataset and system tables")
            .await?;
    }
    Ok(())
}

/// Whether `load_id` has a row in `_dlt_loads` (false when the table does not exist).
pub async fn is_loaded(r: &mut dyn SqlRunner, load_id: &str) -> Result<bool> {
    if !r.table_exists(crate::LOADS_TABLE).await? {
        return Ok(false);
    }
    let sql = r.dialect().select_load(load_id);
    let rows = r.text_rows(&sql, "cannot read the loads table").await?;
    Ok(first(rows).as_deref().and_then(whole).unwrap_or(0) > 0)
}

/// The newest stored schema named `schema_name` (JSON, or dlt's compressed form).
pub async fn stored_schema(r: &mut dyn SqlRunner, schema_name: &str) -> Result<Option<Schema>> {
    if !r.table_exists(crate::VERSION_TABLE).await? {
        return Ok(None);
    }
    let sql = r.dialect().select_schema(schema_name);
    let rows = r.text_rows(&sql, "cannot read the stored schema").await?;
    let Some(text) = first(rows) else {
        return Ok(None);
    };
    Schema::from_stored(&text)
        .map(Some)
        .map_err(|e| e.context(format!("stored schema '{schema_name}'")))
}

/// The newest state of `pipeline_name` from a completed load.
pub async fn stored_state(
    r: &mut dyn SqlRunner,
    pipeline_name: &str,
) -> Result<Option<StateRecord>> {
    if !r.table_exists(crate::STATE_TABLE).await? || !r.table_exists(crate::LOADS_TABLE).await? {
        return Ok(None);
    }
    let sql = r.dialect().select_state(pipeline_name);
    let rows = r
        .text_rows(&sql, "cannot read the stored pipeline state")
        .await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let cell = |i: usize| row.get(i).cloned().flatten();
    let state = cell(2).ok_or_else(|| {
        Error::destination(format!(
            "the stored state of pipeline '{pipeline_name}' is NULL"
        ))
    })?;
    Ok(Some(StateRecord {
        pipeline_name: pipeline_name.to_string(),
        version: cell(0).as_deref().and_then(whole).unwrap_or(0).max(0) as u64,
        version_hash: cell(1).unwrap_or_default(),
        state: crate::state::decompress_state(&state)
            .map_err(|e| e.context(format!("pipeline state of '{pipeline_name}'")))?,
        created_at: timestamp_to_rfc3339(&cell(3).unwrap_or_default()),
    }))
}

#[cfg(test)]
mod tests {
    use super::whole;

    #[test]
    fn counts_and_versions_as_warehouses_print_them() {
        assert_eq!(whole("3"), Some(3));
        assert_eq!(whole("3.000000000"), Some(3));
        assert_eq!(whole(" 12"), Some(12));
        assert_eq!(whole("x"), None);
    }
}
