//! The REST API configuration a Forter source runs on: the client (Basic auth with the API
//! key), Forter's headers on every core-API endpoint, and one resource per selected Forter
//! resource; each push resource is a POST child of the resource holding its items.

use crate::account::{Account, resolve_account, resolve_tokenization};
use crate::config::{DEFAULT_TOKENIZATION_URL, ForterConfig, ForterResource, PushConfig};
use crate::push::{read_items, rewrite, rewrite_json};
use serde_json::{Value, json};
use sluice_core::{ConfigSection, Error, Result};
use sluice_rest::RestApiConfig;
use sluice_rest::config::JsonValue;

/// The (unselected) resource holding the configured order ids; `orders` is its child.
pub const ORDER_IDS_RESOURCE: &str = "order_ids";

/// Percent-encode an order id for a URL path segment (also keeps `{`/`}` out of templates).
fn encode_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The headers Forter's core API wants on every request (Content-Type is the client's).
fn core_headers(account: &Account) -> Value {
    json!({"x-forter-siteid": account.site_id, "api-version": account.api_version})
}

fn client_json(account: &Account) -> Value {
    json!({
        "base_url": account.base_url,
        "headers": {"Content-Type": "application/json"},
        "auth": {"type": "http_basic", "username": account.api_key.expose(), "password": ""},
        "paginator": {"type": "single_page"},
    })
}

/// The REST config's HTTP options and its resources.
pub(crate) fn http_options(config: &ForterConfig, resources: Vec<Value>, client: Value) -> Value {
    let mut v = json!({
        "client": client,
        "resources": resources,
        "request_timeout": config.timeout,
        "max_attempts": config.max_attempts.max(1),
        "backoff_factor": config.backoff_factor,
        "max_retry_delay": config.max_retry_delay,
        "max_concurrency": config.max_concurrency.max(1),
        "retry_post": config.retry_post,
    });
    if let Some(r) = config.rate_limit {
        v["rate_limit"] = json!(r);
    }
    v
}

/// `orders` (and the resource of its ids): a GET per id, or a listing.
fn order_resources(
    name: &str,
    config: &ForterConfig,
    account: &Account,
    selected: bool,
) -> Result<Vec<Value>> {
    let headers = core_headers(account);
    if let Some(path) = &config.order_list_path {
        let mut endpoint = json!({
            "path": path,
            "headers": headers,
            "data_selector": "orders",
            "paginator": {"type": "json_link", "next_url_path": "next"},
        });
        if let Some(n) = config.page_size {
            endpoint["params"] = json!({ "page_size": n });
        }
        return Ok(vec![json!({
            "name": "orders", "endpoint": endpoint, "selected": selected,
            "primary_key": "orderId", "write_disposition": "merge",
        })]);
    }
    let ids = config.resolve_order_ids()?;
    if ids.is_empty() {
        return Err(Error::config(format!(
            "Forter source '{name}': `orders` has no order ids. Set order_ids = [\"...\"] or \
             order_ids_file = \"ids.txt\" (one id per line), or order_list_path for an order store \
             that lists them (Forter itself has no such listing)"
        )));
    }
    // The configured ids are a parent resource that makes no request; `orders` fans out over
    // them (concurrently, under the rate limit).
    let items: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": encode_segment(id) }))
        .collect();
    Ok(vec![
        json!({"name": ORDER_IDS_RESOURCE, "items": items, "selected": false}),
        json!({
            "name": "orders",
            "endpoint": {
                "path": format!("v3/orders/{{resources.{ORDER_IDS_RESOURCE}.id}}"),
                "headers": headers,
                "data_selector": "$",
                "paginator": {"type": "single_page"},
            },
            "selected": selected,
            "primary_key": "orderId",
            "write_disposition": "merge",
        }),
    ])
}

/// The default path of a push resource (`{key}` is the item's key).
fn default_path(r: ForterResource) -> Option<&'static str> {
    match r {
        ForterResource::Decisions => Some("v3/orders/{key}"),
        ForterResource::OrderStatus => Some("v2/status/{key}"),
        _ => None,
    }
}

/// Values set on the parsed REST config as they are: reading a config from JSON drops `null`s,
/// and items and bodies are sent as given.
#[derive(Default)]
struct Verbatim {
    /// Items of a resource, by resource name.
    items: Vec<(String, Vec<Value>)>,
    /// JSON body of a resource's endpoint, by resource name.
    bodies: Vec<(String, Value)>,
}

impl Verbatim {
    fn apply(self, rest: &mut RestApiConfig) {
        for entry in &mut rest.resources {
            let r = &mut entry.0;
            let name = r.name.clone().unwrap_or_default();
            if let Some((_, items)) = self.items.iter().find(|(n, _)| *n == name) {
                r.items = Some(items.iter().cloned().map(JsonValue).collect());
            }
            if let Some((_, body)) = self.bodies.iter().find(|(n, _)| *n == name)
                && let Some(ep) = r.endpoint.as_mut()
            {
                ep.json = Some(JsonValue(body.clone()));
            }
        }
    }
}

/// A push resource: its items' parent (a JSONL file's items, or `orders`) and the POST child
/// that sends one request per item and loads the answer with the item's key.
fn push_resources(
    name: &str,
    r: ForterResource,
    pc: &PushConfig,
    account: &Account,
    secrets: &ConfigSection,
    verbatim: &mut Verbatim,
) -> Result<Vec<Value>> {
    let res = r.name();
    let bad = |why: String| Error::config(format!("Forter resource '{res}': {why}"));
    let key = match &pc.key {
        Some(k) if k.trim().is_empty() => None,
        Some(k) => Some(k.trim().to_string()),
        None if r == ForterResource::Tokenization => None,
        None => Some("orderId".to_string()),
    };
    if let Some(k) = &key
        && k.contains(['.', '{', '}', '[', ']', '$'])
    {
        return Err(bad(format!(
            "key '{k}' must be a top-level field name of the items"
        )));
    }
    let path = match (&pc.path, default_path(r)) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.to_string(),
        (None, None) => {
            return Err(bad(format!(
                "set `path` in [source.{res}] to the endpoint of your tokenization API \
                 (relative to base_url, default {DEFAULT_TOKENIZATION_URL})"
            )));
        }
    };
    let key_in_path = path.contains("{key}");
    let mut out = Vec::new();
    let parent = match (&pc.items_file, &pc.from) {
        (Some(file), None) => {
            let parent = format!("{res}_input");
            let items = read_items(res, file, key.as_deref(), key_in_path)?;
            out.push(json!({"name": parent, "items": [], "selected": false}));
            verbatim.items.push((parent.clone(), items));
            parent
        }
        (None, Some(from)) if from == "orders" => from.clone(),
        (None, Some(from)) => {
            return Err(bad(format!(
                "from = \"{from}\": items can come only from `orders` (or from items_file)"
            )));
        }
        (Some(_), Some(_)) => {
            return Err(bad(format!(
                "give either items_file or from in [source.{res}], not both"
            )));
        }
        (None, None) => {
            return Err(bad(format!(
                "it sends what you give it: set items_file = \"{res}.jsonl\" (one JSON object per \
                 line) or from = \"orders\" in [source.{res}]"
            )));
        }
    };
    let body = match &pc.body {
        None => json!("{item}"),
        Some(b) => {
            serde_json::to_value(b).map_err(|e| bad(format!("body is not JSON-compatible: {e}")))?
        }
    };
    let body = rewrite_json(res, &body, &parent, key.as_deref())?;
    let path = rewrite(res, &path, &parent, key.as_deref())?;
    verbatim.bodies.push((res.to_string(), body.clone()));
    let mut endpoint = json!({
        "method": "POST",
        "json": body,
        "data_selector": pc.data_selector.clone().unwrap_or_else(|| "$".into()),
        "paginator": {"type": "single_page"},
    });
    if r == ForterResource::Tokenization {
        let t = resolve_tokenization(name, account, secrets)?;
        let base = pc
            .base_url
            .clone()
            .unwrap_or_else(|| DEFAULT_TOKENIZATION_URL.to_string());
        endpoint["path"] = json!(absolute(&base, &path));
        endpoint["auth"] =
            json!({"type": "http_basic", "username": t.site_id, "password": t.secret.expose()});
    } else {
        endpoint["path"] = match &pc.base_url {
            Some(base) => json!(absolute(base, &path)),
            None => json!(path),
        };
        endpoint["headers"] = core_headers(account);
    }
    let mut resource = json!({"name": res, "endpoint": endpoint});
    match &key {
        Some(k) => {
            resource["include_from_parent"] = json!([k]);
            resource["primary_key"] = json!(format!("_{parent}_{k}"));
            resource["write_disposition"] = json!("merge");
        }
        None => resource["write_disposition"] = json!("append"),
    }
    out.push(resource);
    Ok(out)
}

/// `base` and `path` joined with one `/`.
fn absolute(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Build the REST API configuration of a Forter source (credentials resolved from `secrets`).
pub fn forter_rest_config(
    name: &str,
    config: &ForterConfig,
    secrets: &ConfigSection,
) -> Result<RestApiConfig> {
    if let Some(t) = &config.source_type
        && t != "forter"
    {
        return Err(Error::config(format!("source type '{t}' is not forter")));
    }
    let account = resolve_account(name, config, secrets)?;
    let selected = config.selected();
    if selected.is_empty() {
        return Err(Error::config(format!(
            "Forter source '{name}': nothing to load. Give order_ids (for `orders`), or a \
             [source.decisions] / [source.order_status] / [source.tokenization] table with the \
             items to send, or list resources = [\"health\"]"
        )));
    }
    let pushes: Vec<(ForterResource, PushConfig)> = ForterResource::push()
        .into_iter()
        .filter(|r| selected.contains(r))
        .map(|r| (r, config.push_config(r).cloned().unwrap_or_default()))
        .collect();
    let orders_selected = selected.contains(&ForterResource::Orders);
    let orders_needed = pushes
        .iter()
        .any(|(_, pc)| pc.from.as_deref() == Some("orders"));
    let mut resources = Vec::new();
    if orders_selected || orders_needed {
        resources.extend(order_resources(name, config, &account, orders_selected)?);
    }
    let mut verbatim = Verbatim::default();
    for (r, pc) in &pushes {
        resources.extend(push_resources(
            name,
            *r,
            pc,
            &account,
            secrets,
            &mut verbatim,
        )?);
    }
    if selected.contains(&ForterResource::Health) {
        resources.push(health_resource(config, &account));
    }
    let v = http_options(config, resources, client_json(&account));
    let mut rest =
        RestApiConfig::from_json(&v).map_err(|e| e.context(format!("Forter source '{name}'")))?;
    verbatim.apply(&mut rest);
    Ok(rest)
}

fn health_resource(config: &ForterConfig, account: &Account) -> Value {
    json!({
        "name": "health",
        "endpoint": {
            "path": config.health_path, "headers": core_headers(account),
            "data_selector": "$", "paginator": {"type": "single_page"},
        },
        "write_disposition": "append",
    })
}

/// The REST config of the credentials check: one GET of `health_path`.
pub(crate) fn health_check_config(
    name: &str,
    config: &ForterConfig,
    secrets: &ConfigSection,
) -> Result<RestApiConfig> {
    let account = resolve_account(name, config, secrets)?;
    let v = http_options(
        config,
        vec![health_resource(config, &account)],
        client_json(&account),
    );
    RestApiConfig::from_json(&v)
}
