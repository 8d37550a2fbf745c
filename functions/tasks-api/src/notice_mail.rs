//! The mail to someone assigned to or mentioned in a task: plain text and
//! HTML, built without I/O.

use shared::domain::task::{NoticeKind, Task};
use shared::mail::{OutgoingMail, escape_html as escape};

pub fn notice_mail(
    brand: &str,
    frontend_url: &str,
    task: &Task,
    kind: NoticeKind,
    to: &str,
) -> OutgoingMail {
    let link = format!("{frontend_url}/tasks/{}", task.id);
    let what = match kind {
        NoticeKind::Assigned => "You were assigned a task",
        NoticeKind::Mentioned => "You were mentioned in a task",
    };
    let due = task
        .due_at
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map(|t| format!("Due {t} (UTC).\n"))
        .unwrap_or_default();
    let text = format!(
        "{what}: {title}\n\nPriority {priority}, status {status}.\n{due}\nOpen it: {link}\n",
        title = task.title,
        priority = task.priority.as_str(),
        status = task.status.as_str(),
    );
    let html = format!(
        "<!doctype html><html><body>\
         <p>{what}: <strong>{title}</strong></p>\
         <p>Priority {priority}, status {status}.</p>\
         <p>{due}</p>\
         <p><a href=\"{link}\">Open the task</a></p>\
         </body></html>",
        title = escape(&task.title),
        priority = task.priority.as_str(),
        status = task.status.as_str(),
        due = escape(due.trim_end()),
        link = escape(&link),
    );
    OutgoingMail {
        to: to.to_owned(),
        subject: format!("{brand}: {what}: {}", task.title),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn task() -> Task {
        let mut task = Task::blank("t1".into(), "c", datetime!(2026-12-03 08:00 UTC));
        task.title = "<b>Badges</b>".into();
        task
    }

    #[test]
    fn both_parts_link_the_task_and_say_why() {
        let mail = notice_mail(
            "Tickets",
            "https://app.example",
            &task(),
            NoticeKind::Assigned,
            "a@b.co",
        );
        assert!(mail.text.contains("https://app.example/tasks/t1"));
        assert!(mail.html.contains("https://app.example/tasks/t1"));
        assert!(mail.text.starts_with("You were assigned a task"));
        assert_eq!(mail.to, "a@b.co");
    }

    #[test]
    fn the_title_is_escaped_in_html() {
        let mail = notice_mail(
            "Tickets",
            "https://app.example",
            &task(),
            NoticeKind::Mentioned,
            "a@b.co",
        );
        assert!(!mail.html.contains("<b>Badges"));
        assert!(mail.html.contains("&lt;b&gt;Badges"));
    }
}
