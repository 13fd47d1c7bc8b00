//! Charges, refunds and disputes in the pinned API version's shapes, and their rules: a paid
//! payment intent has one succeeded card charge (its `latest_charge`); refunds take from the
//! charge's unrefunded amount until it is `refunded`; a dispute opens on a charge and closes
//! once, `won` or `lost`.

use super::error::StripeError;
use super::params::{MetadataPatch, Params};
use super::{Filter, Stamp, int, set, text};
use serde_json::{Map, Value, json};

/// What a succeeded payment intent is made of.
#[derive(Debug)]
pub(crate) struct NewIntent<'a> {
    pub(crate) id: &'a str,
    pub(crate) client_secret: &'a str,
    pub(crate) amount: i64,
    pub(crate) currency: &'a Value,
    pub(crate) customer: &'a str,
    pub(crate) description: Option<&'a str>,
    pub(crate) metadata: Map<String, Value>,
}

/// A payment intent that has succeeded for its whole amount (its charge is added by
/// [`charged`]).
pub(crate) fn payment_intent(new: &NewIntent<'_>, stamp: Stamp) -> Value {
    json!({
        "id": new.id,
        "object": "payment_intent",
        "amount": new.amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": new.amount,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic",
        "client_secret": new.client_secret,
        "confirmation_method": "automatic",
        "created": stamp.now,
        "currency": new.currency,
        "customer": new.customer,
        "description": new.description,
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": stamp.livemode,
        "metadata": new.metadata,
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": null,
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": "succeeded",
        "transfer_data": null,
        "transfer_group": null,
    })
}

/// The succeeded payment intent through which the card on file paid `invoice`, or `None`
/// when the invoice took no money (unpaid, a trial's, or a zero total). Described as Stripe
/// describes a subscription's payments: its creation, or an update (a renewal, a change).
pub(crate) fn invoice_intent(
    id: &str,
    client_secret: &str,
    invoice: &Value,
    stamp: Stamp,
) -> Option<Value> {
    let amount = int(invoice, "amount_paid").filter(|a| *a > 0)?;
    let description = if text(invoice, "billing_reason") == Some("subscription_create") {
        "Subscription creation"
    } else {
        "Subscription update"
    };
    Some(payment_intent(
        &NewIntent {
            id,
            client_secret,
            amount,
            currency: &invoice["currency"],
            customer: text(invoice, "customer").unwrap_or_default(),
            description: Some(description),
            metadata: Map::new(),
        },
        stamp,
    ))
}

/// The succeeded card charge that pays `intent` in full.
pub(crate) fn charge(id: &str, intent: &Value, email: Option<&str>, stamp: Stamp) -> Value {
    let amount = int(intent, "amount").unwrap_or(0);
    json!({
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application": null,
        "application_fee": null,
        "application_fee_amount": null,
        "balance_transaction": format!("txn_{}", id.trim_start_matches("ch_")),
        "billing_details": {"address": {"city": null, "country": null, "line1": null, "line2": null,
            "postal_code": null, "state": null}, "email": email, "name": null, "phone": null, "tax_id": null},
        "calculated_statement_descriptor": "SANDBOX",
        "captured": true,
        "created": stamp.now,
        "currency": intent["currency"],
        "customer": intent["customer"],
        "description": intent["description"],
        "disputed": false,
        "failure_balance_transaction": null,
        "failure_code": null,
        "failure_message": null,
        "fraud_details": {},
        "livemode": stamp.livemode,
        "metadata": intent["metadata"],
        "on_behalf_of": null,
        "outcome": {"advice_code": null, "network_advice_code": null, "network_decline_code": null,
            "network_status": "approved_by_network", "reason": null, "risk_level": "normal",
            "risk_score": 20, "seller_message": "Payment complete.", "type": "authorized"},
        "paid": true,
        "payment_intent": intent["id"],
        "payment_method": null,
        "payment_method_details": {"card": {"brand": "visa", "country": "US", "exp_month": 12,
            "exp_year": 2034, "funding": "credit", "last4": "4242", "network": "visa"}, "type": "card"},
        "radar_options": {},
        "receipt_email": email,
        "receipt_number": null,
        "receipt_url": null,
        "refunded": false,
        "review": null,
        "shipping": null,
        "source": null,
        "source_transfer": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": "succeeded",
        "transfer_data": null,
        "transfer_group": null,
    })
}

/// The intent with `charge` as its latest charge.
pub(crate) fn charged(intent: &Value, charge: &Value) -> Value {
    let mut out = intent.clone();
    set(&mut out, "latest_charge", charge["id"].clone());
    out
}

/// The filters of `GET /v1/charges`.
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn filters(p: &mut Params) -> Result<Vec<Filter>, StripeError> {
    super::id_filters(
        p,
        &[
            ("customer", "$.customer"),
            ("payment_intent", "$.payment_intent"),
        ],
    )
}

/// What `POST /v1/refunds` names: the charge (or the payment intent whose latest charge it
/// is), and optionally an amount, a reason and metadata.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NewRefund {
    pub(crate) charge: Option<String>,
    pub(crate) payment_intent: Option<String>,
    pub(crate) amount: Option<i64>,
    reason: Option<&'static str>,
    metadata: Option<MetadataPatch>,
}

/// Reads the parameters of `POST /v1/refunds`.
///
/// # Errors
/// Neither or both of `charge` and `payment_intent`, a non-positive amount, an unknown reason.
pub(crate) fn parse_refund(p: &mut Params) -> Result<NewRefund, StripeError> {
    let charge = p.string("charge")?.filter(|c| !c.is_empty());
    let payment_intent = p.string("payment_intent")?.filter(|c| !c.is_empty());
    let amount = p.integer("amount")?;
    let reason = p.one_of(
        "reason",
        &["duplicate", "fraudulent", "requested_by_customer"],
    )?;
    let metadata = p.metadata("metadata")?;
    match (&charge, &payment_intent) {
        (None, None) => {
            return Err(StripeError::invalid(
                "One of the following params should be provided for this request: payment_intent or charge.",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(StripeError::invalid(
                "You cannot specify both the charge and payment_intent parameters.",
            ));
        }
        _ => {}
    }
    if amount.is_some_and(|a| a < 1) {
        return Err(StripeError::invalid_value(
            "amount",
            "parameter_invalid_integer",
            "This value must be greater than or equal to 1.",
        ));
    }
    Ok(NewRefund {
        charge,
        payment_intent,
        amount,
        reason,
        metadata,
    })
}

/// The refund of `new` on `charge` and the charge after it, or why the charge cannot give it.
///
/// # Errors
/// A charge refunded already, disputed, or with less left than asked.
pub(crate) fn refund(
    id: &str,
    new: &NewRefund,
    charge: &Value,
    stamp: Stamp,
) -> Result<(Value, Value), StripeError> {
    let charge_id = text(charge, "id").unwrap_or_default();
    let amount = int(charge, "amount").unwrap_or(0);
    let refunded = int(charge, "amount_refunded").unwrap_or(0);
    let left = amount - refunded;
    if charge["refunded"] == json!(true) || left <= 0 {
        return Err(StripeError::invalid_value(
            "charge",
            "charge_already_refunded",
            format!("Charge {charge_id} has already been refunded."),
        ));
    }
    if charge["disputed"] == json!(true) {
        return Err(StripeError::invalid_value(
            "charge",
            "charge_disputed",
            format!("Charge {charge_id} has been charged back; cannot issue a refund."),
        ));
    }
    let take = new.amount.unwrap_or(left);
    if take > left {
        return Err(StripeError::invalid_value(
            "amount",
            "amount_too_large",
            format!("Refund amount ({take}) is greater than unrefunded amount on charge ({left})"),
        ));
    }
    let refund = json!({
        "id": id,
        "object": "refund",
        "amount": take,
        "balance_transaction": format!("txn_{}", id.trim_start_matches("re_")),
        "charge": charge_id,
        "created": stamp.now,
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_account": null,
        "destination_details": {"card": {"reference": null, "reference_status": "pending",
            "reference_type": "acquirer_reference_number", "type": "refund"}, "type": "card"},
        "metadata": MetadataPatch::fresh(new.metadata.as_ref()),
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": new.reason,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    });
    let mut after = charge.clone();
    set(&mut after, "amount_refunded", json!(refunded + take));
    set(&mut after, "refunded", json!(refunded + take == amount));
    Ok((refund, after))
}

/// A dispute opened on `charge` (a chargeback that needs a response), and the charge after it.
///
/// # Errors
/// A charge disputed already, or refunded in full.
pub(crate) fn open_dispute(
    id: &str,
    charge: &Value,
    reason: &str,
    stamp: Stamp,
) -> Result<(Value, Value), StripeError> {
    let charge_id = text(charge, "id").unwrap_or_default();
    if charge["disputed"] == json!(true) {
        return Err(StripeError::invalid(format!(
            "Charge {charge_id} is already disputed."
        )));
    }
    if charge["refunded"] == json!(true) {
        return Err(StripeError::invalid(format!(
            "Charge {charge_id} has been refunded in full and cannot be disputed."
        )));
    }
    let nothing = Value::Null;
    let dispute = json!({
        "id": id,
        "object": "dispute",
        "amount": int(charge, "amount").unwrap_or(0) - int(charge, "amount_refunded").unwrap_or(0),
        "balance_transactions": [],
        "charge": charge_id,
        "created": stamp.now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {"access_activity_log": nothing, "billing_address": nothing, "cancellation_policy": nothing,
            "cancellation_policy_disclosure": nothing, "cancellation_rebuttal": nothing,
            "customer_communication": nothing, "customer_email_address": nothing, "customer_name": nothing,
            "customer_purchase_ip": nothing, "customer_signature": nothing,
            "duplicate_charge_documentation": nothing, "duplicate_charge_explanation": nothing,
            "duplicate_charge_id": nothing, "enhanced_evidence": {}, "product_description": nothing,
            "receipt": nothing, "refund_policy": nothing, "refund_policy_disclosure": nothing,
            "refund_refusal_explanation": nothing, "service_date": nothing, "service_documentation": nothing,
            "shipping_address": nothing, "shipping_carrier": nothing, "shipping_date": nothing,
            "shipping_documentation": nothing, "shipping_tracking_number": nothing,
            "uncategorized_file": nothing, "uncategorized_text": nothing},
        "evidence_details": {"due_by": stamp.now + 7 * 24 * 3600, "enhanced_eligibility": {},
            "has_evidence": false, "past_due": false, "submission_count": 0,
            "submission_method": "not_submitted"},
        "intended_submission_method": null,
        "is_charge_refundable": false,
        "livemode": stamp.livemode,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback",
            "network_reason_code": "10.4"}, "type": "card"},
        "reason": reason,
        "status": "needs_response",
    });
    let mut after = charge.clone();
    set(&mut after, "disputed", json!(true));
    Ok((dispute, after))
}

/// The dispute closed `won` or `lost`.
///
/// # Errors
/// A dispute closed already.
pub(crate) fn close_dispute(dispute: &Value, status: &str) -> Result<Value, StripeError> {
    let current = text(dispute, "status").unwrap_or_default();
    if matches!(current, "won" | "lost" | "warning_closed") {
        return Err(StripeError::invalid(format!(
            "This dispute is already closed (status: {current})."
        )));
    }
    let mut out = dispute.clone();
    set(&mut out, "status", json!(status));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        now: 1_700_000_000,
        livemode: false,
    };

    fn paid_charge() -> Value {
        let intent = json!({"id": "pi_1", "amount": 1500, "currency": "usd", "customer": "cus_1", "metadata": {}});
        charge("ch_1", &intent, Some("a@example.test"), STAMP)
    }

    #[test]
    fn a_paid_invoice_is_charged_its_amount_paid_and_described_by_its_reason() {
        let cases = [
            (
                "subscription_create",
                900,
                Some((900, "Subscription creation")),
            ),
            (
                "subscription_cycle",
                900,
                Some((900, "Subscription update")),
            ),
            (
                "subscription_update",
                450,
                Some((450, "Subscription update")),
            ),
            ("subscription_create", 0, None),
        ];
        for (reason, paid, expected) in cases {
            let invoice = json!({"id": "in_1", "amount_paid": paid, "currency": "usd",
                "customer": "cus_1", "billing_reason": reason});

            let intent = invoice_intent("pi_1", "pi_1_secret_x", &invoice, STAMP);

            let got = intent.as_ref().map(|i| {
                assert_eq!(
                    (i["status"].clone(), i["customer"].clone()),
                    (json!("succeeded"), json!("cus_1"))
                );
                (
                    int(i, "amount").unwrap_or(0),
                    text(i, "description").unwrap_or_default().to_owned(),
                )
            });
            let want = expected.map(|(a, d)| (a, d.to_owned()));
            assert_eq!(got, want, "{reason} paying {paid}");
        }
    }

    #[test]
    fn an_invoice_charge_carries_the_intents_description() {
        let invoice = json!({"amount_paid": 900, "currency": "usd", "customer": "cus_1",
            "billing_reason": "subscription_create"});
        let intent = invoice_intent("pi_1", "s", &invoice, STAMP).unwrap_or_default();

        let charge = charge("ch_1", &intent, None, STAMP);

        assert_eq!(
            (
                charge["amount"].clone(),
                charge["description"].clone(),
                charge["payment_intent"].clone()
            ),
            (json!(900), json!("Subscription creation"), json!("pi_1"))
        );
    }

    fn params(pairs: &[(&str, &str)]) -> Params {
        let map: Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        Params::new(map)
    }

    fn ask(amount: Option<i64>) -> NewRefund {
        NewRefund {
            charge: Some("ch_1".into()),
            payment_intent: None,
            amount,
            reason: None,
            metadata: None,
        }
    }

    #[test]
    fn a_charge_pays_its_intent_in_full_and_becomes_its_latest_charge() {
        let intent = json!({"id": "pi_1", "amount": 1500, "currency": "usd", "customer": "cus_1", "latest_charge": null});
        let charge = charge("ch_1", &intent, None, STAMP);

        assert_eq!(
            (charge["amount"].clone(), charge["payment_intent"].clone()),
            (json!(1500), json!("pi_1"))
        );
        assert_eq!(charged(&intent, &charge)["latest_charge"], json!("ch_1"));
    }

    #[test]
    fn refunds_take_from_what_is_left_until_the_charge_is_refunded() {
        let (first, partly) = refund("re_1", &ask(Some(500)), &paid_charge(), STAMP)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let (rest, fully) =
            refund("re_2", &ask(None), &partly, STAMP).unwrap_or_else(|e| panic!("{e:?}"));

        assert_eq!(
            (
                first["amount"].clone(),
                partly["amount_refunded"].clone(),
                partly["refunded"].clone()
            ),
            (json!(500), json!(500), json!(false))
        );
        assert_eq!(
            (
                rest["amount"].clone(),
                fully["amount_refunded"].clone(),
                fully["refunded"].clone()
            ),
            (json!(1000), json!(1500), json!(true))
        );
        let again = refund("re_3", &ask(None), &fully, STAMP).map(|_| ());
        assert_eq!(
            again.map_err(|e| e.code),
            Err(Some("charge_already_refunded".into()))
        );
    }

    #[test]
    fn refunds_that_cannot_be_given_are_refused_with_stripes_codes() {
        let mut disputed = paid_charge();
        set(&mut disputed, "disputed", json!(true));
        let cases = [
            (
                "more than is left",
                ask(Some(1501)),
                paid_charge(),
                "amount_too_large",
            ),
            ("a disputed charge", ask(None), disputed, "charge_disputed"),
        ];
        for (why, new, charge, code) in cases {
            let refused = refund("re_1", &new, &charge, STAMP).map(|_| ());
            assert_eq!(refused.map_err(|e| e.code), Err(Some(code.into())), "{why}");
        }
    }

    #[test]
    fn a_refund_names_a_charge_or_a_payment_intent_and_a_positive_amount() {
        let cases: [(&str, &[(&str, &str)]); 4] = [
            ("neither", &[]),
            ("both", &[("charge", "ch_1"), ("payment_intent", "pi_1")]),
            ("zero", &[("charge", "ch_1"), ("amount", "0")]),
            ("unknown reason", &[("charge", "ch_1"), ("reason", "bored")]),
        ];
        for (why, pairs) in cases {
            assert!(parse_refund(&mut params(pairs)).is_err(), "{why}");
        }
        let ok = parse_refund(&mut params(&[
            ("payment_intent", "pi_1"),
            ("amount", "200"),
        ]))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (ok.payment_intent.as_deref(), ok.amount),
            (Some("pi_1"), Some(200))
        );
    }

    #[test]
    fn a_dispute_opens_once_and_closes_once() {
        let (dispute, charge) = open_dispute("dp_1", &paid_charge(), "fraudulent", STAMP)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let won = close_dispute(&dispute, "won").unwrap_or_else(|e| panic!("{e:?}"));

        assert_eq!(
            (
                dispute["status"].clone(),
                dispute["charge"].clone(),
                charge["disputed"].clone()
            ),
            (json!("needs_response"), json!("ch_1"), json!(true))
        );
        assert_eq!(won["status"], json!("won"));
        assert!(open_dispute("dp_2", &charge, "fraudulent", STAMP).is_err());
        assert!(close_dispute(&won, "lost").is_err());
    }
}
