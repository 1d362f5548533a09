//! `sluice pipeline NAME show` in a real browser: headless Chromium driven through ChromeDriver
//! (`scripts/services/chromedriver.sh`, `SLUICE_TEST_WEBDRIVER_URL`), against the Forter example
//! loaded into DuckDB from the in-process Forter-compatible server.
//!
//! Each section is opened and checked in the DOM, a query typed into the SQL box returns the
//! expected rows, an invalid one shows DuckDB's error, and a screenshot of each view is kept in
//! `$CARGO_TARGET_DIR/dashboard-screenshots/` (the README's picture is one of them). The secret
//! API key of the run appears in no page or asset; the server answers only on loopback, with
//! its own `Host`, and only its own paths.

use serde_json::{Value, json};
use sluice_integration_tests::forter_server::{self as fs, ForterServer, ForterServerConfig};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A secret API key the Forter-compatible server is told to accept.
const SECRET_KEY: &str = "sk-dashboard-SEKRIT-4f1c9e";

fn example_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/forter_order_v3_pipeline.toml")
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A WebDriver session of headless Chromium.
struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn start(driver: &str, chromium: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1400,1000"]
            }
        }}});
        let r: Value = http
            .post(format!("{driver}/session"))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .unwrap();
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a browser session: {r}"))
            .to_string();
        Self {
            http,
            session: format!("{driver}/session/{id}"),
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        let mut req = self.http.request(method, &url);
        if !body.is_null() {
            req = req.json(&body);
        }
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        if r["value"].get("error").is_some() {
            panic!("webdriver {path}: {r}");
        }
        r["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|e| e.as_str())
            .unwrap_or_else(|| panic!("element {css}"))
            .to_string()
    }

    async fn js(&self, script: &str) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Text of every element matching `css`.
    async fn texts(&self, css: &str) -> Vec<String> {
        let script = format!(
            "return Array.from(document.querySelectorAll({})).map(e => e.textContent);",
            serde_json::to_string(css).unwrap()
        );
        self.js(&script)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Wait until `css` matches an element with text, and return the text.
    async fn wait_text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(t) = self.texts(css).await.into_iter().find(|t| !t.is_empty()) {
                return t;
            }
            assert!(Instant::now() < deadline, "nothing appeared at {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let b64 = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
    }

    async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// `sluice pipeline NAME show --no-browser` running; its URL, and the rest of its output once
/// it ends.
fn serve(
    dir: &Path,
    pipeline: &str,
    extra: &[&str],
) -> (Child, String, std::thread::JoinHandle<Vec<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env_remove("SLUICE_FAILPOINT")
        .env_remove("DISPLAY")
        .args(["pipeline", pipeline, "show", "--no-browser"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the dashboard prints its URL").unwrap();
        if let Some(at) = line.find("http://") {
            break line[at..].trim().to_string();
        }
    };
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
    (child, url, rest)
}

/// A working dir where the Forter example was loaded into DuckDB, from the in-process
/// Forter-compatible server accepting [`SECRET_KEY`].
async fn loaded_example() -> tempfile::TempDir {
    let server = ForterServer::start(ForterServerConfig {
        api_key: SECRET_KEY.into(),
        ..ForterServerConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    tokio::task::spawn_blocking(move || run_example(&dir, &server))
        .await
        .unwrap();
    tmp
}

fn run_example(dir: &Path, server: &ForterServer) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env_remove("SLUICE_FAILPOINT")
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY", SECRET_KEY)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID", fs::SITE_ID)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL", server.url())
        .arg("run")
        .arg(example_file())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_forter_example_in_a_real_browser() {
    let Some(driver) = sluice_core::test_support::service_url(
        "SLUICE_TEST_WEBDRIVER_URL",
        "the dashboard browser test",
    ) else {
        return;
    };
    let chromium = std::env::var("SLUICE_TEST_CHROMIUM").unwrap_or("/usr/bin/chromium".into());
    let tmp = loaded_example().await;
    let dir = tmp.path().to_path_buf();
    let (mut child, url, output) = serve(&dir, "forter_order_v3_pipeline", &[]);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let browser = Browser::start(&driver, &chromium).await;

    // Overview.
    browser.goto(&url).await;
    assert_eq!(
        browser.wait_text("#pipeline-name").await,
        "forter_order_v3_pipeline"
    );
    assert_eq!(browser.wait_text("#last-run-status").await, "completed");
    let last_rows = browser.texts("#last-rows td").await;
    assert!(last_rows.iter().any(|t| t == "orders"), "{last_rows:?}");
    browser.screenshot("overview").await;

    // Schema: the tables as a tree, columns with types; _dlt columns can be hidden.
    browser.goto(&format!("{url}#schema")).await;
    let tables = browser
        .texts("#tables li.table > details > summary code")
        .await;
    for t in ["orders", "orders__cart_items", "order_status", "decisions"] {
        assert!(tables.iter().any(|x| x == t), "{t} in {tables:?}");
    }
    let types = browser
        .js("return Array.from(document.querySelectorAll('li.table[data-table=\"orders\"] > details > table tr')).map(r => Array.from(r.cells).map(c => c.textContent).join('|'));")
        .await;
    let types: Vec<String> = serde_json::from_value(types).unwrap();
    assert!(
        types.iter().any(|r| r.starts_with("order_id|text|no|")),
        "order_id is a non-null text column: {types:?}"
    );
    assert!(
        types.iter().any(|r| r.starts_with("_dlt_id|text|no|")),
        "{types:?}"
    );
    browser
        .js("document.getElementById('show-dlt').click(); return 1;")
        .await;
    let hidden = browser
        .js("return getComputedStyle(document.querySelector('tr.dlt')).display;")
        .await;
    assert_eq!(hidden, json!("none"), "_dlt_* columns hide");
    browser.screenshot("schema").await;

    // Data: row counts, then the SQL box.
    browser.goto(&format!("{url}#data")).await;
    let counts = browser.texts("h3.data-table").await;
    assert!(
        counts
            .iter()
            .any(|c| c.starts_with("orders") && c.ends_with("5 rows")),
        "{counts:?}"
    );
    let sql = browser.find("#sql").await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{sql}/clear"),
            json!({}),
        )
        .await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{sql}/value"),
            json!({"text": "SELECT order_id FROM orders ORDER BY order_id LIMIT 2"}),
        )
        .await;
    let run = browser.find("#run-sql").await;
    browser
        .cmd(
            reqwest::Method::POST,
            &format!("/element/{run}/click"),
            json!({}),
        )
        .await;
    assert!(
        browser
            .wait_text("#sql-status")
            .await
            .starts_with("2 row(s)")
    );
    let cells = browser.texts("#sql-grid td").await;
    assert_eq!(cells, vec!["100000001", "100000002"]);
    browser.screenshot("data").await;
    browser
        .js("document.getElementById('sql').value = 'SELECT nope FROM no_such_table'; document.getElementById('run-sql').click(); return 1;")
        .await;
    let error = browser.wait_text("#sql-error").await;
    assert!(error.contains("no_such_table"), "{error}");
    browser.screenshot("data-error").await;

    // State, loads and trace.
    browser.goto(&format!("{url}#state")).await;
    assert!(
        browser
            .wait_text("#state pre.json")
            .await
            .contains("forter_order_v3_pipeline")
    );
    browser.screenshot("state").await;
    browser.goto(&format!("{url}#loads")).await;
    let loads = browser.texts("#loads-table td").await;
    assert!(loads.iter().any(|t| t == "loaded"), "{loads:?}");
    assert!(
        loads.iter().any(|t| t.contains("orders: 5")),
        "rows per table of the load: {loads:?}"
    );
    browser.screenshot("loads").await;
    browser.goto(&format!("{url}#trace")).await;
    let steps = browser.texts("#trace td").await;
    assert!(
        steps.iter().any(|t| t == "extract and normalize"),
        "{steps:?}"
    );
    let resources = browser.texts("#trace-resources td").await;
    assert!(resources.iter().any(|t| t == "orders"), "{resources:?}");
    browser.screenshot("trace").await;
    browser.close().await;

    // No secret anywhere; nothing outside the dashboard's own paths; its own Host only.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    for path in ["", "assets/dashboard.css", "assets/dashboard.js"] {
        let body = http
            .get(format!("{url}{path}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !body.contains(SECRET_KEY) && !body.contains("SEKRIT"),
            "{path}"
        );
    }
    for path in [
        "../../etc/passwd",
        "assets/../../Cargo.toml",
        "api/query",
        "x",
    ] {
        let status = http
            .get(format!("{url}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            status == reqwest::StatusCode::NOT_FOUND
                || status == reqwest::StatusCode::METHOD_NOT_ALLOWED,
            "{path}: {status}"
        );
    }
    let status = http
        .get(&url)
        .header("host", "evil.example:80")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        reqwest::StatusCode::FORBIDDEN,
        "a foreign Host is refused"
    );
    // Bound to loopback: another address of this machine does not answer.
    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    if let Some(ip) = non_loopback_address() {
        let reached = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::new(ip, port),
            Duration::from_secs(2),
        );
        assert!(reached.is_err(), "the dashboard answers on {ip}");
    }
    // Ctrl-C stops it cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after Ctrl-C: {status}");
    let rest = output.join().unwrap();
    assert!(rest.iter().any(|l| l == "Dashboard stopped."), "{rest:?}");
}

/// An address of this machine other than loopback, if it has one.
fn non_loopback_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?; // no packet is sent
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_exports_static_files_without_secrets() {
    let tmp = loaded_example().await;
    let dir = tmp.path().to_path_buf();
    let out_dir = dir.join("export");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(&dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .args(["pipeline", "forter_order_v3_pipeline", "show", "--export"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    for want in [
        "id=\"overview\"",
        "id=\"schema\"",
        "id=\"data\"",
        "id=\"state\"",
        "id=\"loads\"",
        "id=\"trace\"",
        "orders__cart_items",
        "data-mode=\"export\"",
    ] {
        assert!(page.contains(want), "{want} in the exported page");
    }
    for asset in ["dashboard.css", "dashboard.js"] {
        assert!(out_dir.join("assets").join(asset).is_file(), "{asset}");
    }
    for entry in std::fs::read_dir(&out_dir)
        .unwrap()
        .chain(std::fs::read_dir(out_dir.join("assets")).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains(SECRET_KEY), "{}", path.display());
        }
    }
    // --text keeps the old output.
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(&dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .args(["pipeline", "forter_order_v3_pipeline", "show", "--text"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("orders: 5 row(s)"),
        "{stdout}"
    );
}
