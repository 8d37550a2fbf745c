//! Stripe through async-stripe: the only place that builds Stripe requests.
//! Every call carries an idempotency key derived from the booking, so a retry
//! (ours, or a client's) never charges or refunds twice, and a time limit
//! well inside the function's own, so a stalled Stripe is a 503 (or a
//! refund retried later), never the function timing out.
//!
//! Checkout's calls retry Stripe's 429 (its rate limiter) with jittered
//! backoff within [`backoff::STRIPE`]'s budget; the idempotency key makes
//! a retried create safe. async-stripe reads `Stripe-Should-Retry` only in
//! its own retry loop, which makes up its own keys, and its error carries
//! just the status: so the status decides, a 429 is retried and nothing
//! else is.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use stripe::ApiErrorsCode;
use stripe::{Client, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentTransferData, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;

use crate::config::PaymentsConfig;
use crate::domain::backoff::{self, busy_retry_after_secs};
use crate::domain::payment::{STACK_METADATA_KEY, checkout_idempotency_key};
use crate::domain::refund::{RefundAttempt, refund_idempotency_key};
use crate::domain::wallet::TOP_UP_KIND;

/// Stripe answers in well under a second; the functions time out at 10 s.
const STRIPE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PaymentsError {
    /// Stripe's rate limiter still refused (429) when the retry budget was
    /// spent: the client may come back after `retry_after_secs`.
    #[error("Stripe: rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// Stripe failed, refused or did not answer in time.
    #[error("Stripe: {0}")]
    Unavailable(String),
}

impl From<StripeError> for PaymentsError {
    fn from(err: StripeError) -> Self {
        match err {
            StripeError::Stripe(_, 429) => Self::RateLimited {
                retry_after_secs: busy_retry_after_secs(rand::random()),
            },
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// What checkout asks Stripe for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest<'a> {
    pub booking_id: &'a str,
    /// The card part.
    pub amount_cents: i64,
    /// The part paid from the wallet (0 for none): part of the key.
    pub wallet_cents: i64,
    pub currency: &'a str,
    /// A destination charge to this connected account, keeping the fee.
    pub destination: Option<(&'a str, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedPayment {
    pub payment_intent_id: String,
    pub client_secret: String,
}

/// A refund to ask Stripe for: the whole payment, or whatever of it a
/// partial refund left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundRequest<'a> {
    pub booking_id: &'a str,
    pub payment_intent_id: &'a str,
    /// A destination charge: the transfer to the organizer and the
    /// platform's fee are taken back too, so the refund does not come out
    /// of the platform's balance alone (docs/payments.md).
    pub destination_charge: bool,
}

#[derive(Clone)]
pub struct Payments {
    client: Client,
    /// Names this deployment in every PaymentIntent's metadata.
    stack_id: std::sync::Arc<str>,
}

impl Payments {
    pub fn new(config: &PaymentsConfig) -> Result<Self, PaymentsError> {
        let client = stripe::ClientBuilder::new(config.secret_key.expose_str())
            .url(config.api_base.clone())
            .build()?;
        Ok(Self {
            client,
            stack_id: std::sync::Arc::from(config.stack_id.as_str()),
        })
    }

    pub fn stack_id(&self) -> &str {
        &self.stack_id
    }

    /// The booking's PaymentIntent: created once, the same one on every
    /// later call for that booking.
    pub async fn payment_intent(
        &self,
        request: &PaymentRequest<'_>,
    ) -> Result<CreatedPayment, PaymentsError> {
        let strategy = idempotent(&checkout_idempotency_key(
            request.booking_id,
            request.wallet_cents,
        ))?;
        let intent = retrying_rate_limits(|| {
            let mut create =
                CreatePaymentIntent::new(request.amount_cents, currency(request.currency))
                    .metadata(self.metadata(request.booking_id));
            if let Some((account, fee_cents)) = request.destination {
                create = create.transfer_data(CreatePaymentIntentTransferData::new(account));
                // Stripe refuses a fee of 0 ("Invalid positive integer"):
                // no fee is no parameter (found by schemathesis with the
                // fee settings at 0 and an account set).
                if fee_cents > 0 {
                    create = create.application_fee_amount(fee_cents);
                }
            }
            let sent = create
                .customize()
                .request_strategy(strategy.clone())
                .send(&self.client);
            within_time(sent)
        })
        .await?;
        created(intent)
    }

    /// A wallet top-up's PaymentIntent: its metadata names it a top-up (of
    /// this stack, for this user), so the webhook credits the wallet
    /// instead of looking for a booking.
    pub async fn top_up_intent(
        &self,
        top_up_id: &str,
        user_id: &str,
        amount_cents: i64,
        code: &str,
    ) -> Result<CreatedPayment, PaymentsError> {
        let strategy = idempotent(&format!("top-up-{top_up_id}"))?;
        let metadata = HashMap::from([
            ("kind".to_owned(), TOP_UP_KIND.to_owned()),
            ("top_up_id".to_owned(), top_up_id.to_owned()),
            ("user_id".to_owned(), user_id.to_owned()),
            (STACK_METADATA_KEY.to_owned(), self.stack_id.to_string()),
        ]);
        let intent = retrying_rate_limits(|| {
            let sent = CreatePaymentIntent::new(amount_cents, currency(code))
                .metadata(metadata.clone())
                .customize()
                .request_strategy(strategy.clone())
                .send(&self.client);
            within_time(sent)
        })
        .await?;
        created(intent)
    }

    /// A PaymentIntent made earlier, for its client secret.
    pub async fn existing_payment_intent(
        &self,
        payment_intent_id: &str,
    ) -> Result<CreatedPayment, PaymentsError> {
        let intent = retrying_rate_limits(|| async {
            within_time(RetrievePaymentIntent::new(payment_intent_id).send(&self.client)).await
        })
        .await?;
        created(intent)
    }

    /// Asks for the refund of what is left of the payment (Stripe's
    /// default amount), once per payment whoever asks and however often.
    pub async fn refund(&self, request: &RefundRequest<'_>) -> RefundAttempt {
        let mut create = CreateRefund::new()
            .payment_intent(request.payment_intent_id)
            .metadata(self.metadata(request.booking_id));
        if request.destination_charge {
            create = create.reverse_transfer(true).refund_application_fee(true);
        }
        let strategy = match idempotent(&refund_idempotency_key(request.payment_intent_id)) {
            Ok(strategy) => strategy,
            Err(err) => return RefundAttempt::Refused(err.to_string()),
        };
        let sent = create
            .customize()
            .request_strategy(strategy)
            .send(&self.client);
        match tokio::time::timeout(STRIPE_TIMEOUT, sent).await {
            Ok(Ok(refund)) => RefundAttempt::Refunded {
                refund_id: refund.id.to_string(),
            },
            Ok(Err(err)) => refund_attempt(err),
            Err(_) => RefundAttempt::Unavailable("Stripe did not answer in time".into()),
        }
    }

    /// Finds the booking again, and tells our payments from those of other
    /// stacks or tools sharing the Stripe account.
    fn metadata(&self, booking_id: &str) -> HashMap<String, String> {
        HashMap::from([
            ("booking_id".to_owned(), booking_id.to_owned()),
            (STACK_METADATA_KEY.to_owned(), self.stack_id.to_string()),
        ])
    }
}

/// Stripe's answer to a refund: "already refunded" is the money being back;
/// a 429, a 5xx, a 409 (an idempotent request still in flight) or no answer
/// are worth asking again; any other refusal is final.
fn refund_attempt(err: StripeError) -> RefundAttempt {
    match err {
        StripeError::Stripe(api, _) if api.code == Some(ApiErrorsCode::ChargeAlreadyRefunded) => {
            RefundAttempt::AlreadyRefunded
        }
        StripeError::Stripe(api, status) if status == 409 || status == 429 || status >= 500 => {
            RefundAttempt::Unavailable(format!("{status}: {}", api.message.unwrap_or_default()))
        }
        StripeError::Stripe(api, status) => RefundAttempt::Refused(format!(
            "{status} {}: {}",
            api.code.map(|c| c.as_str().to_owned()).unwrap_or_default(),
            api.message.unwrap_or_default()
        )),
        other => RefundAttempt::Unavailable(other.to_string()),
    }
}

/// Makes the call, and again after a wait each time Stripe's rate limiter
/// refuses it, until [`backoff::STRIPE`]'s budget is spent.
async fn retrying_rate_limits<T, F, Call>(mut call: Call) -> Result<T, PaymentsError>
where
    Call: FnMut() -> F,
    F: Future<Output = Result<T, PaymentsError>>,
{
    let started = Instant::now();
    let mut retry = 0;
    loop {
        match call().await {
            Err(limited @ PaymentsError::RateLimited { .. }) => {
                let Some(wait) = backoff::STRIPE.delay(retry, started.elapsed(), rand::random())
                else {
                    return Err(limited);
                };
                tracing::info!(
                    retry,
                    wait_ms = wait.as_millis(),
                    "Stripe rate limited; retrying"
                );
                tokio::time::sleep(wait).await;
                retry += 1;
            }
            answer => return answer,
        }
    }
}

/// A Stripe call that has not answered within [`STRIPE_TIMEOUT`] failed.
async fn within_time<T>(
    call: impl Future<Output = Result<T, StripeError>>,
) -> Result<T, PaymentsError> {
    match tokio::time::timeout(STRIPE_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(PaymentsError::Unavailable(
            "Stripe did not answer in time".into(),
        )),
    }
}

fn created(intent: stripe_core::PaymentIntent) -> Result<CreatedPayment, PaymentsError> {
    Ok(CreatedPayment {
        client_secret: intent.client_secret.ok_or_else(|| {
            PaymentsError::Unavailable("the PaymentIntent has no client_secret".into())
        })?,
        payment_intent_id: intent.id.to_string(),
    })
}

fn idempotent(key: &str) -> Result<RequestStrategy, PaymentsError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| PaymentsError::Unavailable(e.to_string()))
}

fn currency(code: &str) -> stripe_types::Currency {
    // Unknown codes parse to `Currency::Unknown`; event validation already
    // allowed only ISO 4217 codes.
    code.parse().unwrap_or_else(|never| match never {})
}
