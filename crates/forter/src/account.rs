//! The credentials and endpoint of a Forter account, resolved from the config and the
//! `[sources.<name>]` secrets section, with errors that say where missing values go.

use crate::config::{DEFAULT_API_VERSION, ForterConfig};
use sluice_core::{ConfigSection, Error, Result, Secret};

/// Resolved credentials and endpoint of a Forter account.
pub(crate) struct Account {
    pub(crate) api_key: Secret,
    pub(crate) site_id: String,
    pub(crate) base_url: String,
    pub(crate) api_version: String,
}

/// The credentials of the tokenization API: its own site id and secret (HTTP Basic).
pub(crate) struct TokenizationAccount {
    pub(crate) site_id: String,
    pub(crate) secret: Secret,
}

pub(crate) fn env_prefix(name: &str) -> String {
    format!("SOURCES__{}", name.to_uppercase())
}

/// "missing X. Put it in …" for the keys `missing` of the source `name`.
fn missing_error(name: &str, missing: &[&str], what_for: &str) -> Error {
    let prefix = env_prefix(name);
    let env: Vec<String> = missing
        .iter()
        .map(|k| format!("{prefix}__{}", k.to_uppercase()))
        .collect();
    Error::config(format!(
        "Forter source '{name}': missing {what}. Put {them} in .sluice/secrets.toml (or .dlt/secrets.toml) \
         under [sources.{name}] ({keys}), or set {env}. {what_for}",
        what = missing.join(" and "),
        them = if missing.len() == 1 { "it" } else { "them" },
        keys = missing
            .iter()
            .map(|k| format!("{k} = \"...\""))
            .collect::<Vec<_>>()
            .join(", "),
        env = env.join(" and "),
    ))
}

/// The account of the source `name`: inline values first, then the secrets section.
pub(crate) fn resolve_account(
    name: &str,
    config: &ForterConfig,
    secrets: &ConfigSection,
) -> Result<Account> {
    let api_key = config
        .api_key
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| secrets.get_secret("api_key").filter(|s| !s.is_empty()));
    let site_id = config
        .site_id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| secrets.get_str("site_id").filter(|s| !s.trim().is_empty()));
    let mut missing = Vec::new();
    if api_key.is_none() {
        missing.push("api_key");
    }
    if site_id.is_none() {
        missing.push("site_id");
    }
    let (Some(api_key), Some(site_id)) = (api_key, site_id) else {
        return Err(missing_error(
            name,
            &missing,
            "Both come from your Forter portal; test and production sites have different values.",
        ));
    };
    let site_id = site_id.trim().to_string();
    let base_url = secrets
        .get_str("base_url")
        .unwrap_or_else(|| config.base_url.clone())
        .replace("{site_id}", &site_id);
    let api_version = secrets
        .get_str("api_version")
        .unwrap_or_else(|| config.api_version.clone());
    if api_version.trim().is_empty() {
        return Err(Error::config(format!(
            "Forter source '{name}': api_version is empty; Forter requires the api-version header \
             (e.g. \"{DEFAULT_API_VERSION}\"; the value is per account, see your Forter portal)"
        )));
    }
    Ok(Account {
        api_key,
        site_id,
        base_url,
        api_version,
    })
}

/// The tokenization credentials: `tokenization_site_id` (default: the site id) and
/// `tokenization_secret`, from the secrets section.
pub(crate) fn resolve_tokenization(
    name: &str,
    account: &Account,
    secrets: &ConfigSection,
) -> Result<TokenizationAccount> {
    let site_id = secrets
        .get_str("tokenization_site_id")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| account.site_id.clone());
    let secret = secrets
        .get_secret("tokenization_secret")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            missing_error(
                name,
                &["tokenization_secret"],
                "The tokenization API has its own credentials (its site id, default the site id \
                 above, as tokenization_site_id, and its secret), not the API key.",
            )
        })?;
    Ok(TokenizationAccount {
        site_id: site_id.trim().to_string(),
        secret,
    })
}
