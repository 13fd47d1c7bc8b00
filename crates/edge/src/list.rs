//! List routes: the requested page from the query string, and the `{ data, total, page,
//! pageSize }` answer.

use crate::{ApiError, Ctx, json};
use tollgate::ListPage;
use tollgate::paging::Page;
use worker::Response;

/// The page a list request asks for (`page`, `pageSize`).
///
/// # Errors
/// 422 with field errors for out-of-range values.
pub fn page(ctx: &Ctx) -> Result<Page, ApiError> {
    let pairs = ctx.query();
    Page::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ApiError::Validation)
}

/// A 200 list answer: the page's rows through `view`, with the list's total.
///
/// # Errors
/// When the answer cannot be serialized.
pub fn respond<R, V: serde::Serialize>(
    rows: Vec<R>,
    total: u64,
    page: Page,
    view: impl FnMut(R) -> V,
) -> Result<Response, ApiError> {
    let data = rows.into_iter().map(view).collect();
    json(
        200,
        &ListPage {
            data,
            total,
            page: page.page,
            page_size: page.page_size,
        },
    )
}
