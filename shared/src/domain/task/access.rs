//! Who may see, change and delete a task, and who has it in their list.

use serde::Deserialize;

use super::Task;
use crate::domain::Role;

/// How a person is related to a task (a person may be all three).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relation {
    pub created: bool,
    pub assigned: bool,
    pub mentioned: bool,
}

/// Which of the caller's tasks a listing shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Every task the caller may see (admins: every task).
    #[default]
    All,
    Assigned,
    Mentioned,
    Created,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Assigned => "assigned",
            Self::Mentioned => "mentioned",
            Self::Created => "created",
        }
    }
}

/// Admins see every task; staff those they created, are assigned or are
/// mentioned in.
pub fn can_see(task: &Task, user_id: &str, role: Role) -> bool {
    role.includes(Role::Admin) || relation(task, user_id) != Relation::default()
}

/// The creator, the assignee and admins; a mention alone only lets one read.
pub fn can_edit(task: &Task, user_id: &str, role: Role) -> bool {
    let related = relation(task, user_id);
    role.includes(Role::Admin) || related.created || related.assigned
}

pub fn can_delete(task: &Task, user_id: &str, role: Role) -> bool {
    role.includes(Role::Admin) || task.created_by == user_id
}

fn relation(task: &Task, user_id: &str) -> Relation {
    Relation {
        created: task.created_by == user_id,
        assigned: task.assignee_id.as_deref() == Some(user_id),
        mentioned: task.mentions.iter().any(|m| m == user_id),
    }
}

/// Everyone who has the task in their own list, each once, creator first.
pub fn viewers(task: &Task) -> Vec<(String, Relation)> {
    let mut people: Vec<&str> = vec![&task.created_by];
    people.extend(task.assignee_id.as_deref());
    people.extend(task.mentions.iter().map(String::as_str));
    let mut seen = std::collections::HashSet::new();
    people
        .into_iter()
        .filter(|person| seen.insert(*person))
        .map(|person| (person.to_owned(), relation(task, person)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::tests::task;

    fn assigned_and_mentioned() -> Task {
        let mut t = task();
        t.assignee_id = Some("assignee".into());
        t.mentions = vec!["mentioned".into(), "assignee".into()];
        t
    }

    #[test]
    fn staff_see_only_tasks_they_are_related_to_and_admins_see_all() {
        let t = assigned_and_mentioned();
        for who in ["creator", "assignee", "mentioned"] {
            assert!(can_see(&t, who, Role::Staff), "{who}");
        }
        assert!(!can_see(&t, "stranger", Role::Staff));
        assert!(can_see(&t, "stranger", Role::Admin));
        assert!(can_see(&t, "stranger", Role::Developer));
    }

    #[test]
    fn creator_assignee_and_admins_edit_but_a_mention_only_reads() {
        let t = assigned_and_mentioned();
        assert!(can_edit(&t, "creator", Role::Staff));
        assert!(can_edit(&t, "assignee", Role::Staff));
        assert!(!can_edit(&t, "mentioned", Role::Staff));
        assert!(can_edit(&t, "stranger", Role::Admin));
    }

    #[test]
    fn only_the_creator_and_admins_delete() {
        let t = assigned_and_mentioned();
        assert!(can_delete(&t, "creator", Role::Staff));
        assert!(!can_delete(&t, "assignee", Role::Staff));
        assert!(can_delete(&t, "stranger", Role::Admin));
    }

    #[test]
    fn each_related_person_is_a_viewer_once_with_every_relation() {
        let v = viewers(&assigned_and_mentioned());
        let names: Vec<_> = v.iter().map(|(who, _)| who.as_str()).collect();
        assert_eq!(names, ["creator", "assignee", "mentioned"]);
        assert_eq!(
            v[1].1,
            Relation {
                created: false,
                assigned: true,
                mentioned: true
            }
        );
    }
}
