//! DuckDB errors mapped to sluice errors, in one place. Messages say what failed (and which
//! table or setting); the pipeline adds the destination's name.

use sluice_core::Error;
use sluice_core::sql::statement_kind;

/// Map a DuckDB error to a destination error with context.
pub(crate) fn db_err(context: impl std::fmt::Display) -> impl FnOnce(duckdb::Error) -> Error {
    move |e| Error::destination(context.to_string()).with_source(e)
}

/// The error of a failed statement: the context, the kind of statement, and a hint at the
/// memory settings when DuckDB ran out of memory (`load_memory_mib` is the limit of the load
/// in progress, if sluice set one).
pub(crate) fn statement_error(
    context: &str,
    sql: &str,
    load_memory_mib: Option<u64>,
    e: duckdb::Error,
) -> Error {
    let mut context = format!("{context} ({})", statement_kind(sql));
    if e.to_string().contains("Out of Memory") {
        context.push_str(&match load_memory_mib {
            Some(mib) => format!(
                ": DuckDB needed more than the load's memory limit of {mib} MiB; set \
                 destination.duckdb.credentials.global_config.memory_limit (e.g. \"2GB\")"
            ),
            None => ": DuckDB ran out of memory; check \
                 destination.duckdb.credentials.global_config.memory_limit and threads"
                .to_string(),
        });
    }
    db_err(context)(e)
}

/// The error of a DuckDB setting that cannot be applied. DuckDB quotes a value it cannot use
/// ("Could not convert string '…'"), and a setting may hold a secret (s3_secret_access_key):
/// the value (`value` is its SQL literal) is left out.
pub(crate) fn setting_error(name: &str, value: &str, e: duckdb::Error) -> Error {
    let raw = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .map_or_else(|| value.to_string(), |v| v.replace("''", "'"));
    let why = e.to_string().replace(&raw, "***");
    Error::destination(format!(
        "cannot apply the DuckDB setting {name} (from destination.duckdb.credentials): {why}"
    ))
}
