//! The Files API of Unity Catalog volumes (`/api/2.0/fs/files/Volumes/…`): upload, download,
//! list and delete the files staged for `COPY INTO`.

use crate::client::DatabricksClient;
use crate::error::http_error;
use serde_json::Value;
use sluice_core::{Error, Result};

/// A file or folder in a volume listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeEntry {
    /// Its absolute path (`/Volumes/catalog/schema/volume/…`).
    pub path: String,
    /// Whether it is a folder.
    pub is_directory: bool,
}

/// The path of a volume (`/Volumes/<catalog>/<schema>/<volume>`).
pub fn volume_path(catalog: &str, schema: &str, volume: &str) -> String {
    format!("/Volumes/{catalog}/{schema}/{volume}")
}

impl DatabricksClient {
    /// The URL of `path` under an API prefix, each segment percent-encoded.
    fn fs_url(&self, api: &str, path: &str) -> Result<String> {
        let mut url = url::Url::parse(&format!("{}/api/2.0/fs/{api}", self.base_url))
            .map_err(|e| Error::internal("a bad workspace URL").with_source(e))?;
        url.path_segments_mut()
            .map_err(|_| Error::internal("a workspace URL without a path"))?
            .extend(path.split('/').filter(|s| !s.is_empty()));
        Ok(url.to_string())
    }

    /// Upload `bytes` as the file at `path` (`/Volumes/…`), replacing it when it exists.
    pub async fn put_file(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        let url = format!("{}?overwrite=true", self.fs_url("files", path)?);
        let context = format!("upload {path}");
        let response = self
            .send(&context, |http| {
                http.put(&url)
                    .header("Content-Type", "application/octet-stream")
                    .body(bytes.clone())
            })
            .await?;
        Self::json_body(response, &context).await.map(|_| ())
    }

    /// The content of the file at `path`.
    pub async fn get_file(&self, path: &str) -> Result<Vec<u8>> {
        let url = self.fs_url("files", path)?;
        let context = format!("download {path}");
        let response = self.send(&context, |http| http.get(&url)).await?;
        if !response.status().is_success() {
            return Self::json_body(response, &context)
                .await
                .map(|_| Vec::new());
        }
        Ok(response
            .bytes()
            .await
            .map_err(|e| http_error(&context, e))?
            .to_vec())
    }

    /// Delete the file at `path`; a file that is not there is no error.
    pub async fn delete_file(&self, path: &str) -> Result<()> {
        self.delete("files", path).await
    }

    /// Delete the empty folder at `path`; a folder that is not there is no error.
    pub async fn delete_directory(&self, path: &str) -> Result<()> {
        self.delete("directories", path).await
    }

    async fn delete(&self, api: &str, path: &str) -> Result<()> {
        let url = self.fs_url(api, path)?;
        let context = format!("delete {path}");
        let response = self.send(&context, |http| http.delete(&url)).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        Self::json_body(response, &context).await.map(|_| ())
    }

    /// The entries of the folder at `path` (empty when it does not exist).
    pub async fn list_directory(&self, path: &str) -> Result<Vec<VolumeEntry>> {
        let base = self.fs_url("directories", path)?;
        let context = format!("list {path}");
        let mut entries = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let url = match &page {
                Some(token) => format!("{base}?page_token={token}"),
                None => base.clone(),
            };
            let response = self.send(&context, |http| http.get(&url)).await?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(entries);
            }
            let body = Self::json_body(response, &context).await?;
            for item in body
                .get("contents")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(p) = item.get("path").and_then(Value::as_str) {
                    entries.push(VolumeEntry {
                        path: p.to_string(),
                        is_directory: item
                            .get("is_directory")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    });
                }
            }
            page = body
                .get("next_page_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(|t| url::form_urlencoded::byte_serialize(t.as_bytes()).collect());
            if page.is_none() {
                return Ok(entries);
            }
        }
    }

    /// Delete the folder at `path` with everything in it.
    pub async fn delete_tree(&self, path: &str) -> Result<()> {
        let mut stack = vec![(path.to_string(), false)];
        while let Some((dir, listed)) = stack.pop() {
            if listed {
                self.delete_directory(&dir).await?;
                continue;
            }
            stack.push((dir.clone(), true));
            for entry in self.list_directory(&dir).await? {
                if entry.is_directory {
                    stack.push((entry.path, false));
                } else {
                    self.delete_file(&entry.path).await?;
                }
            }
        }
        Ok(())
    }
}
