//! The developer console API (the `platform` worker): request inputs, validated into domain
//! values, and the JSON views it answers with. Mirrors `schemas/openapi.yaml`.

use crate::project::{Mode, ProjectName, ProjectType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Field errors: field → reasons.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

fn field_error(errors: &mut FieldErrors, field: &str, reason: &str) {
    errors
        .entry(field.to_owned())
        .or_default()
        .push(reason.to_owned());
}

/// A required project name, or its field error.
fn required_name(errors: &mut FieldErrors, raw: Option<&str>) -> Option<ProjectName> {
    match raw.map(ProjectName::parse) {
        Some(Ok(name)) => Some(name),
        Some(Err(reason)) => {
            field_error(errors, "name", reason);
            None
        }
        None => {
            field_error(errors, "name", "is required");
            None
        }
    }
}

/// `POST /v1/projects`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectInput {
    /// Display name.
    pub name: Option<String>,
    /// `saas` or `store`.
    #[serde(rename = "type")]
    pub project_type: Option<String>,
    /// `test` (default) or `live`.
    pub mode: Option<String>,
}

/// A validated project creation.
#[derive(Debug, PartialEq, Eq)]
pub struct NewProject {
    /// Display name.
    pub name: ProjectName,
    /// Fixed at creation.
    pub project_type: ProjectType,
    /// Fixed at creation.
    pub mode: Mode,
}

impl CreateProjectInput {
    /// Validates every field at once.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn validate(self) -> Result<NewProject, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = required_name(&mut errors, self.name.as_deref());
        let project_type = match self.project_type.as_deref().map(ProjectType::parse) {
            Some(Some(t)) => Some(t),
            Some(None) => {
                field_error(&mut errors, "type", "must be saas or store");
                None
            }
            None => {
                field_error(&mut errors, "type", "is required (saas or store)");
                None
            }
        };
        let mode = match self.mode.as_deref() {
            None => Some(Mode::Test),
            Some(raw) => Mode::parse(raw).or_else(|| {
                field_error(&mut errors, "mode", "must be test or live");
                None
            }),
        };
        match (name, project_type, mode) {
            (Some(name), Some(project_type), Some(mode)) if errors.is_empty() => Ok(NewProject {
                name,
                project_type,
                mode,
            }),
            _ => Err(errors),
        }
    }
}

/// `PATCH /v1/projects/{id}`: a new name and/or new checkout limits, guarded by the
/// `updatedAt` the caller last read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RenameProjectInput {
    /// The new name.
    pub name: Option<String>,
    /// The checkout limits to change (the others keep their values).
    pub checkout_limits: Option<crate::holds::CheckoutLimitsInput>,
    /// The project's `updatedAt` as the caller read it.
    pub updated_at: Option<i64>,
}

/// A validated project edit.
#[derive(Debug)]
pub struct ProjectEdit {
    /// The new name, if one was sent.
    pub name: Option<ProjectName>,
    /// The new limits, if any were sent (not yet applied to the project's own).
    pub checkout_limits: Option<crate::holds::CheckoutLimitsInput>,
    /// The `updatedAt` the caller read.
    pub expected: i64,
}

impl RenameProjectInput {
    /// Validates the edit: a name (if sent) and the `updatedAt` guard; at least one change.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn validate(self) -> Result<ProjectEdit, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = match (&self.name, &self.checkout_limits) {
            (None, Some(_)) => None,
            _ => required_name(&mut errors, self.name.as_deref()),
        };
        if self.updated_at.is_none() {
            field_error(
                &mut errors,
                "updatedAt",
                "is required: send the updatedAt you last read",
            );
        }
        match self.updated_at {
            Some(expected) if errors.is_empty() => Ok(ProjectEdit {
                name,
                checkout_limits: self.checkout_limits,
                expected,
            }),
            _ => Err(errors),
        }
    }
}

/// `POST /v1/projects/{id}/keys/rotate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateKeyInput {
    /// How long the old key keeps working, in seconds (0–604 800; default 0).
    pub grace_period_seconds: Option<i64>,
}

/// The longest grace period: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 24 * 60 * 60;

impl RotateKeyInput {
    /// The grace period in seconds.
    ///
    /// # Errors
    /// When it is outside 0–7 days.
    pub fn validate(self) -> Result<i64, FieldErrors> {
        let grace = self.grace_period_seconds.unwrap_or(0);
        if (0..=MAX_GRACE_SECONDS).contains(&grace) {
            Ok(grace)
        } else {
            let mut errors = FieldErrors::new();
            field_error(
                &mut errors,
                "gracePeriodSeconds",
                "must be from 0 to 604800 (7 days)",
            );
            Err(errors)
        }
    }
}

/// A platform (`GET /v1/platform`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformView {
    /// `plt_…`
    pub id: String,
    /// The developer's email, when their issuer shares it.
    pub email: Option<String>,
    /// The developer's own Tollgate subscription state.
    pub billing_status: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// A project. Never carries a secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    /// `prj_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// `saas` or `store`.
    #[serde(rename = "type")]
    pub project_type: String,
    /// `test` or `live`.
    pub mode: String,
    /// The publishable key (public by design).
    pub publishable_key: String,
    /// The test project a live project was promoted from.
    pub promoted_from: Option<String>,
    /// The project's own identity provider for end-user JWTs, if configured.
    pub end_user_auth: Option<EndUserAuth>,
    /// What one buyer (and one guest address) may hold and open at checkout.
    pub checkout_limits: crate::holds::CheckoutLimits,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms): send it back with edits.
    pub updated_at: i64,
}

/// A secret key's metadata: never the key.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// `key_…`
    pub id: String,
    /// `sk_test_…abcd`: enough to recognise the key, not to use it.
    pub display: String,
    /// `sk_test_` / `sk_live_`.
    pub prefix: String,
    /// The last four characters.
    pub last4: String,
    /// `active`, `rotated` (working until `expiresAt`) or `revoked`.
    pub status: crate::KeyStatus,
    /// When a rotated key stops working (ms).
    pub expires_at: Option<i64>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Rotation time (ms).
    pub rotated_at: Option<i64>,
    /// Revocation time (ms).
    pub revoked_at: Option<i64>,
    /// When it last authenticated a request, to within a few minutes (ms); `None` if never.
    pub last_used_at: Option<i64>,
}

/// The answer to a project creation: the only time its secret key is shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedProject {
    /// The project.
    pub project: ProjectView,
    /// The secret key, shown once.
    pub secret_key: String,
    /// The secret key's metadata.
    pub key: KeyView,
}

/// The answer to a rotation: the only time the new secret key is shown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotatedKey {
    /// The new secret key, shown once.
    pub secret_key: String,
    /// The new key's metadata.
    pub key: KeyView,
    /// The key it replaced (working until its `expiresAt`), if there was an active one.
    pub previous: Option<KeyView>,
}

/// One audit event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    /// `aud_…`
    pub id: String,
    /// The project concerned, if any.
    pub project_id: Option<String>,
    /// Who acted (the developer's subject).
    pub actor: String,
    /// What they did, e.g. `project.created`.
    pub action: String,
    /// The kind of record changed.
    pub target_type: String,
    /// The record changed.
    pub target_id: String,
    /// The request that made the change.
    pub request_id: String,
    /// The caller's address, when known.
    pub ip: Option<String>,
    /// The caller's user agent, when sent.
    pub user_agent: Option<String>,
    /// Redacted detail.
    pub metadata: serde_json::Value,
    /// When (ms).
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(name: Option<&str>, kind: Option<&str>, mode: Option<&str>) -> CreateProjectInput {
        CreateProjectInput {
            name: name.map(str::to_owned),
            project_type: kind.map(str::to_owned),
            mode: mode.map(str::to_owned),
        }
    }

    #[test]
    fn a_new_project_defaults_to_test_mode() {
        let project = create(Some("Shop"), Some("store"), None)
            .validate()
            .unwrap();
        assert_eq!(
            (project.project_type, project.mode),
            (ProjectType::Store, Mode::Test)
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = create(Some(""), Some("membership"), Some("prod"))
            .validate()
            .unwrap_err();
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["mode", "name", "type"]);
    }

    #[test]
    fn missing_required_fields_are_named() {
        let errors = create(None, None, None).validate().unwrap_err();
        assert!(errors.contains_key("name") && errors.contains_key("type"));
    }

    #[test]
    fn a_rename_needs_the_updated_at_it_read() {
        let input = RenameProjectInput {
            name: Some("New".into()),
            checkout_limits: None,
            updated_at: None,
        };
        assert!(input.validate().unwrap_err().contains_key("updatedAt"));
    }

    #[test]
    fn an_edit_may_change_only_the_checkout_limits_but_must_change_something() {
        let limits_only = RenameProjectInput {
            name: None,
            checkout_limits: Some(crate::holds::CheckoutLimitsInput::default()),
            updated_at: Some(5),
        }
        .validate()
        .expect("limits alone are an edit");
        let nothing = RenameProjectInput {
            name: None,
            checkout_limits: None,
            updated_at: Some(5),
        }
        .validate();

        assert!(limits_only.name.is_none());
        assert_eq!(limits_only.expected, 5);
        assert!(nothing.unwrap_err().contains_key("name"));
    }

    #[test]
    fn grace_periods_range_from_zero_to_seven_days() {
        for (grace, ok) in [
            (None, true),
            (Some(0), true),
            (Some(604_800), true),
            (Some(-1), false),
            (Some(604_801), false),
        ] {
            let outcome = RotateKeyInput {
                grace_period_seconds: grace,
            }
            .validate();
            assert_eq!(outcome.is_ok(), ok, "{grace:?}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_by_the_input_types() {
        assert!(
            serde_json::from_str::<CreateProjectInput>(r#"{"name":"a","type":"saas","plan":"x"}"#)
                .is_err()
        );
        assert!(serde_json::from_str::<RotateKeyInput>(r#"{"grace":1}"#).is_err());
    }
}

/// `PUT /v1/projects/{id}/end-user-auth`: the project's own identity provider for end-user
/// JWTs (Clerk, Auth0, …).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndUserAuthInput {
    /// The `iss` the provider's tokens carry.
    pub issuer: Option<String>,
    /// Where the provider publishes its public keys.
    pub jwks_url: Option<String>,
    /// The audience the tokens must carry.
    pub audience: Option<String>,
}

/// A validated end-user identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndUserAuth {
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Its JWKS URL.
    pub jwks_url: String,
    /// The required audience.
    pub audience: String,
}

/// `https://…`, or `http://127.0.0.1…` / `http://localhost…` when local URLs are allowed.
fn url_ok(raw: &str, allow_local_http: bool) -> bool {
    let local = raw.starts_with("http://127.0.0.1") || raw.starts_with("http://localhost");
    (raw.starts_with("https://") || (allow_local_http && local))
        && raw.len() <= 512
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl EndUserAuthInput {
    /// Validates every field; local `http://` URLs only when `allow_local_http` (development).
    /// Tollgate fetches the JWKS URL, so it obeys the webhook endpoint host rules
    /// ([`crate::outbound::check_url`]: https to a public host, never a private, link-local or
    /// metadata address; loopback only in development). The issuer is only compared, never
    /// fetched.
    ///
    /// # Errors
    /// Every invalid field with its reason.
    pub fn validate(self, allow_local_http: bool) -> Result<EndUserAuth, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut url = |field: &str, value: Option<String>| match value {
            Some(v) if url_ok(v.trim(), allow_local_http) => Some(v.trim().to_owned()),
            Some(_) => {
                field_error(
                    &mut errors,
                    field,
                    "must be an https:// URL of at most 512 characters",
                );
                None
            }
            None => {
                field_error(&mut errors, field, "is required");
                None
            }
        };
        let issuer = url("issuer", self.issuer);
        // The webhook endpoints' host rules: loopback only on a development deployment.
        let reach = if allow_local_http {
            crate::outbound::Reach::new(Mode::Test, true)
        } else {
            crate::outbound::Reach::new(Mode::Live, false)
        };
        let jwks_url = match self.jwks_url.as_deref().map(str::trim) {
            Some(raw) if raw.len() > 512 => {
                field_error(&mut errors, "jwksUrl", "must be at most 512 characters");
                None
            }
            Some(raw) => match crate::outbound::check_url(raw, reach) {
                Ok(url) => Some(url),
                Err(why) => {
                    field_error(&mut errors, "jwksUrl", why);
                    None
                }
            },
            None => {
                field_error(&mut errors, "jwksUrl", "is required");
                None
            }
        };
        let audience = match self.audience.map(|a| a.trim().to_owned()) {
            Some(a) if (1..=255).contains(&a.len()) && !a.chars().any(char::is_control) => Some(a),
            _ => {
                field_error(&mut errors, "audience", "is required: 1–255 characters");
                None
            }
        };
        match (issuer, jwks_url, audience) {
            (Some(issuer), Some(jwks_url), Some(audience)) if errors.is_empty() => {
                Ok(EndUserAuth {
                    issuer,
                    jwks_url,
                    audience,
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod end_user_auth_tests {
    use super::*;

    fn input(issuer: &str, jwks: &str, aud: &str) -> EndUserAuthInput {
        EndUserAuthInput {
            issuer: Some(issuer.into()),
            jwks_url: Some(jwks.into()),
            audience: Some(aud.into()),
        }
    }

    #[test]
    fn https_issuers_are_accepted_everywhere() {
        assert!(
            input(
                "https://clerk.example.com",
                "https://clerk.example.com/.well-known/jwks.json",
                "app"
            )
            .validate(false)
            .is_ok()
        );
    }

    #[test]
    fn local_http_issuers_are_accepted_only_in_development() {
        let local = || {
            input(
                "http://127.0.0.1:8787",
                "http://127.0.0.1:8787/.well-known/jwks.json",
                "app",
            )
        };
        assert!(local().validate(true).is_ok());
        assert!(local().validate(false).unwrap_err().contains_key("issuer"));
    }

    #[test]
    fn jwks_urls_obey_the_webhook_host_rules() {
        let cases: &[(&str, bool, bool)] = &[
            ("https://idp.example.com/.well-known/jwks.json", false, true),
            ("https://idp.example.com/.well-known/jwks.json", true, true),
            ("http://idp.example.com/jwks", true, false),
            ("http://127.0.0.1:9000/jwks", true, true),
            ("http://127.0.0.1:9000/jwks", false, false),
            ("https://localhost/jwks", false, false),
            ("https://10.0.0.5/jwks", true, false),
            ("https://192.168.1.1/jwks", false, false),
            ("https://169.254.169.254/latest/meta-data", true, false),
            ("https://169.254.169.254/latest/meta-data", false, false),
            ("https://[fd00::1]/jwks", false, false),
            ("https://2130706433/jwks", false, false),
            ("https://user:pw@idp.example.com/jwks", false, false),
            ("https://intranet/jwks", false, false),
        ];
        for (jwks, development, ok) in cases {
            let outcome = input("https://idp.example.com", jwks, "app").validate(*development);
            assert_eq!(outcome.is_ok(), *ok, "{jwks} (development: {development})");
            if let Err(errors) = outcome {
                assert_eq!(errors.keys().collect::<Vec<_>>(), ["jwksUrl"], "{jwks}");
            }
        }
    }

    #[test]
    fn plain_http_and_missing_fields_are_refused() {
        let errors = EndUserAuthInput {
            issuer: Some("http://evil.example".into()),
            jwks_url: None,
            audience: Some(String::new()),
        }
        .validate(true)
        .unwrap_err();
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["audience", "issuer", "jwksUrl"]
        );
    }
}
