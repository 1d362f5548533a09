//! The filesystem destination's configuration, in dlt's layout:
//!
//! ```toml
//! [destination.filesystem]
//! bucket_url = "s3://bucket/path"      # or file:///abs, a plain (relative) path, gs://, az://, memory://
//! layout = "{table_name}/{load_id}.{file_id}.{ext}"
//! loader_file_format = "parquet"        # parquet (default), jsonl or csv
//!
//! [destination.filesystem.credentials]
//! aws_access_key_id = "…"
//! aws_secret_access_key = "…"
//! region_name = "eu-central-1"
//! endpoint_url = "http://127.0.0.1:9000" # S3-compatible stores: path style, plain HTTP allowed
//! ```
//!
//! Azure takes `azure_storage_account_name` with `azure_storage_account_key` or
//! `azure_storage_sas_token`; `endpoint_url` is then the account's blob endpoint, for Azurite
//! (`http://127.0.0.1:10000/devstoreaccount1`), and dlt's `azure_account_host` a host name
//! reached over HTTPS (`myaccount.blob.core.windows.net`).
//!
//! Environment variables win over files (`DESTINATION__FILESYSTEM__BUCKET_URL`,
//! `DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID`, …); the standard `AWS_*`,
//! `GOOGLE_*` and `AZURE_*` variables are read for what the section leaves unset.
//! [`FilesystemSettings::resolve`] does no I/O; [`FilesystemSettings::build_store`] creates the
//! local folder of a `file://` bucket and the object store client.

use crate::bucket::{Bucket, parse_bucket_url};
use crate::layout::Layout;
use object_store::path::Path as ObjectPath;
use serde::Deserialize;
use serde::de::IgnoredAny;
use sluice_core::capabilities::FileFormat;
use sluice_core::config::{GCP_SERVICE_ACCOUNT_KEYS, de};
use sluice_core::{DestinationConfig, Error, Result, Secret};
use std::collections::BTreeMap;

/// Smallest part of a multipart upload that S3 accepts (except the last part).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Default part size of multipart uploads; files up to this size go up in one request.
pub const DEFAULT_PART_SIZE: usize = 10 * 1024 * 1024;
/// Default number of parts uploaded at the same time.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// How many state files per pipeline dlt keeps by default.
pub const DEFAULT_MAX_STATE_FILES: u64 = 100;

/// S3 credentials and options, named as dlt names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Credentials {
    /// `aws_access_key_id`.
    pub access_key_id: Option<Secret>,
    /// `aws_secret_access_key`.
    pub secret_access_key: Option<Secret>,
    /// `aws_session_token`.
    pub session_token: Option<Secret>,
    /// `region_name`.
    pub region: Option<String>,
    /// `endpoint_url`: an S3-compatible endpoint (path-style requests; `http://` allowed).
    pub endpoint_url: Option<String>,
}

/// GCS credentials (a service account), named as dlt names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcsCredentials {
    /// `client_email`.
    pub client_email: Option<String>,
    /// `private_key` (PEM).
    pub private_key: Option<Secret>,
    /// `private_key_id`.
    pub private_key_id: Option<String>,
    /// `project_id` (informational).
    pub project_id: Option<String>,
}

/// Azure credentials, named as dlt names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AzureCredentials {
    /// `azure_storage_account_name`.
    pub account_name: Option<String>,
    /// `azure_storage_account_key`.
    pub account_key: Option<Secret>,
    /// `azure_storage_sas_token`.
    pub sas_token: Option<Secret>,
    /// The account's blob endpoint: `endpoint_url` as written (an emulator such as Azurite,
    /// `http://127.0.0.1:10000/devstoreaccount1`, path style, `http://` allowed), or
    /// `https://<azure_account_host>`. Unset: `https://<account>.blob.core.windows.net`.
    pub endpoint: Option<String>,
}

/// The resolved settings of the filesystem destination.
#[derive(Debug, Clone)]
pub struct FilesystemSettings {
    /// The bucket.
    pub bucket: Bucket,
    /// Path inside the bucket (no leading or trailing `/`), may be empty.
    pub bucket_path: String,
    /// The bucket URL as configured, for messages (user info and query removed).
    pub display_url: String,
    /// The dataset: a folder under the bucket path.
    pub dataset: String,
    /// The pipeline name.
    pub pipeline_name: String,
    /// File layout under the dataset folder.
    pub layout: Layout,
    /// Format of the data files.
    pub file_format: FileFormat,
    /// Part size of multipart uploads (bytes).
    pub part_size: usize,
    /// Parts uploaded at the same time.
    pub concurrency: usize,
    /// State files kept per pipeline (0 keeps all).
    pub max_state_files: u64,
    /// S3 credentials and options.
    pub s3: S3Credentials,
    /// GCS credentials.
    pub gcs: GcsCredentials,
    /// Azure credentials.
    pub azure: AzureCredentials,
}

/// Keys accepted in `[destination.filesystem]` (besides `credentials`).
pub const SETTINGS: &[&str] = &[
    "bucket_url",
    "layout",
    "loader_file_format",
    "multipart_part_size",
    "multipart_concurrency",
    "max_state_files",
    "extra_placeholders",
];
/// Keys accepted in `[destination.filesystem.credentials]` for S3 and Azure; GCS takes the
/// service-account fields ([`GCP_SERVICE_ACCOUNT_KEYS`]).
pub const CREDENTIALS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "region_name",
    "endpoint_url",
    "azure_storage_account_name",
    "azure_storage_account_key",
    "azure_storage_sas_token",
    "azure_account_host",
];

/// `[destination.filesystem]` as written ([`SETTINGS`] and `credentials`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    bucket_url: Option<String>,
    layout: Option<String>,
    loader_file_format: Option<String>,
    #[serde(default, deserialize_with = "de::opt_number")]
    multipart_part_size: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_number")]
    multipart_concurrency: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_number")]
    max_state_files: Option<u64>,
    /// A table of name = "value" (checked by [`extra_placeholders`]).
    extra_placeholders: Option<toml::Value>,
    /// A table of fields, read as [`RawCredentials`] (anything else is not read).
    #[serde(rename = "credentials")]
    _credentials: Option<IgnoredAny>,
}

/// `[destination.filesystem.credentials]` as written: [`CREDENTIALS`] for S3 and Azure, the
/// service-account fields ([`GCP_SERVICE_ACCOUNT_KEYS`]) for GCS.
#[derive(Deserialize, Default)]
// No deny_unknown_fields: `reject_unknown_keys` has refused unknown keys already, and the
// fields of a pasted key file that are not needed are accepted there and ignored here.
struct RawCredentials {
    aws_access_key_id: Option<Secret>,
    aws_secret_access_key: Option<Secret>,
    aws_session_token: Option<Secret>,
    region_name: Option<String>,
    endpoint_url: Option<String>,
    azure_storage_account_name: Option<String>,
    azure_storage_account_key: Option<Secret>,
    azure_storage_sas_token: Option<Secret>,
    azure_account_host: Option<String>,
    client_email: Option<String>,
    private_key: Option<Secret>,
    private_key_id: Option<String>,
    project_id: Option<String>,
}

impl FilesystemSettings {
    /// Resolve the settings from a destination config without any I/O. Errors name the setting
    /// and how to provide it.
    pub fn resolve(config: &DestinationConfig) -> Result<Self> {
        let section = &config.section;
        section.reject_unknown_keys(SETTINGS, &[CREDENTIALS, GCP_SERVICE_ACCOUNT_KEYS].concat())?;
        let raw: RawSettings = section.parse()?;
        let credentials: RawCredentials = match section.subsection("credentials") {
            Some(c) => c.parse()?,
            None => RawCredentials::default(),
        };
        let path = config.section_path();
        let raw_url = raw.bucket_url.ok_or_else(|| {
            Error::config(format!(
                "{path}.bucket_url is missing: set it to where the files go, e.g. \
                 bucket_url = \"s3://my-bucket/data\" or \"file:///var/data\" in [{path}] of \
                 .sluice/config.toml, or the environment variable {}",
                env_name(&path, "bucket_url")
            ))
        })?;
        let raw_url = raw_url.trim().to_string();
        if raw_url.is_empty() {
            return Err(Error::config(format!(
                "{path}.bucket_url is empty: set it to a folder or a bucket URL"
            )));
        }
        if config.dataset_name.trim().is_empty() {
            return Err(Error::config(
                "the dataset name is empty: set dataset_name for the pipeline (it becomes a folder under bucket_url)",
            ));
        }
        if config.dataset_name.contains('/')
            || config.dataset_name == "."
            || config.dataset_name == ".."
        {
            return Err(Error::config(format!(
                "the dataset name '{}' cannot be used as a folder name under bucket_url",
                config.dataset_name
            )));
        }
        let (bucket, bucket_path, display_url) =
            parse_bucket_url(&raw_url, &config.working_dir, &path)?;

        let layout_text = raw
            .layout
            .unwrap_or_else(|| crate::layout::DEFAULT_LAYOUT.to_string());
        let extra = extra_placeholders(raw.extra_placeholders.as_ref(), &path)?;
        let layout =
            Layout::parse(&layout_text, extra).map_err(|e| e.context(format!("{path}.layout")))?;

        let file_format = match raw.loader_file_format {
            None => FileFormat::Parquet,
            Some(f) => match f.trim().to_lowercase().as_str() {
                "parquet" => FileFormat::Parquet,
                "jsonl" => FileFormat::Jsonl,
                "csv" => FileFormat::Csv,
                other => {
                    return Err(Error::config(format!(
                        "{path}.loader_file_format '{other}' is not supported by the filesystem destination: \
                         use parquet, jsonl or csv"
                    )));
                }
            },
        };
        let part_size = match raw.multipart_part_size {
            None => DEFAULT_PART_SIZE,
            Some(n) if (n as usize) < MIN_PART_SIZE => {
                return Err(Error::config(format!(
                    "{path}.multipart_part_size is {n} bytes: it must be at least {MIN_PART_SIZE} (5 MiB), \
                     the smallest part S3 accepts"
                )));
            }
            Some(n) => n as usize,
        };
        let concurrency = match raw.multipart_concurrency {
            None => DEFAULT_CONCURRENCY,
            Some(0) => {
                return Err(Error::config(format!(
                    "{path}.multipart_concurrency must be at least 1"
                )));
            }
            Some(n) => n as usize,
        };
        let max_state_files = raw.max_state_files.unwrap_or(DEFAULT_MAX_STATE_FILES);

        let s3 = S3Credentials {
            access_key_id: credentials.aws_access_key_id,
            secret_access_key: credentials.aws_secret_access_key,
            session_token: credentials.aws_session_token,
            region: credentials.region_name,
            endpoint_url: credentials.endpoint_url.clone(),
        };
        if s3.access_key_id.is_some() != s3.secret_access_key.is_some() {
            return Err(Error::config(format!(
                "{path}.credentials: aws_access_key_id and aws_secret_access_key must be given together"
            )));
        }
        if let Some(endpoint) = &s3.endpoint_url
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(Error::config(format!(
                "{path}.credentials.endpoint_url must start with http:// or https://"
            )));
        }
        let gcs = GcsCredentials {
            client_email: credentials.client_email,
            private_key: credentials.private_key,
            private_key_id: credentials.private_key_id,
            project_id: credentials.project_id,
        };
        if gcs.client_email.is_some() != gcs.private_key.is_some() {
            return Err(Error::config(format!(
                "{path}.credentials: client_email and private_key must be given together"
            )));
        }
        let azure = AzureCredentials {
            account_name: credentials.azure_storage_account_name,
            account_key: credentials.azure_storage_account_key,
            sas_token: credentials.azure_storage_sas_token,
            endpoint: credentials.endpoint_url.or_else(|| {
                credentials
                    .azure_account_host
                    .map(|host| format!("https://{}", host.trim().trim_end_matches('/')))
            }),
        };
        Ok(Self {
            bucket,
            bucket_path,
            display_url,
            dataset: config.dataset_name.clone(),
            pipeline_name: config.pipeline_name.clone(),
            layout,
            file_format,
            part_size,
            concurrency,
            max_state_files,
            s3,
            gcs,
            azure,
        })
    }

    /// Where the dataset is, for people: the bucket URL (without secrets) and the dataset folder.
    pub fn location(&self) -> String {
        format!(
            "{}/{}",
            self.display_url.trim_end_matches('/'),
            self.dataset
        )
    }

    /// The path of the dataset folder inside the store.
    pub fn dataset_root(&self) -> ObjectPath {
        let mut parts: Vec<&str> = self
            .bucket_path
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        parts.push(&self.dataset);
        ObjectPath::from_iter(parts)
    }
}

fn env_name(section: &str, key: &str) -> String {
    format!("{}__{}", section.replace('.', "__"), key).to_uppercase()
}

/// `[destination.filesystem.extra_placeholders]`: name = "value".
fn extra_placeholders(value: Option<&toml::Value>, path: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match value {
        None => {}
        Some(toml::Value::Table(t)) => {
            for (k, v) in t {
                let value = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    _ => {
                        return Err(Error::config(format!(
                            "{path}.extra_placeholders.{k} must be a string or a number"
                        )));
                    }
                };
                out.insert(k.clone(), value);
            }
        }
        Some(_) => {
            return Err(Error::config(format!(
                "{path}.extra_placeholders must be a table of name = \"value\""
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::ConfigSection;
    use std::path::PathBuf;

    fn cfg(toml_text: &str) -> DestinationConfig {
        DestinationConfig {
            destination_name: "filesystem".into(),
            pipeline_name: "pipe".into(),
            dataset_name: "ds".into(),
            working_dir: PathBuf::from("/work/dir"),
            section: ConfigSection::from_table(
                "destination.filesystem",
                toml_text.parse().unwrap(),
            ),
        }
    }

    #[test]
    fn bucket_urls_parse() {
        let s = FilesystemSettings::resolve(&cfg("bucket_url = \"data/out\"")).unwrap();
        assert_eq!(s.bucket, Bucket::Local(PathBuf::from("/work/dir/data/out")));
        assert_eq!(s.location(), "file:///work/dir/data/out/ds");
        let s = FilesystemSettings::resolve(&cfg("bucket_url = \"file:///tmp/x/../y\"")).unwrap();
        assert_eq!(s.bucket, Bucket::Local(PathBuf::from("/tmp/y")));
        let s = FilesystemSettings::resolve(&cfg("bucket_url = \"s3://b/some/path/\"")).unwrap();
        assert_eq!(s.bucket, Bucket::S3 { bucket: "b".into() });
        assert_eq!(s.bucket_path, "some/path");
        assert_eq!(s.dataset_root().as_ref(), "some/path/ds");
        assert_eq!(s.location(), "s3://b/some/path/ds");
        let s = FilesystemSettings::resolve(&cfg("bucket_url = \"memory://m\"")).unwrap();
        assert_eq!(s.bucket, Bucket::Memory { name: "m".into() });
        assert_eq!(s.dataset_root().as_ref(), "ds");
        let s = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"abfss://cont@acct.dfs.core.windows.net/p\"",
        ))
        .unwrap();
        assert_eq!(
            s.bucket,
            Bucket::Azure {
                container: "cont".into(),
                account: Some("acct".into())
            }
        );
        assert!(FilesystemSettings::resolve(&cfg("bucket_url = \"ftp://x\"")).is_err());
        assert!(FilesystemSettings::resolve(&cfg("bucket_url = \"s3:///nobucket\"")).is_err());
    }

    #[test]
    fn azure_endpoints() {
        let s = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"az://cont/p\"\n[credentials]\nazure_storage_account_name = \"devstoreaccount1\"\n\
             azure_storage_account_key = \"a2V5\"\nendpoint_url = \"http://127.0.0.1:10000/devstoreaccount1\"",
        ))
        .unwrap();
        assert_eq!(
            s.azure.endpoint.as_deref(),
            Some("http://127.0.0.1:10000/devstoreaccount1")
        );
        assert!(!format!("{s:?}").contains("a2V5"));
        let s = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"az://cont\"\n[credentials]\nazure_account_host = \"acct.blob.core.windows.net\"",
        ))
        .unwrap();
        assert_eq!(
            s.azure.endpoint.as_deref(),
            Some("https://acct.blob.core.windows.net")
        );
        let s = FilesystemSettings::resolve(&cfg("bucket_url = \"az://cont\"")).unwrap();
        assert_eq!(s.azure.endpoint, None);
    }

    #[test]
    fn missing_bucket_url_names_the_setting() {
        let e = FilesystemSettings::resolve(&cfg(""))
            .unwrap_err()
            .to_string();
        assert!(e.contains("destination.filesystem.bucket_url"), "{e}");
        assert!(e.contains("DESTINATION__FILESYSTEM__BUCKET_URL"), "{e}");
    }

    #[test]
    fn secrets_stay_out_of_debug_and_errors() {
        let s = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"s3://b\"\n[credentials]\naws_access_key_id = \"AKIAXXX\"\naws_secret_access_key = \"topsecret\"",
        ))
        .unwrap();
        let dbg = format!("{s:?}");
        assert!(
            !dbg.contains("topsecret") && !dbg.contains("AKIAXXX"),
            "{dbg}"
        );
        let e = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"s3://b\"\n[credentials]\naws_secret_access_key = \"topsecret\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(!e.contains("topsecret"));
    }

    #[test]
    fn formats_and_part_sizes_are_checked() {
        let s = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"memory://\"\nloader_file_format = \"jsonl\"",
        ))
        .unwrap();
        assert_eq!(s.file_format, FileFormat::Jsonl);
        assert!(
            FilesystemSettings::resolve(&cfg(
                "bucket_url = \"memory://\"\nloader_file_format = \"insert_values\""
            ))
            .is_err()
        );
        let e = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"memory://\"\nmultipart_part_size = 1000",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("multipart_part_size"), "{e}");
    }

    #[test]
    fn numbers_may_be_text_and_bad_values_are_named_but_not_shown() {
        let s = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"memory://\"\nmultipart_concurrency = \"8\"\nmax_state_files = \"0\"",
        ))
        .unwrap();
        assert_eq!((s.concurrency, s.max_state_files), (8, 0));
        let e = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"memory://\"\nmultipart_concurrency = \"TOPSECRET\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("multipart_concurrency") && !e.contains("TOPSECRET"),
            "{e}"
        );
        let e = FilesystemSettings::resolve(&cfg(
            "bucket_url = \"s3://b\"\n[credentials]\naws_secret_access_key = [\"TOPSECRET\"]",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("aws_secret_access_key") && !e.contains("TOPSECRET"),
            "{e}"
        );
    }
}
