//! The customer API (the `api` worker): inputs validated into domain values, and the views
//! it answers with. dream-api's field names are kept (a superset), so its SDK keeps working.

use crate::console::FieldErrors;
use crate::end_user::{Email, MAX_TOKEN_SECONDS, parse_external_id};
use serde::{Deserialize, Serialize};

fn field_error(errors: &mut FieldErrors, field: &str, reason: &str) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(reason.to_owned());
}

/// A person's name part: trimmed, at most 100 characters, no control characters.
fn name_part(errors: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<String> {
    let text = raw?.trim();
    if text.chars().count() > 100 || text.chars().any(char::is_control) {
        field_error(
            errors,
            field,
            "must be at most 100 characters without control characters",
        );
        return None;
    }
    (!text.is_empty()).then(|| text.to_owned())
}

/// A tier name as sent (`plan`): 1–64 characters of `a–z 0–9 _ -`.
fn plan_name(errors: &mut FieldErrors, raw: Option<&str>) -> Option<String> {
    let text = raw?.trim();
    let ok = (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        field_error(errors, "plan", "must be a tier name (a–z, 0–9, _ and -)");
        return None;
    }
    Some(text.to_owned())
}

/// An email field: `Some` when valid; an error when invalid, or when absent and `required`.
fn email_field(errors: &mut FieldErrors, raw: Option<&str>, required: bool) -> Option<Email> {
    match raw.map(Email::parse) {
        Some(Ok(email)) => Some(email),
        Some(Err(reason)) => {
            field_error(errors, "email", reason);
            None
        }
        None => {
            if required {
                field_error(errors, "email", "is required");
            }
            None
        }
    }
}

/// `POST /api/customers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateCustomerInput {
    /// Required.
    pub email: Option<String>,
    /// The developer's own id for this user.
    pub external_id: Option<String>,
    /// A tier name; absent means the project's default tier.
    pub plan: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Sent by dream-api's SDK; Tollgate keeps no passwords, so it is accepted and dropped.
    pub password: Option<serde::de::IgnoredAny>,
}

/// A validated customer creation.
#[derive(Debug, PartialEq, Eq)]
pub struct NewCustomer {
    /// Email.
    pub email: Email,
    /// External id.
    pub external_id: Option<String>,
    /// Assigned tier.
    pub plan: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
}

impl CreateCustomerInput {
    /// Validates every field at once.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn validate(self) -> Result<NewCustomer, FieldErrors> {
        let mut errors = FieldErrors::new();
        let email = email_field(&mut errors, self.email.as_deref(), true);
        let external_id = match self.external_id.as_deref().map(parse_external_id) {
            Some(Ok(id)) => Some(id),
            Some(Err(reason)) => {
                field_error(&mut errors, "externalId", reason);
                None
            }
            None => None,
        };
        let plan = plan_name(&mut errors, self.plan.as_deref());
        let first_name = name_part(&mut errors, "firstName", self.first_name.as_deref());
        let last_name = name_part(&mut errors, "lastName", self.last_name.as_deref());
        match email {
            Some(email) if errors.is_empty() => Ok(NewCustomer {
                email,
                external_id,
                plan,
                first_name,
                last_name,
            }),
            _ => Err(errors),
        }
    }
}

/// `PATCH /api/customers/{id}`: only the fields sent change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateCustomerInput {
    /// New email.
    pub email: Option<String>,
    /// New assigned tier.
    pub plan: Option<String>,
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
}

/// A validated update.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CustomerChanges {
    /// New email.
    pub email: Option<Email>,
    /// New assigned tier.
    pub plan: Option<String>,
    /// New first name.
    pub first_name: Option<String>,
    /// New last name.
    pub last_name: Option<String>,
}

impl UpdateCustomerInput {
    /// Validates the fields sent.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn validate(self) -> Result<CustomerChanges, FieldErrors> {
        let mut errors = FieldErrors::new();
        let email = email_field(&mut errors, self.email.as_deref(), false);
        let plan = plan_name(&mut errors, self.plan.as_deref());
        let first_name = name_part(&mut errors, "firstName", self.first_name.as_deref());
        let last_name = name_part(&mut errors, "lastName", self.last_name.as_deref());
        if errors.is_empty() {
            Ok(CustomerChanges {
                email,
                plan,
                first_name,
                last_name,
            })
        } else {
            Err(errors)
        }
    }
}

/// `POST /api/customer-token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CustomerTokenInput {
    /// The end user: `cus_…` or the developer's external id.
    pub user_id: Option<String>,
    /// Lifetime in seconds (1–3600; default 3600).
    pub expires_in: Option<i64>,
}

impl CustomerTokenInput {
    /// The end user reference and lifetime.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn validate(self) -> Result<(String, i64), FieldErrors> {
        let mut errors = FieldErrors::new();
        let user = match self.user_id.as_deref().map(parse_external_id) {
            Some(Ok(id)) => Some(id),
            Some(Err(reason)) => {
                field_error(&mut errors, "userId", reason);
                None
            }
            None => {
                field_error(&mut errors, "userId", "is required");
                None
            }
        };
        let lifetime = self.expires_in.unwrap_or(MAX_TOKEN_SECONDS);
        if !(1..=MAX_TOKEN_SECONDS).contains(&lifetime) {
            field_error(&mut errors, "expiresIn", "must be from 1 to 3600 seconds");
        }
        match user {
            Some(user) if errors.is_empty() => Ok((user, lifetime)),
            _ => Err(errors),
        }
    }
}

/// `POST /api/data` and `POST /api/usage/track`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackInput {
    /// Units this call costs (default 1; 0 checks without counting).
    pub cost: Option<i64>,
}

/// A customer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerView {
    /// `cus_…`
    pub id: String,
    /// The developer's own id.
    pub external_id: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// The assigned tier (`null` = the project's default).
    pub plan: Option<String>,
    /// The project's publishable key (dream-api's field).
    pub publishable_key: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub updated_at: i64,
}

/// A customer answer: ours (`data`) and dream-api's (`success`, `customer`), one view twice.
#[derive(Debug, Serialize)]
pub struct CustomerAnswer<'a> {
    /// The customer.
    pub data: &'a CustomerView,
    /// dream-api's flag: always `true` on a 2xx.
    pub success: bool,
    /// dream-api's copy of `data`.
    pub customer: &'a CustomerView,
}

impl<'a> CustomerAnswer<'a> {
    /// The answer for `customer`.
    #[must_use]
    pub const fn of(customer: &'a CustomerView) -> Self {
        Self {
            data: customer,
            success: true,
            customer,
        }
    }
}

/// The answer to deleting a customer: ours (`data`) and dream-api's (`success`, `message`,
/// `deleted`).
#[derive(Debug, Serialize)]
pub struct CustomerDeleted<'a> {
    /// The id, marked deleted.
    pub data: DeletedRef<'a>,
    /// Always `true`.
    pub success: bool,
    /// What was removed and what was kept.
    pub message: &'static str,
    /// dream-api's view: the id and email deleted.
    pub deleted: DeletedCustomer<'a>,
}

/// `{ id, deleted: true }`.
#[derive(Debug, Serialize)]
pub struct DeletedRef<'a> {
    /// `cus_…`
    pub id: &'a str,
    /// Always `true`.
    pub deleted: bool,
}

/// dream-api's `deleted` object.
#[derive(Debug, Serialize)]
pub struct DeletedCustomer<'a> {
    /// `cus_…`
    pub id: &'a str,
    /// Their email, if any.
    pub email: Option<&'a str>,
}

impl<'a> CustomerDeleted<'a> {
    /// The answer for the customer `id` (with `email`) just deleted.
    #[must_use]
    pub const fn of(id: &'a str, email: Option<&'a str>) -> Self {
        Self {
            data: DeletedRef { id, deleted: true },
            success: true,
            message: "Customer deleted: usage and tokens removed, billing records kept.",
            deleted: DeletedCustomer { id, email },
        }
    }
}

/// An end-user token just minted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerToken<'a> {
    /// The token (`eut_…`).
    pub token: &'a str,
    /// Whom it names.
    pub customer_id: &'a str,
    /// When it stops working (ms).
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_needs_a_valid_email_and_nothing_else() {
        let input: CreateCustomerInput =
            serde_json::from_str(r#"{"email":"ann@example.com","password":"hunter2"}"#).unwrap();
        let customer = input.validate().unwrap();
        assert_eq!(customer.email.as_str(), "ann@example.com");
        assert_eq!(customer.plan, None);
    }

    #[test]
    fn bad_customer_fields_are_reported_together() {
        let input: CreateCustomerInput = serde_json::from_str(
            r#"{"email":"nope","plan":"Pro Plan","externalId":"","firstName":"a\u0007"}"#,
        )
        .unwrap();
        let errors = input.validate().unwrap_err();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["email", "externalId", "firstName", "plan"]
        );
    }

    #[test]
    fn unknown_customer_fields_are_refused() {
        assert!(
            serde_json::from_str::<CreateCustomerInput>(r#"{"email":"a@b.co","role":"admin"}"#)
                .is_err()
        );
    }

    #[test]
    fn customer_tokens_live_at_most_an_hour() {
        let ok = CustomerTokenInput {
            user_id: Some("cus_1".into()),
            expires_in: None,
        }
        .validate()
        .unwrap();
        assert_eq!(ok, ("cus_1".to_owned(), 3600));
        for bad in [0, -5, 3601] {
            let errors = CustomerTokenInput {
                user_id: Some("u".into()),
                expires_in: Some(bad),
            }
            .validate()
            .unwrap_err();
            assert!(errors.contains_key("expiresIn"), "{bad}");
        }
        assert!(
            CustomerTokenInput {
                user_id: None,
                expires_in: None
            }
            .validate()
            .unwrap_err()
            .contains_key("userId")
        );
    }

    #[test]
    fn a_customer_answer_carries_the_customer_twice_for_dream_api_and_a_deletion_says_what_went() {
        let view = CustomerView {
            id: "cus_1".into(),
            external_id: None,
            email: Some("a@example.com".into()),
            first_name: None,
            last_name: None,
            plan: None,
            publishable_key: "pk_test_x".into(),
            created_at: 1,
            updated_at: 2,
        };
        let answer = serde_json::to_value(CustomerAnswer::of(&view)).ok();
        let customer = serde_json::to_value(&view).ok();
        assert_eq!(
            answer.as_ref().map(|a| a["success"].clone()),
            Some(true.into())
        );
        assert_eq!(answer.as_ref().map(|a| a["data"].clone()), customer);
        assert_eq!(answer.map(|a| a["customer"].clone()), customer);
        assert_eq!(
            serde_json::to_value(CustomerDeleted::of("cus_1", Some("a@example.com"))).ok(),
            Some(serde_json::json!({
                "data": { "id": "cus_1", "deleted": true },
                "success": true,
                "message": "Customer deleted: usage and tokens removed, billing records kept.",
                "deleted": { "id": "cus_1", "email": "a@example.com" },
            }))
        );
        assert_eq!(
            serde_json::to_value(CustomerToken {
                token: "eut_x",
                customer_id: "cus_1",
                expires_at: 5000
            })
            .ok(),
            Some(serde_json::json!({ "token": "eut_x", "customerId": "cus_1", "expiresAt": 5000 }))
        );
    }
}
