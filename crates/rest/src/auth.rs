//! Authentication: its config (dlt's auth `type`s, read from the config) and its runtime form
//! (the config resolved against the secrets section, with the OAuth2 token cache).

use crate::config::{de_secret, fields, split_type};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use sluice_core::{ConfigSection, Error, Result, Secret};
use std::time::Instant;

// ---------------------------------------------------------------------------------------------
// config

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

// ---------------------------------------------------------------------------------------------
// runtime

/// OAuth2 client-credentials settings and the cached token.
#[derive(Debug)]
pub(crate) struct OAuth2 {
    pub url: String,
    pub client_id: Secret,
    pub client_secret: Secret,
    pub extra: IndexMap<String, String>,
    pub default_expiration: u64,
    /// The token and the instant after which it must be refreshed.
    pub token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

/// Resolved authentication.
#[derive(Debug)]
pub(crate) enum Auth {
    None,
    Bearer(Secret),
    ApiKey {
        name: String,
        key: Secret,
        location: ApiKeyLocation,
    },
    Basic {
        user: Secret,
        password: Secret,
    },
    OAuth2(OAuth2),
}

impl Auth {
    /// The secret values of this auth, for [`crate::credentials::Redactor`].
    pub fn secret_values(&self) -> Vec<&str> {
        match self {
            Auth::None => vec![],
            Auth::Bearer(t) => vec![t.expose()],
            Auth::ApiKey { key, .. } => vec![key.expose()],
            Auth::Basic { user, password } => vec![user.expose(), password.expose()],
            Auth::OAuth2(o) => vec![o.client_secret.expose()],
        }
    }
}

/// Look a secret up in the section: `key`, `auth.key`, then `credentials.key`.
fn lookup(secrets: &ConfigSection, key: &str) -> Option<Secret> {
    secrets
        .get_secret(key)
        .or_else(|| secrets.get_secret(&format!("auth.{key}")))
        .or_else(|| secrets.get_secret(&format!("credentials.{key}")))
}

fn need(
    v: Option<Secret>,
    secrets: &ConfigSection,
    key: &str,
    what: &str,
    source: &str,
) -> Result<Secret> {
    v.or_else(|| lookup(secrets, key)).ok_or_else(|| {
        let section = if secrets.path().is_empty() {
            format!("sources.{source}")
        } else {
            secrets.path().to_string()
        };
        let env = format!("SOURCES__{}__{}", source.to_uppercase(), key.to_uppercase());
        Error::config(format!(
            "{what} auth needs '{key}': set it in the auth config, in [{section}] of secrets.toml, \
             or in the environment as {env}"
        ))
    })
}

impl Auth {
    /// Resolve an auth config: secrets missing from it are taken from `secrets`.
    pub fn resolve(
        config: Option<&AuthConfig>,
        secrets: &ConfigSection,
        source: &str,
    ) -> Result<Self> {
        let Some(config) = config else {
            return Ok(Auth::None);
        };
        Ok(match config {
            AuthConfig::Bearer { token } => {
                Auth::Bearer(need(token.clone(), secrets, "token", "bearer", source)?)
            }
            AuthConfig::ApiKey {
                name,
                api_key,
                location,
            } => Auth::ApiKey {
                name: name.clone(),
                key: need(api_key.clone(), secrets, "api_key", "api_key", source)?,
                location: *location,
            },
            AuthConfig::HttpBasic { username, password } => {
                // An API key as user name with an empty password is common (Forter).
                let user = username
                    .clone()
                    .or_else(|| lookup(secrets, "username"))
                    .or_else(|| lookup(secrets, "api_key"));
                let user = need(user, secrets, "username", "http_basic", source)?;
                let password = password
                    .clone()
                    .or_else(|| lookup(secrets, "password"))
                    .unwrap_or_default();
                Auth::Basic { user, password }
            }
            AuthConfig::OAuth2ClientCredentials {
                access_token_url,
                client_id,
                client_secret,
                access_token_request_data,
                default_token_expiration,
            } => {
                let url = access_token_url
                    .clone()
                    .or_else(|| secrets.get_str("access_token_url"))
                    .ok_or_else(|| {
                        Error::config("oauth2_client_credentials auth needs 'access_token_url'")
                    })?;
                Auth::OAuth2(OAuth2 {
                    url,
                    client_id: need(
                        client_id.clone(),
                        secrets,
                        "client_id",
                        "oauth2_client_credentials",
                        source,
                    )?,
                    client_secret: need(
                        client_secret.clone(),
                        secrets,
                        "client_secret",
                        "oauth2_client_credentials",
                        source,
                    )?,
                    extra: access_token_request_data.clone(),
                    default_expiration: *default_token_expiration,
                    token: tokio::sync::Mutex::new(None),
                })
            }
        })
    }
}
