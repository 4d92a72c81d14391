//! The buyer's cart and checkout. The cart lives at ordering (its id in the session);
//! checkout places the order from the cart's lines and waits a few seconds for the
//! saga, so the buyer sees it confirmed, or why the payment failed with their cart
//! still full.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::http::render::view;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::forms::FieldErrors;
use super::render::{PageError, PageResult, base, ok};
use super::shop::{List, encode};
use super::visitor::Visitor;
use crate::app::{Call, Console};

/// A new cart for the signed-in buyer, kept in their session.
async fn new_cart(console: &Console, visitor: &Visitor) -> Result<String, PageError> {
    let loaded = visitor.session.as_ref().ok_or(PageError::Internal)?;
    let cart: Json = visitor
        .ask(
            console,
            Call::new(http::Method::POST, "/api/v1/carts"),
            "cart",
        )
        .await?;
    let id = cart["id"].as_str().ok_or(PageError::Internal)?.to_owned();
    console
        .update(&loaded.id, |session| session.cart_id = Some(id.clone()))
        .await
        .map_err(|_| PageError::Unavailable)?;
    Ok(id)
}

/// The signed-in buyer's cart id, making the cart on first use.
async fn cart_id(console: &Console, visitor: &Visitor) -> Result<String, PageError> {
    visitor.signed_in()?;
    let loaded = visitor.session.as_ref().ok_or(PageError::Internal)?;
    match &loaded.session.cart_id {
        Some(id) => Ok(id.clone()),
        None => new_cart(console, visitor).await,
    }
}

/// The buyer's cart as ordering has it; a cart its id outlived is replaced by a new one.
async fn current_cart(console: &Console, visitor: &Visitor) -> Result<Json, PageError> {
    let id = cart_id(console, visitor).await?;
    match visitor
        .send(console, Call::get(format!("/api/v1/carts/{id}")))
        .await
    {
        Ok(answer) => answer.json("cart").map_err(PageError::Api),
        Err(problem) if problem.status == 404 => {
            let id = new_cart(console, visitor).await?;
            Ok(json!({"id": id, "items": [], "total": null}))
        }
        Err(problem) => Err(visitor.failed(problem)),
    }
}

/// The cart with each line's product (name, link) and availability.
async fn priced_cart(console: &Console, visitor: &Visitor) -> Result<Json, PageError> {
    let mut cart = current_cart(console, visitor).await?;
    let skus: Vec<String> = cart["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|line| line["sku"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if skus.is_empty() {
        return Ok(cart);
    }
    let joined = encode(&skus.join(","));
    let (products, stock) = tokio::join!(
        visitor.send(
            console,
            Call::get(format!("/api/v1/products?sku={joined}&limit=100"))
        ),
        visitor.send(
            console,
            Call::get(format!("/api/v1/inventory/availability?skus={joined}"))
        ),
    );
    let products: HashMap<String, Json> = products
        .and_then(|a| a.json::<List<Json>>("products"))
        .map(|list| {
            list.items
                .into_iter()
                .filter_map(|p| Some((p["sku"].as_str()?.to_owned(), p)))
                .collect()
        })
        .unwrap_or_default();
    let available: HashMap<String, i64> = stock
        .and_then(|a| a.json::<Json>("availability"))
        .ok()
        .and_then(|body| body["items"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| {
            Some((
                item["sku"].as_str()?.to_owned(),
                item["available"].as_i64()?,
            ))
        })
        .collect();
    if let Some(items) = cart["items"].as_array_mut() {
        for line in items {
            let sku = line["sku"].as_str().unwrap_or_default().to_owned();
            line["product"] = products.get(&sku).cloned().unwrap_or(Json::Null);
            line["available"] = available.get(&sku).copied().map_or(Json::Null, Json::from);
        }
    }
    Ok(cart)
}

/// `GET /cart`.
#[tracing::instrument(skip_all)]
pub(super) async fn show(State(console): State<Arc<Console>>, visitor: Visitor) -> PageResult {
    let cart = priced_cart(&console, &visitor).await?;
    ok("shop/cart.html", view!(base(&visitor); cart => cart))
}

#[derive(Deserialize)]
pub(super) struct AddForm {
    sku: String,
    #[serde(default)]
    quantity: String,
}

/// The quantity typed in a form: 0 to 1000.
fn quantity(text: &str, default: u32) -> Result<u32, &'static str> {
    if text.trim().is_empty() {
        return Ok(default);
    }
    match text.trim().parse::<u32>() {
        Ok(n) if n <= 1000 => Ok(n),
        _ => Err("Enter a quantity from 0 to 1000."),
    }
}

/// `POST /cart/items`: adds a product (to the quantity already in the cart).
#[tracing::instrument(skip_all)]
pub(super) async fn add(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<AddForm>,
) -> PageResult {
    let adding = quantity(&form.quantity, 1).map_err(|m| PageError::BadForm(m.into()))?;
    let cart = current_cart(&console, &visitor).await?;
    let id = cart["id"].as_str().ok_or(PageError::Internal)?.to_owned();
    let already = cart["items"]
        .as_array()
        .and_then(|items| items.iter().find(|l| l["sku"].as_str() == Some(&form.sku)))
        .and_then(|line| line["quantity"].as_u64())
        .unwrap_or(0);
    let total = (already + u64::from(adding)).min(1000);
    visitor
        .ask::<Json>(
            &console,
            Call::put(
                format!("/api/v1/carts/{id}/items"),
                &json!({"sku": form.sku, "quantity": total}),
            ),
            "cart",
        )
        .await?;
    Ok(Redirect::to("/cart").into_response())
}

#[derive(Deserialize)]
pub(super) struct QuantityForm {
    quantity: String,
}

/// `POST /cart/items/{sku}`: sets a line's quantity (0 removes it). From htmx, the
/// cart's lines are answered; from a plain form, the cart page.
#[tracing::instrument(skip_all)]
pub(super) async fn set_quantity(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    Path(sku): Path<String>,
    axum::Form(form): axum::Form<QuantityForm>,
) -> PageResult {
    let wanted = quantity(&form.quantity, 0).map_err(|m| PageError::BadForm(m.into()))?;
    let cart = current_cart(&console, &visitor).await?;
    let id = cart["id"].as_str().ok_or(PageError::Internal)?.to_owned();
    visitor
        .ask::<Json>(
            &console,
            Call::put(
                format!("/api/v1/carts/{id}/items"),
                &json!({"sku": sku, "quantity": wanted}),
            ),
            "cart",
        )
        .await?;
    if visitor.htmx {
        let cart = priced_cart(&console, &visitor).await?;
        ok("shop/cart_lines.html", view!(base(&visitor); cart => cart))
    } else {
        Ok(Redirect::to("/cart").into_response())
    }
}

/// The checkout form's fields.
#[derive(Default, Deserialize, serde::Serialize)]
pub(super) struct CheckoutForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default, skip_serializing)]
    card_number: String,
    #[serde(default)]
    exp_month: String,
    #[serde(default)]
    exp_year: String,
    #[serde(default, skip_serializing)]
    cvc: String,
    /// The order's idempotency key, made when the form was shown: sending the same
    /// form twice places one order.
    #[serde(default)]
    attempt: String,
}

/// Why a placed order was cancelled at once: its payment (another card may do), or
/// something else (stock).
#[derive(Serialize)]
struct Refused<'a> {
    payment: bool,
    reason: &'a str,
}

fn checkout_page(
    visitor: &Visitor,
    cart: &Json,
    form: &CheckoutForm,
    errors: &FieldErrors,
    declined: Option<Refused<'_>>,
) -> PageResult {
    ok(
        "shop/checkout.html",
        view!(base(visitor); cart => cart,
            form => form,
            errors => errors,
            declined => declined,
            // A new attempt each time the form is shown: a retry after a decline is
            // another order, not a replay of the declined one.
            attempt => platform::ids::new_id()),
    )
}

/// `GET /checkout`.
#[tracing::instrument(skip_all)]
pub(super) async fn checkout_form(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
) -> PageResult {
    let cart = priced_cart(&console, &visitor).await?;
    if cart["items"].as_array().is_none_or(Vec::is_empty) {
        return Ok(Redirect::to("/cart").into_response());
    }
    let form = CheckoutForm {
        name: visitor.user().map(|u| u.name.clone()).unwrap_or_default(),
        ..CheckoutForm::default()
    };
    checkout_page(&visitor, &cart, &form, &FieldErrors::default(), None)
}

/// `POST /checkout`: places the order from the cart's lines.
#[tracing::instrument(skip_all)]
pub(super) async fn checkout(
    State(console): State<Arc<Console>>,
    visitor: Visitor,
    axum::Form(form): axum::Form<CheckoutForm>,
) -> PageResult {
    let cart = priced_cart(&console, &visitor).await?;
    let lines: Vec<Json> = cart["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|l| json!({"sku": l["sku"], "quantity": l["quantity"]}))
                .collect()
        })
        .unwrap_or_default();
    if lines.is_empty() {
        return Ok(Redirect::to("/cart").into_response());
    }
    let mut errors = FieldErrors::default();
    let exp_month = errors.number(&form.exp_month, "exp_month", "Enter the month, 1 to 12.");
    let exp_year = errors.number(&form.exp_year, "exp_year", "Enter the year, e.g. 2030.");
    if !errors.is_empty() {
        return checkout_page(&visitor, &cart, &form, &errors, None);
    }
    let mut address = json!({
        "name": form.name.trim(), "line1": form.line1.trim(), "city": form.city.trim(),
        "postal_code": form.postal_code.trim(),
        "country": form.country.trim().to_ascii_uppercase(),
    });
    if !form.line2.trim().is_empty() {
        address["line2"] = json!(form.line2.trim());
    }
    let order = json!({
        "items": lines,
        "shipping_address": address,
        "payment": {
            "method": "card",
            "card_number": form.card_number.replace([' ', '-'], ""),
            "exp_month": exp_month, "exp_year": exp_year, "cvc": form.cvc.trim(),
        },
    });
    let attempt = if form.attempt.is_empty() {
        platform::ids::new_id()
    } else {
        form.attempt.clone()
    };
    let wait = format!("wait={}", console.settings.checkout_wait_secs);
    let placed = visitor
        .send(
            &console,
            Call::post("/api/v1/orders", &order)
                .header("idempotency-key", &format!("console:{attempt}"))
                .header("prefer", &wait),
        )
        .await;
    let order: Json = match placed {
        Ok(answer) => answer.json("order").map_err(PageError::Api)?,
        Err(problem) if problem.status == 422 => {
            let errors =
                FieldErrors::from_problem(&problem, &[("shipping_address.", ""), ("payment.", "")]);
            return checkout_page(&visitor, &cart, &form, &errors, None);
        }
        Err(problem) => return Err(visitor.failed(problem)),
    };
    if order["status"] == "cancelled" {
        let reason = order["cancel_reason"]
            .as_str()
            .unwrap_or("the order could not be completed");
        let refused = match reason.strip_prefix("payment failed: ") {
            Some(why) => Refused {
                payment: true,
                reason: why,
            },
            None => Refused {
                payment: false,
                reason,
            },
        };
        return checkout_page(
            &visitor,
            &cart,
            &form,
            &FieldErrors::default(),
            Some(refused),
        );
    }
    // Placed: the cart is emptied (it stays the buyer's cart for next time).
    if let Some(id) = cart["id"].as_str() {
        for line in cart["items"].as_array().into_iter().flatten() {
            let emptied = visitor
                .send(
                    &console,
                    Call::put(
                        format!("/api/v1/carts/{id}/items"),
                        &json!({"sku": line["sku"], "quantity": 0}),
                    ),
                )
                .await;
            if let Err(problem) = emptied {
                tracing::info!(
                    status = problem.status,
                    "cart line not emptied after checkout"
                );
            }
        }
    }
    let id = order["id"].as_str().unwrap_or_default();
    Ok(Redirect::to(&format!("/orders/{}?placed=1", encode(id))).into_response())
}

/// Lines picked in a form (`qty_<sku>` fields), for a return.
pub(super) fn picked_lines(fields: &BTreeMap<String, String>) -> Vec<Json> {
    fields
        .iter()
        .filter_map(|(name, value)| {
            let sku = name.strip_prefix("qty_")?;
            let quantity = value.trim().parse::<u32>().ok().filter(|q| *q > 0)?;
            Some(json!({"sku": sku, "quantity": quantity}))
        })
        .collect()
}
