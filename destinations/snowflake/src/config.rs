//! The Snowflake destination's configuration: the typed settings ([`SnowflakeSettings`],
//! resolved by [`settings`] without any I/O), the accepted keys, and credentials in dlt's
//! layout.
//!
//! Either a connection string
//! (`DESTINATION__SNOWFLAKE__CREDENTIALS=snowflake://user:pass@account/database?warehouse=…&role=…`)
//! or the fields of `[destination.snowflake.credentials]`: `database`, `username`, `password`,
//! `host` (the account identifier), `warehouse`, `role`, and `base_url` to reach Snowflake
//! somewhere else than `https://{account}.snowflakecomputing.com` (a private link, a local peer in
//! tests).
//!
//! Key-pair authentication, as dlt: `private_key` (PEM text, base64 of the PEM text, or base64
//! of the DER key; PKCS#8, encrypted or not, or PKCS#1) with `private_key_passphrase` for an
//! encrypted key, or `private_key_path` naming a file that holds the key. They are fields of the
//! table or query parameters of the connection string (`?private_key=…&private_key_passphrase=…`,
//! URL-encoded). When a private key is set, the login uses it (`SNOWFLAKE_JWT`) and the password
//! is not needed, nor sent — as in dlt, where Snowflake's connector then ignores the password.
//!
//! The password, the private key and its passphrase are [`Secret`]s: they never appear in
//! `Debug` output, in [`SnowflakeCredentials::display`] or in errors.

use crate::keypair::{KeyPair, KeySource};
use serde::Deserialize;
use serde::de::IgnoredAny;
use sluice_core::config::{ConfigSection, Credentials, Secret, de};
use sluice_core::{DestinationConfig, Error, Result};

/// Keys accepted in `[destination.snowflake]` (besides `credentials`).
pub const SETTINGS: &[&str] = &["stage_name"];
/// Keys accepted in `[destination.snowflake.credentials]`.
pub const CREDENTIALS: &[&str] = &[
    "base_url",
    "database",
    "username",
    "host",
    "account",
    "password",
    "private_key",
    "private_key_path",
    "private_key_passphrase",
    "warehouse",
    "role",
];

/// Resolved Snowflake connection settings.
// Debug is derived: passwords and keys are `Secret`s, which show as ***.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SnowflakeCredentials {
    /// Database to load into.
    pub database: String,
    /// Login name.
    pub username: String,
    /// Password (password authentication).
    pub password: Option<Secret>,
    /// Private key for key-pair authentication: PEM text, or base64 of the PEM text or of the
    /// DER key. When set (or [`Self::private_key_path`]), the login uses the key, not the password.
    pub private_key: Option<Secret>,
    /// A file holding the private key (in a format of [`Self::private_key`], or binary DER);
    /// read at login. Takes precedence over `private_key`, as in dlt.
    pub private_key_path: Option<String>,
    /// Passphrase of an encrypted private key.
    pub private_key_passphrase: Option<Secret>,
    /// The account identifier (`org-account`, `xy12345.eu-central-1`).
    pub account: String,
    /// Warehouse to run statements on.
    pub warehouse: Option<String>,
    /// Role to assume.
    pub role: Option<String>,
    /// Where the service is: `https://{account}.snowflakecomputing.com` unless overridden.
    pub base_url: String,
}

/// Settings of a Snowflake destination.
#[derive(Debug, Clone)]
pub struct SnowflakeSettings {
    /// Connection credentials.
    pub credentials: SnowflakeCredentials,
    /// The dataset (Snowflake schema) to load into.
    pub dataset: String,
    /// A named stage to upload to (`DB.SCHEMA.STAGE`, used as written); default: a stage
    /// `_sluice_stage` created in the dataset.
    pub stage_name: Option<String>,
}

/// Resolve the settings of a destination config (no I/O).
pub fn settings(config: &DestinationConfig) -> Result<SnowflakeSettings> {
    config.section.reject_unknown_keys(SETTINGS, CREDENTIALS)?;
    let credentials = SnowflakeCredentials::from_section(&config.section)?;
    if config.dataset_name.trim().is_empty() {
        return Err(Error::config(
            "the snowflake destination needs a dataset name (the Snowflake schema to load into)",
        ));
    }
    let raw: RawSection = config.section.parse()?;
    let stage_name = raw
        .stage_name
        .map(|s| s.trim().trim_start_matches('@').to_string())
        .filter(|s| !s.is_empty());
    Ok(SnowflakeSettings {
        credentials,
        dataset: config.dataset_name.clone(),
        stage_name,
    })
}

/// `[destination.snowflake]` as written (its `credentials` are read by
/// [`SnowflakeCredentials::from_section`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    #[serde(default, rename = "credentials")]
    _credentials: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "de::opt_text")]
    stage_name: Option<String>,
}

/// The fields of `[destination.snowflake.credentials]` as written (environment variables give
/// text; text fields take numbers as text).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    #[serde(default, deserialize_with = "de::opt_text")]
    base_url: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    database: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    username: Option<String>,
    /// The account identifier (dlt's name for it).
    #[serde(default, deserialize_with = "de::opt_text")]
    host: Option<String>,
    /// The account identifier, when `host` is not set.
    #[serde(default, deserialize_with = "de::opt_text")]
    account: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default)]
    private_key: Option<Secret>,
    #[serde(default, deserialize_with = "de::opt_text")]
    private_key_path: Option<String>,
    #[serde(default)]
    private_key_passphrase: Option<Secret>,
    #[serde(default, deserialize_with = "de::opt_text")]
    warehouse: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    role: Option<String>,
}

const HOW_TO: &str = "set DESTINATION__SNOWFLAKE__CREDENTIALS=snowflake://USER:PASSWORD@ACCOUNT/DATABASE?warehouse=WH&role=ROLE \
or the fields database, username, password, host (the account identifier), warehouse, role under \
[destination.snowflake.credentials] in .sluice/secrets.toml; for key-pair authentication set \
private_key (and private_key_passphrase for an encrypted key) instead of the password";

/// Where the credentials live in the configuration, for messages about them.
pub(crate) const CREDENTIALS_SETTING: &str = "destination.snowflake.credentials";

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl SnowflakeCredentials {
    /// Read credentials from a `[destination.snowflake]` section. The error names every
    /// missing or wrong setting and how to provide it; it never contains the password.
    pub fn from_section(section: &ConfigSection) -> Result<Self> {
        match section.credentials("snowflake", HOW_TO)? {
            Credentials::Url(url) => Self::parse_url(url.expose())
                .map_err(|e| e.context(format!("{}.credentials", section.path()))),
            Credentials::Fields(creds) => Self::from_fields(&creds),
        }
    }

    fn from_fields(creds: &ConfigSection) -> Result<Self> {
        let path = creds.path().to_string();
        let raw: RawCredentials = creds.parse()?;
        let base_url = non_empty(raw.base_url);
        let mut missing = Vec::new();
        let database = non_empty(raw.database);
        let username = non_empty(raw.username);
        // The account identifier: dlt's `host`; `account` is accepted too.
        let account = non_empty(raw.host).or_else(|| non_empty(raw.account));
        let private_key = raw.private_key.filter(|k| !k.expose().trim().is_empty());
        let private_key_path = non_empty(raw.private_key_path);
        let private_key_passphrase = raw.private_key_passphrase.filter(|p| !p.is_empty());
        let key_pair = private_key.is_some() || private_key_path.is_some();
        if database.is_none() {
            missing.push("database");
        }
        if username.is_none() {
            missing.push("username");
        }
        if account.is_none() && (key_pair || base_url.is_none()) {
            missing.push(if key_pair {
                "host (the account identifier, signed into the key-pair login token)"
            } else {
                "host (the account identifier)"
            });
        }
        let password = raw.password.filter(|p| !p.is_empty());
        if password.is_none() && !key_pair {
            missing.push("password (or private_key for key-pair authentication)");
        }
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "{path} is missing {}: {HOW_TO}",
                missing.join(", ")
            )));
        }
        // A key given inline is checked now (no I/O); a key file is read at login.
        if let (Some(key), None) = (&private_key, &private_key_path) {
            KeyPair::decode(
                key.expose(),
                private_key_passphrase.as_ref().map(Secret::expose),
                &KeySource::fields(&path),
            )?;
        }
        Self {
            database: database.unwrap_or_default(),
            username: username.unwrap_or_default(),
            password,
            private_key,
            private_key_path,
            private_key_passphrase,
            account: account.unwrap_or_default(),
            warehouse: non_empty(raw.warehouse),
            role: non_empty(raw.role),
            base_url: String::new(),
        }
        .finish(base_url)
    }

    /// Parse `snowflake://user:password@account/database?warehouse=…&role=…&base_url=…`;
    /// for key-pair authentication `snowflake://user@account/database?private_key=…` with
    /// `private_key_passphrase` and `private_key_path` as further (URL-encoded) parameters.
    pub fn parse_url(text: &str) -> Result<Self> {
        let url = url::Url::parse(text.trim()).map_err(|e| {
            Error::config(format!(
                "not a valid snowflake connection string ({e}): {HOW_TO}"
            ))
        })?;
        if url.scheme() != "snowflake" {
            return Err(Error::config(format!(
                "the connection string must start with snowflake:// (got {}://): {HOW_TO}",
                url.scheme()
            )));
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let username = decode(url.username());
        let password = url.password().map(|p| Secret::new(decode(p)));
        let account = url.host_str().unwrap_or_default().to_string();
        let database = decode(url.path().trim_start_matches('/'));
        let mut warehouse = None;
        let mut role = None;
        let mut base_url = None;
        let mut private_key = None;
        let mut private_key_path = None;
        let mut private_key_passphrase = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "warehouse" => warehouse = non_empty(Some(v.into_owned())),
                "role" => role = non_empty(Some(v.into_owned())),
                "base_url" => base_url = non_empty(Some(v.into_owned())),
                "private_key" if !v.trim().is_empty() => {
                    // An unencoded `+` of base64 arrives as a space; base64 has no spaces. Spaces
                    // are put back before trimming: a key may start or end with `+` (the test
                    // key's random base64 did in about one run in thirty).
                    let v = if v.contains("-----BEGIN ") {
                        v.into_owned()
                    } else {
                        v.replace(' ', "+").trim().to_string()
                    };
                    private_key = Some(Secret::new(v));
                }
                "private_key_path" => private_key_path = non_empty(Some(v.into_owned())),
                "private_key_passphrase" if !v.is_empty() => {
                    private_key_passphrase = Some(Secret::new(v.into_owned()));
                }
                _ => {}
            }
        }
        let key_pair = private_key.is_some() || private_key_path.is_some();
        let mut missing = Vec::new();
        if username.is_empty() {
            missing.push("the user name");
        }
        if password.as_ref().is_none_or(|p| p.is_empty()) && !key_pair {
            missing.push("the password (or a private_key for key-pair authentication)");
        }
        if account.is_empty() {
            missing.push("the account");
        }
        if database.is_empty() {
            missing.push("the database");
        }
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "the snowflake connection string lacks {}: {HOW_TO}",
                missing.join(", ")
            )));
        }
        if let (Some(key), None) = (&private_key, &private_key_path) {
            KeyPair::decode(
                key.expose(),
                private_key_passphrase.as_ref().map(Secret::expose),
                &KeySource::connection_string(),
            )?;
        }
        Self {
            database,
            username,
            password: password.filter(|p| !p.is_empty()),
            private_key,
            private_key_path,
            private_key_passphrase,
            account,
            warehouse,
            role,
            base_url: String::new(),
        }
        .finish(base_url)
    }

    /// Resolve the service URL: `base_url` when given, else the account's.
    fn finish(mut self, base_url: Option<String>) -> Result<Self> {
        self.base_url = match base_url {
            Some(b) => {
                let parsed = url::Url::parse(&b).map_err(|e| {
                    Error::config(format!("snowflake base_url '{b}' is not a valid URL ({e})"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(Error::config(format!(
                        "snowflake base_url '{b}' must be an http:// or https:// URL"
                    )));
                }
                b.trim_end_matches('/').to_string()
            }
            None => format!(
                "https://{}.snowflakecomputing.com",
                self.account.to_lowercase()
            ),
        };
        Ok(self)
    }

    /// Whether the login uses key-pair (JWT) authentication: a private key or key file is set.
    pub fn uses_key_pair(&self) -> bool {
        self.private_key.is_some() || self.private_key_path.is_some()
    }

    /// The decoded private key for key-pair authentication (`None` with a password): reads
    /// `private_key_path` when set, else decodes `private_key`. Errors name the setting and
    /// never contain the key or the passphrase.
    pub(crate) async fn key_pair(&self) -> Result<Option<KeyPair>> {
        let passphrase = self.private_key_passphrase.as_ref().map(Secret::expose);
        if let Some(path) = &self.private_key_path {
            let source = KeySource::file(CREDENTIALS_SETTING, path);
            let bytes = tokio::fs::read(path).await.map_err(|e| {
                Error::config(format!(
                    "snowflake key-pair authentication: cannot read {}: check the path",
                    source.key
                ))
                .with_source(e)
            })?;
            let text = match String::from_utf8(bytes) {
                Ok(text) => Secret::new(text),
                // A binary DER key file: hand it on as base64 of the DER.
                Err(e) => {
                    use base64::Engine;
                    Secret::new(base64::engine::general_purpose::STANDARD.encode(e.as_bytes()))
                }
            };
            return KeyPair::decode(text.expose(), passphrase, &source).map(Some);
        }
        match &self.private_key {
            Some(key) => KeyPair::decode(
                key.expose(),
                passphrase,
                &KeySource::fields(CREDENTIALS_SETTING),
            )
            .map(Some),
            None => Ok(None),
        }
    }

    /// The account name sent at login: the part of the identifier before the first `.`
    /// (`xy12345.eu-central-1` → `XY12345`).
    pub fn account_name(&self) -> String {
        self.account
            .split('.')
            .next()
            .unwrap_or_default()
            .to_uppercase()
    }

    /// Where data goes, for people: no secrets.
    pub fn display(&self) -> String {
        format!(
            "snowflake://{}@{}/{}",
            self.username,
            self.base_url
                .trim_start_matches("https://")
                .trim_start_matches("http://"),
            self.database
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_fields_resolve_the_same() {
        let a = SnowflakeCredentials::parse_url(
            "snowflake://loader:s%40cret@xy12345.eu-central-1/ANALYTICS?warehouse=WH&role=LOADER",
        )
        .unwrap();
        assert_eq!(a.username, "loader");
        assert_eq!(a.password.as_ref().unwrap().expose(), "s@cret");
        assert_eq!(a.database, "ANALYTICS");
        assert_eq!(a.warehouse.as_deref(), Some("WH"));
        assert_eq!(a.role.as_deref(), Some("LOADER"));
        assert_eq!(
            a.base_url,
            "https://xy12345.eu-central-1.snowflakecomputing.com"
        );
        assert_eq!(a.account_name(), "XY12345");
        let section = ConfigSection::from_table(
            "destination.snowflake",
            toml::from_str(
                "[credentials]\ndatabase = \"ANALYTICS\"\nusername = \"loader\"\npassword = \"s@cret\"\n\
                 host = \"xy12345.eu-central-1\"\nwarehouse = \"WH\"\nrole = \"LOADER\"\n",
            )
            .unwrap(),
        );
        assert_eq!(SnowflakeCredentials::from_section(&section).unwrap(), a);
    }

    #[test]
    fn password_never_shows() {
        let c = SnowflakeCredentials::parse_url(
            "snowflake://u:hunter2@acc/db?base_url=http://127.0.0.1:9/",
        )
        .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.display().contains("hunter2"));
        let err = SnowflakeCredentials::parse_url("snowflake://u:hunter2@acc")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn stage_name_and_text_fields() {
        let config = |text: &str| DestinationConfig {
            destination_name: "snowflake".into(),
            pipeline_name: "p".into(),
            dataset_name: "ds".into(),
            working_dir: std::path::PathBuf::from("."),
            section: ConfigSection::from_table(
                "destination.snowflake",
                toml::from_str(text).unwrap(),
            ),
        };
        let creds =
            "[credentials]\ndatabase = \"DB\"\nusername = 42\npassword = \"pw\"\nhost = \"acc\"\n";
        let s = settings(&config(&format!("stage_name = \" @ST \"\n{creds}"))).unwrap();
        assert_eq!(s.stage_name.as_deref(), Some("ST"));
        assert_eq!(s.credentials.username, "42");
        let e = settings(&config(&format!("stage_name = [\"ST\"]\n{creds}")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[destination.snowflake] stage_name"), "{e}");
    }

    #[test]
    fn missing_fields_are_named() {
        let section = ConfigSection::from_table(
            "destination.snowflake",
            toml::from_str("[credentials]\nusername = \"u\"\n").unwrap(),
        );
        let err = SnowflakeCredentials::from_section(&section)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database") && err.contains("password") && err.contains("host"),
            "{err}"
        );
        let empty = ConfigSection::from_table("destination.snowflake", toml::Table::new());
        assert!(SnowflakeCredentials::from_section(&empty).is_err());
    }

    fn key_section(fields: &[(&str, &str)]) -> ConfigSection {
        let mut env: Vec<(String, String)> = vec![
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE".into(),
                "ANALYTICS".into(),
            ),
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME".into(),
                "loader".into(),
            ),
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__HOST".into(),
                "xy12345.eu-central-1".into(),
            ),
        ];
        for (k, v) in fields {
            env.push((
                format!("DESTINATION__SNOWFLAKE__CREDENTIALS__{}", k.to_uppercase()),
                v.to_string(),
            ));
        }
        sluice_core::ConfigProvider::empty()
            .with_env(env)
            .section(&["destination", "snowflake"])
    }

    #[tokio::test]
    async fn a_private_key_replaces_the_password() {
        use crate::keypair::test_keys::{PASSPHRASE, keys};
        use base64::Engine;
        let Some(k) = keys() else { return };
        // From the environment, as dlt names it; no password needed.
        let section = key_section(&[
            ("private_key", &k.encrypted_pem),
            ("private_key_passphrase", PASSPHRASE),
        ]);
        let c = SnowflakeCredentials::from_section(&section).unwrap();
        assert!(c.uses_key_pair() && c.password.is_none());
        let pair = c.key_pair().await.unwrap().unwrap();
        assert_eq!(pair.fingerprint(), format!("SHA256:{}", k.fingerprint));
        let shown = format!("{c:?} {}", c.display());
        let body_line = k.encrypted_pem.lines().nth(2).unwrap();
        assert!(
            !shown.contains(body_line) && !shown.contains(PASSPHRASE),
            "{shown}"
        );
        assert!(shown.contains("private_key: Some(***)"), "{shown}");

        // In a TOML table, with a password too: the key is used (as dlt's connector does).
        let section = ConfigSection::from_table(
            "destination.snowflake",
            toml::from_str(&format!(
                "[credentials]\ndatabase = \"ANALYTICS\"\nusername = \"loader\"\nhost = \"xy12345\"\n\
                 password = \"s3cret\"\nprivate_key = '''\n{}'''\n",
                k.pem
            ))
            .unwrap(),
        );
        let c = SnowflakeCredentials::from_section(&section).unwrap();
        assert!(c.key_pair().await.unwrap().is_some());

        // In the connection string, URL-encoded, as dlt documents it.
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let b64 = base64::engine::general_purpose::STANDARD.encode(k.encrypted_pem.as_bytes());
        let c = SnowflakeCredentials::parse_url(&format!(
            "snowflake://loader@xy12345.eu-central-1/ANALYTICS?warehouse=WH&private_key={}&private_key_passphrase={}",
            enc(&b64),
            enc(PASSPHRASE)
        ))
        .unwrap();
        assert_eq!(
            c.private_key_passphrase.as_ref().unwrap().expose(),
            PASSPHRASE
        );
        assert_eq!(c.warehouse.as_deref(), Some("WH"));
        assert!(c.password.is_none());
        assert!(c.key_pair().await.unwrap().is_some());
        // Base64 of DER pasted without URL-encoding: its `+` arrive as spaces and are put back.
        let der_b64 = base64::engine::general_purpose::STANDARD.encode(&k.encrypted_der);
        assert!(
            der_b64.contains('+'),
            "the test key's base64 should hold a '+'"
        );
        let c = SnowflakeCredentials::parse_url(&format!(
            "snowflake://loader@xy12345/ANALYTICS?private_key={der_b64}&private_key_passphrase={}",
            enc(PASSPHRASE)
        ))
        .unwrap();
        assert!(c.key_pair().await.unwrap().is_some());

        // A key file, read at login.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rsa_key.p8");
        std::fs::write(&file, &k.encrypted_pem).unwrap();
        let file_text = file.to_string_lossy().into_owned();
        let section = key_section(&[
            ("private_key_path", &file_text),
            ("private_key_passphrase", PASSPHRASE),
        ]);
        let c = SnowflakeCredentials::from_section(&section).unwrap();
        let pair = c.key_pair().await.unwrap().unwrap();
        assert_eq!(pair.fingerprint(), format!("SHA256:{}", k.fingerprint));
        // A binary DER key file too.
        std::fs::write(&file, &k.der).unwrap();
        let c =
            SnowflakeCredentials::from_section(&key_section(&[("private_key_path", &file_text)]))
                .unwrap();
        assert!(c.key_pair().await.unwrap().is_some());
        // A missing file is named.
        let c = SnowflakeCredentials::from_section(&key_section(&[(
            "private_key_path",
            "/no/such/rsa_key.p8",
        )]))
        .unwrap();
        let e = c.key_pair().await.unwrap_err().to_string();
        assert!(
            e.contains("/no/such/rsa_key.p8") && e.contains("private_key_path"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_key_is_reported_when_the_config_is_validated() {
        use crate::keypair::test_keys::{PASSPHRASE, keys};
        let Some(k) = keys() else { return };
        let e = SnowflakeCredentials::from_section(&key_section(&[
            ("private_key", &k.encrypted_pem),
            ("private_key_passphrase", "wrong-pass-123"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("destination.snowflake.credentials.private_key ")
                && e.contains("destination.snowflake.credentials.private_key_passphrase")
                && e.contains("passphrase is wrong"),
            "{e}"
        );
        assert!(
            !e.contains("wrong-pass-123") && !e.contains(PASSPHRASE),
            "{e}"
        );
        let e =
            SnowflakeCredentials::from_section(&key_section(&[("private_key", &k.encrypted_pem)]))
                .unwrap_err()
                .to_string();
        assert!(e.contains("no passphrase"), "{e}");
        let e = SnowflakeCredentials::parse_url(
            "snowflake://loader@xy12345/ANALYTICS?private_key=bm90LWEta2V5&private_key_passphrase=hunter2",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("private_key of the connection string") && !e.contains("hunter2"),
            "{e}"
        );
        // Key-pair authentication signs the account into its token: the host is needed.
        let section = ConfigSection::from_table(
            "destination.snowflake",
            toml::from_str(&format!(
                "[credentials]\ndatabase = \"D\"\nusername = \"u\"\n\
                 base_url = \"http://127.0.0.1:9\"\nprivate_key = '''\n{}'''\n",
                k.pem
            ))
            .unwrap(),
        );
        let e = SnowflakeCredentials::from_section(&section)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing host (the account identifier, signed")
                && !e.contains("password (or private_key"),
            "{e}"
        );
    }
}
