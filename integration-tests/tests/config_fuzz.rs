//! A randomized test of the config parsers: the pipeline files and secrets of
//! `fuzz/corpus/config/`, damaged at random (keys deleted, misspelt or renamed, values replaced
//! by values of other types, strings and whole files damaged byte by byte, environment
//! variables added), read the way `sluice run` reads them: `config.toml` / `secrets.toml` and
//! the environment by [`ConfigProvider`], `[source]` by the REST API source or the Forter preset,
//! `[destination.<name>]` by every destination's `validate`.
//!
//! What must hold for every input:
//! - nothing panics, and reading the same input twice gives the same answer;
//! - no error, and no `Debug` of what was read, contains a secret (every string of the corpus
//!   holding `SEKRIT`, and the secrets put into environment variables);
//! - a key misspelt in a table whose keys are fixed is refused by an error naming that key.
//!
//! The unchanged corpus must read without error (so the checks above see real parses). A short
//! run (a fixed seed, 300 cases) is part of `cargo test`; `make fuzz` runs it for
//! `SLUICE_FUZZ_SECONDS` from a seed taken from the clock, printed so that a failure can be
//! replayed with `SLUICE_FUZZ_SEED`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_core::{ConfigProvider, ConfigSection, DestinationConfig, Registry};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const MARK: &str = "SEKRIT";

fn registry() -> Registry {
    let mut r = sluice::registry();
    r.register(Arc::new(sluice_postgres::PostgresFactory));
    r.register(Arc::new(sluice_bigquery::BigQueryFactory));
    r.register(Arc::new(sluice_snowflake::SnowflakeFactory));
    r
}

/// One step of a path into a TOML document.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Whether the table at `path` accepts only keys it knows (so a misspelt key must be refused).
fn fixed_keys(path: &[Step]) -> bool {
    use Step::{Index as I, Key as K};
    let k = |s: &Step, names: &[&str]| matches!(s, K(k) if names.contains(&k.as_str()));
    match path {
        [K(s)] => s == "source",
        [a, b] => {
            k(a, &["source"]) && k(b, &["client", "resource_defaults"])
                || k(a, &["destination"]) && matches!(b, K(_))
        }
        [a, b, c] => {
            k(a, &["source"]) && k(b, &["client"]) && k(c, &["auth", "paginator"])
                || k(a, &["source"]) && k(b, &["resources"]) && matches!(c, I(_))
                || k(a, &["source"]) && k(b, &["resource_defaults"]) && k(c, &["endpoint"])
                || k(a, &["destination"]) && matches!(b, K(_)) && k(c, &["credentials"])
        }
        [a, b, I(_), d] => k(a, &["source"]) && k(b, &["resources"]) && k(d, &["endpoint"]),
        [a, b, I(_), d, e] => {
            k(a, &["source"])
                && k(b, &["resources"])
                && k(d, &["endpoint"])
                && k(e, &["paginator", "incremental", "auth"])
        }
        _ => false,
    }
}

struct Corpus {
    docs: Vec<(String, toml::Table)>,
    /// Every key of the corpus and every key a destination accepts.
    vocabulary: BTreeSet<String>,
    /// Every secret of the corpus.
    secrets: Vec<String>,
}

fn walk(v: &toml::Value, keys: &mut BTreeSet<String>, secrets: &mut Vec<String>) {
    match v {
        toml::Value::String(s) if s.contains(MARK) => secrets.push(s.clone()),
        toml::Value::Table(t) => {
            for (k, v) in t {
                keys.insert(k.clone());
                walk(v, keys, secrets);
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| walk(v, keys, secrets)),
        _ => {}
    }
}

fn corpus() -> Corpus {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/config");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} is readable: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut vocabulary = BTreeSet::new();
    let mut secrets = Vec::new();
    let docs: Vec<(String, toml::Table)> = paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("a corpus file");
            let doc: toml::Table = text
                .parse()
                .unwrap_or_else(|e| panic!("{} is TOML: {e}", p.display()));
            walk(
                &toml::Value::Table(doc.clone()),
                &mut vocabulary,
                &mut secrets,
            );
            (p.file_name().unwrap().to_string_lossy().into_owned(), doc)
        })
        .collect();
    assert!(docs.len() >= 3, "corpus files in {}", dir.display());
    for keys in [
        sluice_duckdb::CREDENTIALS,
        sluice_postgres::CREDENTIALS,
        sluice_snowflake::CREDENTIALS,
        sluice_snowflake::SETTINGS,
        sluice_bigquery::CREDENTIALS,
        sluice_bigquery::SETTINGS,
        sluice::filesystem::CREDENTIALS,
        sluice::filesystem::SETTINGS,
        sluice_core::config::GCP_SERVICE_ACCOUNT_KEYS,
    ] {
        vocabulary.extend(keys.iter().map(|k| k.to_string()));
    }
    Corpus {
        docs,
        vocabulary,
        secrets,
    }
}

/// What reading one project gave: per step, what was read (its `Debug`) or the error (its
/// `Display` and `Debug`), in order.
type Outcome = Vec<(String, Result<String, String>)>;

fn err(e: sluice_core::Error) -> Result<String, String> {
    Err(format!("{e} / {e:?}"))
}

/// Read a project as `sluice run` does: pipeline file, secrets, environment, destinations.
fn read_project(
    registry: &Registry,
    doc: &toml::Table,
    text: Option<&str>,
    env: &[(String, String)],
) -> Outcome {
    let mut out: Outcome = Vec::new();
    let mut secrets_doc = doc.clone();
    secrets_doc.remove("pipeline");
    secrets_doc.remove("source");
    let secrets_text = toml::to_string(&secrets_doc).unwrap_or_default();
    let provider = match ConfigProvider::empty()
        .with_env(env.iter().cloned())
        .with_secrets_toml(text.unwrap_or(&secrets_text))
    {
        Ok(p) => {
            out.push(("secrets.toml".into(), Ok(format!("{p:?}"))));
            p
        }
        Err(e) => {
            out.push(("secrets.toml".into(), err(e)));
            ConfigProvider::empty().with_env(env.iter().cloned())
        }
    };
    if let Some(text) = text {
        let read = sluice_rest::RestApiConfig::from_toml_str(text);
        out.push((
            "[source] text".into(),
            read.map(|c| format!("{c:?}")).or_else(err),
        ));
    }
    if let Some(toml::Value::Table(source)) = doc.get("source") {
        let mut source = source.clone();
        let ty = source.remove("type");
        let name = match source.remove("name") {
            Some(toml::Value::String(n)) => n,
            _ => "unnamed".into(),
        };
        let secrets: ConfigSection = provider.section(&["sources", &name]);
        let source = toml::Value::Table(source);
        let read = match ty.as_ref().and_then(|t| t.as_str()) {
            Some("rest_api") => sluice_rest::RestApiSource::from_toml(&name, source, &secrets),
            Some("forter") => sluice_forter::forter_source_from_toml(&name, source, &secrets)
                .map(sluice_forter::ForterSource::into_rest),
            _ => Err(sluice_core::Error::config("no source type")),
        };
        out.push((
            "[source]".into(),
            read.map(|s| format!("{s:?}")).or_else(err),
        ));
    }
    let mut names: Vec<String> = registry.names().map(str::to_string).collect();
    names.sort();
    for name in names {
        let section = provider.section(&["destination", &name]);
        if section.is_empty() {
            continue;
        }
        let config = DestinationConfig {
            destination_name: name.clone(),
            pipeline_name: "fuzz".into(),
            dataset_name: "fuzz_data".into(),
            working_dir: std::env::temp_dir(),
            section,
        };
        let read = registry.get(&name).expect("registered").validate(&config);
        out.push((
            format!("[destination.{name}]"),
            read.map(|v| format!("{v:?} {config:?}")).or_else(err),
        ));
    }
    out
}

fn random_value(rng: &mut StdRng, depth: u32) -> toml::Value {
    use toml::Value as V;
    match rng.random_range(0..if depth == 0 { 9 } else { 11 }) {
        0 => V::String(String::new()),
        1 => V::String(
            [
                "x",
                "duckdb",
                "merge",
                "json_link",
                "bearer",
                "s3://",
                "postgresql://",
                "http://[::1",
                "{resources.orders.id}",
                "%zz",
                "ünï",
                "\u{0}",
            ][rng.random_range(0..12)]
            .into(),
        ),
        2 => V::Integer([0, -1, 1, 65536, i64::MAX, i64::MIN][rng.random_range(0..6)]),
        3 => V::Float([0.0, -0.5, 1e300, f64::NAN, f64::INFINITY][rng.random_range(0..5)]),
        4 => V::Boolean(rng.random_bool(0.5)),
        5 => V::Datetime("2024-01-02T03:04:05Z".parse().expect("a datetime")),
        6 => V::Array(Vec::new()),
        7 => V::Table(toml::Table::new()),
        8 => V::String("y".repeat(rng.random_range(100..5000))),
        9 => V::Array(
            (0..rng.random_range(1..4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => V::Table(
            (0..rng.random_range(1..4))
                .map(|i| (format!("k{i}"), random_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// One edit of `key`: a character inserted, dropped, replaced, or two swapped.
fn misspell(rng: &mut StdRng, key: &str) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let i = rng.random_range(0..=chars.len());
    let c = ['a', 'e', 'x', '_', '-', '.', ' ', 'é'][rng.random_range(0..8)];
    match rng.random_range(0..4) {
        0 => chars.insert(i, c),
        1 if i < chars.len() => {
            chars.remove(i);
        }
        2 if i < chars.len() => chars[i] = c,
        3 if i + 1 < chars.len() => chars.swap(i, i + 1),
        _ => chars.push(c),
    }
    chars.into_iter().collect()
}

fn contains_secret(v: &toml::Value) -> bool {
    match v {
        toml::Value::String(s) => s.contains(MARK),
        toml::Value::Table(t) => t.values().any(contains_secret),
        toml::Value::Array(a) => a.iter().any(contains_secret),
        _ => false,
    }
}

/// A random table of `doc` (by a random walk) and its path.
fn random_table<'a>(
    rng: &mut StdRng,
    doc: &'a mut toml::Table,
    path: &mut Vec<Step>,
) -> &'a mut toml::Table {
    let keys: Vec<String> = doc.keys().cloned().collect();
    if keys.is_empty() || rng.random_bool(0.25) && !path.is_empty() {
        return doc;
    }
    let k = keys[rng.random_range(0..keys.len())].clone();
    let descend = match doc.get(&k) {
        Some(toml::Value::Table(_)) => 1,
        Some(toml::Value::Array(a)) if a.iter().any(|v| v.is_table()) => 2,
        _ => 0,
    };
    match descend {
        1 => {
            path.push(Step::Key(k.clone()));
            let Some(toml::Value::Table(t)) = doc.get_mut(&k) else {
                unreachable!("a table")
            };
            random_table(rng, t, path)
        }
        2 => {
            let Some(toml::Value::Array(a)) = doc.get_mut(&k) else {
                unreachable!("an array")
            };
            let tables: Vec<usize> = (0..a.len()).filter(|i| a[*i].is_table()).collect();
            let i = tables[rng.random_range(0..tables.len())];
            path.push(Step::Key(k));
            path.push(Step::Index(i));
            let toml::Value::Table(t) = &mut a[i] else {
                unreachable!("a table")
            };
            random_table(rng, t, path)
        }
        _ => doc,
    }
}

/// Damage `doc` in place. Returns the misspelt key when the only edit was a misspelling in a
/// table with fixed keys.
fn mutate(
    rng: &mut StdRng,
    doc: &mut toml::Table,
    vocabulary: &BTreeSet<String>,
) -> Option<String> {
    let edits = if rng.random_bool(0.6) {
        1
    } else {
        rng.random_range(2..6)
    };
    let mut misspelt = None;
    for _ in 0..edits {
        let mut path = Vec::new();
        let table = random_table(rng, doc, &mut path);
        let keys: Vec<String> = table.keys().cloned().collect();
        if keys.is_empty() {
            table.insert("k".into(), random_value(rng, 2));
            continue;
        }
        let k = keys[rng.random_range(0..keys.len())].clone();
        match rng.random_range(0..6) {
            0 => {
                table.remove(&k);
            }
            1 => {
                let v = table.remove(&k).expect("the key");
                let new = misspell(rng, &k);
                // (`type` and `name` of [source] are read by the CLI before the source: a
                // misspelt `type` says which types exist instead.)
                let cli_key = path == [Step::Key("source".into())] && (k == "type" || k == "name");
                if edits == 1 && fixed_keys(&path) && !vocabulary.contains(&new) && !cli_key {
                    misspelt = Some(new.clone());
                }
                table.insert(new, v);
            }
            2 if !contains_secret(&table[&k]) => {
                let v = table.remove(&k).expect("the key");
                let words: Vec<&String> = vocabulary.iter().collect();
                table.insert(words[rng.random_range(0..words.len())].clone(), v);
            }
            3 => {
                if let toml::Value::String(s) = &mut table[&k] {
                    let mut chars: Vec<char> = s.chars().collect();
                    let i = rng.random_range(0..=chars.len());
                    chars.insert(
                        i,
                        [
                            '{', '}', '"', '\\', '/', ':', '@', '%', ' ', '\u{0}', 'é', '\n',
                        ][rng.random_range(0..12)],
                    );
                    *s = chars.into_iter().collect();
                } else {
                    table.insert(k, random_value(rng, 2));
                }
            }
            _ => {
                table.insert(k, random_value(rng, 2));
            }
        }
    }
    misspelt
}

/// Environment variables a user might set, some with secrets, some malformed.
fn random_env(rng: &mut StdRng) -> Vec<(String, String)> {
    const VARS: &[(&str, &str)] = &[
        (
            "DESTINATION__POSTGRES__CREDENTIALS",
            "postgresql://loader:SEKRIT_env_pg@db:notaport/x",
        ),
        (
            "DESTINATION__POSTGRES__CREDENTIALS",
            "postgres://u:SEKRIT_env_pg2@[::1/db",
        ),
        (
            "DESTINATION__POSTGRES__CREDENTIALS__PASSWORD",
            "SEKRIT_env_pg3",
        ),
        ("DESTINATION__POSTGRES__CREDENTIALS__PORT", "five"),
        ("DESTINATION__DUCKDB__CREDENTIALS", "/no/such/dir/x.duckdb"),
        (
            "DESTINATION__SNOWFLAKE__CREDENTIALS",
            "snowflake://u:SEKRIT_env_sf@acct/db?warehouse=w",
        ),
        (
            "DESTINATION__SNOWFLAKE__CREDENTIALS__PRIVATE_KEY",
            "SEKRIT_env_sf_key",
        ),
        ("DESTINATION__FILESYSTEM__BUCKET_URL", "gs://b/p"),
        (
            "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY",
            "SEKRIT_env_aws",
        ),
        (
            "DESTINATION__BIGQUERY__CREDENTIALS",
            "{\"private_key\": \"SEKRIT_env_bq\"",
        ),
        ("SOURCES__SHOP__TOKEN", "SEKRIT_env_token"),
        ("SOURCES__API__API_KEY", "SEKRIT_env_api_key"),
        (
            "SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY",
            "SEKRIT_env_forter",
        ),
        ("SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL", "ftp://x"),
    ];
    (0..rng.random_range(0..3))
        .map(|_| {
            let (k, v) = VARS[rng.random_range(0..VARS.len())];
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Damage a file's text byte by byte (on character boundaries).
fn damage_text(rng: &mut StdRng, text: &mut String) {
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=text.len());
        let at = (0..=at)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        match rng.random_range(0..4) {
            0 => text.truncate(at),
            1 => text.insert(
                at,
                ['[', ']', '=', '"', '\'', '\n', '{', ',', '#', 'é'][rng.random_range(0..10)],
            ),
            2 if at < text.len() => {
                text.remove(at);
            }
            _ => text.insert_str(at, "\n[destination.postgres]\n"),
        }
    }
}

fn check_case(registry: &Registry, corpus: &Corpus, rng: &mut StdRng, case: &str) {
    let (file, original) = &corpus.docs[rng.random_range(0..corpus.docs.len())];
    let mut doc = original.clone();
    let misspelt = mutate(rng, &mut doc, &corpus.vocabulary);
    let env = random_env(rng);
    let text = rng.random_bool(0.25).then(|| {
        let mut text = toml::to_string(&doc).unwrap_or_default();
        damage_text(rng, &mut text);
        text
    });
    let what = format!("{case} ({file}): {doc:?} text {text:?} env {env:?}");
    let first = read_project(registry, &doc, text.as_deref(), &env);
    let again = read_project(registry, &doc, text.as_deref(), &env);
    // The same verdicts and the same errors (a `Debug` of what was read holds instants).
    let verdicts = |o: &Outcome| -> Vec<(String, Option<String>)> {
        o.iter()
            .map(|(step, r)| (step.clone(), r.as_ref().err().cloned()))
            .collect()
    };
    assert_eq!(
        verdicts(&first),
        verdicts(&again),
        "{what}: the same input read twice differs"
    );
    let secrets: Vec<&str> = corpus
        .secrets
        .iter()
        .map(String::as_str)
        .chain(
            env.iter()
                .map(|(_, v)| v.as_str())
                .filter(|v| v.contains(MARK)),
        )
        .collect();
    for (step, read) in &first {
        let line = match read {
            Ok(debug) => debug,
            Err(error) => error,
        };
        for secret in &secrets {
            // A secret is found whole or by its distinctive part (URLs hold it inside).
            let needle = secret
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .find(|p| p.contains(MARK))
                .unwrap_or(secret);
            assert!(
                !line.contains(needle),
                "{what}: secret {needle} shown by {step}: {line}"
            );
        }
    }
    // (An environment variable may replace the table that holds the misspelling, and damaged
    // text may not parse at all.)
    if let Some(key) = misspelt.filter(|_| env.is_empty() && text.is_none()) {
        assert!(
            first
                .iter()
                .any(|(_, read)| read.as_ref().is_err_and(|e| e.contains(&key))),
            "{what}: the misspelt key {key:?} is not named in {first:#?}"
        );
    }
}

#[test]
fn config_parsers_keep_secrets_and_name_misspelt_keys() {
    let (seed, deadline) = sluice_core::test_support::fuzz_budget();
    let registry = registry();
    let corpus = corpus();
    assert!(
        corpus.secrets.len() >= 8,
        "secrets in the corpus: {:?}",
        corpus.secrets
    );
    // The corpus itself reads without error, so the damaged copies test real parses.
    for (file, doc) in &corpus.docs {
        for (step, read) in read_project(&registry, doc, None, &[]) {
            assert!(read.is_ok(), "{file}: {step} does not read: {read:?}");
        }
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cases = 0u64;
    while cases < 300 || Instant::now() < deadline {
        check_case(
            &registry,
            &corpus,
            &mut rng,
            &format!("seed {seed}, case {cases}"),
        );
        cases += 1;
    }
    println!(
        "{cases} damaged projects read without a panic, a leaked secret or a silent misspelling"
    );
}
