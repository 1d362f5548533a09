//! The `Authorization` header of every request: a personal access token as it is, or an OAuth
//! machine-to-machine token fetched from the workspace's `/oidc/v1/token` endpoint
//! (client-credentials grant, `scope=all-apis`) and fetched again shortly before it expires.

use crate::config::Auth;
use crate::error::{DatabricksError, http_error};
use sluice_core::config::Secret;
use sluice_core::{Error, Result};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A token is renewed this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Hands out bearer tokens for requests.
#[derive(Debug)]
pub struct TokenSource {
    auth: Auth,
    token_url: String,
    cached: Mutex<Option<(Secret, Instant)>>,
}

impl TokenSource {
    /// Tokens for `auth` on the workspace at `base_url`.
    pub fn new(auth: Auth, base_url: &str) -> Self {
        Self {
            auth,
            token_url: format!("{base_url}/oidc/v1/token"),
            cached: Mutex::new(None),
        }
    }

    /// The bearer token to send now (a cached OAuth token unless it expires within a minute).
    pub async fn token(&self, http: &reqwest::Client) -> Result<Secret> {
        let (client_id, client_secret) = match &self.auth {
            Auth::Token(t) => return Ok(t.clone()),
            Auth::OAuth {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        let mut cached = self.cached.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() + REFRESH_MARGIN < *expires
        {
            return Ok(token.clone());
        }
        let context = "databricks OAuth: cannot get a token from /oidc/v1/token";
        let response = http
            .post(&self.token_url)
            .basic_auth(client_id, Some(client_secret.expose()))
            .form(&[("grant_type", "client_credentials"), ("scope", "all-apis")])
            .send()
            .await
            .map_err(|e| http_error(context, e))?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.map_err(|e| http_error(context, e))?;
        let token = body
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty());
        let Some(token) = token.filter(|_| status == 200) else {
            // The answer of a failed grant names the error, never the secret.
            let mut err = DatabricksError::from_body(&body, status);
            if err.error_code == "UNKNOWN" {
                err.error_code = "OAUTH_TOKEN_FAILED".into();
            }
            return Err(Error::config(format!(
                "{context}: check client_id and client_secret of [destination.databricks.credentials]"
            ))
            .with_source(err));
        };
        let lifetime = body
            .get("expires_in")
            .and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(3600.0)
            .max(0.0);
        let token = Secret::new(token);
        *cached = Some((
            token.clone(),
            Instant::now() + Duration::from_secs_f64(lifetime),
        ));
        Ok(token)
    }

    /// Forget a cached OAuth token (after the workspace refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// Whether tokens come from OAuth (and so can be renewed).
    pub fn is_oauth(&self) -> bool {
        matches!(self.auth, Auth::OAuth { .. })
    }
}
