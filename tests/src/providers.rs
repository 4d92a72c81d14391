//! External storefronts and payment providers as the ingestion tests see them: a
//! tenant with all four sources configured, and deliveries signed the way Shopify,
//! Stripe, PayPal and WooCommerce sign theirs, from payloads shaped like theirs and
//! full of personal data that must never be kept.

use ingestion::domain::signature::{sandbox, sign};
use serde_json::{Value, json};

use crate::{TestApp, TestUser};

/// Shopify's webhook secret in these tests.
pub const SHOPIFY_SECRET: &str = "shpss_test-shopify-secret";
/// Stripe's endpoint secret.
pub const STRIPE_SECRET: &str = "whsec_test-stripe-secret";
/// WooCommerce's webhook secret.
pub const WOO_SECRET: &str = "woo-test-secret";
/// PayPal's webhook id.
pub const PAYPAL_WEBHOOK_ID: &str = "WH-TEST-4HX09855VA470582H";

/// Personal data the payloads carry; none of it may be stored or logged.
pub const PII: &[&str] = &[
    "jane.doe@example.com",
    "Jane",
    "Doe",
    "+1 415-555-0134",
    "415-555-0199",
    "203.0.113.77",
    "2001:db8::7334",
    "4111111111111111",
    "1 Infinite Loop",
    "Cupertino",
];

/// A tenant and its key.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Its id.
    pub id: String,
    /// Its API key.
    pub api_key: String,
}

/// A delivery as a provider would send it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `/webhooks/{provider}/{topic}` (the tenant is added by [`TestApp::deliver`]).
    pub path: String,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl Delivery {
    /// The same delivery with one header replaced (or removed when `value` is `None`).
    pub fn with_header(mut self, name: &str, value: Option<&str>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(value) = value {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// The same delivery with another body (the signature left as it was).
    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }
}

/// A Shopify delivery of `topic` (`orders/create`, ...) signed with `secret`.
pub fn shopify(topic: &str, body: &Value, webhook_id: &str, secret: &str) -> Delivery {
    let body = serde_json::to_vec(body).expect("json");
    shopify_raw(topic, &body, webhook_id, secret)
}

/// A Shopify delivery of raw bytes.
pub fn shopify_raw(topic: &str, body: &[u8], webhook_id: &str, secret: &str) -> Delivery {
    Delivery {
        path: format!("/webhooks/shopify/{topic}"),
        headers: vec![
            (
                "X-Shopify-Hmac-Sha256".into(),
                sign::shopify(secret.as_bytes(), body),
            ),
            ("X-Shopify-Webhook-Id".into(), webhook_id.into()),
            ("X-Shopify-Topic".into(), topic.into()),
            (
                "X-Shopify-Shop-Domain".into(),
                "test-shop.myshopify.com".into(),
            ),
        ],
        body: body.to_vec(),
    }
}

/// A Stripe delivery of `topic` (`charge/succeeded`, ...) signed at `timestamp`.
pub fn stripe(topic: &str, body: &Value, timestamp: i64, secret: &str) -> Delivery {
    let body = serde_json::to_vec(body).expect("json");
    Delivery {
        path: format!("/webhooks/stripe/{topic}"),
        headers: vec![(
            "Stripe-Signature".into(),
            sign::stripe(secret.as_bytes(), timestamp, &body),
        )],
        body,
    }
}

/// A PayPal delivery of `topic` (`payment/sale/completed`, ...) signed with the sandbox
/// key for `webhook_id`.
pub fn paypal(topic: &str, body: &Value, transmission_id: &str, webhook_id: &str) -> Delivery {
    let body = serde_json::to_vec(body).expect("json");
    let time = "2026-12-04T10:00:00Z";
    let signer = sandbox::paypal_signer().expect("sandbox signer");
    let signature = sign::paypal(&signer, transmission_id, time, webhook_id, &body).expect("signs");
    Delivery {
        path: format!("/webhooks/paypal/{topic}"),
        headers: vec![
            ("PAYPAL-TRANSMISSION-ID".into(), transmission_id.into()),
            ("PAYPAL-TRANSMISSION-TIME".into(), time.into()),
            ("PAYPAL-TRANSMISSION-SIG".into(), signature),
            ("PAYPAL-AUTH-ALGO".into(), "SHA256withRSA".into()),
            (
                "PAYPAL-CERT-URL".into(),
                "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
                    .into(),
            ),
        ],
        body,
    }
}

/// A WooCommerce delivery of `topic` (`order/created`, ...).
pub fn woocommerce(topic: &str, body: &Value, delivery_id: &str, secret: &str) -> Delivery {
    let body = serde_json::to_vec(body).expect("json");
    Delivery {
        path: format!("/webhooks/woocommerce/{topic}"),
        headers: vec![
            (
                "X-WC-Webhook-Signature".into(),
                sign::woocommerce(secret.as_bytes(), &body),
            ),
            ("X-WC-Webhook-Delivery-ID".into(), delivery_id.into()),
            ("X-WC-Webhook-Topic".into(), topic.replace('/', ".")),
            (
                "X-WC-Webhook-Source".into(),
                "https://shop.example.com/".into(),
            ),
        ],
        body,
    }
}

/// A Shopify order (its documented shape) of `total` in `currency`, landing from
/// `landing_site` and referred by `referring_site`, full of personal data.
pub fn shopify_order(
    id: u64,
    total: &str,
    currency: &str,
    landing_site: &str,
    referring_site: &str,
) -> Value {
    json!({
        "id": id,
        "name": format!("#{id}"),
        "email": "jane.doe@example.com",
        "contact_email": "jane.doe@example.com",
        "phone": "+1 415-555-0134",
        "browser_ip": "203.0.113.77",
        "created_at": "2026-12-01T10:00:00-05:00",
        "processed_at": "2026-12-01T10:00:00-05:00",
        "currency": currency,
        "total_price": total,
        "subtotal_price": total,
        "landing_site": landing_site,
        "referring_site": referring_site,
        "source_name": "web",
        "note": "call me at 415-555-0199",
        "customer": {"id": 207119551, "email": "jane.doe@example.com", "first_name": "Jane", "last_name": "Doe", "phone": "+1 415-555-0134"},
        "billing_address": {"first_name": "Jane", "last_name": "Doe", "address1": "1 Infinite Loop", "city": "Cupertino", "zip": "95014", "country": "US", "phone": "415-555-0199"},
        "shipping_address": {"first_name": "Jane", "last_name": "Doe", "address1": "1 Infinite Loop", "city": "Cupertino", "zip": "95014", "country": "US"},
        "client_details": {"browser_ip": "2001:db8::7334", "user_agent": "Mozilla/5.0"},
        "payment_details": {"credit_card_number": "4111111111111111", "credit_card_company": "Visa"},
        "line_items": [
            {"id": 1, "sku": "SKU-1", "title": "Shirt", "quantity": 2, "price": total_half(total), "name": "Shirt"}
        ]
    })
}

/// Half of a decimal total with the same number of decimals (the line price of a
/// two-unit order).
fn total_half(total: &str) -> String {
    let decimals = total.split_once('.').map_or(0, |(_, d)| d.len());
    let digits: String = total.chars().filter(char::is_ascii_digit).collect();
    let units: u64 = digits.parse().expect("digits");
    let half = units / 2;
    if decimals == 0 {
        half.to_string()
    } else {
        let scale = 10u64.pow(decimals as u32);
        format!(
            "{}.{:0width$}",
            half / scale,
            half % scale,
            width = decimals
        )
    }
}

/// A Shopify refund of `amount` for order `order_id`.
pub fn shopify_refund(id: u64, order_id: u64, amount: &str, currency: &str) -> Value {
    json!({
        "id": id,
        "order_id": order_id,
        "created_at": "2026-12-02T10:00:00-05:00",
        "note": "refund for jane.doe@example.com",
        "user_id": 548380009,
        "transactions": [
            {"id": 179259969, "order_id": order_id, "kind": "refund", "status": "success", "amount": amount, "currency": currency, "gateway": "bogus"}
        ],
        "refund_line_items": []
    })
}

/// A Stripe event of `event_type` for a charge of `amount` minor units.
pub fn stripe_charge(
    event_id: &str,
    event_type: &str,
    charge_id: &str,
    amount: i64,
    refunded: i64,
    currency: &str,
    order_id: &str,
) -> Value {
    json!({
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": 1764583200,
        "api_version": "2024-06-20",
        "data": {
            "object": {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": refunded,
                "currency": currency,
                "metadata": {"order_id": order_id},
                "receipt_email": "jane.doe@example.com",
                "billing_details": {"email": "jane.doe@example.com", "name": "Jane Doe", "phone": "+1 415-555-0134",
                    "address": {"line1": "1 Infinite Loop", "city": "Cupertino", "postal_code": "95014", "country": "US"}},
                "payment_method_details": {"card": {"brand": "visa", "last4": "1111", "exp_month": 12, "exp_year": 2030}},
                "created": 1764583200
            },
            "previous_attributes": if refunded > 0 { json!({"amount_refunded": 0}) } else { Value::Null }
        }
    })
}

/// A PayPal `PAYMENT.SALE.*` event for `total` in `currency`.
pub fn paypal_sale(
    event_id: &str,
    event_type: &str,
    sale_id: &str,
    total: &str,
    currency: &str,
    invoice: &str,
) -> Value {
    json!({
        "id": event_id,
        "event_version": "1.0",
        "create_time": "2026-12-01T15:00:00Z",
        "resource_type": "sale",
        "event_type": event_type,
        "summary": "Payment completed",
        "resource": {
            "id": sale_id,
            "state": "completed",
            "amount": {"total": total, "currency": currency, "details": {"subtotal": total}},
            "invoice_number": invoice,
            "custom": invoice,
            "parent_payment": "PAY-1B56960729604235TKQQIYVY",
            "sale_id": sale_id,
            "create_time": "2026-12-01T15:00:00Z",
            "payer": {"email_address": "jane.doe@example.com", "name": {"given_name": "Jane", "surname": "Doe"}}
        }
    })
}

/// A WooCommerce order of `total` in `currency` with `status`.
pub fn woo_order(
    id: u64,
    status: &str,
    total: &str,
    currency: &str,
    utm_source: &str,
    utm_medium: &str,
) -> Value {
    json!({
        "id": id,
        "number": id.to_string(),
        "status": status,
        "currency": currency,
        "total": total,
        "date_created_gmt": "2026-12-01T10:00:00",
        "customer_ip_address": "203.0.113.77",
        "customer_note": "leave it with Jane Doe, +1 415-555-0134",
        "billing": {"first_name": "Jane", "last_name": "Doe", "address_1": "1 Infinite Loop", "city": "Cupertino", "email": "jane.doe@example.com", "phone": "415-555-0199"},
        "shipping": {"first_name": "Jane", "last_name": "Doe", "address_1": "1 Infinite Loop", "city": "Cupertino"},
        "line_items": [{"id": 1, "sku": "WOO-1", "name": "Mug", "quantity": 1, "price": total.parse::<f64>().unwrap_or(0.0), "total": total}],
        "meta_data": [
            {"id": 1, "key": "_wc_order_attribution_utm_source", "value": utm_source},
            {"id": 2, "key": "_wc_order_attribution_utm_medium", "value": utm_medium},
            {"id": 3, "key": "_wc_order_attribution_source_type", "value": "utm"},
            {"id": 4, "key": "_billing_phone_backup", "value": "415-555-0199"}
        ],
        "refunds": if status == "refunded" { json!([{"id": 9, "total": format!("-{total}")}]) } else { json!([]) }
    })
}

impl TestApp {
    /// Creates a tenant as `admin` and configures all four of its sources.
    pub async fn tenant_with_sources(&self, admin: &TestUser, name: &str) -> Tenant {
        let created = self
            .post(
                "/api/v1/tenants",
                Some(&admin.access),
                &json!({"name": name}),
            )
            .await;
        assert_eq!(created.status(), 201, "tenant created");
        let created: Value = created.json().await.expect("json");
        let tenant = Tenant {
            id: created["id"].as_str().expect("id").to_owned(),
            api_key: created["api_key"].as_str().expect("api_key").to_owned(),
        };
        for (provider, body) in [
            ("shopify", json!({"secret": SHOPIFY_SECRET})),
            ("stripe", json!({"secret": STRIPE_SECRET})),
            ("woocommerce", json!({"secret": WOO_SECRET})),
            (
                "paypal",
                json!({"webhook_id": PAYPAL_WEBHOOK_ID, "certificate_pem": sandbox::PAYPAL_CERTIFICATE_PEM}),
            ),
        ] {
            let response = self
                .put(
                    &format!("/api/v1/tenants/{}/sources/{provider}", tenant.id),
                    &admin.access,
                    &body,
                )
                .await;
            assert_eq!(response.status(), 204, "{provider} source configured");
        }
        tenant
    }

    /// Sends `delivery` for `tenant_id` through the gateway.
    pub async fn deliver(&self, tenant_id: &str, delivery: &Delivery) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("{}?tenant={tenant_id}", delivery.path)))
            .header("content-type", "application/json")
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        request.send().await.expect("delivery sent")
    }

    /// GET with a tenant's API key.
    pub async fn get_with_key(&self, path: &str, key: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .header("X-API-Key", key)
            .send()
            .await
            .expect("request sent")
    }

    /// POST JSON with a tenant's API key.
    pub async fn post_with_key(&self, path: &str, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("X-API-Key", key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// The ingestion service of this platform.
    pub fn ingestion(&self) -> &ingestion::Ingestion {
        self.platform
            .as_ref()
            .and_then(|p| p.services.get::<ingestion::Ingestion>())
            .expect("ingestion runs")
    }

    /// The analytics service of this platform.
    pub fn analytics(&self) -> &analytics::Analytics {
        self.platform
            .as_ref()
            .and_then(|p| p.services.get::<analytics::Analytics>())
            .expect("analytics runs")
    }
}
