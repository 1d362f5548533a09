//! Names of load files staged on object storage or in a warehouse's stage (a Snowflake stage,
//! a Databricks volume): plain ASCII, deterministic per table and file, so that a retried load
//! writes the same objects again instead of adding new ones, and warehouses that remember the
//! files they loaded (`COPY INTO`) skip them.

use crate::naming::digest128;
use std::path::Path;

/// The folder of `table` in a staging location: its name made ASCII (other characters become
/// `_`, at most 64 kept) plus a short digest of the full name, so different tables never share
/// a folder.
pub fn table_folder(table: &str) -> String {
    let ascii: String = table
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{ascii}_{}", digest128(table, 6))
}

/// The name of the `n`-th load file of a table in its folder: the position, the file's stem made
/// plain and a digest of its name, so the same file of the same load always gets the same name.
pub fn file_name(n: usize, file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem: String = name
        .trim_end_matches(".parquet")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    format!("{n:05}_{stem}_{}.parquet", digest128(&name, 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_deterministic() {
        let f = table_folder("order__ünï");
        assert!(f.starts_with("order___") && f.is_ascii(), "{f}");
        assert_ne!(table_folder("a"), table_folder("b"));
        let n = file_name(3, Path::new("/x/orders.1 ü.parquet"));
        assert!(
            n.starts_with("00003_orders.1__") && n.ends_with(".parquet") && n.is_ascii(),
            "{n}"
        );
        assert_eq!(n, file_name(3, Path::new("/y/orders.1 ü.parquet")));
        assert_ne!(n, file_name(4, Path::new("/y/orders.1 ü.parquet")));
    }
}
