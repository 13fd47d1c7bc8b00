//! The hosted pages, as HTML text: checkout, the Connect authorize screen, the billing portal
//! and plain notices. Every value from a caller or a stored object passes through [`escape`];
//! forms post back to the sandbox, so no page needs JavaScript.

use super::checkout;
use super::{int, text};
use serde_json::Value;
use tollgate::usage::civil_from_days;

/// Escapes text for HTML content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Currencies Stripe counts in whole units (no minor unit).
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// An amount in minor units as people read it: `19.00 USD`, `500 JPY`.
pub(crate) fn money(amount: i64, currency: &str) -> String {
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency) {
        return format!("{amount} {code}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:02} {code}", abs / 100, abs % 100)
}

/// A Unix time as a UTC date (`2026-11-30`).
pub(crate) fn date(unix: i64) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>{title} · Stripe sandbox</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}\
table{{width:100%;border-collapse:collapse}}td,th{{padding:.4rem 0;text-align:left;border-bottom:1px solid #ddd}}\
.amount{{text-align:right}}button{{font-size:1rem;padding:.5rem 1.2rem;margin:.8rem .5rem 0 0}}\
.note{{color:#666;font-size:.9rem}}</style></head>\n<body>\n<p class=\"note\">Stripe sandbox — test page, no real payment</p>\n<h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape(title)
    )
}

/// A page that only says something, with an optional link onward.
pub(crate) fn notice(title: &str, message: &str, link: Option<(&str, &str)>) -> String {
    let link = link.map_or_else(String::new, |(href, label)| {
        format!(
            "<p><a id=\"continue\" href=\"{}\">{}</a></p>",
            escape(href),
            escape(label)
        )
    });
    page(
        title,
        &format!("<p id=\"message\">{}</p>{link}", escape(message)),
    )
}

/// The hosted checkout page of `session` (as stored, with its line items).
pub(crate) fn checkout_page(session: &Value) -> String {
    let id = text(session, "id").unwrap_or_default();
    let currency = text(session, "currency").unwrap_or_default();
    let mut rows = String::new();
    for item in checkout::line_items(session) {
        let description = text(&item, "description").unwrap_or("Item");
        let quantity = int(&item, "quantity").unwrap_or(1);
        let amount = int(&item, "amount_total").unwrap_or(0);
        let every = item["price"]["recurring"]["interval"]
            .as_str()
            .map_or_else(String::new, |i| format!(" / {i}"));
        rows.push_str(&format!(
            "<tr><td>{} × {}</td><td class=\"amount\">{}{}</td></tr>",
            quantity,
            escape(description),
            escape(&money(amount, currency)),
            escape(&every)
        ));
    }
    let total = money(int(session, "amount_total").unwrap_or(0), currency);
    let status = text(session, "status").unwrap_or("open");
    let action = match status {
        "open" => {
            let email = if session["customer"].is_null() && session["customer_email"].is_null() {
                "<p><label>Email <input type=\"email\" name=\"email\" autocomplete=\"email\"></label></p>"
            } else {
                ""
            };
            format!(
                "<form method=\"post\" action=\"/pay/{id}\">{email}\
<button type=\"submit\" name=\"action\" value=\"pay\" id=\"pay\">Pay {total}</button>\
<button type=\"submit\" name=\"action\" value=\"pay_delayed\" id=\"pay-delayed\">Pay by SEPA Direct Debit</button>\
<button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button></form>",
                id = escape(id),
                total = escape(&total)
            )
        }
        "complete" if checkout::awaits_payment(session) => {
            "<p id=\"state\">This checkout is complete: the payment is processing.</p>".to_owned()
        }
        "complete" => "<p id=\"state\">This checkout is complete: it has been paid.</p>".to_owned(),
        _ => "<p id=\"state\">This checkout session has expired. Start a new checkout to pay.</p>"
            .to_owned(),
    };
    let trial = checkout::subscription_data(session)
        .1
        .map_or_else(String::new, |days| {
            format!("<p class=\"note\">Includes a {days}-day free trial.</p>")
        });
    let email = text(session, "customer_email").map_or_else(String::new, |e| {
        format!("<p class=\"note\">For {}</p>", escape(e))
    });
    page(
        "Checkout",
        &format!(
            "{email}<table>{rows}<tr><th>Total</th><th class=\"amount\" id=\"total\">{}</th></tr></table>{trial}{action}",
            escape(&total)
        ),
    )
}

/// The Connect authorize screen for `request`.
pub(crate) fn authorize_page(request: &super::oauth::Authorize) -> String {
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        )
    };
    let mut fields = hidden("response_type", "code");
    fields.push_str(&hidden("client_id", &request.client_id));
    fields.push_str(&hidden("scope", &request.scope));
    fields.push_str(&hidden("redirect_uri", &request.redirect_uri));
    if let Some(state) = &request.state {
        fields.push_str(&hidden("state", state));
    }
    page(
        "Connect your Stripe account",
        &format!(
            "<p>The platform <code>{client}</code> asks for <strong>{scope}</strong> access to a Stripe account. \
Connecting creates a new sandbox account.</p>\
<form method=\"post\" action=\"/oauth/authorize\">{fields}\
<button type=\"submit\" name=\"decision\" value=\"allow\" id=\"connect\">Connect</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Cancel</button></form>",
            client = escape(&request.client_id),
            scope = escape(&request.scope),
        ),
    )
}

/// The billing portal page of portal session `session` for `customer` and their
/// `subscriptions`.
pub(crate) fn portal_page(session: &Value, customer: &Value, subscriptions: &[Value]) -> String {
    let id = text(session, "id").unwrap_or_default();
    let who = text(customer, "email")
        .or_else(|| text(customer, "name"))
        .or_else(|| text(customer, "id"))
        .unwrap_or_default();
    let mut rows = String::new();
    for sub in subscriptions {
        let sub_id = text(sub, "id").unwrap_or_default();
        let item = &sub["items"]["data"][0];
        let price = &item["price"];
        let label = text(price, "nickname")
            .or_else(|| text(price, "id"))
            .unwrap_or_default();
        let amount = money(
            int(price, "unit_amount").unwrap_or(0) * int(item, "quantity").unwrap_or(1),
            text(price, "currency").unwrap_or_default(),
        );
        let every = price["recurring"]["interval"].as_str().unwrap_or_default();
        let status = text(sub, "status").unwrap_or_default();
        let ending = sub["cancel_at_period_end"].as_bool().unwrap_or(false);
        let end = date(int(sub, "current_period_end").unwrap_or(0));
        let (note, action, button) = if ending {
            (format!("Ends on {end}"), "resume", "Resume")
        } else {
            (format!("Renews on {end}"), "cancel", "Cancel at period end")
        };
        let form = if status == "canceled" {
            String::new()
        } else {
            format!(
                "<form method=\"post\" action=\"/portal/{id}/subscriptions/{sub}/{action}\">\
<button type=\"submit\" id=\"{action}-{sub}\">{button}</button></form>",
                id = escape(id),
                sub = escape(sub_id),
            )
        };
        rows.push_str(&format!(
            "<tr id=\"{sub}\"><td>{label}<br><span class=\"note\">{amount} / {every} · {status} · <span class=\"period\">{note}</span></span></td><td>{form}</td></tr>",
            sub = escape(sub_id),
            label = escape(label),
            amount = escape(&amount),
            every = escape(every),
            status = escape(status),
            note = escape(&note),
        ));
    }
    if rows.is_empty() {
        rows.push_str("<tr><td>No subscriptions.</td></tr>");
    }
    let back = text(session, "return_url").map_or_else(String::new, |url| {
        format!(
            "<p><a id=\"return\" href=\"{}\">Return</a></p>",
            escape(url)
        )
    });
    page(
        "Your subscriptions",
        &format!(
            "<p class=\"note\">Signed in as {}</p><table>{rows}</table>{back}",
            escape(who)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x&'y")</script>"#),
            "&lt;script&gt;alert(&quot;x&amp;&#39;y&quot;)&lt;/script&gt;"
        );
    }

    #[test]
    fn amounts_show_minor_units_except_for_zero_decimal_currencies() {
        assert_eq!(money(1900, "usd"), "19.00 USD");
        assert_eq!(money(5, "eur"), "0.05 EUR");
        assert_eq!(money(500, "jpy"), "500 JPY");
        assert_eq!(money(-250, "gbp"), "-2.50 GBP");
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_800_000_000), "2027-01-15");
    }

    fn session(status: &str, name: &str) -> Value {
        json!({"id": "cs_test_1", "status": status, "currency": "usd", "amount_total": 3800,
            "customer": null, "customer_email": null,
            "line_items": {"data": [{"description": name, "quantity": 2, "amount_total": 3800,
                "price": {"recurring": {"interval": "month"}}}]}})
    }

    #[test]
    fn an_open_checkout_shows_lines_total_and_both_buttons() {
        let html = checkout_page(&session("open", "Pro"));

        assert!(html.contains("2 × Pro"));
        assert!(html.contains("id=\"total\">38.00 USD"));
        assert!(html.contains("id=\"pay\""));
        assert!(html.contains("id=\"cancel\""));
        assert!(html.contains("name=\"email\""));
    }

    #[test]
    fn a_closed_checkout_shows_its_state_and_no_pay_button() {
        for status in ["expired", "complete"] {
            let html = checkout_page(&session(status, "Pro"));
            assert!(!html.contains("id=\"pay\""), "{status}");
            assert!(html.contains("id=\"state\""), "{status}");
        }
    }

    #[test]
    fn names_from_callers_cannot_inject_markup() {
        let html = checkout_page(&session("open", "<img src=x onerror=alert(1)>"));

        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    }

    #[test]
    fn the_authorize_page_carries_the_request_in_hidden_fields() {
        let request = super::super::oauth::Authorize {
            client_id: "ca_1".into(),
            redirect_uri: "http://x.test/cb?a=\"b\"".into(),
            scope: "read_write".into(),
            state: Some("st".into()),
        };

        let html = authorize_page(&request);

        assert!(html.contains("name=\"redirect_uri\" value=\"http://x.test/cb?a=&quot;b&quot;\""));
        assert!(html.contains("name=\"state\" value=\"st\""));
        assert!(html.contains("id=\"connect\""));
        assert!(html.contains("id=\"deny\""));
    }

    #[test]
    fn the_portal_offers_cancel_or_resume_per_subscription() {
        let portal = json!({"id": "bps_1", "return_url": "https://app.test/back"});
        let customer = json!({"id": "cus_1", "email": "ann@example.test"});
        let sub = |id: &str, ending: bool| {
            json!({"id": id, "status": "active", "cancel_at_period_end": ending,
            "current_period_end": 1_800_000_000,
            "items": {"data": [{"quantity": 1, "price": {"id": "price_1", "nickname": "Pro", "unit_amount": 1900,
                "currency": "usd", "recurring": {"interval": "month"}}}]}})
        };

        let html = portal_page(
            &portal,
            &customer,
            &[sub("sub_a", false), sub("sub_b", true)],
        );

        assert!(html.contains("action=\"/portal/bps_1/subscriptions/sub_a/cancel\""));
        assert!(html.contains("action=\"/portal/bps_1/subscriptions/sub_b/resume\""));
        assert!(html.contains("Renews on 2027-01-15"));
        assert!(html.contains("Ends on 2027-01-15"));
        assert!(html.contains("href=\"https://app.test/back\""));
        assert!(html.contains("ann@example.test"));
    }
}
