//! A page's items as slices of its JSON text, parsed into values a few at a time.
//!
//! A page of 1 000 orders is ~2.7 MB of text and several times that as `serde_json::Value`s.
//! When the data selector is a plain key path (`orders`, `data.items`) and nothing else needs the
//! items as values before the pipeline does, the body is parsed around the items: everything
//! outside the selected array becomes a `Value` (the paginator reads it; the array is left empty
//! there), and each item is only located (`RawValue`). The source then turns the items into
//! values in small chunks just before the pipeline takes them, so only a chunk of values is alive
//! at a time and the same memory is reused chunk after chunk.

use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::ops::Range;

/// The items of one page: the body's text and where each item is in it.
#[derive(Debug)]
pub(crate) struct RawItems {
    text: String,
    ranges: std::collections::VecDeque<Range<usize>>,
}

impl RawItems {
    /// How many items are left.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Parse up to `n` of the remaining items into values.
    pub fn next_chunk(&mut self, n: usize) -> serde_json::Result<Vec<Value>> {
        let n = n.min(self.ranges.len());
        self.ranges
            .drain(..n)
            .map(|r| serde_json::from_str(&self.text[r]))
            .collect()
    }
}

/// An object's members in document order, values unparsed.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Split `text` into the body without the items at `keys` and the items. `None` for the items
/// when the path does not lead through objects to a value (the caller then uses the whole body).
/// A missing key or `null` selects no items, an object or scalar one item, as `take_items` does.
/// On error the text comes back with the error (for the message).
pub(crate) fn split_items(
    text: String,
    keys: &[String],
) -> Result<(Value, Option<RawItems>), (serde_json::Error, String)> {
    let (body, ranges) = match split(&text, &text, keys) {
        Ok(parts) => parts,
        Err(e) => return Err((e, text)),
    };
    Ok((
        body,
        ranges.map(|ranges| RawItems {
            text,
            ranges: ranges.into(),
        }),
    ))
}

fn offset(base: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    start..start + part.len()
}

fn split(
    base: &str,
    part: &str,
    keys: &[String],
) -> serde_json::Result<(Value, Option<Vec<Range<usize>>>)> {
    let Some((key, rest)) = keys.split_first() else {
        return Ok((serde_json::from_str(part)?, None));
    };
    if !part.trim_start().starts_with('{') {
        return Ok((serde_json::from_str(part)?, None));
    }
    let members: Members = serde_json::from_str(part)?;
    let mut map = Map::new();
    let mut items = Some(Vec::new());
    for (k, raw) in members.0 {
        if &k != key {
            map.insert(k, serde_json::from_str(raw.get())?);
            continue;
        }
        let (value, found) = if rest.is_empty() {
            select(base, raw)?
        } else {
            split(base, raw.get(), rest)?
        };
        map.insert(k, value);
        items = found;
    }
    Ok((Value::Object(map), items))
}

/// The selected value: an array's elements, nothing for `null`, else the value itself.
fn select(base: &str, raw: &RawValue) -> serde_json::Result<(Value, Option<Vec<Range<usize>>>)> {
    let text = raw.get();
    match text.trim_start().as_bytes().first() {
        Some(b'[') => {
            let elements: Vec<&RawValue> = serde_json::from_str(text)?;
            let ranges = elements.iter().map(|e| offset(base, e.get())).collect();
            Ok((Value::Array(Vec::new()), Some(ranges)))
        }
        Some(b'n') => Ok((Value::Null, Some(Vec::new()))),
        _ => Ok((Value::Null, Some(vec![offset(base, text)]))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn all(items: &mut RawItems) -> Vec<Value> {
        items.next_chunk(usize::MAX).unwrap()
    }

    #[test]
    fn items_are_split_from_the_rest_of_the_body() {
        let text = r#"{"count": 3, "orders": [{"id": 1, "a": "x\"y"}, {"id": 2}, 12345678901234567890123],
                      "next": "http://h/p?page=2", "z": {"k": [1, 2]}}"#;
        let (body, items) = split_items(text.to_string(), &keys(&["orders"])).unwrap();
        assert_eq!(
            body,
            json!({"count": 3, "orders": [], "next": "http://h/p?page=2", "z": {"k": [1, 2]}})
        );
        let keys_in_order: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys_in_order, ["count", "orders", "next", "z"]);
        let mut items = items.unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            items.next_chunk(2).unwrap(),
            vec![json!({"id": 1, "a": "x\"y"}), json!({"id": 2})]
        );
        let rest = all(&mut items);
        assert_eq!(
            rest[0].to_string(),
            "12345678901234567890123",
            "big integers keep their digits"
        );
        assert_eq!(items.len(), 0);
        assert!(items.next_chunk(5).unwrap().is_empty());
    }

    #[test]
    fn nested_paths_nulls_objects_and_missing_keys() {
        let text = r#"{"data": {"items": [{"a": 1}], "next": null}, "meta": 1}"#;
        let (body, items) = split_items(text.to_string(), &keys(&["data", "items"])).unwrap();
        assert_eq!(
            body,
            json!({"data": {"items": [], "next": null}, "meta": 1})
        );
        assert_eq!(all(&mut items.unwrap()), vec![json!({"a": 1})]);

        let (_, items) = split_items(r#"{"data": null}"#.into(), &keys(&["data"])).unwrap();
        assert_eq!(items.unwrap().len(), 0);
        let (_, items) = split_items(r#"{"other": 1}"#.into(), &keys(&["data"])).unwrap();
        assert_eq!(items.unwrap().len(), 0, "a missing key selects nothing");
        let (body, items) = split_items(r#"{"data": {"id": 7}}"#.into(), &keys(&["data"])).unwrap();
        assert_eq!(body, json!({"data": null}));
        assert_eq!(
            all(&mut items.unwrap()),
            vec![json!({"id": 7})],
            "an object is one item"
        );
        let (_, items) =
            split_items(r#"{"data": [1, "b", [2]]}"#.into(), &keys(&["data"])).unwrap();
        assert_eq!(
            all(&mut items.unwrap()),
            vec![json!(1), json!("b"), json!([2])]
        );
    }

    #[test]
    fn bodies_that_are_not_objects_on_the_path_are_left_whole() {
        let (body, items) = split_items("[1, 2]".into(), &keys(&["data"])).unwrap();
        assert_eq!(body, json!([1, 2]));
        assert!(items.is_none());
        let (body, items) =
            split_items(r#"{"data": [1], "x": 2}"#.into(), &keys(&["x", "y"])).unwrap();
        assert_eq!(body, json!({"data": [1], "x": 2}));
        assert!(items.is_none());
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(
            split_items(
                r#"{"orders": [{"id": 1}, {"id": ]}"#.into(),
                &keys(&["orders"])
            )
            .is_err()
        );
        assert!(split_items(r#"{"orders": [], "#.into(), &keys(&["orders"])).is_err());
        assert!(split_items(r#"{"orders": []} trailing"#.into(), &keys(&["orders"])).is_err());
    }
}
