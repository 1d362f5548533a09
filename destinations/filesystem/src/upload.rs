//! Streaming uploads: bytes go up in parts of a fixed size, never the whole file in memory.
//!
//! An [`Upload`] buffers up to one part. A file that fits in one part goes up in a single PUT;
//! a larger one becomes a multipart upload whose parts are sent while the next ones are read,
//! at most `concurrency` at a time. On S3 and the local disk the object appears under its name
//! only when the upload completes; a failed upload is aborted and leaves nothing behind.

use crate::error::store_err;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sluice_core::{Error, Result};
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadStats {
    /// Bytes uploaded.
    pub bytes: u64,
    /// Parts of the multipart upload (0 for a single PUT).
    pub parts: u64,
}

/// A streaming upload of one object.
pub struct Upload {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    part_size: usize,
    concurrency: usize,
    buffer: Vec<u8>,
    multipart: Option<WriteMultipart>,
    bytes: u64,
}

impl Upload {
    /// Start an upload to `path`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        path: ObjectPath,
        part_size: usize,
        concurrency: usize,
    ) -> Self {
        Self {
            store,
            path,
            part_size,
            concurrency: concurrency.max(1),
            buffer: Vec::new(),
            multipart: None,
            bytes: 0,
        }
    }

    /// Append bytes. Waits while `concurrency` parts are in flight.
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.bytes += data.len() as u64;
        if self.multipart.is_none() {
            self.buffer.extend_from_slice(data);
            if self.buffer.len() <= self.part_size {
                return Ok(());
            }
            let upload = self
                .store
                .put_multipart(&self.path)
                .await
                .map_err(store_err(format!(
                    "cannot start the upload of {}",
                    self.path
                )))?;
            let mut mp = WriteMultipart::new_with_chunk_size(upload, self.part_size);
            mp.put(Bytes::from(std::mem::take(&mut self.buffer)));
            self.multipart = Some(mp);
            return self.wait().await;
        }
        self.wait().await?;
        if let Some(mp) = self.multipart.as_mut() {
            mp.write(data);
        }
        Ok(())
    }

    async fn wait(&mut self) -> Result<()> {
        let concurrency = self.concurrency;
        let path = self.path.clone();
        if let Some(mp) = self.multipart.as_mut()
            && let Err(e) = mp.wait_for_capacity(concurrency).await
        {
            if let Some(mp) = self.multipart.take() {
                let _ = mp.abort().await;
            }
            return Err(store_err(format!("cannot upload a part of {path}"))(e));
        }
        Ok(())
    }

    /// Complete the upload: the object appears under its name.
    pub async fn finish(mut self) -> Result<UploadStats> {
        match self.multipart.take() {
            None => {
                let payload = PutPayload::from(std::mem::take(&mut self.buffer));
                self.store
                    .put(&self.path, payload)
                    .await
                    .map_err(store_err(format!("cannot write {}", self.path)))?;
                Ok(UploadStats {
                    bytes: self.bytes,
                    parts: 0,
                })
            }
            Some(mp) => {
                mp.finish().await.map_err(store_err(format!(
                    "cannot complete the upload of {}",
                    self.path
                )))?;
                Ok(UploadStats {
                    bytes: self.bytes,
                    parts: self.bytes.div_ceil(self.part_size as u64),
                })
            }
        }
    }

    /// Give up: abort a started multipart upload.
    pub async fn abort(mut self) {
        if let Some(mp) = self.multipart.take() {
            let _ = mp.abort().await;
        }
    }
}

/// Copy a local file to `path`, streamed in parts.
pub async fn upload_file(
    store: Arc<dyn ObjectStore>,
    file: &Path,
    path: ObjectPath,
    part_size: usize,
    concurrency: usize,
) -> Result<UploadStats> {
    let mut f = tokio::fs::File::open(file).await.map_err(|e| {
        Error::storage(format!("cannot open the load file {}", file.display())).with_source(e)
    })?;
    let mut upload = Upload::new(store, path, part_size, concurrency);
    let mut chunk = vec![0u8; (1024 * 1024).min(part_size)];
    loop {
        let n = match f.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => {
                upload.abort().await;
                return Err(Error::storage(format!(
                    "cannot read the load file {}",
                    file.display()
                ))
                .with_source(e));
            }
        };
        if n == 0 {
            break;
        }
        upload.write(&chunk[..n]).await?;
    }
    upload.finish().await
}
