//! Merge statements of the `delete-insert` and `upsert` strategies (dlt's `gen_merge_sql`
//! and `gen_upsert_sql` in spirit): staged rows deduplicated on their key, `hard_delete`
//! rows deleting instead of being written, nested rows following their root.

use super::SqlDialect;
use crate::destination::ChainJob;
use crate::schema::{C_DLT_ID, C_DLT_ROOT_ID, Column, MergeStrategy, Table};
use crate::types::DataType;

impl SqlDialect<'_> {
    /// When a staged row of `table` deletes instead of being written (dlt's `hard_delete`
    /// column hint): a `bool` column that is true, or a column of another type that is not
    /// NULL. `alias` qualifies the column (`"s"`), or is empty. `None` without the hint.
    pub fn hard_delete_condition(&self, table: &Table, alias: &str) -> Option<String> {
        let c = table
            .columns
            .values()
            .find(|c| c.hard_delete && c.is_complete())?;
        let col = if alias.is_empty() {
            self.quote(&c.name)
        } else {
            format!("{alias}.{}", self.quote(&c.name))
        };
        Some(if c.data_type == Some(DataType::Bool) {
            format!("COALESCE({col}, FALSE)")
        } else {
            format!("{col} IS NOT NULL")
        })
    }

    /// ` ORDER BY "col" ASC|DESC` of the `dedup_sort` column that picks the row kept among
    /// duplicate keys (descending unless `asc`), or nothing without one.
    fn dedup_order(&self, table: &Table) -> String {
        table
            .columns
            .values()
            .find(|c| c.dedup_sort.is_some())
            .map(|c| {
                let dir = if c.dedup_sort.as_deref() == Some("asc") {
                    "ASC"
                } else {
                    "DESC"
                };
                format!(" ORDER BY {} {dir}", self.quote(&c.name))
            })
            .unwrap_or_default()
    }

    /// Delete duplicate primary keys from a staged root table, keeping one row per key (the first
    /// by the `dedup_sort` column when one is hinted). `None` without a primary key.
    pub fn dedup_staged_root(&self, root: &Table, stg_root: &str) -> Option<String> {
        let pk = root.primary_key();
        if pk.is_empty() {
            return None;
        }
        let partition = pk
            .iter()
            .map(|c| self.quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let order = self.dedup_order(root);
        let id = self.quote(C_DLT_ID);
        Some(format!(
            "DELETE FROM {stg_root} WHERE {id} IN (SELECT {id} FROM (SELECT {id}, ROW_NUMBER() OVER (PARTITION BY {partition}{order}) AS _dlt_dedup_rn FROM {stg_root}) AS _dlt_dedup WHERE _dlt_dedup_rn > 1)"
        ))
    }

    /// The statements that merge `job` by its strategy — delete-insert, upsert or scd2 —
    /// reading the staged rows of each table from `staging(name)`.
    pub fn merge(
        &self,
        job: &ChainJob,
        staging: &dyn Fn(&str) -> String,
    ) -> crate::error::Result<Vec<String>> {
        Ok(match job.merge_strategy {
            MergeStrategy::Upsert => self.merge_upsert(job, staging),
            MergeStrategy::Scd2 => self.merge_scd2(job, staging)?,
            // The pipeline refuses a strategy the destination does not list before it loads.
            _ => self.merge_delete_insert(job, staging),
        })
    }

    /// Delete-insert merge of a chain whose tables with rows were loaded into staging tables
    /// named by `staging` (qualified, quoted names). Incoming root rows are deduplicated on the
    /// primary key; existing rows matching the primary or merge key are deleted with their nested
    /// rows (through `_dlt_root_id`); then the staged rows are inserted, except those marked by a
    /// `hard_delete` column (and their nested rows): they only delete. Without keys it appends.
    pub fn merge_delete_insert(
        &self,
        job: &ChainJob,
        staging: &dyn Fn(&str) -> String,
    ) -> Vec<String> {
        let root = &job.root.table;
        let stg_root = staging(&root.name);
        let pk = root.primary_key();
        let mk = root.merge_key();
        let mut sql = Vec::new();
        let has_root_rows = !job.root.files.is_empty();
        let deleted = self.hard_delete_condition(root, "");
        if has_root_rows {
            sql.extend(self.dedup_staged_root(root, &stg_root));
        }
        let key_match = |target: &str| -> Option<String> {
            let eq = |cols: &[&str]| {
                cols.iter()
                    .map(|c| format!("s.{q} = {target}.{q}", q = self.quote(c)))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            let mut alts = Vec::new();
            if !pk.is_empty() {
                alts.push(format!("({})", eq(&pk)));
            }
            if !mk.is_empty() {
                alts.push(format!("({})", eq(&mk)));
            }
            (!alts.is_empty()).then(|| {
                format!(
                    "EXISTS (SELECT 1 FROM {stg_root} AS s WHERE {})",
                    alts.join(" OR ")
                )
            })
        };
        if has_root_rows {
            if let Some(root_match) = key_match("d") {
                for nested in job.nested.iter().rev() {
                    if !nested.table.columns.contains_key(C_DLT_ROOT_ID) {
                        continue;
                    }
                    sql.push(format!(
                        "DELETE FROM {} WHERE {} IN (SELECT d.{} FROM {} AS d WHERE {root_match})",
                        self.table(&nested.table.name),
                        self.quote(C_DLT_ROOT_ID),
                        self.quote(C_DLT_ID),
                        self.table(&root.name),
                    ));
                }
                let target = self.table(&root.name);
                sql.push(format!(
                    "DELETE FROM {target} WHERE {}",
                    key_match(&target).expect("keys exist")
                ));
            }
            let kept = deleted.as_ref().map(|d| format!("NOT ({d})"));
            sql.push(self.insert_from(root, &stg_root, kept.as_deref()));
        }
        for nested in &job.nested {
            if nested.files.is_empty() {
                continue;
            }
            let filter = nested.table.columns.contains_key(C_DLT_ROOT_ID).then(|| {
                format!(
                    "{} IN (SELECT {} FROM {stg_root}{})",
                    self.quote(C_DLT_ROOT_ID),
                    self.quote(C_DLT_ID),
                    deleted
                        .as_ref()
                        .map(|d| format!(" WHERE NOT ({d})"))
                        .unwrap_or_default()
                )
            });
            let filter = if has_root_rows { filter } else { None };
            sql.push(self.insert_from(
                &nested.table,
                &staging(&nested.table.name),
                filter.as_deref(),
            ));
        }
        sql
    }

    /// Upsert merge (standard `MERGE`) of a chain whose tables with rows were loaded into
    /// staging tables named by `staging`. Incoming rows are deduplicated on their match key
    /// (a `MERGE` may touch a target row only once); root rows are matched on the primary key,
    /// nested rows on `_dlt_id`; matched rows are updated, the others inserted. Nested rows of
    /// merged roots that the load no longer has are deleted (through `_dlt_root_id`).
    /// The root table must have a primary key.
    pub fn merge_upsert(&self, job: &ChainJob, staging: &dyn Fn(&str) -> String) -> Vec<String> {
        let root = &job.root.table;
        let stg_root = staging(&root.name);
        let has_root_rows = !job.root.files.is_empty();
        let pk = root.primary_key();
        let mut sql = Vec::new();
        if !has_root_rows || pk.is_empty() {
            return sql;
        }
        // Rows marked by a `hard_delete` column delete their key first; the MERGE then sees only
        // the others (plain WHEN clauses: no `WHEN MATCHED AND … THEN DELETE`, which not every
        // engine or emulator runs).
        let deleted = self.hard_delete_condition(root, "");
        // One source row per key: rows with equal keys (and so often equal `_dlt_id`s) are
        // ranked, by the `dedup_sort` column when one is hinted.
        let dedup_source = |table: &Table, stg: &str, keys: &[&str], filter: &str| -> String {
            let partition = keys
                .iter()
                .map(|k| self.quote(k))
                .collect::<Vec<_>>()
                .join(", ");
            let order = self.dedup_order(table);
            format!(
                "(SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition}{order}) AS _dlt_dedup_rn FROM {stg}) AS _dlt_dedup WHERE _dlt_dedup_rn = 1{filter})"
            )
        };
        let merge = |table: &Table, stg: &str, keys: &[&str], deleted: Option<&str>| -> String {
            let cols: Vec<&Column> = table.complete_columns().collect();
            let on = keys
                .iter()
                .map(|k| format!("d.{q} = s.{q}", q = self.quote(k)))
                .collect::<Vec<_>>()
                .join(" AND ");
            let set = cols
                .iter()
                .filter(|c| !keys.contains(&c.name.as_str()))
                .map(|c| format!("{q} = s.{q}", q = self.quote(&c.name)))
                .collect::<Vec<_>>();
            let names = cols.iter().map(|c| self.quote(&c.name)).collect::<Vec<_>>();
            let values = names.iter().map(|n| format!("s.{n}")).collect::<Vec<_>>();
            let update = if set.is_empty() {
                String::new()
            } else {
                format!(" WHEN MATCHED THEN UPDATE SET {}", set.join(", "))
            };
            let kept = deleted
                .map(|d| format!(" AND NOT ({d})"))
                .unwrap_or_default();
            let source = dedup_source(table, stg, keys, &kept);
            format!(
                "MERGE INTO {} AS d USING {source} AS s ON {on}{update} WHEN NOT MATCHED THEN INSERT ({}) VALUES ({})",
                self.table(&table.name),
                names.join(", "),
                values.join(", ")
            )
        };
        if let Some(d) = &deleted {
            let target = self.table(&root.name);
            let marked = dedup_source(root, &stg_root, &pk, &format!(" AND {d}"));
            sql.push(if let [key] = pk.as_slice() {
                // Uncorrelated for the usual one-column key (some engines and emulators do not
                // resolve a correlated target name inside a derived table).
                let k = self.quote(key);
                format!("DELETE FROM {target} WHERE {k} IN (SELECT {k} FROM {marked} AS s)")
            } else {
                let on = pk
                    .iter()
                    .map(|k| format!("s.{q} = {target}.{q}", q = self.quote(k)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                format!(
                    "DELETE FROM {target} WHERE EXISTS (SELECT 1 FROM {marked} AS s WHERE {on})"
                )
            });
        }
        sql.push(merge(root, &stg_root, &pk, deleted.as_deref()));
        // Nested rows of root rows that a hard delete removed go with them.
        let deleted_roots = self.hard_delete_condition(root, "").map(|d| {
            format!(
                "(SELECT {} FROM {stg_root} WHERE {d})",
                self.quote(C_DLT_ID)
            )
        });
        let root_id = self.quote(C_DLT_ROOT_ID);
        let id = self.quote(C_DLT_ID);
        for nested in &job.nested {
            if nested.table.complete_columns().next().is_none() {
                continue;
            }
            let target = self.table(&nested.table.name);
            let has_root_key = nested.table.columns.contains_key(C_DLT_ROOT_ID);
            if nested.files.is_empty() {
                if has_root_key {
                    sql.push(format!(
                        "DELETE FROM {target} WHERE {root_id} IN (SELECT {id} FROM {stg_root})"
                    ));
                }
                continue;
            }
            let stg = staging(&nested.table.name);
            sql.push(merge(&nested.table, &stg, &[C_DLT_ID], None));
            if has_root_key {
                sql.push(format!(
                    "DELETE FROM {target} WHERE {root_id} IN (SELECT {id} FROM {stg_root}) AND {id} NOT IN (SELECT {id} FROM {stg})"
                ));
                if let Some(roots) = &deleted_roots {
                    sql.push(format!("DELETE FROM {target} WHERE {root_id} IN {roots}"));
                }
            }
        }
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::caps;
    use super::*;
    use crate::capabilities::CaseFold;
    use crate::destination::{ChainDisposition, TableJob};
    use crate::schema::MergeStrategy;

    #[test]
    fn merge_deletes_nested_through_root_key_then_inserts() {
        let c = caps(CaseFold::None);
        let d = SqlDialect::new(&c, "ds");
        let root = Table::new("orders")
            .with_column(Column::new("id", DataType::Bigint).primary_key())
            .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
        let nested = Table::nested("orders__items", "orders")
            .with_column(Column::new(C_DLT_ROOT_ID, DataType::Text))
            .with_column(Column::new(C_DLT_ID, DataType::Text));
        let job = ChainJob {
            load_id: "1".into(),
            disposition: ChainDisposition::Merge,
            merge_strategy: MergeStrategy::DeleteInsert,
            root: TableJob {
                table: root,
                files: vec!["a".into()],
                rows: 1,
            },
            nested: vec![TableJob {
                table: nested,
                files: vec!["b".into()],
                rows: 1,
            }],
            schema_name: "s".into(),
            scratch_dir: std::env::temp_dir(),
        };
        let sql = d.merge_delete_insert(&job, &|t| format!("stg_{t}"));
        assert_eq!(sql.len(), 5, "{sql:#?}");
        assert!(sql[0].starts_with("DELETE FROM stg_orders WHERE \"_dlt_id\" IN"));
        assert!(
            sql[1].starts_with("DELETE FROM \"ds\".\"orders__items\" WHERE \"_dlt_root_id\" IN")
        );
        assert!(sql[2].starts_with("DELETE FROM \"ds\".\"orders\" WHERE EXISTS"));
        assert!(sql[3].starts_with("INSERT INTO \"ds\".\"orders\""));
        assert!(sql[4].ends_with("WHERE \"_dlt_root_id\" IN (SELECT \"_dlt_id\" FROM stg_orders)"));
    }

    #[test]
    fn upsert_merges_root_on_primary_key_and_nested_on_row_key() {
        let c = caps(CaseFold::None);
        let d = SqlDialect::new(&c, "ds");
        let root = Table::new("orders")
            .with_column(Column::new("id", DataType::Bigint).primary_key())
            .with_column(Column::new("status", DataType::Text))
            .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
        let nested = Table::nested("orders__items", "orders")
            .with_column(Column::new(C_DLT_ROOT_ID, DataType::Text))
            .with_column(Column::new(C_DLT_ID, DataType::Text));
        let mut job = ChainJob {
            load_id: "1".into(),
            disposition: ChainDisposition::Merge,
            merge_strategy: MergeStrategy::Upsert,
            root: TableJob {
                table: root,
                files: vec!["a".into()],
                rows: 1,
            },
            nested: vec![TableJob {
                table: nested,
                files: vec!["b".into()],
                rows: 1,
            }],
            schema_name: "s".into(),
            scratch_dir: std::env::temp_dir(),
        };
        let sql = d.merge_upsert(&job, &|t| format!("stg_{t}"));
        assert_eq!(sql.len(), 3, "{sql:#?}");
        assert!(sql[0].starts_with("MERGE INTO \"ds\".\"orders\" AS d USING (SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY \"id\")"));
        assert!(sql[0].contains("ON d.\"id\" = s.\"id\" WHEN MATCHED THEN UPDATE SET \"status\" = s.\"status\", \"_dlt_id\" = s.\"_dlt_id\" WHEN NOT MATCHED THEN INSERT"));
        assert!(sql[1].starts_with("MERGE INTO \"ds\".\"orders__items\""));
        assert!(sql[2].ends_with("NOT IN (SELECT \"_dlt_id\" FROM stg_orders__items)"));
        // Without nested rows in the load, the nested rows of merged roots go.
        job.nested[0].files.clear();
        let sql = d.merge_upsert(&job, &|t| format!("stg_{t}"));
        assert_eq!(sql.len(), 2, "{sql:#?}");
        assert!(
            sql[1].starts_with("DELETE FROM \"ds\".\"orders__items\" WHERE \"_dlt_root_id\" IN")
        );
    }
}
