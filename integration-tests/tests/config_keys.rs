//! Every destination rejects a key it does not read, in its section and in its credentials
//! table, with a message naming the key and the section; `sluice check` and `sluice run` fail
//! on it (see app/cli/tests/cli.rs for the CLI).

use sluice_core::{ConfigProvider, DestinationConfig, Registry};
use std::sync::Arc;

fn all_destinations() -> Registry {
    let mut r = sluice::registry();
    r.register(Arc::new(sluice_postgres::PostgresFactory));
    r.register(Arc::new(sluice_bigquery::BigQueryFactory));
    r.register(Arc::new(sluice_snowflake::SnowflakeFactory));
    r
}

fn config(name: &str, toml: &str) -> DestinationConfig {
    let p = ConfigProvider::empty().with_config_toml(toml).unwrap();
    DestinationConfig {
        destination_name: name.into(),
        pipeline_name: "keys".into(),
        dataset_name: "keys_data".into(),
        working_dir: std::env::temp_dir(),
        section: p.section(&["destination", name]),
    }
}

#[test]
fn every_destination_rejects_unknown_keys_naming_key_and_section() {
    let registry = all_destinations();
    let names: Vec<String> = registry.names().map(str::to_string).collect();
    for want in ["duckdb", "postgres", "bigquery", "snowflake", "filesystem"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for name in &names {
        let factory = registry.get(name).unwrap();
        let top = config(name, &format!("[destination.{name}]\nnot_a_setting = 1\n"));
        let err = factory.validate(&top).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "unknown key 'not_a_setting' in [destination.{name}]"
            )) && err.contains("accepted keys are"),
            "{name}: {err}"
        );
        let creds = config(
            name,
            &format!("[destination.{name}.credentials]\nnot_a_credential = \"x\"\n"),
        );
        let err = factory.validate(&creds).unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "unknown key 'not_a_credential' in [destination.{name}.credentials]"
            )) && err.contains(&format!(
                "DESTINATION__{}__CREDENTIALS__NOT_A_CREDENTIAL",
                name.to_uppercase()
            )),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_misspelt_key_gets_the_nearest_accepted_one() {
    let registry = all_destinations();
    for (name, toml, key, near) in [
        (
            "postgres",
            "[destination.postgres.credentials]\nhots = \"db\"\ndatabase = \"d\"\nusername = \"u\"\n",
            "hots",
            "host",
        ),
        (
            "filesystem",
            "[destination.filesystem]\nbucket_ulr = \"file:///tmp/x\"\n",
            "bucket_ulr",
            "bucket_url",
        ),
        (
            "snowflake",
            "[destination.snowflake]\nstage_nam = \"s\"\n",
            "stage_nam",
            "stage_name",
        ),
        (
            "bigquery",
            "[destination.bigquery]\nlocaton = \"EU\"\n",
            "locaton",
            "location",
        ),
        (
            "duckdb",
            "[destination.duckdb.credentials]\ndatabse = \"x.duckdb\"\n",
            "databse",
            "database",
        ),
    ] {
        let err = registry
            .get(name)
            .unwrap()
            .validate(&config(name, toml))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("unknown key '{key}'"))
                && err.contains(&format!("did you mean '{near}'?")),
            "{name}: {err}"
        );
    }
}

#[test]
fn the_documented_keys_are_accepted() {
    // A full, valid section of each destination passes the key check.
    let registry = all_destinations();
    for (name, toml) in [
        (
            "postgres",
            "[destination.postgres.credentials]\ndatabase = \"d\"\nusername = \"u\"\npassword = \"p\"\nhost = \"h\"\nport = 5432\nconnect_timeout = 5\nsslmode = \"disable\"\n",
        ),
        (
            "duckdb",
            "[destination.duckdb.credentials]\ndatabase = \":memory:\"\nglobal_config = { threads = 1 }\n",
        ),
        (
            "filesystem",
            "[destination.filesystem]\nbucket_url = \"file:///tmp/sluice-keys\"\nlayout = \"{table_name}/{load_id}.{file_id}.{ext}\"\nloader_file_format = \"parquet\"\n",
        ),
    ] {
        registry
            .get(name)
            .unwrap()
            .validate(&config(name, toml))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_destination_describes_its_keys_with_an_example_that_validates() {
    let registry = all_destinations();
    for name in registry.names().map(str::to_string).collect::<Vec<_>>() {
        let factory = registry.get(&name).unwrap();
        let example = factory.example_config();
        assert!(!example.is_empty(), "{name} has an example config");
        let doc: toml::Table = example
            .parse()
            .unwrap_or_else(|e| panic!("{name}'s example is TOML: {e}"));
        let keys = factory.config_keys();
        let section = doc["destination"][name.as_str()].as_table().unwrap();
        for (k, v) in section {
            if k == "credentials" {
                if let Some(creds) = v.as_table() {
                    for ck in creds.keys() {
                        assert!(
                            keys.credentials.contains(&ck.as_str()) || ck.ends_with("_config"),
                            "{name}: example credential key {ck} is listed"
                        );
                    }
                }
            } else {
                assert!(
                    keys.settings.contains(&k.as_str()),
                    "{name}: example key {k} is listed"
                );
            }
        }
        // The example is a valid configuration (no I/O: validate only).
        factory
            .validate(&config(&name, example))
            .unwrap_or_else(|e| panic!("{name}'s example validates: {e}"));
    }
}
