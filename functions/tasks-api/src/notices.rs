//! Mail to the people a change assigned or mentioned. Each notice's claim
//! was written in the change's own transaction, keyed by (task, person,
//! kind, version), so only the request that made the change sends it: a
//! retried or concurrent request either changes nothing or loses on the
//! version, and sends nothing.

use shared::domain::task::{Notice, Task};
use shared::recent_reads;

use crate::TasksState;
use crate::notice_mail::notice_mail;

/// The change stands whether or not its mails go out (the task is in the
/// API either way), so a failure is logged, not answered: a client retry
/// would change nothing and so mail nobody.
pub async fn send(state: &TasksState, task: &Task, notices: &[Notice]) {
    if notices.is_empty() {
        return;
    }
    let brand = match recent_reads::settings(&state.app).await {
        Ok(settings) => settings.brand_name,
        Err(err) => {
            tracing::error!(error = %err, task_id = %task.id, "task notices not sent: no settings");
            return;
        }
    };
    for notice in notices {
        let user = match state.app.store.user(&notice.user_id).await {
            Ok(Some(user)) => user,
            Ok(None) => continue,
            Err(err) => {
                tracing::error!(error = %err, task_id = %task.id, "task notice not sent: no user");
                continue;
            }
        };
        let mail = notice_mail(
            &brand,
            &state.mail.frontend_url,
            task,
            notice.kind,
            &user.email,
        );
        if let Err(err) = state.mailer.send(mail).await {
            tracing::error!(error = %err, task_id = %task.id, user_id = %user.id, "task notice failed");
        }
    }
}
