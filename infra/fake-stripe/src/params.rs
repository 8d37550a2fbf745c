//! Form parameters as Stripe reads them: the request shapes the fake's
//! endpoints accept, and Stripe's answers to malformed ones (which Stripe
//! refuses before the endpoint runs, so they are never stored under an
//! idempotency key).

use crate::error::ApiError;
use crate::ledger::{Metadata, NewIntent, RefundRequest, RefundTarget};

pub(crate) type Params = [(String, String)];

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The `metadata[key]` parameters.
fn metadata(params: &Params) -> Metadata {
    params
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), v.clone()))
        })
        .collect()
}

fn positive_integer(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    param(params, name)
        .map(|raw| {
            raw.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::invalid(format!("Invalid positive integer: {raw}"))
                    .code("parameter_invalid_integer")
                    .param(name)
            })
        })
        .transpose()
}

fn boolean(params: &Params, name: &str) -> Result<bool, ApiError> {
    match param(params, name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(raw) => Err(ApiError::invalid(format!("Invalid boolean: {raw}")).param(name)),
    }
}

fn missing(name: &str) -> ApiError {
    ApiError::invalid(format!("Missing required param: {name}."))
        .code("parameter_missing")
        .param(name)
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    param(params, name).ok_or_else(|| missing(name))
}

pub(crate) fn new_intent(params: &Params) -> Result<NewIntent, ApiError> {
    Ok(NewIntent {
        amount: positive_integer(params, "amount")?.ok_or_else(|| missing("amount"))?,
        currency: required(params, "currency")?.to_lowercase(),
        metadata: metadata(params),
        application_fee_amount: positive_integer(params, "application_fee_amount")?,
        destination: param(params, "transfer_data[destination]").map(str::to_owned),
    })
}

/// The parameters of `POST /v1/refunds` in Stripe's API reference.
const REFUND_PARAMS: [&str; 11] = [
    "amount",
    "charge",
    "currency",
    "customer",
    "instructions_email",
    "origin",
    "payment_intent",
    "reason",
    "refund_application_fee",
    "reverse_transfer",
    "expand[]",
];

const REFUND_REASONS: [&str; 3] = ["duplicate", "fraudulent", "requested_by_customer"];

pub(crate) fn refund_request(params: &Params) -> Result<RefundRequest, ApiError> {
    if let Some((unknown, _)) = params.iter().find(|(k, _)| {
        !k.starts_with("metadata[")
            && !k.starts_with("expand[")
            && !REFUND_PARAMS.contains(&k.as_str())
    }) {
        return Err(
            ApiError::invalid(format!("Received unknown parameter: {unknown}"))
                .code("parameter_unknown")
                .param(unknown),
        );
    }
    let target = match (param(params, "payment_intent"), param(params, "charge")) {
        (Some(intent), _) => RefundTarget::PaymentIntent(intent.to_owned()),
        (None, Some(charge)) => RefundTarget::Charge(charge.to_owned()),
        (None, None) => {
            return Err(ApiError::invalid(
                "One of the following params should be provided for this request: payment_intent or charge.",
            ));
        }
    };
    let reason = param(params, "reason");
    if let Some(reason) = reason.filter(|r| !REFUND_REASONS.contains(r)) {
        return Err(ApiError::invalid(format!(
            "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer (got {reason})"
        ))
        .param("reason"));
    }
    Ok(RefundRequest {
        target,
        amount: positive_integer(params, "amount")?,
        reason: reason.map(str::to_owned),
        metadata: metadata(params),
        reverse_transfer: boolean(params, "reverse_transfer")?,
        refund_application_fee: boolean(params, "refund_application_fee")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn param_of(error: ApiError) -> String {
        error.body()["error"]["param"].as_str().unwrap().to_owned()
    }

    #[test]
    fn a_refund_reads_its_target_amount_flags_and_metadata() {
        let request = refund_request(&form(&[
            ("payment_intent", "pi_1"),
            ("amount", "250"),
            ("reason", "requested_by_customer"),
            ("metadata[booking_id]", "b1"),
            ("reverse_transfer", "true"),
            ("refund_application_fee", "false"),
        ]))
        .unwrap();
        assert_eq!(request.target, RefundTarget::PaymentIntent("pi_1".into()));
        assert_eq!(request.amount, Some(250));
        assert_eq!(request.metadata["booking_id"], "b1");
        assert!(request.reverse_transfer);
        assert!(!request.refund_application_fee);
    }

    #[test]
    fn a_refund_names_its_charge_when_it_has_no_payment_intent() {
        let request = refund_request(&form(&[("charge", "ch_1")])).unwrap();
        assert_eq!(request.target, RefundTarget::Charge("ch_1".into()));
        assert!(refund_request(&form(&[("amount", "5")])).is_err());
    }

    #[test]
    fn a_misspelt_refund_parameter_is_refused_by_name() {
        let refused = refund_request(&form(&[
            ("payment_intent", "pi_1"),
            ("refund_transfer", "true"),
        ]))
        .unwrap_err();
        assert_eq!(param_of(refused), "refund_transfer");
    }

    #[test]
    fn malformed_amounts_flags_and_reasons_are_refused() {
        let with = |k: &str, v: &str| refund_request(&form(&[("payment_intent", "pi_1"), (k, v)]));
        assert_eq!(param_of(with("amount", "0").unwrap_err()), "amount");
        assert_eq!(param_of(with("amount", "1.5").unwrap_err()), "amount");
        assert_eq!(
            param_of(with("reverse_transfer", "yes").unwrap_err()),
            "reverse_transfer"
        );
        assert_eq!(
            param_of(with("reason", "changed_mind").unwrap_err()),
            "reason"
        );
    }

    #[test]
    fn a_payment_intent_needs_a_positive_amount_and_a_currency() {
        let intent = new_intent(&form(&[("amount", "100"), ("currency", "EUR")])).unwrap();
        assert_eq!((intent.amount, intent.currency.as_str()), (100, "eur"));
        assert_eq!(
            param_of(new_intent(&form(&[("currency", "eur")])).unwrap_err()),
            "amount"
        );
        assert_eq!(
            param_of(new_intent(&form(&[("amount", "100")])).unwrap_err()),
            "currency"
        );
        assert_eq!(
            param_of(new_intent(&form(&[("amount", "-1"), ("currency", "eur")])).unwrap_err()),
            "amount"
        );
    }
}
