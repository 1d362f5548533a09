//! The REST API source against the local test server: paginators, auth, parent/child,
//! incremental, HTTP faults, rate limit.

use futures::StreamExt;
use serde_json::{Value, json};
use sluice_core::{ConfigSection, Source, SourceEvent};
use sluice_integration_tests::rest_server::{self, RestServer};
use sluice_rest::{RestApiConfig, RestApiSource};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a run produced.
#[derive(Debug, Default)]
struct Run {
    pages: Vec<(String, Vec<Value>)>,
    state: Option<Value>,
}

impl Run {
    fn items(&self, resource: &str) -> Vec<Value> {
        self.pages
            .iter()
            .filter(|(r, _)| r == resource)
            .flat_map(|(_, i)| i.clone())
            .collect()
    }
    fn ids(&self, resource: &str, key: &str) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .items(resource)
            .iter()
            .map(|i| i[key].as_u64().unwrap())
            .collect();
        ids.sort();
        ids
    }
}

fn source(config: Value, secrets: &str) -> sluice_core::Result<RestApiSource> {
    let cfg = RestApiConfig::from_json(&config)?;
    let section = ConfigSection::from_table("sources.test", secrets.parse().unwrap());
    RestApiSource::new("test", cfg, &section)
}

async fn run_source(src: RestApiSource, state: Value) -> sluice_core::Result<Run> {
    let mut stream = Box::new(src).extract(state);
    let mut run = Run::default();
    while let Some(ev) = stream.next().await {
        match ev? {
            SourceEvent::Page { resource, items } => run.pages.push((resource, items)),
            SourceEvent::Batch { resource, .. } => {
                panic!("the REST source sent a batch for {resource}")
            }
            SourceEvent::State(s) => run.state = Some(s),
        }
    }
    Ok(run)
}

async fn run(config: Value) -> sluice_core::Result<Run> {
    run_source(source(config, "")?, Value::Null).await
}

fn all_ids() -> Vec<u64> {
    (1..=rest_server::ITEM_COUNT).collect()
}

fn one(server: &RestServer, endpoint: Value) -> Value {
    json!({
        "client": {"base_url": server.url()},
        "backoff_factor": 0.01,
        "resources": [{"name": "items", "endpoint": endpoint}],
    })
}

// ---------------------------------------------------------------- paginators

#[tokio::test]
async fn page_number_paginator_stops_at_total_pages() {
    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/page_number", "params": {"per_page": 10},
        "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"}}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert_eq!(s.requests(), 10);
}

#[tokio::test]
async fn offset_paginator_with_total_and_with_empty_page_stop() {
    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/offset", "paginator": {"type": "offset", "limit": 20}}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert_eq!(s.requests(), 5);
    assert!(
        s.log()[0].contains("offset=0") && s.log()[0].contains("limit=20"),
        "{:?}",
        s.log()
    );

    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/offset_no_total",
        "paginator": {"type": "offset", "limit": 10, "total_path": ""}}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert_eq!(s.requests(), 11, "10 full pages, then one empty page stops");

    // dlt: a configured total_path that is missing is an error.
    let s = RestServer::start().await;
    let err = run(one(
        &s,
        json!({"path": "items/offset_no_total", "paginator": {"type": "offset", "limit": 10}}),
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("total") && err.contains("items"), "{err}");

    // maximum_offset stops early.
    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/offset",
        "paginator": {"type": "offset", "limit": 10, "maximum_offset": 30}}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), (1..=30).collect::<Vec<_>>());
}

#[tokio::test]
async fn json_link_paginator_absolute_and_relative() {
    let s = RestServer::start().await;
    let r = run(one(&s, json!({"path": "items/json_link", "paginator": {"type": "json_link", "next_url_path": "next"}})))
        .await
        .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/json_link", "params": {"relative": 1},
        "paginator": {"type": "json_link", "next_url_path": "$['next']"}}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert_eq!(s.requests(), 10);
}

#[tokio::test]
async fn header_link_paginator() {
    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/header_link", "paginator": "header_link"}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert_eq!(s.requests(), 10);
}

#[tokio::test]
async fn cursor_paginator_query_param_and_has_more() {
    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/cursor",
        "paginator": {"type": "cursor", "cursor_path": "cursors.next", "cursor_param": "cursor"}}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert!(s.log()[1].contains("cursor=c10"), "{:?}", s.log());

    // The cursor is always present; has_more ("true"/"false" strings) stops.
    let s = RestServer::start().await;
    let r = run(one(&s, json!({"path": "items/has_more",
        "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "after", "has_more_path": "has_more"}})))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert_eq!(s.requests(), 10);
}

#[tokio::test]
async fn post_endpoints_with_cursor_and_page_in_the_json_body() {
    let s = RestServer::start().await;
    let r = run(one(&s, json!({"path": "items/search", "method": "POST",
        "json": {"filter": {"group": 1}, "page": {"size": 7}},
        "data_selector": "result.hits",
        "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_body_path": "page.cursor"}})))
    .await
    .unwrap();
    let expected: Vec<u64> = (1..=rest_server::ITEM_COUNT)
        .filter(|i| i % 3 == 1)
        .collect();
    assert_eq!(r.ids("items", "id"), expected);
    assert_eq!(s.requests() as usize, expected.len().div_ceil(7));
    assert!(
        !s.log().iter().any(|l| l.contains("cursor=")),
        "cursor goes in the body, not the query"
    );

    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/post_pages", "method": "POST",
        "paginator": {"type": "page_number", "page_body_path": "page", "total_path": "total"}}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert_eq!(s.requests(), 5);
}

#[tokio::test]
async fn single_page_and_auto_detection() {
    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "items/page_number", "paginator": "single_page"}),
    ))
    .await
    .unwrap();
    assert_eq!(r.ids("items", "id"), (1..=10).collect::<Vec<_>>());
    assert_eq!(s.requests(), 1);

    // No paginator: detected from the first response, in dlt's order.
    for path in ["items/header_link", "items/json_link", "items/cursor"] {
        let s = RestServer::start().await;
        let r = run(one(&s, json!({"path": path}))).await.unwrap();
        assert_eq!(r.ids("items", "id"), all_ids(), "{path}");
    }
    let s = RestServer::start().await;
    let r = run(one(&s, json!({"path": "items/single"}))).await.unwrap();
    assert_eq!(r.ids("items", "id"), vec![1, 2, 3, 4, 5]);
    assert_eq!(s.requests(), 1);
}

#[tokio::test]
async fn data_selector_paths_and_auto_detection() {
    let s = RestServer::start().await;
    // Bracket escapes and `$`.
    let r = run(one(&s, json!({"path": "items/search", "method": "POST", "json": {"filter": {"group": 0}, "page": {"size": 100}},
        "data_selector": "$['result']['hits']", "paginator": "single_page"})))
    .await
    .unwrap();
    assert_eq!(r.items("items").len(), 31);
    // Auto-detected: the first list under a known key (`data`), not `result.hits`-like others.
    let r = run(one(
        &s,
        json!({"path": "items/page_number", "paginator": "single_page"}),
    ))
    .await
    .unwrap();
    assert_eq!(
        r.items("items")[0],
        json!({"id": 1, "name": "item 1", "updated_at": 1, "group": 1})
    );
    // Auto-detected: a nested list under an unknown key is taken when it is the only one.
    let r = run(one(&s, json!({"path": "items/search", "method": "POST", "json": {"filter": {"group": 2}, "page": {"size": 100}},
        "paginator": "single_page"})))
    .await
    .unwrap();
    assert_eq!(r.items("items").len(), 32);
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn http_basic_with_api_key_as_user_and_empty_password() {
    let s = RestServer::start().await;
    let cfg = json!({"client": {"base_url": s.url(), "auth": {"type": "http_basic"}},
        "resources": [{"name": "items", "endpoint": "auth/basic/items"}]});
    // The key comes from [sources.test] (where SOURCES__TEST__API_KEY lands).
    let src = source(
        cfg.clone(),
        &format!("api_key = \"{}\"", rest_server::BASIC_USER),
    )
    .unwrap();
    let r = run_source(src, Value::Null).await.unwrap();
    assert_eq!(r.items("items").len(), 3);
    // Inline config works too; a wrong user is a 401 naming the resource.
    let cfg2 = json!({"client": {"base_url": s.url(), "auth": {"type": "http_basic", "username": rest_server::BASIC_USER, "password": ""}},
        "resources": [{"name": "items", "endpoint": "auth/basic/items"}]});
    assert_eq!(run(cfg2).await.unwrap().items("items").len(), 3);
    let src = source(cfg, "api_key = \"wrong\"").unwrap();
    let err = run_source(src, Value::Null).await.unwrap_err().to_string();
    assert!(
        err.contains("401") && err.contains("'items'") && err.contains("/auth/basic/items"),
        "{err}"
    );
    assert!(!err.contains("wrong"), "{err}");
}

#[tokio::test]
async fn bearer_and_api_key_auth() {
    let s = RestServer::start().await;
    let cfg = json!({"client": {"base_url": s.url(), "auth": {"token": rest_server::BEARER_TOKEN}},
        "resources": [{"name": "items", "endpoint": "auth/bearer/items"}]});
    assert_eq!(run(cfg).await.unwrap().items("items").len(), 3);
    let cfg = json!({"client": {"base_url": s.url(), "auth": "bearer"},
        "resources": [{"name": "items", "endpoint": "auth/bearer/items"}]});
    let src = source(
        cfg.clone(),
        &format!("token = \"{}\"", rest_server::BEARER_TOKEN),
    )
    .unwrap();
    assert_eq!(
        run_source(src, Value::Null)
            .await
            .unwrap()
            .items("items")
            .len(),
        3
    );
    let err = source(cfg, "").unwrap_err().to_string();
    assert!(
        err.contains("token") && err.contains("SOURCES__TEST__TOKEN"),
        "{err}"
    );

    let cfg = json!({"client": {"base_url": s.url(), "auth": {"type": "api_key", "name": "X-API-Key", "api_key": rest_server::API_KEY}},
        "resources": [{"name": "items", "endpoint": "auth/api_key_header/items"}]});
    assert_eq!(run(cfg).await.unwrap().items("items").len(), 3);
    let cfg = json!({"client": {"base_url": s.url(), "auth": {"type": "api_key", "name": "api_key", "location": "query"}},
        "resources": [{"name": "items", "endpoint": "auth/api_key_query/items"}]});
    let src = source(
        cfg.clone(),
        &format!("api_key = \"{}\"", rest_server::API_KEY),
    )
    .unwrap();
    assert_eq!(
        run_source(src, Value::Null)
            .await
            .unwrap()
            .items("items")
            .len(),
        3
    );
    let src = source(cfg, "api_key = \"not-the-key\"").unwrap();
    let err = run_source(src, Value::Null).await.unwrap_err().to_string();
    assert!(err.contains("401") && !err.contains("not-the-key"), "{err}");
}

#[tokio::test]
async fn oauth2_token_is_cached_and_refreshed_before_expiry() {
    let s = RestServer::start().await;
    s.state.token_ttl_s.store(1, Ordering::Relaxed);
    let cfg = json!({"client": {"base_url": s.url(), "auth": {"type": "oauth2_client_credentials",
            "access_token_url": format!("{}/oauth/token", s.url()), "client_id": rest_server::CLIENT_ID}},
        "rate_limit": 6,
        "resources": [{"name": "items", "endpoint": {"path": "auth/oauth/items", "paginator": "json_link"}}]});
    let src = source(
        cfg,
        &format!("client_secret = \"{}\"", rest_server::CLIENT_SECRET),
    )
    .unwrap();
    let r = run_source(src, Value::Null).await.unwrap();
    assert_eq!(r.ids("items", "id"), (1..=10).collect::<Vec<_>>());
    let issued = s.state.tokens_issued.load(Ordering::Relaxed);
    assert!((2..=4).contains(&issued), "tokens issued: {issued}");
    let data_requests = s
        .log()
        .iter()
        .filter(|l| l.starts_with("/auth/oauth"))
        .count();
    assert_eq!(
        data_requests, 10,
        "no request was sent with an expired token"
    );
}

// ---------------------------------------------------------------- parent / child

fn users_and_posts(s: &RestServer, extra: Value) -> Value {
    let mut cfg = json!({
        "client": {"base_url": s.url()},
        "backoff_factor": 0.01,
        "resources": [
            {"name": "users", "endpoint": {"path": "users", "data_selector": "users",
                "paginator": {"type": "offset", "limit": 5}}, "primary_key": "id"},
            {"name": "posts", "include_from_parent": ["id", "login"],
             "endpoint": {"path": "users/{resources.users.id}/posts",
                "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"}}},
        ]
    });
    for (k, v) in extra.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    cfg
}

#[tokio::test]
async fn parent_child_with_include_from_parent() {
    let s = RestServer::start().await;
    let src = source(users_and_posts(&s, json!({})), "").unwrap();
    let hints = src.resources();
    assert_eq!(
        hints.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        vec!["users", "posts"]
    );
    assert_eq!(hints[0].primary_key, vec!["id".to_string()]);
    let r = run_source(src, Value::Null).await.unwrap();
    assert_eq!(
        r.ids("users", "id"),
        (1..=rest_server::USER_COUNT).collect::<Vec<_>>()
    );
    let posts = r.items("posts");
    assert_eq!(posts.len(), 36);
    for p in &posts {
        let uid = p["_users_id"].as_u64().unwrap();
        assert_eq!(p["post_id"].as_u64().unwrap() / 100, uid);
        assert_eq!(p["_users_login"], json!(format!("user{uid}")));
    }
    // Pages of 2 items: each user's posts come in 2 pages.
    assert_eq!(r.pages.iter().filter(|(n, _)| n == "posts").count(), 24);
}

#[tokio::test]
async fn child_placeholders_in_params_json_headers_and_single_entity() {
    let s = RestServer::start().await;
    let cfg = json!({
        "client": {"base_url": s.url(), "headers": {"X-Client": "sluice"}},
        "resources": [
            {"name": "users", "endpoint": {"path": "users", "params": {"limit": 4}, "paginator": {"type": "offset", "limit": 4}}},
            {"name": "echo", "endpoint": {"path": "echo", "method": "POST",
                "params": {"uid": "{resources.users.id}"},
                "headers": {"X-User": "{resources.users.login}"},
                "json": {"user": "{resources.users.id}", "slug": "{resources.users.profile.slug}", "text": "id={resources.users.id}"},
                "paginator": "single_page", "data_selector": "$"}},
            {"name": "user_detail", "endpoint": "users/{resources.users.id}"},
        ]
    });
    let r = run(cfg).await.unwrap();
    let echo = r.items("echo");
    assert_eq!(echo.len(), 12);
    let e = echo
        .iter()
        .find(|e| e["query"]["uid"] == json!("3"))
        .unwrap();
    assert_eq!(e["headers"]["x-user"], json!("user3"));
    assert_eq!(e["headers"]["x-client"], json!("sluice"));
    assert_eq!(e["body"], json!({"user": 3, "slug": "u-3", "text": "id=3"}));
    // Single entity: `$` selector and no pagination, one row per parent.
    assert_eq!(
        r.ids("user_detail", "id"),
        (1..=rest_server::USER_COUNT).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn child_requests_run_concurrently_and_bounded() {
    let s = RestServer::start().await;
    s.state.latency_ms.store(100, Ordering::Relaxed);
    let cfg = json!({
        "client": {"base_url": s.url()},
        "max_concurrency": 4,
        "resources": [
            {"name": "users", "selected": false, "endpoint": {"path": "users", "paginator": {"type": "offset", "limit": 12}}},
            {"name": "details", "endpoint": {"path": "slow_items/{resources.users.id}", "data_selector": "$"}},
        ]
    });
    let started = Instant::now();
    let r = run(cfg).await.unwrap();
    let took = started.elapsed();
    assert_eq!(r.ids("details", "id"), (1..=12).collect::<Vec<_>>());
    assert!(
        r.items("users").is_empty(),
        "an unselected parent feeds children but emits nothing"
    );
    let max = s.state.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=4).contains(&max), "max in flight {max}");
    // 12 × 100 ms one by one would take 1.2 s; 4 at a time about 0.3 s.
    assert!(took < Duration::from_millis(900), "took {took:?}");
    assert!(took >= Duration::from_millis(280), "took {took:?}");
}

#[tokio::test]
async fn missing_parent_field_names_the_available_fields() {
    let s = RestServer::start().await;
    let cfg = json!({"client": {"base_url": s.url()}, "resources": [
        {"name": "users", "endpoint": {"path": "users", "paginator": {"type": "offset", "limit": 12}}},
        {"name": "posts", "endpoint": "users/{resources.users.uuid}/posts"}]});
    let err = run(cfg).await.unwrap_err().to_string();
    assert!(
        err.contains("'posts'") && err.contains("uuid") && err.contains("login"),
        "{err}"
    );
}

// ---------------------------------------------------------------- incremental

fn event(id: u64, ts: &str) -> Value {
    json!({"id": id, "updated_at": ts})
}

fn events_config(s: &RestServer, incremental: Value, params: Value) -> Value {
    json!({
        "client": {"base_url": s.url()},
        "resources": [{"name": "events", "primary_key": "id", "endpoint": {"path": "events",
            "params": params, "incremental": incremental,
            "paginator": {"type": "page_number", "base_page": 1, "total_path": "", "has_more_path": "has_more"}}}]
    })
}

#[tokio::test]
async fn incremental_cursor_state_and_boundary_dedup() {
    let s = RestServer::start().await;
    let mut evs: Vec<Value> = (1..=5).map(|i| event(i, "2023-12-31T00:00:00Z")).collect();
    evs.extend((6..=25).map(|i| event(i, &format!("2024-01-{:02}T00:00:00Z", i - 5))));
    evs.push(event(26, "2024-01-20T00:00:00Z")); // shares the last value with id 25
    s.set_events(evs.clone());
    let cfg = events_config(
        &s,
        json!({"cursor_path": "updated_at", "initial_value": "2024-01-01T00:00:00Z"}),
        json!({"since": "{incremental.start_value}"}),
    );
    // Run 1: the server filters by since; rows before the initial value would be dropped too.
    let r = run(cfg.clone()).await.unwrap();
    assert_eq!(r.ids("events", "id"), (6..=26).collect::<Vec<_>>());
    let state = r.state.clone().expect("state emitted");
    let inc = &state["resources"]["events"]["incremental"]["updated_at"];
    assert_eq!(inc["last_value"], json!("2024-01-20T00:00:00Z"));
    assert_eq!(inc["boundary_keys"].as_array().unwrap().len(), 2);
    assert!(
        s.log()[0].contains("since=2024-01-01T00%3A00%3A00Z"),
        "{:?}",
        s.log()
    );

    // Run 2: new rows, one at the same timestamp as the boundary; the old boundary rows come
    // back from the server (since is inclusive) and are dropped.
    evs.push(event(27, "2024-01-20T00:00:00Z"));
    evs.push(event(28, "2024-01-21T00:00:00Z"));
    s.set_events(evs.clone());
    let r2 = run_source(source(cfg.clone(), "").unwrap(), state.clone())
        .await
        .unwrap();
    assert_eq!(r2.ids("events", "id"), vec![27, 28]);
    assert!(
        s.log()
            .iter()
            .any(|l| l.contains("since=2024-01-20T00%3A00%3A00Z")),
        "{:?}",
        s.log()
    );
    let state2 = r2.state.expect("state advanced");
    assert_eq!(
        state2["resources"]["events"]["incremental"]["updated_at"]["last_value"],
        json!("2024-01-21T00:00:00Z")
    );

    // Run 3: nothing new → no rows, no state change.
    let r3 = run_source(source(cfg, "").unwrap(), state2).await.unwrap();
    assert!(r3.items("events").is_empty());
    assert!(r3.state.is_none());
}

#[tokio::test]
async fn incremental_start_param_and_end_value() {
    let s = RestServer::start().await;
    s.set_events(
        (1..=20)
            .map(|i| event(i, &format!("2024-02-{i:02}")))
            .collect(),
    );
    // Deprecated start_param: the start value goes into ?since=.
    let cfg = events_config(
        &s,
        json!({"cursor_path": "updated_at", "initial_value": "2024-02-10", "start_param": "since"}),
        json!({}),
    );
    let r = run(cfg).await.unwrap();
    assert_eq!(r.ids("events", "id"), (10..=20).collect::<Vec<_>>());
    assert!(s.log()[0].contains("since=2024-02-10"), "{:?}", s.log());
    // end_value: an open range end, and no state stored.
    let cfg = events_config(
        &s,
        json!({"cursor_path": "updated_at", "initial_value": "2024-02-03", "end_value": "2024-02-06"}),
        json!({"since": "{incremental.start_value}"}),
    );
    let r = run(cfg).await.unwrap();
    assert_eq!(r.ids("events", "id"), vec![3, 4, 5]);
    assert!(r.state.is_none());
}

#[tokio::test]
async fn boundary_keys_memory_is_bounded() {
    let s = RestServer::start().await;
    s.set_events(
        (1..=1500)
            .map(|i| event(i, "2024-03-01T00:00:00Z"))
            .collect(),
    );
    let cfg = events_config(&s, json!({"cursor_path": "updated_at"}), json!({}));
    let r = run(cfg.clone()).await.unwrap();
    assert_eq!(r.items("events").len(), 1500);
    let keys = &r.state.as_ref().unwrap()["resources"]["events"]["incremental"]["updated_at"]["boundary_keys"];
    assert_eq!(
        keys.as_array().unwrap().len(),
        1000,
        "capped at the default"
    );
    let mut small = cfg;
    small["max_boundary_keys"] = json!(10);
    let r = run(small).await.unwrap();
    let keys = &r.state.as_ref().unwrap()["resources"]["events"]["incremental"]["updated_at"]["boundary_keys"];
    assert_eq!(keys.as_array().unwrap().len(), 10);
}

// ---------------------------------------------------------------- HTTP faults

fn assert_exact_items(r: &Run) {
    assert_eq!(r.ids("items", "id"), all_ids());
    let unique: BTreeSet<u64> = r.ids("items", "id").into_iter().collect();
    assert_eq!(unique.len(), all_ids().len());
}

#[tokio::test]
async fn every_fifth_request_failing_with_429_or_503_still_yields_exact_rows() {
    for status in [429u16, 503] {
        let s = RestServer::start().await;
        s.fail_every(5, status);
        let r = run(one(
            &s,
            json!({"path": "items/page_number", "params": {"per_page": 5},
            "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"}}),
        ))
        .await
        .unwrap();
        assert_exact_items(&r);
        assert!(
            s.state.failures.load(Ordering::Relaxed) >= 4,
            "faults were injected"
        );

        // Parent/child fan-out under the same faults.
        let s = RestServer::start().await;
        s.fail_every(5, status);
        let r = run(users_and_posts(&s, json!({}))).await.unwrap();
        assert_eq!(
            r.ids("users", "id"),
            (1..=rest_server::USER_COUNT).collect::<Vec<_>>()
        );
        assert_eq!(r.items("posts").len(), 36);
        let unique: BTreeSet<u64> = r.ids("posts", "post_id").into_iter().collect();
        assert_eq!(unique.len(), 36);
    }
}

#[tokio::test]
async fn retry_after_header_is_honoured() {
    let s = RestServer::start().await;
    let started = Instant::now();
    let r = run(one(
        &s,
        json!({"path": "retry_after", "params": {"secs": 1}, "paginator": "single_page"}),
    ))
    .await
    .unwrap();
    assert_eq!(r.items("items").len(), 1);
    // Backoff alone would wait 0.01 s.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried() {
    let s = RestServer::start().await;
    let mut cfg = one(
        &s,
        json!({"path": "slow", "params": {"ms": 3000}, "paginator": "single_page"}),
    );
    cfg["request_timeout"] = json!(0.3);
    cfg["max_attempts"] = json!(2);
    let started = Instant::now();
    let err = run(cfg).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("timed out") && msg.contains("'items'") && msg.contains("/slow?ms=3000"),
        "{msg}"
    );
    assert_eq!(s.requests(), 2);
}

#[tokio::test]
async fn truncated_and_html_bodies_are_clear_errors() {
    let s = RestServer::start().await;
    let err = run(one(
        &s,
        json!({"path": "truncated", "paginator": "single_page"}),
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("truncated")
            && err.contains("'items'")
            && err.contains(&format!("{}/truncated", s.url())),
        "{err}"
    );

    let err = run(one(&s, json!({"path": "html", "paginator": "single_page"})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not JSON")
            && err.contains("text/html")
            && err.contains("/html")
            && err.contains("Maintenance"),
        "{err}"
    );

    // A body cut off by the connection is retried, then reported.
    let mut cfg = one(
        &s,
        json!({"path": "broken_stream", "paginator": "single_page"}),
    );
    cfg["max_attempts"] = json!(3);
    let before = s.requests();
    let err = run(cfg).await.unwrap_err().to_string();
    assert!(
        err.contains("'items'") && err.contains("/broken_stream"),
        "{err}"
    );
    assert_eq!(s.requests() - before, 3);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_server_errors_are() {
    let s = RestServer::start().await;
    let err = run(one(&s, json!({"path": "status/404", "params": {"token": "s3cr3t-value", "q": "x"}, "paginator": "single_page"})))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.contains("404") && msg.contains("'items'") && msg.contains("status 404 as asked"),
        "{msg}"
    );
    assert!(
        msg.contains("token=***") && !msg.contains("s3cr3t-value"),
        "{msg}"
    );
    assert!(msg.len() < 600, "body excerpt is short: {}", msg.len());
    assert_eq!(s.requests(), 1);

    let mut cfg = one(
        &s,
        json!({"path": "status/500", "paginator": "single_page"}),
    );
    cfg["max_attempts"] = json!(3);
    let err = run(cfg).await.unwrap_err();
    assert!(
        err.is_retryable() && err.to_string().contains("500"),
        "{err}"
    );
    assert_eq!(s.requests(), 4);
}

#[tokio::test]
async fn response_actions_ignore_status_or_content() {
    let s = RestServer::start().await;
    let r = run(one(
        &s,
        json!({"path": "status/404", "paginator": "single_page",
        "response_actions": [{"status_code": 404, "action": "ignore"}]}),
    ))
    .await
    .unwrap();
    assert!(r.pages.is_empty());
    let r = run(one(
        &s,
        json!({"path": "status/400", "paginator": "single_page",
        "response_actions": [{"content": "as asked", "action": "ignore"}]}),
    ))
    .await
    .unwrap();
    assert!(r.pages.is_empty());
    assert!(
        run(one(
            &s,
            json!({"path": "status/400", "paginator": "single_page",
        "response_actions": [{"content": "something else", "action": "ignore"}]})
        ))
        .await
        .is_err()
    );
}

#[tokio::test]
async fn rate_limit_is_honoured() {
    let s = RestServer::start().await;
    let mut cfg = one(
        &s,
        json!({"path": "items/page_number", "params": {"per_page": 5},
        "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"}}),
    );
    cfg["rate_limit"] = json!(50);
    let started = Instant::now();
    let r = run(cfg).await.unwrap();
    let took = started.elapsed();
    assert_exact_items(&r);
    assert_eq!(s.requests(), 19);
    // 19 requests at 50/s: 18 intervals of 20 ms.
    assert!(took >= Duration::from_millis(330), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

// ---------------------------------------------------------------- config, defaults, progress, logs

#[tokio::test]
async fn resource_defaults_merge_and_progress_counters() {
    let s = RestServer::start().await;
    let cfg = json!({
        "client": {"base_url": s.url()},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge",
            "endpoint": {"params": {"per_page": 10, "x": 1},
            "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"}}},
        "resources": [{"name": "items", "table_name": "things", "endpoint": {"path": "items/page_number", "params": {"x": 2}}}]
    });
    let src = source(cfg, "").unwrap();
    let h = &src.resources()[0];
    assert_eq!(h.table(), "things");
    assert_eq!(h.write_disposition, sluice_core::WriteDisposition::Merge);
    assert_eq!(h.primary_key, vec!["id".to_string()]);
    let progress = src.progress();
    let r = run_source(src, Value::Null).await.unwrap();
    assert_eq!(r.ids("items", "id"), all_ids());
    assert!(
        s.log()[0].contains("per_page=10") && s.log()[0].contains("x=2"),
        "{:?}",
        s.log()
    );
    let c = &progress.snapshot()[0];
    assert_eq!((c.pages, c.rows, c.requests, c.done), (10, 95, 10, true));
}

#[test]
fn config_errors_name_key_and_place() {
    let err = RestApiConfig::from_json(&json!({"client": {"base_url": "http://x"},
        "resources": [{"name": "a", "endpoint": {"path": "a", "paginator": {"type": "cursor", "cursor_pth": "x"}}}]}))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cursor_pth") && err.contains("resources[0].endpoint.paginator"),
        "{err}"
    );
    let err = RestApiConfig::from_toml_str(
        "client = { base_url = \"http://x\", timeout = 3 }\nresources = [\"a\"]",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("timeout") && err.contains("client"), "{err}");
    let err = source(json!({"client": {"base_url": "http://x"}, "resources": [{"name": "a", "include_from_parent": ["id"]}]}), "")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("include_from_parent") && err.contains("'a'"),
        "{err}"
    );
    let err = source(json!({"client": {"base_url": "http://x"}, "resources": [
        {"name": "a"}, {"name": "b"}, {"name": "c", "endpoint": "{resources.a.id}/{resources.b.id}"}]}), "")
    .unwrap_err()
    .to_string();
    assert!(err.contains("multiple parent"), "{err}");
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logged_urls_are_redacted() {
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = RestServer::start().await;
    s.fail_every(1, 503);
    let mut cfg = one(
        &s,
        json!({"path": "items/single", "params": {"api_key": "hunter2", "password": "pw-123"}, "paginator": "single_page"}),
    );
    cfg["max_attempts"] = json!(2);
    let err = run(cfg).await.unwrap_err().to_string();
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("api_key=***") && logs.contains("retrying"),
        "{logs}"
    );
    assert!(
        !logs.contains("hunter2") && !logs.contains("pw-123"),
        "{logs}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[tokio::test]
async fn toml_pipeline_section_with_env_secret_and_column_hints() {
    let s = RestServer::start().await;
    let text = format!(
        r#"
        type = "rest_api"
        rate_limit = 100
        max_attempts = 3
        [client]
        base_url = "{}"
        auth = {{ type = "http_basic" }}
        [[resources]]
        name = "items"
        write_disposition = {{ disposition = "merge", strategy = "upsert" }}
        primary_key = ["id"]
        max_table_nesting = 1
        schema_contract = "freeze"
        columns = {{ updated_at = {{ data_type = "bigint", nullable = false }} }}
        endpoint = {{ path = "auth/basic/items", paginator = "single_page" }}
        "#,
        s.url()
    );
    let cfg = RestApiConfig::from_toml_str(&text).unwrap();
    // SOURCES__TEST__API_KEY is merged into [sources.test] by the config provider.
    let provider = sluice_core::ConfigProvider::empty()
        .with_env([("SOURCES__TEST__API_KEY", rest_server::BASIC_USER)]);
    let section = provider.section(&["sources", "test"]);
    let src = RestApiSource::new("test", cfg, &section).unwrap();
    let h = &src.resources()[0];
    assert_eq!(h.merge_strategy, Some(sluice_core::MergeStrategy::Upsert));
    assert_eq!(h.max_table_nesting, Some(1));
    assert_eq!(
        h.schema_contract.unwrap().columns,
        sluice_core::ContractMode::Freeze
    );
    assert_eq!(h.columns[0].name, "updated_at");
    assert_eq!(h.columns[0].data_type, Some(sluice_core::DataType::Bigint));
    assert!(!h.columns[0].nullable);
    assert!(
        !format!("{src:?}").contains(rest_server::BASIC_USER),
        "Debug output hides secrets"
    );
    let r = run_source(src, Value::Null).await.unwrap();
    assert_eq!(r.items("items").len(), 3);
}

#[tokio::test]
async fn pages_stream_out_before_the_resource_is_complete() {
    let s = RestServer::start().await;
    let mut cfg = one(
        &s,
        json!({"path": "items/page_number", "params": {"per_page": 10},
        "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"}}),
    );
    cfg["rate_limit"] = json!(20);
    let started = Instant::now();
    let mut stream = Box::new(source(cfg, "").unwrap()).extract(Value::Null);
    let first = stream.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(matches!(first, SourceEvent::Page { ref items, .. } if items.len() == 10));
    let mut rest = 0;
    while let Some(ev) = stream.next().await {
        ev.unwrap();
        rest += 1;
    }
    let total = started.elapsed();
    assert_eq!(rest, 9);
    // 10 requests at 20/s take ≥ 0.45 s; the first page arrives after the first request.
    assert!(total >= Duration::from_millis(400), "{total:?}");
    assert!(
        first_at * 3 < total,
        "first page at {first_at:?}, all at {total:?}"
    );
}

/// A resource of configured `items` makes no request and can feed a child resource (a fixed
/// list of ids); unselected, its rows are not emitted.
#[tokio::test]
async fn configured_items_feed_a_child_without_requests() {
    let s = RestServer::start().await;
    let r = run(json!({
        "client": {"base_url": s.url()},
        "resources": [
            {"name": "ids", "items": [{"id": 3}, {"id": 7}, {"id": 11}], "selected": false},
            {"name": "user", "endpoint": {"path": "users/{resources.ids.id}"}, "include_from_parent": ["id"]}
        ]
    }))
    .await
    .unwrap();
    assert!(
        r.items("ids").is_empty(),
        "an unselected parent emits nothing"
    );
    assert_eq!(r.ids("user", "id"), vec![3, 7, 11]);
    assert_eq!(s.requests(), 3, "only the child requests");
    let both = RestApiConfig::from_json(&json!({
        "client": {"base_url": s.url()},
        "resources": [{"name": "ids", "items": [{"id": 1}], "endpoint": "users"}]
    }))
    .unwrap();
    let err = RestApiSource::new("test", both, &ConfigSection::default()).unwrap_err();
    assert!(err.to_string().contains("either `items`"), "{err}");
}

// ---------------------------------------------------------------- lazily parsed pages

/// Pages of 250 Forter orders: with a plain-key data selector the items are split off the body
/// unparsed and handed on in chunks (of 100); a wildcard selector parses whole pages. Both give
/// the same items in the same order, and the paginator still follows `next`.
#[tokio::test]
async fn lazily_parsed_pages_give_the_same_items_in_chunks() {
    use sluice_integration_tests::forter_server::{
        API_KEY, ForterServer, ForterServerConfig, SITE_ID, order_id,
    };
    let server = ForterServer::start(ForterServerConfig {
        orders: 600,
        ..ForterServerConfig::default()
    })
    .await
    .unwrap();
    let config = |selector: &str| {
        json!({
            "client": {
                "base_url": format!("{}/", server.url()),
                "auth": {"type": "http_basic", "username": API_KEY, "password": ""},
                "headers": {"x-forter-siteid": SITE_ID, "api-version": "10.1"},
                "paginator": {"type": "json_link", "next_url_path": "next"},
            },
            "resources": [{"name": "orders", "endpoint": {
                "path": "v3/orders", "params": {"page_size": 250}, "data_selector": selector,
            }}],
        })
    };
    let lazy = run(config("orders")).await.unwrap();
    let eager = run(config("orders[*]")).await.unwrap();
    let sizes = |r: &Run| r.pages.iter().map(|(_, i)| i.len()).collect::<Vec<_>>();
    assert_eq!(sizes(&lazy), [100, 100, 50, 100, 100, 50, 100]);
    assert_eq!(sizes(&eager), [250, 250, 100]);
    let lazy_items = lazy.items("orders");
    assert_eq!(lazy_items, eager.items("orders"));
    let ids: Vec<String> = lazy_items
        .iter()
        .map(|o| o["orderId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, (1..=600).map(order_id).collect::<Vec<_>>());
    assert_eq!(server.requests(), 6);
}

// ---------------------------------------------------------------- hostile APIs

/// `http://localhost:PORT`: the same test server under another origin than `s.url()`.
fn other_origin(s: &RestServer) -> String {
    format!("http://localhost:{}", s.addr.port())
}

#[tokio::test]
async fn credentials_go_only_to_the_api_origin_unless_listed() {
    let s = RestServer::start().await;
    let path = format!("hostile/cross_origin?next_base={}", other_origin(&s));
    let auths = [
        json!({"type": "http_basic", "username": rest_server::BASIC_USER, "password": ""}),
        json!({"token": rest_server::BEARER_TOKEN}),
        json!({"type": "api_key", "name": "X-API-Key", "api_key": rest_server::API_KEY}),
        json!({"type": "api_key", "name": "api_key", "location": "query", "api_key": rest_server::API_KEY}),
    ];
    for auth in &auths {
        let s = RestServer::start().await;
        let path = format!("hostile/cross_origin?next_base={}", other_origin(&s));
        let cfg = json!({"client": {"base_url": s.url(), "auth": auth},
            "resources": [{"name": "items", "endpoint": {"path": path, "paginator": {"type": "json_link", "next_url_path": "next"}}}]});
        let r = run(cfg).await.unwrap();
        assert_eq!(r.ids("items", "id"), vec![1, 2], "{auth}");
        let seen = s.credentials_seen();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen[0].0.starts_with("127.0.0.1") && seen[0].2,
            "the API's origin gets the credentials ({auth}): {seen:?}"
        );
        assert!(
            seen[1].0.starts_with("localhost") && !seen[1].2,
            "another origin gets none ({auth}): {seen:?}"
        );
    }
    // Listed in client.auth_origins, the other origin gets them.
    let s2 = RestServer::start().await;
    let path2 = format!("hostile/cross_origin?next_base={}", other_origin(&s2));
    let cfg = json!({"client": {"base_url": s2.url(), "auth": {"token": rest_server::BEARER_TOKEN},
            "auth_origins": [other_origin(&s2)]},
        "resources": [{"name": "items", "endpoint": {"path": path2, "paginator": {"type": "json_link", "next_url_path": "next"}}}]});
    run(cfg).await.unwrap();
    assert!(
        s2.credentials_seen().iter().all(|c| c.2),
        "{:?}",
        s2.credentials_seen()
    );
    // A malformed origin is a config error naming the setting.
    let cfg = json!({"client": {"base_url": s.url(), "auth_origins": ["localhost"]},
        "resources": [{"name": "items", "endpoint": path}]});
    let err = source(cfg, "").unwrap_err().to_string();
    assert!(err.contains("client.auth_origins[0]"), "{err}");
}

#[tokio::test]
async fn a_secret_echoed_into_a_next_link_is_redacted() {
    let s = RestServer::start().await;
    let key = "k-echoed-4711";
    let cfg = json!({"client": {"base_url": s.url(), "auth": {"type": "api_key", "name": "api_key", "location": "query"}},
        "backoff_factor": 0.01, "max_attempts": 1,
        "resources": [{"name": "items", "endpoint": {"path": "hostile/echo_key", "paginator": {"type": "json_link", "next_url_path": "next"}}}]});
    let src = source(cfg, &format!("api_key = \"{key}\"")).unwrap();
    let err = run_source(src, Value::Null).await.unwrap_err().to_string();
    assert!(
        s.log().iter().any(|p| p.contains(&format!("sig={key}"))),
        "the server echoed the key: {:?}",
        s.log()
    );
    assert!(
        err.contains("404") && err.contains("sig=***") && err.contains("'items'"),
        "{err}"
    );
    assert!(!err.contains(key), "{err}");
}

#[tokio::test]
async fn an_empty_200_body_is_an_error_naming_resource_and_url() {
    let s = RestServer::start().await;
    let err = run(one(
        &s,
        json!({"path": "hostile/empty_200", "paginator": "single_page"}),
    ))
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("'items'")
            && msg.contains(&format!("{}/hostile/empty_200", s.url()))
            && msg.contains("empty body"),
        "{msg}"
    );
    assert_eq!(err.kind(), sluice_core::ErrorKind::Source);
}

#[tokio::test]
async fn a_pagination_loop_is_detected_and_max_pages_bounds_pages() {
    let s = RestServer::start().await;
    let err = run(one(
        &s,
        json!({"path": "hostile/loop", "paginator": {"type": "json_link", "next_url_path": "next"}}),
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("'items'") && err.contains("loops") && err.contains("/hostile/loop?page=2"),
        "{err}"
    );
    // `hostile/loop`, `?page=2`, `?page=1`; then the link back to `?page=2` is refused.
    assert_eq!(s.requests(), 3, "{:?}", s.log());

    // max_pages stops a long listing early (and is inherited from resource_defaults).
    let s = RestServer::start().await;
    let cfg = json!({"client": {"base_url": s.url()},
        "resource_defaults": {"endpoint": {"max_pages": 3}},
        "resources": [{"name": "items", "endpoint": {"path": "items/json_link", "paginator": {"type": "json_link", "next_url_path": "next"}}}]});
    let r = run(cfg).await.unwrap();
    assert_eq!(r.ids("items", "id"), (1..=30).collect::<Vec<u64>>());
    assert_eq!(s.requests(), 3);
}

#[tokio::test]
async fn connection_refused_says_so_with_resource_and_url() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = json!({"client": {"base_url": format!("http://127.0.0.1:{port}")},
        "backoff_factor": 0.01, "max_attempts": 2,
        "resources": [{"name": "items", "endpoint": {"path": "items", "paginator": "single_page"}}]});
    let msg = run(cfg).await.unwrap_err().to_string();
    assert!(
        msg.contains("'items'")
            && msg.contains(&format!("http://127.0.0.1:{port}/items"))
            && msg.contains("could not connect")
            && msg.to_lowercase().contains("refused"),
        "{msg}"
    );
}

#[tokio::test]
async fn invalid_utf8_is_an_error_not_a_silent_replacement() {
    let s = RestServer::start().await;
    for selector in [json!("data"), json!("$.data[*]")] {
        let err = run(one(
            &s,
            json!({"path": "hostile/invalid_utf8", "paginator": "single_page", "data_selector": selector}),
        ))
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("'items'")
                && err.contains("/hostile/invalid_utf8")
                && err.contains("not valid UTF-8")
                && err.contains("offset 32"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn deeply_nested_json_names_the_resource_and_url() {
    let s = RestServer::start().await;
    for depth in [1_000, 100_000] {
        // "data" splits the page lazily; "$.data[*]" parses it whole: both paths are covered.
        for selector in [json!("data"), json!("$.data[*]")] {
            let err = run(one(
                &s,
                json!({"path": format!("hostile/deep?depth={depth}"), "paginator": "single_page", "data_selector": selector}),
            ))
            .await
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("'items'")
                    && err.contains(&format!("/hostile/deep?depth={depth}"))
                    && err.contains("nested deeper"),
                "depth {depth}, {selector}: {err}"
            );
        }
    }
}

#[tokio::test]
async fn a_post_is_not_repeated_when_the_server_may_have_accepted_it() {
    let post = |retry_post: bool| {
        move |s: &RestServer| {
            json!({"client": {"base_url": s.url()}, "backoff_factor": 0.01, "max_attempts": 3,
                "retry_post": retry_post,
                "resources": [{"name": "items", "endpoint": {"path": "items/search", "method": "POST",
                    "json": {"filter": {"group": 0}}, "paginator": "single_page"}}]})
        }
    };
    // 500 after a POST: it may have been processed; one attempt, and the error says why.
    let s = RestServer::start().await;
    s.fail_every(1, 500);
    let err = run(post(false)(&s)).await.unwrap_err().to_string();
    assert_eq!(s.requests(), 1, "{err}");
    assert!(
        err.contains("'items'") && err.contains("not retried") && err.contains("retry_post"),
        "{err}"
    );
    // 429 and 503: the server declined it; retried as usual.
    for status in [429, 503] {
        let s = RestServer::start().await;
        s.fail_every(1, status);
        let err = run(post(false)(&s)).await.unwrap_err().to_string();
        assert_eq!(s.requests(), 3, "{status}: {err}");
        assert!(!err.contains("not retried"), "{err}");
    }
    // retry_post = true: the user says repeating is safe.
    let s = RestServer::start().await;
    s.fail_every(1, 500);
    run(post(true)(&s)).await.unwrap_err();
    assert_eq!(s.requests(), 3);
    // GETs are retried on 500 whatever retry_post says.
    let s = RestServer::start().await;
    s.fail_every(1, 500);
    run(one(&s, json!({"path": "items/json_link"})))
        .await
        .unwrap_err();
    assert!(s.requests() >= 2, "{}", s.requests());
}

/// A resource's scd2 write disposition reaches its hints with dlt's settings.
#[test]
fn scd2_write_disposition_reaches_the_resource_hints() {
    let cfg = RestApiConfig::from_toml_str(
        r#"
        [client]
        base_url = "http://localhost:1"
        [[resources]]
        name = "dim"
        write_disposition = { disposition = "merge", strategy = "scd2", validity_column_names = ["from", "to"], active_record_timestamp = "9999-12-31", row_version_column_name = "row_hash" }
        "#,
    )
    .unwrap();
    let src = RestApiSource::new(
        "test",
        cfg,
        &sluice_core::ConfigProvider::empty().section(&["sources", "test"]),
    )
    .unwrap();
    let h = &src.resources()[0];
    assert_eq!(h.merge_strategy, Some(sluice_core::MergeStrategy::Scd2));
    assert_eq!(
        h.scd2.validity_column_names,
        Some(["from".to_string(), "to".to_string()])
    );
    assert_eq!(
        h.scd2.active_record_timestamp.as_deref(),
        Some("9999-12-31T00:00:00Z")
    );
    assert_eq!(h.scd2.boundary_timestamp, None);
    assert_eq!(h.scd2.row_version_column_name.as_deref(), Some("row_hash"));
}
