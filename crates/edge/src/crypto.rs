//! WebCrypto (`crypto.subtle`): RS256 signatures with JWK keys, and AES-256-GCM sealing of
//! values at rest, each bound to its table, column and row. Crypto runs in the runtime's
//! native implementation instead of Rust crates in every worker's wasm.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use js_sys::{JSON, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = importKey)]
    fn import_key(
        format: &str,
        key: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &JsValue,
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = verify)]
    fn subtle_verify(
        algorithm: &JsValue,
        key: &JsValue,
        signature: &[u8],
        data: &[u8],
    ) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = sign)]
    fn subtle_sign(algorithm: &JsValue, key: &JsValue, data: &[u8]) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = encrypt)]
    fn subtle_encrypt(algorithm: &JsValue, key: &JsValue, data: &[u8]) -> Result<Promise, JsValue>;

    #[wasm_bindgen(catch, js_namespace = ["crypto", "subtle"], js_name = decrypt)]
    fn subtle_decrypt(algorithm: &JsValue, key: &JsValue, data: &[u8]) -> Result<Promise, JsValue>;
}

/// A failed WebCrypto call, described for the log.
#[derive(Debug)]
pub struct CryptoError(pub String);

impl From<JsValue> for CryptoError {
    fn from(value: JsValue) -> Self {
        Self(value.as_string().unwrap_or_else(|| format!("{value:?}")))
    }
}

/// An imported key, ready for `verify` or `sign`.
#[derive(Clone, Debug)]
pub struct Key(JsValue);

const RS256: &str = r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#;

async fn import_jwk(jwk_json: &str, usage: &str) -> Result<Key, CryptoError> {
    let jwk = JSON::parse(jwk_json)?;
    let usages = JSON::parse(&format!("[\"{usage}\"]"))?;
    let key = JsFuture::from(import_key(
        "jwk",
        &jwk,
        &JSON::parse(RS256)?,
        false,
        &usages,
    )?)
    .await?;
    Ok(Key(key))
}

/// Imports an RSA public key (a JWK) for RS256 verification.
///
/// # Errors
/// When the JWK is not a usable RSA public key.
pub async fn import_rs256_public(jwk_json: &str) -> Result<Key, CryptoError> {
    import_jwk(jwk_json, "verify").await
}

/// Imports an RSA private key (a JWK) for RS256 signing.
///
/// # Errors
/// When the JWK is not a usable RSA private key.
pub async fn import_rs256_private(jwk_json: &str) -> Result<Key, CryptoError> {
    import_jwk(jwk_json, "sign").await
}

/// Whether `signature` is a valid RS256 signature of `data` under `key`.
///
/// # Errors
/// When WebCrypto fails (not when the signature is merely wrong).
pub async fn verify_rs256(key: &Key, signature: &[u8], data: &[u8]) -> Result<bool, CryptoError> {
    let outcome = JsFuture::from(subtle_verify(
        &JSON::parse(RS256)?,
        &key.0,
        signature,
        data,
    )?)
    .await?;
    Ok(outcome.as_bool().unwrap_or(false))
}

/// The RS256 signature of `data` under `key`.
///
/// # Errors
/// When WebCrypto fails.
pub async fn sign_rs256(key: &Key, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let buffer = JsFuture::from(subtle_sign(&JSON::parse(RS256)?, &key.0, data)?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Imports a 256-bit AES-GCM key given as standard base64.
///
/// # Errors
/// When the text is not base64 of exactly 32 bytes.
pub async fn import_aes_gcm(base64_key: &str) -> Result<Key, CryptoError> {
    let raw = STANDARD
        .decode(base64_key.trim())
        .map_err(|e| CryptoError(format!("key is not base64: {e}")))?;
    if raw.len() != 32 {
        return Err(CryptoError(format!(
            "key must be 32 bytes, not {}",
            raw.len()
        )));
    }
    let usages = JSON::parse(r#"["encrypt","decrypt"]"#)?;
    let algorithm = JSON::parse(r#"{"name":"AES-GCM"}"#)?;
    let key = JsFuture::from(import_key(
        "raw",
        &Uint8Array::from(raw.as_slice()),
        &algorithm,
        false,
        &usages,
    )?)
    .await?;
    Ok(Key(key))
}

/// Where a sealed value lives: its table, column and row. It is the AES-GCM associated data,
/// so a value copied into another row or column (by anyone who can write the database but
/// lacks the key) no longer opens there.
#[derive(Clone, Copy, Debug)]
pub struct Slot<'a> {
    /// The table.
    pub table: &'a str,
    /// The column the value was sealed for.
    pub column: &'a str,
    /// The row's key.
    pub row: &'a str,
}

impl Slot<'_> {
    fn associated_data(&self) -> Vec<u8> {
        format!("tollgate\0{}\0{}\0{}", self.table, self.column, self.row).into_bytes()
    }
}

fn aes_gcm(iv: &[u8], aad: Option<&[u8]>) -> Result<JsValue, CryptoError> {
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"AES-GCM".into())?;
    Reflect::set(&algorithm, &"iv".into(), &Uint8Array::from(iv))?;
    if let Some(aad) = aad {
        Reflect::set(&algorithm, &"additionalData".into(), &Uint8Array::from(aad))?;
    }
    Ok(algorithm.into())
}

/// Encrypts with AES-256-GCM under a fresh 96-bit nonce, bound to `slot`:
/// `v2.` + base64url(nonce ‖ ciphertext).
///
/// # Errors
/// When WebCrypto fails.
pub async fn seal(key: &Key, plaintext: &[u8], slot: Slot<'_>) -> Result<String, CryptoError> {
    let iv = tollgate::ids::random_bytes::<12>();
    let aad = slot.associated_data();
    let sealed = JsFuture::from(subtle_encrypt(
        &aes_gcm(&iv, Some(&aad))?,
        &key.0,
        plaintext,
    )?)
    .await?;
    let mut out = iv.to_vec();
    out.extend(Uint8Array::new(&sealed).to_vec());
    Ok(format!("v2.{}", URL_SAFE_NO_PAD.encode(out)))
}

/// Decrypts what [`seal`] produced for `slot`. Values sealed before slots existed (`v1.`, no
/// associated data) still open; each is replaced by a `v2.` value the next time its row's
/// secret is written (a rotation, a reconnect).
///
/// # Errors
/// When the text is not sealed data, or was not sealed under `key` for `slot` (tampering and
/// a value moved from another row included).
pub async fn open(key: &Key, sealed: &str, slot: Slot<'_>) -> Result<Vec<u8>, CryptoError> {
    let aad = slot.associated_data();
    let (aad, body) = match sealed.split_once('.') {
        Some(("v2", body)) => (Some(aad.as_slice()), body),
        Some(("v1", body)) => (None, body),
        _ => return Err(CryptoError("not sealed data".into())),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .ok()
        .filter(|b| b.len() > 12)
        .ok_or_else(|| CryptoError("not sealed data".into()))?;
    let (iv, ciphertext) = bytes.split_at(12);
    let plain = JsFuture::from(subtle_decrypt(&aes_gcm(iv, aad)?, &key.0, ciphertext)?).await?;
    Ok(Uint8Array::new(&plain).to_vec())
}
