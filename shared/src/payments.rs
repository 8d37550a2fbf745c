//! Stripe through async-stripe: the only place that builds Stripe requests.
//! Every call carries an idempotency key derived from the booking, so a retry
//! (ours, or a client's) never charges or refunds twice.

use std::collections::HashMap;

use stripe::{Client, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_core::payment_intent::{
    CreatePaymentIntent, CreatePaymentIntentTransferData, RetrievePaymentIntent,
};
use stripe_core::refund::CreateRefund;

use crate::config::PaymentsConfig;
use crate::domain::payment::{checkout_idempotency_key, refund_idempotency_key};

#[derive(Debug, thiserror::Error)]
#[error("Stripe: {0}")]
pub struct PaymentsError(String);

impl From<StripeError> for PaymentsError {
    fn from(err: StripeError) -> Self {
        Self(err.to_string())
    }
}

/// What checkout asks Stripe for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest<'a> {
    pub booking_id: &'a str,
    pub amount_cents: i64,
    pub currency: &'a str,
    /// A destination charge to this connected account, keeping the fee.
    pub destination: Option<(&'a str, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedPayment {
    pub payment_intent_id: String,
    pub client_secret: String,
}

#[derive(Clone)]
pub struct Payments {
    client: Client,
}

impl Payments {
    pub fn new(config: &PaymentsConfig) -> Result<Self, PaymentsError> {
        let client = stripe::ClientBuilder::new(config.secret_key.expose_str())
            .url(config.api_base.clone())
            .build()?;
        Ok(Self { client })
    }

    /// The booking's PaymentIntent: created once, the same one on every
    /// later call for that booking.
    pub async fn payment_intent(
        &self,
        request: &PaymentRequest<'_>,
    ) -> Result<CreatedPayment, PaymentsError> {
        let mut create = CreatePaymentIntent::new(request.amount_cents, currency(request.currency))
            .metadata(booking_metadata(request.booking_id));
        if let Some((account, fee_cents)) = request.destination {
            create = create
                .transfer_data(CreatePaymentIntentTransferData::new(account))
                .application_fee_amount(fee_cents);
        }
        let intent = create
            .customize()
            .request_strategy(idempotent(&checkout_idempotency_key(request.booking_id))?)
            .send(&self.client)
            .await?;
        created(intent)
    }

    /// A PaymentIntent made earlier, for its client secret.
    pub async fn existing_payment_intent(
        &self,
        payment_intent_id: &str,
    ) -> Result<CreatedPayment, PaymentsError> {
        created(
            RetrievePaymentIntent::new(payment_intent_id)
                .send(&self.client)
                .await?,
        )
    }

    /// Gives the whole payment back; returns the refund's id.
    pub async fn refund(
        &self,
        booking_id: &str,
        payment_intent_id: &str,
    ) -> Result<String, PaymentsError> {
        let refund = CreateRefund::new()
            .payment_intent(payment_intent_id)
            .metadata(booking_metadata(booking_id))
            .customize()
            .request_strategy(idempotent(&refund_idempotency_key(payment_intent_id))?)
            .send(&self.client)
            .await?;
        Ok(refund.id.to_string())
    }
}

fn created(intent: stripe_core::PaymentIntent) -> Result<CreatedPayment, PaymentsError> {
    Ok(CreatedPayment {
        client_secret: intent
            .client_secret
            .ok_or_else(|| PaymentsError("the PaymentIntent has no client_secret".into()))?,
        payment_intent_id: intent.id.to_string(),
    })
}

fn idempotent(key: &str) -> Result<RequestStrategy, PaymentsError> {
    IdempotencyKey::new(key)
        .map(RequestStrategy::Idempotent)
        .map_err(|e| PaymentsError(e.to_string()))
}

/// The webhook finds the booking through this.
fn booking_metadata(booking_id: &str) -> HashMap<String, String> {
    HashMap::from([("booking_id".to_owned(), booking_id.to_owned())])
}

fn currency(code: &str) -> stripe_types::Currency {
    // Unknown codes parse to `Currency::Unknown`; event validation already
    // allowed only ISO 4217 codes.
    code.parse().unwrap_or_else(|never| match never {})
}
