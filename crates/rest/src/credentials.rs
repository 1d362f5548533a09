//! Where a source's credentials may go, and how they are kept out of messages.
//!
//! - [`AuthScope`]: the origins (scheme, host, port) that receive the auth of a request. By
//!   default the origin of `client.base_url` and of resource paths given as absolute URLs; more
//!   with `client.auth_origins`. A `next` link to any other origin is followed without
//!   credentials (and without `Authorization`, `Proxy-Authorization` or `Cookie` headers).
//! - [`Redactor`]: every configured secret value (API keys, tokens, passwords, client secrets,
//!   and OAuth tokens as they are fetched) replaced by `***` wherever it appears in a URL or a
//!   message, whatever put it there — an API that echoes a key into its `next` link included.

use reqwest::Url;
use sluice_core::config::redact_url;
use sluice_core::{Error, Result};
use std::collections::HashSet;
use std::sync::RwLock;

/// Secrets shorter than this are not searched for in messages: replacing every `a` or `1` in a
/// message would make it unreadable and hide nothing of value.
const MIN_SECRET_LEN: usize = 4;

/// Headers that carry credentials and are never sent to an origin outside the [`AuthScope`].
pub(crate) const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// The origins that may receive a source's credentials.
#[derive(Debug, Clone, Default)]
pub(crate) struct AuthScope {
    origins: Vec<url::Origin>,
}

impl AuthScope {
    /// The origin of `base_url`, of every absolute resource URL and of every entry of
    /// `client.auth_origins` (each a URL such as `https://api.example.com:8443`).
    pub fn new<'a>(
        base_url: &Url,
        absolute_paths: impl IntoIterator<Item = &'a str>,
        extra: &[String],
    ) -> Result<Self> {
        let mut scope = Self::default();
        scope.add(base_url);
        for p in absolute_paths {
            if let Ok(u) = Url::parse(p) {
                scope.add(&u);
            }
        }
        for (i, o) in extra.iter().enumerate() {
            let u = Url::parse(o).map_err(|e| {
                Error::config(format!(
                    "client.auth_origins[{i}] '{o}' is not a URL ({e}): give scheme and host, \
                     for example 'https://api.example.com'"
                ))
            })?;
            if !u.origin().is_tuple() {
                return Err(Error::config(format!(
                    "client.auth_origins[{i}] '{o}' has no host: give scheme and host, \
                     for example 'https://api.example.com'"
                )));
            }
            scope.add(&u);
        }
        Ok(scope)
    }

    fn add(&mut self, u: &Url) {
        let o = u.origin();
        if o.is_tuple() && !self.origins.contains(&o) {
            self.origins.push(o);
        }
    }

    /// Whether a request to `url` may carry the credentials.
    pub fn allows(&self, url: &Url) -> bool {
        self.origins.contains(&url.origin())
    }
}

/// Replaces every configured secret in text shown to people.
#[derive(Default)]
pub(crate) struct Redactor {
    /// Each secret and its form in a URL (percent-encoded), longest first so that a secret that
    /// contains another is replaced whole.
    needles: RwLock<Vec<String>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.needles.read().map(|n| n.len()).unwrap_or(0);
        write!(f, "Redactor({n} patterns)")
    }
}

impl Redactor {
    /// A redactor of these secret values.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let r = Self::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    /// Add a secret learnt while running (an OAuth access token).
    pub fn add(&self, secret: &str) {
        if secret.chars().count() < MIN_SECRET_LEN {
            return;
        }
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let percent = encoded.replace('+', "%20");
        let mut needles = self.needles.write().expect("redactor lock");
        let mut set: HashSet<String> = needles.drain(..).collect();
        set.insert(secret.to_string());
        set.insert(encoded);
        set.insert(percent);
        let mut v: Vec<String> = set.into_iter().collect();
        v.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        *needles = v;
    }

    /// `text` with every secret replaced by `***`.
    pub fn text(&self, text: &str) -> String {
        let needles = self.needles.read().expect("redactor lock");
        let mut out = text.to_string();
        for n in needles.iter() {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "***");
            }
        }
        out
    }

    /// A URL as shown in logs and errors: passwords and well-known secret parameters redacted
    /// ([`redact_url`]), then every configured secret.
    pub fn url(&self, url: &Url) -> String {
        self.text(&redact_url(url.as_str()))
    }

    /// The error with every secret removed from its message.
    pub fn error(&self, e: Error) -> Error {
        if self.needles.read().expect("redactor lock").is_empty() {
            return e;
        }
        e.map_message(|m| self.text(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_in_plain_and_url_encoded_form() {
        let r = Redactor::new(["s3cr et/+key", "ab"]);
        let shown = r.text("key=s3cr%20et%2F%2Bkey&raw=s3cr et/+key&form=s3cr+et%2F%2Bkey ab");
        assert_eq!(shown, "key=***&raw=***&form=*** ab");
    }

    #[test]
    fn tokens_learnt_later_are_redacted_too() {
        let r = Redactor::new([]);
        assert_eq!(r.text("Bearer tok-123456"), "Bearer tok-123456");
        r.add("tok-123456");
        assert_eq!(r.text("Bearer tok-123456"), "Bearer ***");
    }

    #[test]
    fn a_secret_in_an_unknown_parameter_is_redacted_in_urls() {
        let r = Redactor::new(["k-9f8e7d"]);
        let u = Url::parse("https://api.example.com/items?cursor=2&sig=k-9f8e7d").unwrap();
        assert_eq!(r.url(&u), "https://api.example.com/items?cursor=2&sig=***");
    }

    #[test]
    fn only_listed_origins_get_credentials() {
        let base = Url::parse("https://api.example.com/v1/").unwrap();
        let scope = AuthScope::new(
            &base,
            ["https://files.example.com/dl", "orders/{id}"],
            &["http://localhost:8080".to_string()],
        )
        .unwrap();
        let ok = |u: &str| scope.allows(&Url::parse(u).unwrap());
        assert!(ok("https://api.example.com/v1/orders?page=2"));
        assert!(ok("https://files.example.com/other"));
        assert!(ok("http://localhost:8080/x"));
        assert!(!ok("http://api.example.com/v1/orders"), "another scheme");
        assert!(
            !ok("https://api.example.com:8443/v1/orders"),
            "another port"
        );
        assert!(!ok("https://evil.example.net/v1/orders"));
        let err = AuthScope::new(&base, [], &["api.example.com".to_string()]).unwrap_err();
        assert!(err.to_string().contains("client.auth_origins[0]"), "{err}");
    }
}
