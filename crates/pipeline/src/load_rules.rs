//! What a package must satisfy before any destination sees it, checked once here instead of in
//! every destination: tables within the destination's column limit, merges only with a strategy
//! the destination implements, upserts only with a primary key, decimals within the
//! destination's precision.
//!
//! The checks run before a package is committed (so a package that no destination could load is
//! never left pending, failing every later run) and again before a pending package is loaded
//! (packages written by an older sluice, or for another destination).

use sluice_core::{Capabilities, DataType, Error, MergeStrategy, Result, Schema, WriteDisposition};

/// Check every data table of `schema` against the capabilities of `destination`.
pub fn check(schema: &Schema, caps: &Capabilities, destination: &str) -> Result<()> {
    check_column_limit(schema, caps, destination)?;
    check_decimal_precision(schema, caps, destination)?;
    check_merges(schema, caps, destination)
}

/// A decimal column declared wider than the destination's decimals fails, naming table and
/// column, instead of failing in a `CREATE TABLE` or losing digits.
fn check_decimal_precision(schema: &Schema, caps: &Capabilities, destination: &str) -> Result<()> {
    let max = caps
        .max_decimal_precision
        .min(sluice_core::arrow_types::MAX_DECIMAL_PRECISION);
    for table in schema.tables.values() {
        for column in table.complete_columns() {
            let Some(precision) = column.precision else {
                continue;
            };
            if column.data_type == Some(DataType::Decimal) && precision > max {
                return Err(Error::schema(format!(
                    "table {}: column {} is a decimal of precision {precision}, more than the {max} \
                     digits sluice loads into {destination}: lower its precision in the \
                     resource's columns, or declare it as text",
                    table.name, column.name
                )));
            }
        }
    }
    Ok(())
}

/// A table with more columns than the destination allows fails, naming the table and what to do.
fn check_column_limit(schema: &Schema, caps: &Capabilities, destination: &str) -> Result<()> {
    let Some(max) = caps.max_columns_per_table else {
        return Ok(());
    };
    for table in schema.tables.values() {
        let n = table.complete_columns().count();
        if n > max {
            return Err(Error::schema(format!(
                "table {} would have {n} columns, more than the {max} a {destination} table can \
                 hold: lower max_table_nesting for its resource so that deep objects are stored \
                 as JSON, declare a wide object as a json column in the resource's columns, or \
                 load it into a destination without that limit (duckdb, filesystem)",
                table.name
            )));
        }
    }
    Ok(())
}

/// A merge table's strategy must be one the destination implements (a destination without any
/// appends instead, see [`Capabilities::merge_strategies`]); an upsert needs a primary key.
fn check_merges(schema: &Schema, caps: &Capabilities, destination: &str) -> Result<()> {
    for table in schema.data_tables().filter(|t| t.parent.is_none()) {
        if schema.write_disposition(&table.name) != WriteDisposition::Merge {
            continue;
        }
        let strategy = table.merge_strategy.unwrap_or_default();
        if !caps.merge_strategies.is_empty() && !caps.supports_merge_strategy(strategy) {
            let supported: Vec<&str> = caps.merge_strategies.iter().map(|s| s.as_str()).collect();
            return Err(Error::config(format!(
                "table {}: the {} merge strategy is not supported by {destination}; use {} \
                 (write_disposition = {{ disposition = \"merge\", strategy = \"{}\" }})",
                table.name,
                strategy.as_str(),
                supported.join(" or "),
                supported[0]
            )));
        }
        if strategy == MergeStrategy::Upsert && table.primary_key().is_empty() {
            return Err(Error::schema(format!(
                "table {}: the upsert merge strategy needs a primary key: set primary_key on \
                 its resource, or use the delete-insert strategy",
                table.name
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::{Column, DataType, Table};

    fn caps(strategies: Vec<MergeStrategy>, max_columns: Option<usize>) -> Capabilities {
        Capabilities {
            merge_strategies: strategies,
            max_columns_per_table: max_columns,
            ..Capabilities::default()
        }
    }

    fn merge_schema(strategy: MergeStrategy, key: bool) -> Schema {
        let mut s = Schema::new("s");
        let mut t = Table::new("orders");
        t.write_disposition = Some(WriteDisposition::Merge);
        t.merge_strategy = Some(strategy);
        let id = Column::new("id", DataType::Bigint);
        t = t.with_column(if key { id.primary_key() } else { id });
        s.tables.insert(t.name.clone(), t);
        s
    }

    #[test]
    fn unsupported_strategies_and_keyless_upserts_are_refused() {
        let both = caps(
            vec![MergeStrategy::DeleteInsert, MergeStrategy::Upsert],
            None,
        );
        check(&merge_schema(MergeStrategy::Upsert, true), &both, "duckdb").unwrap();
        let msg = check(
            &merge_schema(MergeStrategy::InsertOnly, true),
            &both,
            "duckdb",
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("table orders: the insert-only merge strategy is not supported by duckdb")
                && msg.contains("use delete-insert or upsert"),
            "{msg}"
        );
        let msg = check(&merge_schema(MergeStrategy::Upsert, false), &both, "duckdb")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("table orders: the upsert merge strategy needs a primary key"),
            "{msg}"
        );
        // scd2 needs no key, but a destination that lacks it refuses it, naming the table.
        let scd2 = merge_schema(MergeStrategy::Scd2, false);
        let with_scd2 = caps(vec![MergeStrategy::DeleteInsert, MergeStrategy::Scd2], None);
        check(&scd2, &with_scd2, "postgres").unwrap();
        let msg = check(&scd2, &both, "duckdb").unwrap_err().to_string();
        assert!(
            msg.contains("table orders: the scd2 merge strategy is not supported by duckdb"),
            "{msg}"
        );
        // A destination without merge strategies appends: nothing to refuse.
        check(
            &merge_schema(MergeStrategy::InsertOnly, true),
            &caps(vec![], None),
            "fs",
        )
        .unwrap();
    }

    #[test]
    fn decimals_wider_than_the_destination_are_refused() {
        let mut schema = merge_schema(MergeStrategy::DeleteInsert, true);
        let orders = schema.tables.get_mut("orders").unwrap();
        orders.columns.insert(
            "amount".into(),
            Column::new("amount", DataType::Decimal).with_precision(40, Some(2)),
        );
        let strategies = vec![MergeStrategy::DeleteInsert];
        let narrow = Capabilities {
            max_decimal_precision: 18,
            ..caps(strategies.clone(), None)
        };
        let msg = check(&schema, &narrow, "x").unwrap_err().to_string();
        assert!(msg.contains("precision 40, more than the 18"), "{msg}");
        // Packages carry at most 38 digits, whatever the destination takes.
        let wide = Capabilities {
            max_decimal_precision: 76,
            ..caps(strategies, None)
        };
        let msg = check(&schema, &wide, "pg").unwrap_err().to_string();
        assert!(
            msg.contains(
                "table orders: column amount is a decimal of precision 40, more than the 38"
            ),
            "{msg}"
        );
    }

    #[test]
    fn a_table_beyond_the_column_limit_is_refused() {
        let mut schema = merge_schema(MergeStrategy::DeleteInsert, true);
        let orders = schema.tables.get_mut("orders").unwrap();
        for i in 0..30 {
            orders.columns.insert(
                format!("c{i}"),
                Column::new(format!("c{i}"), DataType::Text),
            );
        }
        let strategies = || vec![MergeStrategy::DeleteInsert];
        check(&schema, &caps(strategies(), Some(31)), "pg").unwrap();
        let msg = check(&schema, &caps(strategies(), Some(30)), "pg")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(
                "table orders would have 31 columns, more than the 30 a pg table can hold"
            ),
            "{msg}"
        );
    }
}
