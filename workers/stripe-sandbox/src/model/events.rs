//! Events in the current Stripe shape: what changed (`data.object`, and for updates
//! `data.previous_attributes`), for which account and mode, caused by which request — and
//! which webhook endpoints receive each one.

use super::Filter;
use super::error::StripeError;
use super::params::Params;
use serde_json::{Map, Value, json};

/// The API version events carry: the one Tollgate speaks (and the official SDK targets).
pub(crate) use tollgate::stripe::API_VERSION;

/// An event before it is stored: its type, object and, for updates, the old values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Draft {
    pub(crate) kind: &'static str,
    pub(crate) object: Value,
    pub(crate) previous: Option<Map<String, Value>>,
}

impl Draft {
    pub(crate) fn new(kind: &'static str, object: Value) -> Self {
        Self {
            kind,
            object,
            previous: None,
        }
    }

    /// An update: `previous_attributes` holds the old value of each top-level field that
    /// changed, as Stripe sends it.
    pub(crate) fn update(kind: &'static str, old: &Value, new: Value) -> Self {
        let previous = previous_attributes(old, &new);
        Self {
            kind,
            object: new,
            previous: Some(previous),
        }
    }
}

/// Where an event happened and what caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin<'a> {
    /// The connected account, `None` for the platform's own events.
    pub(crate) account: Option<&'a str>,
    pub(crate) livemode: bool,
    /// The API request that caused it; `None` for things that happen on their own (a
    /// renewal, a payment on the hosted page).
    pub(crate) request_id: Option<&'a str>,
    pub(crate) idempotency_key: Option<&'a str>,
}

/// The top-level fields whose values differ between `old` and `new`, with their old values.
pub(crate) fn previous_attributes(old: &Value, new: &Value) -> Map<String, Value> {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return Map::new();
    };
    old.iter()
        .filter(|(key, value)| new.get(*key) != Some(*value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// A stored event.
pub(crate) fn event(
    id: &str,
    draft: Draft,
    origin: &Origin<'_>,
    created: i64,
    pending_webhooks: usize,
) -> Value {
    let mut data = Map::new();
    data.insert("object".into(), draft.object);
    if let Some(previous) = draft.previous {
        data.insert("previous_attributes".into(), Value::Object(previous));
    }
    let mut event = json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": origin.livemode,
        "pending_webhooks": pending_webhooks,
        "request": {"id": origin.request_id, "idempotency_key": origin.idempotency_key},
        "type": draft.kind,
    });
    if let (Some(account), Some(map)) = (origin.account, event.as_object_mut()) {
        map.insert("account".into(), json!(account));
    }
    event
}

/// A webhook endpoint, as far as routing events is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listener {
    /// The account that owns the endpoint (`None`: the configured default endpoint).
    pub(crate) owner: Option<String>,
    pub(crate) livemode: bool,
    /// Listens to events of connected accounts rather than the owner's own.
    pub(crate) connect: bool,
    pub(crate) enabled_events: Vec<String>,
}

/// Whether `listener` receives an event of type `kind` that happened in `account` (`None`
/// for the platform) and `livemode`. The default endpoint receives everything; an account's
/// own endpoints receive its own events; the platform's Connect endpoints receive its
/// connected accounts' events.
pub(crate) fn receives(
    listener: &Listener,
    kind: &str,
    account: Option<&str>,
    livemode: bool,
    platform: &str,
) -> bool {
    let Some(owner) = &listener.owner else {
        return true;
    };
    let wanted = listener
        .enabled_events
        .iter()
        .any(|e| e == "*" || e == kind);
    let scoped = match account {
        None => owner == platform && !listener.connect,
        Some(connected) => {
            (owner == connected && !listener.connect) || (owner == platform && listener.connect)
        }
    };
    wanted && scoped && listener.livemode == livemode
}

/// The filters of `GET /v1/events`: `type` exactly, or a prefix with a trailing `*`
/// (`customer.subscription.*`).
///
/// # Errors
/// Unknown or malformed parameters.
pub(crate) fn filters(p: &mut Params) -> Result<Vec<Filter>, StripeError> {
    Ok(match p.string("type")?.filter(|t| !t.is_empty()) {
        None => Vec::new(),
        Some(kind) => match kind.strip_suffix('*') {
            Some(prefix) => vec![Filter::Prefix("$.type", prefix.to_owned())],
            None => vec![Filter::Eq("$.type", json!(kind))],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLATFORM: &str = "acct_platform";

    fn listener(owner: &str, connect: bool, events: &[&str]) -> Listener {
        Listener {
            owner: Some(owner.to_owned()),
            livemode: false,
            connect,
            enabled_events: events.iter().map(|e| (*e).to_owned()).collect(),
        }
    }

    #[test]
    fn previous_attributes_hold_the_old_values_of_changed_fields_only() {
        let old = json!({"id": "sub_1", "status": "active", "cancel_at_period_end": false, "metadata": {"a": "1"}});
        let new = json!({"id": "sub_1", "status": "active", "cancel_at_period_end": true, "metadata": {"a": "2"}});

        let previous = previous_attributes(&old, &new);

        assert_eq!(
            Value::Object(previous),
            json!({"cancel_at_period_end": false, "metadata": {"a": "1"}})
        );
    }

    #[test]
    fn a_platform_event_has_no_account_field_and_a_connected_one_names_its_account() {
        let origin = Origin {
            account: None,
            livemode: false,
            request_id: Some("req_1"),
            idempotency_key: Some("k"),
        };
        let platform = event(
            "evt_1",
            Draft::new("customer.created", json!({"id": "cus_1"})),
            &origin,
            5,
            2,
        );
        let connected = event(
            "evt_2",
            Draft::new("customer.created", json!({"id": "cus_2"})),
            &Origin {
                account: Some("acct_x"),
                request_id: None,
                idempotency_key: None,
                ..origin
            },
            5,
            0,
        );

        assert!(platform.get("account").is_none());
        assert_eq!(platform["api_version"], API_VERSION);
        assert_eq!(platform["pending_webhooks"], 2);
        assert_eq!(
            platform["request"],
            json!({"id": "req_1", "idempotency_key": "k"})
        );
        assert!(platform["data"].get("previous_attributes").is_none());
        assert_eq!(connected["account"], "acct_x");
        assert_eq!(
            connected["request"],
            json!({"id": null, "idempotency_key": null})
        );
    }

    #[test]
    fn an_update_event_carries_previous_attributes() {
        let draft = Draft::update(
            "customer.subscription.updated",
            &json!({"status": "active"}),
            json!({"status": "past_due"}),
        );

        let event = event(
            "evt_1",
            draft,
            &Origin {
                account: None,
                livemode: true,
                request_id: None,
                idempotency_key: None,
            },
            1,
            0,
        );

        assert_eq!(
            event["data"]["previous_attributes"],
            json!({"status": "active"})
        );
        assert_eq!(event["data"]["object"]["status"], "past_due");
        assert_eq!(event["livemode"], true);
    }

    #[test]
    fn endpoints_receive_their_own_events_or_with_connect_their_accounts_events() {
        let own = listener(PLATFORM, false, &["*"]);
        let connect = listener(PLATFORM, true, &["*"]);
        let accounts_own = listener("acct_x", false, &["*"]);
        let default = Listener {
            owner: None,
            livemode: true,
            connect: false,
            enabled_events: vec![],
        };

        let cases = [
            (&own, None, true),
            (&own, Some("acct_x"), false),
            (&connect, None, false),
            (&connect, Some("acct_x"), true),
            (&accounts_own, Some("acct_x"), true),
            (&accounts_own, Some("acct_y"), false),
            (&accounts_own, None, false),
            (&default, None, true),
            (&default, Some("acct_x"), true),
        ];
        for (listener, account, expected) in cases {
            assert_eq!(
                receives(listener, "invoice.paid", account, false, PLATFORM),
                expected,
                "{listener:?} {account:?}"
            );
        }
    }

    #[test]
    fn endpoints_receive_only_enabled_types_and_their_own_mode() {
        let picky = listener(PLATFORM, false, &["checkout.session.completed"]);

        assert!(receives(
            &picky,
            "checkout.session.completed",
            None,
            false,
            PLATFORM
        ));
        assert!(!receives(&picky, "invoice.paid", None, false, PLATFORM));
        assert!(!receives(
            &picky,
            "checkout.session.completed",
            None,
            true,
            PLATFORM
        ));
    }

    #[test]
    fn the_type_filter_is_exact_or_a_prefix_with_a_star() {
        let exact = filters(&mut Params::new(
            json!({"type": "invoice.paid"})
                .as_object()
                .cloned()
                .unwrap(),
        ))
        .unwrap();
        let prefix = filters(&mut Params::new(
            json!({"type": "customer.subscription.*"})
                .as_object()
                .cloned()
                .unwrap(),
        ))
        .unwrap();

        assert_eq!(exact, vec![Filter::Eq("$.type", json!("invoice.paid"))]);
        assert_eq!(
            prefix,
            vec![Filter::Prefix("$.type", "customer.subscription.".into())]
        );
    }
}
