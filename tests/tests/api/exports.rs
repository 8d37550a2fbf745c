//! The attendee export: every booking of an event with its holder, in JSON
//! pages, CSV and XLSX, for staff.

use std::io::Cursor;

use axum::http::StatusCode;
use calamine::{Data, Reader, Xlsx};
use integration_tests::{Session, TestApp, assert_problem};
use serde_json::{Value, json};

use crate::holds::{hold, open, published_event};

/// An open event with a buyer's online hold of 2 and a walk-in of 1 whose
/// buyer's name a spreadsheet would run as a formula; (event, buyer, staff).
async fn event_with_bookings(app: &TestApp) -> (String, Session, Session) {
    let event = published_event(app, open(50), 10).await;
    let buyer = app.sign_in(&app.email("buyer")).await;
    let held = hold(app, &buyer, &event, json!({ "quantity": 2 })).await;
    assert_eq!(held.status, StatusCode::CREATED, "{:?}", held.body);
    let admin = app.user_with_role("cashier", "admin").await;
    let sold = app
        .post(
            &format!("/v1/admin/events/{event}/walk-in"),
            Some(&admin.access_token),
            json!({ "quantity": 1, "name": "=HYPERLINK(\"http://evil\")", "email": "walk@example.com" }),
        )
        .await;
    assert_eq!(sold.status, StatusCode::CREATED, "{:?}", sold.body);
    let staff = app.user_with_role("door", "staff").await;
    (event, buyer, staff)
}

fn export_path(event: &str, query: &str) -> String {
    format!("/v1/admin/events/{event}/bookings{query}")
}

#[tokio::test]
async fn the_export_lists_every_booking_with_its_holder_oldest_first() {
    let app = TestApp::spawn().await;
    let (event, buyer, staff) = event_with_bookings(&app).await;
    let page = app
        .get(&export_path(&event, ""), Some(&staff.access_token))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    let items = page.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    let online = &items[0];
    assert_eq!(online["status"], "held");
    assert_eq!(online["source"], "online");
    assert_eq!(online["quantity"], 2);
    assert_eq!(online["holder_email"], buyer.user["email"]);
    assert_eq!(online["tickets"], 0, "a hold has no tickets yet");
    let walk_in = &items[1];
    assert_eq!(walk_in["status"], "confirmed");
    assert_eq!(walk_in["source"], "walk_in");
    assert_eq!(walk_in["holder_name"], "=HYPERLINK(\"http://evil\")");
    assert_eq!(walk_in["holder_email"], "walk@example.com");
    assert_eq!(
        (walk_in["tickets"].as_u64(), walk_in["checked_in"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(page.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn json_pages_follow_each_other_without_repeats() {
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(50), 10).await;
    let admin = app.user_with_role("cashier", "admin").await;
    let mut sold = Vec::new();
    for n in 0..5 {
        let walk_in = app
            .post(
                &format!("/v1/admin/events/{event}/walk-in"),
                Some(&admin.access_token),
                json!({ "quantity": 1, "name": format!("Guest {n}") }),
            )
            .await;
        assert_eq!(walk_in.status, StatusCode::CREATED, "{:?}", walk_in.body);
        sold.push(walk_in.body["id"].clone());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".to_owned(),
        };
        let page = app
            .get(&export_path(&event, &query), Some(&admin.access_token))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["booking_id"].clone()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, sold, "every booking once, in the order sold");
}

#[tokio::test]
async fn the_csv_export_is_rfc_4180_with_formulas_neutralised() {
    let app = TestApp::spawn().await;
    let (event, _, staff) = event_with_bookings(&app).await;
    let csv = app
        .get(
            &export_path(&event, "?format=csv"),
            Some(&staff.access_token),
        )
        .await;
    assert_eq!(csv.status, StatusCode::OK, "{:?}", csv.body);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment;")
    );
    let text = std::str::from_utf8(&csv.bytes).unwrap();
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "a header and two bookings: {text}");
    assert!(lines[0].starts_with("booking_id,status,source,holder_name,holder_email,"));
    assert!(
        lines[2].contains(",\"'=HYPERLINK(\"\"http://evil\"\")\",walk@example.com,"),
        "{}",
        lines[2]
    );
}

#[tokio::test]
async fn the_xlsx_export_has_typed_cells() {
    let app = TestApp::spawn().await;
    let (event, _, staff) = event_with_bookings(&app).await;
    let file = app
        .get(
            &export_path(&event, "?format=xlsx"),
            Some(&staff.access_token),
        )
        .await;
    assert_eq!(file.status, StatusCode::OK, "{:?}", file.headers);
    assert_eq!(
        file.headers["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let mut workbook = Xlsx::new(Cursor::new(file.bytes.to_vec())).expect("a workbook");
    let sheet = workbook.worksheet_range("Bookings").expect("the sheet");
    let rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0], Data::String("booking_id".into()));
    assert_eq!(rows[1][6], Data::Float(2.0), "quantity is a number");
    assert_eq!(
        rows[2][3],
        Data::String("=HYPERLINK(\"http://evil\")".into()),
        "a string cell, never a formula"
    );
    assert!(
        matches!(rows[1][14], Data::DateTime(_)),
        "{:?}",
        rows[1][14]
    );
}

#[tokio::test]
async fn the_export_is_for_staff_and_knows_its_formats() {
    let app = TestApp::spawn().await;
    let (event, buyer, staff) = event_with_bookings(&app).await;
    let refused = app
        .get(&export_path(&event, ""), Some(&buyer.access_token))
        .await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "FORBIDDEN");
    let pdf = app
        .get(
            &export_path(&event, "?format=pdf"),
            Some(&staff.access_token),
        )
        .await;
    assert_problem(&pdf, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
    let unknown = app
        .get(&export_path("nope", ""), Some(&staff.access_token))
        .await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "NOT_FOUND");
}

/// 20,000 bookings, written straight into the table in the shape the store
/// gives them (seeding them through the API would take minutes): the CSV is
/// too large for one response and comes from S3, every row present.
#[tokio::test]
async fn a_large_export_is_handed_out_through_s3_with_every_row() {
    const BOOKINGS: usize = 20_000;
    let app = TestApp::spawn().await;
    let event = published_event(&app, open(BOOKINGS as u32), 10).await;
    let staff = app.user_with_role("door", "staff").await;
    let ids = seed_walk_ins(&event, BOOKINGS).await;

    let started = std::time::Instant::now();
    let answer = app
        .get(
            &export_path(&event, "?format=csv"),
            Some(&staff.access_token),
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{:?}", answer.body);
    let link = answer.headers["location"].to_str().unwrap().to_owned();
    assert!(link.contains("X-Amz-Expires=900"), "{link}");
    let (status, headers, csv) = integration_tests::http_get(&link).await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&csv));
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let text = std::str::from_utf8(&csv).unwrap();
    let rows: Vec<&str> = text.split_terminator("\r\n").skip(1).collect();
    assert_eq!(rows.len(), BOOKINGS);
    let exported: std::collections::HashSet<&str> =
        rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    assert!(
        ids.iter().all(|id| exported.contains(id.as_str())),
        "every booking once"
    );
    eprintln!(
        "export of {BOOKINGS} bookings: {} bytes of CSV through S3 in {:.2} s",
        csv.len(),
        elapsed.as_secs_f64()
    );
}

/// Confirmed walk-ins of one place each, put 25 at a time, spread over the
/// export index's 32 partitions as the store spreads them.
async fn seed_walk_ins(event: &str, count: usize) -> Vec<String> {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    use futures::StreamExt;
    let (client, table) = integration_tests::table().await;
    let now = "2026-01-01T10:00:00Z";
    let ids: Vec<String> = (0..count)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let n = |v: i64| AttributeValue::N(v.to_string());
    let writes: Vec<WriteRequest> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let item = [
                ("PK", s(&format!("BOOKING#{id}"))),
                ("SK", s("META")),
                ("id", s(id)),
                ("event_id", s(event)),
                ("user_id", s("seller")),
                ("status", s("confirmed")),
                ("quantity", n(1)),
                ("amount_cents", n(2500)),
                ("fee_cents", n(0)),
                ("currency", s("eur")),
                ("source", s("walk_in")),
                ("holder_name", s(&format!("Guest {i}"))),
                ("created_at", s(now)),
                ("updated_at", s(now)),
                ("GSI4PK", s(&format!("EVENTBOOKINGS#{event}#{}", i % 32))),
                ("GSI4SK", s(&format!("{now}#{id}"))),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build()
        })
        .collect();
    let batches: Vec<Vec<WriteRequest>> = writes.chunks(25).map(<[_]>::to_vec).collect();
    futures::stream::iter(batches)
        .for_each_concurrent(16, |mut batch| {
            let (client, table) = (&client, &table);
            async move {
                while !batch.is_empty() {
                    let out = client
                        .batch_write_item()
                        .request_items(table.as_str(), batch)
                        .send()
                        .await
                        .expect("seeded");
                    batch = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(table.as_str()))
                        .unwrap_or_default();
                }
            }
        })
        .await;
    ids
}
