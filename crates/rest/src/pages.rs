//! Pages of one request sequence (one resource, or one parent item of a child resource): send
//! the request, find the items in the response (dlt's data detection or the configured
//! selector), let the paginator point at the next page, and stop at the end, at `max_pages`, or
//! with an error when the pagination loops. Lazily parsed pages hand their items on in chunks.

use crate::config::Method;
use crate::graph::Ctx;
use crate::http::{Outcome, Request, Response};
use crate::jsonpath::JsonPath;
use crate::paginators::Paginator;
use crate::raw_items::RawItems;
use crate::resolve::Resolved;
use futures::stream::{self, BoxStream, StreamExt};
use reqwest::Url;
use serde_json::Value;
use sluice_core::{Error, ErrorKind, Result};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Keys under which dlt's detector looks for the list of items in a response.
const DATA_KEYS: &[&str] = &[
    "data", "items", "results", "entries", "records", "rows", "entities", "payload", "content",
    "objects", "values",
];

/// dlt's auto-detection of the data in a response (first response only).
fn detect_selector(body: &Value) -> JsonPath {
    fn lists(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if path.len() > 2 {
            return;
        }
        if let Some(o) = v.as_object() {
            for (k, x) in o {
                path.push(k.clone());
                if x.is_array() {
                    out.push(path.clone());
                } else if x.is_object() {
                    lists(x, path, out);
                }
                path.pop();
            }
        }
    }
    if !body.is_object() {
        return JsonPath::parse("$").expect("root");
    }
    let mut found = Vec::new();
    lists(body, &mut Vec::new(), &mut found);
    let chosen = found
        .iter()
        .find(|p| p.last().is_some_and(|k| DATA_KEYS.contains(&k.as_str())))
        .or(found.first());
    match chosen {
        Some(p) => {
            let text: String = p
                .iter()
                .map(|k| format!("['{}']", k.replace('\'', "")))
                .collect();
            JsonPath::parse(&format!("${text}")).expect("bracket path parses")
        }
        None => JsonPath::parse("$").expect("root"),
    }
}

/// How many items a selector picks from a body (what [`take_items`] will return).
fn count_items(selector: &JsonPath, body: &Value) -> usize {
    let found = selector.find(body);
    match found.len() {
        1 => match found[0] {
            Value::Array(a) => a.len(),
            Value::Null => 0,
            _ => 1,
        },
        n => n,
    }
}

/// The items a selector picks from a body (dlt's `extract_response`). The items are moved out
/// of the body, not copied (a page's items are most of its memory), unless the selector has a
/// wildcard.
fn take_items(selector: &JsonPath, body: &mut Value) -> Vec<Value> {
    let taken = if selector.has_wildcard() {
        let found = selector.find(body);
        if found.len() != 1 {
            return found.into_iter().cloned().collect();
        }
        Some(found[0].clone())
    } else {
        selector.take(body)
    };
    match taken {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(other) => vec![other],
    }
}

/// Items of a page handed on at a time when the page's items are parsed lazily (see
/// [`crate::raw_items`]).
const ITEMS_PER_CHUNK: usize = 100;

/// Pagination state of one request sequence (one resource, one parent item).
struct PageRun {
    ctx: Arc<Ctx>,
    idx: usize,
    parent: Option<Arc<Value>>,
    req: Option<Request>,
    paginator: Option<Paginator>,
    selector: Option<JsonPath>,
    /// Items of the last page not handed on yet (lazily parsed pages only).
    pending: Option<RawItems>,
    done: bool,
    /// Pages fetched so far.
    pages: u64,
    /// The last page's URL, for errors about its items (redacted when shown).
    page_url: Option<Url>,
    /// Fingerprints of the requests sent (method, URL, body): a paginator that points back
    /// to one of them loops.
    seen: HashSet<u64>,
}

/// A fingerprint of what a request asks for: two requests with the same one fetch the same page.
fn fingerprint(req: &Request) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    matches!(req.method, Method::Post).hash(&mut h);
    req.full_url().as_str().hash(&mut h);
    req.json.as_ref().map(|j| j.to_string()).hash(&mut h);
    req.data.as_ref().map(|d| d.to_string()).hash(&mut h);
    for (k, v) in &req.headers {
        (k, v).hash(&mut h);
    }
    h.finish()
}

impl PageRun {
    /// The next chunk of the pending page's items, if any are left.
    fn next_chunk(&mut self) -> Option<Result<Vec<Value>>> {
        let raw = self.pending.as_mut()?;
        if raw.len() == 0 {
            self.pending = None;
            return None;
        }
        Some(raw.next_chunk(ITEMS_PER_CHUNK).map_err(|e| {
            let why = if e.to_string().contains("recursion limit") {
                "is nested deeper than JSON parsing allows"
            } else {
                "is not valid JSON"
            };
            Error::new(
                ErrorKind::Source,
                format!(
                    "resource '{}': an item of the page {} {why}: {e}",
                    self.ctx.resources[self.idx].name,
                    self.page_url
                        .as_ref()
                        .map(|u| self.ctx.http.redactor.url(u))
                        .unwrap_or_default()
                ),
            )
        }))
    }

    /// The key path to split a page's items off at, when nothing needs them as values before the
    /// pipeline: a plain key data selector that no paginator path reads into, no incremental
    /// cursor, no fields copied from a parent.
    fn lazy_items_path(&self, res: &Resolved, incremental: bool) -> Option<Vec<String>> {
        if incremental || !res.include_from_parent.is_empty() {
            return None;
        }
        let keys = self.selector.as_ref()?.keys()?;
        let paths = self.paginator.as_ref()?.body_paths()?;
        paths
            .iter()
            .all(|p| p.first_key().is_some_and(|k| k != keys[0]))
            .then_some(keys)
    }

    /// One page: `Ok(None)` at the end.
    async fn next_page(&mut self) -> Result<Option<Vec<Value>>> {
        let res = self.ctx.resources[self.idx].clone();
        let tracker = self.ctx.trackers[self.idx].clone();
        if let Some(items) = &res.items {
            self.done = true;
            self.count_page(&res.name, items.len());
            return Ok(Some(items.as_ref().clone()));
        }
        if self.req.is_none() {
            let values = tracker
                .as_ref()
                .map(|t| t.lock().expect("tracker lock").values());
            let mut req = res.build_request(self.parent.as_deref(), values.as_ref())?;
            let mut p = Paginator::new(&res.paginator)?;
            p.init_request(&mut req)?;
            self.seen.insert(fingerprint(&req));
            self.req = Some(req);
            self.paginator = Some(p);
            self.selector = res.data_selector.clone();
        }
        let items_at = self.lazy_items_path(&res, tracker.is_some());
        let req = self.req.as_mut().expect("set");
        let paginator = self.paginator.as_mut().expect("set");
        let mut resp = match self
            .ctx
            .http
            .send(&res.name, req, &res.auth, &res.actions, items_at.as_deref())
            .await?
        {
            Outcome::Ignored => {
                self.done = true;
                return Ok(None);
            }
            Outcome::Response(r) => r,
        };
        self.page_url = Some(resp.url.clone());
        if let Some(raw) = resp.raw_items.take() {
            let more = advance(paginator, req, &res.name, &resp, raw.len())?;
            self.done = !self.go_on(&res, more)?;
            self.count_page(&res.name, raw.len());
            self.pending = Some(raw);
            return self
                .next_chunk()
                .transpose()
                .map(|c| Some(c.unwrap_or_default()));
        }
        let selector = self.selector.get_or_insert_with(|| {
            let s = detect_selector(&resp.body);
            tracing::debug!(resource = %res.name, data_selector = %s, "data selector detected");
            s
        });
        // The paginator sees the whole body (its paths may point anywhere in it); then the
        // items are moved out of it.
        let more = advance(
            paginator,
            req,
            &res.name,
            &resp,
            count_items(selector, &resp.body),
        )?;
        let mut items = take_items(selector, &mut resp.body);
        self.done = !self.go_on(&res, more)?;
        if !res.include_from_parent.is_empty() {
            let (_, pname) = res.parent.as_ref().expect("checked at config time");
            let parent = self.parent.as_deref().expect("child has a parent item");
            for item in &mut items {
                let Some(obj) = item.as_object_mut() else {
                    return Err(Error::new(
                        ErrorKind::Source,
                        format!(
                            "resource '{}': include_from_parent needs object rows, got {item}",
                            res.name
                        ),
                    ));
                };
                for f in &res.include_from_parent {
                    let v = parent.get(f).ok_or_else(|| {
                        Error::new(
                            ErrorKind::Source,
                            format!("resource '{}': include_from_parent field '{f}' is missing in the parent '{pname}' item", res.name),
                        )
                    })?;
                    obj.insert(format!("_{pname}_{f}"), v.clone());
                }
            }
        }
        if let Some(t) = &tracker {
            items = t.lock().expect("tracker lock").filter(items)?;
        }
        self.count_page(&res.name, items.len());
        Ok(Some(items))
    }

    /// After a page: whether to fetch the next one the paginator asked for (`more`). Stops at
    /// `max_pages`; a next request already sent in this sequence is an error (the API's
    /// pagination loops), not a page fetched again.
    fn go_on(&mut self, res: &Resolved, more: bool) -> Result<bool> {
        self.pages += 1;
        if !more {
            return Ok(false);
        }
        if let Some(max) = res.max_pages
            && self.pages >= max
        {
            tracing::info!(resource = %res.name, max_pages = max, "max_pages reached: pagination stops");
            return Ok(false);
        }
        let req = self.req.as_ref().expect("set");
        if !self.seen.insert(fingerprint(req)) {
            return Err(Error::new(
                ErrorKind::Source,
                format!(
                    "resource '{}': after {} page(s) the paginator points back to a page already \
                     fetched ({}): the API's pagination loops. Check the paginator's settings \
                     (next-link or cursor path), or bound it with endpoint.max_pages",
                    res.name,
                    self.pages,
                    self.ctx.http.redactor.url(&req.full_url())
                ),
            ));
        }
        Ok(true)
    }

    /// Count a page of `rows` items in the progress counters (and log them now and then).
    fn count_page(&self, resource: &str, rows: usize) {
        let counters = self.ctx.http.progress.resource(resource);
        counters.pages.fetch_add(1, Ordering::Relaxed);
        counters.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.ctx.http.progress.maybe_log(resource, &counters);
    }
}

/// Let the paginator see a response with `data_len` items and point `req` at the next page;
/// returns whether there is one.
fn advance(
    paginator: &mut Paginator,
    req: &mut Request,
    resource: &str,
    resp: &Response,
    data_len: usize,
) -> Result<bool> {
    paginator.update_state(resource, resp, data_len)?;
    if paginator.has_next() {
        paginator.update_request(req)?;
        Ok(true)
    } else {
        Ok(false)
    }
}

pub(crate) fn paginate(
    ctx: Arc<Ctx>,
    idx: usize,
    parent: Option<Arc<Value>>,
) -> BoxStream<'static, Result<Vec<Value>>> {
    let run = PageRun {
        ctx,
        idx,
        parent,
        req: None,
        paginator: None,
        selector: None,
        pending: None,
        done: false,
        pages: 0,
        page_url: None,
        seen: HashSet::new(),
    };
    stream::unfold(run, |mut run| async move {
        if let Some(chunk) = run.next_chunk() {
            if chunk.is_err() {
                run.done = true;
                run.pending = None;
            }
            let chunk = chunk.map_err(|e| run.ctx.http.redactor.error(e));
            return Some((chunk, run));
        }
        if run.done {
            return None;
        }
        match run.next_page().await {
            Ok(Some(items)) => Some((Ok(items), run)),
            Ok(None) => None,
            Err(e) => {
                run.done = true;
                let e = run.ctx.http.redactor.error(e);
                Some((Err(e), run))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What `take_items` returns, checked against `count_items` on the same body.
    fn select(b: &Value) -> Vec<Value> {
        let selector = detect_selector(b);
        let n = count_items(&selector, b);
        let items = take_items(&selector, &mut b.clone());
        assert_eq!(items.len(), n, "count_items agrees with take_items");
        items
    }

    #[test]
    fn data_detection_follows_dlt() {
        assert!(detect_selector(&json!([1])).is_root());
        let b = json!({"meta": {"tags": [1]}, "results": [{"a": 1}]});
        assert_eq!(select(&b), vec![json!({"a": 1})]);
        let b = json!({"page": {"list": [1, 2]}});
        assert_eq!(select(&b), vec![json!(1), json!(2)]);
        let b = json!({"id": 1});
        assert_eq!(select(&b), vec![json!({"id": 1})]);
        assert_eq!(select(&json!([1, 2, 3])).len(), 3);
    }

    #[test]
    fn items_are_moved_out_of_the_body_and_wildcards_still_work() {
        let mut b = json!({"data": {"items": [{"a": 1}, {"a": 2}]}, "next": "n"});
        let p = JsonPath::parse("data.items").unwrap();
        assert_eq!(
            take_items(&p, &mut b),
            vec![json!({"a": 1}), json!({"a": 2})]
        );
        assert_eq!(b, json!({"data": {"items": null}, "next": "n"}));
        let mut b = json!({"groups": [{"x": [1]}, {"x": [2, 3]}]});
        let p = JsonPath::parse("groups[*].x").unwrap();
        assert_eq!(count_items(&p, &b), 2);
        assert_eq!(take_items(&p, &mut b), vec![json!([1]), json!([2, 3])]);
        let p = JsonPath::parse("missing.path").unwrap();
        assert_eq!(count_items(&p, &b), 0);
        assert!(take_items(&p, &mut b).is_empty());
    }
}
