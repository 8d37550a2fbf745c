//! What a task's change sets off: audit entries for a new status and a new
//! assignee, and a notice to each person newly assigned or mentioned.

use serde_json::json;
use time::OffsetDateTime;

use super::Task;
use crate::domain::audit::AuditEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Assigned,
    Mentioned,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assigned => "assigned",
            Self::Mentioned => "mentioned",
        }
    }
}

/// One mail owed to one person for one change (the task's new version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub user_id: String,
    pub kind: NoticeKind,
    pub version: u64,
}

#[derive(Debug, Default)]
pub struct Effects {
    pub audit: Vec<AuditEntry>,
    pub notices: Vec<Notice>,
}

/// What going from `before` (none for a new task) to `after` sets off when
/// `actor` does it. Nobody is mailed about their own doing.
pub fn effects(before: Option<&Task>, after: &Task, actor: &str, now: OffsetDateTime) -> Effects {
    let mut out = Effects::default();
    if let Some(before) = before {
        let target = format!("task:{}", after.id);
        if before.status != after.status {
            out.audit.push(AuditEntry::new(
                now,
                actor,
                "task.status_changed",
                target.clone(),
                json!({ "before": before.status, "after": after.status }),
            ));
        }
        if before.assignee_id != after.assignee_id {
            out.audit.push(AuditEntry::new(
                now,
                actor,
                "task.reassigned",
                target,
                json!({ "before": before.assignee_id, "after": after.assignee_id }),
            ));
        }
    }
    let mut notify = |user_id: &str, kind| {
        if user_id != actor && !out.notices.iter().any(|n| n.user_id == user_id) {
            out.notices.push(Notice {
                user_id: user_id.to_owned(),
                kind,
                version: after.version,
            });
        }
    };
    if let Some(assignee) = after.assignee_id.as_deref()
        && before.and_then(|b| b.assignee_id.as_deref()) != Some(assignee)
    {
        notify(assignee, NoticeKind::Assigned);
    }
    for mentioned in &after.mentions {
        if !before.is_some_and(|b| b.mentions.contains(mentioned)) {
            notify(mentioned, NoticeKind::Mentioned);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::TaskStatus;
    use crate::domain::task::tests::{NOW, task};

    fn kinds(effects: &Effects) -> Vec<(&str, NoticeKind)> {
        effects
            .notices
            .iter()
            .map(|n| (n.user_id.as_str(), n.kind))
            .collect()
    }

    #[test]
    fn a_new_task_notifies_its_assignee_and_mentions_but_audits_nothing() {
        let mut t = task();
        t.assignee_id = Some("ana".into());
        t.mentions = vec!["bo".into(), "ana".into(), "creator".into()];
        let out = effects(None, &t, "creator", NOW);
        assert!(out.audit.is_empty());
        assert_eq!(
            kinds(&out),
            [("ana", NoticeKind::Assigned), ("bo", NoticeKind::Mentioned)]
        );
        assert!(out.notices.iter().all(|n| n.version == t.version));
    }

    #[test]
    fn a_status_change_and_a_reassignment_are_audited_with_before_and_after() {
        let before = task();
        let mut after = before.clone();
        after.status = TaskStatus::Done;
        after.assignee_id = Some("ana".into());
        after.version = 2;
        let out = effects(Some(&before), &after, "creator", NOW);
        let actions: Vec<_> = out.audit.iter().map(|a| a.action).collect();
        assert_eq!(actions, ["task.status_changed", "task.reassigned"]);
        assert_eq!(
            out.audit[0].details,
            json!({ "before": "todo", "after": "done" })
        );
        assert_eq!(
            out.audit[1].details,
            json!({ "before": null, "after": "ana" })
        );
        assert_eq!(out.audit[1].target, "task:t1");
    }

    #[test]
    fn an_unchanged_assignee_and_old_mentions_notify_nobody_again() {
        let mut before = task();
        before.assignee_id = Some("ana".into());
        before.mentions = vec!["bo".into()];
        let mut after = before.clone();
        after.title = "Renamed".into();
        after.mentions.push("cy".into());
        let out = effects(Some(&before), &after, "creator", NOW);
        assert_eq!(kinds(&out), [("cy", NoticeKind::Mentioned)]);
    }

    #[test]
    fn nobody_is_notified_of_their_own_doing() {
        let before = task();
        let mut after = before.clone();
        after.assignee_id = Some("creator".into());
        assert!(
            effects(Some(&before), &after, "creator", NOW)
                .notices
                .is_empty()
        );
    }
}
