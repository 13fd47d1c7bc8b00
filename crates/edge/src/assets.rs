//! Asset uploads, lists and deletes, shared by the developer lane (`platform`) and the
//! secret-key lane (`api`), and the R2 side of serving them.
//!
//! An upload streams the request body straight into R2: its type is sniffed from the first
//! bytes, every byte is counted (a body longer than it declared, or than the limit, fails the
//! write) and hashed on the way. Only then does the row — with its audit event and the
//! `Idempotency-Key` record — land in one batch; when that does not happen (a refusal, a
//! replay, a failed batch) the object just written is deleted again, so R2 keeps no file
//! without its row.

use crate::audit::{self, Actor, Change};
use crate::db::{self, assets::AssetRow};
use crate::idempotent::{self, Begun};
use crate::{ApiError, Ctx, json, json_text, limits, list, log, storage};
use js_sys::{BigInt, Object, Reflect, Uint8Array};
use serde_json::json;
use tollgate::assets::{
    AssetView, DEFAULT_PRIVATE_MAX_BYTES, FileHash, PUBLIC_MAX_BYTES, SNIFF_BYTES, Upload,
    Visibility, object_key, stored_type,
};
use tollgate::idempotency::IdempotencyKey;
use tollgate::ids::{new_id, random_u128};
use tollgate::limits::Cap;
use tollgate::{Detail, query_pairs};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::web_sys::{ReadableStreamDefaultReader, WritableStreamDefaultWriter};
use worker::worker_sys::{FixedLengthStream, R2Bucket};
use worker::{Bucket, D1Database, Env, Response, ResponseBody};

/// Whose assets a request works on, and who acts (for the audit trail).
#[derive(Debug)]
pub struct Owner<'a> {
    /// The project the assets belong to.
    pub project_id: &'a str,
    /// The developer (or secret key) acting, on the project's platform.
    pub actor: Actor<'a>,
    /// The database.
    pub db: &'a D1Database,
}

/// The shared R2 bucket.
///
/// # Errors
/// When the binding is missing.
pub fn bucket(env: &Env) -> Result<Bucket, ApiError> {
    Ok(env.bucket(storage::ASSETS)?)
}

/// The bucket's JavaScript binding. Reads and writes call it directly: the typed builders
/// convert every option they know into objects, which costs each worker kilobytes.
fn binding(bucket: &Bucket) -> &R2Bucket {
    bucket.as_ref().unchecked_ref()
}

/// An object read from R2, ready to stream into a response.
#[derive(Debug)]
pub struct Stored {
    object: JsValue,
}

impl Stored {
    /// `object[name]` as text, if it is text.
    fn text(value: &JsValue, name: &str) -> Option<String> {
        Reflect::get(value, &name.into()).ok()?.as_string()
    }

    /// The content type it was stored with.
    #[must_use]
    pub fn content_type(&self) -> Option<String> {
        Reflect::get(&self.object, &"httpMetadata".into())
            .ok()
            .and_then(|meta| Self::text(&meta, "contentType"))
    }

    /// Its quoted ETag.
    #[must_use]
    pub fn etag(&self) -> Option<String> {
        Self::text(&self.object, "httpEtag")
    }

    /// A response (status 200) whose body streams the object without passing through the
    /// worker.
    ///
    /// # Errors
    /// When the runtime cannot build the response.
    pub fn into_response(self) -> Result<Response, ApiError> {
        let body = Reflect::get(&self.object, &"body".into()).map_err(worker::Error::from)?;
        Ok(Response::from_body(ResponseBody::Stream(
            body.unchecked_into(),
        ))?)
    }
}

/// Reads `key`, whole or `length` bytes from `offset`; `None` when no such object exists.
///
/// # Errors
/// Storage failures.
pub async fn read(
    bucket: &Bucket,
    key: &str,
    range: Option<(u64, u64)>,
) -> Result<Option<Stored>, ApiError> {
    let options = Object::new();
    if let Some((offset, length)) = range {
        let span = Object::new();
        #[expect(
            clippy::cast_precision_loss,
            reason = "object sizes stay far below 2^53"
        )]
        let (offset, length) = (offset as f64, length as f64);
        Reflect::set(&span, &"offset".into(), &offset.into()).map_err(worker::Error::from)?;
        Reflect::set(&span, &"length".into(), &length.into()).map_err(worker::Error::from)?;
        Reflect::set(&options, &"range".into(), &span).map_err(worker::Error::from)?;
    }
    let promise = binding(bucket)
        .get(key.to_owned(), options.into())
        .map_err(worker::Error::from)?;
    let object = JsFuture::from(promise).await.map_err(worker::Error::from)?;
    Ok((!object.is_null() && !object.is_undefined()).then_some(Stored { object }))
}

/// Where public URLs point: `PUBLIC_API_URL` (the `api` worker's origin), else this
/// request's own origin — right on the `api` worker, which serves `/assets/…`.
fn public_base(ctx: &Ctx) -> String {
    let configured = ctx
        .env
        .var("PUBLIC_API_URL")
        .map(|v| v.to_string().trim().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    if !configured.is_empty() {
        return configured;
    }
    origin(&ctx.req.inner().url())
}

/// `scheme://host[:port]` of an absolute URL. Read off the string: parsing it with the `url`
/// crate would pull its Unicode tables into every worker that uploads.
fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    url[..end].to_owned()
}

/// A URL on the `api` worker's origin for `path` (which starts with `/`).
#[must_use]
pub fn api_url(ctx: &Ctx, path: &str) -> String {
    format!("{}{path}", public_base(ctx))
}

/// The developer's view of an asset.
#[must_use]
pub fn view(ctx: &Ctx, row: AssetRow) -> AssetView {
    let visibility = row.visibility();
    AssetView {
        url: (visibility == Visibility::Public)
            .then(|| api_url(ctx, &format!("/assets/{}", row.r2_key))),
        id: row.id,
        project_id: row.project_id,
        filename: row.filename,
        content_type: row.content_type,
        size: row.size,
        sha256: row.sha256,
        visibility: visibility.as_str(),
        created_at: row.created_at,
    }
}

/// The largest private file: `ASSET_PRIVATE_MAX_BYTES`, else 5 MiB.
fn private_limit(env: &Env) -> u64 {
    env.var("ASSET_PRIVATE_MAX_BYTES")
        .ok()
        .and_then(|v| v.to_string().trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PRIVATE_MAX_BYTES)
}

/// What streaming an upload saw.
#[derive(Debug, Default)]
struct Tally {
    bytes: u64,
    hash: FileHash,
}

/// An object written to R2.
#[derive(Debug)]
struct Written {
    content_type: &'static str,
    size: u64,
    sha256: String,
}

/// The next chunk of a body, or `None` at its end.
async fn next_chunk(reader: &ReadableStreamDefaultReader) -> worker::Result<Option<Vec<u8>>> {
    let step = JsFuture::from(reader.read()).await?;
    if Reflect::get(&step, &JsValue::from_str("done"))?.is_truthy() {
        return Ok(None);
    }
    let value = Reflect::get(&step, &JsValue::from_str("value"))?;
    Ok(Some(Uint8Array::new(&value).to_vec()))
}

/// Copies the body into R2's side of the stream, counting and hashing every chunk. A byte
/// past the declared length stops the copy and fails the write.
async fn feed(
    reader: &ReadableStreamDefaultReader,
    writer: &WritableStreamDefaultWriter,
    head: Vec<u8>,
    declared: u64,
    tally: &mut Tally,
) -> worker::Result<()> {
    let mut chunk = Some(head);
    while let Some(bytes) = chunk {
        tally.bytes += bytes.len() as u64;
        if tally.bytes > declared {
            return Err(worker::Error::RustError(
                "upload longer than declared".into(),
            ));
        }
        tally.hash.update(&bytes);
        if !bytes.is_empty() {
            JsFuture::from(writer.write_with_chunk(&Uint8Array::from(bytes.as_slice()))).await?;
        }
        chunk = next_chunk(reader).await?;
    }
    JsFuture::from(writer.close()).await?;
    Ok(())
}

/// Streams the request body into R2 under `key`.
async fn store(
    ctx: &Ctx,
    bucket: &Bucket,
    key: &str,
    visibility: Visibility,
    limit: u64,
) -> Result<Written, ApiError> {
    // (1) The declared length decides before a byte is read; R2 needs it to stream.
    let declared = ctx
        .header("Content-Length")?
        .ok_or(ApiError::LengthRequired)?
        .trim()
        .parse::<u64>()
        .map_err(|_| ApiError::InvalidUpload("Content-Length must be a number of bytes."))?;
    let too_large = || ApiError::PayloadTooLarge(usize::try_from(limit).unwrap_or(usize::MAX));
    if declared > limit {
        return Err(too_large());
    }
    let empty = ApiError::InvalidUpload("The file is empty.");
    let Some(body) = ctx.req.inner().body().filter(|_| declared > 0) else {
        return Err(empty);
    };
    // (2) The first bytes decide the type.
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut head = Vec::new();
    while head.len() < SNIFF_BYTES {
        match next_chunk(&reader).await? {
            Some(chunk) => head.extend(chunk),
            None => break,
        }
    }
    let content_type = stored_type(visibility, &head).ok_or(ApiError::UnsupportedFileType(
        "A public asset must be a png, jpeg, webp or gif image (judged by its bytes, not its Content-Type).",
    ))?;
    // (3) R2 reads a stream of exactly the declared length while the body is copied into it,
    // every byte counted and hashed on the way: a body that is longer (or shorter) than it
    // declared fails the write, so nothing larger than what was checked is ever stored.
    let fixed = match u32::try_from(declared) {
        Ok(length) => FixedLengthStream::new(length),
        Err(_) => FixedLengthStream::new_big_int(BigInt::from(declared)),
    }
    .map_err(worker::Error::from)?;
    let writer = fixed.writable().get_writer().map_err(worker::Error::from)?;
    // The put starts now and reads while the copy below writes.
    let r2 = binding(bucket);
    let metadata = Object::new();
    Reflect::set(&metadata, &"contentType".into(), &content_type.into())
        .map_err(worker::Error::from)?;
    let options = Object::new();
    Reflect::set(&options, &"httpMetadata".into(), &metadata).map_err(worker::Error::from)?;
    let put = JsFuture::from(
        r2.put(key.to_owned(), fixed.readable().into(), options.into())
            .map_err(worker::Error::from)?,
    );
    let mut tally = Tally::default();
    let copied = feed(&reader, &writer, head, declared, &mut tally).await;
    if copied.is_err() {
        // R2 must see the stream fail, or it would wait for the missing bytes for ever.
        let _ = JsFuture::from(writer.abort_with_reason(&"upload refused".into())).await;
    }
    let written = put.await;
    let Tally { bytes, hash } = tally;
    match (written, copied) {
        (Ok(_), Ok(())) if bytes == declared => Ok(Written {
            content_type,
            size: bytes,
            sha256: hash.finish(),
        }),
        (Ok(_), _) => {
            discard(ctx, bucket, key).await;
            Err(ApiError::internal(format!(
                "R2 stored an upload of {bytes} bytes read of {declared} declared"
            )))
        }
        _ if bytes > limit => Err(too_large()),
        _ if bytes != declared => Err(ApiError::InvalidUpload(
            "The body's length does not match its Content-Length.",
        )),
        (Err(error), _) => Err(ApiError::internal(format!("R2 put: {error:?}"))),
    }
}

/// Deletes an object a failed or replayed upload left behind.
async fn discard(ctx: &Ctx, bucket: &Bucket, key: &str) {
    if let Err(error) = bucket.delete(key).await {
        log::error(&ctx.request_id, "asset_discard_failed", &error.to_string());
    }
}

/// Uploads the request body as an asset of `owner` (201 with the asset; idempotent).
///
/// # Errors
/// 411 without `Content-Length`, 413 past the limit, 415 for a public non-image, 422 for
/// a missing or bad `filename`/`visibility`, and the idempotency errors.
pub async fn upload(ctx: Ctx, owner: Owner<'_>) -> Result<Response, ApiError> {
    let pairs = query_pairs(&ctx.req.inner().url());
    let upload = Upload::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ApiError::Validation)?;
    // A malformed key is refused before the body is read.
    if let Some(raw) = ctx.header("Idempotency-Key")?
        && IdempotencyKey::parse(&raw).is_none()
    {
        return Err(ApiError::InvalidIdempotencyKey);
    }
    let limit = match upload.visibility {
        Visibility::Public => PUBLIC_MAX_BYTES,
        Visibility::Private => private_limit(&ctx.env),
    };
    check_caps(&ctx, &owner).await?;
    let bucket = bucket(&ctx.env)?;
    let key = object_key(upload.visibility, owner.project_id, random_u128());
    let stored = store(&ctx, &bucket, &key, upload.visibility, limit).await?;
    let recorded = record(&ctx, &owner, &upload, &key, &stored).await;
    if !matches!(recorded, Ok((true, _))) {
        discard(&ctx, &bucket, &key).await;
    }
    recorded.map(|(_, response)| response)
}

/// Refuses an upload that would pass the project's asset caps (count, then bytes), before a
/// byte reaches R2. The size is the declared one; [`store`] refuses a body that differs, and
/// a missing or malformed `Content-Length`.
async fn check_caps(ctx: &Ctx, owner: &Owner<'_>) -> Result<(), ApiError> {
    let declared = ctx
        .header("Content-Length")?
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let held = db::assets::held(owner.db, owner.project_id).await?;
    limits::check(&ctx.env, Cap::AssetsPerProject, held.n, 1)?;
    limits::check(&ctx.env, Cap::AssetBytesPerProject, held.bytes, declared)
}

/// Writes the row, its audit event and the idempotency record in one batch. Returns whether
/// the new object is now referenced (false for a replay) and the answer.
async fn record(
    ctx: &Ctx,
    owner: &Owner<'_>,
    upload: &Upload,
    key: &str,
    stored: &Written,
) -> Result<(bool, Response), ApiError> {
    // The fingerprint covers what the upload says and the bytes it carried (their hash), so
    // a retry of the same file replays and another file under the same key is refused.
    let described = json!({
        "filename": upload.filename,
        "visibility": upload.visibility.as_str(),
        "sha256": stored.sha256,
        "size": stored.size,
    })
    .to_string();
    let claim =
        match idempotent::begin(ctx, owner.db, owner.project_id, described.as_bytes()).await? {
            Begun::Replay(response) => return Ok((false, response)),
            Begun::Proceed(claim) => claim,
        };
    let row = AssetRow {
        id: new_id("ast"),
        platform_id: owner.actor.platform_id.to_owned(),
        project_id: owner.project_id.to_owned(),
        r2_key: key.to_owned(),
        filename: upload.filename.clone(),
        content_type: stored.content_type.to_owned(),
        size: i64::try_from(stored.size).unwrap_or(i64::MAX),
        sha256: stored.sha256.clone(),
        visibility: upload.visibility.column().to_owned(),
        created_at: ctx.now_ms,
    };
    let written = async {
        let mut statements = vec![
            db::assets::insert(owner.db, &row)?,
            audit::event(
                ctx,
                owner.db,
                owner.actor,
                Change {
                    project_id: Some(owner.project_id),
                    action: "asset.uploaded",
                    target_type: "asset",
                    target_id: &row.id,
                },
                &json!({
                    "filename": row.filename, "visibility": upload.visibility.as_str(),
                    "contentType": row.content_type, "size": row.size, "sha256": row.sha256,
                }),
            )?,
        ];
        let body = serde_json::to_string(&Detail {
            data: view(ctx, row.clone()),
        })?;
        if let Some(claim) = &claim {
            statements.push(idempotent::record(ctx, owner.db, claim, 201, &body, false).await?);
        }
        db::batch(owner.db, statements).await?;
        json_text(201, body)
    }
    .await;
    match written {
        Ok(response) => Ok((true, response)),
        Err(error) => {
            idempotent::release(owner.db, claim.as_ref()).await?;
            Err(error)
        }
    }
}

/// A page of `owner`'s live assets, newest first.
///
/// # Errors
/// 422 for a bad page; storage failures.
pub async fn list(ctx: &Ctx, owner: &Owner<'_>) -> Result<Response, ApiError> {
    let page = list::page(ctx)?;
    let (rows, total) = db::assets::list(owner.db, owner.project_id, page).await?;
    list::respond(rows, total, page, |row| view(ctx, row))
}

/// Soft-deletes one of `owner`'s assets (audited) and removes its object from R2.
///
/// # Errors
/// 404 for an unknown or another project's asset, 409 `asset_in_use` while a product or tier
/// delivers it.
pub async fn delete(ctx: &Ctx, owner: &Owner<'_>, id: &str) -> Result<Response, ApiError> {
    let row = db::assets::get(owner.db, owner.project_id, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = ctx.now_ms;
    let changed = db::batch(
        owner.db,
        vec![
            db::assets::delete(owner.db, owner.project_id, &row.id, now)?,
            audit::event_when(
                ctx,
                owner.db,
                owner.actor,
                Change {
                    project_id: Some(owner.project_id),
                    action: "asset.deleted",
                    target_type: "asset",
                    target_id: &row.id,
                },
                &json!({ "filename": row.filename, "visibility": row.visibility().as_str() }),
                Some((
                    "EXISTS (SELECT 1 FROM assets WHERE id = ?13 AND deleted_at = ?14)",
                    [db::text(&row.id), db::int(now)],
                )),
            )?,
        ],
    )
    .await?;
    if changed.first() != Some(&1) {
        return Err(if db::assets::in_use(owner.db, &row.id).await? {
            ApiError::AssetInUse
        } else {
            ApiError::NotFound
        });
    }
    // The row is gone first, so no download can start on an object about to vanish. A failed
    // R2 delete leaves an orphan object under a key nothing names any more; it is logged.
    if let Err(error) = bucket(&ctx.env)?.delete(&row.r2_key).await {
        log::error(
            &ctx.request_id,
            "asset_object_orphaned",
            &format!("{}: {error}", row.id),
        );
    }
    json(200, &json!({ "data": { "id": row.id, "deleted": true } }))
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn the_origin_is_everything_before_the_path() {
        assert_eq!(
            origin("http://127.0.0.1:8789/api/assets?x=1"),
            "http://127.0.0.1:8789"
        );
        assert_eq!(origin("https://api.example.com"), "https://api.example.com");
        assert_eq!(
            origin("https://api.example.com?q"),
            "https://api.example.com"
        );
    }
}
