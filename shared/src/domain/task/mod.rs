//! Tasks for the team: what they are, who may see and change them, how a
//! body becomes a task (validation) and what a change sets off (change.rs).

mod access;
mod change;
mod mentions;

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

pub use access::{Relation, View, can_delete, can_edit, can_see, viewers};
pub use change::{Effects, Notice, NoticeKind, effects};
pub use mentions::mentioned_emails;

use crate::domain::event::to_stored_time;
use crate::error::{ApiError, FieldError};

/// Every person related to a task has an index item written in the task's
/// transaction (DynamoDB allows 100 writes in one), so mentions are capped.
pub const MAX_MENTIONS: usize = 20;
const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Urgent,
}

/// The names as stored and filtered on: serde's, so one spelling exists.
macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(Self::$variant),)* _ => None }
            }
        }
    };
}
names!(TaskStatus { Todo => "todo", InProgress => "in_progress", Done => "done" });
names!(Priority { Low => "low", Medium => "medium", High => "high", Urgent => "urgent" });

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub priority: Priority,
    /// The user id of whoever created it.
    pub created_by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<String>,
    /// User ids, listed and `@<email>`-mentioned alike.
    pub mentions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// 1 when created, +1 per change: every change is written only over
    /// the version it was decided on.
    pub version: u64,
}

/// The body of `POST /v1/tasks`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    /// Default `todo`.
    pub status: Option<TaskStatus>,
    /// Default `medium`.
    pub priority: Option<Priority>,
    pub assignee_id: Option<String>,
    /// User ids; `@<email>` of known users in the title or description are added.
    pub mentions: Option<Vec<String>>,
    pub event_id: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<OffsetDateTime>,
}

/// The body of `PATCH /v1/tasks/{id}`: any subset of the create fields and
/// `status`; `null` clears `assignee_id`, `event_id` and `due_at`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = TaskStatus)]
    pub status: Option<TaskStatus>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Priority)]
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub assignee_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Vec<String>)]
    pub mentions: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    pub event_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present_time")]
    #[schema(value_type = Option<String>, format = DateTime, nullable)]
    pub due_at: Option<Option<OffsetDateTime>>,
}

/// A field that is present: `null` must then deserialize as `T` itself
/// (`None` for the clearable fields, an error for the others).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn present_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
    time::serde::rfc3339::option::deserialize(d).map(Some)
}

impl From<NewTask> for TaskPatch {
    fn from(new: NewTask) -> Self {
        Self {
            title: Some(new.title),
            description: new.description,
            status: new.status,
            priority: new.priority,
            assignee_id: new.assignee_id.map(Some),
            mentions: new.mentions,
            event_id: new.event_id.map(Some),
            due_at: new.due_at.map(Some),
        }
    }
}

/// What a body refers to that only the store can confirm.
#[derive(Debug, Default, PartialEq)]
pub struct References {
    /// Users named by id (assignee, listed mentions).
    pub user_ids: Vec<String>,
    /// Addresses `@`-mentioned in the resulting title and description.
    pub emails: Vec<String>,
    pub event_id: Option<String>,
}

/// What the store found of the references.
#[derive(Debug, Default)]
pub struct Resolved {
    pub known_users: HashSet<String>,
    /// Mentioned addresses of known users (unknown ones are just text).
    pub users_by_email: HashMap<String, String>,
    pub event_known: bool,
}

impl TaskPatch {
    /// The ids and addresses to look up before `apply` can decide; a list
    /// of mentions too long to look up is refused first.
    pub fn references(&self, base: &Task) -> Result<References, TaskError> {
        if self
            .mentions
            .as_ref()
            .is_some_and(|m| m.len() > MAX_MENTIONS)
        {
            return Err(too_many_mentions());
        }
        let mut user_ids: Vec<String> = self.mentions.clone().unwrap_or_default();
        if let Some(Some(assignee)) = &self.assignee_id {
            user_ids.push(assignee.clone());
        }
        user_ids.sort();
        user_ids.dedup();
        let title = self.title.as_deref().unwrap_or(&base.title);
        let description = self.description.as_deref().unwrap_or(&base.description);
        Ok(References {
            user_ids,
            emails: mentioned_emails(&[title, description]),
            event_id: self.event_id.clone().flatten(),
        })
    }

    /// `base` with this patch applied, validated as a whole; every bad field
    /// is named. Listed mentions replace the old ones; `@<email>` mentions
    /// of the resulting text are added either way.
    pub fn apply(
        self,
        base: &Task,
        resolved: &Resolved,
        now: OffsetDateTime,
    ) -> Result<Task, TaskError> {
        let mut errors = Vec::new();
        let mut invalid = |field: &str, message: &str| {
            errors.push(FieldError {
                field: field.to_owned(),
                message: message.to_owned(),
            })
        };
        let mut task = base.clone();
        if let Some(title) = self.title {
            task.title = title.trim().to_owned();
        }
        let title_chars = task.title.chars().count();
        if title_chars == 0
            || title_chars > MAX_TITLE_CHARS
            || task.title.chars().any(char::is_control)
        {
            invalid(
                "title",
                "must be 1 to 200 characters, without control characters",
            );
        }
        if let Some(description) = self.description {
            task.description = description;
        }
        if task.description.chars().count() > MAX_DESCRIPTION_CHARS {
            invalid("description", "must be at most 10000 characters");
        }
        task.status = self.status.unwrap_or(task.status);
        task.priority = self.priority.unwrap_or(task.priority);
        if let Some(assignee) = self.assignee_id {
            if assignee
                .as_ref()
                .is_some_and(|id| !resolved.known_users.contains(id))
            {
                invalid("assignee_id", "is not a known user");
            }
            task.assignee_id = assignee;
        }
        if let Some(listed) = self.mentions {
            for (i, id) in listed.iter().enumerate() {
                if !resolved.known_users.contains(id) {
                    invalid(&format!("mentions[{i}]"), "is not a known user");
                }
            }
            task.mentions = listed;
        }
        let text = mentioned_emails(&[&task.title, &task.description]);
        task.mentions.extend(
            text.iter()
                .filter_map(|email| resolved.users_by_email.get(email))
                .cloned(),
        );
        let mut seen = HashSet::new();
        task.mentions.retain(|id| seen.insert(id.clone()));
        if task.mentions.len() > MAX_MENTIONS {
            invalid("mentions", TOO_MANY_MENTIONS);
        }
        if let Some(event) = self.event_id {
            if event.is_some() && !resolved.event_known {
                invalid("event_id", "is not a known event");
            }
            task.event_id = event;
        }
        if let Some(due) = self.due_at {
            // Stored as RFC 3339 UTC text, which only years 1 to 9999 have.
            task.due_at = due.and_then(to_stored_time);
            if due.is_some() && task.due_at.is_none() {
                invalid(
                    "due_at",
                    "must be a time between the years 1 and 9999 in UTC",
                );
            }
        }
        if !errors.is_empty() {
            return Err(TaskError::Invalid(errors));
        }
        if task != *base {
            task.updated_at = now;
            task.version = base.version + 1;
        }
        Ok(task)
    }
}

impl Task {
    /// The blank a new task is applied to: nothing but its id, creator and
    /// defaults (version 0, so the created task is version 1).
    pub fn blank(id: String, created_by: &str, now: OffsetDateTime) -> Self {
        Self {
            id,
            title: String::new(),
            description: String::new(),
            status: TaskStatus::Todo,
            priority: Priority::Medium,
            created_by: created_by.to_owned(),
            assignee_id: None,
            mentions: Vec::new(),
            event_id: None,
            due_at: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

const TOO_MANY_MENTIONS: &str = "may name at most 20 people";

fn too_many_mentions() -> TaskError {
    TaskError::Invalid(vec![FieldError {
        field: "mentions".into(),
        message: TOO_MANY_MENTIONS.into(),
    }])
}

#[derive(Debug, PartialEq)]
pub enum TaskError {
    /// Well-formed but not acceptable: every such field is named.
    Invalid(Vec<FieldError>),
}

impl From<TaskError> for ApiError {
    fn from(err: TaskError) -> Self {
        match err {
            TaskError::Invalid(errors) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "VALIDATION_FAILED",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
            .with_errors(errors),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use time::macros::datetime;

    pub const NOW: OffsetDateTime = datetime!(2026-12-03 08:00 UTC);

    pub fn task() -> Task {
        let mut task = Task::blank("t1".into(), "creator", NOW);
        task.title = "Print badges".into();
        task.version = 1;
        task
    }

    fn resolved(users: &[&str], emails: &[(&str, &str)]) -> Resolved {
        Resolved {
            known_users: users.iter().map(|u| (*u).to_owned()).collect(),
            users_by_email: emails
                .iter()
                .map(|(e, u)| ((*e).to_owned(), (*u).to_owned()))
                .collect(),
            event_known: false,
        }
    }

    #[test]
    fn a_new_task_gets_defaults_and_version_one() {
        let new: NewTask = serde_json::from_str(r#"{"title":" Badges "}"#).unwrap();
        let created = TaskPatch::from(new)
            .apply(
                &Task::blank("t1".into(), "c", NOW),
                &Resolved::default(),
                NOW,
            )
            .unwrap();
        assert_eq!(created.title, "Badges");
        assert_eq!(
            (created.status, created.priority),
            (TaskStatus::Todo, Priority::Medium)
        );
        assert_eq!(created.version, 1);
    }

    #[test]
    fn at_email_mentions_of_known_users_are_added_to_the_listed_ones() {
        let patch = TaskPatch {
            description: Some("ask @ana@example.com and @who@example.com".into()),
            mentions: Some(vec!["bo".into()]),
            ..TaskPatch::default()
        };
        let refs = patch.references(&task()).unwrap();
        assert_eq!(refs.emails, ["ana@example.com", "who@example.com"]);
        let after = patch
            .apply(
                &task(),
                &resolved(&["bo"], &[("ana@example.com", "ana")]),
                NOW,
            )
            .unwrap();
        assert_eq!(after.mentions, ["bo", "ana"]);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let patch = TaskPatch {
            title: Some("  ".into()),
            assignee_id: Some(Some("ghost".into())),
            mentions: Some(vec!["bo".into(), "nobody".into()]),
            event_id: Some(Some("e404".into())),
            ..TaskPatch::default()
        };
        let Err(TaskError::Invalid(errors)) = patch.apply(&task(), &resolved(&["bo"], &[]), NOW)
        else {
            panic!("accepted");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "assignee_id", "mentions[1]", "event_id"]);
    }

    #[test]
    fn more_than_twenty_mentions_are_refused() {
        let ids: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
        let known: Vec<&str> = ids.iter().map(String::as_str).collect();
        let patch = TaskPatch {
            mentions: Some(ids.clone()),
            ..TaskPatch::default()
        };
        assert_eq!(patch.references(&task()), Err(too_many_mentions()));
        assert_eq!(
            patch.apply(&task(), &resolved(&known, &[]), NOW),
            Err(too_many_mentions())
        );
    }

    #[test]
    fn a_due_time_is_kept_in_utc_whole_seconds_and_one_utc_cannot_hold_is_refused() {
        let patch: TaskPatch =
            serde_json::from_str(r#"{"due_at":"2026-12-24T18:00:00.5+01:00"}"#).unwrap();
        let after = patch.apply(&task(), &Resolved::default(), NOW).unwrap();
        assert_eq!(after.due_at, Some(datetime!(2026-12-24 17:00 UTC)));
        let patch: TaskPatch =
            serde_json::from_str(r#"{"due_at":"9999-12-31T23:30:00-01:00"}"#).unwrap();
        assert!(patch.apply(&task(), &Resolved::default(), NOW).is_err());
    }

    #[test]
    fn a_patch_that_changes_nothing_keeps_the_version() {
        let patch = TaskPatch {
            title: Some("Print badges".into()),
            assignee_id: Some(None),
            ..TaskPatch::default()
        };
        let after = patch.apply(&task(), &Resolved::default(), NOW).unwrap();
        assert_eq!(after, task());
    }

    #[test]
    fn null_clears_the_clearable_fields_and_is_refused_for_the_others() {
        let patch: TaskPatch =
            serde_json::from_str(r#"{"assignee_id":null,"due_at":null,"event_id":null}"#).unwrap();
        assert_eq!(patch.assignee_id, Some(None));
        assert_eq!(patch.due_at, Some(None));
        assert!(serde_json::from_str::<TaskPatch>(r#"{"title":null}"#).is_err());
        assert!(serde_json::from_str::<TaskPatch>(r#"{"status":"blocked"}"#).is_err());
    }
}
