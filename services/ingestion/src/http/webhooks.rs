//! `POST /webhooks/{provider}/{topic}?tenant={id}`: a provider's delivery, taken as
//! raw bytes (the signature is over them) and handed to the app untouched. The answer
//! is 200 for a stored or repeated event, 202 for a dead one, 401 for anything not from
//! a configured source with a good signature.
//!
//! A topic's path has several segments (`payment/sale/completed`), so each topic is its
//! own route, documented with its provider's signature headers: a catch-all segment
//! could not be described in OpenAPI. A path naming no topic is the router's 404.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use platform::http::Problem;
use platform::http::api::{ApiRouter, problems, routes};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::ApiResult;
use crate::app::{IngestionApp, Receipt};
use crate::domain::Topic;
use crate::domain::signature::Headers;

/// `/webhooks/...`: one route per topic.
pub(super) fn api() -> ApiRouter<IngestionApp> {
    ApiRouter::new()
        .routes(routes!(shopify_orders_create))
        .routes(routes!(shopify_orders_updated))
        .routes(routes!(shopify_refunds_create))
        .routes(routes!(stripe_charge_succeeded))
        .routes(routes!(stripe_charge_refunded))
        .routes(routes!(paypal_sale_completed))
        .routes(routes!(paypal_sale_refunded))
        .routes(routes!(woocommerce_order_created))
        .routes(routes!(woocommerce_order_updated))
}

/// The delivery's query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WebhookQuery {
    /// The tenant whose source sends it (without it, the delivery is refused with 401).
    #[param(required = true)]
    tenant: Option<String>,
}

/// What became of a delivery.
#[derive(Serialize, ToSchema)]
struct WebhookReceipt {
    /// What became of it.
    status: ReceiptStatus,
    /// The stored event's id (`stored`, `duplicate`) or the dead event's (`dead`).
    id: String,
    /// Why the event is dead (only with `dead`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// What became of a delivery, by name.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum ReceiptStatus {
    /// A new event.
    Stored,
    /// The tenant already had this provider event.
    Duplicate,
    /// Signed correctly but unusable: kept for an admin to replay.
    Dead,
}

/// A request's headers as the domain reads them.
struct RequestHeaders<'a>(&'a HeaderMap);

impl Headers for RequestHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name)?.to_str().ok()
    }
}

/// Declares the route of one topic: its documentation, with its provider's signature
/// headers, and a handler handing the delivery to [`receive`]. Fragments reach
/// `#[utoipa::path]` as plain tokens (`tt`): it reads literals, not macro fragments.
macro_rules! topic_route {
    (shopify: $($rest:tt)*) => {
        topic_route! { @headers [
            ("X-Shopify-Hmac-Sha256" = String, Header,
                description = "Base64 HMAC-SHA256 of the raw body under the source's secret"),
            ("X-Shopify-Webhook-Id" = Option<String>, Header,
                description = "Shopify's id of the delivery (1 to 128 visible characters)"),
        ] $($rest)* }
    };
    (stripe: $($rest:tt)*) => {
        topic_route! { @headers [
            ("Stripe-Signature" = String, Header,
                description = "`t=<unix time>,v1=<hex HMAC-SHA256 of t.body>` (several `v1` allowed); `t` within 5 minutes of now"),
        ] $($rest)* }
    };
    (paypal: $($rest:tt)*) => {
        topic_route! { @headers [
            ("PAYPAL-TRANSMISSION-ID" = String, Header, description = "PayPal's id of the delivery (signed)"),
            ("PAYPAL-TRANSMISSION-TIME" = String, Header, description = "When PayPal sent it (signed)"),
            ("PAYPAL-TRANSMISSION-SIG" = String, Header,
                description = "Base64 SHA256withRSA signature of `id|time|webhook_id|crc32(body)`"),
            ("PAYPAL-AUTH-ALGO" = String, Header, description = "`SHA256withRSA`"),
            ("PAYPAL-CERT-URL" = Option<String>, Header,
                description = "PayPal's signing certificate, used when the source holds none and fetching is enabled"),
        ] $($rest)* }
    };
    (woocommerce: $($rest:tt)*) => {
        topic_route! { @headers [
            ("X-WC-Webhook-Signature" = String, Header,
                description = "Base64 HMAC-SHA256 of the raw body under the source's secret"),
            ("X-WC-Webhook-Delivery-ID" = Option<String>, Header,
                description = "WooCommerce's id of the delivery (1 to 128 visible characters)"),
        ] $($rest)* }
    };
    (
        @headers [$($headers:tt)*]
        $(#[doc = $doc:tt])*
        $handler:ident => $topic:expr, $path:tt
    ) => {
        $(#[doc = $doc])*
        #[utoipa::path(
            post,
            path = $path,
            params(WebhookQuery, $($headers)*),
            request_body(
                content = Object,
                content_type = "application/json",
                description = "The provider's event exactly as it sent it: the signature is over these bytes.",
            ),
            responses(
                (status = 200, description = "Stored, or a repeat of an event already stored", body = WebhookReceipt,
                    example = json!({"status": "stored", "id": "01890a5d-ac96-774b-bcce-b302099a8057"})),
                (status = 202, description = "Signed correctly but unusable: kept as a dead event", body = WebhookReceipt,
                    example = json!({"status": "dead", "id": "01890a5d-ac96-774b-bcce-b302099a8057", "reason": "the payload has no order id"})),
                problems::BadRequest, problems::Unauthorized, problems::Unavailable,
            ),
            security(()),
        )]
        async fn $handler(
            State(app): State<IngestionApp>,
            query: Result<Query<WebhookQuery>, QueryRejection>,
            headers: HeaderMap,
            body: Result<Bytes, BytesRejection>,
        ) -> ApiResult<Response> {
            receive(&app, $topic, query, &headers, body).await
        }
    };
}

topic_route! { shopify:
    /// A Shopify `orders/create` delivery: a new order.
    shopify_orders_create => Topic::ShopifyOrderCreated, "/webhooks/shopify/orders/create"
}

topic_route! { shopify:
    /// A Shopify `orders/updated` delivery: the order as it now stands.
    shopify_orders_updated => Topic::ShopifyOrderUpdated, "/webhooks/shopify/orders/updated"
}

topic_route! { shopify:
    /// A Shopify `refunds/create` delivery: a refund of an order.
    shopify_refunds_create => Topic::ShopifyRefundCreated, "/webhooks/shopify/refunds/create"
}

topic_route! { stripe:
    /// A Stripe `charge.succeeded` event: a payment.
    stripe_charge_succeeded => Topic::StripeChargeSucceeded, "/webhooks/stripe/charge/succeeded"
}

topic_route! { stripe:
    /// A Stripe `charge.refunded` event: a refund.
    stripe_charge_refunded => Topic::StripeChargeRefunded, "/webhooks/stripe/charge/refunded"
}

topic_route! { paypal:
    /// A PayPal `PAYMENT.SALE.COMPLETED` event: a payment.
    paypal_sale_completed => Topic::PaypalSaleCompleted, "/webhooks/paypal/payment/sale/completed"
}

topic_route! { paypal:
    /// A PayPal `PAYMENT.SALE.REFUNDED` event: a refund.
    paypal_sale_refunded => Topic::PaypalSaleRefunded, "/webhooks/paypal/payment/sale/refunded"
}

topic_route! { woocommerce:
    /// A WooCommerce `order.created` delivery: a new order.
    woocommerce_order_created => Topic::WoocommerceOrderCreated, "/webhooks/woocommerce/order/created"
}

topic_route! { woocommerce:
    /// A WooCommerce `order.updated` delivery: the order as it now stands.
    ///
    /// A `refunded` status makes it a refund.
    woocommerce_order_updated => Topic::WoocommerceOrderUpdated, "/webhooks/woocommerce/order/updated"
}

/// Takes one delivery of `topic`: the raw body and the headers go to the app as they
/// came.
#[tracing::instrument(skip_all, fields(topic = topic.path()))]
async fn receive(
    app: &IngestionApp,
    topic: Topic,
    query: Result<Query<WebhookQuery>, QueryRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            platform::http::extract::payload_too_large()
        } else {
            Problem::bad_request("the request body could not be read")
        }
    })?;
    let tenant = query.ok().and_then(|Query(q)| q.tenant);
    let receipt = app
        .receive_webhook(topic, tenant.as_deref(), &RequestHeaders(headers), &body)
        .await?;
    let (status, receipt) = match receipt {
        Receipt::Stored(id) => (
            StatusCode::OK,
            WebhookReceipt {
                status: ReceiptStatus::Stored,
                id,
                reason: None,
            },
        ),
        Receipt::Duplicate(id) => (
            StatusCode::OK,
            WebhookReceipt {
                status: ReceiptStatus::Duplicate,
                id,
                reason: None,
            },
        ),
        Receipt::Dead { id, reason } => (
            StatusCode::ACCEPTED,
            WebhookReceipt {
                status: ReceiptStatus::Dead,
                id,
                reason: Some(reason),
            },
        ),
    };
    Ok((status, axum::Json(receipt)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_has_its_route() {
        let doc = api().into_openapi();
        for topic in Topic::ALL {
            let path = format!("/webhooks/{}/{}", topic.provider().as_str(), topic.path());
            assert!(doc.paths.paths.contains_key(&path), "{path} is not routed");
        }
        assert_eq!(doc.paths.paths.len(), Topic::ALL.len());
    }
}
