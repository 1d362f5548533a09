//! `auto`: the paginator is detected from the first response, in dlt's order.

use super::cursor::CursorState;
use super::header_link::{HeaderLinkState, link_header};
use super::json_link::JsonLinkState;
use super::range::RangeState;
use super::single_page::SinglePageState;
use super::{Kind, Paginator};
use crate::http::Response;
use crate::jsonpath::JsonPath;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::Result;

/// Settings of the `auto` paginator (none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AutoConfig;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

impl Kind for AutoConfig {
    const TYPES: &'static [&'static str] = &["auto"];

    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String> {
        super::fields::<NoFields>(ty, table)?;
        Ok(AutoConfig)
    }

    fn start(&self) -> Result<Paginator> {
        Ok(Paginator::Auto(None))
    }
}

/// The first key (depth first) whose lowercase name starts with `next`, as dlt's detector does.
fn find_next_key(v: &Value, prefix: &mut Vec<String>) -> Option<(Vec<String>, Value)> {
    let o = v.as_object()?;
    for (k, x) in o {
        if k.to_lowercase().starts_with("next") {
            let mut path = prefix.clone();
            path.push(k.clone());
            let value = match x {
                Value::Object(inner) => inner
                    .iter()
                    .find(|(ik, _)| {
                        let l = ik.to_lowercase();
                        l.starts_with("href") || l.starts_with("url")
                    })
                    .map(|(ik, iv)| {
                        path.push(ik.clone());
                        iv.clone()
                    }),
                Value::Array(_) => None,
                other => Some(other.clone()),
            };
            if let Some(value) = value {
                return Some((path, value));
            }
        }
        if x.is_object() {
            prefix.push(k.clone());
            let found = find_next_key(x, prefix);
            prefix.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

fn find_total_pages(v: &Value, prefix: &mut Vec<String>) -> Option<Vec<String>> {
    let o = v.as_object()?;
    for (k, x) in o {
        let l = k.to_lowercase();
        if (l == "total_pages" || l == "pages" || l == "totalpages")
            && (x.as_i64().is_some() || x.as_str().is_some_and(|s| s.parse::<i64>().is_ok()))
        {
            let mut p = prefix.clone();
            p.push(k.clone());
            return Some(p);
        }
        if x.is_object() {
            prefix.push(k.clone());
            let found = find_total_pages(x, prefix);
            prefix.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

fn path_of(keys: &[String]) -> JsonPath {
    let text = keys
        .iter()
        .map(|k| format!("['{}']", k.replace('\'', "")))
        .collect::<String>();
    JsonPath::parse(&format!("${text}")).expect("bracket path parses")
}

/// dlt's detection order: Link header, JSON next link, total pages, JSON cursor, single page.
pub(super) fn detect(resp: &Response) -> Paginator {
    if link_header(&resp.headers, "next").is_some() {
        return Paginator::running(HeaderLinkState::new("next".into()));
    }
    let body = &resp.body;
    let next = find_next_key(body, &mut Vec::new());
    if let Some((path, Value::String(s))) = &next
        && (s.starts_with("http") || s.starts_with('/'))
    {
        return Paginator::running(JsonLinkState::new(path_of(path)));
    }
    if let Some(path) = find_total_pages(body, &mut Vec::new()) {
        tracing::warn!(total_path = %path.join("."), "page_number paginator detected with low confidence; set the paginator explicitly");
        return Paginator::running(RangeState {
            kind: "page",
            current: 0,
            step: 1,
            base_index: 0,
            param: "page".into(),
            body_path: None,
            limit: None,
            total_path: Some(path_of(&path)),
            maximum: None,
            stop_after_empty_page: true,
            has_more_path: None,
        });
    }
    if let Some((path, _)) = next {
        tracing::warn!(cursor_path = %path.join("."), "cursor paginator detected with low confidence; set the paginator explicitly");
        return Paginator::running(CursorState {
            path: path_of(&path),
            param: Some("cursor".into()),
            body_path: None,
            stop_after_empty_page: false,
            has_more_path: None,
            cursor: None,
        });
    }
    if body.is_array() {
        tracing::warn!(
            "fallback paginator used: single_page; set the paginator explicitly if the API pages"
        );
    }
    Paginator::running(SinglePageState)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paginators::tests::resp;
    use serde_json::json;

    #[test]
    fn detection_order() {
        assert_eq!(
            detect(&resp(
                json!({"next": "/p?x=2"}),
                Some("<http://h/2>; rel=\"next\"")
            ))
            .name(),
            "header_link"
        );
        assert_eq!(
            detect(&resp(
                json!({"data": [], "links": {"nextPage": {"href": "http://h/2"}}}),
                None
            ))
            .name(),
            "json_link"
        );
        assert_eq!(
            detect(&resp(json!({"data": [], "total_pages": 3}), None)).name(),
            "page_number"
        );
        assert_eq!(
            detect(&resp(json!({"data": [], "next_cursor": "abc"}), None)).name(),
            "cursor"
        );
        assert_eq!(detect(&resp(json!([1, 2]), None)).name(), "single_page");
    }
}
