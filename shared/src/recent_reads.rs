//! Reads served from what the process read a moment ago (shared::recent):
//! the event once its layout is frozen, and the settings. The sell path
//! needs both on every hold and the confirmation on every payment; after
//! the first sale only an event's status can change, which the hold's
//! transaction, checkout and the confirmation's cancellation marks guard on
//! their own (docs/holds.md).

use std::sync::Arc;

use crate::domain::event::Event;
use crate::domain::settings::Settings;
use crate::state::AppState;
use crate::store::StoreError;

/// The event as recently read once its layout is frozen, else read now.
/// The read is eventually consistent: on-sale, every warm process re-reads
/// the event at half the capacity this way. An event not yet frozen is read
/// again strongly consistent, as the first hold's freeze is conditioned on
/// what it read. Shared, not copied: a grid event carries its whole layout.
pub async fn event(app: &AppState, id: &str) -> Result<Option<Arc<Event>>, StoreError> {
    if let Some(event) = app.recent_events.get(id) {
        return Ok(Some(event));
    }
    let event = match app.store.event_eventually(id).await? {
        Some(event) if event.sales_started => Some(event),
        Some(_) | None => app.store.event(id).await?,
    };
    let Some(event) = event.map(Arc::new) else {
        return Ok(None);
    };
    if event.sales_started {
        app.recent_events.put(id, Arc::clone(&event));
    }
    Ok(Some(event))
}

/// The settings as read less than a moment ago.
pub async fn settings(app: &AppState) -> Result<Settings, StoreError> {
    if let Some(settings) = app.recent_settings.get("") {
        return Ok(settings);
    }
    let settings = app.store.settings().await?;
    app.recent_settings.put("", settings.clone());
    Ok(settings)
}
