//! Key layout of the single table (docs/data-model.md). Only this module
//! spells key strings.

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI1: &str = "GSI1";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const GSI2: &str = "GSI2";
pub const GSI3PK: &str = "GSI3PK";
pub const GSI3SK: &str = "GSI3SK";
pub const GSI3: &str = "GSI3";
pub const GSI4PK: &str = "GSI4PK";
pub const GSI4SK: &str = "GSI4SK";
pub const GSI4: &str = "GSI4";

pub fn user(id: &str) -> (String, String) {
    (format!("USER#{id}"), "PROFILE".into())
}

pub fn email(email: &str) -> (String, String) {
    (format!("EMAIL#{email}"), "USER".into())
}

/// All users sit in one GSI1 partition, newest last, for the admin listing.
pub const USERS_INDEX_PK: &str = "USERS";

pub fn magic_link(digest: &str) -> (String, String) {
    (format!("MAGIC#{digest}"), "MAGIC".into())
}

pub fn refresh_token(digest: &str) -> (String, String) {
    (format!("REFRESH#{digest}"), "REFRESH".into())
}

pub fn token_family(id: &str) -> (String, String) {
    (format!("FAMILY#{id}"), "FAMILY".into())
}

pub fn rate_window(scope: &str, key: &str, window: i64) -> (String, String) {
    (format!("RATE#{scope}#{key}#{window}"), "RATE".into())
}

/// An image upload handed out and not yet committed (shared::domain::image).
pub fn upload(id: &str) -> (String, String) {
    (format!("UPLOAD#{id}"), "UPLOAD".into())
}

pub fn event(id: &str) -> (String, String) {
    (format!("EVENT#{id}"), "META".into())
}

/// Events sit in GSI1 by status, sorted by start time.
pub fn events_index_pk(status: &str) -> String {
    format!("EVENTS#{status}")
}

/// A grid event's units are spread over this many partition keys, so an
/// on-sale's unit writes do not all land on one (docs/holds.md).
pub const UNIT_BUCKETS: u32 = 16;

/// A grid unit's state, in its bucket of the event's units.
pub fn unit(event_id: &str, unit_id: &str) -> (String, String) {
    (
        format!("UNITS#{event_id}#{}", spread(unit_id, UNIT_BUCKETS)),
        format!("UNIT#{unit_id}"),
    )
}

/// Every bucket of an event's units (for availability).
pub fn unit_buckets(event_id: &str) -> impl Iterator<Item = String> {
    (0..UNIT_BUCKETS).map(move |bucket| format!("UNITS#{event_id}#{bucket}"))
}

/// Each open-mode inventory shard is its own partition key, so shards spread
/// writes over partitions. A tier's shards are its own (`INV#<event>#<tier>#<n>`;
/// tier ids have no `#`); a single-tier layout keeps the keys it always had.
pub fn inventory_shard(event_id: &str, tier: Option<&str>, shard: u32) -> (String, String) {
    (
        format!("INV#{}#{shard}", stock_scope(event_id, tier)),
        "INV".into(),
    )
}

/// The GSI2 partition of a shard's group: a hold reads one group's shards
/// instead of every shard of the event (of one tier's shards, per tier).
pub fn shard_group_pk(event_id: &str, tier: Option<&str>, group: u32) -> String {
    format!("PLACES#{}#{group}", stock_scope(event_id, tier))
}

fn stock_scope(event_id: &str, tier: Option<&str>) -> String {
    match tier {
        Some(tier) => format!("{event_id}#{tier}"),
        None => event_id.to_owned(),
    }
}

/// A shard's place in its group, in shard order.
pub fn shard_group_sk(shard: u32) -> String {
    format!("{shard:06}")
}

/// A user's bookings in GSI1, newest first.
pub fn user_bookings_pk(user_id: &str) -> String {
    format!("USERBOOKINGS#{user_id}")
}

/// An event's confirmed bookings (GSI2 `BOOKED#`) and its tickets (GSI2
/// `TICKETS#`) are each spread over this many partition keys, by booking,
/// so a free on-sale, which confirms as fast as it holds, does not write
/// one key per event (docs/holds.md).
pub const CONFIRMED_SHARDS: u32 = 32;

/// A confirmed booking's place in GSI2: its event's confirmed bookings
/// (refunded when the event is cancelled).
pub fn booked_pk(event_id: &str, booking_id: &str) -> String {
    format!("BOOKED#{event_id}#{}", spread(booking_id, CONFIRMED_SHARDS))
}

/// Every GSI2 partition of an event's confirmed bookings.
pub fn booked_pks(event_id: &str) -> impl Iterator<Item = String> {
    (0..CONFIRMED_SHARDS).map(move |shard| format!("BOOKED#{event_id}#{shard}"))
}

/// Every booking of an event, whatever its status, sits in GSI4 by
/// creation (the attendee export), spread like its confirmed bookings: an
/// on-sale writes every booking once here too.
pub fn event_bookings_pk(event_id: &str, booking_id: &str) -> String {
    format!(
        "EVENTBOOKINGS#{event_id}#{}",
        spread(booking_id, CONFIRMED_SHARDS)
    )
}

/// Every GSI4 partition of an event's bookings.
pub fn event_bookings_pks(event_id: &str) -> impl Iterator<Item = String> {
    (0..CONFIRMED_SHARDS).map(move |shard| format!("EVENTBOOKINGS#{event_id}#{shard}"))
}

/// An event's held bookings sit in GSI2 by expiry, spread over this many
/// partition keys so an on-sale's holds do not all write one.
pub const HELD_SHARDS: u32 = 16;

/// The GSI2 partition of a held booking (lapsed holds of its event).
pub fn held_pk(event_id: &str, booking_id: &str) -> String {
    format!("HELD#{event_id}#{}", spread(booking_id, HELD_SHARDS))
}

/// Every GSI2 partition of an event's held bookings.
pub fn held_pks(event_id: &str) -> impl Iterator<Item = String> {
    (0..HELD_SHARDS).map(move |shard| format!("HELD#{event_id}#{shard}"))
}

pub fn booking(id: &str) -> (String, String) {
    (format!("BOOKING#{id}"), "META".into())
}

/// Tickets live in their booking's partition, numbered from 1.
pub fn ticket(booking_id: &str, number: u32) -> (String, String) {
    (
        format!("BOOKING#{booking_id}"),
        format!("TICKET#{number:04}"),
    )
}

/// A ticket's place in GSI2, beside its booking's other tickets: its
/// event's tickets, for door counts.
pub fn event_tickets_pk(event_id: &str, booking_id: &str) -> String {
    format!(
        "TICKETS#{event_id}#{}",
        spread(booking_id, CONFIRMED_SHARDS)
    )
}

/// Every GSI2 partition of an event's tickets.
pub fn event_tickets_pks(event_id: &str) -> impl Iterator<Item = String> {
    (0..CONFIRMED_SHARDS).map(move |shard| format!("TICKETS#{event_id}#{shard}"))
}

pub fn payment_intent(id: &str) -> (String, String) {
    (format!("PI#{id}"), "PI".into())
}

/// A wallet top-up, beside the map of its PaymentIntent's bookings (it has
/// none): Stripe's notifications find it by the PaymentIntent.
pub fn top_up(payment_intent_id: &str) -> (String, String) {
    (format!("PI#{payment_intent_id}"), "TOPUP".into())
}

/// The partition of a user's wallet: a balance per currency and every entry.
pub fn wallet_pk(user_id: &str) -> String {
    format!("WALLET#{user_id}")
}

pub const WALLET_BALANCE_PREFIX: &str = "BALANCE#";
pub const WALLET_ENTRY_PREFIX: &str = "ENTRY#";

pub fn wallet_balance(user_id: &str, currency: &str) -> (String, String) {
    (
        wallet_pk(user_id),
        format!("{WALLET_BALANCE_PREFIX}{currency}"),
    )
}

/// Entry ids are UUIDv7s, so the sort key orders entries by time.
pub fn wallet_entry(user_id: &str, entry_id: &str) -> (String, String) {
    (
        wallet_pk(user_id),
        format!("{WALLET_ENTRY_PREFIX}{entry_id}"),
    )
}

pub fn stripe_event(id: &str) -> (String, String) {
    (format!("STRIPE_EVENT#{id}"), "EVT".into())
}

pub const SETTINGS_PK: &str = "SETTINGS";

pub fn audit(day: &str, at: &str, id: &str) -> (String, String) {
    (audit_day(day), format!("{at}#{id}"))
}

/// The partition of one day's audit entries (`yyyy-mm-dd`, UTC).
pub fn audit_day(day: &str) -> String {
    format!("AUDIT#{day}")
}

/// Zero-padded epoch seconds, so string order is time order.
pub fn epoch_sort_key(epoch: i64) -> String {
    format!("{epoch:012}")
}

/// The upper bound of a `<epoch sort key>#<id>` range that includes every
/// id at `epoch` ("~" sorts after every `#<id>` suffix).
pub fn due_by(epoch: i64) -> String {
    format!("{}~", epoch_sort_key(epoch))
}

/// Held bookings of all events sit in GSI3 by expiry, for the sweep, spread
/// over this many partition keys so busy on-sales do not all write one
/// (docs/holds.md: 10,000 seats/s is about 4,000 holds/s, 125 WCU/s each).
pub const EXPIRING_SHARDS: u32 = 32;

pub fn expiring_pk(shard: u32) -> String {
    format!("EXPIRING#{shard}")
}

/// The expiry partition of a booking.
pub fn expiring_shard(booking_id: &str) -> u32 {
    spread(booking_id, EXPIRING_SHARDS)
}

/// FNV-1a of an id, modulo `shards`: a hash that never changes between
/// builds (std's may), so an item's key is stable.
fn spread(id: &str, shards: u32) -> u32 {
    let hash = id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    hash % shards
}

/// Refunds owed (payments, and events whose refund run is not finished)
/// sit in GSI3 by when the sweep should look at them next, spread like the
/// expiring holds.
pub const REFUND_SHARDS: u32 = 4;

pub fn refunds_pk(id: &str) -> String {
    format!("REFUNDS#{}", spread(id, REFUND_SHARDS))
}

pub fn refunds_pks() -> impl Iterator<Item = String> {
    (0..REFUND_SHARDS).map(|shard| format!("REFUNDS#{shard}"))
}

/// A cancelled event's refund run: created with the cancellation, ended
/// when no confirmed booking of the event is left.
pub fn refund_run(event_id: &str) -> (String, String) {
    (format!("REFUNDRUN#{event_id}"), "RUN".into())
}

/// An event's cancellation is written to this many marks, and a
/// confirmation checks the one its booking hashes to instead of the event
/// item, so an on-sale's confirmations do not all include one item (two
/// transactions that include one item conflict, docs/holds.md).
pub const CANCELLED_MARKS: u32 = 32;

/// The cancellation mark a booking's confirmation checks: absent until its
/// event is cancelled.
pub fn cancelled_mark(event_id: &str, booking_id: &str) -> (String, String) {
    cancelled_mark_at(event_id, spread(booking_id, CANCELLED_MARKS))
}

/// Every cancellation mark of an event, all written when it is cancelled.
pub fn cancelled_marks(event_id: &str) -> impl Iterator<Item = (String, String)> {
    (0..CANCELLED_MARKS).map(move |mark| cancelled_mark_at(event_id, mark))
}

fn cancelled_mark_at(event_id: &str, mark: u32) -> (String, String) {
    (format!("CANCELLED#{event_id}#{mark}"), "MARK".into())
}

/// Scheduled events sit in GSI3 by publish time, for the sweep.
pub const PUBLISHING_PK: &str = "PUBLISHING";

/// A webhook endpoint.
pub fn webhook_endpoint(id: &str) -> (String, String) {
    (format!("WEBHOOK#{id}"), "META".into())
}

/// All endpoints sit in one GSI1 partition, oldest first: an admin
/// registers a handful, and every raised event reads them all.
pub const WEBHOOKS_INDEX_PK: &str = "WEBHOOKS";

/// One delivery of one event to one endpoint.
pub fn webhook_delivery(id: &str) -> (String, String) {
    (format!("DELIVERY#{id}"), "DELIVERY".into())
}

/// An endpoint's deliveries in GSI1, by creation time.
pub fn webhook_deliveries_pk(endpoint_id: &str) -> String {
    format!("DELIVERIES#{endpoint_id}")
}

/// A task and everything about it share its partition: the task (`META`),
/// one index item per person who has it in their list, and the notices
/// mailed about it.
pub fn task(id: &str) -> (String, String) {
    (task_pk(id), "META".into())
}

fn task_pk(id: &str) -> String {
    format!("TASK#{id}")
}

/// Every task sits in one GSI1 partition, newest last, for admins' "all":
/// tasks are written by people, far below a partition's 1,000 writes/s.
pub const TASKS_INDEX_PK: &str = "TASKS";

/// The index item of a person who created, is assigned or is mentioned in
/// a task; it sits in GSI1 under `tasks_of(user)`.
pub fn task_viewer(task_id: &str, user_id: &str) -> (String, String) {
    (task_pk(task_id), format!("VIEWER#{user_id}"))
}

/// The GSI1 partition of the tasks one person may see (staff's listing).
pub fn tasks_of(user_id: &str) -> String {
    format!("TASKVIEW#{user_id}")
}

/// The claim of one notice: (task, person, kind, the task version that
/// owed it), so each change mails each person once.
pub fn task_notice(task_id: &str, user_id: &str, kind: &str, version: u64) -> (String, String) {
    (
        task_pk(task_id),
        format!("NOTICE#{user_id}#{kind}#{version:010}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tier_has_shards_and_groups_of_its_own_and_one_tier_keeps_the_old_keys() {
        assert_eq!(inventory_shard("e", None, 3).0, "INV#e#3");
        assert_eq!(inventory_shard("e", Some("vip"), 3).0, "INV#e#vip#3");
        assert_eq!(shard_group_pk("e", None, 1), "PLACES#e#1");
        assert_eq!(shard_group_pk("e", Some("ga"), 1), "PLACES#e#ga#1");
    }

    #[test]
    fn epoch_sort_keys_order_like_times() {
        assert!(epoch_sort_key(999) < epoch_sort_key(1_000));
        assert!(epoch_sort_key(1_800_000_000) < epoch_sort_key(18_000_000_000));
    }

    #[test]
    fn due_by_includes_every_id_of_that_second_and_nothing_later() {
        let at = |epoch: i64, id: &str| format!("{}#{id}", epoch_sort_key(epoch));
        assert!(at(1_000, "zzzz-ffff") <= due_by(1_000));
        assert!(at(1_001, "0000") > due_by(1_000));
    }

    #[test]
    fn refunds_spread_over_their_partitions_like_expiring_holds() {
        assert_eq!(
            refunds_pk("a"),
            format!("REFUNDS#{}", 0xe40c_292c_u32 % REFUND_SHARDS)
        );
        assert!(refunds_pks().any(|pk| pk == refunds_pk("pi_123")));
    }

    #[test]
    fn an_events_units_and_holds_spread_over_their_buckets() {
        let (pk, sk) = unit("e1", "A-12");
        assert!(unit_buckets("e1").any(|bucket| bucket == pk), "{pk}");
        assert_eq!(sk, "UNIT#A-12");
        assert!(held_pks("e1").any(|held| held == held_pk("e1", "b1")));
        assert!(booked_pks("e1").any(|booked| booked == booked_pk("e1", "b1")));
        let tickets = event_tickets_pk("e1", "b1");
        assert!(event_tickets_pks("e1").any(|pk| pk == tickets));
        let used: std::collections::HashSet<String> =
            (0..200).map(|i| unit("e1", &format!("S{i}")).0).collect();
        assert_eq!(used.len(), UNIT_BUCKETS as usize);
    }

    #[test]
    fn every_confirmation_checks_one_of_the_marks_a_cancellation_writes() {
        let marks: Vec<_> = cancelled_marks("e1").collect();
        assert_eq!(marks.len(), CANCELLED_MARKS as usize);
        let checked: std::collections::HashSet<_> = (0..400)
            .map(|i| cancelled_mark("e1", &format!("b{i}")))
            .collect();
        assert!(checked.iter().all(|mark| marks.contains(mark)));
        assert_eq!(checked.len(), CANCELLED_MARKS as usize, "spread over all");
    }

    #[test]
    fn the_expiry_shard_is_stable_and_spreads_bookings() {
        // FNV-1a 32 of "a" is 0xe40c292c; pinned so the hash cannot drift.
        assert_eq!(expiring_shard("a"), 0xe40c_292c % EXPIRING_SHARDS);
        let mut used = [0; EXPIRING_SHARDS as usize];
        for i in 0..400 {
            used[expiring_shard(&format!("0190d5a4-7b8c-7def-8123-{i:012}")) as usize] += 1;
        }
        assert!(used.iter().all(|&n| n > 5), "{used:?}");
    }
}
