//! The Forter source against the local Forter-compatible API, loaded into DuckDB through a
//! pipeline: right and wrong credentials, missing api-version, 429 storms and timeouts.

use arrow::util::display::array_value_to_string;
use sluice_core::{ConfigProvider, ConfigSection, Registry};
use sluice_forter::{ForterConfig, check_credentials, forter_source};
use sluice_integration_tests::forter_server::{
    self as fs, ForterServer, ForterServerConfig, order_id,
};
use sluice_pipeline::{Pipeline, PipelineOptions, RunInfo};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SOURCE: &str = "forter_order_v3_source";

struct Env {
    _dir: tempfile::TempDir,
    pipeline: Pipeline,
    secrets: ConfigSection,
}

/// A pipeline into a fresh DuckDB, with the Forter credentials `(key, site)` in the environment.
fn setup(url: &str, key: &str, site: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let config = ConfigProvider::empty().with_env([
        ("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY", key),
        ("SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID", site),
        ("SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL", url),
    ]);
    let mut options = PipelineOptions::new("forter_order_v3_pipeline", "duckdb");
    options.dataset_name = Some("forter_order_v3_data".into());
    options.pipelines_dir = Some(dir.path().join("pipelines"));
    options.working_dir = Some(dir.path().to_path_buf());
    options.config = Some(config.clone());
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_duckdb::DuckDbFactory));
    let pipeline = Pipeline::new(&registry, options).unwrap();
    Env {
        _dir: dir,
        pipeline,
        secrets: config.section(&["sources", SOURCE]),
    }
}

fn ids(n: u64) -> Vec<String> {
    (1..=n).map(order_id).collect()
}

async fn run(env: &mut Env, config: ForterConfig) -> sluice_core::Result<RunInfo> {
    let source = forter_source(SOURCE, config, &env.secrets)?;
    env.pipeline.run(Box::new(source)).await
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
async fn loads_orders_nested_tables_and_exact_amounts() {
    let server = ForterServer::start(ForterServerConfig {
        orders: 12,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let info = run(
        &mut env,
        ForterConfig {
            order_ids: ids(12),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_rows(&info, 12);
    // Hand-counted for 12 orders: 4×1 + 4×2 + 4×3 cart items, 3 orders with two payments.
    assert_eq!(info.rows_per_table()["orders__cart_items"], 24);
    assert_eq!(info.rows_per_table()["orders__payment"], 15);
    assert_eq!(server.requests(), 14);

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
    // Both decision shapes load: v3 `forterDecision` and v2 `action`.
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
    let both = scalar(
        &env,
        "SELECT count(*) FROM forter_order_v3_data.orders WHERE action IS NOT NULL AND forter_decision IS NOT NULL",
    )
    .await;
    assert_eq!(both, "4");

    // A second run merges on orderId: no duplicates.
    let info = run(
        &mut env,
        ForterConfig {
            order_ids: ids(12),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_rows(&info, 12);
    let n = scalar(&env, "SELECT count(*) FROM forter_order_v3_data.orders").await;
    assert_eq!(n, "12");
    let n = scalar(&env, "SELECT count(*) FROM forter_order_v3_data.decisions").await;
    assert_eq!(n, "12");
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
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_rows(&info, 23);
    // 5 listing pages + order status + decisions.
    assert_eq!(server.requests(), 7);

    let server = ForterServer::start(ForterServerConfig {
        orders: 6,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let file = env._dir.path().join("ids.txt");
    std::fs::write(&file, format!("# orders\n{}\n", ids(6).join("\n"))).unwrap();
    let info = run(
        &mut env,
        ForterConfig {
            order_ids_file: Some(file),
            resources: Some(vec![sluice_forter::ForterResource::Orders]),
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
async fn wrong_key_and_wrong_site_fail_with_401() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let cfg = || ForterConfig {
        order_ids: ids(3),
        resources: Some(vec![sluice_forter::ForterResource::Orders]),
        ..Default::default()
    };
    let mut env = setup(&server.url(), "not-the-key", fs::SITE_ID);
    let err = format!("{:#}", run(&mut env, cfg()).await.unwrap_err());
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("resource 'orders'"), "{err}");
    assert!(err.contains("incorrect siteId or secret key"), "{err}");
    assert!(!err.contains("not-the-key"), "{err}");
    let e = check_credentials(SOURCE, &cfg(), &env.secrets)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("401") && e.contains("credentials/test"), "{e}");

    let mut env = setup(&server.url(), fs::API_KEY, "other-site");
    let err = format!("{:#}", run(&mut env, cfg()).await.unwrap_err());
    assert!(err.contains("401"), "{err}");
    assert!(err.contains("x-forter-siteid does not match"), "{err}");
    assert!(
        check_credentials(SOURCE, &cfg(), &env.secrets)
            .await
            .is_err()
    );

    let env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    check_credentials(SOURCE, &cfg(), &env.secrets)
        .await
        .unwrap();

    // Missing credentials: the error says where they go.
    let err = forter_source(SOURCE, cfg(), &ConfigSection::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY"),
        "{err}"
    );
    assert!(err.contains("[sources.forter_order_v3_source]"), "{err}");
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
            order_ids: ids(1),
            api_version: " ".into(),
            ..Default::default()
        },
        &env.secrets,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("api-version"), "{err}");
    assert_eq!(server.requests(), 0);

    // A client that forgets the header gets Forter's 400.
    let rest = sluice_rest::RestApiConfig::from_json(&serde_json::json!({
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
async fn a_429_storm_still_loads_every_row() {
    let server = ForterServer::start(ForterServerConfig {
        orders: 10,
        ..Default::default()
    })
    .await
    .unwrap();
    // Every request is throttled once (Retry-After: 1), then served: one retry is enough.
    server
        .faults()
        .throttle_attempts
        .store(1, Ordering::Relaxed);
    server.faults().retry_after_s.store(1, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let started = Instant::now();
    let info = run(
        &mut env,
        ForterConfig {
            order_ids: ids(10),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_rows(&info, 10);
    assert_eq!(server.state.throttled.load(Ordering::Relaxed), 12);
    assert_eq!(server.requests(), 24);
    assert!(started.elapsed() >= Duration::from_secs(1));

    // Retry-After: 0 and a 503 after it: two failures exhaust two attempts.
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
    let err = format!(
        "{:#}",
        run(
            &mut env,
            ForterConfig {
                order_ids: ids(4),
                ..Default::default()
            }
        )
        .await
        .unwrap_err()
    );
    assert!(
        err.contains("503") && err.contains("after 2 attempts"),
        "{err}"
    );
    // With three attempts it goes through.
    let info = run(
        &mut env,
        ForterConfig {
            order_ids: ids(4),
            max_attempts: 3,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_rows(&info, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_responses_time_out_after_the_retry() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    server.faults().delay_ms.store(2600, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let started = Instant::now();
    let err = format!(
        "{:#}",
        run(
            &mut env,
            ForterConfig {
                order_ids: ids(1),
                resources: Some(vec![sluice_forter::ForterResource::Orders]),
                ..Default::default()
            }
        )
        .await
        .unwrap_err()
    );
    assert!(err.contains("timed out after 2.0 s"), "{err}");
    assert!(err.contains("after 2 attempts"), "{err}");
    assert!(err.contains("resource 'orders'"), "{err}");
    assert!(err.contains(&format!("v3/orders/{}", order_id(1))), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert_eq!(server.requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_json_fails_clearly() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    server.faults().bad_json.store(true, Ordering::Relaxed);
    let mut env = setup(&server.url(), fs::API_KEY, fs::SITE_ID);
    let err = format!(
        "{:#}",
        run(
            &mut env,
            ForterConfig {
                order_ids: ids(1),
                resources: Some(vec![sluice_forter::ForterResource::Decisions]),
                ..Default::default()
            }
        )
        .await
        .unwrap_err()
    );
    assert!(err.contains("resource 'decisions'"), "{err}");
    assert!(err.to_lowercase().contains("json"), "{err}");
}
