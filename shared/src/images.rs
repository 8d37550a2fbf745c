//! Uploaded images (event images, avatars) in the private images bucket:
//! presigned uploads, the check of what was uploaded, and the links
//! clients get. The rules themselves are `crate::domain::image` (`rules` here).
//!
//! The flow: `hand_out` records a pending upload and answers a presigned
//! PUT (its content type and length signed) to `uploads/…`; the client
//! uploads and commits; `accept` claims the upload once, reads at most the
//! limit (plus one byte), checks size, magic bytes and that it decodes,
//! and keeps exactly those bytes under the image's own key. Anything it
//! refuses is deleted; abandoned uploads expire with the bucket's
//! lifecycle rule on `uploads/`.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::config::ImagesConfig;
use crate::domain::image::{self as rules, ImageTarget, ImageType, PendingUpload, UploadRefused};
use crate::error::{ApiError, FieldError};
use crate::files::FilesError;
use crate::store::Store;

/// How long an image link handed to a client works. Answers carrying one
/// are never cached by the API, so a link is always this fresh.
pub const IMAGE_URL_VALID: Duration = Duration::from_secs(3600);

/// Decoding limits: an image of a few KB may claim enormous dimensions.
/// 8192 px a side and 96 MiB of pixels fit a 24-megapixel photo and the
/// functions' 256 MB of memory.
const MAX_SIDE_PIXELS: u32 = 8192;
const MAX_DECODE_BYTES: u64 = 96 * 1024 * 1024;

/// The images bucket, as one function's role sees it.
#[derive(Clone)]
pub struct Images {
    client: aws_sdk_s3::Client,
    bucket: String,
    cdn_base: Option<String>,
}

/// What the client needs to upload: `upload_url` takes a PUT with exactly
/// `headers`, until `expires_at`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadTicket {
    /// Commit with this once uploaded (single use).
    pub upload_id: String,
    pub upload_url: String,
    /// Always `PUT`.
    #[schema(value_type = String)]
    pub method: &'static str,
    /// Headers the PUT must carry as given (`content-type`, `content-length`).
    pub headers: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// The body of `POST …/image` and `POST /v1/me/avatar`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// The `upload_id` of the upload answer.
    pub upload_id: String,
}

/// An upload checked and kept: the image now lives at `image_key`.
#[derive(Debug)]
pub struct Accepted {
    pub image_key: String,
}

fn s3_error(err: impl std::error::Error + 'static) -> FilesError {
    FilesError(DisplayErrorContext(err).to_string())
}

impl Images {
    pub fn new(aws: &SdkConfig, config: ImagesConfig) -> Self {
        // Locally (an endpoint override) bucket names go in the path, as
        // moto and the IAM proxy take them; on AWS, virtual-hosted style.
        let s3 = aws_sdk_s3::config::Builder::from(aws)
            .force_path_style(aws.endpoint_url().is_some())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(s3),
            bucket: config.bucket,
            cdn_base: config.cdn_base,
        }
    }

    fn presigning(
        now: OffsetDateTime,
        valid_for: Duration,
    ) -> Result<PresigningConfig, FilesError> {
        PresigningConfig::builder()
            .start_time(SystemTime::from(now))
            .expires_in(valid_for)
            .build()
            .map_err(|e| FilesError(e.to_string()))
    }

    /// A link that GETs the image at `key`: under the CDN when one is
    /// configured, else presigned for `IMAGE_URL_VALID` from `now`.
    pub async fn url(&self, key: &str, now: OffsetDateTime) -> Result<String, FilesError> {
        if let Some(base) = &self.cdn_base {
            return Ok(format!("{base}/{key}"));
        }
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(Self::presigning(now, IMAGE_URL_VALID)?)
            .await
            .map_err(s3_error)?;
        Ok(request.uri().to_owned())
    }

    /// A presigned PUT of exactly the declared type and size to the
    /// upload's key, valid until the upload URL expires.
    async fn presign_upload(&self, upload: &PendingUpload) -> Result<UploadTicket, FilesError> {
        let valid_for =
            Duration::try_from(rules::UPLOAD_URL_VALID).map_err(|e| FilesError(e.to_string()))?;
        let bytes = i64::try_from(upload.declared.bytes).map_err(|e| FilesError(e.to_string()))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(upload.upload_key())
            .content_type(upload.declared.image_type.content_type())
            .content_length(bytes)
            .presigned(Self::presigning(upload.created_at, valid_for)?)
            .await
            .map_err(s3_error)?;
        let headers = request
            .headers()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        Ok(UploadTicket {
            upload_id: upload.id.clone(),
            upload_url: request.uri().to_owned(),
            method: "PUT",
            headers,
            expires_at: upload.upload_url_expires_at(),
        })
    }

    /// Whether anything was uploaded at `key`.
    async fn exists(&self, key: &str) -> Result<bool, FilesError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(err) => Err(s3_error(err)),
        }
    }

    /// The first `max_bytes + 1` bytes at `key` (so a larger object shows
    /// as larger without being read whole).
    async fn read_at_most(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, FilesError> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{max_bytes}"))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            // An empty object has no byte 0 to start a range at.
            Err(err)
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 416) =>
            {
                return Ok(Vec::new());
            }
            Err(err) => return Err(s3_error(err)),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| FilesError(e.to_string()))?;
        let mut bytes = body.into_bytes().to_vec();
        bytes.truncate(usize::try_from(max_bytes + 1).unwrap_or(usize::MAX));
        Ok(bytes)
    }

    async fn put(&self, key: &str, bytes: Vec<u8>, ty: ImageType) -> Result<(), FilesError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(ty.content_type())
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), FilesError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    /// Deletes an object nothing points at any more; one left behind only
    /// costs storage, so a failure is a warning.
    pub async fn discard(&self, key: &str) {
        if let Err(err) = self.delete(key).await {
            tracing::warn!(key, error = %err, "unused image not deleted");
        }
    }
}

/// Do `bytes` decode as an image of type `ty`, within the decoding limits?
pub fn decodes(ty: ImageType, bytes: &[u8]) -> Result<(), String> {
    let format = match ty {
        ImageType::Png => image::ImageFormat::Png,
        ImageType::Jpeg => image::ImageFormat::Jpeg,
        ImageType::Webp => image::ImageFormat::WebP,
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE_PIXELS);
    limits.max_image_height = Some(MAX_SIDE_PIXELS);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader
        .decode()
        .map(|_| ())
        .map_err(|err| format!("the file does not decode as {}: {err}", ty.content_type()))
}

/// Records an upload for `target` by `user_id` and answers where to PUT it.
pub async fn hand_out(
    store: &Store,
    images: &Images,
    target: ImageTarget,
    user_id: &str,
    request: &rules::UploadRequest,
    now: OffsetDateTime,
) -> Result<UploadTicket, ApiError> {
    let declared = rules::declare(&target, request).map_err(invalid)?;
    let upload = PendingUpload::new(target, user_id, declared, now);
    store.put_upload(&upload).await?;
    Ok(images.presign_upload(&upload).await?)
}

/// 422 naming each field whose value is well-formed but not acceptable.
fn invalid(errors: Vec<FieldError>) -> ApiError {
    let detail = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
        detail,
    )
    .with_errors(errors)
}

fn image_invalid(reason: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "IMAGE_INVALID",
        reason.clone(),
    )
    .with_errors(vec![FieldError {
        field: "upload_id".into(),
        message: reason,
    }])
}

/// Claims the upload `upload_id` of `user_id` for `target` and checks what
/// was uploaded. Accepted, its bytes are kept under the image's key (the
/// caller points at it, then `discard`s what it replaced); refused, the
/// upload is deleted and the answer is 422 `IMAGE_INVALID`. An upload not
/// yet made is 422 too but may still be committed once it is.
pub async fn accept(
    store: &Store,
    images: &Images,
    upload_id: &str,
    target: &ImageTarget,
    user_id: &str,
    now: OffsetDateTime,
) -> Result<Accepted, ApiError> {
    let upload = store
        .upload(upload_id)
        .await?
        .ok_or_else(|| ApiError::not_found("upload"))?;
    upload
        .may_commit(target, user_id, now)
        .map_err(|refused| match refused {
            UploadRefused::NotFound => ApiError::not_found("upload"),
            UploadRefused::Used => used(),
        })?;
    let upload_key = upload.upload_key();
    if !images.exists(&upload_key).await? {
        return Err(image_invalid(
            "nothing was uploaded for this upload_id yet".into(),
        ));
    }
    if !store.claim_upload(&upload.id, now).await? {
        return Err(used());
    }
    let ty = upload.declared.image_type;
    let max_bytes = target.max_bytes();
    let bytes = images.read_at_most(&upload_key, max_bytes).await?;
    if let Err(reason) =
        rules::check_stored(ty, max_bytes, &bytes).and_then(|()| decodes(ty, &bytes))
    {
        images.discard(&upload_key).await;
        return Err(image_invalid(reason));
    }
    let image_key = upload.image_key();
    images.put(&image_key, bytes, ty).await?;
    images.discard(&upload_key).await;
    Ok(Accepted { image_key })
}

fn used() -> ApiError {
    ApiError::conflict("UPLOAD_USED", "this upload_id was already committed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::new(width, height)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_real_png_decodes() {
        assert_eq!(decodes(ImageType::Png, &png(4, 3)), Ok(()));
    }

    #[test]
    fn png_magic_followed_by_garbage_does_not_decode() {
        let mut bytes = png(4, 3);
        bytes.truncate(20);
        bytes.extend_from_slice(b"garbage garbage garbage");
        assert!(decodes(ImageType::Png, &bytes).is_err());
    }

    #[test]
    fn a_png_claiming_huge_dimensions_is_refused_without_allocating_them() {
        let mut bytes = png(1, 1);
        // IHDR width and height (bytes 16..24), CRC left stale: the
        // decoder must stop at the limits or the checksum, never allocate.
        bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(decodes(ImageType::Png, &bytes).is_err());
    }

    #[test]
    fn a_png_declared_as_jpeg_does_not_decode_as_jpeg() {
        assert!(decodes(ImageType::Jpeg, &png(2, 2)).is_err());
    }
}
