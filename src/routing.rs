//! Route tables: which route a method and path select, and the parameters they carry.
//!
//! Matching distinguishes a path nobody serves (404) from a served path asked with the
//! wrong method (405 with the methods that would work), so every worker answers both the
//! same way. `HEAD` is served by the `GET` route of the same path.

use std::fmt;

/// The HTTP methods Tollgate routes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD` (answered by the `GET` route, without a body)
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
}

impl Method {
    /// Parses an upper-case method token; anything else is not routable.
    #[must_use]
    pub fn parse(token: &str) -> Option<Self> {
        Some(match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => return None,
        })
    }

    /// The method token.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a route table: a method, a pattern such as `/v1/projects/{id}`, and the
/// value the worker dispatches on.
#[derive(Clone, Copy, Debug)]
pub struct Route<R> {
    /// The method served.
    pub method: Method,
    /// Literal segments and `{name}` captures, separated by `/`.
    pub pattern: &'static str,
    /// What the worker dispatches on when this entry matches.
    pub route: R,
}

impl<R> Route<R> {
    /// A table entry.
    pub const fn new(method: Method, pattern: &'static str, route: R) -> Self {
        Self {
            method,
            pattern,
            route,
        }
    }
}

/// Path parameters captured by `{name}` segments, in pattern order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The raw text captured for `name`, if the pattern has that capture.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// What a route table says about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Match<R> {
    /// A route serves this method and path.
    Found {
        /// The matched entry's value.
        route: R,
        /// Captured path parameters.
        params: Params,
    },
    /// The path is served, but not with this method.
    MethodNotAllowed {
        /// The methods that are served on this path, for the `Allow` header.
        allow: Vec<Method>,
    },
    /// No route serves this path.
    NotFound,
}

/// Finds the route for `method` and `path` in `table` (first match wins).
#[must_use]
pub fn match_route<R: Copy>(table: &[Route<R>], method: Method, path: &str) -> Match<R> {
    let wanted = if method == Method::Head {
        Method::Get
    } else {
        method
    };
    for entry in table.iter().filter(|entry| entry.method == wanted) {
        if let Some(params) = capture(entry.pattern, path) {
            return Match::Found {
                route: entry.route,
                params,
            };
        }
    }
    let allow = methods_for(table, path);
    if allow.is_empty() {
        Match::NotFound
    } else {
        Match::MethodNotAllowed { allow }
    }
}

/// The methods `table` serves on `path`, sorted, with `HEAD` wherever `GET` is served.
#[must_use]
pub fn methods_for<R>(table: &[Route<R>], path: &str) -> Vec<Method> {
    let mut allow: Vec<Method> = table
        .iter()
        .filter(|entry| capture(entry.pattern, path).is_some())
        .map(|entry| entry.method)
        .collect();
    if allow.contains(&Method::Get) {
        allow.push(Method::Head);
    }
    allow.sort();
    allow.dedup();
    allow
}

/// The decoded `key=value` pairs of a URL's query string (`+` is a space, `%XX` a byte;
/// malformed escapes are kept as written). Parsed by hand so workers need no URL library.
#[must_use]
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map_or("", |(_, rest)| rest);
    form_pairs(query.split_once('#').map_or(query, |(q, _)| q))
}

/// The decoded pairs of `application/x-www-form-urlencoded` text (a query string without its
/// `?`, or a form body), by the same rules as [`query_pairs`].
#[must_use]
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Matches `path` against `pattern` segment by segment; captures never match empty text.
fn capture(pattern: &'static str, path: &str) -> Option<Params> {
    let mut wanted = pattern.strip_prefix('/')?.split('/');
    let mut given = path.strip_prefix('/')?.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(Params(params)),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    params.push((name, g.to_owned()));
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum R {
        Health,
        List,
        Create,
        Show,
        Rename,
        Keys,
    }

    const TABLE: &[Route<R>] = &[
        Route::new(Method::Get, "/health", R::Health),
        Route::new(Method::Get, "/v1/projects", R::List),
        Route::new(Method::Post, "/v1/projects", R::Create),
        Route::new(Method::Get, "/v1/projects/{id}", R::Show),
        Route::new(Method::Patch, "/v1/projects/{id}", R::Rename),
        Route::new(Method::Get, "/v1/projects/{id}/keys", R::Keys),
    ];

    fn found(method: Method, path: &str) -> Option<(R, Params)> {
        match match_route(TABLE, method, path) {
            Match::Found { route, params } => Some((route, params)),
            _ => None,
        }
    }

    #[test]
    fn a_literal_path_selects_its_route() {
        assert_eq!(found(Method::Get, "/health").map(|f| f.0), Some(R::Health));
    }

    #[test]
    fn the_method_chooses_between_routes_on_one_path() {
        assert_eq!(
            found(Method::Get, "/v1/projects").map(|f| f.0),
            Some(R::List)
        );
        assert_eq!(
            found(Method::Post, "/v1/projects").map(|f| f.0),
            Some(R::Create)
        );
    }

    #[test]
    fn captures_are_returned_by_name() {
        let (route, params) = found(Method::Get, "/v1/projects/prj_1/keys").unwrap();
        assert_eq!(route, R::Keys);
        assert_eq!(params.get("id"), Some("prj_1"));
        assert_eq!(params.get("other"), None);
    }

    #[test]
    fn head_is_answered_by_the_get_route() {
        assert_eq!(found(Method::Head, "/health").map(|f| f.0), Some(R::Health));
    }

    #[test]
    fn a_served_path_with_the_wrong_method_lists_the_allowed_methods() {
        let outcome = match_route(TABLE, Method::Delete, "/v1/projects/prj_1");
        assert_eq!(
            outcome,
            Match::MethodNotAllowed {
                allow: vec![Method::Get, Method::Head, Method::Patch]
            }
        );
    }

    #[test]
    fn the_methods_served_on_a_path_include_head_beside_get() {
        assert_eq!(
            methods_for(TABLE, "/v1/projects"),
            vec![Method::Get, Method::Head, Method::Post]
        );
        assert_eq!(methods_for(TABLE, "/nowhere"), vec![]);
    }

    #[test]
    fn paths_nobody_serves_are_not_found() {
        for path in [
            "/",
            "",
            "health",
            "/health/",
            "/healthz",
            "/v1/projects/",
            "/v1/projects//keys",
            "/v1/projects/prj_1/keys/extra",
            "/V1/projects",
        ] {
            assert_eq!(
                match_route(TABLE, Method::Get, path),
                Match::NotFound,
                "{path:?}"
            );
        }
    }

    #[test]
    fn query_pairs_are_decoded_in_order() {
        let pairs =
            query_pairs("https://x.test/v1/projects?page=2&pageSize=10&q=a%20b+c&flag&empty=#frag");
        let expected = [
            ("page", "2"),
            ("pageSize", "10"),
            ("q", "a b c"),
            ("flag", ""),
            ("empty", ""),
        ];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    }

    #[test]
    fn a_url_without_a_query_has_no_pairs_and_bad_escapes_stay_literal() {
        assert!(query_pairs("https://x.test/health").is_empty());
        assert_eq!(query_pairs("/p?a=%zz&b=%4")[0].1, "%zz");
        assert_eq!(query_pairs("/p?a=%zz&b=%4")[1].1, "%4");
        assert_eq!(query_pairs("/p?e=%C3%A9")[0].1, "é");
    }

    #[test]
    fn form_bodies_decode_like_query_strings_without_the_question_mark() {
        let pairs = form_pairs("a%5Bb%5D=1&c=x+y&&d");
        let expected = [("a[b]", "1"), ("c", "x y"), ("d", "")];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
        assert!(form_pairs("").is_empty());
    }

    #[test]
    fn method_tokens_round_trip_and_unknown_tokens_are_refused() {
        for m in [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Patch,
            Method::Delete,
            Method::Options,
        ] {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        for bad in ["get", "TRACE", "CONNECT", ""] {
            assert_eq!(Method::parse(bad), None, "{bad:?}");
        }
    }
}
