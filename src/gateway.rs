//! The one public origin: which worker serves a path, by the same prefixes the workers' own
//! route tables use. The gateway worker forwards each request untouched to that worker over
//! a service binding; `tests/gateway.test.mjs` checks every route of the contract answers
//! the same through it as directly.

/// A worker behind the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upstream {
    /// Projects, keys, assets, audit, billing, admin, the console and the development issuer.
    Platform,
    /// Tiers, products, promotion and Stripe Connect.
    Catalog,
    /// The customer API (`/api/…`) and public images (`/assets/public/…`).
    Api,
    /// Stripe's webhooks in, developers' webhooks out, and their events.
    Webhooks,
}

impl Upstream {
    /// The gateway's service binding for this worker.
    #[must_use]
    pub const fn binding(self) -> &'static str {
        match self {
            Self::Platform => "PLATFORM",
            Self::Catalog => "CATALOG",
            Self::Api => "API",
            Self::Webhooks => "WEBHOOKS",
        }
    }
}

/// The project sub-resources the catalog and webhooks workers own (`/v1/projects/{id}/<this>…`).
const CATALOG_UNDER_PROJECT: &[&str] = &["tiers", "products", "promote", "customers"];
const WEBHOOKS_UNDER_PROJECT: &[&str] = &["webhook-endpoints", "webhook-deliveries", "events"];

/// The worker that serves `path`, or `None` for paths no caller outside may reach (the
/// workers' signed `/internal/…` routes, which only service bindings call).
#[must_use]
pub fn upstream(path: &str) -> Option<Upstream> {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or_default();
    Some(match first {
        "internal" => return None,
        // Public images (`/assets/public/…`) are the api worker's, beside its `/api/…` routes.
        "api" | "assets" => Upstream::Api,
        "webhook" => Upstream::Webhooks,
        "authorize" | "callback" => Upstream::Catalog,
        "v1" => match (segments.next(), segments.next(), segments.next()) {
            (Some("stripe"), ..) => Upstream::Catalog,
            (Some("projects"), Some(_), Some(part)) if CATALOG_UNDER_PROJECT.contains(&part) => {
                Upstream::Catalog
            }
            (Some("projects"), Some(_), Some(part)) if WEBHOOKS_UNDER_PROJECT.contains(&part) => {
                Upstream::Webhooks
            }
            _ => Upstream::Platform,
        },
        "dev" if segments.next() == Some("stripe-signature") => Upstream::Webhooks,
        _ => Upstream::Platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_goes_to_the_worker_whose_table_serves_it() {
        let cases = [
            ("/api/data", Some(Upstream::Api)),
            ("/api/downloads/tok_1", Some(Upstream::Api)),
            ("/assets/public/prj_1/img_1", Some(Upstream::Api)),
            ("/webhook/stripe", Some(Upstream::Webhooks)),
            ("/authorize", Some(Upstream::Catalog)),
            ("/callback", Some(Upstream::Catalog)),
            ("/v1/stripe/connections/test", Some(Upstream::Catalog)),
            ("/v1/projects/prj_1/tiers", Some(Upstream::Catalog)),
            (
                "/v1/projects/prj_1/products/itm_1/archive",
                Some(Upstream::Catalog),
            ),
            ("/v1/projects/prj_1/promote", Some(Upstream::Catalog)),
            (
                "/v1/projects/prj_1/customers/cus_1",
                Some(Upstream::Catalog),
            ),
            (
                "/v1/projects/prj_1/webhook-endpoints",
                Some(Upstream::Webhooks),
            ),
            (
                "/v1/projects/prj_1/webhook-deliveries/d_1/resend",
                Some(Upstream::Webhooks),
            ),
            (
                "/v1/projects/prj_1/events/evt_1/reapply",
                Some(Upstream::Webhooks),
            ),
            ("/dev/stripe-signature", Some(Upstream::Webhooks)),
            ("/v1/projects", Some(Upstream::Platform)),
            ("/v1/projects/prj_1", Some(Upstream::Platform)),
            ("/v1/projects/prj_1/keys/rotate", Some(Upstream::Platform)),
            ("/v1/projects/prj_1/dashboard", Some(Upstream::Platform)),
            ("/v1/billing/checkout", Some(Upstream::Platform)),
            ("/console/keys", Some(Upstream::Platform)),
            ("/oauth/token", Some(Upstream::Platform)),
            ("/dev/noop", Some(Upstream::Platform)),
            ("/", Some(Upstream::Platform)),
            ("/internal/reconcile", None),
            ("/internal/keys/forget", None),
        ];
        for (path, expected) in cases {
            assert_eq!(upstream(path), expected, "{path}");
        }
    }
}
