//! Configuration and secrets in dlt's layout.
//!
//! Values come from, in order of precedence: environment variables (`SECTION__KEY`, upper
//! case, sections joined by `__`), `secrets.toml`, then `config.toml`, both in `.sluice/`
//! (or `.dlt/` when `.sluice/` is absent) under the working directory. The global files of
//! the user's home, `~/.sluice/` over `~/.dlt/` (dlt's global folder), come under the
//! project's: a key the project sets wins, a key only the global file has is read from it. A [`ConfigSection`] is
//! the merged view of one section, such as `destination.postgres` or `sources.forter`.
//!
//! Nothing here prints values: the `Debug` output of a section lists keys only, and
//! [`Secret`] never shows its content.

pub mod de;

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret string. Its `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where configuration values come from: environment, secrets.toml, config.toml.
#[derive(Clone, Default)]
pub struct ConfigProvider {
    env: BTreeMap<String, String>,
    secrets: toml::Table,
    config: toml::Table,
    folder: Option<PathBuf>,
}

impl fmt::Debug for ConfigProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigProvider")
            .field("folder", &self.folder)
            .field("env_keys", &self.env.len())
            .finish_non_exhaustive()
    }
}

impl ConfigProvider {
    /// An empty provider (no files, no environment).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Read `.sluice/` (or `.dlt/`) under `project_dir`, the global files of the user's home
    /// (`~/.sluice/` over `~/.dlt/`, under the project's) and the process environment.
    pub fn load(project_dir: &Path) -> Result<Self> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let global: Vec<PathBuf> = home
            .iter()
            .flat_map(|h| [h.join(".dlt"), h.join(".sluice")])
            .collect();
        Self::load_from(project_dir, &global)
    }

    /// Read `.sluice/` (or `.dlt/`) under `project_dir` over the `config.toml` and
    /// `secrets.toml` of the `global` folders (later ones win; missing ones are skipped), and
    /// the process environment.
    pub fn load_from(project_dir: &Path, global: &[PathBuf]) -> Result<Self> {
        let mut provider = Self {
            env: std::env::vars().collect(),
            ..Self::default()
        };
        for folder in global.iter().filter(|f| f.is_dir()) {
            merge_into(
                &mut provider.config,
                &read_toml(&folder.join("config.toml"))?,
            );
            merge_into(
                &mut provider.secrets,
                &read_toml(&folder.join("secrets.toml"))?,
            );
        }
        let sluice = project_dir.join(".sluice");
        let dlt = project_dir.join(".dlt");
        let folder = if sluice.is_dir() {
            Some(sluice)
        } else if dlt.is_dir() {
            Some(dlt)
        } else {
            None
        };
        if let Some(folder) = &folder {
            merge_into(
                &mut provider.config,
                &read_toml(&folder.join("config.toml"))?,
            );
            merge_into(
                &mut provider.secrets,
                &read_toml(&folder.join("secrets.toml"))?,
            );
        }
        provider.folder = folder;
        Ok(provider)
    }

    /// Replace the environment (tests and embedding programs).
    pub fn with_env<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// Set config.toml content (tests and embedding programs).
    pub fn with_config_toml(mut self, text: &str) -> Result<Self> {
        self.config = parse_toml(text, "config.toml")?;
        Ok(self)
    }

    /// Set secrets.toml content (tests and embedding programs).
    pub fn with_secrets_toml(mut self, text: &str) -> Result<Self> {
        self.secrets = parse_toml(text, "secrets.toml")?;
        Ok(self)
    }

    /// The folder the files were read from, if any.
    pub fn folder(&self) -> Option<&Path> {
        self.folder.as_deref()
    }

    /// The merged view of a section (`["destination", "duckdb"]`): config.toml, overridden by
    /// secrets.toml, overridden by environment variables.
    ///
    /// A source's section (`["sources", "shop"]`) also falls back, key by key, to the plain
    /// values of its parents, as dlt looks `api_key` up in `sources.shop.api_key`, then in
    /// `sources.api_key` (`SOURCES__API_KEY`): [`ConfigSection::get`] answers with them when
    /// the section has no value of its own. They are not keys of the section (a shared value
    /// is never an unknown key of every source).
    pub fn section(&self, path: &[&str]) -> ConfigSection {
        let mut fallback = toml::Table::new();
        if path.first() == Some(&"sources") {
            for depth in 1..path.len() {
                let parent = self.merged(&path[..depth]);
                let plain = parent.into_iter().filter(|(_, v)| !v.is_table());
                fallback.extend(plain);
            }
        }
        ConfigSection {
            path: path.join("."),
            values: self.merged(path),
            fallback,
        }
    }

    /// config.toml, secrets.toml and the environment merged at `path`.
    fn merged(&self, path: &[&str]) -> toml::Table {
        let mut values = toml::Table::new();
        for file in [&self.config, &self.secrets] {
            if let Some(t) = lookup_table(file, path) {
                merge_into(&mut values, t);
            }
        }
        let prefix = format!(
            "{}__",
            path.iter()
                .map(|p| p.to_uppercase())
                .collect::<Vec<_>>()
                .join("__")
        );
        for (key, value) in &self.env {
            if let Some(rest) = key.strip_prefix(&prefix) {
                if rest.is_empty() {
                    continue;
                }
                let parts: Vec<String> = rest.split("__").map(|p| p.to_lowercase()).collect();
                set_path(&mut values, &parts, toml::Value::String(value.clone()));
            }
        }
        values
    }
}

fn read_toml(path: &Path) -> Result<toml::Table> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_toml(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(e) => Err(Error::config(format!("cannot read {}", path.display())).with_source(e)),
    }
}

fn parse_toml(text: &str, name: &str) -> Result<toml::Table> {
    // The TOML error text quotes the offending line, which may hold a secret: keep only the position.
    text.parse::<toml::Table>().map_err(|e| {
        let at = e
            .span()
            .map(|s| {
                let line = text[..s.start].matches('\n').count() + 1;
                format!(" at line {line}")
            })
            .unwrap_or_default();
        Error::config(format!("{name} is not valid TOML{at}: {}", e.message()))
    })
}

fn lookup_table<'a>(table: &'a toml::Table, path: &[&str]) -> Option<&'a toml::Table> {
    let mut t = table;
    for p in path {
        t = t.get(*p)?.as_table()?;
    }
    Some(t)
}

fn merge_into(target: &mut toml::Table, source: &toml::Table) {
    for (k, v) in source {
        match (target.get_mut(k), v) {
            (Some(toml::Value::Table(t)), toml::Value::Table(s)) => merge_into(t, s),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

fn set_path(target: &mut toml::Table, parts: &[String], value: toml::Value) {
    let (last, parents) = parts.split_last().expect("non-empty path");
    let mut t = target;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            // A native value (a connection string) is replaced by fields from the environment.
            *entry = toml::Value::Table(toml::Table::new());
        }
        t = entry.as_table_mut().expect("just made a table");
    }
    t.insert(last.clone(), value);
}

fn check_keys(table: &toml::Table, accepted: &[&str], path: &str) -> Result<()> {
    let mut unknown: Vec<&str> = table
        .keys()
        .map(String::as_str)
        .filter(|k| !accepted.contains(k))
        .collect();
    unknown.sort_unstable();
    let Some(key) = unknown.first() else {
        return Ok(());
    };
    let env = format!("{path}.{key}").replace('.', "__").to_uppercase();
    let hint = accepted
        .iter()
        .map(|a| (edit_distance(key, a), *a))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, a)| format!(" (did you mean '{a}'?)"))
        .unwrap_or_default();
    let mut sorted = accepted.to_vec();
    sorted.sort_unstable();
    let more = if unknown.len() > 1 {
        format!(
            " (and {} more unknown key(s): {})",
            unknown.len() - 1,
            unknown[1..].join(", ")
        )
    } else {
        String::new()
    };
    Err(Error::config(format!(
        "unknown key '{key}' in [{path}] (or {env} in the environment){hint}; the accepted keys \
         are {}{more}",
        sorted.join(", ")
    )))
}

/// Check a number of seconds (or a rate) read from config: finite, not negative, positive when
/// `positive`, and at most a year. The error names `key` (`[source] request_timeout`) and the
/// value. Found by the config fuzzer: `NaN`, `inf` and `1e300` used to panic where they became
/// a `Duration`.
pub fn check_seconds(key: &str, value: f64, positive: bool) -> Result<f64> {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    let ok = value.is_finite() && value >= 0.0 && (!positive || value > 0.0) && value <= YEAR;
    if ok {
        Ok(value)
    } else {
        Err(Error::config(format!(
            "{key} must be a {} number up to {YEAR} (a year in seconds), got {value}",
            if positive { "positive" } else { "non-negative" }
        )))
    }
}

/// Levenshtein distance of two short keys (for "did you mean" hints).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The fields of a Google Cloud service-account key file. Destinations that take one (BigQuery,
/// the filesystem on `gs://`) accept them all in their credentials table, so that a key file can
/// be pasted whole, and read only those they need.
pub const GCP_SERVICE_ACCOUNT_KEYS: &[&str] = &[
    "type",
    "project_id",
    "private_key_id",
    "private_key",
    "client_email",
    "client_id",
    "auth_uri",
    "token_uri",
    "auth_provider_x509_cert_url",
    "client_x509_cert_url",
    "universe_domain",
];

/// The merged values of one configuration section.
#[derive(Clone, Default)]
pub struct ConfigSection {
    path: String,
    values: toml::Table,
    /// Plain values of the parent sections, read by `get` when `values` lacks a key.
    fallback: toml::Table,
}

impl fmt::Debug for ConfigSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSection")
            .field("path", &self.path)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A destination's credentials: a connection string (held as a secret: it may carry a
/// password) or a table of fields.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// One connection string.
    Url(Secret),
    /// `[destination.<name>.credentials]`.
    Fields(ConfigSection),
}

impl ConfigSection {
    /// A section built from a TOML table (tests and embedding programs).
    pub fn from_table(path: impl Into<String>, values: toml::Table) -> Self {
        Self {
            path: path.into(),
            values,
            fallback: toml::Table::new(),
        }
    }

    /// The dotted path of the section, for messages (`destination.postgres`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw value at a dotted key (`credentials.password`).
    pub fn get(&self, dotted: &str) -> Option<&toml::Value> {
        let mut parts = dotted.split('.');
        let first = parts.next()?;
        let Some(mut v) = self.values.get(first) else {
            // A parent's plain value, for a key of this section itself (see
            // `ConfigProvider::section`).
            return self.fallback.get(dotted);
        };
        for p in parts {
            v = v.as_table()?.get(p)?;
        }
        Some(v)
    }

    /// A string value; numbers and booleans are turned into text.
    pub fn get_str(&self, dotted: &str) -> Option<String> {
        match self.get(dotted)? {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A secret string value.
    pub fn get_secret(&self, dotted: &str) -> Option<Secret> {
        self.get_str(dotted).map(Secret::new)
    }

    /// An unsigned integer (TOML integer or numeric string); a wrong value is an error naming the key.
    pub fn get_u64(&self, dotted: &str) -> Result<Option<u64>> {
        match self.get(dotted) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) if *i >= 0 => Ok(Some(*i as u64)),
            Some(toml::Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
                Error::config(format!(
                    "{}.{dotted} must be a non-negative integer, got '{s}'",
                    self.path
                ))
            }),
            Some(_) => Err(Error::config(format!(
                "{}.{dotted} must be a non-negative integer",
                self.path
            ))),
        }
    }

    /// A boolean (TOML boolean or `true`/`false`/`1`/`0` string).
    pub fn get_bool(&self, dotted: &str) -> Result<Option<bool>> {
        match self.get(dotted) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(toml::Value::String(s)) => match s.to_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(Some(true)),
                "false" | "0" | "no" => Ok(Some(false)),
                _ => Err(Error::config(format!(
                    "{}.{dotted} must be true or false, got '{s}'",
                    self.path
                ))),
            },
            Some(_) => Err(Error::config(format!(
                "{}.{dotted} must be true or false",
                self.path
            ))),
        }
    }

    /// Fail on a key this section does not read: a misspelt setting (`hots` for `host`) must not
    /// be ignored silently. `top` are the keys accepted in the section itself (`credentials` is
    /// always accepted), `credentials` those of its `credentials` table (when it is a table, not
    /// a connection string). The error names the key, its section, the environment variable that
    /// would set it, the nearest accepted key and every accepted key.
    pub fn reject_unknown_keys(&self, top: &[&str], credentials: &[&str]) -> Result<()> {
        let mut accepted: Vec<&str> = top.to_vec();
        if !accepted.contains(&"credentials") {
            accepted.push("credentials");
        }
        check_keys(&self.values, &accepted, &self.path)?;
        if let Some(toml::Value::Table(t)) = self.values.get("credentials") {
            check_keys(t, credentials, &format!("{}.credentials", self.path))?;
        }
        Ok(())
    }

    /// The `credentials` of a destination section, as dlt takes them: one connection string
    /// (`postgresql://user:pass@host/db`) or a table of fields. Missing or of another type, the
    /// error says so and how to give them (`how_to`); it never shows a value.
    pub fn credentials(&self, destination: &str, how_to: &str) -> Result<Credentials> {
        match self.get("credentials") {
            None => Err(Error::config(format!(
                "{destination} credentials are missing: {how_to}"
            ))),
            Some(toml::Value::String(url)) => Ok(Credentials::Url(Secret::new(url.clone()))),
            Some(toml::Value::Table(_)) => Ok(Credentials::Fields(
                self.subsection("credentials")
                    .expect("credentials is a table"),
            )),
            Some(_) => Err(Error::config(format!(
                "{}.credentials must be a connection string or a table: {how_to}",
                self.path
            ))),
        }
    }

    /// A sub-table, as a section.
    pub fn subsection(&self, key: &str) -> Option<ConfigSection> {
        self.get(key)?.as_table().map(|t| ConfigSection {
            path: format!("{}.{key}", self.path),
            values: t.clone(),
            fallback: toml::Table::new(),
        })
    }

    /// Top-level keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(|k| k.as_str())
    }

    /// Whether the section has no values.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Set a value (used for command-line overrides).
    pub fn set(&mut self, dotted: &str, value: toml::Value) {
        let parts: Vec<String> = dotted.split('.').map(str::to_string).collect();
        set_path(&mut self.values, &parts, value);
    }
}

/// Replace the password of a URL (`scheme://user:password@host`) and secret-looking query
/// parameters with `***`, for display.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?', '#'])
            .map(|i| rest_start + i)
            .unwrap_or(out.len());
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                out.replace_range(start..rest_start + at, "***");
            }
        }
    }
    redact_query_params(&mask_passwords_before_at(&out))
}

/// In text that may be a damaged URL (`postgresql:/ /user:pass@host`), mask what lies between
/// a `:` and the next `@` (a password), wherever the URL syntax around it is broken.
fn mask_passwords_before_at(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let before = &rest[..at];
        // The password starts after the last `:` of the user-info (which ends at `/` or space).
        let info_start = before.rfind(['/', ' ']).map_or(0, |i| i + 1);
        match before[info_start..].find(':') {
            Some(colon)
                if info_start + colon + 1 < at && &before[info_start + colon + 1..] != "***" =>
            {
                out.push_str(&before[..info_start + colon + 1]);
                out.push_str("***");
            }
            _ => out.push_str(before),
        }
        out.push('@');
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

/// Query parameter names whose values are redacted in URLs shown to people.
pub const SECRET_PARAMS: &[&str] = &[
    "api_key",
    "apikey",
    "api-key",
    "token",
    "key",
    "access_token",
    "access-token",
    "secret",
    "password",
    "pwd",
    "client_secret",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

fn redact_query_params(url: &str) -> String {
    let Some(q) = url.find('?') else {
        return url.to_string();
    };
    let (base, query) = url.split_at(q + 1);
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}{}{fragment}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::ConfigProvider;

    #[test]
    fn sources_fall_back_to_plain_values_of_their_parents() {
        let provider = ConfigProvider::empty()
            .with_config_toml(
                "[sources]\napi_version = \"2.0\"\nregion = \"eu\"\n\
                 [sources.other]\nsite_id = \"theirs\"\n\
                 [sources.shop]\nregion = \"us\"\n",
            )
            .unwrap()
            .with_secrets_toml("[sources]\napi_key = \"shared-key\"\n")
            .unwrap()
            .with_env([("SOURCES__TOKEN", "from-env"), ("SOURCES__SHOP__USER", "u")]);
        let shop = provider.section(&["sources", "shop"]);
        let get = |k: &str| shop.get_str(k);
        // The section's own value wins; missing keys come from `[sources]` and SOURCES__*.
        assert_eq!(get("region").as_deref(), Some("us"));
        assert_eq!(get("api_version").as_deref(), Some("2.0"));
        assert_eq!(get("api_key").as_deref(), Some("shared-key"));
        assert_eq!(get("token").as_deref(), Some("from-env"));
        assert_eq!(get("user").as_deref(), Some("u"));
        // Another source's table is not a fallback, and shared values are not keys of the
        // section (so they are never refused as unknown).
        assert_eq!(get("other"), None);
        assert_eq!(get("site_id"), None);
        let mut keys: Vec<&str> = shop.keys().collect();
        keys.sort_unstable();
        assert_eq!(keys, ["region", "user"]);
        // Destinations keep their sections as written.
        let provider = ConfigProvider::empty()
            .with_config_toml("[destination]\ncredentials = \"x\"\n")
            .unwrap();
        assert!(
            provider
                .section(&["destination", "duckdb"])
                .get("credentials")
                .is_none()
        );
    }

    #[test]
    fn global_files_come_under_the_projects() {
        let tmp = std::env::temp_dir().join(format!("sluice-config-{}", std::process::id()));
        let write = |rel: &str, text: &str| {
            let path = tmp.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "home/.dlt/secrets.toml",
            "[sources.shop]\nusername = \"global-dlt\"\npassword = \"global\"\ntoken = \"dlt\"\n",
        );
        write(
            "home/.sluice/secrets.toml",
            "[sources.shop]\ntoken = \"sluice\"\n",
        );
        write(
            "home/.sluice/config.toml",
            "[sources.shop]\napi_version = \"9\"\n",
        );
        write(
            "project/.dlt/secrets.toml",
            "[sources.shop]\npassword = \"project\"\n",
        );
        let global = [
            tmp.join("home/.dlt"),
            tmp.join("home/.sluice"),
            tmp.join("nowhere"),
        ];
        let provider = ConfigProvider::load_from(&tmp.join("project"), &global)
            .unwrap()
            .with_env(Vec::<(String, String)>::new());
        let section = provider.section(&["sources", "shop"]);
        let get = |k: &str| section.get_str(k).unwrap_or_default();
        assert_eq!(get("username"), "global-dlt");
        assert_eq!(get("password"), "project");
        assert_eq!(get("token"), "sluice");
        assert_eq!(get("api_version"), "9");
        assert_eq!(provider.folder(), Some(tmp.join("project/.dlt").as_path()));
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn damaged_urls_keep_their_password_hidden() {
        // Found by config_fuzz: a damaged connection string was echoed with its password.
        for damaged in [
            "postgresql:/ /loader:pw123@localhost:5432/lake",
            "postgresql//loader:pw123@localhost/db",
            "loader:pw123@localhost",
            "postgresql://loader:pw123@local host/db",
        ] {
            let shown = super::redact_url(damaged);
            assert!(!shown.contains("pw123"), "{damaged} -> {shown}");
        }
        assert_eq!(
            super::redact_url("postgresql://loader:pw@h:5432/db"),
            "postgresql://loader:***@h:5432/db"
        );
        assert_eq!(super::redact_url("https://h/a@b"), "https://h/a@b");
    }

    use super::*;

    #[test]
    fn unknown_keys_are_named_with_section_env_var_and_nearest_key() {
        let p = ConfigProvider::empty()
            .with_secrets_toml("[destination.postgres.credentials]\nhots = \"db\"\nport = 5432\n")
            .unwrap();
        let s = p.section(&["destination", "postgres"]);
        let err = s
            .reject_unknown_keys(&[], &["host", "port", "database"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown key 'hots' in [destination.postgres.credentials] (or \
             DESTINATION__POSTGRES__CREDENTIALS__HOTS in the environment) (did you mean 'host'?); \
             the accepted keys are database, host, port"
        );
        s.reject_unknown_keys(&[], &["host", "port", "hots"])
            .unwrap();
        // From the environment too; a connection string is not a table of keys.
        let p = ConfigProvider::empty().with_env([
            ("DESTINATION__POSTGRES__CREDENTIALS", "postgresql://u@h/d"),
            ("DESTINATION__POSTGRES__STAGE", "x"),
        ]);
        let err = p
            .section(&["destination", "postgres"])
            .reject_unknown_keys(&["stage_name"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown key 'stage' in [destination.postgres]"),
            "{err}"
        );
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn env_wins_over_secrets_over_config() {
        let p = ConfigProvider::empty()
            .with_config_toml("[destination.postgres.credentials]\nhost = \"cfg\"\nport = 5432\n")
            .unwrap()
            .with_secrets_toml(
                "[destination.postgres.credentials]\nhost = \"sec\"\npassword = \"p\"\n",
            )
            .unwrap()
            .with_env([("DESTINATION__POSTGRES__CREDENTIALS__PASSWORD", "envpw")]);
        let s = p.section(&["destination", "postgres"]);
        assert_eq!(s.get_str("credentials.host").as_deref(), Some("sec"));
        assert_eq!(s.get_str("credentials.port").as_deref(), Some("5432"));
        assert_eq!(s.get_str("credentials.password").as_deref(), Some("envpw"));
        assert!(!format!("{s:?}").contains("envpw"));
    }

    #[test]
    fn native_value_from_env() {
        let p = ConfigProvider::empty()
            .with_env([("DESTINATION__DUCKDB__CREDENTIALS", "/tmp/x.duckdb")]);
        let s = p.section(&["destination", "duckdb"]);
        assert_eq!(s.get_str("credentials").as_deref(), Some("/tmp/x.duckdb"));
        assert!(p.section(&["destination", "postgres"]).is_empty());
    }

    #[test]
    fn toml_errors_do_not_echo_the_line() {
        let err = ConfigProvider::empty()
            .with_secrets_toml("password = \"hunter2\nnext = 1")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("secrets.toml is not valid TOML at line"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgresql://loader:s3cret@localhost:5432/db?sslmode=require"),
            "postgresql://loader:***@localhost:5432/db?sslmode=require"
        );
        assert_eq!(
            redact_url("https://api.example.com/v1?api_key=abc&page=2"),
            "https://api.example.com/v1?api_key=***&page=2"
        );
        assert_eq!(
            format!("{:?} {}", Secret::new("x"), Secret::new("x")),
            "*** ***"
        );
    }

    #[test]
    fn typed_getters_name_the_key() {
        let s = ConfigSection::from_table(
            "destination.x",
            "n = \"abc\"\nb = \"maybe\"".parse().unwrap(),
        );
        assert!(
            s.get_u64("n")
                .unwrap_err()
                .to_string()
                .contains("destination.x.n")
        );
        assert!(s.get_bool("b").is_err());
        assert_eq!(s.get_u64("missing").unwrap(), None);
    }
}
