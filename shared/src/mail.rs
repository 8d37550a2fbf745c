//! Outgoing mail through SES (v2 API, simple content: text and HTML).

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use axum::http::StatusCode;

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Text made safe to put inside HTML (and its attributes).
pub fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[derive(Debug, thiserror::Error)]
#[error("sending mail failed: {0}")]
pub struct MailError(String);

/// How long a client waits before asking for mail again.
const MAIL_RETRY_AFTER_SECS: u64 = 30;

/// SES refused or failed (throttling, sandbox, an outage): a 503 the client
/// can retry, never a 500. A 202 would leave the user waiting for a mail
/// that never comes; the answer is the same whether the address has an
/// account or not, so it reveals nothing.
impl From<MailError> for ApiError {
    fn from(err: MailError) -> Self {
        tracing::warn!(error = %err, "mail not sent");
        let mut api = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "MAIL_UNAVAILABLE",
            "the mail could not be sent just now; try again shortly",
        );
        api.retry_after_secs = Some(MAIL_RETRY_AFTER_SECS);
        api
    }
}

#[derive(Clone)]
pub struct Mailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl Mailer {
    pub fn new(aws: &aws_config::SdkConfig, from: &str) -> Self {
        Self {
            client: aws_sdk_sesv2::Client::new(aws),
            from: from.to_owned(),
        }
    }

    pub async fn send(&self, mail: OutgoingMail) -> Result<(), MailError> {
        let content = |data: String| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| MailError(e.to_string()))
        };
        let message = Message::builder()
            .subject(content(mail.subject)?)
            .body(
                Body::builder()
                    .text(content(mail.text)?)
                    .html(content(mail.html)?)
                    .build(),
            )
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(mail.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| MailError(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
