//! One schema from the partitions' schemas: each partition grows its schema from its own share
//! of the data, so their tables and columns differ; the commit loads every package with their
//! union, so the destination's stored schema holds every table and column any partition made.

use sluice_core::{Error, Result, Schema};

/// The union of schemas of the same name, each named by its origin (a partition) for errors:
/// the tables and columns of the first, then those the others add, in their order. The union
/// starts from the input with the highest version and gets the next version when it differs
/// from it. A column whose type differs between two inputs is an error naming both (declare its
/// type in the resource's `columns` so that every partition agrees).
pub fn union_schemas(schemas: &[(String, Schema)]) -> Result<Schema> {
    let Some((_, first)) = schemas.first() else {
        return Err(Error::internal("no schema to unite"));
    };
    let mut out = first.clone();
    for (origin, s) in &schemas[1..] {
        if s.name != out.name {
            return Err(Error::internal(format!(
                "schema {} of {origin} is not schema {}",
                s.name, out.name
            )));
        }
        for (name, table) in &s.tables {
            let Some(have) = out.tables.get_mut(name) else {
                out.tables.insert(name.clone(), table.clone());
                continue;
            };
            for (cname, col) in &table.columns {
                match have.columns.get_mut(cname) {
                    None => {
                        have.columns.insert(cname.clone(), col.clone());
                    }
                    Some(c) => match (&c.data_type, &col.data_type) {
                        (None, Some(_)) => *c = col.clone(),
                        (Some(a), Some(b)) if a != b => {
                            let first_origin = schemas
                                .iter()
                                .find(|(_, x)| {
                                    x.table(name)
                                        .and_then(|t| t.columns.get(cname))
                                        .is_some_and(|x| x.data_type.as_ref() == Some(a))
                                })
                                .map(|(o, _)| o.as_str())
                                .unwrap_or("another partition");
                            return Err(Error::config(format!(
                                "table {name}, column {cname}: {first_origin} made it {a} and \
                                 {origin} made it {b} from their data, and one table cannot \
                                 have both; declare the column's type in the resource's \
                                 `columns` so that every partition agrees"
                            )));
                        }
                        _ => {}
                    },
                }
            }
        }
    }
    let newest = schemas
        .iter()
        .map(|(_, s)| s)
        .max_by_key(|s| s.version)
        .expect("not empty");
    out.version = newest.version;
    out.version_hash = newest.version_hash.clone();
    out.previous_hashes = newest.previous_hashes.clone();
    out.bump_version();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::{Column, DataType, Table};

    fn schema(cols: &[(&str, DataType)]) -> Schema {
        let mut s = Schema::new("src");
        let mut t = Table::new("items");
        for (c, ty) in cols {
            t = t.with_column(Column::new(*c, *ty));
        }
        s.tables.insert("items".into(), t);
        s.bump_version();
        s
    }

    #[test]
    fn union_keeps_every_column_and_refuses_type_conflicts() {
        let a = schema(&[("id", DataType::Bigint), ("a", DataType::Text)]);
        let b = schema(&[("id", DataType::Bigint), ("b", DataType::Bool)]);
        let u = union_schemas(&[("p0".into(), a.clone()), ("p1".into(), b)]).unwrap();
        let cols: Vec<&String> = u.tables["items"].columns.keys().collect();
        assert_eq!(cols, ["id", "a", "b"]);
        assert_eq!(u.version, a.version + 1);
        let same = union_schemas(&[("p0".into(), a.clone()), ("p1".into(), a.clone())]).unwrap();
        assert_eq!(same.version_hash, a.version_hash);
        let c = schema(&[("id", DataType::Text)]);
        let err = union_schemas(&[("p0".into(), a), ("p3".into(), c)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column id") && err.contains("p0") && err.contains("p3"),
            "{err}"
        );
    }
}
