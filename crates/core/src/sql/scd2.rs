//! Statements of the `scd2` merge strategy (slowly changing dimension type 2), as dlt's
//! `gen_scd2_sql` behaves: the root table keeps every version of a row, told apart by a row
//! version hash; a version is active while its valid-to column is NULL (or the configured
//! active record timestamp).
//!
//! A load runs, in this order (all idempotent, so a retried load writes the same rows):
//! 1. retire: active root rows whose hash is not staged get valid-to = the boundary (only
//!    those whose merge key is staged, when the table has a merge key);
//! 2. nested rows of the new versions, unless a row with their `_dlt_id` is there already;
//! 3. new versions: staged root rows whose hash is not active, with valid-from = the boundary
//!    and valid-to = NULL (or the active record timestamp).
//!
//! The boundary is the table's `boundary_timestamp` hint, else the load's time, read from its
//! load id (seconds since the epoch, as dlt's), so every attempt to load a package uses the
//! same one.

use super::SqlDialect;
use crate::destination::ChainJob;
use crate::error::{Error, Result};
use crate::schema::{C_DLT_ID, C_DLT_PARENT_ID, Column, Table};
use crate::types::DataType;

/// The time a load id stands for (seconds since the epoch with a fraction, dlt's layout), as
/// RFC 3339 in UTC with microseconds; `None` when the load id is not a time.
pub fn load_id_time(load_id: &str) -> Option<String> {
    let (secs, frac) = load_id.split_once('.').unwrap_or((load_id, ""));
    let secs: i64 = secs.parse().ok()?;
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let micros: i64 = format!("{frac:0<6}")[..6].parse().ok()?;
    let t =
        chrono::DateTime::from_timestamp_micros(secs.checked_mul(1_000_000)?.checked_add(micros)?)?;
    Some(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

impl SqlDialect<'_> {
    /// The scd2 merge of a chain whose tables with rows were loaded into staging tables named
    /// by `staging` (qualified, quoted names): retire absent versions, insert the nested rows
    /// of new versions, insert the new versions (see the module's documentation). Staged rows
    /// with the same version hash (nested rows with the same `_dlt_id`) are inserted once.
    /// No primary key is needed. Fails, naming the table, when the root table lacks its
    /// validity or row version columns, or when there is no boundary to use.
    pub fn merge_scd2(
        &self,
        job: &ChainJob,
        staging: &dyn Fn(&str) -> String,
    ) -> Result<Vec<String>> {
        let root = &job.root.table;
        if job.root.files.is_empty() {
            return Ok(Vec::new());
        }
        let (from, to) = root.validity_columns().ok_or_else(|| {
            Error::schema(format!(
                "table {}: the scd2 merge strategy needs validity columns (x-valid-from and \
                 x-valid-to) in the schema; they are added when the resource's \
                 write_disposition says strategy = \"scd2\"",
                root.name
            ))
        })?;
        let hash = root
            .row_version_column()
            .filter(|c| c.is_complete())
            .ok_or_else(|| {
                Error::schema(format!(
                    "table {}: the scd2 merge strategy needs a row version column (x-row-version) \
                     with values",
                    root.name
                ))
            })?;
        let boundary = match &root.boundary_timestamp {
            Some(ts) => ts.clone(),
            None => load_id_time(&job.load_id).ok_or_else(|| {
                Error::input(format!(
                    "table {}: load id '{}' is not a time, so it gives no scd2 boundary: set \
                     boundary_timestamp in the resource's write_disposition",
                    root.name, job.load_id
                ))
            })?,
        };
        let ts_type = self.caps.sql_type(&Column::new("t", DataType::Timestamp));
        let boundary = self.timestamp_literal(&boundary);
        let active_value = match &to.active_record_timestamp {
            Some(ts) => self.timestamp_literal(ts),
            None => format!("CAST(NULL AS {ts_type})"),
        };
        let to_q = self.quote(&to.name);
        let is_active = |alias: &str| match &to.active_record_timestamp {
            Some(_) => format!("{alias}{to_q} = {active_value}"),
            None => format!("{alias}{to_q} IS NULL"),
        };
        let target = self.table(&root.name);
        let stg_root = staging(&root.name);
        let h = self.quote(&hash.name);
        let id = self.quote(C_DLT_ID);
        let mut sql = vec![self.scd2_retire(root, &stg_root, &boundary, &is_active(""), &h)];
        // Root rows of the new versions, while they are not active yet.
        let new_roots = format!(
            "(SELECT r.{id} FROM {stg_root} AS r WHERE r.{h} NOT IN (SELECT t.{h} FROM {target} AS t WHERE {}))",
            is_active("t.")
        );
        let mut parents: Vec<(&str, String)> = vec![(root.name.as_str(), new_roots)];
        for nested in &job.nested {
            let table = &nested.table;
            let parent_ids = table
                .parent
                .as_deref()
                .and_then(|p| parents.iter().find(|(name, _)| *name == p))
                .map(|(_, ids)| ids.clone());
            let (Some(parent_ids), false) = (parent_ids, nested.files.is_empty()) else {
                continue;
            };
            if table.complete_columns().next().is_none() {
                continue;
            }
            let stg = staging(&table.name);
            let cols = self.column_list(table);
            let t = self.table(&table.name);
            let parent = self.quote(C_DLT_PARENT_ID);
            sql.push(format!(
                "INSERT INTO {t} ({cols}) SELECT {cols} FROM {} AS s WHERE s.{parent} IN {parent_ids} AND s.{id} NOT IN (SELECT n.{id} FROM {t} AS n)",
                once_per_key(&stg, &id)
            ));
            parents.push((
                table.name.as_str(),
                format!("(SELECT p.{id} FROM {stg} AS p WHERE p.{parent} IN {parent_ids})"),
            ));
        }
        let cols: Vec<String> = root
            .complete_columns()
            .filter(|c| c.name != from.name && c.name != to.name)
            .map(|c| self.quote(&c.name))
            .collect();
        let cols = cols.join(", ");
        sql.push(format!(
            "INSERT INTO {target} ({cols}, {}, {to_q}) SELECT {cols}, {boundary}, {active_value} FROM {} AS s WHERE s.{h} NOT IN (SELECT t.{h} FROM {target} AS t WHERE {})",
            self.quote(&from.name),
            once_per_key(&stg_root, &h),
            is_active("t.")
        ));
        Ok(sql)
    }

    /// `UPDATE` that retires the active versions whose hash is not staged (with a merge key:
    /// only those whose key is staged).
    fn scd2_retire(
        &self,
        root: &Table,
        stg_root: &str,
        boundary: &str,
        is_active: &str,
        hash: &str,
    ) -> String {
        let target = self.table(&root.name);
        let to = root
            .validity_columns()
            .map(|(_, to)| self.quote(&to.name))
            .unwrap_or_default();
        let mut sql = format!(
            "UPDATE {target} SET {to} = {boundary} WHERE {is_active} AND {hash} NOT IN (SELECT {hash} FROM {stg_root})"
        );
        match root.merge_key().as_slice() {
            [] => {}
            [key] => {
                let k = self.quote(key);
                sql.push_str(&format!(" AND {k} IN (SELECT {k} FROM {stg_root})"));
            }
            keys => {
                let on = keys
                    .iter()
                    .map(|k| format!("s.{q} = {target}.{q}", q = self.quote(k)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM {stg_root} AS s WHERE {on})"
                ));
            }
        }
        sql
    }
}

/// The rows of staging table `stg` with one row per value of column `key` (quoted).
fn once_per_key(stg: &str, key: &str) -> String {
    format!(
        "(SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {key}) AS _dlt_dedup_rn FROM {stg}) AS _dlt_dedup WHERE _dlt_dedup_rn = 1)"
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::caps;
    use super::*;
    use crate::capabilities::CaseFold;
    use crate::destination::{ChainDisposition, TableJob};
    use crate::schema::{C_DLT_LOAD_ID, MergeStrategy};

    fn scd2_job(active_record: Option<&str>, boundary: Option<&str>) -> ChainJob {
        let mut from = Column::new("_dlt_valid_from", DataType::Timestamp);
        from.valid_from = true;
        let mut to = Column::new("_dlt_valid_to", DataType::Timestamp);
        to.valid_to = true;
        to.active_record_timestamp = active_record.map(str::to_string);
        let mut hash = Column::new(C_DLT_ID, DataType::Text).not_null();
        hash.row_version = true;
        let mut root = Table::new("dim")
            .with_column(Column::new("nk", DataType::Bigint))
            .with_column(from)
            .with_column(to)
            .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
            .with_column(hash);
        root.merge_strategy = Some(MergeStrategy::Scd2);
        root.boundary_timestamp = boundary.map(str::to_string);
        let nested = |name: &str, parent: &str| TableJob {
            table: Table::nested(name, parent)
                .with_column(Column::new("value", DataType::Text))
                .with_column(Column::new(C_DLT_PARENT_ID, DataType::Text))
                .with_column(Column::new(C_DLT_ID, DataType::Text)),
            files: vec!["n".into()],
            rows: 1,
        };
        ChainJob {
            load_id: "1700000000.123456".into(),
            disposition: ChainDisposition::Merge,
            merge_strategy: MergeStrategy::Scd2,
            root: TableJob {
                table: root,
                files: vec!["a".into()],
                rows: 1,
            },
            nested: vec![nested("dim__xs", "dim"), nested("dim__xs__ys", "dim__xs")],
            schema_name: "s".into(),
            scratch_dir: std::env::temp_dir(),
        }
    }

    #[test]
    fn load_ids_are_times() {
        assert_eq!(
            load_id_time("1700000000.123456").as_deref(),
            Some("2023-11-14T22:13:20.123456Z")
        );
        assert_eq!(
            load_id_time("1700000000.5").as_deref(),
            Some("2023-11-14T22:13:20.500000Z")
        );
        assert_eq!(
            load_id_time("1700000000").as_deref(),
            Some("2023-11-14T22:13:20.000000Z")
        );
        assert_eq!(load_id_time("load-1"), None);
        assert_eq!(load_id_time("1.x"), None);
    }

    #[test]
    fn retires_absent_versions_then_inserts_nested_and_new_versions() {
        let c = caps(CaseFold::None);
        let d = SqlDialect::new(&c, "ds");
        let sql = d
            .merge_scd2(&scd2_job(None, None), &|t| format!("stg_{t}"))
            .unwrap();
        assert_eq!(sql.len(), 4, "{sql:#?}");
        let b = "CAST('2023-11-14T22:13:20.123456Z' AS TIMESTAMP WITH TIME ZONE)";
        assert_eq!(
            sql[0],
            format!(
                "UPDATE \"ds\".\"dim\" SET \"_dlt_valid_to\" = {b} WHERE \"_dlt_valid_to\" IS NULL AND \"_dlt_id\" NOT IN (SELECT \"_dlt_id\" FROM stg_dim)"
            )
        );
        let new_roots = "(SELECT r.\"_dlt_id\" FROM stg_dim AS r WHERE r.\"_dlt_id\" NOT IN (SELECT t.\"_dlt_id\" FROM \"ds\".\"dim\" AS t WHERE t.\"_dlt_valid_to\" IS NULL))";
        assert!(
            sql[1].starts_with("INSERT INTO \"ds\".\"dim__xs\" (\"value\", \"_dlt_parent_id\", \"_dlt_id\") SELECT \"value\", \"_dlt_parent_id\", \"_dlt_id\" FROM (SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY \"_dlt_id\")"),
            "{}",
            sql[1]
        );
        assert!(
            sql[1].ends_with(&format!(
                "WHERE s.\"_dlt_parent_id\" IN {new_roots} AND s.\"_dlt_id\" NOT IN (SELECT n.\"_dlt_id\" FROM \"ds\".\"dim__xs\" AS n)"
            )),
            "{}",
            sql[1]
        );
        // The grandchild follows its parent rows of new versions.
        assert!(
            sql[2].contains(&format!(
                "WHERE s.\"_dlt_parent_id\" IN (SELECT p.\"_dlt_id\" FROM stg_dim__xs AS p WHERE p.\"_dlt_parent_id\" IN {new_roots})"
            )),
            "{}",
            sql[2]
        );
        assert!(sql[3].starts_with(&format!(
            "INSERT INTO \"ds\".\"dim\" (\"nk\", \"_dlt_load_id\", \"_dlt_id\", \"_dlt_valid_from\", \"_dlt_valid_to\") SELECT \"nk\", \"_dlt_load_id\", \"_dlt_id\", {b}, CAST(NULL AS TIMESTAMP WITH TIME ZONE) FROM (SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY \"_dlt_id\")"
        )));
        assert!(sql[3].ends_with(
            "AS s WHERE s.\"_dlt_id\" NOT IN (SELECT t.\"_dlt_id\" FROM \"ds\".\"dim\" AS t WHERE t.\"_dlt_valid_to\" IS NULL)"
        ));
    }

    #[test]
    fn active_record_and_boundary_timestamps_replace_null_and_the_load_time() {
        let c = caps(CaseFold::None);
        let d = SqlDialect::new(&c, "ds");
        let job = scd2_job(Some("9999-12-31T00:00:00Z"), Some("2024-08-21T12:15:00Z"));
        let sql = d.merge_scd2(&job, &|t| format!("stg_{t}")).unwrap();
        let active = "CAST('9999-12-31T00:00:00Z' AS TIMESTAMP WITH TIME ZONE)";
        let b = "CAST('2024-08-21T12:15:00Z' AS TIMESTAMP WITH TIME ZONE)";
        assert!(sql[0].starts_with(&format!(
            "UPDATE \"ds\".\"dim\" SET \"_dlt_valid_to\" = {b} WHERE \"_dlt_valid_to\" = {active} AND"
        )));
        assert!(
            sql[3].contains(&format!(", {b}, {active} FROM")),
            "{}",
            sql[3]
        );
        assert!(sql[3].ends_with(&format!("WHERE t.\"_dlt_valid_to\" = {active})")));
    }

    #[test]
    fn merge_keys_limit_what_is_retired() {
        let c = caps(CaseFold::None);
        let d = SqlDialect::new(&c, "ds");
        let mut job = scd2_job(None, None);
        job.root.table.columns["nk"].merge_key = true;
        let sql = d.merge_scd2(&job, &|t| format!("stg_{t}")).unwrap();
        assert!(
            sql[0].ends_with(" AND \"nk\" IN (SELECT \"nk\" FROM stg_dim)"),
            "{}",
            sql[0]
        );
        job.root.table.columns["_dlt_load_id"].merge_key = true;
        let sql = d.merge_scd2(&job, &|t| format!("stg_{t}")).unwrap();
        assert!(sql[0].ends_with(
            " AND EXISTS (SELECT 1 FROM stg_dim AS s WHERE s.\"nk\" = \"ds\".\"dim\".\"nk\" AND s.\"_dlt_load_id\" = \"ds\".\"dim\".\"_dlt_load_id\")"
        ));
    }

    #[test]
    fn nothing_staged_does_nothing_and_missing_hints_name_the_table() {
        let c = caps(CaseFold::None);
        let d = SqlDialect::new(&c, "ds");
        let mut job = scd2_job(None, None);
        job.nested[0].files.clear();
        // Without rows of the child, the grandchild has no parent rows to follow either.
        let sql = d.merge_scd2(&job, &|t| format!("stg_{t}")).unwrap();
        assert_eq!(sql.len(), 2, "{sql:#?}");
        assert!(sql[1].starts_with("INSERT INTO \"ds\".\"dim\""));
        job.root.files.clear();
        assert!(d.merge_scd2(&job, &|t| t.to_string()).unwrap().is_empty());
        let mut job = scd2_job(None, None);
        job.root.table.columns["_dlt_valid_to"].valid_to = false;
        let e = d.merge_scd2(&job, &|t| t.to_string()).unwrap_err();
        assert!(e.to_string().contains("table dim"), "{e}");
        let mut job = scd2_job(None, None);
        job.load_id = "not-a-time".into();
        let e = d.merge_scd2(&job, &|t| t.to_string()).unwrap_err();
        assert!(e.to_string().contains("boundary_timestamp"), "{e}");
    }
}
