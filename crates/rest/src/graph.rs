//! The parent/child graph of resources: its check (no cycles), the children of each resource,
//! and the event stream that runs a resource's pages and, for every item, its children's
//! streams concurrently.

use crate::http::Http;
use crate::incremental::Incremental;
use crate::pages::paginate;
use crate::resolve::Resolved;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use sluice_core::{Error, Result, SourceEvent};
use std::future::ready;
use std::sync::{Arc, Mutex};

/// Shared state of one extraction.
pub(crate) struct Ctx {
    pub(crate) resources: Vec<Arc<Resolved>>,
    pub(crate) children: Vec<Vec<usize>>,
    pub(crate) http: Arc<Http>,
    pub(crate) trackers: Vec<Option<Arc<Mutex<Incremental>>>>,
    pub(crate) max_concurrency: usize,
    /// The share of a partitioned run (`None`: all the work).
    pub(crate) share: Option<Arc<crate::partition::Share>>,
}

/// The children of each resource; an error names a resource that depends on itself through
/// its parents.
pub(crate) fn children_of(resources: &[Resolved]) -> Result<Vec<Vec<usize>>> {
    // Check the parent graph has no cycle.
    for (i, r) in resources.iter().enumerate() {
        let mut seen = vec![i];
        let mut cur = r.parent.as_ref().map(|p| p.0);
        while let Some(p) = cur {
            if seen.contains(&p) {
                return Err(Error::config(format!(
                    "resource '{}' depends on itself through its parents",
                    r.name
                )));
            }
            seen.push(p);
            cur = resources[p].parent.as_ref().map(|x| x.0);
        }
    }
    let mut children = vec![Vec::new(); resources.len()];
    for (i, r) in resources.iter().enumerate() {
        if let Some((p, _)) = &r.parent {
            children[*p].push(i);
        }
    }
    Ok(children)
}

type Events = BoxStream<'static, Result<SourceEvent>>;

/// Pages of a resource and, for every item, the streams of its children, run concurrently.
pub(crate) fn resource_stream(ctx: Arc<Ctx>, idx: usize, parent: Option<Arc<Value>>) -> Events {
    let res = ctx.resources[idx].clone();
    let pages = paginate(ctx.clone(), idx, parent);
    let children = ctx.children[idx].clone();
    let name = res.name.clone();
    let selected = res.selected;
    if children.is_empty() {
        return pages
            .filter_map(move |r| {
                ready(match r {
                    Ok(items) if items.is_empty() || !selected => None,
                    Ok(items) => Some(Ok(SourceEvent::Page {
                        resource: name.clone(),
                        items,
                    })),
                    Err(e) => Some(Err(e)),
                })
            })
            .boxed();
    }
    let limit = ctx.max_concurrency;
    pages
        .flat_map(move |r| -> BoxStream<'static, Events> {
            match r {
                Err(e) => stream::once(ready(stream::once(ready(Err(e))).boxed())).boxed(),
                Ok(items) => {
                    let items = match &ctx.share {
                        Some(share) => share.keep(idx, items),
                        None => items,
                    };
                    let parents: Vec<Arc<Value>> = items.iter().cloned().map(Arc::new).collect();
                    let head: Option<Events> = (selected && !items.is_empty()).then(|| {
                        stream::once(ready(Ok(SourceEvent::Page {
                            resource: name.clone(),
                            items,
                        })))
                        .boxed()
                    });
                    let ctx = ctx.clone();
                    let children = children.clone();
                    let kids = stream::iter(parents.into_iter().flat_map(move |p| {
                        children.clone().into_iter().map(move |c| (c, p.clone()))
                    }))
                    .map(move |(c, p)| resource_stream(ctx.clone(), c, Some(p)));
                    stream::iter(head).chain(kids).boxed()
                }
            }
        })
        .flatten_unordered(limit)
        .boxed()
}
