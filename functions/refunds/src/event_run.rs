//! A cancelled event's refund run: one page of its confirmed bookings per
//! message. Each booking becomes `refunded` with its refund recorded in one
//! transaction (cash and free bookings only record that the money is owed
//! at the door), and each recorded refund is handed to the worker as its
//! own message. The run ends after a second empty read, since the index
//! it reads is eventually consistent.

use shared::domain::booking::{Booking, BookingSource};
use shared::domain::refund::{self, BookingRefund, EventRefundStep};
use shared::metrics::{self, REFUNDS_OWED};
use shared::queue::{MessageError, RefundMessage};
use shared::store::{RefundOrder, RefundRecorded};

use crate::RefundsState;

const REASON: &str = "event_cancelled";

pub async fn next_page(
    state: &RefundsState,
    event_id: &str,
    rechecking: bool,
) -> Result<(), MessageError> {
    let store = &state.app.store;
    let page = store
        .confirmed_bookings_page(event_id, refund::EVENT_REFUND_PAGE)
        .await?;
    for booking in &page {
        refund_booking(state, booking).await?;
    }
    let next = |recheck| RefundMessage::Event {
        event_id: event_id.to_owned(),
        recheck,
    };
    match refund::event_refund_step(page.len(), rechecking) {
        EventRefundStep::Continue => state.queue.send(&next(false), 0).await?,
        EventRefundStep::Recheck { after } => {
            state
                .queue
                .send(&next(true), after.whole_seconds() as u32)
                .await?
        }
        EventRefundStep::Done => {
            store
                .finish_refund_run(event_id, state.app.clock.now())
                .await?;
            tracing::info!(event_id, "refund run of a cancelled event finished");
        }
    }
    Ok(())
}

async fn refund_booking(state: &RefundsState, booking: &Booking) -> Result<(), MessageError> {
    let store = &state.app.store;
    let now = state.app.clock.now();
    let payment = match (booking.source, &booking.payment_intent_id) {
        (BookingSource::Online, Some(payment)) => payment,
        // Cash at the door, or free: nothing goes back through Stripe.
        _ => {
            store.mark_refunded(booking, REASON, now).await?;
            return Ok(());
        }
    };
    let order = RefundOrder {
        booking_id: &booking.id,
        booking: Some(booking),
        payment_intent_id: payment,
        reason: REASON,
        change: BookingRefund::MarkRefunded,
        audit: None,
        now,
    };
    match store.record_refund(order).await? {
        RefundRecorded::Recorded => {
            metrics::count(REFUNDS_OWED);
            state.queue.notify(payment).await
        }
        // Its payment's refund was owed already (it was never this
        // booking's own to begin with); the booking still leaves the run.
        RefundRecorded::AlreadyRecorded => {
            store.mark_refunded(booking, REASON, now).await?;
        }
        // Changed meanwhile (cancelled by its holder, say): the next page
        // reads it again if it is still confirmed.
        RefundRecorded::BookingMoved => {}
    }
    Ok(())
}
