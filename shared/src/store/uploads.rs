//! Pending image uploads: `UPLOAD#<id>/UPLOAD`, removed by TTL a day after
//! they can no longer be committed. A commit claims one with a conditional
//! write, so it is used at most once.

use time::OffsetDateTime;

use super::item::{get_n, get_s, get_time, has, key, n, rfc3339, s};
use super::keys;
use super::{Item, Store, StoreError, applied, classify};
use crate::domain::id::is_plausible_id;
use crate::domain::image::{Declared, ImageTarget, ImageType, PendingUpload};

impl Store {
    /// Records an upload handed out; never overwrites one.
    pub async fn put_upload(&self, upload: &PendingUpload) -> Result<(), StoreError> {
        let (pk, sk) = keys::upload(&upload.id);
        let mut item = key(pk, sk);
        let bytes = i64::try_from(upload.declared.bytes)
            .map_err(|_| StoreError::Service("upload size out of range".into()))?;
        item.extend([
            ("id".into(), s(&upload.id)),
            ("target".into(), s(upload.target.as_stored())),
            ("user_id".into(), s(&upload.user_id)),
            (
                "content_type".into(),
                s(upload.declared.image_type.content_type()),
            ),
            ("bytes".into(), n(bytes)),
            ("created_at".into(), s(rfc3339(upload.created_at))),
            (
                "ttl".into(),
                n(upload.commit_by().unix_timestamp() + 86_400),
            ),
        ]);
        self.client
            .put_item()
            .table_name(self.table_name())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// The upload; `None` for unknown (or impossible) ids.
    pub async fn upload(&self, id: &str) -> Result<Option<PendingUpload>, StoreError> {
        if !is_plausible_id(id) {
            return Ok(None);
        }
        self.get(keys::upload(id))
            .await?
            .as_ref()
            .map(upload_from_item)
            .transpose()
    }

    /// Marks the upload used; `false` when another commit claimed it first.
    pub async fn claim_upload(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let (pk, sk) = keys::upload(id);
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(used_at)")
            .expression_attribute_values(":now", s(rfc3339(now)))
            .send()
            .await
            .map_err(classify);
        applied(result)
    }
}

fn upload_from_item(item: &Item) -> Result<PendingUpload, StoreError> {
    let target = get_s(item, "target")?;
    let content_type = get_s(item, "content_type")?;
    let bytes = get_n(item, "bytes")?;
    Ok(PendingUpload {
        id: get_s(item, "id")?.to_owned(),
        target: ImageTarget::parse_stored(target)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown upload target {target}")))?,
        user_id: get_s(item, "user_id")?.to_owned(),
        declared: Declared {
            image_type: ImageType::parse(content_type).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown upload type {content_type}"))
            })?,
            bytes: u64::try_from(bytes)
                .map_err(|_| StoreError::Corrupt(format!("negative upload size {bytes}")))?,
        },
        created_at: get_time(item, "created_at")?,
        used: has(item, "used_at"),
    })
}
