//! The storefront's catalog: the home page with the categories, search (typo tolerant,
//! with category, price and stock filters), and a product's page with its stock and
//! variants.

use std::sync::Arc;

use crate::http::render::view;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::render::{PageError, PageResult, base, ok};
use super::visitor::Visitor;
use crate::app::{Call, Console};
use crate::domain::format;

/// A list page of the API.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct List<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// The catalog's filters, as the search form sends them (prices in the shop's
/// currency, as typed).
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct Filters {
    #[serde(default)]
    q: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    min_price: String,
    #[serde(default)]
    max_price: String,
    #[serde(default)]
    in_stock: String,
    #[serde(default)]
    cursor: String,
}

impl Filters {
    /// The API query of these filters; a price that is not one is an error on its field.
    fn api_query(&self) -> Result<String, Vec<(&'static str, &'static str)>> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let mut errors = Vec::new();
        if !self.q.trim().is_empty() {
            query.append_pair("q", self.q.trim());
        }
        if !self.category.is_empty() {
            query.append_pair("category", &self.category);
        }
        for (field, text) in [
            ("min_price", &self.min_price),
            ("max_price", &self.max_price),
        ] {
            if text.trim().is_empty() {
                continue;
            }
            match format::parse_price(text) {
                Some(minor) => {
                    query.append_pair(field, &minor.to_string());
                }
                None => errors.push((field, "Enter a price such as 12.50.")),
            }
        }
        if self.in_stock == "true" {
            query.append_pair("in_stock", "true");
        }
        if !self.cursor.is_empty() {
            query.append_pair("cursor", &self.cursor);
        }
        query.append_pair("limit", "12");
        if errors.is_empty() {
            Ok(query.finish())
        } else {
            Err(errors)
        }
    }

    /// The page's own query for the next page.
    fn next_page(&self, cursor: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("q", &self.q),
            ("category", &self.category),
            ("min_price", &self.min_price),
            ("max_price", &self.max_price),
            ("in_stock", &self.in_stock),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        query.append_pair("cursor", cursor);
        query.finish()
    }
}

/// Every category (the tree comes in one page).
#[tracing::instrument(skip_all)]
pub(super) async fn categories(
    console: &Console,
    visitor: &Visitor,
) -> Result<Vec<Json>, PageError> {
    let list: List<Json> = visitor
        .ask(console, Call::get("/api/v1/categories"), "categories")
        .await?;
    Ok(list.items)
}

/// `GET /`: the categories and the newest products, or one category's products.
#[tracing::instrument(skip_all)]
pub(super) async fn home(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> PageResult {
    listing(&console, &visitor, filters, "/").await
}

/// `GET /search?q=`: products matching the words, best first, with the filters.
#[tracing::instrument(skip_all)]
pub(super) async fn search(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(filters): Query<Filters>,
) -> PageResult {
    listing(&console, &visitor, filters, "/search").await
}

async fn listing(console: &Console, visitor: &Visitor, filters: Filters, at: &str) -> PageResult {
    let searching = !filters.q.trim().is_empty();
    let (categories, found) = tokio::join!(categories(console, visitor), async {
        let query = filters.api_query()?;
        let path = if searching {
            format!("/api/v1/products/search?{query}")
        } else {
            format!("/api/v1/products?{query}")
        };
        Ok::<_, Vec<(&str, &str)>>(
            visitor
                .send(console, Call::get(path))
                .await
                .and_then(|answer| answer.json::<List<Json>>("products")),
        )
    });
    let categories = categories?;
    let (products, next, errors) = match found {
        Ok(Ok(list)) => (list.items, list.next_cursor, Vec::new()),
        Ok(Err(problem)) if problem.status == 422 => (
            Vec::new(),
            None,
            problem
                .errors
                .iter()
                .map(|e| (e.field.clone(), e.message.clone()))
                .collect(),
        ),
        Ok(Err(problem)) => return Err(visitor.failed(problem)),
        Err(errors) => (
            Vec::new(),
            None,
            errors
                .into_iter()
                .map(|(f, m)| (f.to_owned(), m.to_owned()))
                .collect(),
        ),
    };
    let category_name = categories
        .iter()
        .find(|c| c["id"].as_str() == Some(filters.category.as_str()))
        .and_then(|c| c["name"].as_str())
        .map(str::to_owned);
    let next_page = next.map(|cursor| format!("{at}?{}", filters.next_page(&cursor)));
    ok(
        "shop/home.html",
        view!(base(visitor); searching => searching,
            categories => categories,
            category_name => category_name,
            products => products,
            filters => filters,
            next_page => next_page,
            errors => errors.into_iter().collect::<std::collections::BTreeMap<_, _>>()),
    )
}

/// `GET /products/{id}`: the product, its stock by availability, its variants.
#[tracing::instrument(skip_all)]
pub(super) async fn product(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    let product: Json = visitor
        .ask(
            &console,
            Call::get(format!("/api/v1/products/{}", encode(&id))),
            "product",
        )
        .await?;
    let sku = product["sku"].as_str().unwrap_or_default().to_owned();
    // The parent and its variants are offered together: the variants are products
    // naming the parent in `variant_of`.
    let parent_id = product["variant_of"].as_str().unwrap_or(&id).to_owned();
    let (stock, family) = tokio::join!(
        visitor.send(
            &console,
            Call::get(format!("/api/v1/inventory/{}", encode(&sku)))
        ),
        variants(&console, &visitor, &parent_id),
    );
    let stock: Option<Json> = stock.ok().and_then(|answer| answer.json("stock").ok());
    ok(
        "shop/product.html",
        view!(base(&visitor); product => product,
            stock => stock,
            variants => family),
    )
}

/// The products of `parent`'s family (itself first, then its variants), when it has
/// variants.
async fn variants(console: &Console, visitor: &Visitor, parent: &str) -> Vec<Json> {
    let (parent_product, variants) = tokio::join!(
        visitor.send(
            console,
            Call::get(format!("/api/v1/products/{}", encode(parent)))
        ),
        visitor.send(
            console,
            Call::get(format!(
                "/api/v1/products?variant_of={}&limit=100",
                encode(parent)
            )),
        ),
    );
    let variants = variants
        .and_then(|answer| answer.json::<List<Json>>("variants"))
        .map(|list| list.items)
        .unwrap_or_default();
    if variants.is_empty() {
        return Vec::new();
    }
    parent_product
        .and_then(|answer| answer.json::<Json>("product"))
        .into_iter()
        .chain(variants)
        .collect()
}

/// `text` for a path segment or a query value.
pub(super) fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `path` with the query `pairs`, leaving out the empty ones: a page's links that keep
/// its other parameters (the next page of one list keeps where another list is).
pub(super) fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if !value.is_empty() {
            query.append_pair(name, value);
        }
    }
    let query = query.finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::link;

    #[test]
    fn a_link_keeps_what_is_set_and_encodes_it() {
        assert_eq!(link("/admin/reports", &[("cursor", "")]), "/admin/reports");
        assert_eq!(
            link(
                "/admin/reports",
                &[("cursor", "YWJj"), ("schedules_cursor", "a+b&c=")]
            ),
            "/admin/reports?cursor=YWJj&schedules_cursor=a%2Bb%26c%3D"
        );
    }
}
