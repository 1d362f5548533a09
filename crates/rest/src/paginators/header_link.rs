//! `header_link`: the next page's URL is in the `Link` header (RFC 5988).

use super::{Kind, NextLink, PageState, Paginator};
use crate::http::{Request, Response};
use serde::Deserialize;
use sluice_core::Result;

/// Settings of the `header_link` paginator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderLinkConfig {
    /// The `rel` of the next link (default `next`).
    pub links_next_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    links_next_key: Option<String>,
}

impl Kind for HeaderLinkConfig {
    const TYPES: &'static [&'static str] = &["header_link"];

    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String> {
        let f: Fields = super::fields(ty, table)?;
        Ok(HeaderLinkConfig {
            links_next_key: f.links_next_key.unwrap_or_else(|| "next".into()),
        })
    }

    fn start(&self) -> Result<Paginator> {
        Ok(Paginator::running(HeaderLinkState::new(
            self.links_next_key.clone(),
        )))
    }
}

/// The `rel` of the next link and the URL of the last response.
#[derive(Debug)]
pub(super) struct HeaderLinkState {
    rel: String,
    next: NextLink,
}

impl HeaderLinkState {
    pub(super) fn new(rel: String) -> Self {
        Self {
            rel,
            next: NextLink::default(),
        }
    }
}

impl PageState for HeaderLinkState {
    fn name(&self) -> &'static str {
        "header_link"
    }

    fn update_state(&mut self, resource: &str, resp: &Response, _data_len: usize) -> Result<bool> {
        let link = link_header(&resp.headers, &self.rel);
        self.next
            .set(resource, resp, link.as_deref(), "Link header URL")?;
        Ok(true)
    }

    fn has_next(&self) -> bool {
        self.next.is_some()
    }

    fn update_request(&mut self, req: &mut Request) -> Result<()> {
        self.next.apply(req);
        Ok(())
    }
}

/// The `next` link of an RFC 5988 `Link` header.
pub(super) fn link_header(headers: &reqwest::header::HeaderMap, rel: &str) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut segs = part.split(';');
            let url = segs.next()?.trim();
            let url = url.strip_prefix('<').and_then(|u| u.strip_suffix('>'))?;
            for s in segs {
                let s = s.trim();
                if let Some(r) = s.strip_prefix("rel=") {
                    let r = r.trim_matches('"');
                    if r.split_whitespace().any(|x| x == rel) {
                        return Some(url.to_string());
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paginators::tests::resp;
    use serde_json::json;

    #[test]
    fn link_headers_parse() {
        let r = resp(
            json!([]),
            Some("<http://h/p?page=2>; rel=\"next\", <http://h/p?page=9>; rel=\"last\""),
        );
        assert_eq!(
            link_header(&r.headers, "next").as_deref(),
            Some("http://h/p?page=2")
        );
        assert_eq!(link_header(&r.headers, "prev"), None);
    }
}
