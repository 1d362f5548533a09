//! `{…}` placeholders in paths, parameters, bodies and headers (`{resources.issues.id}`,
//! `{incremental.start_value}`); `{{` and `}}` are literal braces.

use crate::jsonpath::JsonPath;
use serde_json::Value;
use sluice_core::{Error, Result};

/// A piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(String),
    Field(String),
}

/// Split a template into text and `{field}` pieces.
pub(crate) fn parse(template: &str) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => field.push(c),
                        None => {
                            return Err(Error::config(format!("unclosed '{{' in '{template}'")));
                        }
                    }
                }
                if !text.is_empty() {
                    out.push(Piece::Text(std::mem::take(&mut text)));
                }
                out.push(Piece::Field(field.trim().to_string()));
            }
            '}' => {
                return Err(Error::config(format!(
                    "single '}}' in '{template}' (write '}}}}')"
                )));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// The fields of a template.
pub(crate) fn fields(template: &str) -> Result<Vec<String>> {
    Ok(parse(template)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Field(f) => Some(f),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Every template string inside a JSON value (keys are not templates).
pub(crate) fn json_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// A value as text in a URL, parameter or header.
pub(crate) fn value_to_param(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What placeholders resolve against.
pub(crate) struct Context<'a> {
    pub resource: &'a str,
    /// The parent resource name and the parent item.
    pub parent: Option<(&'a str, &'a Value)>,
    /// `incremental.*` values.
    pub incremental: Option<&'a IncrementalValues>,
}

/// The values an `{incremental.x}` placeholder can name.
#[derive(Debug, Clone, Default)]
pub(crate) struct IncrementalValues {
    pub start_value: Option<Value>,
    pub initial_value: Option<Value>,
    pub last_value: Option<Value>,
    pub end_value: Option<Value>,
}

impl Context<'_> {
    fn lookup(&self, field: &str) -> Result<Value> {
        if let Some(rest) = field.strip_prefix("resources.") {
            let (parent, path) = rest.split_once('.').ok_or_else(|| {
                Error::config(format!(
                    "resource '{}': placeholder '{{{field}}}' must be {{resources.<parent>.<field>}}",
                    self.resource
                ))
            })?;
            let Some((pname, item)) = self.parent else {
                return Err(Error::config(format!(
                    "resource '{}': placeholder '{{{field}}}' used without a parent item",
                    self.resource
                )));
            };
            if pname != parent {
                return Err(Error::config(format!(
                    "resource '{}': placeholder '{{{field}}}' names '{parent}' but the parent is '{pname}'",
                    self.resource
                )));
            }
            let jp = JsonPath::parse(path)?;
            return match jp.first(item) {
                Some(v) => Ok(v.clone()),
                None => {
                    let available = item
                        .as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_default();
                    Err(Error::new(
                        sluice_core::ErrorKind::Source,
                        format!(
                            "resource '{}': parent '{parent}' item has no field '{path}'; available fields: {available}",
                            self.resource
                        ),
                    ))
                }
            };
        }
        if let Some(name) = field.strip_prefix("incremental.") {
            let inc = self.incremental.ok_or_else(|| {
                Error::config(format!(
                    "resource '{}': placeholder '{{{field}}}' needs endpoint.incremental",
                    self.resource
                ))
            })?;
            let v = match name {
                "start_value" => &inc.start_value,
                "initial_value" => &inc.initial_value,
                "last_value" => &inc.last_value,
                "end_value" => &inc.end_value,
                other => {
                    return Err(Error::config(format!(
                        "resource '{}': unknown placeholder '{{incremental.{other}}}': use start_value, \
                         initial_value, last_value or end_value",
                        self.resource
                    )));
                }
            };
            return Ok(v.clone().unwrap_or(Value::Null));
        }
        Err(Error::config(format!(
            "resource '{}': unknown placeholder '{{{field}}}': only resources.<parent>.<field> and \
             incremental.<value> are allowed",
            self.resource
        )))
    }

    /// Render a template to text.
    pub fn render(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        for p in parse(template)? {
            match p {
                Piece::Text(t) => out.push_str(&t),
                Piece::Field(f) => out.push_str(&value_to_param(&self.lookup(&f)?)),
            }
        }
        Ok(out)
    }

    /// Render every string in a JSON value; a string that is exactly one placeholder keeps the
    /// value's type.
    pub fn render_json(&self, v: &Value) -> Result<Value> {
        Ok(match v {
            Value::String(s) => {
                let pieces = parse(s)?;
                if let [Piece::Field(f)] = pieces.as_slice() {
                    self.lookup(f)?
                } else {
                    Value::String(self.render(s)?)
                }
            }
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.render_json(x))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| Ok((k.clone(), self.render_json(x)?)))
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_renders() {
        assert_eq!(
            fields("a/{resources.p.id}/{{x}}").unwrap(),
            vec!["resources.p.id"]
        );
        let item = json!({"id": 7, "meta": {"k": "v"}});
        let inc = IncrementalValues {
            start_value: Some(json!("2024-01-01")),
            ..Default::default()
        };
        let ctx = Context {
            resource: "c",
            parent: Some(("p", &item)),
            incremental: Some(&inc),
        };
        assert_eq!(ctx.render("a/{resources.p.id}/{{x}}").unwrap(), "a/7/{x}");
        assert_eq!(ctx.render("{resources.p.meta.k}").unwrap(), "v");
        assert_eq!(
            ctx.render_json(
                &json!({"id": "{resources.p.id}", "s": "since {incremental.start_value}"})
            )
            .unwrap(),
            json!({"id": 7, "s": "since 2024-01-01"})
        );
        // `$` is the whole parent item (a per-item POST body sent as the item is).
        assert_eq!(
            ctx.render_json(&json!({"body": "{resources.p.$}"}))
                .unwrap(),
            json!({"body": item})
        );
        let err = ctx.render("{resources.p.nope}").unwrap_err().to_string();
        assert!(err.contains("available fields: id, meta"), "{err}");
        assert!(ctx.render("{other}").is_err());
        assert!(parse("a}b").is_err());
    }
}
