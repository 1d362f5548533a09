//! The Forter source against the local Forter-compatible API over real HTTP, loaded into
//! DuckDB through a pipeline: orders read from the order store, pushes (one POST per item of a
//! JSON Lines file or of `orders`, bodies as templated), tokenization on its own host, health,
//! right and wrong credentials, 400s, retries (429, 5xx and timeouts; POSTs only when safe),
//! the rate limit and timeouts.

use arrow::util::display::array_value_to_string;
use serde_json::{Value, json};
use sluice_core::{ConfigProvider, ConfigSection, Registry};
use sluice_forter::{ForterConfig, ForterResource, PushConfig, check_credentials, forter_source};
use sluice_integration_tests::forter_server::{
    self as fs, ForterServer, ForterServerConfig, order_id,
};
use sluice_pipeline::{Pipeline, PipelineOptions, RunInfo};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SOURCE: &str = "forter_order_v3_source";

struct Env {
    dir: tempfile::TempDir,
    pipeline: Pipeline,
    secrets: ConfigSection,
}

/// A pipeline into a fresh DuckDB, with the Forter credentials `(key, site)` and `extra`
/// settings of the source's section in the environment.
fn setup_with(url: &str, key: &str, site: &str, extra: &[(&str, &str)]) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = vec![
        (
            "SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY".to_string(),
            key.to_string(),
        ),
        (
            "SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID".to_string(),
            site.to_string(),
        ),
        (
            "SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL".to_string(),
            url.to_string(),
        ),
    ];
    for (k, v) in extra {
        vars.push((
            format!("SOURCES__FORTER_ORDER_V3_SOURCE__{}", k.to_uppercase()),
            v.to_string(),
        ));
    }
    let config = ConfigProvider::empty().with_env(vars);
    let mut options = PipelineOptions::new("forter_order_v3_pipeline", "duckdb");
    options.dataset_name = Some("forter_order_v3_data".into());
    options.pipelines_dir = Some(dir.path().join("pipelines"));
    options.working_dir = Some(dir.path().to_path_buf());
    options.config = Some(config.clone());
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_duckdb::DuckDbFactory));
    let pipeline = Pipeline::new(&registry, options).unwrap();
    Env {
        dir,
        pipeline,
        secrets: config.section(&["sources", SOURCE]),
    }
}

fn setup(url: &str, key: &str, site: &str) -> Env {
    setup_with(url, key, site, &[])
}

fn ids(n: u64) -> Vec<String> {
    (1..=n).map(order_id).collect()
}

/// A JSON Lines file of `items` in the test's directory.
fn jsonl(env: &Env, name: &str, items: &[Value]) -> PathBuf {
    let path = env.dir.path().join(name);
    let text: String = items.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// Status updates of orders `1..=n`, one per line.
fn statuses(n: u64) -> Vec<Value> {
    (1..=n)
        .map(|i| {
            json!({
                "orderId": order_id(i),
                "eventTime": 1_700_000_000_000u64 + i,
                "updatedStatus": fs::ORDER_STATUSES[(i % 8) as usize],
            })
        })
        .collect()
}

fn from_orders() -> Option<PushConfig> {
    Some(PushConfig {
        from: Some("orders".into()),
        ..PushConfig::default()
    })
}

fn from_file(file: PathBuf) -> Option<PushConfig> {
    Some(PushConfig {
        items_file: Some(file),
        ..PushConfig::default()
    })
}

/// Orders `1..=n` read by id, their decisions asked for with each order, their statuses sent
/// from a JSON Lines file; no rate limit (the tests of the limit set it).
fn full(env: &Env, n: u64) -> ForterConfig {
    ForterConfig {
        order_ids: ids(n),
        decisions: from_orders(),
        order_status: from_file(jsonl(env, "statuses.jsonl", &statuses(n))),
        rate_limit: None,
        ..Default::default()
    }
}

/// Only `orders`, by id, without a rate limit.
fn orders_only(n: u64) -> ForterConfig {
    ForterConfig {
        order_ids: ids(n),
        rate_limit: None,
        ..Default::default()
    }
}

async fn run(env: &mut Env, config: ForterConfig) -> sluice_core::Result<RunInfo> {
    let source = forter_source(SOURCE, config, &env.secrets)?;
    env.pipeline.run(Box::new(source)).await
}

async fn run_err(env: &mut Env, config: ForterConfig) -> String {
    format!("{:#}", run(env, config).await.unwrap_err())
}

async fn scalar(env: &Env, sql: &str) -> String {
    let mut ds = env.pipeline.dataset().await.unwrap();
    let batches = ds.query(sql).await.unwrap();
    let b = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    array_value_to_string(b.column(0), 0).unwrap()
}

fn sum(n: u64, f: fn(u64) -> u64) -> u64 {
    (1..=n).map(f).sum()
}

fn assert_rows(info: &RunInfo, n: u64) {
    let rows = info.rows_per_table();
    let get = |t: &str| rows.get(t).copied().unwrap_or(0);
    assert_eq!(get("orders"), n, "{rows:?}");
    assert_eq!(
        get("orders__cart_items"),
        sum(n, fs::cart_item_count),
        "{rows:?}"
    );
    assert_eq!(
        get("orders__payment"),
        sum(n, fs::payment_count),
        "{rows:?}"
    );
    assert_eq!(get("orders__primary_recipient__phone"), n, "{rows:?}");
    assert_eq!(
        get("orders__recommendations"),
        sum(n, fs::recommendation_count),
        "{rows:?}"
    );
    assert_eq!(get("order_status"), n, "{rows:?}");
    assert_eq!(get("decisions"), n, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loads_orders_decisions_statuses_and_exact_amounts() {
    let server = ForterServer::start(ForterServerConfig {
        orders: 12,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let c = full(&env, 12);
    let info = run(&mut env, c).await.unwrap();
    assert_rows(&info, 12);
    // Hand-counted for 12 orders: 4×1 + 4×2 + 4×3 cart items, 3 orders with two payments.
    assert_eq!(info.rows_per_table()["orders__cart_items"], 24);
    assert_eq!(info.rows_per_table()["orders__payment"], 15);
    // A GET per order, a decision POST per order, a status POST per line.
    assert_eq!(server.requests(), 36);

    // Amounts are strings and stay exact text.
    for i in [1u64, 3, 6] {
        let (usd, local, cur) = fs::total_amount(i);
        let got = scalar(
            &env,
            &format!(
                "SELECT total_amount__amount_usd || '|' || total_amount__amount_local_currency || '|' || total_amount__currency \
                 FROM forter_order_v3_data.orders WHERE order_id = '{}'",
                order_id(i)
            ),
        )
        .await;
        assert_eq!(got, format!("{usd}|{local}|{cur}"));
    }
    let ty = scalar(
        &env,
        "SELECT data_type FROM information_schema.columns WHERE table_schema = 'forter_order_v3_data' \
         AND table_name = 'orders' AND column_name = 'total_amount__amount_usd'",
    )
    .await;
    assert_eq!(ty, "VARCHAR");
    // Both decision shapes of the stored orders load: v3 `forterDecision` and v2 `action`.
    let v3 = scalar(
        &env,
        "SELECT count(forter_decision) FROM forter_order_v3_data.orders",
    )
    .await;
    assert_eq!(
        v3,
        (1..=12)
            .filter(|i| fs::has_forter_decision(*i))
            .count()
            .to_string()
    );
    let v2 = scalar(
        &env,
        "SELECT count(action) FROM forter_order_v3_data.orders",
    )
    .await;
    assert_eq!(
        v2,
        (1..=12).filter(|i| fs::has_action(*i)).count().to_string()
    );
    // Forter's answers carry the request's key.
    let keyed = scalar(
        &env,
        "SELECT count(*) FROM forter_order_v3_data.decisions WHERE _orders_order_id = order_id AND forter_decision IS NOT NULL",
    )
    .await;
    assert_eq!(keyed, "12");
    let acks = scalar(
        &env,
        "SELECT count(*) FROM forter_order_v3_data.order_status \
         WHERE message = 'Transaction: ' || _order_status_input_order_id AND status = 'success'",
    )
    .await;
    assert_eq!(acks, "12");

    // A second run merges on the keys: no duplicates.
    let c = full(&env, 12);
    let info = run(&mut env, c).await.unwrap();
    assert_rows(&info, 12);
    for t in ["orders", "decisions", "order_status"] {
        let n = scalar(
            &env,
            &format!("SELECT count(*) FROM forter_order_v3_data.{t}"),
        )
        .await;
        assert_eq!(n, "12", "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posts_one_request_per_jsonl_line_with_the_templated_body() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    // Decisions: whole orders from a file, sent as they are (the default body), here to the
    // v2 endpoint; one of them not among the served orders (Forter decides on any order).
    let mut orders: Vec<Value> = (1..=3).map(fs::order).collect();
    let mut other = fs::order(1);
    other["orderId"] = json!("shop-77");
    other["accountOwner"]["email"] = json!("decline@forter.com");
    orders.push(other);
    let decisions = PushConfig {
        items_file: Some(jsonl(&env, "orders.jsonl", &orders)),
        path: Some("v2/orders/{key}".into()),
        ..PushConfig::default()
    };
    // Statuses: the body built from each line by a template (numbers stay numbers).
    let lines: Vec<Value> = (1..=3)
        .map(|i| json!({"id": order_id(i), "state": "SENT", "at": 1_700_000_000_000u64 + i, "extra": "not sent"}))
        .collect();
    let status = PushConfig {
        items_file: Some(jsonl(&env, "statuses.jsonl", &lines)),
        key: Some("id".into()),
        body: Some(toml::Value::Table(
            r#"orderId = "{item.id}"
               updatedStatus = "{item.state}"
               eventTime = "{item.at}"
               note = "status of {key} {{as sent}}""#
                .parse()
                .unwrap(),
        )),
        ..PushConfig::default()
    };
    let info = run(
        &mut env,
        ForterConfig {
            decisions: Some(decisions),
            order_status: Some(status),
            rate_limit: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rows = info.rows_per_table();
    assert_eq!(rows["decisions"], 4, "{rows:?}");
    assert_eq!(rows["order_status"], 3, "{rows:?}");
    assert!(!rows.contains_key("orders"), "{rows:?}");
    assert_eq!(server.requests(), 7);

    let mut sent: Vec<Value> = server
        .received("/v2/orders/")
        .into_iter()
        .map(|r| r.body)
        .collect();
    sent.sort_by_key(|b| b["orderId"].to_string());
    let mut want = orders.clone();
    want.sort_by_key(|b| b["orderId"].to_string());
    assert_eq!(sent, want, "each order is sent as it is");
    let mut sent = server.received("/v2/status/");
    sent.sort_by_key(|r| r.path.clone());
    for (i, r) in (1..=3u64).zip(&sent) {
        assert_eq!(r.path, format!("/v2/status/{}", order_id(i)));
        assert_eq!(
            r.body,
            json!({"orderId": order_id(i), "updatedStatus": "SENT", "eventTime": 1_700_000_000_000u64 + i,
                   "note": format!("status of {} {{as sent}}", order_id(i))})
        );
    }
    // The v2 answers load with their key: `action` in lower case.
    let declined = scalar(
        &env,
        "SELECT action FROM forter_order_v3_data.decisions WHERE _decisions_input_order_id = 'shop-77'",
    )
    .await;
    assert_eq!(declined, "decline");
    let keyed = scalar(
        &env,
        "SELECT count(*) FROM forter_order_v3_data.order_status WHERE message = 'Transaction: ' || _order_status_input_id",
    )
    .await;
    assert_eq!(keyed, "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posts_one_request_per_row_of_the_parent_resource() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    // Only decisions are loaded; `orders` is read to feed them.
    let decisions = PushConfig {
        from: Some("orders".into()),
        body: Some(toml::Value::Table(
            r#"orderId = "{item.orderId}"
               totalAmount = "{item.totalAmount}"
               cartItems = ["{item.cartItems[0]}"]"#
                .parse()
                .unwrap(),
        )),
        ..PushConfig::default()
    };
    let info = run(
        &mut env,
        ForterConfig {
            order_ids: ids(4),
            resources: Some(vec![ForterResource::Decisions]),
            decisions: Some(decisions),
            rate_limit: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rows = info.rows_per_table();
    assert_eq!(rows["decisions"], 4, "{rows:?}");
    assert!(!rows.contains_key("orders"), "{rows:?}");
    assert_eq!(server.requests(), 8);
    let sent = server.received("/v3/orders/");
    assert_eq!(sent.len(), 4);
    for r in sent {
        let id = r.path.trim_start_matches("/v3/orders/").to_string();
        let o = fs::order(id.parse::<u64>().unwrap() - fs::FIRST_ORDER_ID);
        assert_eq!(
            r.body,
            json!({"orderId": id, "totalAmount": o["totalAmount"], "cartItems": [o["cartItems"][0]]})
        );
    }
    let keyed = scalar(
        &env,
        "SELECT count(*) FROM forter_order_v3_data.decisions WHERE _orders_order_id = order_id",
    )
    .await;
    assert_eq!(keyed, "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paginated_listing_and_ids_file() {
    let server = ForterServer::start(ForterServerConfig {
        orders: 23,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let info = run(
        &mut env,
        ForterConfig {
            order_list_path: Some("v3/orders".into()),
            page_size: Some(5),
            decisions: from_orders(),
            rate_limit: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rows = info.rows_per_table();
    assert_eq!((rows["orders"], rows["decisions"]), (23, 23), "{rows:?}");
    // 5 listing pages + a decision per order.
    assert_eq!(server.requests(), 28);

    let server = ForterServer::start(ForterServerConfig {
        orders: 6,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let file = env.dir.path().join("ids.txt");
    std::fs::write(&file, format!("# orders\n{}\n", ids(6).join("\n"))).unwrap();
    let info = run(
        &mut env,
        ForterConfig {
            order_ids_file: Some(file),
            rate_limit: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let rows = info.rows_per_table();
    assert_eq!(rows["orders"], 6);
    assert!(!rows.contains_key("decisions"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_key_and_wrong_site_fail_with_401_naming_the_resource() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let mut env = setup(&server.url(), "not-the-key", fs::SITE_ID);
    let err = run_err(&mut env, orders_only(3)).await;
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("resource 'orders'"), "{err}");
    assert!(err.contains("incorrect siteId or secret key"), "{err}");
    assert!(
        err.contains("What to do") && err.contains("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY"),
        "{err}"
    );
    assert!(!err.contains("not-the-key"), "{err}");
    let e = check_credentials(SOURCE, &orders_only(3), &env.secrets)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401") && e.contains("credentials/test"), "{e}");

    // A push resource's 401 names it.
    let mut env = setup(&server.url(), fs::API_KEY, "other-site");
    let file = jsonl(&env, "statuses.jsonl", &statuses(2));
    let err = run_err(
        &mut env,
        ForterConfig {
            order_status: from_file(file),
            ..Default::default()
        },
    )
    .await;
    assert!(
        err.contains("401") && err.contains("resource 'order_status'"),
        "{err}"
    );
    assert!(err.contains("x-forter-siteid does not match"), "{err}");
    assert!(
        err.contains("site_id under [sources.forter_order_v3_source]"),
        "{err}"
    );
    assert!(
        check_credentials(SOURCE, &orders_only(3), &env.secrets)
            .await
            .is_err()
    );

    let env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    check_credentials(SOURCE, &orders_only(3), &env.secrets)
        .await
        .unwrap();

    // Missing credentials: the error says where they go.
    let err = forter_source(SOURCE, orders_only(3), &ConfigSection::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY"),
        "{err}"
    );
    assert!(err.contains("[sources.forter_order_v3_source]"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_400_names_the_resource_and_what_to_fix() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let mut lines = statuses(1);
    lines[0]["updatedStatus"] = json!("SHIPPED");
    let file = jsonl(&env, "statuses.jsonl", &lines);
    let err = run_err(
        &mut env,
        ForterConfig {
            order_status: from_file(file),
            ..Default::default()
        },
    )
    .await;
    assert!(
        err.contains("resource 'order_status'") && err.contains("400"),
        "{err}"
    );
    assert!(err.contains("updatedStatus 'SHIPPED'"), "{err}");
    assert!(
        err.contains("What to do") && err.contains("[source.order_status]"),
        "{err}"
    );
    // Not retried: a 400 is an answer.
    assert_eq!(server.requests(), 1);

    // A body template that drops the order id: Forter's 400 says which parameter is missing.
    let file = jsonl(&env, "orders.jsonl", &[fs::order(1)]);
    let err = run_err(
        &mut env,
        ForterConfig {
            decisions: Some(PushConfig {
                items_file: Some(file),
                body: Some(toml::Value::Table(
                    "cartItems = \"{item.cartItems}\"".parse().unwrap(),
                )),
                ..PushConfig::default()
            }),
            ..Default::default()
        },
    )
    .await;
    assert!(
        err.contains("resource 'decisions'") && err.contains("missing required parameter orderId"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_api_version_is_a_400() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    // The Forter source refuses an empty api-version before sending anything.
    let env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let err = forter_source(
        SOURCE,
        ForterConfig {
            api_version: " ".into(),
            ..orders_only(1)
        },
        &env.secrets,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("api-version"), "{err}");
    assert_eq!(server.requests(), 0);

    // A client that forgets the header gets Forter's 400.
    let rest = sluice_rest::RestApiConfig::from_json(&json!({
        "client": {
            "base_url": server.url(),
            "headers": {"x-forter-siteid": fs::SITE_ID},
            "auth": {"type": "http_basic", "username": fs::API_KEY, "password": ""},
        },
        "resources": [{"name": "orders", "endpoint": {"path": format!("v3/orders/{}", order_id(1)), "data_selector": "$"}}],
    }))
    .unwrap();
    let source = sluice_rest::RestApiSource::new(SOURCE, rest, &ConfigSection::default()).unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let err = format!(
        "{:#}",
        env.pipeline.run(Box::new(source)).await.unwrap_err()
    );
    assert!(err.contains("400"), "{err}");
    assert!(err.contains("missing required header api-version"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_429_then_success_is_retried_for_gets_and_posts() {
    let server = ForterServer::start(ForterServerConfig {
        orders: 10,
        ..Default::default()
    })
    .await
    .unwrap();
    // Every request is throttled once (Retry-After: 1), then served: one retry is enough, for
    // the POSTs too (a 429 says Forter did not take the request).
    server
        .faults()
        .throttle_attempts
        .store(1, Ordering::Relaxed);
    server.faults().retry_after_s.store(1, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let started = Instant::now();
    let c = full(&env, 10);
    let info = run(&mut env, c).await.unwrap();
    assert_rows(&info, 10);
    assert_eq!(server.state.throttled.load(Ordering::Relaxed), 30);
    assert_eq!(server.requests(), 60);
    assert!(started.elapsed() >= Duration::from_secs(1));

    // A 429 and then a 503: two failures exhaust the two attempts.
    let server = ForterServer::start(ForterServerConfig {
        orders: 4,
        ..Default::default()
    })
    .await
    .unwrap();
    server
        .faults()
        .throttle_attempts
        .store(1, Ordering::Relaxed);
    server.faults().error_attempts.store(1, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let err = run_err(&mut env, orders_only(4)).await;
    assert!(
        err.contains("503") && err.contains("after 2 attempts"),
        "{err}"
    );
    // With three attempts it goes through.
    let info = run(
        &mut env,
        ForterConfig {
            max_attempts: 3,
            ..orders_only(4)
        },
    )
    .await
    .unwrap();
    assert_eq!(info.rows_per_table()["orders"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_is_not_repeated_after_a_5xx_unless_allowed() {
    for status in [500u64, 502] {
        let server = ForterServer::start(ForterServerConfig::default())
            .await
            .unwrap();
        server.faults().error_attempts.store(1, Ordering::Relaxed);
        server
            .faults()
            .error_status
            .store(status, Ordering::Relaxed);
        let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
        let file = jsonl(&env, "statuses.jsonl", &statuses(1));
        let config = |retry_post: bool| ForterConfig {
            order_status: from_file(file.clone()),
            retry_post,
            ..Default::default()
        };
        let err = run_err(&mut env, config(false)).await;
        assert_eq!(server.requests(), 1, "{status}: sent once: {err}");
        assert!(
            err.contains("resource 'order_status'")
                && err.contains(&status.to_string())
                && err.contains("not retried")
                && err.contains("retry_post = true"),
            "{err}"
        );
        // The user says repeating is safe: the second attempt loads it. (The server counts
        // attempts per request, so this run's first attempt is its second: reset it.)
        let server = ForterServer::start(ForterServerConfig::default())
            .await
            .unwrap();
        server.faults().error_attempts.store(1, Ordering::Relaxed);
        server
            .faults()
            .error_status
            .store(status, Ordering::Relaxed);
        let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
        let file = jsonl(&env, "s.jsonl", &statuses(1));
        let info = run(
            &mut env,
            ForterConfig {
                order_status: from_file(file),
                retry_post: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(info.rows_per_table()["order_status"], 1);
        assert_eq!(server.requests(), 2);
    }
    // A GET is retried after a 500 whatever retry_post says.
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    server.faults().error_attempts.store(1, Ordering::Relaxed);
    server.faults().error_status.store(500, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let info = run(&mut env, orders_only(1)).await.unwrap();
    assert_eq!(info.rows_per_table()["orders"], 1);
    assert_eq!(server.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_responses_time_out_a_get_after_its_retry_and_a_post_at_once() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    server.faults().delay_ms.store(2600, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let started = Instant::now();
    let err = run_err(&mut env, orders_only(1)).await;
    assert!(err.contains("timed out after 2.0 s"), "{err}");
    assert!(err.contains("after 2 attempts"), "{err}");
    assert!(err.contains("resource 'orders'"), "{err}");
    assert!(err.contains(&format!("v3/orders/{}", order_id(1))), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert_eq!(server.requests(), 2);

    // A POST that timed out may have been taken: it is not sent again.
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    server.faults().delay_ms.store(2600, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let file = jsonl(&env, "orders.jsonl", &[fs::order(1)]);
    let err = run_err(
        &mut env,
        ForterConfig {
            decisions: from_file(file),
            ..Default::default()
        },
    )
    .await;
    assert!(
        err.contains("resource 'decisions'")
            && err.contains("timed out after 2.0 s")
            && err.contains("not retried"),
        "{err}"
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rate_limit_is_honoured() {
    let server = ForterServer::start(ForterServerConfig {
        orders: 11,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    // The default: 10 requests per second, so 11 GETs and 11 POSTs span at least 2.1 s.
    let config = ForterConfig {
        order_ids: ids(11),
        decisions: from_orders(),
        ..Default::default()
    };
    assert_eq!(config.rate_limit, Some(10.0));
    run(&mut env, config).await.unwrap();
    let arrivals = server.state.arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 22);
    let span = *arrivals.last().unwrap() - arrivals[0];
    assert!(span >= Duration::from_millis(2050), "{span:?}");

    // Configurable: 4 per second.
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    run(
        &mut env,
        ForterConfig {
            rate_limit: Some(4.0),
            ..orders_only(5)
        },
    )
    .await
    .unwrap();
    let arrivals = server.state.arrivals.lock().unwrap().clone();
    let span = *arrivals.last().unwrap() - arrivals[0];
    assert!(span >= Duration::from_millis(950), "{span:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokenization_goes_to_its_own_host_with_its_own_credentials() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let tok_url = server.tokenization_url();
    let extra = [
        ("tokenization_site_id", fs::TOKENIZATION_SITE_ID),
        ("tokenization_secret", fs::TOKENIZATION_SECRET),
    ];
    let mut env = setup_with(&server.url(), fs::API_KEY, fs::SITE_ID, &extra);
    let cards = [
        json!({"cardId": "c1", "cardNumber": "4111111111111111", "holder": "A"}),
        json!({"cardId": "c2", "cardNumber": "4444333322221111", "holder": "B"}),
    ];
    let config = |env: &Env| ForterConfig {
        tokenization: Some(PushConfig {
            items_file: Some(jsonl(env, "cards.jsonl", &cards)),
            base_url: Some(tok_url.clone()),
            path: Some("tokens".into()),
            key: Some("cardId".into()),
            body: Some(toml::Value::Table(
                "cardNumber = \"{item.cardNumber}\"".parse().unwrap(),
            )),
            ..PushConfig::default()
        }),
        ..Default::default()
    };
    let c = config(&env);
    let info = run(&mut env, c).await.unwrap();
    assert_eq!(info.rows_per_table()["tokenization"], 2);
    assert_eq!(server.requests(), 0, "nothing went to the core API");
    assert_eq!(
        server.state.tokenization_requests.load(Ordering::Relaxed),
        2
    );
    for r in server.received("/v1/tokens") {
        assert_eq!(r.body.as_object().unwrap().len(), 1, "{:?}", r.body);
        assert!(
            !r.headers
                .iter()
                .any(|h| h == "x-forter-siteid" || h == "api-version"),
            "{:?}",
            r.headers
        );
    }
    let last4 = scalar(
        &env,
        "SELECT last_four_digits FROM forter_order_v3_data.tokenization WHERE _tokenization_input_card_id = 'c2'",
    )
    .await;
    assert_eq!(last4, "1111");

    // The core API key is not the tokenization secret: a wrong one is a 401 that says so.
    let mut env = setup_with(
        &server.url(),
        fs::API_KEY,
        fs::SITE_ID,
        &[("tokenization_secret", fs::API_KEY)],
    );
    let c = config(&env);
    let err = run_err(&mut env, c).await;
    assert!(
        err.contains("resource 'tokenization'")
            && err.contains("401")
            && err.contains("tokenization_secret"),
        "{err}"
    );
    assert!(!err.contains(fs::API_KEY), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_reads_the_credentials_test() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let config = ForterConfig {
        resources: Some(vec![ForterResource::Health]),
        ..Default::default()
    };
    let info = run(&mut env, config.clone()).await.unwrap();
    assert_eq!(info.rows_per_table()["health"], 1);
    let status = scalar(&env, "SELECT status FROM forter_order_v3_data.health").await;
    assert_eq!(status, "success");
    // Another path: the check and the resource both read it.
    let other = ForterConfig {
        health_path: "ping".into(),
        ..config
    };
    let e = check_credentials(SOURCE, &other, &env.secrets)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("404") && e.contains("/ping"), "{e}");
    let err = run_err(&mut env, other).await;
    assert!(
        err.contains("resource 'health'") && err.contains("404"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_json_fails_clearly() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    server.faults().bad_json.store(true, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let file = jsonl(&env, "orders.jsonl", &[fs::order(1)]);
    let err = run_err(
        &mut env,
        ForterConfig {
            decisions: from_file(file),
            ..Default::default()
        },
    )
    .await;
    assert!(err.contains("resource 'decisions'"), "{err}");
    assert!(err.to_lowercase().contains("json"), "{err}");
}
