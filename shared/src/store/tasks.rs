//! Tasks (docs/data-model.md): the task item, one index item per person who
//! has it in their list (GSI1 `TASKVIEW#<user>`, a copy of the task with how
//! they are related, so a listing is one Query), and the claims of the
//! notices a change owes. Every write is one transaction over all of them,
//! conditioned on the version the change was decided on.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use time::Duration;

use super::audit::audit_item;
use super::item::{get_n, get_s, get_time, has, key, n, rfc3339, s};
use super::keys::{self, GSI1, GSI1PK, GSI1SK, PK, SK};
use super::paging::{Page, with_equality_filters};
use super::{Item, Store, StoreError, build_error, transaction_applied};
use crate::cursor::PageKey;
use crate::domain::audit::AuditEntry;
use crate::domain::task::{Notice, Priority, Relation, Task, TaskStatus, View, viewers};

/// What a stream reader (webhooks) keys on: `kind` tells a task from its
/// index items and claims, which share its partition.
pub(super) const KIND_TASK: &str = "task";
const KIND_VIEWER: &str = "task_viewer";
const KIND_NOTICE: &str = "task_notice";

/// A notice claim outlives any retry of the request that owed it.
const NOTICE_RETENTION: Duration = Duration::days(30);

/// A change decided on `before`: written only if the task is still at
/// `before.version`, with its audit entries and notice claims.
pub struct TaskChange<'a> {
    pub before: &'a Task,
    pub after: &'a Task,
    pub audit: &'a [AuditEntry],
    pub notices: &'a [Notice],
}

/// One listing of tasks, newest first.
pub struct TaskQuery<'a> {
    pub user_id: &'a str,
    /// Every task (admins' `all`), not only the caller's.
    pub everyone: bool,
    pub view: View,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub event_id: Option<&'a str>,
}

impl Store {
    pub async fn task(&self, id: &str) -> Result<Option<Task>, StoreError> {
        self.get(keys::task(id))
            .await?
            .as_ref()
            .map(task_from_item)
            .transpose()
    }

    pub async fn create_task(&self, task: &Task, notices: &[Notice]) -> Result<(), StoreError> {
        let mut writes = vec![self.create(task_item(task))?];
        writes.extend(self.viewer_puts(task)?);
        writes.extend(self.notice_claims(task, notices)?);
        self.transact(writes).await.map(|_| ())
    }

    /// `false` when the task changed (or went) since `before` was read.
    pub async fn save_task(&self, change: TaskChange<'_>) -> Result<bool, StoreError> {
        let put = Put::builder()
            .table_name(self.table_name())
            .set_item(Some(task_item(change.after)))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":version", version(change.before))
            .build()
            .map_err(build_error)?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        writes.extend(self.viewer_puts(change.after)?);
        let staying = viewers(change.after);
        for (gone, _) in viewers(change.before) {
            if !staying.iter().any(|(user, _)| *user == gone) {
                writes.push(self.delete(keys::task_viewer(&change.after.id, &gone), None)?);
            }
        }
        for entry in change.audit {
            writes.push(self.create(audit_item(entry))?);
        }
        writes.extend(self.notice_claims(change.after, change.notices)?);
        transaction_applied(self.transact(writes).await)
    }

    /// Deletes the task and its index items, if it is still at the version
    /// read; `false` when it changed or went in between.
    pub async fn delete_task(&self, task: &Task, audit: &AuditEntry) -> Result<bool, StoreError> {
        let mut writes = vec![self.delete(keys::task(&task.id), Some(task))?];
        for (user, _) in viewers(task) {
            writes.push(self.delete(keys::task_viewer(&task.id, &user), None)?);
        }
        writes.push(self.create(audit_item(audit))?);
        transaction_applied(self.transact(writes).await)
    }

    /// A page of tasks, newest first: admins' `all` from the GSI1 partition
    /// of every task, anything else from the caller's own, the view and the
    /// filters applied by DynamoDB. Never a Scan.
    pub async fn list_tasks(
        &self,
        query: &TaskQuery<'_>,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page<Task>, StoreError> {
        let pk = if query.everyone {
            keys::TASKS_INDEX_PK.to_owned()
        } else {
            keys::tasks_of(query.user_id)
        };
        let relation = match query.view {
            View::All => None,
            View::Assigned => Some("assigned"),
            View::Mentioned => Some("mentioned"),
            View::Created => Some("created"),
        };
        let request = || {
            let mut request = self
                .client
                .query()
                .table_name(self.table_name())
                .index_name(GSI1)
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .scan_index_forward(false);
            let mut conditions = Vec::new();
            if let Some(relation) = relation {
                conditions.push(format!("#{relation} = :yes"));
                request = request
                    .expression_attribute_names(format!("#{relation}"), relation)
                    .expression_attribute_values(":yes", AttributeValue::Bool(true));
            }
            with_equality_filters(
                request,
                conditions,
                &[
                    ("status", query.status.map(TaskStatus::as_str)),
                    ("priority", query.priority.map(Priority::as_str)),
                    ("event_id", query.event_id),
                ],
            )
        };
        self.query_page(
            request,
            &[PK, SK, GSI1PK, GSI1SK],
            limit,
            start,
            task_from_item,
        )
        .await
    }

    fn viewer_puts(&self, task: &Task) -> Result<Vec<TransactWriteItem>, StoreError> {
        viewers(task)
            .into_iter()
            .map(|(user, relation)| {
                let put = Put::builder()
                    .table_name(self.table_name())
                    .set_item(Some(viewer_item(task, &user, relation)))
                    .build()
                    .map_err(build_error)?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }

    fn notice_claims(
        &self,
        task: &Task,
        notices: &[Notice],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        notices
            .iter()
            .map(|notice| {
                let (pk, sk) = keys::task_notice(
                    &task.id,
                    &notice.user_id,
                    notice.kind.as_str(),
                    notice.version,
                );
                let mut item = key(pk, sk);
                item.extend([
                    ("kind".into(), s(KIND_NOTICE)),
                    ("task_id".into(), s(&task.id)),
                    ("user_id".into(), s(&notice.user_id)),
                    ("notice".into(), s(notice.kind.as_str())),
                    (
                        "ttl".into(),
                        n((task.updated_at + NOTICE_RETENTION).unix_timestamp()),
                    ),
                ]);
                self.create(item)
            })
            .collect()
    }

    /// A delete inside a transaction; of the task, only at the version read.
    fn delete(
        &self,
        (pk, sk): (String, String),
        at_version: Option<&Task>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut delete = Delete::builder()
            .table_name(self.table_name())
            .set_key(Some(key(pk, sk)));
        if let Some(task) = at_version {
            delete = delete
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", version(task));
        }
        Ok(TransactWriteItem::builder()
            .delete(delete.build().map_err(build_error)?)
            .build())
    }
}

fn version(task: &Task) -> AttributeValue {
    n(i64::try_from(task.version).unwrap_or(i64::MAX))
}

/// The task's own attributes, as both its item and its index items hold them.
fn task_attributes(task: &Task) -> Item {
    let mut item = Item::from([
        ("id".into(), s(&task.id)),
        ("title".into(), s(&task.title)),
        ("description".into(), s(&task.description)),
        ("status".into(), s(task.status.as_str())),
        ("priority".into(), s(task.priority.as_str())),
        ("created_by".into(), s(&task.created_by)),
        (
            "mentions".into(),
            AttributeValue::L(task.mentions.iter().map(s).collect()),
        ),
        ("created_at".into(), s(rfc3339(task.created_at))),
        ("updated_at".into(), s(rfc3339(task.updated_at))),
        ("version".into(), version(task)),
        (
            GSI1SK.into(),
            s(format!("{}#{}", rfc3339(task.created_at), task.id)),
        ),
    ]);
    for (name, value) in [
        ("assignee_id", task.assignee_id.clone()),
        ("event_id", task.event_id.clone()),
        ("due_at", task.due_at.map(rfc3339)),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item
}

fn task_item(task: &Task) -> Item {
    let (pk, sk) = keys::task(&task.id);
    let mut item = key(pk, sk);
    item.extend(task_attributes(task));
    item.insert("kind".into(), s(KIND_TASK));
    item.insert(GSI1PK.into(), s(keys::TASKS_INDEX_PK));
    item
}

fn viewer_item(task: &Task, user: &str, relation: Relation) -> Item {
    let (pk, sk) = keys::task_viewer(&task.id, user);
    let mut item = key(pk, sk);
    item.extend(task_attributes(task));
    item.extend([
        ("kind".into(), s(KIND_VIEWER)),
        ("viewer_id".into(), s(user)),
        ("created".into(), AttributeValue::Bool(relation.created)),
        ("assigned".into(), AttributeValue::Bool(relation.assigned)),
        ("mentioned".into(), AttributeValue::Bool(relation.mentioned)),
        (GSI1PK.into(), s(keys::tasks_of(user))),
    ]);
    item
}

pub(super) fn task_from_item(item: &Item) -> Result<Task, StoreError> {
    let optional = |name: &str| {
        has(item, name)
            .then(|| get_s(item, name).map(str::to_owned))
            .transpose()
    };
    let status = get_s(item, "status")?;
    let priority = get_s(item, "priority")?;
    Ok(Task {
        id: get_s(item, "id")?.to_owned(),
        title: get_s(item, "title")?.to_owned(),
        description: get_s(item, "description")?.to_owned(),
        status: TaskStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown task status {status}")))?,
        priority: Priority::parse(priority)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown task priority {priority}")))?,
        created_by: get_s(item, "created_by")?.to_owned(),
        assignee_id: optional("assignee_id")?,
        mentions: item
            .get("mentions")
            .and_then(|v| v.as_l().ok())
            .ok_or_else(|| StoreError::Corrupt("task mentions are not a list".into()))?
            .iter()
            .map(|v| v.as_s().cloned())
            .collect::<Result<_, _>>()
            .map_err(|_| StoreError::Corrupt("a task mention is not a string".into()))?,
        event_id: optional("event_id")?,
        due_at: has(item, "due_at")
            .then(|| get_time(item, "due_at"))
            .transpose()?,
        created_at: get_time(item, "created_at")?,
        updated_at: get_time(item, "updated_at")?,
        version: u64::try_from(get_n(item, "version")?)
            .map_err(|_| StoreError::Corrupt("negative task version".into()))?,
    })
}
