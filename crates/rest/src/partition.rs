//! Partitioned runs of the REST source (`sluice run --partition K/N`): which share of the work
//! the `k`-th of `n` partitions takes. The split is deterministic and the same on every
//! machine, so that the `n` partitions together fetch every request exactly once:
//!
//! - a **child resource** (a request per parent item) runs only for the parent items whose
//!   key falls in share `k`: the *key* of a parent item is the values of the parent fields its
//!   children's placeholders read (`{resources.orders.id}` reads `id`), and it falls in share
//!   `stable_hash(key) % n`. Deeper levels follow their root item: a grandchild runs wherever
//!   its child ran;
//! - the **root resource of children** fetches its whole listing in every partition (the
//!   listing is how the parent items are found) but emits only its own share of rows, split by
//!   the same hash, so each of its rows is loaded once;
//! - a **root resource without children** is taken whole by the partition
//!   `stable_hash(resource name) % n`; the other partitions do not declare it at all (so no
//!   other partition's empty `replace` can empty its table).
//!
//! [`stable_hash`] is FNV-1a (64 bit) of the canonical JSON text of the key (objects with
//! sorted keys, no spaces): it depends on neither the process nor the Rust version.
//!
//! Resources that are split between partitions cannot use `write_disposition = "replace"`
//! (each partition's package would replace the others' rows) nor the `scd2` merge strategy
//! (each package would retire the rows of the other shares): such a source is refused.

use crate::jsonpath::JsonPath;
use crate::resolve::Resolved;
use crate::template;
use serde_json::Value;
use sluice_core::{Error, MergeStrategy, Result, WriteDisposition};
use std::sync::Arc;

/// How one resource is split.
#[derive(Debug)]
enum Plan {
    /// A root resource without children: taken whole by the partition of its name, or not at all.
    Whole(bool),
    /// A root resource with children: its items are split by the values at these parent fields
    /// (with the field names, sorted).
    Split(Vec<(String, JsonPath)>),
    /// A child resource: runs for the parent items its root kept.
    Follows,
}

/// The share of one partition: `k` of `n`, and how each resource is split.
#[derive(Debug)]
pub(crate) struct Share {
    k: u32,
    n: u32,
    plans: Vec<Plan>,
}

/// FNV-1a, 64 bit: a hash that is the same on every machine and in every build.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// The canonical JSON text of `v`: object keys sorted, no whitespace.
pub fn canonical_json(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&o[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// The share (`0..n`) that `key` falls in.
pub fn share_of(key: &Value, n: u32) -> u32 {
    (stable_hash(canonical_json(key).as_bytes()) % u64::from(n.max(1))) as u32
}

/// The fields of `parent` that the templates of `child` read (`{resources.<parent>.<field>}`).
fn parent_fields(child: &Resolved, parent: &str) -> Result<Vec<String>> {
    let mut strings = vec![child.path.clone()];
    for v in child.params.values() {
        template::json_strings(v, &mut strings);
    }
    for v in child.json.iter().chain(child.data.iter()) {
        template::json_strings(v, &mut strings);
    }
    strings.extend(child.headers.iter().map(|(_, v)| v.clone()));
    let prefix = format!("resources.{parent}.");
    let mut out = Vec::new();
    for s in strings {
        for f in template::fields(&s)? {
            if let Some(field) = f.strip_prefix(&prefix) {
                out.push(field.to_string());
            }
        }
    }
    Ok(out)
}

/// Whether a resource's rows may be split between partitions; the error says why not.
fn check_splittable(r: &Resolved, source: &str) -> Result<()> {
    if !r.selected {
        return Ok(());
    }
    let refuse = |what: &str| {
        Err(Error::config(format!(
            "source '{source}' cannot be split into partitions: resource '{}' is split between \
             the partitions (a per-item child resource or the parent of one) and has {what}, \
             which would make each partition's package undo the others'; use append or merge \
             (delete-insert, upsert) for it, or run without --partition",
            r.name
        )))
    };
    if r.hints.write_disposition == WriteDisposition::Replace {
        return refuse("write_disposition = \"replace\"");
    }
    if r.hints.write_disposition == WriteDisposition::Merge
        && r.hints.merge_strategy == Some(MergeStrategy::Scd2)
    {
        return refuse("the scd2 merge strategy");
    }
    Ok(())
}

impl Share {
    /// The share `k` of `n` of a source's resources (`children[i]`: the children of resource `i`).
    pub(crate) fn plan(
        source: &str,
        resources: &[Arc<Resolved>],
        children: &[Vec<usize>],
        k: u32,
        n: u32,
    ) -> Result<Self> {
        if n == 0 || k >= n {
            return Err(Error::config(format!(
                "partition {k}/{n}: K must be at least 0 and below N (0-based, as Kubernetes' \
                 JOB_COMPLETION_INDEX), and N at least 1"
            )));
        }
        let mut plans = Vec::with_capacity(resources.len());
        for (i, r) in resources.iter().enumerate() {
            let plan = if r.parent.is_some() {
                check_splittable(r, source)?;
                Plan::Follows
            } else if children[i].is_empty() {
                Plan::Whole(share_of(&Value::String(r.name.clone()), n) == k)
            } else {
                check_splittable(r, source)?;
                let mut fields = Vec::new();
                for c in &children[i] {
                    fields.extend(parent_fields(&resources[*c], &r.name)?);
                }
                fields.sort();
                fields.dedup();
                let paths = fields
                    .into_iter()
                    .map(|f| JsonPath::parse(&f).map(|p| (f, p)))
                    .collect::<Result<Vec<_>>>()?;
                Plan::Split(paths)
            };
            plans.push(plan);
        }
        Ok(Self { k, n, plans })
    }

    /// Whether the partition produces rows of resource `idx` (or runs it for its children).
    pub(crate) fn includes(&self, idx: usize) -> bool {
        !matches!(self.plans.get(idx), Some(Plan::Whole(false)))
    }

    /// The items of resource `idx` this partition keeps: for the root of children, the items
    /// whose key falls in this share; all others unchanged.
    pub(crate) fn keep(&self, idx: usize, items: Vec<Value>) -> Vec<Value> {
        let Some(Plan::Split(fields)) = self.plans.get(idx) else {
            return items;
        };
        items
            .into_iter()
            .filter(|item| share_of(&key_of(fields, item), self.n) == self.k)
            .collect()
    }
}

/// The key of a parent item: `[[field, value], …]` in field order (`null` for a missing field).
fn key_of(fields: &[(String, JsonPath)], item: &Value) -> Value {
    Value::Array(
        fields
            .iter()
            .map(|(name, path)| {
                let v = path.first(item).cloned().unwrap_or(Value::Null);
                Value::Array(vec![Value::String(name.clone()), v])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_hash_is_pinned() {
        // FNV-1a's published test values: the split must never change between builds.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(b"foobar"), 0x8594_4171_f739_67e8);
        // Keys sorted at every level; numbers as the API wrote them.
        let v: Value =
            serde_json::from_str(r#"{"b": [1, {"d": null, "c": "x"}], "a": 1.50}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":1.50,"b":[1,{"c":"x","d":null}]}"#
        );
    }

    #[test]
    fn every_key_falls_in_exactly_one_share() {
        let n = 4;
        let mut counts = [0u32; 4];
        for id in 0..4000 {
            let key = json!([["id", id]]);
            let s = share_of(&key, n);
            assert!(s < n);
            assert_eq!(s, share_of(&key, n), "deterministic");
            counts[s as usize] += 1;
        }
        for c in counts {
            assert!((800..1200).contains(&c), "balanced: {counts:?}");
        }
    }

    fn source(child_disposition: &str) -> crate::RestApiSource {
        let cfg = crate::RestApiConfig::from_json(&json!({
            "client": {"base_url": "http://h"},
            "resources": [
                "a", "b", "c",
                {"name": "parents", "write_disposition": "merge", "primary_key": "id"},
                {"name": "kids", "write_disposition": child_disposition,
                 "endpoint": {"path": "parents/{resources.parents.id}/kids"}}
            ]
        }))
        .unwrap();
        crate::RestApiSource::new("s", cfg, &sluice_core::ConfigSection::default()).unwrap()
    }

    #[test]
    fn whole_resources_go_to_one_partition_and_split_ones_to_all() {
        use sluice_core::Source;
        let mut seen: Vec<String> = Vec::new();
        for k in 0..3 {
            let mut s = source("append");
            s.partition(k, 3).unwrap();
            let names: Vec<String> = s.resources().into_iter().map(|r| r.name).collect();
            assert!(names.contains(&"parents".to_string()) && names.contains(&"kids".to_string()));
            seen.extend(names.into_iter().filter(|n| n.len() == 1));
        }
        seen.sort();
        assert_eq!(
            seen,
            ["a", "b", "c"],
            "each whole resource in exactly one partition"
        );
        let err = source("replace").partition(0, 2).unwrap_err().to_string();
        assert!(err.contains("'kids'") && err.contains("replace"), "{err}");
        let err = source("append").partition(2, 2).unwrap_err().to_string();
        assert!(err.contains("2/2"), "{err}");
    }
}
