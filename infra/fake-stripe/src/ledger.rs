//! The fake's state and Stripe's rules for it, without I/O: PaymentIntents,
//! the one charge a PaymentIntent gets when it succeeds, and the refunds
//! against that charge. Objects are rendered in Stripe's JSON shape with
//! every field async-stripe requires.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::error::ApiError;

pub(crate) type Metadata = BTreeMap<String, String>;

#[derive(Default)]
pub(crate) struct Ledger {
    intents: HashMap<String, Intent>,
    refunds: Vec<Refund>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewIntent {
    pub amount: i64,
    pub currency: String,
    pub metadata: Metadata,
    pub application_fee_amount: Option<i64>,
    /// `transfer_data[destination]`: a destination charge.
    pub destination: Option<String>,
}

struct Intent {
    id: String,
    created: i64,
    spec: NewIntent,
    charge: Option<Charge>,
}

struct Charge {
    id: String,
    created: i64,
    amount_refunded: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RefundTarget {
    PaymentIntent(String),
    Charge(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RefundRequest {
    pub target: RefundTarget,
    /// None: whatever remains unrefunded.
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub metadata: Metadata,
    pub reverse_transfer: bool,
    pub refund_application_fee: bool,
}

struct Refund {
    id: String,
    created: i64,
    amount: i64,
    currency: String,
    charge: String,
    payment_intent: String,
    metadata: Metadata,
    reason: Option<String>,
    transfer_reversal: Option<String>,
}

/// Unique across fakes and runs, like Stripe's ids: tests share a table.
fn id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// Stripe words refund amounts in its messages as dollars and cents.
fn money(cents: i64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

impl Ledger {
    pub fn create_intent(&mut self, spec: NewIntent, now: i64) -> Value {
        let intent = Intent {
            id: id("pi"),
            created: now,
            spec,
            charge: None,
        };
        let json = intent.json();
        self.intents.insert(intent.id.clone(), intent);
        json
    }

    pub fn intent(&self, id: &str) -> Option<Value> {
        self.intents.get(id).map(Intent::json)
    }

    pub fn intents(&self) -> Vec<Value> {
        self.intents.values().map(Intent::json).collect()
    }

    /// The customer paid: the PaymentIntent gets its charge (once; a second
    /// call keeps the first charge).
    pub fn succeed(&mut self, payment_intent_id: &str, now: i64) -> Option<Value> {
        let intent = self.intents.get_mut(payment_intent_id)?;
        intent.charge.get_or_insert_with(|| Charge {
            id: id("ch"),
            created: now,
            amount_refunded: 0,
        });
        Some(intent.json())
    }

    /// The PaymentIntent's charge, as `charge.refunded` carries it.
    pub fn charge(&self, payment_intent_id: &str) -> Option<Value> {
        let intent = self.intents.get(payment_intent_id)?;
        intent.charge.as_ref().map(|c| intent.charge_json(c))
    }

    pub fn refunds(&self) -> Vec<Value> {
        self.refunds.iter().map(Refund::json).collect()
    }

    /// Refunds the charge, or refuses as Stripe does.
    pub fn refund(&mut self, request: &RefundRequest, now: i64) -> Result<Value, ApiError> {
        let intent = match &request.target {
            RefundTarget::PaymentIntent(id) => self
                .intents
                .get_mut(id)
                .ok_or_else(|| ApiError::missing("payment_intent", id, "payment_intent"))?,
            RefundTarget::Charge(id) => self
                .intents
                .values_mut()
                .find(|i| i.charge.as_ref().is_some_and(|c| c.id == *id))
                .ok_or_else(|| ApiError::missing("charge", id, "charge"))?,
        };
        let spec = &intent.spec;
        let Some(charge) = intent.charge.as_mut() else {
            return Err(ApiError::invalid(format!(
                "This PaymentIntent ({}) does not have a successful charge to refund.",
                intent.id
            ))
            .param("payment_intent"));
        };
        let remaining = spec.amount - charge.amount_refunded;
        if remaining == 0 {
            return Err(ApiError::invalid(format!(
                "Charge {} has already been refunded.",
                charge.id
            ))
            .code("charge_already_refunded"));
        }
        let amount = request.amount.unwrap_or(remaining);
        if amount > remaining {
            return Err(ApiError::invalid(format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                money(amount),
                money(remaining)
            ))
            .code("amount_too_large")
            .param("amount"));
        }
        if request.reverse_transfer && spec.destination.is_none() {
            return Err(ApiError::invalid(
                "reverse_transfer can only be used with destination charges.",
            )
            .param("reverse_transfer"));
        }
        if request.refund_application_fee && spec.application_fee_amount.is_none() {
            return Err(ApiError::invalid(
                "refund_application_fee can only be used with charges that have an application fee.",
            )
            .param("refund_application_fee"));
        }
        charge.amount_refunded += amount;
        let refund = Refund {
            id: id("re"),
            created: now,
            amount,
            currency: spec.currency.clone(),
            charge: charge.id.clone(),
            payment_intent: intent.id.clone(),
            metadata: request.metadata.clone(),
            reason: request.reason.clone(),
            transfer_reversal: request.reverse_transfer.then(|| id("trr")),
        };
        let json = refund.json();
        self.refunds.push(refund);
        Ok(json)
    }
}

impl Intent {
    fn json(&self) -> Value {
        let spec = &self.spec;
        let paid = self.charge.is_some();
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": spec.amount,
            "amount_capturable": 0,
            "amount_received": if paid { spec.amount } else { 0 },
            "application_fee_amount": spec.application_fee_amount,
            "capture_method": "automatic",
            "client_secret": format!("{}_secret_fake", self.id),
            "confirmation_method": "automatic",
            "created": self.created,
            "currency": spec.currency,
            "latest_charge": self.charge.as_ref().map(|c| &c.id),
            "livemode": false,
            "metadata": spec.metadata,
            "payment_method_types": ["card"],
            "status": if paid { "succeeded" } else { "requires_payment_method" },
            "transfer_data": spec.destination.as_ref().map(|d| json!({ "destination": d })),
        })
    }

    fn charge_json(&self, charge: &Charge) -> Value {
        let spec = &self.spec;
        json!({
            "id": charge.id,
            "object": "charge",
            "amount": spec.amount,
            "amount_captured": spec.amount,
            "amount_refunded": charge.amount_refunded,
            "application_fee_amount": spec.application_fee_amount,
            "billing_details": { "address": null, "email": null, "name": null, "phone": null },
            "captured": true,
            "created": charge.created,
            "currency": spec.currency,
            "disputed": false,
            "livemode": false,
            "metadata": spec.metadata,
            "paid": true,
            "payment_intent": self.id,
            "refunded": charge.amount_refunded == spec.amount,
            "status": "succeeded",
            "transfer_data": spec.destination.as_ref().map(|d| json!({ "amount": null, "destination": d })),
        })
    }
}

impl Refund {
    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "refund",
            "amount": self.amount,
            "charge": self.charge,
            "created": self.created,
            "currency": self.currency,
            "metadata": self.metadata,
            "payment_intent": self.payment_intent,
            "reason": self.reason,
            "status": "succeeded",
            "transfer_reversal": self.transfer_reversal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn paid(ledger: &mut Ledger, destination: Option<&str>) -> String {
        let intent = ledger.create_intent(
            NewIntent {
                amount: 5_000,
                currency: "eur".into(),
                metadata: Metadata::from([("booking_id".into(), "b1".into())]),
                application_fee_amount: destination.map(|_| 300),
                destination: destination.map(str::to_owned),
            },
            NOW,
        );
        let id = intent["id"].as_str().unwrap().to_owned();
        ledger.succeed(&id, NOW).unwrap();
        id
    }

    fn refund_of(intent: &str, amount: Option<i64>) -> RefundRequest {
        RefundRequest {
            target: RefundTarget::PaymentIntent(intent.into()),
            amount,
            reason: None,
            metadata: Metadata::new(),
            reverse_transfer: false,
            refund_application_fee: false,
        }
    }

    fn code(error: &ApiError) -> Value {
        error.body()["error"]["code"].clone()
    }

    #[test]
    fn a_refund_without_an_amount_gives_back_what_remains() {
        let mut ledger = Ledger::default();
        let intent = paid(&mut ledger, None);
        ledger
            .refund(&refund_of(&intent, Some(1_000)), NOW)
            .unwrap();
        let rest = ledger.refund(&refund_of(&intent, None), NOW).unwrap();
        assert_eq!(rest["amount"], 4_000);
        assert_eq!(ledger.charge(&intent).unwrap()["refunded"], true);
    }

    #[test]
    fn a_partial_refund_leaves_the_charge_not_refunded() {
        let mut ledger = Ledger::default();
        let intent = paid(&mut ledger, None);
        ledger
            .refund(&refund_of(&intent, Some(1_500)), NOW)
            .unwrap();
        let charge = ledger.charge(&intent).unwrap();
        assert_eq!(charge["amount_refunded"], 1_500);
        assert_eq!(charge["refunded"], false);
    }

    #[test]
    fn an_unpaid_payment_intent_has_no_charge_to_refund() {
        let mut ledger = Ledger::default();
        let intent = ledger.create_intent(
            NewIntent {
                amount: 100,
                currency: "eur".into(),
                metadata: Metadata::new(),
                application_fee_amount: None,
                destination: None,
            },
            NOW,
        );
        let id = intent["id"].as_str().unwrap();
        let refused = ledger.refund(&refund_of(id, None), NOW).unwrap_err();
        assert_eq!(refused.status, 400);
        assert_eq!(
            refused.body()["error"]["message"],
            format!("This PaymentIntent ({id}) does not have a successful charge to refund.")
        );
    }

    #[test]
    fn a_fully_refunded_charge_refuses_another_refund() {
        let mut ledger = Ledger::default();
        let intent = paid(&mut ledger, None);
        ledger.refund(&refund_of(&intent, None), NOW).unwrap();
        let refused = ledger.refund(&refund_of(&intent, None), NOW).unwrap_err();
        assert_eq!(code(&refused), "charge_already_refunded");
        assert_eq!(ledger.refunds().len(), 1);
    }

    #[test]
    fn more_than_remains_is_refused_and_changes_nothing() {
        let mut ledger = Ledger::default();
        let intent = paid(&mut ledger, None);
        ledger
            .refund(&refund_of(&intent, Some(4_000)), NOW)
            .unwrap();
        let refused = ledger
            .refund(&refund_of(&intent, Some(1_001)), NOW)
            .unwrap_err();
        assert_eq!(code(&refused), "amount_too_large");
        assert_eq!(
            refused.body()["error"]["message"],
            "Refund amount ($10.01) is greater than unrefunded amount on charge ($10.00)"
        );
        assert_eq!(ledger.charge(&intent).unwrap()["amount_refunded"], 4_000);
    }

    #[test]
    fn reversing_a_transfer_needs_a_destination_charge() {
        let mut ledger = Ledger::default();
        let direct = paid(&mut ledger, None);
        let request = RefundRequest {
            reverse_transfer: true,
            ..refund_of(&direct, None)
        };
        let refused = ledger.refund(&request, NOW).unwrap_err();
        assert_eq!(refused.body()["error"]["param"], "reverse_transfer");

        let destination = paid(&mut ledger, Some("acct_1"));
        let request = RefundRequest {
            reverse_transfer: true,
            refund_application_fee: true,
            ..refund_of(&destination, None)
        };
        let refund = ledger.refund(&request, NOW).unwrap();
        assert!(
            refund["transfer_reversal"]
                .as_str()
                .unwrap()
                .starts_with("trr_")
        );
    }

    #[test]
    fn a_charge_id_finds_its_payment_intent() {
        let mut ledger = Ledger::default();
        let intent = paid(&mut ledger, None);
        let charge = ledger.intent(&intent).unwrap()["latest_charge"].clone();
        let request = RefundRequest {
            target: RefundTarget::Charge(charge.as_str().unwrap().into()),
            ..refund_of(&intent, None)
        };
        let refund = ledger.refund(&request, NOW).unwrap();
        assert_eq!(refund["payment_intent"], intent.as_str());
        assert_eq!(refund["charge"], charge);
    }

    #[test]
    fn succeeding_twice_keeps_the_first_charge() {
        let mut ledger = Ledger::default();
        let intent = paid(&mut ledger, None);
        let first = ledger.intent(&intent).unwrap()["latest_charge"].clone();
        let again = ledger.succeed(&intent, NOW + 5).unwrap();
        assert_eq!(again["latest_charge"], first);
    }
}
