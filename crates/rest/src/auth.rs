//! Authentication at run time: the config resolved against the secrets section.

use crate::config::{ApiKeyLocation, AuthConfig};
use indexmap::IndexMap;
use sluice_core::{ConfigSection, Error, Result, Secret};
use std::time::Instant;

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
