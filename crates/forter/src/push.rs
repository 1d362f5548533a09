//! The push resources' inputs: items read from a JSON Lines file, and the preset's
//! templates (`{item}`, `{item.<field>}`, `{key}`) turned into the REST source's
//! placeholders over the parent resource that holds the items (`{resources.<parent>.…}`).

use serde_json::Value;
use sluice_core::{Error, Result};
use std::path::Path;

/// Characters that cannot stand for themselves in a URL path segment.
const NOT_IN_PATH: &[char] = &['/', '?', '#', '%', '\\'];

/// The items of a JSON Lines file: one JSON object per line, blank lines skipped. When `key`
/// is given every item must have it (a string or a number); with `key_in_path` it must also
/// be usable as a URL path segment. Errors name the resource, the file and the line.
pub(crate) fn read_items(
    resource: &str,
    file: &Path,
    key: Option<&str>,
    key_in_path: bool,
) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Error::config(format!(
            "Forter resource '{resource}': cannot read items_file {}: {e}",
            file.display()
        ))
    })?;
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("line {} of {}", n + 1, file.display());
        let item: Value = serde_json::from_str(line).map_err(|e| {
            Error::input(format!(
                "Forter resource '{resource}': {} is not JSON: {e}",
                at()
            ))
        })?;
        if !item.is_object() {
            return Err(Error::input(format!(
                "Forter resource '{resource}': {} is not a JSON object (each line is one item)",
                at()
            )));
        }
        if let Some(key) = key {
            let text = match item.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(Error::input(format!(
                        "Forter resource '{resource}': {} has no '{key}' (a string or number): \
                         each request is keyed by it (set `key` in [source.{resource}] to use another field)",
                        at()
                    )));
                }
            };
            if key_in_path && text.contains(NOT_IN_PATH) {
                return Err(Error::input(format!(
                    "Forter resource '{resource}': {}: '{key}' = {text:?} cannot be a URL path segment \
                     (it contains one of / ? # % \\)",
                    at()
                )));
            }
        }
        items.push(item);
    }
    Ok(items)
}

/// A preset template with its placeholders rewritten for the REST source, over the parent
/// resource `parent`: `{item}` → `{resources.<parent>.$}`, `{item.f}` → `{resources.<parent>.f}`,
/// `{key}` → `{resources.<parent>.<key>}`. `{{`/`}}` stay as they are.
pub(crate) fn rewrite(
    resource: &str,
    template: &str,
    parent: &str,
    key: Option<&str>,
) -> Result<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..2]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(Error::config(format!(
                "Forter resource '{resource}': single '}}' in '{template}' (write '}}}}')"
            )));
        }
        let Some(close) = tail.find('}') else {
            return Err(Error::config(format!(
                "Forter resource '{resource}': unclosed '{{' in '{template}'"
            )));
        };
        let field = tail[1..close].trim();
        let target = if field == "item" {
            format!("resources.{parent}.$")
        } else if let Some(f) = field.strip_prefix("item.") {
            format!("resources.{parent}.{f}")
        } else if field == "key" {
            match key {
                Some(k) => format!("resources.{parent}.{k}"),
                None => {
                    return Err(Error::config(format!(
                        "Forter resource '{resource}': '{{key}}' in '{template}' needs `key` in [source.{resource}]"
                    )));
                }
            }
        } else {
            return Err(Error::config(format!(
                "Forter resource '{resource}': unknown placeholder '{{{field}}}' in '{template}': \
                 use {{item}}, {{item.<field>}} or {{key}}"
            )));
        };
        out.push('{');
        out.push_str(&target);
        out.push('}');
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// [`rewrite`] applied to every string of a JSON body (keys are not templates).
pub(crate) fn rewrite_json(
    resource: &str,
    body: &Value,
    parent: &str,
    key: Option<&str>,
) -> Result<Value> {
    Ok(match body {
        Value::String(s) => Value::String(rewrite(resource, s, parent, key)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| rewrite_json(resource, x, parent, key))
                .collect::<Result<_>>()?,
        ),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| Ok((k.clone(), rewrite_json(resource, x, parent, key)?)))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_become_parent_placeholders() {
        assert_eq!(
            rewrite("d", "v3/orders/{key}", "d_input", Some("orderId")).unwrap(),
            "v3/orders/{resources.d_input.orderId}"
        );
        assert_eq!(
            rewrite_json(
                "d",
                &json!({"whole": "{item}", "id": "{item.a.b}", "lit": "{{x}} {key}"}),
                "orders",
                Some("orderId")
            )
            .unwrap(),
            json!({"whole": "{resources.orders.$}", "id": "{resources.orders.a.b}",
                   "lit": "{{x}} {resources.orders.orderId}"})
        );
        let err = rewrite("d", "{order.id}", "p", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'d'") && err.contains("{item.<field>}"),
            "{err}"
        );
        let err = rewrite("d", "{key}", "p", None).unwrap_err().to_string();
        assert!(err.contains("needs `key`"), "{err}");
        assert!(rewrite("d", "a}b", "p", None).is_err());
        assert!(rewrite("d", "a{b", "p", None).is_err());
    }

    #[test]
    fn items_files_are_checked_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.jsonl");
        std::fs::write(&f, "{\"orderId\": \"1\"}\n\n{\"orderId\": 2, \"x\": [1]}\n").unwrap();
        let items = read_items("order_status", &f, Some("orderId"), true).unwrap();
        assert_eq!(items.len(), 2);
        std::fs::write(&f, "{\"orderId\": \"1\"}\n{\"id\": 2}\n").unwrap();
        let err = read_items("order_status", &f, Some("orderId"), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'order_status'") && err.contains("line 2") && err.contains("'orderId'"),
            "{err}"
        );
        std::fs::write(&f, "{\"orderId\": \"a/b\"}\n").unwrap();
        let err = read_items("d", &f, Some("orderId"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("path segment"), "{err}");
        assert!(read_items("d", &f, Some("orderId"), false).is_ok());
        std::fs::write(&f, "[1]\n").unwrap();
        let err = read_items("d", &f, None, false).unwrap_err().to_string();
        assert!(err.contains("not a JSON object"), "{err}");
        std::fs::write(&f, "{oops\n").unwrap();
        let err = read_items("d", &f, None, false).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("not JSON"), "{err}");
    }
}
