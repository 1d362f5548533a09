//! The configuration of a REST API source, in dlt's `RESTAPIConfig` shape.
//!
//! Every table rejects keys it does not know; the error names the key and where it is
//! (`resources[1].endpoint: unknown field 'pagintor'`). Secrets in the config are held as
//! [`Secret`]s and never shown by `Debug`.

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use sluice_core::{ContractMode, Error, MergeStrategy, Result, Secret, WriteDisposition};
use std::fmt;

fn default_max_concurrency() -> usize {
    8
}
fn default_request_timeout() -> f64 {
    60.0
}
fn default_max_attempts() -> u32 {
    5
}
fn default_backoff_factor() -> f64 {
    1.0
}
fn default_max_retry_delay() -> f64 {
    300.0
}
fn default_max_boundary_keys() -> usize {
    1000
}

/// The whole source configuration: dlt's `RESTAPIConfig` plus sluice's HTTP options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestApiConfig {
    /// The source type, when the pipeline file's `[source]` table is passed as is: must be `rest_api`.
    #[serde(default, rename = "type")]
    pub source_type: Option<String>,
    /// The source name, when given in the config (the name passed to `RestApiSource::new` wins).
    #[serde(default)]
    pub name: Option<String>,
    /// The HTTP client: base URL, headers, auth, paginator.
    pub client: ClientConfig,
    /// Defaults merged into every resource (dlt's merge rules).
    #[serde(default)]
    pub resource_defaults: Option<ResourceConfig>,
    /// The resources: a name (`"posts"`) or a table.
    pub resources: Vec<ResourceEntry>,
    /// Requests per second for the whole source (token bucket); unlimited when absent.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Maximum requests in flight, and child requests run concurrently for different parent items.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Timeout of one request, in seconds (connect + response + body).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: f64,
    /// Attempts per request, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Exponential backoff base in seconds: waits `factor * 2^(attempt-1)`.
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    /// Longest wait between attempts, in seconds (also caps `Retry-After`).
    #[serde(default = "default_max_retry_delay")]
    pub max_retry_delay: f64,
    /// Most boundary keys kept per incremental cursor (rows whose cursor equals the last value).
    #[serde(default = "default_max_boundary_keys")]
    pub max_boundary_keys: usize,
    /// Retry POST requests like GETs. Off by default: a POST is retried only when the server
    /// cannot have acted on it (the connection was never made, or it answered 429 or 503); a
    /// timeout, a lost connection or another 5xx after a POST may mean it was accepted, and
    /// repeating it could create a second order or decision. Set it for endpoints that are safe
    /// to repeat (searches, lookups).
    #[serde(default)]
    pub retry_post: bool,
}

impl RestApiConfig {
    /// Read a config from a TOML value (a pipeline file's `[source]` table).
    /// Errors name the offending key and its place.
    pub fn from_toml(value: toml::Value) -> Result<Self> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let inner = inner.trim_end();
            if path == "." || path.is_empty() {
                Error::config(format!("REST API source config: {inner}"))
            } else {
                Error::config(format!("REST API source config at '{path}': {inner}"))
            }
        })
    }

    /// Read a config from a TOML document's text.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::config(format!(
                "REST API source config is not valid TOML: {}",
                e.message()
            ))
        })?;
        Self::from_toml(toml::Value::Table(table))
    }

    /// Read a config from a JSON value. JSON `null`s are treated as absent keys.
    pub fn from_json(value: &Value) -> Result<Self> {
        let t = json_to_toml(value).unwrap_or(toml::Value::Table(Default::default()));
        Self::from_toml(t)
    }
}

/// Convert JSON to TOML (nulls dropped), so both go through one deserializer.
pub(crate) fn json_to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                toml::Value::Integer(i)
            } else if let Some(f) = n.as_f64() {
                toml::Value::Float(f)
            } else {
                toml::Value::String(n.to_string())
            }
        }
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(json_to_toml).collect()),
        Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| json_to_toml(v).map(|v| (k.clone(), v)))
                .collect(),
        ),
    })
}

/// Convert a TOML value to JSON (datetimes become strings).
pub(crate) fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// A JSON value read from the config (TOML or JSON input).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonValue(pub Value);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = toml::Value::deserialize(d)?;
        Ok(JsonValue(toml_to_json(&t)))
    }
}

fn de_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let t = toml::Value::deserialize(d)?;
    match t {
        toml::Value::String(s) => Ok(Some(Secret::new(s))),
        toml::Value::Integer(i) => Ok(Some(Secret::new(i.to_string()))),
        _ => Err(de::Error::custom("expected a string")),
    }
}

/// The HTTP client settings shared by all resources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URL; resource paths are appended to it.
    pub base_url: String,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Authentication.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Default paginator.
    #[serde(default)]
    pub paginator: Option<PaginatorConfig>,
    /// Further origins (`https://host[:port]`) that may receive the credentials. By default
    /// auth is sent only to the origin of `base_url` and of resource paths given as absolute
    /// URLs; a `next` link or redirect to any other origin is followed without credentials.
    #[serde(default)]
    pub auth_origins: Vec<String>,
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyLocation {
    /// A request header.
    #[default]
    Header,
    /// A query parameter.
    Query,
    /// A query parameter (dlt's alias of `query`).
    Param,
}

/// Authentication, by dlt's `type` names. A table without `type` is `bearer`; a string is a
/// type whose secrets all come from `[sources.<name>]`.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token (or from the secrets section: `token`).
        token: Option<Secret>,
    },
    /// An API key in a header or query parameter.
    ApiKey {
        /// Header or parameter name (default `Authorization`).
        name: String,
        /// The key (or from the secrets section: `api_key`).
        api_key: Option<Secret>,
        /// Header or query.
        location: ApiKeyLocation,
    },
    /// HTTP Basic: an API key as user with an empty password works.
    HttpBasic {
        /// User name (or from the secrets section: `username`).
        username: Option<Secret>,
        /// Password (or from the secrets section: `password`; empty when absent).
        password: Option<Secret>,
    },
    /// OAuth2 client credentials grant; the token is cached and refreshed before it expires.
    OAuth2ClientCredentials {
        /// Token endpoint.
        access_token_url: Option<String>,
        /// Client id (or from the secrets section: `client_id`).
        client_id: Option<Secret>,
        /// Client secret (or from the secrets section: `client_secret`).
        client_secret: Option<Secret>,
        /// Extra form fields of the token request.
        access_token_request_data: IndexMap<String, String>,
        /// Lifetime in seconds when the token response has no `expires_in`.
        default_token_expiration: u64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BearerFields {
    #[serde(default, deserialize_with = "de_secret")]
    token: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "de_secret")]
    api_key: Option<Secret>,
    #[serde(default)]
    location: ApiKeyLocation,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BasicFields {
    #[serde(default, deserialize_with = "de_secret")]
    username: Option<Secret>,
    #[serde(default, deserialize_with = "de_secret")]
    password: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OAuth2Fields {
    #[serde(default)]
    access_token_url: Option<String>,
    #[serde(default, deserialize_with = "de_secret")]
    client_id: Option<Secret>,
    #[serde(default, deserialize_with = "de_secret")]
    client_secret: Option<Secret>,
    #[serde(default)]
    access_token_request_data: IndexMap<String, String>,
    #[serde(default)]
    default_token_expiration: Option<u64>,
}

fn split_type(
    value: toml::Value,
    default_type: Option<&str>,
) -> Result<(String, toml::Value), String> {
    match value {
        toml::Value::String(s) => Ok((s, toml::Value::Table(Default::default()))),
        toml::Value::Table(mut t) => {
            let ty = match t.remove("type") {
                Some(toml::Value::String(s)) => s,
                Some(_) => return Err("'type' must be a string".into()),
                None => {
                    // A misspelt `type` would otherwise read the table as the default type
                    // and complain about its other keys instead.
                    if let Some(near) = t.keys().find(|k| {
                        sluice_core::config::edit_distance(&k.to_lowercase(), "type") <= 2
                    }) {
                        return Err(format!("unknown key '{near}' (did you mean 'type'?)"));
                    }
                    match default_type {
                        Some(d) => d.to_string(),
                        None => return Err("missing 'type'".into()),
                    }
                }
            };
            Ok((ty, toml::Value::Table(t)))
        }
        _ => Err("expected a type name or a table".into()),
    }
}

fn fields<T: for<'a> Deserialize<'a>>(ty: &str, rest: toml::Value) -> Result<T, String> {
    T::deserialize(rest).map_err(|e| format!("{} (type '{ty}')", e.message().trim_end()))
}

impl<'de> Deserialize<'de> for AuthConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = toml::Value::deserialize(d)?;
        let (ty, rest) = split_type(value, Some("bearer")).map_err(de::Error::custom)?;
        let auth = match ty.as_str() {
            "bearer" => {
                let f: BearerFields = fields(&ty, rest).map_err(de::Error::custom)?;
                AuthConfig::Bearer { token: f.token }
            }
            "api_key" => {
                let f: ApiKeyFields = fields(&ty, rest).map_err(de::Error::custom)?;
                AuthConfig::ApiKey {
                    name: f.name.unwrap_or_else(|| "Authorization".into()),
                    api_key: f.api_key,
                    location: f.location,
                }
            }
            "http_basic" => {
                let f: BasicFields = fields(&ty, rest).map_err(de::Error::custom)?;
                AuthConfig::HttpBasic {
                    username: f.username,
                    password: f.password,
                }
            }
            "oauth2_client_credentials" => {
                let f: OAuth2Fields = fields(&ty, rest).map_err(de::Error::custom)?;
                AuthConfig::OAuth2ClientCredentials {
                    access_token_url: f.access_token_url,
                    client_id: f.client_id,
                    client_secret: f.client_secret,
                    access_token_request_data: f.access_token_request_data,
                    default_token_expiration: f.default_token_expiration.unwrap_or(3600),
                }
            }
            other => {
                return Err(de::Error::custom(format!(
                    "unknown auth type '{other}': use bearer, api_key, http_basic or oauth2_client_credentials"
                )));
            }
        };
        Ok(auth)
    }
}

/// A paginator, by dlt's `type` names (`auto` when absent).
#[derive(Debug, Clone, PartialEq)]
pub enum PaginatorConfig {
    /// Detect from the first response (dlt's order).
    Auto,
    /// Always one page.
    SinglePage,
    /// Next URL at a JSONPath in the body.
    JsonLink {
        /// Path of the next URL (default `next`).
        next_url_path: String,
    },
    /// Next URL in the `Link` header.
    HeaderLink {
        /// The `rel` of the next link (default `next`).
        links_next_key: String,
    },
    /// A cursor taken from a response header, sent as a query parameter.
    HeaderCursor {
        /// Response header holding the cursor (default `next`).
        cursor_key: String,
        /// Query parameter (default `cursor`).
        cursor_param: String,
    },
    /// A cursor taken from the body, sent as a query parameter or placed in the JSON body.
    Cursor {
        /// Path of the cursor in the response (default `cursors.next`).
        cursor_path: String,
        /// Query parameter (default `cursor` when `cursor_body_path` is unset).
        cursor_param: Option<String>,
        /// Dot path in the JSON request body.
        cursor_body_path: Option<String>,
        /// Stop on an empty page.
        stop_after_empty_page: bool,
        /// Path of a boolean saying whether more pages exist.
        has_more_path: Option<String>,
    },
    /// Offset and limit.
    Offset {
        /// Page size (required).
        limit: i64,
        /// First offset (default 0).
        offset: i64,
        /// Query parameter of the offset (default `offset`).
        offset_param: String,
        /// Dot path of the offset in the JSON request body (instead of the parameter).
        offset_body_path: Option<String>,
        /// Query parameter of the limit (default `limit`).
        limit_param: String,
        /// Dot path of the limit in the JSON request body.
        limit_body_path: Option<String>,
        /// Path of the total count (default `total`; `""` disables).
        total_path: Option<String>,
        /// Stop at this offset.
        maximum_offset: Option<i64>,
        /// Stop on an empty page (default true).
        stop_after_empty_page: bool,
        /// Path of a boolean saying whether more pages exist.
        has_more_path: Option<String>,
    },
    /// Page numbers.
    PageNumber {
        /// Number of the first page (default 0).
        base_page: i64,
        /// First page to request (default `base_page`).
        page: Option<i64>,
        /// Query parameter (default `page`).
        page_param: String,
        /// Dot path in the JSON request body (instead of the parameter).
        page_body_path: Option<String>,
        /// Path of the total page count (default `total`; `""` disables).
        total_path: Option<String>,
        /// Stop at this page.
        maximum_page: Option<i64>,
        /// Stop on an empty page (default true).
        stop_after_empty_page: bool,
        /// Path of a boolean saying whether more pages exist.
        has_more_path: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonLinkFields {
    #[serde(default)]
    next_url_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderLinkFields {
    #[serde(default)]
    links_next_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderCursorFields {
    #[serde(default)]
    cursor_key: Option<String>,
    #[serde(default)]
    cursor_param: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorFields {
    #[serde(default)]
    cursor_path: Option<String>,
    #[serde(default)]
    cursor_param: Option<String>,
    #[serde(default)]
    cursor_body_path: Option<String>,
    #[serde(default)]
    stop_after_empty_page: bool,
    #[serde(default)]
    has_more_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffsetFields {
    limit: Option<i64>,
    #[serde(default)]
    offset: i64,
    #[serde(default)]
    offset_param: Option<String>,
    #[serde(default)]
    offset_body_path: Option<String>,
    #[serde(default)]
    limit_param: Option<String>,
    #[serde(default)]
    limit_body_path: Option<String>,
    #[serde(default)]
    total_path: Option<String>,
    #[serde(default)]
    maximum_offset: Option<i64>,
    #[serde(default)]
    stop_after_empty_page: Option<bool>,
    #[serde(default)]
    has_more_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageNumberFields {
    #[serde(default)]
    base_page: i64,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    page_param: Option<String>,
    #[serde(default)]
    page_body_path: Option<String>,
    #[serde(default)]
    total_path: Option<String>,
    #[serde(default)]
    maximum_page: Option<i64>,
    #[serde(default)]
    stop_after_empty_page: Option<bool>,
    #[serde(default)]
    has_more_path: Option<String>,
}

fn total_path(p: Option<String>) -> Option<String> {
    match p {
        None => Some("total".into()),
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s),
    }
}

impl<'de> Deserialize<'de> for PaginatorConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = toml::Value::deserialize(d)?;
        let (ty, rest) = split_type(value, None).map_err(de::Error::custom)?;
        let e = de::Error::custom;
        Ok(match ty.as_str() {
            "auto" => {
                fields::<NoFields>(&ty, rest).map_err(e)?;
                PaginatorConfig::Auto
            }
            "single_page" => {
                fields::<NoFields>(&ty, rest).map_err(e)?;
                PaginatorConfig::SinglePage
            }
            "json_link" | "json_response" => {
                let f: JsonLinkFields = fields(&ty, rest).map_err(e)?;
                PaginatorConfig::JsonLink {
                    next_url_path: f.next_url_path.unwrap_or_else(|| "next".into()),
                }
            }
            "header_link" => {
                let f: HeaderLinkFields = fields(&ty, rest).map_err(e)?;
                PaginatorConfig::HeaderLink {
                    links_next_key: f.links_next_key.unwrap_or_else(|| "next".into()),
                }
            }
            "header_cursor" => {
                let f: HeaderCursorFields = fields(&ty, rest).map_err(e)?;
                PaginatorConfig::HeaderCursor {
                    cursor_key: f.cursor_key.unwrap_or_else(|| "next".into()),
                    cursor_param: f.cursor_param.unwrap_or_else(|| "cursor".into()),
                }
            }
            "cursor" => {
                let f: CursorFields = fields(&ty, rest).map_err(e)?;
                let cursor_param = match (&f.cursor_param, &f.cursor_body_path) {
                    (Some(p), _) => Some(p.clone()),
                    (None, None) => Some("cursor".into()),
                    (None, Some(_)) => None,
                };
                PaginatorConfig::Cursor {
                    cursor_path: f.cursor_path.unwrap_or_else(|| "cursors.next".into()),
                    cursor_param,
                    cursor_body_path: f.cursor_body_path,
                    stop_after_empty_page: f.stop_after_empty_page,
                    has_more_path: f.has_more_path,
                }
            }
            "offset" => {
                let f: OffsetFields = fields(&ty, rest).map_err(e)?;
                let limit = f
                    .limit
                    .ok_or_else(|| de::Error::custom("the offset paginator needs 'limit'"))?;
                if limit <= 0 {
                    return Err(de::Error::custom("'limit' must be positive"));
                }
                PaginatorConfig::Offset {
                    limit,
                    offset: f.offset,
                    offset_param: f.offset_param.unwrap_or_else(|| "offset".into()),
                    offset_body_path: f.offset_body_path,
                    limit_param: f.limit_param.unwrap_or_else(|| "limit".into()),
                    limit_body_path: f.limit_body_path,
                    total_path: total_path(f.total_path),
                    maximum_offset: f.maximum_offset,
                    stop_after_empty_page: f.stop_after_empty_page.unwrap_or(true),
                    has_more_path: f.has_more_path,
                }
            }
            "page_number" => {
                let f: PageNumberFields = fields(&ty, rest).map_err(e)?;
                PaginatorConfig::PageNumber {
                    base_page: f.base_page,
                    page: f.page,
                    page_param: f.page_param.unwrap_or_else(|| "page".into()),
                    page_body_path: f.page_body_path,
                    total_path: total_path(f.total_path),
                    maximum_page: f.maximum_page,
                    stop_after_empty_page: f.stop_after_empty_page.unwrap_or(true),
                    has_more_path: f.has_more_path,
                }
            }
            other => {
                return Err(de::Error::custom(format!(
                    "unknown paginator type '{other}': use auto, single_page, json_link, header_link, \
                     header_cursor, cursor, offset or page_number"
                )));
            }
        })
    }
}

/// A list of key columns: one name or a list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyList(pub Vec<String>);

impl<'de> Deserialize<'de> for KeyList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name or a list of column names")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<KeyList, E> {
                Ok(KeyList(vec![s.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(KeyList(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A write disposition: `"merge"` or `{disposition = "merge", strategy = "upsert"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteDispositionConfig {
    /// append, replace or merge.
    pub disposition: WriteDisposition,
    /// Merge strategy.
    pub strategy: Option<MergeStrategy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WdTable {
    disposition: String,
    #[serde(default)]
    strategy: Option<String>,
}

impl<'de> Deserialize<'de> for WriteDispositionConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = toml::Value::deserialize(d)?;
        let (disp, strategy) = match v {
            toml::Value::String(s) => (s, None),
            t @ toml::Value::Table(_) => {
                let w: WdTable = fields("write_disposition", t).map_err(de::Error::custom)?;
                (w.disposition, w.strategy)
            }
            _ => return Err(de::Error::custom("expected a disposition name or a table")),
        };
        Ok(WriteDispositionConfig {
            disposition: WriteDisposition::parse(&disp)
                .map_err(|e| de::Error::custom(e.message()))?,
            strategy: strategy
                .map(|s| MergeStrategy::parse(&s))
                .transpose()
                .map_err(|e| de::Error::custom(e.message()))?,
        })
    }
}

/// A schema contract: one mode for everything (`"freeze"`) or per entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaContractConfig(pub sluice_core::SchemaContract);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractTable {
    #[serde(default)]
    tables: Option<String>,
    #[serde(default)]
    columns: Option<String>,
    #[serde(default)]
    data_type: Option<String>,
}

impl<'de> Deserialize<'de> for SchemaContractConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = toml::Value::deserialize(d)?;
        let parse = |s: Option<String>| -> Result<ContractMode, D::Error> {
            match s {
                None => Ok(ContractMode::Evolve),
                Some(s) => ContractMode::parse(&s).map_err(|e| de::Error::custom(e.message())),
            }
        };
        let c = match v {
            toml::Value::String(s) => {
                let m = parse(Some(s))?;
                sluice_core::SchemaContract {
                    tables: m,
                    columns: m,
                    data_type: m,
                }
            }
            t @ toml::Value::Table(_) => {
                let c: ContractTable = fields("schema_contract", t).map_err(de::Error::custom)?;
                sluice_core::SchemaContract {
                    tables: parse(c.tables)?,
                    columns: parse(c.columns)?,
                    data_type: parse(c.data_type)?,
                }
            }
            _ => return Err(de::Error::custom("expected a mode name or a table")),
        };
        Ok(SchemaContractConfig(c))
    }
}

/// A status code to match: `404` or `"404"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(pub u16);

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = toml::Value::deserialize(d)?;
        let n = match &v {
            toml::Value::Integer(i) => u16::try_from(*i).ok(),
            toml::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        n.filter(|n| (100..600).contains(n))
            .map(StatusCode)
            .ok_or_else(|| de::Error::custom("expected an HTTP status code"))
    }
}

/// What to do with a matching response. Only `ignore` exists in a declarative config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseActionKind {
    /// End this request's pagination silently, yielding nothing.
    Ignore,
}

/// A response action: match a status code and/or a body substring.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseAction {
    /// Status code to match.
    #[serde(default)]
    pub status_code: Option<StatusCode>,
    /// Substring of the body to match.
    #[serde(default)]
    pub content: Option<String>,
    /// The action.
    pub action: ResponseActionKind,
}

/// `min` or `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LastValueFunc {
    /// Keep the largest cursor value.
    #[default]
    Max,
    /// Keep the smallest cursor value.
    Min,
}

/// Whether a range end is included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RangeBound {
    /// Excluded.
    Open,
    /// Included.
    Closed,
}

/// What to do with rows whose cursor is missing or null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnCursorMissing {
    /// Fail the resource.
    #[default]
    Raise,
    /// Keep the row.
    Include,
    /// Drop the row.
    Exclude,
}

/// Incremental loading on a cursor field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// JSONPath of the cursor in each row.
    pub cursor_path: String,
    /// Start value of the first run.
    #[serde(default)]
    pub initial_value: Option<JsonValue>,
    /// Upper bound (exclusive by default); with it, state is not stored.
    #[serde(default)]
    pub end_value: Option<JsonValue>,
    /// Deprecated: query parameter that receives the start value.
    #[serde(default)]
    pub start_param: Option<String>,
    /// Deprecated: query parameter that receives the end value.
    #[serde(default)]
    pub end_param: Option<String>,
    /// `max` (default) or `min`.
    #[serde(default)]
    pub last_value_func: LastValueFunc,
    /// Key used to deduplicate rows at the boundary (default: the resource's primary key).
    #[serde(default)]
    pub primary_key: Option<KeyList>,
    /// Whether rows equal to the start value are kept (closed, default) or dropped (open).
    #[serde(default)]
    pub range_start: Option<RangeBound>,
    /// Whether rows equal to the end value are kept (closed) or dropped (open, default).
    #[serde(default)]
    pub range_end: Option<RangeBound>,
    /// Rows without a cursor value: raise (default), include or exclude.
    #[serde(default)]
    pub on_cursor_value_missing: OnCursorMissing,
}

/// HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// GET.
    #[default]
    #[serde(alias = "get")]
    Get,
    /// POST.
    #[serde(alias = "post")]
    Post,
}

/// The request of a resource.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Path appended to the base URL (or an absolute URL).
    #[serde(default)]
    pub path: Option<String>,
    /// GET (default) or POST.
    #[serde(default)]
    pub method: Option<Method>,
    /// Query parameters.
    #[serde(default)]
    pub params: IndexMap<String, JsonValue>,
    /// JSON body.
    #[serde(default)]
    pub json: Option<JsonValue>,
    /// Form body (a table) or raw body (a string).
    #[serde(default)]
    pub data: Option<JsonValue>,
    /// Extra headers (endpoint wins over client).
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Auth for this endpoint (wins over the client's).
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Paginator for this endpoint.
    #[serde(default)]
    pub paginator: Option<PaginatorConfig>,
    /// JSONPath of the data in the response; auto-detected when absent.
    #[serde(default)]
    pub data_selector: Option<String>,
    /// Responses to ignore.
    #[serde(default)]
    pub response_actions: Vec<ResponseAction>,
    /// Incremental cursor.
    #[serde(default)]
    pub incremental: Option<IncrementalConfig>,
    /// Stop after this many pages of one request sequence (one resource, or one parent item of a
    /// child resource), as dlt's `maximum_page` bounds a paginator. Reaching it is logged, not an
    /// error.
    #[serde(default)]
    pub max_pages: Option<u64>,
}

/// A resource table (also the shape of `resource_defaults`, without `name`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// Resource name (the table name unless `table_name` is set).
    #[serde(default)]
    pub name: Option<String>,
    /// The endpoint: a path or a table. Missing means the path is the name.
    #[serde(default, deserialize_with = "de_endpoint")]
    pub endpoint: Option<EndpointConfig>,
    /// Primary key.
    #[serde(default)]
    pub primary_key: Option<KeyList>,
    /// Merge key.
    #[serde(default)]
    pub merge_key: Option<KeyList>,
    /// Write disposition.
    #[serde(default)]
    pub write_disposition: Option<WriteDispositionConfig>,
    /// Parent fields copied into each child row as `_<parent>_<field>`.
    #[serde(default)]
    pub include_from_parent: Option<Vec<String>>,
    /// Maximum nesting of child tables.
    #[serde(default)]
    pub max_table_nesting: Option<u32>,
    /// Schema contract.
    #[serde(default)]
    pub schema_contract: Option<SchemaContractConfig>,
    /// Table name (default: the resource name).
    #[serde(default)]
    pub table_name: Option<String>,
    /// Whether the resource's rows are emitted (an unselected parent still feeds its children).
    #[serde(default)]
    pub selected: Option<bool>,
    /// Declared columns by source name, with dlt's column hints.
    #[serde(default)]
    pub columns: Option<IndexMap<String, ColumnConfig>>,
    /// Items given in the config instead of an endpoint: the resource yields them without any
    /// request. As a parent (usually with `selected = false`) it fans a child out over a fixed
    /// list, e.g. ids: `{ name = "ids", items = [{ id = 1 }, { id = 2 }], selected = false }`.
    #[serde(default)]
    pub items: Option<Vec<JsonValue>>,
}

/// A declared column (dlt's column hints).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// dlt data type name (`text`, `bigint`, `double`, `bool`, `timestamp`, `date`, `decimal`, `json`, …).
    #[serde(default)]
    pub data_type: Option<String>,
    /// Whether NULL is allowed (default true).
    #[serde(default)]
    pub nullable: Option<bool>,
    /// Part of the primary key.
    #[serde(default)]
    pub primary_key: Option<bool>,
    /// Part of the merge key.
    #[serde(default)]
    pub merge_key: Option<bool>,
    /// Unique values.
    #[serde(default)]
    pub unique: Option<bool>,
    /// Deletes the row on merge when set.
    #[serde(default)]
    pub hard_delete: Option<bool>,
    /// Precision.
    #[serde(default)]
    pub precision: Option<u32>,
    /// Scale.
    #[serde(default)]
    pub scale: Option<u32>,
    /// Whether a timestamp keeps its time zone.
    #[serde(default)]
    pub timezone: Option<bool>,
    /// `asc` or `desc`.
    #[serde(default)]
    pub dedup_sort: Option<String>,
}

impl ColumnConfig {
    /// The core column for a source column name; an unknown type is an error naming it.
    pub fn to_column(&self, name: &str) -> Result<sluice_core::Column> {
        let data_type = match &self.data_type {
            None => None,
            Some(t) => Some(sluice_core::DataType::parse(t).ok_or_else(|| {
                Error::config(format!("column '{name}': unknown data_type '{t}'"))
            })?),
        };
        let mut c = sluice_core::Column::new(name, sluice_core::DataType::Text);
        c.data_type = data_type;
        c.nullable = self.nullable.unwrap_or(true);
        if self.primary_key == Some(true) {
            c = c.primary_key();
        }
        c.merge_key = self.merge_key.unwrap_or(false);
        c.unique = self.unique.unwrap_or(false);
        c.hard_delete = self.hard_delete.unwrap_or(false);
        c.precision = self.precision;
        c.scale = self.scale;
        c.timezone = self.timezone;
        c.dedup_sort = self.dedup_sort.clone();
        Ok(c)
    }
}

fn de_endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EndpointConfig>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = EndpointConfig;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a path or an endpoint table")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<EndpointConfig, E> {
            Ok(EndpointConfig {
                path: Some(s.to_string()),
                ..EndpointConfig::default()
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EndpointConfig, A::Error> {
            EndpointConfig::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V).map(Some)
}

/// A resource: a name (`"posts"`, fetched from path `posts`) or a table.
#[derive(Debug, Clone)]
pub struct ResourceEntry(pub ResourceConfig);

impl<'de> Deserialize<'de> for ResourceEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ResourceEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a resource name or a resource table")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ResourceEntry, E> {
                Ok(ResourceEntry(ResourceConfig {
                    name: Some(s.to_string()),
                    ..ResourceConfig::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ResourceEntry, A::Error> {
                ResourceConfig::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ResourceEntry)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_key_and_place() {
        let err = RestApiConfig::from_toml_str(
            r#"
            client = { base_url = "http://x" }
            [[resources]]
            name = "a"
            endpoint = { path = "a", pagintor = "auto" }
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("pagintor"), "{err}");
        assert!(err.contains("resources[0].endpoint"), "{err}");

        let err = RestApiConfig::from_toml_str(
            r#"
            client = { base_url = "http://x", paginator = { type = "offset", limit = 5, foo = 1 } }
            resources = ["a"]
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("foo") && err.contains("client.paginator"),
            "{err}"
        );

        // A misspelt `type` is named (found by config_fuzz: it used to read the table as a
        // bearer token and complain about `access_token_url` instead).
        let err = RestApiConfig::from_toml_str(
            r#"
            client = { base_url = "http://x", auth = { typ = "oauth2_client_credentials", access_token_url = "http://t" } }
            resources = ["a"]
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown key 'typ' (did you mean 'type'?)") && err.contains("client.auth"),
            "{err}"
        );
    }

    #[test]
    fn shapes_parse() {
        let c = RestApiConfig::from_json(&serde_json::json!({
            "client": {"base_url": "http://x", "auth": {"token": "t"}},
            "resources": ["posts", {"name": "c", "endpoint": "posts/{resources.posts.id}/c",
                "primary_key": "id", "write_disposition": {"disposition": "merge", "strategy": "upsert"}}],
        }))
        .unwrap();
        assert!(matches!(
            c.client.auth,
            Some(AuthConfig::Bearer { token: Some(_) })
        ));
        assert_eq!(c.resources.len(), 2);
        assert_eq!(
            c.resources[1].0.primary_key,
            Some(KeyList(vec!["id".into()]))
        );
        assert!(!format!("{c:?}").contains("\"t\""));
    }
}
