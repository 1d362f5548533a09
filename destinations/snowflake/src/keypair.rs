//! Key-pair (JWT) authentication for Snowflake.
//!
//! The private key is read in the formats dlt accepts for `private_key`: PEM text, base64 of
//! that PEM text, or base64 of the DER key; PKCS#8 (unencrypted, or encrypted with a
//! passphrase) and PKCS#1 (`RSA PRIVATE KEY`). At login the client sends a short-lived JWT
//! signed with RS256 whose issuer names the SHA-256 fingerprint of the public key, as
//! Snowflake's connectors do.
//!
//! Nothing here ever puts the key or the passphrase into an error, a log line or `Debug`
//! output: errors say what is wrong with the key and which setting to fix, nothing more.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use pkcs8::der::Decode;
use pkcs8::{EncodePublicKey, EncryptedPrivateKeyInfo, ObjectIdentifier, PrivateKeyInfo};
use rsa::RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::{Digest, Sha256};
use sluice_core::config::Secret;
use sluice_core::{Error, Result};
use std::fmt;

/// How long a login JWT is valid, in seconds. Snowflake rejects tokens that live longer than an
/// hour; the connectors use 60 seconds, and the client signs a fresh token for every attempt.
pub const JWT_LIFETIME_SECS: i64 = 60;

/// The `AUTHENTICATOR` of a key-pair login request.
pub const AUTHENTICATOR: &str = "SNOWFLAKE_JWT";

/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Where a key came from, to name the settings in errors.
#[derive(Debug, Clone)]
pub struct KeySource {
    /// The setting that holds the key (`destination.snowflake.credentials.private_key`).
    pub key: String,
    /// The setting that holds the passphrase.
    pub passphrase: String,
}

impl KeySource {
    /// The `private_key` and `private_key_passphrase` fields under `section`
    /// (`destination.snowflake.credentials`).
    pub fn fields(section: &str) -> Self {
        Self {
            key: format!("{section}.private_key"),
            passphrase: format!("{section}.private_key_passphrase"),
        }
    }

    /// A key file named by `private_key_path` under `section`.
    pub fn file(section: &str, path: &str) -> Self {
        Self {
            key: format!("the key file {path} (from {section}.private_key_path)"),
            passphrase: format!("{section}.private_key_passphrase"),
        }
    }

    /// The `private_key` and `private_key_passphrase` query parameters of a connection string.
    pub fn connection_string() -> Self {
        Self {
            key: "the private_key of the connection string".into(),
            passphrase: "the private_key_passphrase of the connection string".into(),
        }
    }
}

/// A decoded RSA private key, ready to sign login tokens.
pub struct KeyPair {
    signing_key: SigningKey<Sha256>,
    fingerprint: String,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// What is wrong with a private key. Never holds any part of the key or passphrase.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Empty,
    NotPemOrBase64,
    PemLabel(String),
    LegacyEncryptedPem,
    Malformed,
    NeedsPassphrase,
    UnexpectedPassphrase,
    WrongPassphrase,
    UnsupportedEncryption(String),
    NotRsa(String),
}

impl Problem {
    fn into_error(self, src: &KeySource) -> Error {
        let key = &src.key;
        let pass = &src.passphrase;
        let formats = "PEM text (-----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY-----), \
                       or the base64 of the PEM or DER key";
        let msg = match self {
            Problem::Empty => format!("{key} is empty: set it to the private key as {formats}"),
            Problem::NotPemOrBase64 => format!(
                "{key} is neither PEM text nor base64: set it to the content of the private key \
                 file (rsa_key.p8) or to its base64 ({formats}); in a connection string, URL-encode it"
            ),
            Problem::PemLabel(label) => format!(
                "{key} is a PEM '{label}' block, not a private key: use the private key \
                 (-----BEGIN PRIVATE KEY-----, -----BEGIN ENCRYPTED PRIVATE KEY----- or \
                 -----BEGIN RSA PRIVATE KEY-----), not the public key or a certificate"
            ),
            Problem::LegacyEncryptedPem => format!(
                "{key} is an RSA key encrypted in OpenSSL's old format (a Proc-Type header), \
                 which sluice cannot read: convert it to an encrypted PKCS#8 key with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD_KEY -out rsa_key.p8`"
            ),
            Problem::Malformed => format!(
                "{key} is not a readable private key (its DER structure is damaged or it is \
                 not a key): check that the whole key was copied ({formats}); in a connection \
                 string, URL-encode it"
            ),
            Problem::NeedsPassphrase => format!(
                "{key} is encrypted and no passphrase is set: set {pass} to the passphrase the \
                 key was encrypted with"
            ),
            Problem::UnexpectedPassphrase => format!(
                "{pass} is set but {key} is not encrypted: remove the passphrase, or use the \
                 encrypted key"
            ),
            Problem::WrongPassphrase => format!(
                "{key} cannot be decrypted with {pass}: the passphrase is wrong (or the key is \
                 damaged); set {pass} to the passphrase the key was encrypted with"
            ),
            Problem::UnsupportedEncryption(what) => format!(
                "{key} is encrypted with {what}, which sluice cannot decrypt: re-encrypt it with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc -in KEY -out rsa_key.p8`"
            ),
            Problem::NotRsa(what) => format!(
                "{key} is {what}; sluice signs Snowflake login tokens with RS256 and needs an \
                 RSA key (2048 bits or more, as Snowflake requires): generate one with \
                 `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa_key.p8`"
            ),
        };
        Error::config(format!("snowflake key-pair authentication: {msg}"))
    }
}

/// The DER of a key and what is known of its kind.
enum Der {
    /// `PRIVATE KEY`: PKCS#8 `PrivateKeyInfo`.
    Pkcs8(Vec<u8>),
    /// `ENCRYPTED PRIVATE KEY`: PKCS#8 `EncryptedPrivateKeyInfo`.
    Encrypted(Vec<u8>),
    /// `RSA PRIVATE KEY`: PKCS#1 `RSAPrivateKey`.
    Pkcs1(Vec<u8>),
    /// Base64 DER without a label: the kind is found from the structure.
    Unknown(Vec<u8>),
}

const BEGIN: &str = "-----BEGIN ";
const DASHES: &str = "-----";

/// Decode the first PEM block of `text`: its label and DER. Lenient about line lengths and
/// whitespace (keys pasted on one line, or with literal `\n` from JSON or env files).
fn parse_pem(text: &str) -> std::result::Result<Der, Problem> {
    let start = text.find(BEGIN).ok_or(Problem::NotPemOrBase64)?;
    let rest = &text[start + BEGIN.len()..];
    let label_end = rest.find(DASHES).ok_or(Problem::Malformed)?;
    let label = rest[..label_end].trim().to_string();
    let body_and_end = &rest[label_end + DASHES.len()..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_end.find(&end_marker).ok_or(Problem::Malformed)?;
    let body = &body_and_end[..body_end];
    if body.contains(':') {
        // RFC 1421 headers (Proc-Type, DEK-Info): OpenSSL's legacy encryption.
        return Err(if label == "RSA PRIVATE KEY" {
            Problem::LegacyEncryptedPem
        } else {
            Problem::Malformed
        });
    }
    let b64: String = body
        .replace("\\n", "")
        .replace("\\r", "")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD.decode(b64).map_err(|_| Problem::Malformed)?;
    match label.as_str() {
        "PRIVATE KEY" => Ok(Der::Pkcs8(der)),
        "ENCRYPTED PRIVATE KEY" => Ok(Der::Encrypted(der)),
        "RSA PRIVATE KEY" => Ok(Der::Pkcs1(der)),
        "EC PRIVATE KEY" => Err(Problem::NotRsa("an EC key".into())),
        "DSA PRIVATE KEY" => Err(Problem::NotRsa("a DSA key".into())),
        "OPENSSH PRIVATE KEY" => Err(Problem::UnsupportedEncryption(
            "OpenSSH's key format (convert it to PKCS#8 with `ssh-keygen -p -m PKCS8 -f KEY`)"
                .into(),
        )),
        // The label comes from the user's text: show it only when it looks like a label.
        _ if label.len() <= 40
            && label
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ') =>
        {
            Err(Problem::PemLabel(label))
        }
        _ => Err(Problem::PemLabel("unrecognised".into())),
    }
}

/// Find the DER of the key in `text`: PEM text, base64 of PEM text, or base64 of DER.
fn find_der(text: &str) -> std::result::Result<Der, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Problem::Empty);
    }
    if text.contains(BEGIN) {
        return parse_pem(text);
    }
    let b64: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD.decode(&b64).map_err(|_| Problem::NotPemOrBase64)?;
    match std::str::from_utf8(&bytes) {
        Ok(inner) if inner.trim_start().starts_with(BEGIN) => parse_pem(inner),
        _ => Ok(Der::Unknown(bytes)),
    }
}

fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.2.1" => "an EC key".into(),
        "1.3.101.112" => "an Ed25519 key".into(),
        "1.3.101.113" => "an Ed448 key".into(),
        "1.2.840.10040.4.1" => "a DSA key".into(),
        "1.2.840.113549.1.1.10" => "an RSA-PSS key".into(),
        other => format!("a key of algorithm {other}"),
    }
}

fn rsa_from_pkcs8(der: &[u8]) -> std::result::Result<RsaPrivateKey, Problem> {
    let info = PrivateKeyInfo::from_der(der).map_err(|_| Problem::Malformed)?;
    if info.algorithm.oid != RSA_ENCRYPTION {
        return Err(Problem::NotRsa(algorithm_name(info.algorithm.oid)));
    }
    RsaPrivateKey::try_from(info).map_err(|_| Problem::Malformed)
}

fn decrypt(der: &[u8], passphrase: Option<&str>) -> std::result::Result<RsaPrivateKey, Problem> {
    let info = EncryptedPrivateKeyInfo::from_der(der).map_err(|_| Problem::Malformed)?;
    let passphrase = passphrase.ok_or(Problem::NeedsPassphrase)?;
    let doc = info.decrypt(passphrase).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::UnsupportedAlgorithm { oid }) => {
            Problem::UnsupportedEncryption(format!("the algorithm {oid}"))
        }
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::NoPbes1CryptSupport) => {
            Problem::UnsupportedEncryption("PKCS#5 v1.5 (PBES1, `openssl pkcs8 -v1`)".into())
        }
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::AlgorithmParametersInvalid {
            oid,
        }) => Problem::UnsupportedEncryption(format!("unusual parameters of the algorithm {oid}")),
        _ => Problem::WrongPassphrase,
    })?;
    // A wrong passphrase can decrypt to garbage with valid padding (1 in 256): a key that
    // does not parse after decryption means the same.
    match rsa_from_pkcs8(doc.as_bytes()) {
        Err(Problem::Malformed) => Err(Problem::WrongPassphrase),
        other => other,
    }
}

fn decode_rsa(text: &str, passphrase: Option<&str>) -> std::result::Result<RsaPrivateKey, Problem> {
    let passphrase = passphrase.filter(|p| !p.is_empty());
    let plain = |key: std::result::Result<RsaPrivateKey, Problem>| {
        if key.is_ok() && passphrase.is_some() {
            Err(Problem::UnexpectedPassphrase)
        } else {
            key
        }
    };
    match find_der(text)? {
        Der::Pkcs8(der) => plain(rsa_from_pkcs8(&der)),
        Der::Encrypted(der) => decrypt(&der, passphrase),
        Der::Pkcs1(der) => {
            plain(RsaPrivateKey::from_pkcs1_der(&der).map_err(|_| Problem::Malformed))
        }
        Der::Unknown(der) => {
            if EncryptedPrivateKeyInfo::from_der(&der).is_ok() {
                decrypt(&der, passphrase)
            } else if PrivateKeyInfo::from_der(&der).is_ok() {
                plain(rsa_from_pkcs8(&der))
            } else if let Ok(key) = RsaPrivateKey::from_pkcs1_der(&der) {
                plain(Ok(key))
            } else {
                Err(Problem::Malformed)
            }
        }
    }
}

/// The account part of the JWT claims, as Snowflake's connectors derive it from the account
/// identifier: the part before the first `.` (before the first `-` for `….global`
/// identifiers), upper-cased. `xy12345.eu-central-1` → `XY12345`, `myorg-acct` → `MYORG-ACCT`.
pub fn jwt_account(account: &str) -> String {
    let head = if account.contains(".global") {
        account.split('-').next()
    } else {
        account.split('.').next()
    };
    head.unwrap_or_default().trim().to_uppercase()
}

impl KeyPair {
    /// Decode a private key given as PEM text, base64 of PEM, or base64 of DER; `passphrase`
    /// decrypts an encrypted PKCS#8 key. Errors name the settings of `source` and say what to
    /// do; they never contain the key or the passphrase.
    pub fn decode(text: &str, passphrase: Option<&str>, source: &KeySource) -> Result<Self> {
        let key = decode_rsa(text, passphrase).map_err(|p| p.into_error(source))?;
        let public_der = key.to_public_key().to_public_key_der().map_err(|_| {
            Error::config(format!(
                "snowflake key-pair authentication: the public key of {} cannot be encoded",
                source.key
            ))
        })?;
        let digest = Sha256::digest(public_der.as_bytes());
        Ok(Self {
            signing_key: SigningKey::<Sha256>::new(key),
            fingerprint: format!("SHA256:{}", STANDARD.encode(digest)),
        })
    }

    /// The public key's fingerprint as Snowflake shows it in `DESC USER` (`RSA_PUBLIC_KEY_FP`):
    /// `SHA256:` and the base64 of the SHA-256 of the DER `SubjectPublicKeyInfo`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A login JWT (RS256) for `user` of `account`, issued at `issued_at` (Unix seconds) and
    /// valid for [`JWT_LIFETIME_SECS`]. The claims: `iss` = `ACCOUNT.USER.SHA256:…`,
    /// `sub` = `ACCOUNT.USER`, `iat`, `exp`; account and user upper-cased, the account as
    /// [`jwt_account`] derives it.
    pub fn jwt(&self, account: &str, user: &str, issued_at: i64) -> Result<Secret> {
        let subject = format!("{}.{}", jwt_account(account), user.trim().to_uppercase());
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        let claims = serde_json::json!({
            "iss": format!("{subject}.{}", self.fingerprint),
            "sub": subject,
            "iat": issued_at,
            "exp": issued_at + JWT_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .signing_key
            .try_sign(signing_input.as_bytes())
            .map_err(|_| {
                Error::config(
                    "snowflake key-pair authentication: the private key cannot sign a login token \
                     (is it at least 2048 bits?)",
                )
            })?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )))
    }
}

/// RSA keys made with the `openssl` command-line tool at test time (never committed).
#[cfg(test)]
pub(crate) mod test_keys {
    use std::path::Path;
    use std::process::Command;
    use std::sync::OnceLock;

    /// The passphrase of the encrypted test keys.
    pub const PASSPHRASE: &str = "correct-horse-7";

    /// One RSA key in every format dlt accepts, plus what openssl says about its public key.
    pub struct Keys {
        /// PKCS#8 PEM (`PRIVATE KEY`).
        pub pem: String,
        /// PKCS#8 PEM encrypted with AES-256-CBC (`ENCRYPTED PRIVATE KEY`).
        pub encrypted_pem: String,
        /// PKCS#8 PEM encrypted with 3DES, as in Snowflake's key-pair guide.
        pub des3_pem: String,
        /// Encrypted PKCS#8 DER.
        pub encrypted_der: Vec<u8>,
        /// PKCS#8 DER.
        pub der: Vec<u8>,
        /// PKCS#1 PEM (`RSA PRIVATE KEY`).
        pub pkcs1_pem: String,
        /// PKCS#1 PEM encrypted in OpenSSL's legacy format (Proc-Type header).
        pub legacy_encrypted_pem: String,
        /// The public key, PEM.
        pub public_pem: String,
        /// The public key, DER SubjectPublicKeyInfo.
        pub public_der: Vec<u8>,
        /// `openssl rsa -pubout -outform DER | openssl dgst -sha256 -binary | base64`.
        pub fingerprint: String,
        /// An EC (P-256) private key, PKCS#8 PEM.
        pub ec_pem: String,
    }

    fn run(dir: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("run openssl");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn make() -> Keys {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
        let text = |f: &str| String::from_utf8(read(f)).unwrap();
        let pass = format!("pass:{PASSPHRASE}");
        run(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "key.pem",
            ],
        );
        run(
            dir,
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                "key.pem",
                "-passout",
                &pass,
                "-out",
                "enc.pem",
            ],
        );
        run(
            dir,
            &[
                "pkcs8", "-topk8", "-v2", "des3", "-in", "key.pem", "-passout", &pass, "-out",
                "des3.pem",
            ],
        );
        run(
            dir,
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                "key.pem",
                "-passout",
                &pass,
                "-outform",
                "DER",
                "-out",
                "enc.der",
            ],
        );
        run(
            dir,
            &[
                "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out",
                "key.der",
            ],
        );
        run(
            dir,
            &["rsa", "-in", "key.pem", "-traditional", "-out", "pkcs1.pem"],
        );
        run(
            dir,
            &[
                "rsa",
                "-in",
                "key.pem",
                "-traditional",
                "-aes256",
                "-passout",
                &pass,
                "-out",
                "legacy.pem",
            ],
        );
        run(
            dir,
            &["rsa", "-in", "key.pem", "-pubout", "-out", "pub.pem"],
        );
        run(
            dir,
            &[
                "rsa", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
            ],
        );
        run(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "ec.pem",
            ],
        );
        // The fingerprint exactly as Snowflake's guide computes it, by a shell pipeline.
        let fp = Command::new("sh")
            .arg("-c")
            .arg(
                "openssl rsa -in key.pem -pubout -outform DER 2>/dev/null \
                 | openssl dgst -sha256 -binary | base64",
            )
            .current_dir(dir)
            .output()
            .expect("run the fingerprint pipeline");
        assert!(fp.status.success());
        Keys {
            pem: text("key.pem"),
            encrypted_pem: text("enc.pem"),
            des3_pem: text("des3.pem"),
            encrypted_der: read("enc.der"),
            der: read("key.der"),
            pkcs1_pem: text("pkcs1.pem"),
            legacy_encrypted_pem: text("legacy.pem"),
            public_pem: text("pub.pem"),
            public_der: read("pub.der"),
            fingerprint: String::from_utf8(fp.stdout).unwrap().trim().to_string(),
            ec_pem: text("ec.pem"),
        }
    }

    /// The test keys, made once per test binary; `None` (with a notice) when `openssl` cannot
    /// be run here.
    pub fn keys() -> Option<&'static Keys> {
        static KEYS: OnceLock<Option<Keys>> = OnceLock::new();
        KEYS.get_or_init(|| {
            if Command::new("openssl").arg("version").output().is_err() {
                eprintln!("SKIPPED: the openssl command-line tool is needed to make test keys");
                return None;
            }
            Some(make())
        })
        .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::test_keys::{PASSPHRASE, keys};
    use super::*;
    use pkcs8::DecodePublicKey;
    use rsa::RsaPublicKey;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;

    fn src() -> KeySource {
        KeySource::fields(crate::config::CREDENTIALS_SETTING)
    }

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    fn claims_of(jwt: &str) -> (serde_json::Value, serde_json::Value) {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3, "a JWT has three parts");
        let json = |p: &str| -> serde_json::Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        (json(parts[0]), json(parts[1]))
    }

    #[test]
    fn jwt_is_signed_with_the_key_and_names_the_fingerprint() {
        let Some(k) = keys() else { return };
        let pair = KeyPair::decode(&k.pem, None, &src()).unwrap();
        assert_eq!(pair.fingerprint(), format!("SHA256:{}", k.fingerprint));

        let iat = 1_700_000_000;
        let jwt = pair.jwt("xy12345.eu-central-1", "Loader", iat).unwrap();
        let jwt = jwt.expose();
        let (header, claims) = claims_of(jwt);
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        assert_eq!(
            claims["iss"],
            format!("XY12345.LOADER.SHA256:{}", k.fingerprint)
        );
        assert_eq!(claims["sub"], "XY12345.LOADER");
        assert_eq!(claims["iat"], iat);
        let exp = claims["exp"].as_i64().unwrap();
        assert!(exp > iat && exp <= iat + 3600, "exp {exp}");

        // The signature verifies with the public key openssl derived from the private key…
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let sig_bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let public = RsaPublicKey::from_public_key_der(&k.public_der).unwrap();
        let verifier = VerifyingKey::<Sha256>::new(public);
        let signature = Signature::try_from(sig_bytes.as_slice()).unwrap();
        verifier.verify(input.as_bytes(), &signature).unwrap();
        // …and not over other claims.
        let forged_claims = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"iss": claims["iss"], "sub": "XY12345.ADMIN",
                "iat": iat, "exp": exp})
            .to_string(),
        );
        let forged = format!("{}.{forged_claims}", input.split('.').next().unwrap());
        assert!(verifier.verify(forged.as_bytes(), &signature).is_err());

        // openssl itself agrees that it is an RS256 (SHA-256, PKCS#1 v1.5) signature.
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("input"), input).unwrap();
        std::fs::write(tmp.path().join("sig"), &sig_bytes).unwrap();
        std::fs::write(tmp.path().join("pub.pem"), &k.public_pem).unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig",
                "input",
            ])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl rejects the signature: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    #[test]
    fn every_format_dlt_accepts_is_the_same_key() {
        let Some(k) = keys() else { return };
        let want = format!("SHA256:{}", k.fingerprint);
        let one_line = k.pem.replace('\n', "\\n");
        let plain: Vec<(&str, String)> = vec![
            ("PEM", k.pem.clone()),
            ("PEM with literal \\n", one_line),
            ("base64 of PEM", b64(k.pem.as_bytes())),
            ("base64 of DER", b64(&k.der)),
            ("PKCS#1 PEM", k.pkcs1_pem.clone()),
            ("base64 of PKCS#1 PEM", b64(k.pkcs1_pem.as_bytes())),
        ];
        for (what, text) in plain {
            let pair =
                KeyPair::decode(&text, None, &src()).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(pair.fingerprint(), want, "{what}");
        }
        let encrypted: Vec<(&str, String)> = vec![
            ("encrypted PEM (AES-256)", k.encrypted_pem.clone()),
            ("encrypted PEM (3DES)", k.des3_pem.clone()),
            ("base64 of encrypted PEM", b64(k.encrypted_pem.as_bytes())),
            ("base64 of encrypted DER", b64(&k.encrypted_der)),
        ];
        for (what, text) in encrypted {
            let pair = KeyPair::decode(&text, Some(PASSPHRASE), &src())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(pair.fingerprint(), want, "{what}");
        }
        // An empty passphrase is no passphrase.
        assert!(KeyPair::decode(&k.pem, Some(""), &src()).is_ok());
    }

    #[test]
    fn bad_keys_and_passphrases_give_clear_errors_without_secrets() {
        let Some(k) = keys() else { return };
        // A line of the key's body, to check that errors never quote the key.
        let body_line = k.encrypted_pem.lines().nth(3).unwrap().to_string();
        let plain_line = k.pem.lines().nth(3).unwrap().to_string();
        let setting = "destination.snowflake.credentials.private_key";
        let pass_setting = "destination.snowflake.credentials.private_key_passphrase";
        let err = |text: &str, pass: Option<&str>| -> String {
            let e = KeyPair::decode(text, pass, &src()).unwrap_err();
            assert_eq!(e.kind(), sluice_core::ErrorKind::Config);
            let shown = format!("{e} {e:?}");
            for secret in [
                body_line.as_str(),
                plain_line.as_str(),
                PASSPHRASE,
                "wrong-pass-123",
            ] {
                assert!(!shown.contains(secret), "the error shows a secret: {shown}");
            }
            e.to_string()
        };

        let e = err(&k.encrypted_pem, Some("wrong-pass-123"));
        assert!(
            e.contains(setting) && e.contains(pass_setting) && e.contains("passphrase is wrong"),
            "{e}"
        );
        let e = err(&b64(&k.encrypted_der), Some("wrong-pass-123"));
        assert!(e.contains("passphrase is wrong"), "{e}");
        let e = err(&k.des3_pem, Some("wrong-pass-123"));
        assert!(e.contains("passphrase is wrong"), "{e}");
        let e = err(&k.encrypted_pem, None);
        assert!(
            e.contains("encrypted and no passphrase") && e.contains(pass_setting),
            "{e}"
        );
        let e = err(&k.pem, Some(PASSPHRASE));
        assert!(
            e.contains("not encrypted") && e.contains(pass_setting),
            "{e}"
        );
        let e = err("not base!!", None);
        assert!(
            e.contains(setting) && e.contains("neither PEM text nor base64"),
            "{e}"
        );
        let e = err("TWFu", None);
        assert!(e.contains("not a readable private key"), "{e}");
        let e = err("   ", None);
        assert!(e.contains("is empty"), "{e}");
        let e = err(&k.public_pem, None);
        assert!(e.contains("'PUBLIC KEY'"), "{e}");
        let e = err(&k.ec_pem, None);
        assert!(e.contains("an EC key") && e.contains("RSA"), "{e}");
        let e = err(&k.legacy_encrypted_pem, Some(PASSPHRASE));
        assert!(
            e.contains("old format") && e.contains("pkcs8 -topk8"),
            "{e}"
        );
        // A truncated key.
        let cut = &k.pem[..k.pem.len() / 2];
        let e = err(&format!("{cut}\n-----END PRIVATE KEY-----\n"), None);
        assert!(e.contains("not a readable private key"), "{e}");

        let pair = KeyPair::decode(&k.encrypted_pem, Some(PASSPHRASE), &src()).unwrap();
        let shown = format!("{pair:?}");
        assert!(shown.contains(pair.fingerprint()), "{shown}");
        assert!(!shown.contains(&plain_line) && !shown.contains(PASSPHRASE));
    }

    #[test]
    fn account_is_derived_as_the_connectors_do() {
        assert_eq!(jwt_account("xy12345.eu-central-1"), "XY12345");
        assert_eq!(jwt_account("xy12345.eu-central-1.aws"), "XY12345");
        assert_eq!(jwt_account("myorg-analytics"), "MYORG-ANALYTICS");
        assert_eq!(
            jwt_account("myorg-analytics.snowflakecomputing.com"),
            "MYORG-ANALYTICS"
        );
        assert_eq!(jwt_account("xy12345-ext.global"), "XY12345");
    }
}
