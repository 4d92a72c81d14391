//! Products, their variants and categories: the paginated list, creating a product
//! (with a first variant if given), editing it, adding variants, deleting it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::http::render::view;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use crate::app::{ApiProblem, Call, Console};
use crate::domain::format;
use crate::http::forms::{FieldErrors, confirm_page, confirmed};
use crate::http::render::{PageError, PageResult, base, ok};
use crate::http::shop::{List, encode};
use crate::http::visitor::Visitor;

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    cursor: String,
}

/// `GET /admin/products`.
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Query(query): Query<ListQuery>,
) -> PageResult {
    visitor.admin()?;
    let mut path = "/api/v1/products?limit=20".to_owned();
    if !query.cursor.is_empty() {
        path.push_str(&format!("&cursor={}", encode(&query.cursor)));
    }
    let products: List<Json> = visitor.ask(&console, Call::get(path), "products").await?;
    let next_page = products
        .next_cursor
        .map(|cursor| format!("/admin/products?cursor={}", encode(&cursor)));
    ok(
        "admin/products.html",
        view!(base(&visitor); products => products.items, next_page => next_page),
    )
}

/// A product form's fields, as typed.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct ProductForm {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    category_id: String,
    #[serde(default)]
    attributes: String,
    #[serde(default)]
    variant_sku: String,
    #[serde(default)]
    variant_name: String,
    #[serde(default)]
    variant_price: String,
    #[serde(default)]
    variant_attributes: String,
    /// The product's currency (kept as it is; a new product's is USD).
    #[serde(default)]
    currency: String,
}

/// `key: value` lines as a flat attributes object (numbers and booleans as such).
fn attributes(text: &str, field: &str, errors: &mut FieldErrors) -> Json {
    let mut map = Map::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once(':') else {
            errors.push(
                field,
                format!("Write each attribute as name: value (\"{line}\")."),
            );
            continue;
        };
        let value = value.trim();
        let value = match value {
            "true" => json!(true),
            "false" => json!(false),
            _ => value
                .parse::<i64>()
                .map(Json::from)
                .unwrap_or_else(|_| json!(value)),
        };
        map.insert(key.trim().to_owned(), value);
    }
    Json::Object(map)
}

/// Which part of a product form: the product, or the variant fields beside it.
#[derive(Clone, Copy)]
enum Part {
    Product,
    Variant,
}

impl Part {
    /// The prefix of its fields' names.
    fn prefix(self) -> &'static str {
        match self {
            Part::Product => "",
            Part::Variant => "variant_",
        }
    }
}

impl ProductForm {
    /// The API body of `part` (in `category`); what cannot be read is an error on its
    /// field.
    fn body(&self, part: Part, category: &str, errors: &mut FieldErrors) -> Json {
        let (sku, name, description, price, attrs) = match part {
            Part::Product => (
                &self.sku,
                &self.name,
                self.description.as_str(),
                &self.price,
                &self.attributes,
            ),
            Part::Variant => (
                &self.variant_sku,
                &self.variant_name,
                "",
                &self.variant_price,
                &self.variant_attributes,
            ),
        };
        let prefix = part.prefix();
        let currency = if self.currency.is_empty() {
            "USD"
        } else {
            self.currency.as_str()
        };
        let amount = format::parse_amount(price, currency);
        if amount.is_none() {
            errors.push(
                &format!("{prefix}price"),
                format!(
                    "Enter a price such as {}.",
                    format::plain_amount(1_250, currency)
                ),
            );
        }
        let mut body = json!({
            "sku": sku.trim(), "name": name.trim(), "description": description.trim(),
            "price": {"amount": amount.unwrap_or(0), "currency": currency},
            "attributes": attributes(attrs, &format!("{prefix}attributes"), errors),
        });
        if !category.is_empty() {
            body["category_id"] = json!(category);
        }
        body
    }
}

/// The API's field errors on a form whose fields carry `prefix`.
fn errors_of(problem: &ApiProblem, prefix: &str) -> FieldErrors {
    let renames = [
        ("price.", format!("{prefix}price")),
        ("", prefix.to_owned()),
    ];
    let renames: Vec<(&str, &str)> = renames.iter().map(|(a, b)| (*a, b.as_str())).collect();
    let mut errors = FieldErrors::from_problem(problem, &renames);
    if problem.status == 409 {
        errors = FieldErrors::default();
        errors.push(&format!("{prefix}sku"), "Another product has this sku.");
    }
    errors
}

async fn product_page(
    console: &Console,
    visitor: &Visitor,
    product: Option<Json>,
    form: &ProductForm,
    errors: FieldErrors,
) -> PageResult {
    let variants = match product.as_ref().and_then(|p| p["id"].as_str()) {
        Some(id) => {
            visitor
                .ask::<List<Json>>(
                    console,
                    Call::get(format!(
                        "/api/v1/products?variant_of={}&limit=100",
                        encode(id)
                    )),
                    "variants",
                )
                .await?
                .items
        }
        None => Vec::new(),
    };
    ok(
        "admin/product.html",
        view!(base(visitor); product => product, variants => variants, form => form, errors => errors,
            categories => crate::http::shop::categories(console, visitor).await?),
    )
}

/// `GET /admin/products/new`.
#[tracing::instrument(skip_all)]
pub(super) async fn new_form(State(console): State<Arc<Console>>, visitor: Visitor) -> PageResult {
    visitor.admin()?;
    product_page(
        &console,
        &visitor,
        None,
        &ProductForm::default(),
        FieldErrors::default(),
    )
    .await
}

/// `POST /admin/products`: creates the product, then its first variant if one is given.
#[tracing::instrument(skip_all)]
pub(super) async fn create(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<ProductForm>,
) -> PageResult {
    visitor.admin()?;
    let mut errors = FieldErrors::default();
    let body = form.body(Part::Product, &form.category_id, &mut errors);
    let with_variant = !form.variant_sku.trim().is_empty();
    let variant = with_variant.then(|| form.body(Part::Variant, &form.category_id, &mut errors));
    if !errors.is_empty() {
        return product_page(&console, &visitor, None, &form, errors).await;
    }
    let created: Json = match visitor
        .send(&console, Call::post("/api/v1/products", &body))
        .await
    {
        Ok(answer) => answer.json("product").map_err(PageError::Api)?,
        Err(problem) if matches!(problem.status, 409 | 422) => {
            return product_page(&console, &visitor, None, &form, errors_of(&problem, "")).await;
        }
        Err(problem) => return Err(visitor.failed(problem)),
    };
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    if let Some(mut variant) = variant {
        variant["variant_of"] = json!(id);
        if let Err(problem) = visitor
            .send(&console, Call::post("/api/v1/products", &variant))
            .await
        {
            if !matches!(problem.status, 409 | 422) {
                return Err(visitor.failed(problem));
            }
            // The product is made; its page shows why the variant is not.
            return product_page(
                &console,
                &visitor,
                Some(created),
                &form,
                errors_of(&problem, "variant_"),
            )
            .await;
        }
    }
    Ok(Redirect::to(&format!("/admin/products/{}?saved=1", encode(&id))).into_response())
}

fn form_of(product: &Json) -> ProductForm {
    let attributes = product["attributes"]
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(k, v)| match v {
                    Json::String(s) => format!("{k}: {s}"),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let amount = product["price"]["amount"].as_i64().unwrap_or(0);
    let currency = product["price"]["currency"]
        .as_str()
        .unwrap_or("USD")
        .to_owned();
    ProductForm {
        sku: product["sku"].as_str().unwrap_or_default().to_owned(),
        name: product["name"].as_str().unwrap_or_default().to_owned(),
        description: product["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        price: format::plain_amount(amount, &currency),
        currency,
        category_id: product["category_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        attributes,
        ..ProductForm::default()
    }
}

/// `GET /admin/products/{id}`.
#[tracing::instrument(skip_all)]
pub(super) async fn edit(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    visitor.admin()?;
    let product: Json = visitor
        .ask(
            &console,
            Call::get(format!("/api/v1/products/{}", encode(&id))),
            "product",
        )
        .await?;
    let form = form_of(&product);
    product_page(
        &console,
        &visitor,
        Some(product),
        &form,
        FieldErrors::default(),
    )
    .await
}

/// `POST /admin/products/{id}`: saves the product's fields.
#[tracing::instrument(skip_all)]
pub(super) async fn update(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ProductForm>,
) -> PageResult {
    visitor.admin()?;
    let path = format!("/api/v1/products/{}", encode(&id));
    let product: Json = visitor
        .ask(&console, Call::get(path.clone()), "product")
        .await?;
    let mut errors = FieldErrors::default();
    let mut body = form.body(Part::Product, &form.category_id, &mut errors);
    if let Some(parent) = product["variant_of"].as_str() {
        body["variant_of"] = json!(parent);
    }
    if !errors.is_empty() {
        return product_page(&console, &visitor, Some(product), &form, errors).await;
    }
    match visitor.send(&console, Call::put(path, &body)).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/admin/products/{}?saved=1", encode(&id))).into_response())
        }
        Err(problem) if matches!(problem.status, 409 | 422) => {
            product_page(
                &console,
                &visitor,
                Some(product),
                &form,
                errors_of(&problem, ""),
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// `POST /admin/products/{id}/variants`: adds a variant.
#[tracing::instrument(skip_all)]
pub(super) async fn add_variant(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ProductForm>,
) -> PageResult {
    visitor.admin()?;
    let product: Json = visitor
        .ask(
            &console,
            Call::get(format!("/api/v1/products/{}", encode(&id))),
            "product",
        )
        .await?;
    let mut errors = FieldErrors::default();
    let mut body = form.body(
        Part::Variant,
        product["category_id"].as_str().unwrap_or_default(),
        &mut errors,
    );
    body["variant_of"] = json!(id);
    if errors.is_empty() {
        match visitor
            .submit(&console, Call::post("/api/v1/products", &body))
            .await?
        {
            Ok(_) => {
                return Ok(
                    Redirect::to(&format!("/admin/products/{}?saved=1", encode(&id)))
                        .into_response(),
                );
            }
            Err(problem) => errors = errors_of(&problem, "variant_"),
        }
    }
    // The product's fields as they are, the variant's as typed, with what is wrong.
    let shown = ProductForm {
        variant_sku: form.variant_sku,
        variant_name: form.variant_name,
        variant_price: form.variant_price,
        variant_attributes: form.variant_attributes,
        ..form_of(&product)
    };
    product_page(&console, &visitor, Some(product), &shown, errors).await
}

/// `POST /admin/products/{id}/delete`: asks first.
#[tracing::instrument(skip_all)]
pub(super) async fn delete(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<BTreeMap<String, String>>,
) -> PageResult {
    visitor.admin()?;
    let back = format!("/admin/products/{}", encode(&id));
    if !confirmed(&fields) {
        return confirm_page(
            &visitor,
            "Delete this product?",
            "The product leaves the catalog and can no longer be bought. Orders that have it keep it.",
            &format!("{back}/delete"),
            &fields,
            "Yes, delete it",
            &back,
        );
    }
    match visitor
        .send(
            &console,
            Call::delete(format!("/api/v1/products/{}", encode(&id))),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/products").into_response()),
        Err(problem) if problem.status == 409 => {
            let product: Json = visitor
                .ask(
                    &console,
                    Call::get(format!("/api/v1/products/{}", encode(&id))),
                    "product",
                )
                .await?;
            let form = form_of(&product);
            product_page(
                &console,
                &visitor,
                Some(product),
                &form,
                FieldErrors::from_problem(&problem, &[]),
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

#[derive(Deserialize)]
pub(super) struct CategoryForm {
    #[serde(default, rename = "category_name")]
    name: String,
    #[serde(default)]
    parent_id: String,
}

/// `POST /admin/categories`: adds a category, back to the new product form.
#[tracing::instrument(skip_all)]
pub(super) async fn create_category(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<CategoryForm>,
) -> PageResult {
    visitor.admin()?;
    let mut body = json!({"name": form.name.trim()});
    if !form.parent_id.is_empty() {
        body["parent_id"] = json!(form.parent_id);
    }
    match visitor
        .send(&console, Call::post("/api/v1/categories", &body))
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/products/new").into_response()),
        Err(problem) if problem.status == 422 => {
            let renames = [("name", "category_name"), ("parent_id", "category_parent")];
            product_page(
                &console,
                &visitor,
                None,
                &ProductForm::default(),
                FieldErrors::from_problem(&problem, &renames),
            )
            .await
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}
