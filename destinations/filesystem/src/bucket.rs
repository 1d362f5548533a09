//! Where the files go: the bucket URL (`file://`, a plain path, `s3://`, `gs://`, `az://`,
//! `abfss://`, `memory://`) parsed into a [`Bucket`], and the object store client built for it.

use crate::config::FilesystemSettings;
use crate::error::store_err;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use sluice_core::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Where the bucket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bucket {
    /// A folder on local disk (absolute).
    Local(PathBuf),
    /// A process-wide in-memory store, named by the URL's host (`memory://name/path`).
    Memory {
        /// The store name (host of the URL, may be empty).
        name: String,
    },
    /// Amazon S3 or an S3-compatible store.
    S3 {
        /// Bucket name.
        bucket: String,
    },
    /// Google Cloud Storage.
    Gcs {
        /// Bucket name.
        bucket: String,
    },
    /// Azure Blob Storage / ADLS Gen2.
    Azure {
        /// Container name.
        container: String,
        /// Storage account, when the URL names it (`abfss://container@account.dfs.core.windows.net`).
        account: Option<String>,
    },
}

impl FilesystemSettings {
    /// The URL of an object in the store, for readers such as DuckDB (`file:///…`, `s3://…`).
    pub fn object_url(&self, path: &ObjectPath) -> String {
        let rel: String = path
            .parts()
            .map(|p| decode_part(p.as_ref()))
            .collect::<Vec<_>>()
            .join("/");
        match &self.bucket {
            Bucket::Local(root) => format!("{}/{rel}", root.display()),
            Bucket::Memory { name } => format!("memory://{name}/{rel}"),
            Bucket::S3 { bucket } => format!("s3://{bucket}/{rel}"),
            Bucket::Gcs { bucket } => format!("gs://{bucket}/{rel}"),
            Bucket::Azure { container, .. } => format!("az://{container}/{rel}"),
        }
    }

    /// Create the object store client (and the local folder of a `file://` bucket).
    pub fn build_store(&self) -> Result<Arc<dyn ObjectStore>> {
        let store: Arc<dyn ObjectStore> = match &self.bucket {
            Bucket::Local(root) => {
                std::fs::create_dir_all(root).map_err(|e| {
                    Error::destination(format!(
                        "cannot create the folder {} of bucket_url",
                        root.display()
                    ))
                    .with_source(e)
                })?;
                Arc::new(
                    LocalFileSystem::new_with_prefix(root)
                        .map_err(store_err(format!(
                            "cannot open the folder {}",
                            root.display()
                        )))?
                        .with_automatic_cleanup(true),
                )
            }
            Bucket::Memory { name } => memory_store(name),
            Bucket::S3 { bucket } => {
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                let s3 = &self.s3;
                if let (Some(key), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
                    b = b
                        .with_access_key_id(key.expose())
                        .with_secret_access_key(secret.expose());
                    if let Some(token) = &s3.session_token {
                        b = b.with_token(token.expose());
                    }
                }
                if let Some(region) = &s3.region {
                    b = b.with_region(region);
                }
                let endpoint = s3.endpoint_url.clone().or_else(|| {
                    std::env::var("AWS_ENDPOINT_URL")
                        .ok()
                        .or_else(|| std::env::var("AWS_ENDPOINT").ok())
                        .filter(|s| !s.is_empty())
                });
                if let Some(endpoint) = endpoint {
                    b = b
                        .with_endpoint(endpoint.trim_end_matches('/'))
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                Arc::new(
                    b.build()
                        .map_err(store_err(format!("cannot set up S3 for bucket '{bucket}'")))?,
                )
            }
            Bucket::Gcs { bucket } => {
                let mut b = GoogleCloudStorageBuilder::from_env().with_bucket_name(bucket);
                if let (Some(email), Some(key)) = (&self.gcs.client_email, &self.gcs.private_key) {
                    let json = serde_json::json!({
                        "type": "service_account",
                        "client_email": email,
                        "private_key": key.expose(),
                        "private_key_id": self.gcs.private_key_id.clone().unwrap_or_default(),
                        "project_id": self.gcs.project_id.clone().unwrap_or_default(),
                    });
                    b = b.with_service_account_key(json.to_string());
                }
                Arc::new(b.build().map_err(store_err(format!(
                    "cannot set up Google Cloud Storage for bucket '{bucket}'"
                )))?)
            }
            Bucket::Azure { container, account } => {
                let mut b = MicrosoftAzureBuilder::from_env().with_container_name(container);
                if let Some(account) = self.azure.account_name.as_ref().or(account.as_ref()) {
                    b = b.with_account(account);
                }
                if let Some(key) = &self.azure.account_key {
                    b = b.with_access_key(key.expose());
                }
                if let Some(sas) = &self.azure.sas_token {
                    b = b.with_config(AzureConfigKey::SasKey, sas.expose().trim_start_matches('?'));
                }
                // The account's blob endpoint, for Azurite and other emulators
                // (`http://127.0.0.1:10000/devstoreaccount1`, path style) or other clouds.
                if let Some(endpoint) = &self.azure.endpoint {
                    b = b
                        .with_endpoint(endpoint.trim_end_matches('/').to_string())
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                Arc::new(b.build().map_err(store_err(format!(
                    "cannot set up Azure Blob Storage for container '{container}'"
                )))?)
            }
        };
        Ok(store)
    }
}

/// Parse `bucket_url` into the bucket, the path inside it, and a display URL without secrets.
pub(crate) fn parse_bucket_url(
    raw: &str,
    working_dir: &Path,
    key: &str,
) -> Result<(Bucket, String, String)> {
    let key = format!("{key}.bucket_url");
    let scheme_end = raw.find("://");
    let Some(scheme_end) = scheme_end else {
        // A plain path, relative to the working directory.
        let p = Path::new(raw);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            working_dir.join(p)
        };
        let abs = normalize_path(&abs);
        let display = format!("file://{}", abs.display());
        return Ok((Bucket::Local(abs), String::new(), display));
    };
    let scheme = raw[..scheme_end].to_lowercase();
    if scheme == "file" {
        let rest = &raw[scheme_end + 3..];
        // file:///abs/path or file://relative/path (taken relative to the working dir, as a path).
        let p = Path::new(rest);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            working_dir.join(p)
        };
        let abs = normalize_path(&abs);
        let display = format!("file://{}", abs.display());
        return Ok((Bucket::Local(abs), String::new(), display));
    }
    let url = url::Url::parse(raw)
        .map_err(|e| Error::config(format!("{key} is not a valid URL: {e}")))?;
    let host = url.host_str().unwrap_or("").to_string();
    let path = url
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_part)
        .collect::<Vec<_>>()
        .join("/");
    let display_base = |scheme: &str, host: &str| {
        if path.is_empty() {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}/{path}")
        }
    };
    let need_host = |what: &str| -> Result<()> {
        if host.is_empty() {
            Err(Error::config(format!(
                "{key} '{}' names no {what}: write {scheme}://<{what}>/<path>",
                display_base(&scheme, "")
            )))
        } else {
            Ok(())
        }
    };
    let bucket = match scheme.as_str() {
        "memory" => Bucket::Memory { name: host.clone() },
        "s3" | "s3a" => {
            need_host("bucket")?;
            Bucket::S3 {
                bucket: host.clone(),
            }
        }
        "gs" | "gcs" => {
            need_host("bucket")?;
            Bucket::Gcs {
                bucket: host.clone(),
            }
        }
        "az" | "azure" | "adl" => {
            need_host("container")?;
            Bucket::Azure {
                container: host.clone(),
                account: None,
            }
        }
        "abfs" | "abfss" => {
            // abfss://container@account.dfs.core.windows.net/path
            let container = url.username().to_string();
            let account = host.split('.').next().unwrap_or("").to_string();
            if container.is_empty() || account.is_empty() {
                return Err(Error::config(format!(
                    "{key}: write {scheme}://<container>@<account>.dfs.core.windows.net/<path>"
                )));
            }
            let display = format!("{scheme}://{container}@{host}/{path}");
            return Ok((
                Bucket::Azure {
                    container,
                    account: Some(account),
                },
                path.clone(),
                display.trim_end_matches('/').to_string(),
            ));
        }
        other => {
            return Err(Error::config(format!(
                "{key}: the scheme '{other}://' is not supported: use a local path, file://, s3://, gs://, az://, abfss:// or memory://"
            )));
        }
    };
    Ok((bucket, path.clone(), display_base(&scheme, &host)))
}

/// Remove `.` and `..` components without touching the disk.
fn normalize_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Undo the percent-encoding of one object path part.
pub(crate) fn decode_part(part: &str) -> String {
    if !part.contains('%') {
        return part.to_string();
    }
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The process-wide in-memory store named `name`: `memory://name` connects to the same
/// store for the life of the process, so a reconnect sees what was written.
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<InMemory>>>> = OnceLock::new();
    let stores = STORES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut stores = stores.lock().unwrap_or_else(|e| e.into_inner());
    stores
        .entry(name.to_string())
        .or_insert_with(|| Arc::new(InMemory::new()))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(decode_part("a%7Bb%7D"), "a{b}");
        assert_eq!(decode_part("plain"), "plain");
        assert_eq!(decode_part("bad%zz"), "bad%zz");
    }
}
