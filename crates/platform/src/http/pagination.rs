//! Cursor pagination: `limit` (default 20, at most 100) and an opaque `cursor` in,
//! `{items, next_cursor}` out.

use serde::{Deserialize, Serialize};

use super::problem::Problem;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// The paging part of a list query. It may be `#[serde(flatten)]`ed into a service's
/// own query struct: flattening hands every query value over as a string, so `limit`
/// takes its number from a string as well.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (20 when absent).
    #[serde(default, deserialize_with = "number_or_numeric_string")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
}

/// A checked page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Items per page, 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// The decoded position after which this page starts.
    pub after: Option<String>,
}

impl PageQuery {
    /// Checks the limit and decodes the cursor (422 naming the field otherwise).
    pub fn page(&self) -> Result<Page, Problem> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Problem::invalid_field(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match &self.cursor {
            None => None,
            Some(cursor) => Some(
                data_encoding::BASE64URL_NOPAD
                    .decode(cursor.as_bytes())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    // No position this API issues holds a control character, and
                    // PostgreSQL refuses a NUL in text (a 500, not the 422 it is).
                    .filter(|position| !position.chars().any(char::is_control))
                    .ok_or_else(|| {
                        Problem::invalid_field("cursor", "is not a cursor this API issued")
                    })?,
            ),
        };
        Ok(Page { limit, after })
    }
}

impl Page {
    /// How many rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct List<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// Builds a page from up to `page.limit + 1` rows fetched in order, where
    /// `position` gives the value the next page continues after.
    pub fn from_rows(mut rows: Vec<T>, page: &Page, position: impl Fn(&T) -> String) -> Self {
        let limit = page.limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| encode_cursor(&position(last)))
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// The opaque cursor for "continue after `position`" ([`PageQuery::page`] decodes it).
pub fn encode_cursor(position: &str) -> String {
    data_encoding::BASE64URL_NOPAD.encode(position.as_bytes())
}

/// An optional `u32` given as a number or as a string of digits.
fn number_or_numeric_string<'de, D>(deserializer: D) -> Result<Option<u32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u32),
        Text(String),
    }
    match Option::<Raw>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Raw::Number(n)) => Ok(Some(n)),
        Some(Raw::Text(text)) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom("expected a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flattened_page_takes_its_limit_from_the_query_string() {
        #[derive(Deserialize)]
        struct Listing {
            #[allow(dead_code)]
            status: Option<String>,
            #[serde(flatten)]
            page: PageQuery,
        }
        let listing: Listing =
            serde_urlencoded::from_str("status=confirmed&limit=5&cursor=abc").expect("parses");
        assert_eq!(listing.page.limit, Some(5));
        assert_eq!(listing.page.cursor.as_deref(), Some("abc"));
        assert!(serde_urlencoded::from_str::<Listing>("limit=five").is_err());
        let plain: PageQuery = serde_urlencoded::from_str("limit=7").expect("parses");
        assert_eq!(plain.limit, Some(7));
        let none: PageQuery = serde_urlencoded::from_str("").expect("parses");
        assert_eq!(none.limit, None);
    }

    #[test]
    fn limits_are_checked() {
        assert!(
            PageQuery {
                limit: Some(0),
                cursor: None
            }
            .page()
            .is_err()
        );
        assert!(
            PageQuery {
                limit: Some(101),
                cursor: None
            }
            .page()
            .is_err()
        );
        assert_eq!(
            PageQuery::default().page().map(|p| p.limit).ok(),
            Some(DEFAULT_LIMIT)
        );
        assert!(
            PageQuery {
                limit: None,
                cursor: Some("%%%".into())
            }
            .page()
            .is_err()
        );
        let nul = PageQuery {
            limit: None,
            cursor: Some(encode_cursor("a\0b")),
        }
        .page()
        .expect_err("a position with a NUL is no cursor of this API");
        assert_eq!(nul.status, 422);
    }

    #[test]
    fn a_page_links_to_the_next() {
        let page = Page {
            limit: 2,
            after: None,
        };
        let list = List::from_rows(vec!["a", "b", "c"], &page, |s| s.to_string());
        assert_eq!(list.items, vec!["a", "b"]);
        let next = PageQuery {
            limit: Some(2),
            cursor: list.next_cursor,
        }
        .page()
        .expect("page");
        assert_eq!(next.after.as_deref(), Some("b"));
        let last = List::from_rows(vec!["c"], &next, |s| s.to_string());
        assert_eq!(last.next_cursor, None);
    }
}
