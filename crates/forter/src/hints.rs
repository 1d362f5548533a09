//! What to do about Forter's refusals: a sentence added to a request error that Forter
//! answered with 401 or 400, naming the settings of the source that fix it.

use crate::account::env_prefix;
use sluice_core::Error;

/// The resource an error of the REST source names (`resource 'x': …`).
fn resource_of(message: &str) -> Option<&str> {
    let rest = &message[message.find("resource '")? + "resource '".len()..];
    Some(&rest[..rest.find('\'')?])
}

/// `e` with a hint when Forter answered 401 or 400; other errors are returned as they are.
pub(crate) fn with_hint(source: &str, e: Error) -> Error {
    let message = e.message();
    let resource = resource_of(message).unwrap_or("").to_string();
    let env = env_prefix(source);
    let hint = if message.contains("failed with status 401") {
        if resource == "tokenization" {
            format!(
                "the tokenization API refused its credentials: check tokenization_site_id and \
                 tokenization_secret under [sources.{source}] in .sluice/secrets.toml (or \
                 {env}__TOKENIZATION_SECRET); they are not the API key"
            )
        } else {
            format!(
                "Forter refused the credentials: the API key is the HTTP Basic user (empty \
                 password) and site_id must be the site of that key (test and production \
                 differ); check api_key and site_id under [sources.{source}] in \
                 .sluice/secrets.toml (or {env}__API_KEY and {env}__SITE_ID)"
            )
        }
    } else if message.contains("failed with status 400") {
        if resource.is_empty() || resource == "orders" || resource == "health" {
            format!(
                "Forter refused the request: check api_version (per account; \
                 {env}__API_VERSION) and the message above"
            )
        } else {
            format!(
                "Forter refused the request built for '{resource}': check the `body` template \
                 and the items of [source.{resource}] against the field the message above names, \
                 and api_version (per account; {env}__API_VERSION)"
            )
        }
    } else {
        return e;
    };
    e.map_message(|m| format!("{m}. What to do: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_settings() {
        let e = with_hint(
            "f",
            Error::config(
                "resource 'decisions': POST http://h/v3/orders/1 failed with status 401 Unauthorized: x",
            ),
        )
        .to_string();
        assert!(
            e.contains("resource 'decisions'") && e.contains("SOURCES__F__API_KEY"),
            "{e}"
        );
        let e = with_hint(
            "f",
            Error::config("resource 'order_status': POST u failed with status 400 Bad Request: x"),
        )
        .to_string();
        assert!(
            e.contains("[source.order_status]") && e.contains("body"),
            "{e}"
        );
        let e = with_hint(
            "f",
            Error::config("resource 'tokenization': POST u failed with status 401 Unauthorized"),
        )
        .to_string();
        assert!(e.contains("tokenization_secret"), "{e}");
        let e = with_hint("f", Error::config("resource 'a': timed out")).to_string();
        assert!(!e.contains("What to do"), "{e}");
    }
}
