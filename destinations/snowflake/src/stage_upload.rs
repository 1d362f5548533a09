//! `PUT` to Snowflake's S3 stages (Snowflake on AWS), with client-side encryption.
//!
//! Snowflake answers `PUT file://… @stage` for a stage on AWS with a `stageInfo` of
//! `locationType: "S3"`: the bucket and key prefix (`location`, `"bucket/prefix/"`), the
//! `region`, an optional `endPoint`, `useS3RegionalUrl`, and temporary credentials
//! (`creds.AWS_KEY_ID`, `AWS_SECRET_KEY`, `AWS_TOKEN`). Internal stages also come with an
//! `encryptionMaterial` (`queryStageMasterKey`, `queryId`, `smkId`): the client encrypts
//! the file before it leaves the machine. [`S3Stage`] reads such an answer and uploads a file
//! the way Snowflake's own connectors do (snowflake-connector-python's
//! `SnowflakeEncryptionUtil.encrypt_file` and `SnowflakeS3RestClient`):
//!
//! - a random file key as long as the master key (128 or 256 bits) and a random 16-byte IV;
//!   the file is encrypted with AES-CBC and PKCS#7 padding;
//! - the file key is encrypted with the master key in AES-ECB (PKCS#7 padded, so 32 or 48
//!   bytes);
//! - the object carries the user metadata `x-amz-meta-sfc-digest` (base64 SHA-256 of the
//!   plain file), `x-amz-meta-x-amz-iv` and `x-amz-meta-x-amz-key` (base64) and
//!   `x-amz-meta-x-amz-matdesc` (`{"queryId":"…","smkId":"…","keySize":"256"}`);
//! - requests are signed with SigV4 and the session token (by `object_store`).
//!
//! Files up to [`SINGLE_PUT_LIMIT`] go in one `PUT`; larger files go as a multipart upload
//! in parts of that size (the metadata travels with `CreateMultipartUpload`), encrypted part
//! by part, so memory stays bounded by one part.
//!
//! Endpoints follow the connector: a non-empty `endPoint` host is used as
//! `https://{bucket}.{endPoint}`; China regions use `https://{bucket}.s3.{region}.amazonaws.com.cn`;
//! otherwise the regional endpoint `https://{bucket}.s3.{region}.amazonaws.com`. An `endPoint`
//! that is a whole `http://` or `https://` URL (a local S3 server in tests) is used as is,
//! with path-style requests.
//!
//! The credentials and the master key never appear in errors, logs or `Debug` output.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, BlockEncryptMut, KeyInit, KeyIvInit};
use aes::{Aes128, Aes192, Aes256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, ClientOptions, MultipartUpload, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_core::config::Secret;
use sluice_core::{Error, Result};
use std::fmt;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Files up to this size are uploaded in one `PUT`; larger files go in parts of this size.
pub const SINGLE_PUT_LIMIT: usize = 16 * 1024 * 1024;

/// The AES block size in bytes.
const BLOCK: usize = 16;

/// The `encryptionMaterial` of a `PUT` answer: the query stage master key and the ids that
/// go into the material descriptor.
#[derive(Clone)]
pub struct EncryptionMaterial {
    master_key: Vec<u8>,
    query_id: String,
    smk_id: String,
}

impl fmt::Debug for EncryptionMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionMaterial")
            .field(
                "master_key",
                &format_args!("<{} bits>", self.master_key.len() * 8),
            )
            .field("query_id", &self.query_id)
            .field("smk_id", &self.smk_id)
            .finish()
    }
}

/// What a reader needs besides the master key to decrypt a file: the encrypted file key
/// and the IV (base64), and the material descriptor (JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionMetadata {
    /// The file key encrypted with the master key (AES-ECB), base64.
    pub key: String,
    /// The IV of the file's AES-CBC encryption, base64.
    pub iv: String,
    /// `{"queryId":"…","smkId":"…","keySize":"128|256"}`, as the Python connector writes it.
    pub matdesc: String,
}

impl EncryptionMaterial {
    /// Material from the master key (base64, 16, 24 or 32 bytes), the query id and the
    /// master key id.
    pub fn new(master_key_base64: &str, query_id: &str, smk_id: &str) -> Result<Self> {
        let master_key = BASE64.decode(master_key_base64.trim()).map_err(|_| {
            Error::destination(
                "encryptionMaterial.queryStageMasterKey of the PUT answer is not base64",
            )
        })?;
        if !matches!(master_key.len(), 16 | 24 | 32) {
            return Err(Error::destination(format!(
                "encryptionMaterial.queryStageMasterKey of the PUT answer is {} bytes \
                 long; an AES key of 16, 24 or 32 bytes was expected",
                master_key.len()
            )));
        }
        Ok(Self {
            master_key,
            query_id: query_id.to_string(),
            smk_id: smk_id.to_string(),
        })
    }

    /// The material of a `PUT` answer's `data`, or `None` when the stage is not encrypted
    /// (no `encryptionMaterial`, or one without a master key). A list of materials (as `GET`
    /// answers carry) gives its first entry.
    pub fn from_put_answer(data: &Value) -> Result<Option<Self>> {
        let mut m = &data["encryptionMaterial"];
        if let Value::Array(list) = m {
            m = list.first().unwrap_or(&Value::Null);
        }
        let key = match &m["queryStageMasterKey"] {
            Value::Null => return Ok(None),
            Value::String(s) if s.is_empty() => return Ok(None),
            Value::String(s) => s,
            _ => {
                return Err(Error::destination(
                    "encryptionMaterial.queryStageMasterKey of the PUT answer is not a string",
                ));
            }
        };
        let text = |name: &str| match &m[name] {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            // smkId comes as a number; the descriptor holds its decimal text.
            other => other.to_string(),
        };
        Self::new(key, &text("queryId"), &text("smkId")).map(Some)
    }

    /// A fresh random file key and IV for one file: the streaming encryptor and the
    /// metadata to store with the encrypted object.
    fn start(&self) -> (FileEncryptor, EncryptionMetadata) {
        let mut file_key = vec![0u8; self.master_key.len()];
        rand::fill(&mut file_key[..]);
        let iv: [u8; BLOCK] = rand::random();
        let cbc = Cbc::new(&file_key, &iv).expect("the file key has the master key's length");
        // The file key, PKCS#7 padded, encrypted block by block with the master key (ECB).
        let mut wrapped = file_key;
        pad(&mut wrapped);
        ecb_encrypt(&self.master_key, &mut wrapped).expect("the master key length was checked");
        let matdesc = serde_json::json!({
            "queryId": self.query_id,
            "smkId": self.smk_id,
            "keySize": (self.master_key.len() * 8).to_string(),
        })
        .to_string();
        let meta = EncryptionMetadata {
            key: BASE64.encode(&wrapped),
            iv: BASE64.encode(iv),
            matdesc,
        };
        (FileEncryptor { cbc }, meta)
    }

    /// Encrypt a whole file in memory (the ciphertext replaces the contents of `data`).
    pub fn encrypt_in_place(&self, data: &mut Vec<u8>) -> EncryptionMetadata {
        let (enc, meta) = self.start();
        enc.finish(data);
        meta
    }
}

/// AES-CBC over a file, part by part.
struct FileEncryptor {
    cbc: Cbc,
}

impl FileEncryptor {
    /// Encrypt a part in place; its length is a multiple of the block size.
    fn update(&mut self, part: &mut [u8]) {
        debug_assert_eq!(part.len() % BLOCK, 0);
        self.cbc.encrypt_blocks(part);
    }

    /// Pad and encrypt the last part in place.
    fn finish(mut self, last: &mut Vec<u8>) {
        pad(last);
        self.cbc.encrypt_blocks(last);
    }
}

/// An AES-CBC encryptor for the key sizes Snowflake hands out.
enum Cbc {
    A128(cbc::Encryptor<Aes128>),
    A192(cbc::Encryptor<Aes192>),
    A256(cbc::Encryptor<Aes256>),
}

impl Cbc {
    fn new(key: &[u8], iv: &[u8; BLOCK]) -> Option<Self> {
        Some(match key.len() {
            16 => Self::A128(cbc::Encryptor::new_from_slices(key, iv).ok()?),
            24 => Self::A192(cbc::Encryptor::new_from_slices(key, iv).ok()?),
            32 => Self::A256(cbc::Encryptor::new_from_slices(key, iv).ok()?),
            _ => return None,
        })
    }

    fn encrypt_blocks(&mut self, buf: &mut [u8]) {
        fn run<C: BlockEncryptMut<BlockSize = aes::cipher::consts::U16>>(
            c: &mut C,
            buf: &mut [u8],
        ) {
            for block in buf.chunks_exact_mut(BLOCK) {
                c.encrypt_block_mut(GenericArray::from_mut_slice(block));
            }
        }
        match self {
            Self::A128(c) => run(c, buf),
            Self::A192(c) => run(c, buf),
            Self::A256(c) => run(c, buf),
        }
    }
}

/// AES-ECB in place over whole blocks.
fn ecb_encrypt(key: &[u8], buf: &mut [u8]) -> Option<()> {
    fn run<C: BlockEncrypt<BlockSize = aes::cipher::consts::U16>>(c: C, buf: &mut [u8]) {
        for block in buf.chunks_exact_mut(BLOCK) {
            c.encrypt_block(GenericArray::from_mut_slice(block));
        }
    }
    match key.len() {
        16 => run(Aes128::new_from_slice(key).ok()?, buf),
        24 => run(Aes192::new_from_slice(key).ok()?, buf),
        32 => run(Aes256::new_from_slice(key).ok()?, buf),
        _ => return None,
    }
    Some(())
}

/// PKCS#7 padding to a whole number of blocks (a full block when already aligned).
fn pad(buf: &mut Vec<u8>) {
    let n = BLOCK - buf.len() % BLOCK;
    buf.resize(buf.len() + n, n as u8);
}

/// An S3 stage from a `PUT` answer, ready to take files. See the [module docs](self).
pub struct S3Stage {
    bucket: String,
    prefix: String,
    region: String,
    endpoint: Option<String>,
    virtual_hosted: bool,
    key_id: Secret,
    secret_key: Secret,
    token: Option<Secret>,
    encryption: Option<EncryptionMaterial>,
}

impl fmt::Debug for S3Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Stage")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("credentials", &"<redacted>")
            .field("encryption", &self.encryption)
            .finish()
    }
}

impl S3Stage {
    /// Read the `stageInfo` (and `encryptionMaterial`) of a `PUT` answer's `data`.
    pub fn from_put_answer(data: &Value) -> Result<Self> {
        let info = &data["stageInfo"];
        let kind = info["locationType"].as_str().unwrap_or_default();
        if !kind.eq_ignore_ascii_case("S3") {
            return Err(Error::destination(format!(
                "the PUT answer is for a stage of type '{kind}', not S3"
            )));
        }
        let location = info["location"]
            .as_str()
            .map(|l| l.trim_start_matches('/'))
            .filter(|l| !l.is_empty())
            .ok_or_else(|| {
                Error::destination("the PUT answer for an S3 stage has no stageInfo.location")
            })?;
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        let region = info["region"]
            .as_str()
            .filter(|r| !r.is_empty())
            .unwrap_or("us-east-1")
            .to_string();
        let creds = &info["creds"];
        let cred = |name: &str, required: bool| -> Result<Option<Secret>> {
            match &creds[name] {
                Value::String(s) if !s.is_empty() => Ok(Some(Secret::new(s.clone()))),
                Value::Null if !required => Ok(None),
                Value::String(_) if !required => Ok(None),
                Value::Null | Value::String(_) => Err(Error::destination(format!(
                    "the PUT answer for an S3 stage has no stageInfo.creds.{name}"
                ))),
                _ => Err(Error::destination(format!(
                    "stageInfo.creds.{name} of the PUT answer is not a string"
                ))),
            }
        };
        let key_id = cred("AWS_KEY_ID", true)?.expect("required");
        let secret_key = cred("AWS_SECRET_KEY", true)?.expect("required");
        let token = cred("AWS_TOKEN", false)?;

        let end_point = info["endPoint"].as_str().map(str::trim).unwrap_or_default();
        let (endpoint, virtual_hosted) =
            if end_point.starts_with("http://") || end_point.starts_with("https://") {
                (Some(end_point.trim_end_matches('/').to_string()), false)
            } else if !end_point.is_empty() {
                (Some(format!("https://{bucket}.{end_point}")), true)
            } else if region.starts_with("cn-") {
                (
                    Some(format!("https://{bucket}.s3.{region}.amazonaws.com.cn")),
                    true,
                )
            } else {
                // object_store's default: the regional endpoint, whether or not `useS3RegionalUrl`
                // asks for it (it serves every bucket of its region; the global one redirects).
                (None, true)
            };
        Ok(Self {
            bucket: bucket.to_string(),
            prefix,
            region,
            endpoint,
            virtual_hosted,
            key_id,
            secret_key,
            token,
            encryption: EncryptionMaterial::from_put_answer(data)?,
        })
    }

    /// The object key a file of this name gets in the stage.
    pub fn object_key(&self, file_name: &str) -> String {
        format!("{}{}", self.prefix, file_name.trim_start_matches('/'))
    }

    /// Whether files are encrypted on the client before they are uploaded.
    pub fn is_encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    fn store(&self) -> Result<impl ObjectStore> {
        let mut options = ClientOptions::new()
            .with_timeout(Duration::from_secs(300))
            .with_connect_timeout(Duration::from_secs(30));
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_access_key_id(self.key_id.expose())
            .with_secret_access_key(self.secret_key.expose())
            .with_virtual_hosted_style_request(self.virtual_hosted);
        if let Some(token) = &self.token {
            b = b.with_token(token.expose());
        }
        if let Some(endpoint) = &self.endpoint {
            options = options.with_allow_http(endpoint.starts_with("http://"));
            b = b.with_endpoint(endpoint);
        }
        b.with_client_options(options).build().map_err(|e| {
            Error::destination(format!(
                "cannot set up the S3 client for stage bucket '{}': {}",
                self.bucket,
                self.redact(&e.to_string())
            ))
        })
    }

    /// Replace any credential in a message (of the S3 client) by `***`.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in [
            Some(&self.key_id),
            Some(&self.secret_key),
            self.token.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !s.is_empty() {
                out = out.replace(s.expose(), "***");
            }
        }
        out
    }

    fn s3_error(&self, context: &str, e: object_store::Error) -> Error {
        use object_store::Error as E;
        let message = format!("{context}: {}", self.redact(&e.to_string()));
        // object_store retried transient failures already; what is left is either still
        // transient (the network, 5xx) or a refusal that will not change.
        match e {
            E::Generic { .. } => Error::transient(message),
            _ => Error::destination(message),
        }
    }

    /// Upload a local file to the stage under its file name, encrypted when the stage asks
    /// for it.
    pub async fn upload(&self, local: &Path) -> Result<()> {
        let file_name = local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let key = self.object_key(&file_name);
        let path = ObjectPath::parse(&key)
            .map_err(|_| Error::destination(format!("'{key}' is not a valid S3 object key")))?;
        let read_err = |e: std::io::Error| {
            Error::storage(format!("cannot read load file {}", local.display())).with_source(e)
        };
        let size = tokio::fs::metadata(local).await.map_err(read_err)?.len();
        let store = self.store()?;
        let context = format!("upload {file_name} to S3 stage bucket '{}'", self.bucket);

        if size <= SINGLE_PUT_LIMIT as u64 {
            let mut bytes = tokio::fs::read(local).await.map_err(read_err)?;
            let digest = BASE64.encode(Sha256::digest(&bytes));
            let encryption = self
                .encryption
                .as_ref()
                .map(|m| m.encrypt_in_place(&mut bytes));
            let options = PutOptions {
                attributes: attributes(digest, encryption),
                ..Default::default()
            };
            store
                .put_opts(&path, PutPayload::from(bytes), options)
                .await
                .map_err(|e| self.s3_error(&context, e))?;
        } else {
            // The digest goes into the metadata, which comes first: one pass to hash.
            let mut file = tokio::fs::File::open(local).await.map_err(read_err)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).await.map_err(read_err)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            let digest = BASE64.encode(hasher.finalize());
            let (mut encryptor, meta) = match &self.encryption {
                Some(m) => {
                    let (e, meta) = m.start();
                    (Some(e), Some(meta))
                }
                None => (None, None),
            };
            let options = PutMultipartOptions {
                attributes: attributes(digest, meta),
                ..Default::default()
            };
            let mut upload = store
                .put_multipart_opts(&path, options)
                .await
                .map_err(|e| self.s3_error(&context, e))?;
            let mut file = tokio::fs::File::open(local).await.map_err(read_err)?;
            let result = async {
                loop {
                    let mut part = vec![0u8; SINGLE_PUT_LIMIT];
                    let n = fill(&mut file, &mut part).await.map_err(read_err)?;
                    part.truncate(n);
                    let last = n < SINGLE_PUT_LIMIT;
                    match (&mut encryptor, last) {
                        (Some(e), false) => e.update(&mut part),
                        (Some(_), true) => {
                            encryptor.take().expect("checked").finish(&mut part);
                        }
                        (None, _) => {}
                    }
                    if !part.is_empty() {
                        upload
                            .put_part(PutPayload::from(part))
                            .await
                            .map_err(|e| self.s3_error(&context, e))?;
                    }
                    if last {
                        break;
                    }
                }
                upload
                    .complete()
                    .await
                    .map_err(|e| self.s3_error(&context, e))?;
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = result {
                let _ = upload.abort().await;
                return Err(e);
            }
        }
        tracing::debug!(
            target: "sluice::snowflake",
            file = %file_name,
            bucket = %self.bucket,
            key = %key,
            encrypted = self.is_encrypted(),
            "uploaded to S3 stage"
        );
        Ok(())
    }
}

/// Read until `buf` is full or the file ends; the number of bytes read.
async fn fill(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]).await? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The object's user metadata, as the connector sends it.
fn attributes(digest: String, encryption: Option<EncryptionMetadata>) -> Attributes {
    let mut a = Attributes::new();
    a.insert(
        Attribute::ContentType,
        "application/octet-stream".to_string().into(),
    );
    a.insert(Attribute::Metadata("sfc-digest".into()), digest.into());
    if let Some(m) = encryption {
        a.insert(Attribute::Metadata("x-amz-iv".into()), m.iv.into());
        a.insert(Attribute::Metadata("x-amz-key".into()), m.key.into());
        a.insert(
            Attribute::Metadata("x-amz-matdesc".into()),
            m.matdesc.into(),
        );
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::{BlockDecrypt, BlockDecryptMut};

    /// The reverse of the connector's encryption, as its `decrypt_stream` does it.
    fn decrypt(material: &EncryptionMaterial, meta: &EncryptionMetadata, data: &[u8]) -> Vec<u8> {
        fn unpad(mut v: Vec<u8>) -> Vec<u8> {
            let n = *v.last().unwrap() as usize;
            assert!((1..=BLOCK).contains(&n) && v[v.len() - n..].iter().all(|&b| b as usize == n));
            v.truncate(v.len() - n);
            v
        }
        let mut key = BASE64.decode(&meta.key).unwrap();
        let mk = &material.master_key;
        for block in key.chunks_exact_mut(BLOCK) {
            let b = GenericArray::from_mut_slice(block);
            match mk.len() {
                16 => Aes128::new_from_slice(mk).unwrap().decrypt_block(b),
                32 => Aes256::new_from_slice(mk).unwrap().decrypt_block(b),
                _ => unreachable!(),
            }
        }
        let key = unpad(key);
        assert_eq!(
            key.len(),
            mk.len(),
            "the file key has the master key's length"
        );
        let iv = BASE64.decode(&meta.iv).unwrap();
        let mut out = data.to_vec();
        fn run<C: BlockDecryptMut<BlockSize = aes::cipher::consts::U16>>(mut c: C, buf: &mut [u8]) {
            for block in buf.chunks_exact_mut(BLOCK) {
                c.decrypt_block_mut(GenericArray::from_mut_slice(block));
            }
        }
        match key.len() {
            16 => run(
                cbc::Decryptor::<Aes128>::new_from_slices(&key, &iv).unwrap(),
                &mut out,
            ),
            32 => run(
                cbc::Decryptor::<Aes256>::new_from_slices(&key, &iv).unwrap(),
                &mut out,
            ),
            _ => unreachable!(),
        }
        unpad(out)
    }

    fn material(len: usize) -> (EncryptionMaterial, String) {
        let key: Vec<u8> = (0..len).map(|_| rand::random()).collect();
        let b64 = BASE64.encode(&key);
        (
            EncryptionMaterial::new(&b64, "01b2c3d4-0000-1111-0000-000000000001", "4242").unwrap(),
            b64,
        )
    }

    #[test]
    fn ecb_matches_fips_197() {
        // FIPS-197 appendix C.1 and C.3.
        let key: Vec<u8> = (0u8..16).collect();
        let mut block = hex("00112233445566778899aabbccddeeff");
        ecb_encrypt(&key, &mut block).unwrap();
        assert_eq!(block, hex("69c4e0d86a7b0430d8cdb78070b4c55a"));
        let key: Vec<u8> = (0u8..32).collect();
        let mut block = hex("00112233445566778899aabbccddeeff");
        ecb_encrypt(&key, &mut block).unwrap();
        assert_eq!(block, hex("8ea2b7ca516745bfeafc49904b496089"));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn round_trip_for_both_key_sizes_and_all_paddings() {
        for len in [16, 32] {
            let (m, _) = material(len);
            for size in [0, 1, 15, 16, 17, 4096, 100_003] {
                let plain: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
                let mut data = plain.clone();
                let meta = m.encrypt_in_place(&mut data);
                assert_eq!(data.len(), (size / BLOCK + 1) * BLOCK);
                // The first block differs from the padded plaintext's first block (comparing
                // fewer bytes than a block fails by chance: 1 in 256 for one byte).
                let mut padded = plain.clone();
                let pad = BLOCK - size % BLOCK;
                padded.extend(std::iter::repeat_n(pad as u8, pad));
                assert_ne!(&data[..BLOCK], &padded[..BLOCK]);
                assert_eq!(BASE64.decode(&meta.key).unwrap().len(), len + BLOCK);
                assert_eq!(BASE64.decode(&meta.iv).unwrap().len(), BLOCK);
                assert_eq!(
                    meta.matdesc,
                    format!(
                        r#"{{"queryId":"01b2c3d4-0000-1111-0000-000000000001","smkId":"4242","keySize":"{}"}}"#,
                        len * 8
                    )
                );
                assert_eq!(
                    decrypt(&m, &meta, &data),
                    plain,
                    "key {len} bytes, file {size}"
                );
            }
        }
    }

    #[test]
    fn part_by_part_equals_whole_file() {
        let (m, _) = material(32);
        let plain: Vec<u8> = (0..10_000u32).map(|i| (i % 256) as u8).collect();
        let (mut enc, meta) = m.start();
        let mut first = plain[..4096].to_vec();
        enc.update(&mut first);
        let mut rest = plain[4096..].to_vec();
        enc.finish(&mut rest);
        first.extend(rest);
        assert_eq!(decrypt(&m, &meta, &first), plain);
    }

    #[test]
    fn every_file_gets_its_own_key_and_iv() {
        let (m, _) = material(16);
        let (mut a, mut b) = (b"same".to_vec(), b"same".to_vec());
        let (ma, mb) = (m.encrypt_in_place(&mut a), m.encrypt_in_place(&mut b));
        assert_ne!(ma.key, mb.key);
        assert_ne!(ma.iv, mb.iv);
        assert_ne!(a, b);
    }

    fn answer(master_key: &str) -> Value {
        serde_json::json!({
            "stageInfo": {
                "locationType": "S3",
                "location": "sfc-bucket/stages/abc/",
                "region": "eu-west-1",
                "endPoint": null,
                "useS3RegionalUrl": false,
                "creds": {"AWS_KEY_ID": "AKIAKEYID", "AWS_SECRET_KEY": "s3cr3t-key", "AWS_TOKEN": "t0ken"}
            },
            "encryptionMaterial": {"queryStageMasterKey": master_key, "queryId": "q-1", "smkId": 77}
        })
    }

    #[test]
    fn reads_the_put_answer_and_hides_secrets() {
        let (_, key) = material(32);
        let stage = S3Stage::from_put_answer(&answer(&key)).unwrap();
        assert_eq!(stage.bucket, "sfc-bucket");
        assert_eq!(stage.object_key("a.parquet"), "stages/abc/a.parquet");
        assert_eq!(stage.region, "eu-west-1");
        assert_eq!(stage.endpoint, None);
        assert!(stage.virtual_hosted);
        assert_eq!(stage.encryption.as_ref().unwrap().smk_id, "77");
        let debug = format!("{stage:?}");
        for secret in ["AKIAKEYID", "s3cr3t-key", "t0ken", key.as_str()] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert_eq!(stage.redact("id AKIAKEYID token t0ken"), "id *** token ***");

        let mut a = answer(&key);
        a["stageInfo"]["endPoint"] = "s3-fips.us-gov-west-1.amazonaws.com".into();
        a["stageInfo"]["location"] = "bkt".into();
        let stage = S3Stage::from_put_answer(&a).unwrap();
        assert_eq!(
            stage.endpoint.as_deref(),
            Some("https://bkt.s3-fips.us-gov-west-1.amazonaws.com")
        );
        assert_eq!(stage.object_key("a.parquet"), "a.parquet");
        a["stageInfo"]["endPoint"] = "http://127.0.0.1:9000/".into();
        a["stageInfo"]["region"] = "cn-north-1".into();
        let stage = S3Stage::from_put_answer(&a).unwrap();
        assert_eq!(stage.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(!stage.virtual_hosted);
        a["stageInfo"]["endPoint"] = "".into();
        let stage = S3Stage::from_put_answer(&a).unwrap();
        assert_eq!(
            stage.endpoint.as_deref(),
            Some("https://bkt.s3.cn-north-1.amazonaws.com.cn")
        );
        a.as_object_mut().unwrap().remove("encryptionMaterial");
        assert!(!S3Stage::from_put_answer(&a).unwrap().is_encrypted());
    }

    #[test]
    fn bad_master_keys_are_named_not_shown() {
        for bad in ["not base64 !!", "c2hvcnQ="] {
            let err = S3Stage::from_put_answer(&answer(bad))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("encryptionMaterial.queryStageMasterKey"),
                "{err}"
            );
            assert!(!err.contains(bad), "{err}");
        }
    }
}
