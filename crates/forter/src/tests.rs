//! Unit tests of the preset: the REST config it builds, and its config errors.

use super::*;
use serde_json::json;

fn secrets(text: &str) -> ConfigSection {
    ConfigSection::from_table(
        "sources.forter_order_v3_source",
        text.parse().expect("toml"),
    )
}

fn from_toml(text: &str) -> ForterConfig {
    ForterConfig::from_toml(toml::Value::Table(text.parse().unwrap())).unwrap()
}

fn names(rest: &sluice_rest::RestApiConfig) -> Vec<String> {
    rest.resources
        .iter()
        .map(|r| r.0.name.clone().unwrap())
        .collect()
}

#[test]
fn missing_credentials_say_where_to_put_them() {
    let cfg = ForterConfig {
        order_ids: vec!["1".into()],
        ..ForterConfig::default()
    };
    let err = forter_source(DEFAULT_SOURCE_NAME, cfg.clone(), &secrets(""))
        .unwrap_err()
        .to_string();
    assert!(err.contains("[sources.forter_order_v3_source]"), "{err}");
    assert!(
        err.contains("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY"),
        "{err}"
    );
    assert!(
        err.contains("SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID"),
        "{err}"
    );
    let err = forter_source(
        DEFAULT_SOURCE_NAME,
        cfg,
        &secrets("api_key = \"very-secret-key\""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("missing site_id"), "{err}");
    assert!(!err.contains("very-secret-key"), "{err}");
    assert!(!err.contains("API_KEY"), "{err}");
}

#[test]
fn builds_orders_with_forter_headers_and_defaults() {
    let cfg = from_toml(
        r#"
        type = "forter"
        base_url = "https://{site_id}.api.forter-secure.com"
        order_ids = ["100", "a/b"]
        "#,
    );
    let rest =
        forter_rest_config("f", &cfg, &secrets("api_key = \"k\"\nsite_id = \"site1\"")).unwrap();
    assert_eq!(rest.client.base_url, "https://site1.api.forter-secure.com");
    assert_eq!(rest.client.headers["Content-Type"], "application/json");
    assert_eq!(rest.request_timeout, 2.0);
    assert_eq!(rest.max_attempts, 2);
    assert_eq!(rest.rate_limit, Some(DEFAULT_RATE_LIMIT));
    assert!(!rest.retry_post);
    assert_eq!(names(&rest), [ORDER_IDS_RESOURCE, "orders"]);
    let ids: Vec<Value> = rest.resources[0]
        .0
        .items
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| v.0.clone())
        .collect();
    assert_eq!(
        ids,
        [json!({"id": "100"}), json!({"id": "a%2Fb"})],
        "ids are encoded as path segments"
    );
    assert_eq!(rest.resources[0].0.selected, Some(false));
    let ep = rest.resources[1].0.endpoint.as_ref().unwrap();
    assert_eq!(
        ep.path.as_deref(),
        Some("v3/orders/{resources.order_ids.id}")
    );
    assert_eq!(ep.headers["x-forter-siteid"], "site1");
    assert_eq!(ep.headers["api-version"], DEFAULT_API_VERSION);
    assert!(!format!("{rest:?}").contains("\"k\""));
}

#[test]
fn push_resources_post_each_item_with_the_templated_body() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("statuses.jsonl");
    std::fs::write(&file, "{\"orderId\": \"1\", \"updatedStatus\": \"SENT\"}\n").unwrap();
    let cfg = from_toml(&format!(
        r#"
        order_ids = ["1"]
        resources = ["decisions", "order_status"]
        retry_unsafe_posts = true
        rate_limit = 3
        [decisions]
        from = "orders"
        [order_status]
        items_file = {file:?}
        body = {{ orderId = "{{item.orderId}}", updatedStatus = "{{item.updatedStatus}}", note = "{{{{literal}}}}" }}
        "#
    ));
    let rest = forter_rest_config("f", &cfg, &secrets("api_key = \"k\"\nsite_id = \"s\"")).unwrap();
    assert!(rest.retry_post);
    assert_eq!(rest.rate_limit, Some(3.0));
    assert_eq!(
        names(&rest),
        [
            ORDER_IDS_RESOURCE,
            "orders",
            "decisions",
            "order_status_input",
            "order_status"
        ]
    );
    // `orders` feeds the decisions without being loaded itself.
    assert_eq!(rest.resources[1].0.selected, Some(false));
    let d = &rest.resources[2].0;
    let ep = d.endpoint.as_ref().unwrap();
    assert_eq!(
        ep.path.as_deref(),
        Some("v3/orders/{resources.orders.orderId}")
    );
    assert_eq!(ep.json.as_ref().unwrap().0, json!("{resources.orders.$}"));
    assert_eq!(
        d.include_from_parent.as_deref(),
        Some(&["orderId".to_string()][..])
    );
    assert_eq!(
        d.primary_key.as_ref().unwrap().0,
        ["_orders_orderId".to_string()]
    );
    let s = &rest.resources[4].0;
    let ep = s.endpoint.as_ref().unwrap();
    assert_eq!(
        ep.path.as_deref(),
        Some("v2/status/{resources.order_status_input.orderId}")
    );
    assert_eq!(
        ep.json.as_ref().unwrap().0,
        json!({"orderId": "{resources.order_status_input.orderId}",
               "updatedStatus": "{resources.order_status_input.updatedStatus}",
               "note": "{{literal}}"})
    );
    assert_eq!(rest.resources[3].0.items.as_ref().unwrap().len(), 1);
    // The source builds (placeholders and parents check out).
    let src = forter_source("f", cfg, &secrets("api_key = \"k\"\nsite_id = \"s\"")).unwrap();
    let tables: Vec<String> = src
        .resources()
        .iter()
        .map(|h| h.table().to_string())
        .collect();
    assert_eq!(tables, ["decisions", "order_status"]);
}

#[test]
fn push_resources_never_invent_a_body() {
    let s = secrets("api_key = \"k\"\nsite_id = \"s\"");
    let err = forter_rest_config("f", &from_toml("resources = [\"order_status\"]"), &s)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'order_status'") && err.contains("items_file") && err.contains("from"),
        "{err}"
    );
    let err = forter_rest_config("f", &from_toml("[decisions]\nfrom = \"payments\""), &s)
        .unwrap_err()
        .to_string();
    assert!(err.contains("only from `orders`"), "{err}");
    let err = forter_rest_config("f", &from_toml("[decisions]\nfrom = \"orders\""), &s)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no order ids"), "{err}");
    let err = forter_rest_config("f", &ForterConfig::default(), &s)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nothing to load"), "{err}");
    let err = ForterConfig::from_toml(toml::Value::Table(
        "[decisions]\nitems_fil = \"x\"".parse().unwrap(),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("items_fil") && err.contains("decisions"),
        "{err}"
    );
}

#[test]
fn tokenization_has_its_own_host_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cards.jsonl");
    std::fs::write(&file, "{\"cardNumber\": \"4111111111111111\"}\n").unwrap();
    let cfg = from_toml(&format!(
        "[tokenization]\nitems_file = {file:?}\npath = \"tokens\"\nbase_url = \"http://127.0.0.1:9/v1\""
    ));
    let err = forter_rest_config("f", &cfg, &secrets("api_key = \"k\"\nsite_id = \"s\""))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokenization_secret") && err.contains("SOURCES__F__TOKENIZATION_SECRET"),
        "{err}"
    );
    let rest = forter_rest_config(
        "f",
        &cfg,
        &secrets("api_key = \"k\"\nsite_id = \"s\"\ntokenization_site_id = \"pci\"\ntokenization_secret = \"pci-secret\""),
    )
    .unwrap();
    let t = &rest.resources[1].0;
    let ep = t.endpoint.as_ref().unwrap();
    assert_eq!(ep.path.as_deref(), Some("http://127.0.0.1:9/v1/tokens"));
    assert!(ep.headers.is_empty(), "no Forter headers to the PCI host");
    assert!(matches!(
        ep.auth,
        Some(sluice_rest::AuthConfig::HttpBasic { .. })
    ));
    assert!(!format!("{rest:?}").contains("pci-secret"));
    let err = forter_rest_config(
        "f",
        &from_toml(&format!("[tokenization]\nitems_file = {file:?}")),
        &secrets("api_key = \"k\"\nsite_id = \"s\"\ntokenization_secret = \"x\""),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("set `path`"), "{err}");
}

#[test]
fn health_and_section_overrides() {
    let cfg = from_toml("resources = [\"health\"]\nhealth_path = \"ping\"");
    let rest = forter_rest_config(
        "f",
        &cfg,
        &secrets(
            "api_key = \"k\"\nsite_id = \"s\"\nbase_url = \"http://127.0.0.1:1\"\napi_version = \"2.36\"",
        ),
    )
    .unwrap();
    assert_eq!(rest.client.base_url, "http://127.0.0.1:1");
    let ep = rest.resources[0].0.endpoint.as_ref().unwrap();
    assert_eq!(ep.path.as_deref(), Some("ping"));
    assert_eq!(ep.headers["api-version"], "2.36");
    let err = ForterConfig::from_toml(toml::Value::Table("order_idz = []".parse().unwrap()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("order_idz"), "{err}");
}

#[test]
fn order_ids_file_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.txt");
    std::fs::write(&path, "# ids\n1\n\n 2 \n1\n").unwrap();
    let cfg = ForterConfig {
        order_ids: vec!["3".into()],
        order_ids_file: Some(path),
        ..ForterConfig::default()
    };
    assert_eq!(cfg.resolve_order_ids().unwrap(), ["3", "1", "2"]);
}
