//! The request of a resource: method, path, parameters, bodies, headers, auth, paginator,
//! data selector, response actions, incremental cursor.

use super::{AuthConfig, IncrementalConfig, JsonValue, PaginatorConfig};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer};

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
    /// JSON body. Its strings are templates: in a child resource the body is built from each
    /// parent item, one request per item (`{ orderId = "{resources.orders.id}" }`); a string
    /// that is exactly one placeholder keeps the value's type, and `"{resources.<parent>.$}"`
    /// sends the parent item whole.
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
