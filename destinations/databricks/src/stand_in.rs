//! Preparing a local Databricks stand-in (MiniLake, started by `scripts/services/minilake.sh`)
//! for tests: a SQL warehouse, a Unity Catalog catalog, and schemas and volumes registered
//! through the Unity Catalog API (MiniLake does not register schemas created by SQL, and volumes
//! need a registered schema). On a real workspace these exist already or are created by the
//! destination with SQL.

use serde_json::{Value, json};
use sluice_core::{Error, Result};

async fn call(method: reqwest::Method, url: String, body: Value) -> Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .request(method, &url)
        .header("Content-Type", "application/json")
        .json(&body)
        .send()
        .await
        .map_err(|e| {
            Error::transient(format!("the stand-in at {url} does not answer")).with_source(e)
        })?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

fn created(what: &str, (status, body): (u16, Value)) -> Result<Value> {
    // 409: it exists (several test processes share one stand-in).
    if (200..300).contains(&status) || status == 409 {
        return Ok(body);
    }
    Err(Error::destination(format!(
        "the stand-in cannot create {what}: HTTP {status} {body}"
    )))
}

/// The id of a running SQL warehouse named `sluice` (created when missing).
pub async fn warehouse(base_url: &str) -> Result<String> {
    let (_, list) = call(
        reqwest::Method::GET,
        format!("{base_url}/api/2.0/sql/warehouses"),
        Value::Null,
    )
    .await?;
    if let Some(id) = list
        .get("warehouses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|w| w.get("name").and_then(Value::as_str) == Some("sluice"))
        .and_then(|w| w.get("id").and_then(Value::as_str))
    {
        return Ok(id.to_string());
    }
    let body = created(
        "a SQL warehouse",
        call(
            reqwest::Method::POST,
            format!("{base_url}/api/2.0/sql/warehouses"),
            json!({"name": "sluice", "cluster_size": "2X-Small"}),
        )
        .await?,
    )?;
    body.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::destination("the stand-in created a warehouse without an id"))
}

/// Create a Unity Catalog catalog (an existing one is fine).
pub async fn catalog(base_url: &str, name: &str) -> Result<()> {
    created(
        &format!("catalog {name}"),
        call(
            reqwest::Method::POST,
            format!("{base_url}/api/2.1/unity-catalog/catalogs"),
            json!({"name": name}),
        )
        .await?,
    )
    .map(|_| ())
}

/// Register a schema in Unity Catalog (an existing one is fine).
pub async fn schema(base_url: &str, catalog: &str, name: &str) -> Result<()> {
    created(
        &format!("schema {catalog}.{name}"),
        call(
            reqwest::Method::POST,
            format!("{base_url}/api/2.1/unity-catalog/schemas"),
            json!({"name": name, "catalog_name": catalog}),
        )
        .await?,
    )
    .map(|_| ())
}

/// Create a managed volume (an existing one is fine).
pub async fn volume(base_url: &str, catalog: &str, schema: &str, name: &str) -> Result<()> {
    created(
        &format!("volume {catalog}.{schema}.{name}"),
        call(
            reqwest::Method::POST,
            format!("{base_url}/api/2.1/unity-catalog/volumes"),
            json!({"name": name, "catalog_name": catalog, "schema_name": schema, "volume_type": "MANAGED"}),
        )
        .await?,
    )
    .map(|_| ())
}
