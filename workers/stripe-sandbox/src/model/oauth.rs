//! Connect OAuth: the authorize request a platform sends a user to, the redirect back with a
//! code (or a refusal), the code exchange's answer, and OAuth's own error shape
//! (`{"error","error_description"}`), which the Stripe libraries turn into their OAuth errors.
//!
//! Codes are single-use and live five minutes; the redirect URI must be http(s) and is
//! validated before anything is sent to it, so a bad request never redirects.

use serde_json::{Value, json};

/// How long an authorization code may be exchanged (ms).
pub(crate) const CODE_LIFETIME_MS: i64 = 5 * 60 * 1000;

/// An error in OAuth's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OAuthError {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
}

impl OAuthError {
    pub(crate) fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    /// 400 `invalid_request`: a parameter is missing or malformed.
    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    /// 400 `invalid_grant`: the code is unknown, used or expired.
    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", description)
    }

    pub(crate) fn body(&self) -> Value {
        json!({ "error": self.error, "error_description": self.description })
    }
}

/// A valid authorize request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Authorize {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) state: Option<String>,
}

/// Whether `text` is a Connect client id: `ca_` and base62.
pub(crate) fn is_client_id(text: &str) -> bool {
    text.strip_prefix("ca_")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Reads an authorize request (the query of `GET /oauth/authorize`, or the form the page
/// posts back).
///
/// # Errors
/// Why the request cannot be served; shown on the page, never sent to the redirect URI.
pub(crate) fn parse_authorize(pairs: &[(String, String)]) -> Result<Authorize, OAuthError> {
    match get(pairs, "response_type") {
        Some("code") => {}
        Some(other) => {
            return Err(OAuthError::new(
                400,
                "unsupported_response_type",
                format!("Unsupported response_type: {other}. Use response_type=code."),
            ));
        }
        None => {
            return Err(OAuthError::invalid_request(
                "No response_type provided. Use response_type=code.",
            ));
        }
    }
    let client_id = get(pairs, "client_id")
        .ok_or_else(|| OAuthError::invalid_request("No client_id provided."))?;
    if !is_client_id(client_id) {
        return Err(OAuthError::new(
            400,
            "invalid_client",
            format!("Invalid client_id: {client_id}. Client ids look like ca_…."),
        ));
    }
    let redirect_uri = get(pairs, "redirect_uri").ok_or_else(|| {
        OAuthError::invalid_request(
            "No redirect_uri provided. The Stripe sandbox has no configured default.",
        )
    })?;
    if !super::is_http_url(redirect_uri) {
        return Err(OAuthError::invalid_request(format!(
            "Invalid redirect_uri: {redirect_uri}. It must be an http(s) URL."
        )));
    }
    let scope = get(pairs, "scope").unwrap_or("read_write");
    if !matches!(scope, "read_write" | "read_only") {
        return Err(OAuthError::new(
            400,
            "invalid_scope",
            format!("Invalid scope: {scope}. Use read_write or read_only."),
        ));
    }
    Ok(Authorize {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_owned(),
        state: get(pairs, "state").map(str::to_owned),
    })
}

/// Percent-encodes a query component (everything but unreserved characters).
pub(crate) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `base` with `pairs` added to its query (before any fragment).
pub(crate) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let (head, fragment) = match base.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (base, None),
    };
    let mut out = head.to_owned();
    let mut separator = if head.contains('?') { '&' } else { '?' };
    for (key, value) in pairs {
        out.push(separator);
        out.push_str(&encode_component(key));
        out.push('=');
        out.push_str(&encode_component(value));
        separator = '&';
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Where the user goes after allowing: the redirect URI with the code, scope and state.
pub(crate) fn granted_redirect(request: &Authorize, code: &str) -> String {
    let mut pairs = vec![("code", code), ("scope", request.scope.as_str())];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    with_query(&request.redirect_uri, &pairs)
}

/// Where the user goes after refusing: the redirect URI with `access_denied` and the state.
pub(crate) fn denied_redirect(request: &Authorize) -> String {
    let mut pairs = vec![
        ("error", "access_denied"),
        ("error_description", "The user denied your request"),
    ];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    with_query(&request.redirect_uri, &pairs)
}

/// The answer to a successful code exchange.
pub(crate) fn token(
    access_token: &str,
    refresh_token: &str,
    publishable_key: &str,
    account: &str,
    scope: &str,
    livemode: bool,
) -> Value {
    json!({
        "access_token": access_token,
        "livemode": livemode,
        "refresh_token": refresh_token,
        "scope": scope,
        "stripe_publishable_key": publishable_key,
        "stripe_user_id": account,
        "token_type": "bearer",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("response_type", "code"),
            ("client_id", "ca_123abc"),
            ("scope", "read_write"),
            ("state", "s t&x"),
            ("redirect_uri", "http://127.0.0.1:8788/callback?mode=test"),
        ]
    }

    #[test]
    fn a_complete_request_is_accepted_with_its_state() {
        let request = parse_authorize(&pairs(&valid())).unwrap();

        assert_eq!(request.client_id, "ca_123abc");
        assert_eq!(request.scope, "read_write");
        assert_eq!(request.state.as_deref(), Some("s t&x"));
    }

    #[test]
    fn the_scope_defaults_to_read_write() {
        let without: Vec<_> = valid().into_iter().filter(|(k, _)| *k != "scope").collect();

        assert_eq!(
            parse_authorize(&pairs(&without)).unwrap().scope,
            "read_write"
        );
    }

    #[test]
    fn invalid_requests_say_what_is_wrong_and_never_redirect() {
        let replace = |key: &str, value: &str| -> Vec<(String, String)> {
            let list: Vec<_> = valid()
                .into_iter()
                .map(|(k, v)| if k == key { (k, value) } else { (k, v) })
                .collect();
            pairs(&list)
        };
        let cases = [
            (
                replace("response_type", "token"),
                "unsupported_response_type",
            ),
            (replace("response_type", ""), "invalid_request"),
            (replace("client_id", ""), "invalid_request"),
            (replace("client_id", "client-1"), "invalid_client"),
            (replace("client_id", "ca_"), "invalid_client"),
            (
                replace("redirect_uri", "javascript:alert(1)"),
                "invalid_request",
            ),
            (replace("redirect_uri", ""), "invalid_request"),
            (replace("scope", "admin"), "invalid_scope"),
        ];
        for (request, error) in cases {
            assert_eq!(
                parse_authorize(&request).unwrap_err().error,
                error,
                "{request:?}"
            );
        }
    }

    #[test]
    fn redirects_append_encoded_parameters_to_an_existing_query() {
        let request = parse_authorize(&pairs(&valid())).unwrap();

        assert_eq!(
            granted_redirect(&request, "ac_1"),
            "http://127.0.0.1:8788/callback?mode=test&code=ac_1&scope=read_write&state=s%20t%26x"
        );
        assert_eq!(
            denied_redirect(&request),
            "http://127.0.0.1:8788/callback?mode=test&error=access_denied&error_description=The%20user%20denied%20your%20request&state=s%20t%26x"
        );
    }

    #[test]
    fn queries_go_before_a_fragment() {
        assert_eq!(
            with_query("https://a.test/cb#top", &[("code", "x")]),
            "https://a.test/cb?code=x#top"
        );
    }

    #[test]
    fn oauth_errors_use_oauth_shape() {
        assert_eq!(
            OAuthError::invalid_grant("Authorization code does not exist: ac_x").body(),
            json!({"error": "invalid_grant", "error_description": "Authorization code does not exist: ac_x"})
        );
    }
}
