//! Magic links, refresh tokens and token families. Single use and rotation
//! are enforced by conditions in DynamoDB, so concurrent requests cannot
//! both succeed.

use aws_sdk_dynamodb::types::{
    ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use time::{Duration, OffsetDateTime};

use super::item::{get_n, get_s, has, key, n, s};
use super::{Item, Store, StoreError, build_error, classify, condition_failed_at, keys};

/// Refresh tokens (and idle token families) live 30 days.
pub const REFRESH_TOKEN_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MagicLinkError {
    #[error("this sign-in link is not valid")]
    Unknown,
    #[error("this sign-in link was already used")]
    Used,
    #[error("this sign-in link has expired")]
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is not valid")]
    Unknown,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the refresh token was already used; the session has been revoked")]
    Reused,
    #[error("the session has been revoked")]
    Revoked,
}

/// What a successful rotation hands back: whose session it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub user_id: String,
    pub family_id: String,
}

impl Store {
    pub async fn put_magic_link(
        &self,
        digest: &str,
        email: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let (pk, sk) = keys::magic_link(digest);
        let mut item = key(pk, sk);
        item.extend([
            ("email".into(), s(email)),
            ("expires_at".into(), n(expires_at.unix_timestamp())),
            // TTL removes dead links; expiry itself is enforced by the condition.
            ("ttl".into(), n(expires_at.unix_timestamp() + 86_400)),
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

    /// Marks the link used and returns its email, exactly once.
    pub async fn consume_magic_link(
        &self,
        digest: &str,
        now: OffsetDateTime,
    ) -> Result<Result<String, MagicLinkError>, StoreError> {
        let (pk, sk) = keys::magic_link(digest);
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET consumed_at = :now")
            .condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(consumed_at) AND expires_at > :now",
            )
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(out) => {
                let item = out
                    .attributes()
                    .ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?;
                Ok(Ok(get_s(item, "email")?.to_owned()))
            }
            Err(StoreError::ConditionFailed { item }) => Ok(Err(match item {
                None => MagicLinkError::Unknown,
                Some(old) if has(&old, "consumed_at") => MagicLinkError::Used,
                Some(_) => MagicLinkError::Expired,
            })),
            Err(err) => Err(err),
        }
    }

    /// Opens a new token family with its first refresh token.
    pub async fn start_session(
        &self,
        user_id: &str,
        refresh_digest: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let family_id = uuid::Uuid::now_v7().to_string();
        let expires = (now + Duration::days(REFRESH_TOKEN_DAYS)).unix_timestamp();
        let (pk, sk) = keys::token_family(&family_id);
        let mut family = key(pk, sk);
        family.extend([("user_id".into(), s(user_id)), ("ttl".into(), n(expires))]);
        self.transact(vec![
            self.create(family)?,
            self.create(refresh_item(refresh_digest, user_id, &family_id, expires))?,
        ])
        .await?;
        Ok(())
    }

    /// Swaps a refresh token for a new one in the same family, atomically:
    /// the old token must be unused and unexpired and the family unrevoked.
    /// Presenting a used token revokes the whole family.
    pub async fn rotate_refresh_token(
        &self,
        old_digest: &str,
        new_digest: &str,
        now: OffsetDateTime,
    ) -> Result<Result<RefreshGrant, RefreshError>, StoreError> {
        let (pk, sk) = keys::refresh_token(old_digest);
        let Some(old) = self.get((pk.clone(), sk.clone())).await? else {
            return Ok(Err(RefreshError::Unknown));
        };
        let user_id = get_s(&old, "user_id")?.to_owned();
        let family_id = get_s(&old, "family_id")?.to_owned();
        if has(&old, "used_at") {
            self.revoke_family(&family_id, now).await?;
            return Ok(Err(RefreshError::Reused));
        }
        if get_n(&old, "expires_at")? <= now.unix_timestamp() {
            return Ok(Err(RefreshError::Expired));
        }

        let expires = (now + Duration::days(REFRESH_TOKEN_DAYS)).unix_timestamp();
        let mark_used = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_not_exists(used_at) AND expires_at > :now")
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .build()
            .map_err(build_error)?;
        let (fpk, fsk) = keys::token_family(&family_id);
        let extend_family = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(fpk, fsk)))
            .update_expression("SET #ttl = :ttl")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(revoked_at)")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":ttl", n(expires))
            .build()
            .map_err(build_error)?;
        let result = self
            .transact(vec![
                TransactWriteItem::builder().update(mark_used).build(),
                TransactWriteItem::builder().update(extend_family).build(),
                self.create(refresh_item(new_digest, &user_id, &family_id, expires))?,
            ])
            .await;
        match result {
            Ok(_) => Ok(Ok(RefreshGrant { user_id, family_id })),
            // Lost a race with another use of the same token: that is reuse.
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 0) =>
            {
                self.revoke_family(&family_id, now).await?;
                Ok(Err(RefreshError::Reused))
            }
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 1) =>
            {
                Ok(Err(RefreshError::Revoked))
            }
            Err(err) => Err(err),
        }
    }

    /// Revokes the family of a refresh token, if the token belongs to
    /// `user_id`. Unknown tokens are ignored: logout is idempotent.
    pub async fn revoke_session(
        &self,
        refresh_digest: &str,
        user_id: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        match self.get(keys::refresh_token(refresh_digest)).await? {
            Some(token) if get_s(&token, "user_id")? == user_id => {
                self.revoke_family(get_s(&token, "family_id")?, now).await
            }
            _ => Ok(()),
        }
    }

    async fn revoke_family(&self, family_id: &str, now: OffsetDateTime) -> Result<(), StoreError> {
        let (pk, sk) = keys::token_family(family_id);
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET revoked_at = :now")
            .condition_expression("attribute_exists(PK) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .send()
            .await
            .map_err(classify);
        match result {
            // Already revoked (or expired away): the goal holds.
            Ok(_) | Err(StoreError::ConditionFailed { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

fn refresh_item(digest: &str, user_id: &str, family_id: &str, expires: i64) -> Item {
    let (pk, sk) = keys::refresh_token(digest);
    let mut item = key(pk, sk);
    item.extend([
        ("user_id".into(), s(user_id)),
        ("family_id".into(), s(family_id)),
        ("expires_at".into(), n(expires)),
        ("ttl".into(), n(expires)),
    ]);
    item
}
