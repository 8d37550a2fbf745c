//! Looks up what a task body refers to, for the domain to decide on.

use std::collections::HashMap;

use futures::future::try_join_all;
use shared::domain::task::{References, Resolved};
use shared::{ApiError, AppState};

/// Which named users, `@`-mentioned addresses and event exist; the lookups
/// run concurrently (at most 21 users and 20 addresses, domain::task).
pub async fn resolve(app: &AppState, refs: References) -> Result<Resolved, ApiError> {
    let users = try_join_all(refs.user_ids.iter().map(|id| app.store.user(id)));
    let emails = try_join_all(
        refs.emails
            .iter()
            .map(|email| app.store.user_id_by_email(email)),
    );
    let event = async {
        match &refs.event_id {
            Some(id) => app.store.event(id).await.map(|event| event.is_some()),
            None => Ok(false),
        }
    };
    let (users, emails, event_known) = futures::try_join!(users, emails, event)?;
    let users_by_email: HashMap<String, String> = refs
        .emails
        .into_iter()
        .zip(emails)
        .filter_map(|(email, id)| Some((email, id?)))
        .collect();
    Ok(Resolved {
        known_users: users.into_iter().flatten().map(|user| user.id).collect(),
        users_by_email,
        event_known,
    })
}
