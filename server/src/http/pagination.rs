//! DRF-style page numbers for the admin list endpoints, in authentik's shape:
//! `?page=&page_size=` in, `{"pagination": {…}, "results": […], "autocomplete": {}}` out.
//! A page that is not a positive number, or lies past the last page, answers 404
//! `{"detail": "Invalid page."}` as DRF does.

use std::collections::HashMap;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Value};

/// Page size when the client names none (authentik's default).
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// Largest page served, however many the client asks for.
pub const MAX_PAGE_SIZE: u64 = 1000;

/// DRF's positive-integer query parameter: anything else means "not given".
pub(crate) fn positive(params: &HashMap<String, String>, key: &str) -> Option<u64> {
    params
        .get(key)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|n| *n > 0)
}

/// The page a list request asks for: `page` is 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u64,
    pub page_size: u64,
}

impl PageRequest {
    /// Reads `page` (default 1) and `page_size` (default [`DEFAULT_PAGE_SIZE`], at most
    /// [`MAX_PAGE_SIZE`]). `Err` is DRF's "Invalid page." answer.
    pub fn from_query(params: &HashMap<String, String>) -> Result<Self, InvalidPage> {
        let page = match params.get("page") {
            None => 1,
            Some(_) => positive(params, "page").ok_or(InvalidPage)?,
        };
        let page_size = positive(params, "page_size")
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .min(MAX_PAGE_SIZE);
        Ok(Self { page, page_size })
    }

    /// The number of pages `count` items fill (at least one, so page 1 of nothing exists).
    pub fn total_pages(&self, count: u64) -> u64 {
        count.div_ceil(self.page_size).max(1)
    }

    /// `Err(invalid page)` when the page lies past the last one for `count` items.
    pub fn check(&self, count: u64) -> Result<(), InvalidPage> {
        if self.page > self.total_pages(count) {
            Err(InvalidPage)
        } else {
            Ok(())
        }
    }

    /// The list answer for this page of `count` items in all.
    pub fn respond(&self, count: u64, results: Vec<Value>) -> Response {
        let (page, page_size) = (self.page, self.page_size);
        let total_pages = self.total_pages(count);
        let pagination = json!({
            "next": if page < total_pages { page + 1 } else { 0 },
            "previous": page.saturating_sub(1),
            "count": count,
            "current": page,
            "total_pages": total_pages,
            "start_index": if count == 0 { 0 } else { (page - 1) * page_size + 1 },
            "end_index": if page == total_pages { count } else { page * page_size },
        });
        Json(json!({
            "pagination": pagination,
            "results": results,
            "autocomplete": {},
        }))
        .into_response()
    }
}

/// DRF's answer to a page that does not exist: 404 `{"detail": "Invalid page."}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidPage;

impl IntoResponse for InvalidPage {
    fn into_response(self) -> Response {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"detail": "Invalid page."})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_caps_and_bad_pages() {
        let request = PageRequest::from_query(&query(&[])).unwrap();
        assert_eq!(
            request,
            PageRequest {
                page: 1,
                page_size: DEFAULT_PAGE_SIZE
            }
        );
        let request = PageRequest::from_query(&query(&[("page_size", "5000")])).unwrap();
        assert_eq!(request.page_size, MAX_PAGE_SIZE);
        for bad in ["0", "-1", "x", ""] {
            let answer = PageRequest::from_query(&query(&[("page", bad)])).unwrap_err();
            assert_eq!(
                answer.into_response().status(),
                StatusCode::NOT_FOUND,
                "page={bad:?}"
            );
        }
    }

    #[test]
    fn pages_past_the_end_are_invalid_but_page_one_of_nothing_exists() {
        let request = PageRequest {
            page: 1,
            page_size: 10,
        };
        assert!(request.check(0).is_ok());
        let request = PageRequest {
            page: 3,
            page_size: 10,
        };
        assert!(request.check(20).is_err());
        assert!(request.check(21).is_ok());
        assert_eq!(request.total_pages(21), 3);
    }
}
