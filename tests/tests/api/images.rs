//! Event images and avatars: a presigned upload limited to the declared
//! type and size, then a commit that checks the stored file (size, magic
//! bytes, decoding) before showing it, and deletes whatever it refuses.

use std::io::Cursor;

use axum::http::StatusCode;
use integration_tests::{Response, Session, TestApp, assert_problem};
use serde_json::{Value, json};

use crate::holds::{draft_event, open};

/// A real PNG of `width` × `height` pixels.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 90]))
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("a PNG");
    out
}

/// The images bucket as the test sees it: unrestricted (the emulators' key).
async fn bucket() -> (aws_sdk_s3::Client, String) {
    let aws = shared::state::load_aws().expect("AWS settings: make test sets them");
    let config = aws_sdk_s3::config::Builder::from(&aws)
        .force_path_style(true)
        .build();
    let bucket = std::env::var("IMAGES_BUCKET").expect("IMAGES_BUCKET: make test sets it");
    (aws_sdk_s3::Client::from_conf(config), bucket)
}

async fn stored(key: &str) -> bool {
    let (s3, bucket) = bucket().await;
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => true,
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => false,
        Err(err) => panic!("HeadObject {key}: {err:?}"),
    }
}

/// The object key a presigned (path-style) URL of the images bucket names.
fn key_of(url: &str) -> String {
    let bucket = std::env::var("IMAGES_BUCKET").unwrap();
    let path = url.split('?').next().unwrap();
    let (_, key) = path
        .split_once(&format!("/{bucket}/"))
        .unwrap_or_else(|| panic!("{url} is not in the images bucket"));
    key.to_owned()
}

/// PUTs `body` to a presigned upload URL with its headers, except a
/// content length that is the body's own (the emulator does not enforce
/// the signed one; S3 does).
async fn upload(ticket: &Value, body: Vec<u8>) -> StatusCode {
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Full<axum::body::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = axum::http::Request::put(ticket["upload_url"].as_str().unwrap());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        if name != "content-length" {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    let request = request
        .body(Full::new(axum::body::Bytes::from(body)))
        .unwrap();
    client
        .request(request)
        .await
        .expect("the PUT is answered")
        .status()
}

async fn admin_and_event(app: &TestApp) -> (Session, String) {
    let admin = app.user_with_role("organizer", "admin").await;
    let event = draft_event(app, &admin, open(10), 4).await;
    (admin, event)
}

async fn ask_event_upload(
    app: &TestApp,
    who: &Session,
    event: &str,
    content_type: &str,
    bytes: usize,
) -> Response {
    app.post(
        &format!("/v1/events/{event}/image-upload"),
        Some(&who.access_token),
        json!({ "content_type": content_type, "bytes": bytes }),
    )
    .await
}

async fn commit_event_image(
    app: &TestApp,
    who: &Session,
    event: &str,
    upload_id: &Value,
) -> Response {
    app.post(
        &format!("/v1/events/{event}/image"),
        Some(&who.access_token),
        json!({ "upload_id": upload_id }),
    )
    .await
}

/// Asks for an upload of `body` declared as `content_type`, uploads it and
/// answers the ticket.
async fn uploaded_event_image(
    app: &TestApp,
    admin: &Session,
    event: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Value {
    let ticket = ask_event_upload(app, admin, event, content_type, body.len()).await;
    assert_eq!(ticket.status, StatusCode::OK, "{:?}", ticket.body);
    assert_eq!(upload(&ticket.body, body).await, StatusCode::OK);
    ticket.body
}

/// The commit answered 422 `IMAGE_INVALID` and the upload is gone.
async fn assert_refused_and_deleted(committed: &Response, upload_key: &str) {
    assert_problem(committed, StatusCode::UNPROCESSABLE_ENTITY, "IMAGE_INVALID");
    assert!(!stored(upload_key).await, "the refused upload is deleted");
}

#[tokio::test]
async fn an_upload_is_a_presigned_put_of_the_declared_type_and_size() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let ticket = ask_event_upload(&app, &admin, &event, "image/png", 1234).await;
    assert_eq!(ticket.status, StatusCode::OK, "{:?}", ticket.body);
    let body = &ticket.body;
    assert!(body["upload_id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["headers"]["content-type"], "image/png");
    assert_eq!(body["headers"]["content-length"], "1234");
    let url = body["upload_url"].as_str().unwrap();
    let signed = url
        .split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("X-Amz-SignedHeaders="))
        .expect("a presigned URL");
    assert!(
        signed.contains("content-length") && signed.contains("content-type"),
        "{signed}"
    );
    assert!(
        key_of(url).starts_with(&format!("uploads/events/{event}/")),
        "{url}"
    );
    let expires_at = time::OffsetDateTime::parse(
        body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires_at - app.clock_now(), time::Duration::minutes(15));
}

#[tokio::test]
async fn an_admin_uploads_a_png_and_the_event_shows_it() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let image = png(32, 24);
    let ticket = uploaded_event_image(&app, &admin, &event, "image/png", image.clone()).await;
    let committed = commit_event_image(&app, &admin, &event, &ticket["upload_id"]).await;
    assert_eq!(committed.status, StatusCode::OK, "{:?}", committed.body);
    let url = committed.body["image_url"].as_str().expect("an image_url");
    let (status, headers, served) = integration_tests::http_get(url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(served.as_ref(), image.as_slice());
    assert!(
        !stored(&key_of(ticket["upload_url"].as_str().unwrap())).await,
        "the upload itself is gone once kept"
    );
    let shown = app
        .get(&format!("/v1/events/{event}"), Some(&admin.access_token))
        .await;
    assert_eq!(
        key_of(shown.body["image_url"].as_str().unwrap()),
        key_of(url)
    );
}

#[tokio::test]
async fn setting_an_event_image_is_audited() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let ticket = uploaded_event_image(&app, &admin, &event, "image/png", png(8, 8)).await;
    let committed = commit_event_image(&app, &admin, &event, &ticket["upload_id"]).await;
    assert_eq!(committed.status, StatusCode::OK, "{:?}", committed.body);
    let logged = app
        .get(
            &format!("/v1/admin/audit-logs?target=event:{event}&action=event.image_set"),
            Some(&admin.access_token),
        )
        .await;
    assert_eq!(logged.status, StatusCode::OK, "{:?}", logged.body);
    let entries = logged.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor_id"], admin.user["id"]);
    let key = entries[0]["details"]["changes"]["image_key"]["after"]
        .as_str()
        .unwrap();
    assert_eq!(key, key_of(committed.body["image_url"].as_str().unwrap()));
}

#[tokio::test]
async fn an_image_that_lies_about_its_type_is_refused_and_deleted() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let ticket = uploaded_event_image(&app, &admin, &event, "image/jpeg", png(8, 8)).await;
    let upload_key = key_of(ticket["upload_url"].as_str().unwrap());
    assert!(stored(&upload_key).await);
    let committed = commit_event_image(&app, &admin, &event, &ticket["upload_id"]).await;
    assert_problem(
        &committed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IMAGE_INVALID",
    );
    assert_eq!(committed.body["errors"][0]["field"], "upload_id");
    assert!(!stored(&upload_key).await, "the refused upload is deleted");
    let shown = app
        .get(&format!("/v1/events/{event}"), Some(&admin.access_token))
        .await;
    assert_eq!(shown.body.get("image_url"), None, "{:?}", shown.body);
}

#[tokio::test]
async fn a_file_with_png_magic_that_does_not_decode_is_refused_and_deleted() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let mut garbage = png(8, 8)[..16].to_vec();
    garbage.extend_from_slice(&[0x5a; 200]);
    let ticket = uploaded_event_image(&app, &admin, &event, "image/png", garbage).await;
    let upload_key = key_of(ticket["upload_url"].as_str().unwrap());
    let committed = commit_event_image(&app, &admin, &event, &ticket["upload_id"]).await;
    assert_refused_and_deleted(&committed, &upload_key).await;
}

#[tokio::test]
async fn a_declared_size_over_5_mib_is_refused_naming_bytes() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let asked = ask_event_upload(&app, &admin, &event, "image/png", 5 * 1024 * 1024 + 1).await;
    assert_problem(
        &asked,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(asked.body["errors"][0]["field"], "bytes");
}

#[tokio::test]
async fn a_stored_file_over_the_limit_is_refused_and_deleted() {
    let app = TestApp::spawn().await;
    let user = app.sign_in(&app.email("ada")).await;
    // Declared at the avatar limit; one byte more stored (S3 itself would
    // refuse the PUT for its signed length: the check does not rely on it).
    let mut big = png(8, 8);
    big.resize(1024 * 1024 + 1, 0);
    let ticket = app
        .post(
            "/v1/me/avatar-upload",
            Some(&user.access_token),
            json!({ "content_type": "image/png", "bytes": 1024 * 1024 }),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::OK, "{:?}", ticket.body);
    assert_eq!(upload(&ticket.body, big).await, StatusCode::OK);
    let upload_key = key_of(ticket.body["upload_url"].as_str().unwrap());
    let committed = app
        .post(
            "/v1/me/avatar",
            Some(&user.access_token),
            json!({ "upload_id": ticket.body["upload_id"] }),
        )
        .await;
    assert_refused_and_deleted(&committed, &upload_key).await;
}

#[tokio::test]
async fn a_content_type_other_than_png_jpeg_or_webp_is_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let asked = ask_event_upload(&app, &admin, &event, "image/svg+xml", 100).await;
    assert_problem(
        &asked,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(asked.body["errors"][0]["field"], "content_type");
}

#[tokio::test]
async fn a_user_may_not_upload_or_set_an_event_image() {
    let app = TestApp::spawn().await;
    let (_, event) = admin_and_event(&app).await;
    let user = app.sign_in(&app.email("ada")).await;
    let asked = ask_event_upload(&app, &user, &event, "image/png", 100).await;
    assert_problem(&asked, StatusCode::FORBIDDEN, "FORBIDDEN");
    let committed = commit_event_image(
        &app,
        &user,
        &event,
        &json!("0190f1c2-7b3a-7cde-8f00-123456789abc"),
    )
    .await;
    assert_problem(&committed, StatusCode::FORBIDDEN, "FORBIDDEN");
}

#[tokio::test]
async fn an_upload_id_is_committed_once() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let ticket = uploaded_event_image(&app, &admin, &event, "image/png", png(8, 8)).await;
    let first = commit_event_image(&app, &admin, &event, &ticket["upload_id"]).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let again = commit_event_image(&app, &admin, &event, &ticket["upload_id"]).await;
    assert_problem(&again, StatusCode::CONFLICT, "UPLOAD_USED");
}

#[tokio::test]
async fn an_upload_for_one_event_cannot_be_committed_to_another() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let other = draft_event(&app, &admin, open(10), 4).await;
    let ticket = uploaded_event_image(&app, &admin, &event, "image/png", png(8, 8)).await;
    let committed = commit_event_image(&app, &admin, &other, &ticket["upload_id"]).await;
    assert_problem(&committed, StatusCode::NOT_FOUND, "NOT_FOUND");
}

#[tokio::test]
async fn committing_before_uploading_is_refused_and_the_upload_stays_usable() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let image = png(8, 8);
    let ticket = ask_event_upload(&app, &admin, &event, "image/png", image.len()).await;
    let early = commit_event_image(&app, &admin, &event, &ticket.body["upload_id"]).await;
    assert_problem(&early, StatusCode::UNPROCESSABLE_ENTITY, "IMAGE_INVALID");
    assert_eq!(upload(&ticket.body, image).await, StatusCode::OK);
    let committed = commit_event_image(&app, &admin, &event, &ticket.body["upload_id"]).await;
    assert_eq!(committed.status, StatusCode::OK, "{:?}", committed.body);
}

#[tokio::test]
async fn replacing_an_event_image_deletes_the_old_one() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let first = uploaded_event_image(&app, &admin, &event, "image/png", png(8, 8)).await;
    let shown = commit_event_image(&app, &admin, &event, &first["upload_id"]).await;
    assert_eq!(shown.status, StatusCode::OK, "{:?}", shown.body);
    let old_key = key_of(shown.body["image_url"].as_str().unwrap());
    assert!(stored(&old_key).await);
    let second = uploaded_event_image(&app, &admin, &event, "image/png", png(16, 16)).await;
    let replaced = commit_event_image(&app, &admin, &event, &second["upload_id"]).await;
    assert_eq!(replaced.status, StatusCode::OK, "{:?}", replaced.body);
    let new_key = key_of(replaced.body["image_url"].as_str().unwrap());
    assert_ne!(new_key, old_key);
    assert!(stored(&new_key).await);
    assert!(!stored(&old_key).await, "the replaced image is deleted");
}

#[tokio::test]
async fn an_image_url_set_by_patch_replaces_and_deletes_the_uploaded_image() {
    let app = TestApp::spawn().await;
    let (admin, event) = admin_and_event(&app).await;
    let ticket = uploaded_event_image(&app, &admin, &event, "image/png", png(8, 8)).await;
    let shown = commit_event_image(&app, &admin, &event, &ticket["upload_id"]).await;
    let old_key = key_of(shown.body["image_url"].as_str().unwrap());
    let patched = app
        .call(
            axum::http::Method::PATCH,
            &format!("/v1/events/{event}"),
            Some(&admin.access_token),
            Some(json!({ "image_url": "https://img.example.com/poster.png" })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    assert_eq!(
        patched.body["image_url"],
        "https://img.example.com/poster.png"
    );
    assert!(!stored(&old_key).await, "the uploaded image is deleted");
}

#[tokio::test]
async fn a_user_sets_an_avatar_shown_on_their_profile() {
    let app = TestApp::spawn().await;
    let user = app.sign_in(&app.email("ada")).await;
    let image = png(16, 16);
    let ticket = app
        .post(
            "/v1/me/avatar-upload",
            Some(&user.access_token),
            json!({ "content_type": "image/png", "bytes": image.len() }),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::OK, "{:?}", ticket.body);
    let user_id = user.user["id"].as_str().unwrap();
    assert!(
        key_of(ticket.body["upload_url"].as_str().unwrap())
            .starts_with(&format!("uploads/avatars/{user_id}/"))
    );
    assert_eq!(upload(&ticket.body, image.clone()).await, StatusCode::OK);
    let set = app
        .post(
            "/v1/me/avatar",
            Some(&user.access_token),
            json!({ "upload_id": ticket.body["upload_id"] }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["id"], user_id);
    let me = app.get("/v1/me", Some(&user.access_token)).await;
    let url = me.body["avatar_url"].as_str().expect("an avatar_url");
    let (status, _, served) = integration_tests::http_get(url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(served.as_ref(), image.as_slice());
}

#[tokio::test]
async fn another_users_avatar_upload_is_refused() {
    let app = TestApp::spawn().await;
    let ada = app.sign_in(&app.email("ada")).await;
    let bob = app.sign_in(&app.email("bob")).await;
    let image = png(8, 8);
    let ticket = app
        .post(
            "/v1/me/avatar-upload",
            Some(&ada.access_token),
            json!({ "content_type": "image/png", "bytes": image.len() }),
        )
        .await;
    assert_eq!(upload(&ticket.body, image).await, StatusCode::OK);
    let stolen = app
        .post(
            "/v1/me/avatar",
            Some(&bob.access_token),
            json!({ "upload_id": ticket.body["upload_id"] }),
        )
        .await;
    assert_problem(&stolen, StatusCode::NOT_FOUND, "NOT_FOUND");
    let me = app.get("/v1/me", Some(&bob.access_token)).await;
    assert_eq!(me.body.get("avatar_url"), None);
}

#[tokio::test]
async fn an_avatar_over_1_mib_is_refused_naming_bytes() {
    let app = TestApp::spawn().await;
    let user = app.sign_in(&app.email("ada")).await;
    let asked = app
        .post(
            "/v1/me/avatar-upload",
            Some(&user.access_token),
            json!({ "content_type": "image/webp", "bytes": 1024 * 1024 + 1 }),
        )
        .await;
    assert_problem(
        &asked,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    );
    assert_eq!(asked.body["errors"][0]["field"], "bytes");
}
