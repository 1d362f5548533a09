//! A JSONPath subset, enough for dlt's `data_selector`, paginator paths and cursor paths.
//!
//! Supported: `$` (the root), dotted names (`results.posts`, `$.data.items`), bracket escapes
//! (`['@odata.nextLink']`, `["a b"]`), array indices (`[0]`, `[-1]`) and wildcards (`*`, `[*]`).

use serde_json::Value;
use sluice_core::{Error, Result};
use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(i64),
    Wildcard,
}

/// A parsed JSONPath (subset).
#[derive(Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

impl fmt::Debug for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonPath({})", self.text)
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl JsonPath {
    /// Parse a path; an error names the path and what is wrong.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::config(format!("invalid JSONPath '{text}': {why}"));
        let chars: Vec<char> = text.trim().chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        if chars.first() == Some(&'$') {
            i = 1;
        }
        let mut expect_sep = false;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    if i < chars.len() && chars[i] == '.' {
                        return Err(bad("recursive descent '..' is not supported"));
                    }
                    expect_sep = false;
                }
                '[' => {
                    let close = chars[i..]
                        .iter()
                        .position(|&c| c == ']')
                        .map(|p| p + i)
                        .ok_or_else(|| bad("'[' without ']'"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    if inner == "*" {
                        steps.push(Step::Wildcard);
                    } else if (inner.starts_with('\'') && inner.ends_with('\'') && inner.len() >= 2)
                        || (inner.starts_with('"') && inner.ends_with('"') && inner.len() >= 2)
                    {
                        // A quoted key may itself contain ']': find the closing quote instead.
                        let quote = inner.chars().next().unwrap_or('\'');
                        let start =
                            i + 1 + chars[i + 1..].iter().position(|&c| c == quote).unwrap_or(0);
                        let end = chars[start + 1..]
                            .iter()
                            .position(|&c| c == quote)
                            .map(|p| p + start + 1)
                            .ok_or_else(|| bad("unterminated quoted key"))?;
                        let key: String = chars[start + 1..end].iter().collect();
                        let close = chars[end..]
                            .iter()
                            .position(|&c| c == ']')
                            .map(|p| p + end)
                            .ok_or_else(|| bad("'[' without ']'"))?;
                        steps.push(Step::Key(key));
                        i = close + 1;
                        expect_sep = true;
                        continue;
                    } else if let Ok(n) = inner.parse::<i64>() {
                        steps.push(Step::Index(n));
                    } else {
                        return Err(bad(&format!("unsupported selector [{inner}]")));
                    }
                    i = close + 1;
                    expect_sep = true;
                }
                _ => {
                    if expect_sep {
                        return Err(bad("expected '.' or '['"));
                    }
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    let name: String = chars[start..i].iter().collect();
                    let name = name.trim();
                    if name == "*" {
                        steps.push(Step::Wildcard);
                    } else if !name.is_empty() {
                        steps.push(Step::Key(name.to_string()));
                    }
                    expect_sep = true;
                }
            }
        }
        Ok(Self {
            text: text.trim().to_string(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path is the root (`$` or empty).
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// Every value the path matches, in document order.
    pub fn find<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        let mut current = vec![value];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in current {
                match step {
                    Step::Key(k) => {
                        if let Some(x) = v.as_object().and_then(|o| o.get(k)) {
                            next.push(x);
                        }
                    }
                    Step::Index(n) => {
                        if let Some(a) = v.as_array() {
                            let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                            if idx >= 0
                                && let Some(x) = a.get(idx as usize)
                            {
                                next.push(x);
                            }
                        }
                    }
                    Step::Wildcard => match v {
                        Value::Array(a) => next.extend(a.iter()),
                        Value::Object(o) => next.extend(o.values()),
                        _ => {}
                    },
                }
            }
            current = next;
        }
        current
    }

    /// Move the value at this path out of `value`, leaving `null` in its place; `None` when
    /// nothing is there. Only for paths without wildcards (one match at most): a path with a
    /// wildcard also gives `None`, and callers fall back to [`find`](Self::find).
    pub fn take(&self, value: &mut Value) -> Option<Value> {
        let mut v = value;
        for step in &self.steps {
            v = match step {
                Step::Key(k) => v.as_object_mut()?.get_mut(k)?,
                Step::Index(n) => {
                    let a = v.as_array_mut()?;
                    let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                    a.get_mut(usize::try_from(idx).ok()?)?
                }
                Step::Wildcard => return None,
            };
        }
        Some(std::mem::take(v))
    }

    /// The keys of a path made only of keys (`data.items` → `["data", "items"]`); `None` for the
    /// root and for paths with indices or wildcards.
    pub fn keys(&self) -> Option<Vec<String>> {
        if self.steps.is_empty() {
            return None;
        }
        self.steps
            .iter()
            .map(|s| match s {
                Step::Key(k) => Some(k.clone()),
                _ => None,
            })
            .collect()
    }

    /// The first step's key; `None` for the root and paths starting with an index or wildcard.
    pub fn first_key(&self) -> Option<&str> {
        match self.steps.first() {
            Some(Step::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Whether the path has a wildcard (and so may match more than one value).
    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::Wildcard)
    }

    /// The first match, if any.
    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.find(value).into_iter().next()
    }

    /// Set the value at this path, creating objects on the way (dlt's `set_value_at_path`).
    /// Only key steps are supported.
    pub fn set(&self, target: &mut Value, new_value: Value) -> Result<()> {
        let mut v = target;
        for (n, step) in self.steps.iter().enumerate() {
            let Step::Key(k) = step else {
                return Err(Error::config(format!(
                    "cannot set a value at JSONPath '{}': only names are allowed",
                    self.text
                )));
            };
            if !v.is_object() {
                *v = Value::Object(Default::default());
            }
            let obj = v.as_object_mut().expect("object");
            if n + 1 == self.steps.len() {
                obj.insert(k.clone(), new_value);
                return Ok(());
            }
            v = obj
                .entry(k.clone())
                .or_insert_with(|| Value::Object(Default::default()));
        }
        *v = new_value;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_and_first_key() {
        let keys = |p: &str| JsonPath::parse(p).unwrap().keys();
        assert_eq!(keys("orders"), Some(vec!["orders".to_string()]));
        assert_eq!(
            keys("$.data.items"),
            Some(vec!["data".into(), "items".into()])
        );
        assert_eq!(keys("['@odata.value']"), Some(vec!["@odata.value".into()]));
        assert_eq!(keys("$"), None);
        assert_eq!(keys("data[0]"), None);
        assert_eq!(keys("data[*].x"), None);
        let first = |p: &str| JsonPath::parse(p).unwrap().first_key().map(str::to_string);
        assert_eq!(first("links.next").as_deref(), Some("links"));
        assert_eq!(first("$"), None);
        assert_eq!(first("[0].id"), None);
    }

    #[test]
    fn parses_and_finds() {
        let v = json!({"a": {"b": [1, 2, {"c": 3}]}, "@odata.nextLink": "x", "r": [{"id": 1}, {"id": 2}]});
        assert_eq!(
            JsonPath::parse("a.b").unwrap().find(&v),
            vec![&json!([1, 2, {"c": 3}])]
        );
        assert_eq!(
            JsonPath::parse("$.a.b[2].c").unwrap().find(&v),
            vec![&json!(3)]
        );
        assert_eq!(
            JsonPath::parse("['@odata.nextLink']").unwrap().find(&v),
            vec![&json!("x")]
        );
        assert_eq!(
            JsonPath::parse("$[\"@odata.nextLink\"]").unwrap().find(&v),
            vec![&json!("x")]
        );
        assert_eq!(
            JsonPath::parse("r[*].id").unwrap().find(&v),
            vec![&json!(1), &json!(2)]
        );
        assert_eq!(
            JsonPath::parse("r[-1].id").unwrap().find(&v),
            vec![&json!(2)]
        );
        assert!(JsonPath::parse("$").unwrap().is_root());
        assert!(JsonPath::parse("a..b").is_err());
        assert!(JsonPath::parse("a[?(@.x)]").is_err());
    }

    #[test]
    fn sets_values() {
        let mut v = json!({"q": 1});
        JsonPath::parse("page.offset")
            .unwrap()
            .set(&mut v, json!(20))
            .unwrap();
        assert_eq!(v, json!({"q": 1, "page": {"offset": 20}}));
    }
}
