use aws_sdk_dynamodb::types::{ReturnValue, TransactWriteItem, Update};

use super::audit::audit_item;
use super::item::{get_s, get_time, has, key, rfc3339, s};
use super::keys::{self, GSI1, GSI1PK, GSI1SK, PK, SK, USERS_INDEX_PK};
use super::paging::Page;
use super::{Item, Store, StoreError, build_error, classify, condition_failed_at};
use crate::cursor::PageKey;
use crate::domain::audit::AuditEntry;
use crate::domain::id::is_plausible_id;
use crate::domain::{Role, User};

pub enum NewUser {
    Created(User),
    /// Someone registered this email first (e.g. two links verified at once).
    EmailTaken,
}

/// A role change as decided by the domain rules, applied only if the target
/// still has the role the decision was based on.
pub struct RoleChange<'a> {
    pub user_id: &'a str,
    pub from: Role,
    pub to: Role,
    pub audit: AuditEntry,
}

impl Store {
    /// The user; `None` for unknown (or impossible) ids.
    pub async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        if !is_plausible_id(id) {
            return Ok(None);
        }
        self.get(keys::user(id))
            .await?
            .as_ref()
            .map(user_from_item)
            .transpose()
    }

    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<String>, StoreError> {
        self.get(keys::email(email))
            .await?
            .map(|item| get_s(&item, "user_id").map(str::to_owned))
            .transpose()
    }

    /// Creates the user and claims the email in one transaction, so one
    /// mailbox can never own two accounts.
    pub async fn create_user(&self, user: User) -> Result<NewUser, StoreError> {
        let (email_pk, email_sk) = keys::email(&user.email);
        let mut email_item = key(email_pk, email_sk);
        email_item.insert("user_id".into(), s(&user.id));
        let result = self
            .transact(vec![
                self.create(user_item(&user))?,
                self.create(email_item)?,
            ])
            .await;
        match result {
            Ok(_) => Ok(NewUser::Created(user)),
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 1) =>
            {
                Ok(NewUser::EmailTaken)
            }
            Err(err) => Err(err),
        }
    }

    /// Sets the display name; `None` if the user does not exist.
    pub async fn rename_user(&self, id: &str, name: &str) -> Result<Option<User>, StoreError> {
        let (pk, sk) = keys::user(id);
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #name = :name, name_lc = :lc")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#name", "name")
            .expression_attribute_values(":name", s(name))
            .expression_attribute_values(":lc", s(name.to_lowercase()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(out) => out.attributes().map(user_from_item).transpose(),
            Err(StoreError::ConditionFailed { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Shows the avatar stored at `image_key`; answers the user as it was before
    /// (whose old avatar is now unused), `None` if the user does not exist.
    pub async fn set_avatar(&self, id: &str, image_key: &str) -> Result<Option<User>, StoreError> {
        let (pk, sk) = keys::user(id);
        let result = self
            .client
            .update_item()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET avatar_key = :key")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":key", s(image_key))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(classify);
        match result {
            Ok(out) => out.attributes().map(user_from_item).transpose(),
            Err(StoreError::ConditionFailed { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Applies a role change and its audit entry atomically. Fails with
    /// `ConditionFailed` if the user's role changed since it was read.
    pub async fn change_role(&self, change: RoleChange<'_>) -> Result<(), StoreError> {
        let (pk, sk) = keys::user(change.user_id);
        let update = Update::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #role = :to")
            .condition_expression("#role = :from")
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":to", s(change.to.as_str()))
            .expression_attribute_values(":from", s(change.from.as_str()))
            .build()
            .map_err(build_error)?;
        let result = self
            .transact(vec![
                TransactWriteItem::builder().update(update).build(),
                self.create(audit_item(&change.audit))?,
            ])
            .await;
        match result {
            Err(StoreError::TransactionCanceled { reasons })
                if condition_failed_at(&reasons, 0) =>
            {
                Err(StoreError::ConditionFailed { item: None })
            }
            other => other.map(|_| ()),
        }
    }

    /// Users, oldest first, optionally filtered by a case-insensitive match on
    /// email or name. A Query on GSI1, never a Scan.
    pub async fn list_users(
        &self,
        query: Option<&str>,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<User>, StoreError> {
        let request = || {
            let request = self
                .client
                .query()
                .table_name(self.table_name())
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(USERS_INDEX_PK));
            match query {
                Some(q) => request
                    .filter_expression("contains(email, :q) OR contains(name_lc, :q)")
                    .expression_attribute_values(":q", s(q.to_lowercase())),
                None => request,
            }
        };
        self.query_page(
            request,
            &[PK, SK, GSI1PK, GSI1SK],
            limit,
            start,
            user_from_item,
        )
        .await
    }
}

fn user_item(user: &User) -> Item {
    let (pk, sk) = keys::user(&user.id);
    let created_at = rfc3339(user.created_at);
    let mut item = key(pk, sk);
    item.extend([
        ("id".into(), s(&user.id)),
        ("email".into(), s(&user.email)),
        ("name".into(), s(&user.name)),
        ("name_lc".into(), s(user.name.to_lowercase())),
        ("role".into(), s(user.role.as_str())),
        ("created_at".into(), s(&created_at)),
        (GSI1PK.into(), s(USERS_INDEX_PK)),
        (GSI1SK.into(), s(format!("{created_at}#{}", user.id))),
    ]);
    item
}

pub(super) fn user_from_item(item: &Item) -> Result<User, StoreError> {
    let role = get_s(item, "role")?;
    Ok(User {
        id: get_s(item, "id")?.to_owned(),
        email: get_s(item, "email")?.to_owned(),
        name: get_s(item, "name").unwrap_or_default().to_owned(),
        role: Role::parse(role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role}")))?,
        created_at: get_time(item, "created_at")?,
        avatar_url: None,
        avatar_key: has(item, "avatar_key")
            .then(|| get_s(item, "avatar_key").map(str::to_owned))
            .transpose()?,
    })
}
