//! Stored rows → the console's JSON views, shared by the `platform` and `catalog` workers.

use crate::db::audit::AuditRow;
use crate::db::keys::KeyRow;
use crate::db::platforms::PlatformRow;
use crate::db::projects::ProjectRow;
use tollgate::console::{AuditView, EndUserAuth, KeyView, PlatformView, ProjectView};

/// A platform as the console shows it.
pub fn platform(row: PlatformRow) -> PlatformView {
    PlatformView {
        id: row.id,
        email: row.email,
        billing_status: row.billing_status,
        created_at: row.created_at,
    }
}

/// A project as the console shows it.
pub fn project(row: ProjectRow) -> ProjectView {
    ProjectView {
        id: row.id,
        name: row.name,
        project_type: row.project_type,
        mode: row.mode,
        publishable_key: row.publishable_key,
        promoted_from: row.promoted_from,
        end_user_auth: match (
            row.end_user_issuer,
            row.end_user_jwks_url,
            row.end_user_audience,
        ) {
            (Some(issuer), Some(jwks_url), Some(audience)) => Some(EndUserAuth {
                issuer,
                jwks_url,
                audience,
            }),
            _ => None,
        },
        checkout_limits: tollgate::holds::CheckoutLimits::from_column(&row.checkout_limits),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// A key's metadata (never the key).
pub fn key(row: KeyRow) -> KeyView {
    KeyView {
        display: format!("{}…{}", row.prefix, row.last4),
        id: row.id,
        prefix: row.prefix,
        last4: row.last4,
        status: row.status,
        expires_at: row.expires_at,
        created_at: row.created_at,
        rotated_at: row.rotated_at,
        revoked_at: row.revoked_at,
        last_used_at: row.last_used_at,
    }
}

/// An audit event.
pub fn audit(row: AuditRow) -> AuditView {
    AuditView {
        metadata: serde_json::from_str(&row.metadata).unwrap_or_default(),
        id: row.id,
        project_id: row.project_id,
        actor: row.actor,
        action: row.action,
        target_type: row.target_type,
        target_id: row.target_id,
        request_id: row.request_id,
        ip: row.ip,
        user_agent: row.user_agent,
        created_at: row.created_at,
    }
}
