//! Pipeline state encoding, as dlt stores it in `_dlt_pipeline_state.state`:
//! base64 of the zlib-compressed JSON.

use crate::error::{Error, Result};
use base64::Engine;
use flate2::Compression;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// Compress a state value for storage.
pub fn compress_state(state: &serde_json::Value) -> String {
    let json = serde_json::to_vec(state).expect("state serializes");
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::best());
    enc.write_all(&json).expect("write to memory");
    base64::engine::general_purpose::STANDARD.encode(enc.finish().expect("finish in memory"))
}

/// Decode a stored state (compressed, or plain JSON as older writers stored it).
pub fn decompress_state(stored: &str) -> Result<serde_json::Value> {
    let trimmed = stored.trim();
    if trimmed.starts_with('{') {
        return Ok(serde_json::from_str(trimmed)?);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(trimmed)
        .map_err(|e| Error::input("stored pipeline state is not base64").with_source(e))?;
    let mut json = Vec::new();
    ZlibDecoder::new(&bytes[..])
        .read_to_end(&mut json)
        .map_err(|e| Error::input("stored pipeline state is not zlib data").with_source(e))?;
    Ok(serde_json::from_slice(&json)?)
}

/// Hash of a state value (base64 SHA-256 of its JSON).
pub fn state_hash(state: &serde_json::Value) -> String {
    let json = serde_json::to_vec(state).expect("state serializes");
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = serde_json::json!({"sources": {"forter": {"last": "2026-01-01"}}});
        assert_eq!(decompress_state(&compress_state(&v)).unwrap(), v);
        assert_eq!(decompress_state("{\"a\":1}").unwrap()["a"], 1);
        assert!(decompress_state("%%%").is_err());
        assert_eq!(state_hash(&v), state_hash(&v.clone()));
    }
}
