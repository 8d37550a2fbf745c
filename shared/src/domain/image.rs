//! Uploaded images (event images, avatars): the accepted types, their size
//! limits, magic-byte sniffing and the rules of a pending upload. Plain
//! functions, no I/O; decoding and S3 live in `crate::images`.

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use crate::error::FieldError;

/// The image formats accepted, each known by its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    Png,
    Jpeg,
    Webp,
}

impl ImageType {
    pub const ALL: [ImageType; 3] = [ImageType::Png, ImageType::Jpeg, ImageType::Webp];

    /// `image/png`, `image/jpeg` or `image/webp`, exactly (lowercase, no parameters).
    pub fn parse(content_type: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|ty| ty.content_type() == content_type)
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
            ImageType::Webp => "image/webp",
        }
    }

    /// The file extension of stored images.
    pub fn extension(self) -> &'static str {
        match self {
            ImageType::Png => "png",
            ImageType::Jpeg => "jpg",
            ImageType::Webp => "webp",
        }
    }

    /// The format the first bytes announce, if one of ours.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF];
        if bytes.starts_with(PNG) {
            Some(ImageType::Png)
        } else if bytes.starts_with(JPEG) {
            Some(ImageType::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageType::Webp)
        } else {
            None
        }
    }
}

/// What an image is for; each has its own size limit and place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageTarget {
    /// The image of this event (admins).
    Event(String),
    /// The avatar of the user who asked.
    Avatar,
}

pub const EVENT_IMAGE_MAX_BYTES: u64 = 5 * 1024 * 1024;
pub const AVATAR_MAX_BYTES: u64 = 1024 * 1024;

impl ImageTarget {
    pub fn max_bytes(&self) -> u64 {
        match self {
            ImageTarget::Event(_) => EVENT_IMAGE_MAX_BYTES,
            ImageTarget::Avatar => AVATAR_MAX_BYTES,
        }
    }

    /// As stored with a pending upload: `event#<id>` or `avatar`.
    pub fn as_stored(&self) -> String {
        match self {
            ImageTarget::Event(id) => format!("event#{id}"),
            ImageTarget::Avatar => "avatar".to_owned(),
        }
    }

    pub fn parse_stored(stored: &str) -> Option<Self> {
        match stored {
            "avatar" => Some(ImageTarget::Avatar),
            _ => stored
                .strip_prefix("event#")
                .map(|id| ImageTarget::Event(id.to_owned())),
        }
    }

    /// Where the client's upload goes: under `uploads/`, which the bucket's
    /// lifecycle rule empties of anything older than a day.
    pub fn upload_key(&self, user_id: &str, upload_id: &str) -> String {
        match self {
            ImageTarget::Event(id) => format!("uploads/events/{id}/{upload_id}"),
            ImageTarget::Avatar => format!("uploads/avatars/{user_id}/{upload_id}"),
        }
    }

    /// Where an accepted image is kept (the bytes that were checked).
    pub fn image_key(&self, user_id: &str, upload_id: &str, ty: ImageType) -> String {
        let ext = ty.extension();
        match self {
            ImageTarget::Event(id) => format!("events/{id}/{upload_id}.{ext}"),
            ImageTarget::Avatar => format!("avatars/{user_id}/{upload_id}.{ext}"),
        }
    }
}

/// The body of `POST …/image-upload` and `POST /v1/me/avatar-upload`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// `image/png`, `image/jpeg` or `image/webp`.
    pub content_type: String,
    /// The exact size of the file to upload, in bytes (events ≤ 5 MiB, avatars ≤ 1 MiB).
    pub bytes: u64,
}

/// An upload as declared and accepted for presigning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub image_type: ImageType,
    pub bytes: u64,
}

/// The declared type and size, checked for `target`; every bad field named.
pub fn declare(target: &ImageTarget, req: &UploadRequest) -> Result<Declared, Vec<FieldError>> {
    let mut errors = Vec::new();
    let image_type = ImageType::parse(&req.content_type);
    if image_type.is_none() {
        errors.push(FieldError {
            field: "content_type".into(),
            message: "must be image/png, image/jpeg or image/webp".into(),
        });
    }
    let max = target.max_bytes();
    if !(1..=max).contains(&req.bytes) {
        errors.push(FieldError {
            field: "bytes".into(),
            message: format!("must be 1 to {max}"),
        });
    }
    match image_type {
        Some(image_type) if errors.is_empty() => Ok(Declared {
            image_type,
            bytes: req.bytes,
        }),
        _ => Err(errors),
    }
}

/// How long the presigned upload URL works.
pub const UPLOAD_URL_VALID: Duration = Duration::minutes(15);
/// How long after asking the upload may be committed.
pub const COMMIT_WITHIN: Duration = Duration::hours(1);

/// An upload handed out and not yet committed: single use, bound to who
/// asked, for what, and the declared type and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub id: String,
    pub target: ImageTarget,
    pub user_id: String,
    pub declared: Declared,
    pub created_at: OffsetDateTime,
    /// Set when a commit claimed it.
    pub used: bool,
}

/// Why an upload id cannot be committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRefused {
    /// Unknown, expired, or not the caller's for this target.
    NotFound,
    /// Already committed (or being committed).
    Used,
}

impl PendingUpload {
    pub fn new(
        target: ImageTarget,
        user_id: &str,
        declared: Declared,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            target,
            user_id: user_id.to_owned(),
            declared,
            created_at: now,
            used: false,
        }
    }

    pub fn upload_url_expires_at(&self) -> OffsetDateTime {
        self.created_at + UPLOAD_URL_VALID
    }

    pub fn commit_by(&self) -> OffsetDateTime {
        self.created_at + COMMIT_WITHIN
    }

    pub fn upload_key(&self) -> String {
        self.target.upload_key(&self.user_id, &self.id)
    }

    pub fn image_key(&self) -> String {
        self.target
            .image_key(&self.user_id, &self.id, self.declared.image_type)
    }

    /// May `user_id` commit this upload for `target` at `now`? Another
    /// user's or another target's upload looks like an unknown one.
    pub fn may_commit(
        &self,
        target: &ImageTarget,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), UploadRefused> {
        if &self.target != target || self.user_id != user_id || now >= self.commit_by() {
            return Err(UploadRefused::NotFound);
        }
        if self.used {
            return Err(UploadRefused::Used);
        }
        Ok(())
    }
}

/// The stored bytes against the declaration: present, within the limit,
/// and of the declared format by their magic bytes. (That they decode is
/// checked next, by `crate::images`.)
pub fn check_stored(declared: ImageType, max_bytes: u64, bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Err("the uploaded file is empty".into());
    }
    if bytes.len() as u64 > max_bytes {
        return Err(format!(
            "the uploaded file is larger than {max_bytes} bytes"
        ));
    }
    match ImageType::sniff(bytes) {
        Some(found) if found == declared => Ok(()),
        Some(found) => Err(format!(
            "declared {} but the file is {}",
            declared.content_type(),
            found.content_type()
        )),
        None => Err(format!(
            "declared {} but the file is not an image of that type",
            declared.content_type()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
    const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 ";

    fn req(content_type: &str, bytes: u64) -> UploadRequest {
        UploadRequest {
            content_type: content_type.into(),
            bytes,
        }
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn only_png_jpeg_and_webp_are_accepted_by_exact_media_type() {
        assert_eq!(ImageType::parse("image/png"), Some(ImageType::Png));
        assert_eq!(ImageType::parse("image/jpeg"), Some(ImageType::Jpeg));
        assert_eq!(ImageType::parse("image/webp"), Some(ImageType::Webp));
        for other in [
            "image/gif",
            "image/svg+xml",
            "IMAGE/PNG",
            "image/png; x=1",
            "",
        ] {
            assert_eq!(ImageType::parse(other), None, "{other}");
        }
    }

    #[test]
    fn magic_bytes_name_the_format() {
        assert_eq!(ImageType::sniff(PNG), Some(ImageType::Png));
        assert_eq!(ImageType::sniff(JPEG), Some(ImageType::Jpeg));
        assert_eq!(ImageType::sniff(WEBP), Some(ImageType::Webp));
        assert_eq!(ImageType::sniff(b"GIF89a"), None);
        assert_eq!(ImageType::sniff(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(ImageType::sniff(b""), None);
    }

    #[test]
    fn event_images_may_declare_up_to_5_mib_avatars_up_to_1_mib() {
        let event = ImageTarget::Event("e".into());
        assert!(declare(&event, &req("image/png", EVENT_IMAGE_MAX_BYTES)).is_ok());
        assert_eq!(
            fields(declare(&event, &req("image/png", EVENT_IMAGE_MAX_BYTES + 1)).unwrap_err()),
            ["bytes"]
        );
        assert!(declare(&ImageTarget::Avatar, &req("image/webp", AVATAR_MAX_BYTES)).is_ok());
        assert_eq!(
            fields(
                declare(
                    &ImageTarget::Avatar,
                    &req("image/webp", AVATAR_MAX_BYTES + 1)
                )
                .unwrap_err()
            ),
            ["bytes"]
        );
    }

    #[test]
    fn a_bad_declaration_names_every_bad_field() {
        let errors = declare(&ImageTarget::Avatar, &req("image/gif", 0)).unwrap_err();
        assert_eq!(fields(errors), ["content_type", "bytes"]);
    }

    #[test]
    fn a_file_that_lies_about_its_type_is_refused() {
        assert!(check_stored(ImageType::Png, 100, PNG).is_ok());
        assert!(check_stored(ImageType::Jpeg, 100, PNG).is_err());
        assert!(check_stored(ImageType::Webp, 100, b"<svg></svg>").is_err());
    }

    #[test]
    fn an_empty_or_oversized_file_is_refused() {
        assert!(check_stored(ImageType::Png, 100, b"").is_err());
        assert!(check_stored(ImageType::Png, PNG.len() as u64 - 1, PNG).is_err());
    }

    #[test]
    fn stored_targets_round_trip() {
        for target in [ImageTarget::Event("ev1".into()), ImageTarget::Avatar] {
            assert_eq!(ImageTarget::parse_stored(&target.as_stored()), Some(target));
        }
        assert_eq!(ImageTarget::parse_stored("other"), None);
    }

    #[test]
    fn uploads_and_images_live_under_their_own_prefixes() {
        let event = ImageTarget::Event("ev1".into());
        assert_eq!(event.upload_key("u1", "up1"), "uploads/events/ev1/up1");
        assert_eq!(
            event.image_key("u1", "up1", ImageType::Png),
            "events/ev1/up1.png"
        );
        assert_eq!(
            ImageTarget::Avatar.upload_key("u1", "up1"),
            "uploads/avatars/u1/up1"
        );
        assert_eq!(
            ImageTarget::Avatar.image_key("u1", "up1", ImageType::Jpeg),
            "avatars/u1/up1.jpg"
        );
    }

    fn pending() -> PendingUpload {
        let declared = Declared {
            image_type: ImageType::Png,
            bytes: 10,
        };
        PendingUpload::new(ImageTarget::Event("ev1".into()), "u1", declared, NOW)
    }

    #[test]
    fn an_upload_is_committed_only_by_its_asker_for_its_target_in_time() {
        let upload = pending();
        let event = ImageTarget::Event("ev1".into());
        assert_eq!(upload.may_commit(&event, "u1", NOW), Ok(()));
        assert_eq!(
            upload.may_commit(&event, "u2", NOW),
            Err(UploadRefused::NotFound)
        );
        assert_eq!(
            upload.may_commit(&ImageTarget::Event("ev2".into()), "u1", NOW),
            Err(UploadRefused::NotFound)
        );
        assert_eq!(
            upload.may_commit(&ImageTarget::Avatar, "u1", NOW),
            Err(UploadRefused::NotFound)
        );
        assert_eq!(
            upload.may_commit(&event, "u1", NOW + COMMIT_WITHIN),
            Err(UploadRefused::NotFound)
        );
    }

    #[test]
    fn a_used_upload_is_refused_as_used() {
        let upload = PendingUpload {
            used: true,
            ..pending()
        };
        assert_eq!(
            upload.may_commit(&ImageTarget::Event("ev1".into()), "u1", NOW),
            Err(UploadRefused::Used)
        );
    }
}
