//! JSON items → dlt's relational layout → Arrow `RecordBatch`es.
//!
//! A [`Normalizer`] takes the JSON items of one or more resources and turns each item into rows
//! of a root table and of nested tables, exactly as dlt's relational normalizer lays them out
//! (`orders`, `orders__items`, `a__b` for nested objects, `value` for lists of scalars, `list`
//! for lists of lists, `_dlt_id` / `_dlt_parent_id` / `_dlt_list_idx` / `_dlt_load_id` /
//! `_dlt_root_id` system columns, `<col>__v_<type>` variant columns on type conflicts).
//! Types are inferred and coerced against the schema, which grows under its schema contract.
//! Rows are appended straight into Arrow builders and leave as batches of bounded size.
//!
//! Two things differ from dlt on purpose:
//! - distinct source keys that normalize to the same name (`"Order ID"`, `"orderId"`,
//!   `"order_id"`) are never merged into one column: the first keeps the name, the others get a
//!   stable tagged name recorded in the schema, and a warning is emitted;
//! - integers that do not fit a 64-bit integer never fail: they become `decimal` (up to 38
//!   digits) or `text`.
//!
//! # Module map
//!
//! - `normalizer`: the public [`Normalizer`] with its settings ([`NormalizerConfig`]) and
//!   stats ([`NormalizeStats`]), and its entry points (`add_resource`, `push`, `take_ready`,
//!   `flush`, `schema`);
//! - `state`: the runtime state behind it (per table, per column, the key cache of source
//!   paths, the rows of an item waiting to be committed);
//! - `tables`: tables kept in line with the schema (columns, system columns, root hints, the
//!   `tables` contract) and the naming of nested tables;
//! - `rows`: an item flattened into its root row and nested rows, with their `_dlt_id`s;
//! - `scd2`: the scd2 merge strategy's columns on a root table and its row hash;
//! - `columns`: the column of each source key (collision tags), new columns and variant
//!   columns under the schema contract, values typed into them;
//! - `batches`: committed rows appended to Arrow builders and emitted as `RecordBatch`es;
//! - `values` (type inference and coercion of JSON values) and `builders` (Arrow builders per
//!   data type).
//!
//! An item goes `normalizer::push` → `rows` (flatten, with `tables` and `columns` growing the
//! schema as needed) → `batches::commit`; nothing of an item is written before all its rows
//! normalized.

mod arrow_input;
mod batches;
mod builders;
mod columns;
mod normalizer;
mod rows;
mod scd2;
mod state;
mod tables;
mod values;

pub use normalizer::{NormalizeStats, Normalizer, NormalizerConfig};

#[cfg(test)]
mod normalize_fuzz;
#[cfg(test)]
mod tests;
