//! `resource_defaults` merged into each resource, by dlt's merge rules.

use crate::config::{EndpointConfig, JsonValue, ResourceConfig};
use serde_json::Value;

/// The endpoint defaults under a resource's endpoint: the resource wins, `params` and `json`
/// are merged one level deep.
fn merge_endpoint(defaults: Option<&EndpointConfig>, ep: Option<EndpointConfig>) -> EndpointConfig {
    let Some(d) = defaults else {
        return ep.unwrap_or_default();
    };
    let mut e = ep.unwrap_or_default();
    e.path = e.path.or_else(|| d.path.clone());
    e.method = e.method.or(d.method);
    // params and json are merged one level deep; the resource wins.
    let mut params = d.params.clone();
    for (k, v) in std::mem::take(&mut e.params) {
        params.insert(k, v);
    }
    e.params = params;
    e.json = match (d.json.clone(), e.json.take()) {
        (Some(JsonValue(Value::Object(mut dj))), Some(JsonValue(Value::Object(ej)))) => {
            for (k, v) in ej {
                dj.insert(k, v);
            }
            Some(JsonValue(Value::Object(dj)))
        }
        (d, e) => e.or(d),
    };
    e.data = e.data.or_else(|| d.data.clone());
    if e.headers.is_empty() {
        e.headers = d.headers.clone();
    }
    e.auth = e.auth.or_else(|| d.auth.clone());
    e.paginator = e.paginator.or_else(|| d.paginator.clone());
    e.data_selector = e.data_selector.or_else(|| d.data_selector.clone());
    if e.response_actions.is_empty() {
        e.response_actions = d.response_actions.clone();
    }
    e.incremental = e.incremental.or_else(|| d.incremental.clone());
    e.max_pages = e.max_pages.or(d.max_pages);
    e
}

/// A resource with the defaults merged in (the resource wins).
pub(crate) fn merge_resource(
    defaults: Option<&ResourceConfig>,
    r: ResourceConfig,
) -> ResourceConfig {
    let Some(d) = defaults else { return r };
    ResourceConfig {
        name: r.name,
        // A resource of configured items makes no request: endpoint defaults do not apply.
        endpoint: if r.items.is_some() {
            r.endpoint
        } else {
            Some(merge_endpoint(d.endpoint.as_ref(), r.endpoint))
        },
        items: r.items,
        primary_key: r.primary_key.or_else(|| d.primary_key.clone()),
        merge_key: r.merge_key.or_else(|| d.merge_key.clone()),
        write_disposition: r.write_disposition.or_else(|| d.write_disposition.clone()),
        include_from_parent: r
            .include_from_parent
            .or_else(|| d.include_from_parent.clone()),
        max_table_nesting: r.max_table_nesting.or(d.max_table_nesting),
        schema_contract: r.schema_contract.or(d.schema_contract),
        table_name: r.table_name.or_else(|| d.table_name.clone()),
        selected: r.selected.or(d.selected),
        columns: match (d.columns.clone(), r.columns) {
            (Some(mut dc), Some(rc)) => {
                for (k, v) in rc {
                    dc.insert(k, v);
                }
                Some(dc)
            }
            (dc, rc) => rc.or(dc),
        },
    }
}
