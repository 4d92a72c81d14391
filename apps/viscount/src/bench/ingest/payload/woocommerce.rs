//! WooCommerce's webhook body: an order as its REST API (v3) writes it, for
//! `order.created` and `order.updated`, with the order-attribution meta WooCommerce
//! records since 8.5 (`_wc_order_attribution_*`).

use serde::Serialize;

use super::{EMPTY, to_body};
use crate::bench::ingest::Ids;
use crate::bench::ingest::sale::{PHONE, PRODUCTS, STREET, Sale, USER_AGENT, woo_time};

#[derive(Serialize)]
struct Order<'a> {
    id: u64,
    parent_id: u64,
    number: String,
    order_key: String,
    created_via: &'static str,
    version: &'static str,
    status: &'a str,
    currency: &'static str,
    currency_symbol: &'static str,
    date_created: &'a str,
    date_created_gmt: &'a str,
    date_modified: &'a str,
    date_modified_gmt: &'a str,
    discount_total: &'a str,
    shipping_total: &'a str,
    cart_tax: &'a str,
    total: String,
    total_tax: &'a str,
    prices_include_tax: bool,
    customer_id: u64,
    customer_ip_address: String,
    customer_user_agent: &'static str,
    customer_note: &'static str,
    billing: Address<'a>,
    shipping: Address<'a>,
    payment_method: &'static str,
    payment_method_title: &'static str,
    transaction_id: String,
    date_paid_gmt: &'a str,
    date_completed_gmt: Option<&'a str>,
    cart_hash: String,
    meta_data: Vec<Meta>,
    line_items: Vec<LineItem<'a>>,
    tax_lines: [(); 0],
    shipping_lines: [(); 0],
    fee_lines: [(); 0],
    coupon_lines: [(); 0],
    refunds: Vec<Refund>,
}

#[derive(Serialize)]
struct Address<'a> {
    first_name: &'static str,
    last_name: &'static str,
    company: &'static str,
    address_1: &'static str,
    address_2: &'static str,
    city: &'static str,
    state: &'static str,
    postcode: &'static str,
    country: &'static str,
    email: &'a str,
    phone: &'static str,
}

#[derive(Serialize)]
struct Meta {
    id: u64,
    key: String,
    value: String,
}

#[derive(Serialize)]
struct LineItem<'a> {
    id: u64,
    name: &'static str,
    product_id: u64,
    variation_id: u64,
    quantity: i64,
    tax_class: &'static str,
    subtotal: String,
    subtotal_tax: &'a str,
    total: String,
    total_tax: &'a str,
    taxes: [(); 0],
    meta_data: [(); 0],
    sku: &'static str,
    /// WooCommerce sends the unit price as a JSON number, the totals as strings.
    price: f64,
    parent_name: Option<&'static str>,
}

#[derive(Serialize)]
struct Refund {
    id: u64,
    reason: &'static str,
    total: String,
}

/// A WooCommerce order in `status`: `processing` for `order.created`, `completed` or
/// `refunded` (in full) for `order.updated`.
pub fn woocommerce_order(sale: &Sale, ids: Ids, status: &str) -> Vec<u8> {
    let id = ids.number(60, 10_000, 890_000);
    let person = sale.person();
    let email = sale.email();
    let created = woo_time(sale.created_unix);
    let modified = woo_time(sale.created_unix + 60);
    let zero = sale.money(0);
    let attribution = sale.attribution();
    let mut meta_data = vec![
        ("source_type", attribution.source_type.to_owned()),
        (
            "session_entry",
            format!("https://shop.example.com{}", sale.landing_site()),
        ),
        ("device_type", "Desktop".to_owned()),
        ("user_agent", USER_AGENT.to_owned()),
    ];
    if let Some((source, medium, campaign)) = attribution.utm {
        meta_data.push(("utm_source", source.to_owned()));
        meta_data.push(("utm_medium", medium.to_owned()));
        meta_data.push(("utm_campaign", campaign.to_owned()));
    }
    if let Some(referrer) = attribution.referrer {
        meta_data.push(("referrer", referrer.to_owned()));
    }
    let meta_data = meta_data
        .into_iter()
        .zip(1..)
        .map(|((field, value), n)| Meta {
            id: id * 100 + n,
            key: format!("_wc_order_attribution_{field}"),
            value,
        })
        .collect();
    let line_items = sale
        .lines
        .iter()
        .zip(0..)
        .map(|(line, n)| {
            let (title, sku, _) = PRODUCTS[line.product];
            let line_total = sale.money(line.unit * line.quantity);
            LineItem {
                id: id * 10 + n,
                name: title,
                product_id: 100 + line.product as u64,
                variation_id: 0,
                quantity: line.quantity,
                tax_class: "",
                subtotal: line_total.clone(),
                subtotal_tax: &zero,
                total: line_total,
                total_tax: &zero,
                taxes: EMPTY,
                meta_data: EMPTY,
                sku,
                price: line.unit as f64 / 10_f64.powi(sale.currency.exponent as i32),
                parent_name: None,
            }
        })
        .collect();
    let refunds = if status == "refunded" {
        vec![Refund {
            id: id + 1,
            reason: "Damaged in transit",
            total: sale.money(-sale.total()),
        }]
    } else {
        Vec::new()
    };
    let address = || Address {
        first_name: person.first,
        last_name: person.last,
        company: "",
        address_1: STREET.0,
        address_2: STREET.1,
        city: person.city,
        state: person.province,
        postcode: person.zip,
        country: person.country,
        email: &email,
        phone: PHONE,
    };
    to_body(&Order {
        id,
        parent_id: 0,
        number: id.to_string(),
        order_key: format!("wc_order_{}", ids.alnum(61, 13)),
        created_via: "checkout",
        version: "9.4.2",
        status,
        currency: sale.currency.code,
        currency_symbol: sale.currency.symbol,
        date_created: &created,
        date_created_gmt: &created,
        date_modified: &modified,
        date_modified_gmt: &modified,
        discount_total: &zero,
        shipping_total: &zero,
        cart_tax: &zero,
        total: sale.money(sale.total()),
        total_tax: &zero,
        prices_include_tax: false,
        customer_id: ids.number(62, 1, 90_000),
        customer_ip_address: sale.ip(),
        customer_user_agent: USER_AGENT,
        customer_note: "",
        billing: address(),
        shipping: address(),
        payment_method: "stripe",
        payment_method_title: "Credit Card (Stripe)",
        transaction_id: format!("ch_3{}", ids.alnum(63, 23)),
        date_paid_gmt: &created,
        date_completed_gmt: (status == "completed").then_some(modified.as_str()),
        cart_hash: ids.hex32(64),
        meta_data,
        line_items,
        tax_lines: EMPTY,
        shipping_lines: EMPTY,
        fee_lines: EMPTY,
        coupon_lines: EMPTY,
        refunds,
    })
}
