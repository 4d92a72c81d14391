//! Shopify's webhook bodies: an order (`orders/create`, `orders/updated`) and a refund
//! (`refunds/create`), in the shape of Shopify's Admin REST API resources.

use serde::Serialize;

use super::{EMPTY, to_body};
use crate::bench::ingest::Ids;
use crate::bench::ingest::sale::{PHONE, PHONE_E164, PRODUCTS, STREET, Sale, shopify_time};

#[derive(Serialize)]
struct Order<'a> {
    id: u64,
    admin_graphql_api_id: String,
    name: String,
    order_number: u64,
    confirmation_number: String,
    token: String,
    email: &'a str,
    contact_email: &'a str,
    phone: &'static str,
    browser_ip: String,
    customer_locale: &'static str,
    created_at: &'a str,
    processed_at: &'a str,
    updated_at: String,
    currency: &'static str,
    presentment_currency: &'static str,
    subtotal_price: &'a str,
    total_line_items_price: &'a str,
    total_price: &'a str,
    current_total_price: &'a str,
    total_tax: &'a str,
    total_discounts: &'a str,
    taxes_included: bool,
    financial_status: &'static str,
    fulfillment_status: Option<&'static str>,
    confirmed: bool,
    test: bool,
    source_name: &'static str,
    landing_site: String,
    referring_site: &'static str,
    tags: &'static str,
    note: &'static str,
    payment_gateway_names: [&'static str; 1],
    customer: Customer<'a>,
    billing_address: Address,
    shipping_address: Address,
    line_items: Vec<LineItem>,
    shipping_lines: [(); 0],
    discount_codes: [(); 0],
    note_attributes: [(); 0],
}

#[derive(Serialize)]
struct Customer<'a> {
    id: u64,
    email: &'a str,
    first_name: &'static str,
    last_name: &'static str,
    phone: &'static str,
    verified_email: bool,
    accepts_marketing: bool,
    default_address: Address,
}

#[derive(Serialize)]
struct Address {
    first_name: &'static str,
    last_name: &'static str,
    name: String,
    address1: &'static str,
    address2: &'static str,
    city: &'static str,
    province_code: &'static str,
    country_code: &'static str,
    zip: &'static str,
    phone: &'static str,
    company: Option<&'static str>,
}

#[derive(Serialize)]
struct LineItem {
    id: u64,
    admin_graphql_api_id: String,
    product_id: u64,
    variant_id: u64,
    title: &'static str,
    name: &'static str,
    sku: &'static str,
    vendor: &'static str,
    quantity: i64,
    price: String,
    total_discount: String,
    taxable: bool,
    requires_shipping: bool,
    fulfillment_status: Option<&'static str>,
    gift_card: bool,
    properties: [(); 0],
    tax_lines: [(); 0],
}

fn address(sale: &Sale) -> Address {
    let person = sale.person();
    Address {
        first_name: person.first,
        last_name: person.last,
        name: format!("{} {}", person.first, person.last),
        address1: STREET.0,
        address2: STREET.1,
        city: person.city,
        province_code: person.province,
        country_code: person.country,
        zip: person.zip,
        phone: PHONE,
        company: None,
    }
}

/// The order's id: refunds and payments name it too.
pub(super) fn order_id(ids: Ids) -> u64 {
    ids.number(1, 5_000_000_000_000, 1_000_000_000_000)
}

/// The id of an order's `n`th line item.
fn line_item_id(ids: Ids, n: usize) -> u64 {
    ids.number(10 + n as u64, 13_000_000_000_000, 1_000_000_000_000)
}

/// A Shopify order (`orders/create`, or `orders/updated` when `updated`: fulfilled an
/// hour later).
pub fn shopify_order(sale: &Sale, ids: Ids, updated: bool) -> Vec<u8> {
    let person = sale.person();
    let id = order_id(ids);
    let number = 1_000 + ids.number(3, 0, 9_000_000);
    let created = shopify_time(sale.created_unix);
    let email = sale.email();
    let total = sale.money(sale.total());
    let zero = sale.money(0);
    let fulfillment_status = updated.then_some("fulfilled");
    let line_items = sale
        .lines
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let (title, sku, _) = PRODUCTS[line.product];
            let line_id = line_item_id(ids, n);
            LineItem {
                id: line_id,
                admin_graphql_api_id: format!("gid://shopify/LineItem/{line_id}"),
                product_id: 8_000_000_000_000 + line.product as u64,
                variant_id: 44_000_000_000_000 + line.product as u64,
                title,
                name: title,
                sku,
                vendor: "Viscount Bench Co.",
                quantity: line.quantity,
                price: sale.money(line.unit),
                total_discount: zero.clone(),
                taxable: true,
                requires_shipping: true,
                fulfillment_status,
                gift_card: false,
                properties: EMPTY,
                tax_lines: EMPTY,
            }
        })
        .collect();
    to_body(&Order {
        id,
        admin_graphql_api_id: format!("gid://shopify/Order/{id}"),
        name: format!("#{number}"),
        order_number: number,
        confirmation_number: format!("B{}", ids.alnum(4, 8)),
        token: ids.hex32(5),
        email: &email,
        contact_email: &email,
        phone: PHONE_E164,
        browser_ip: sale.ip(),
        customer_locale: "en-US",
        created_at: &created,
        processed_at: &created,
        updated_at: shopify_time(sale.created_unix + if updated { 3_600 } else { 0 }),
        currency: sale.currency.code,
        presentment_currency: sale.currency.code,
        subtotal_price: &total,
        total_line_items_price: &total,
        total_price: &total,
        current_total_price: &total,
        total_tax: &zero,
        total_discounts: &zero,
        taxes_included: false,
        financial_status: "paid",
        fulfillment_status,
        confirmed: true,
        test: false,
        source_name: "web",
        landing_site: sale.landing_site(),
        referring_site: sale.attribution().referrer.unwrap_or(""),
        tags: "bench",
        note: "Please leave the parcel with the neighbour",
        payment_gateway_names: ["shopify_payments"],
        customer: Customer {
            id: ids.number(2, 7_000_000_000_000, 1_000_000_000_000),
            email: &email,
            first_name: person.first,
            last_name: person.last,
            phone: PHONE_E164,
            verified_email: true,
            accepts_marketing: false,
            default_address: address(sale),
        },
        billing_address: address(sale),
        shipping_address: address(sale),
        line_items,
        shipping_lines: EMPTY,
        discount_codes: EMPTY,
        note_attributes: EMPTY,
    })
}

#[derive(Serialize)]
struct Refund<'a> {
    id: u64,
    admin_graphql_api_id: String,
    order_id: u64,
    created_at: &'a str,
    processed_at: &'a str,
    note: &'static str,
    restock: bool,
    user_id: Option<u64>,
    duties: [(); 0],
    order_adjustments: [(); 0],
    refund_shipping_lines: [(); 0],
    refund_line_items: [RefundLineItem<'a>; 1],
    transactions: [Transaction<'a>; 1],
}

#[derive(Serialize)]
struct RefundLineItem<'a> {
    id: u64,
    line_item_id: u64,
    quantity: i64,
    restock_type: &'static str,
    location_id: Option<u64>,
    subtotal: &'a str,
    total_tax: &'a str,
    line_item: RefundedLine<'a>,
}

#[derive(Serialize)]
struct RefundedLine<'a> {
    title: &'static str,
    sku: &'static str,
    quantity: i64,
    price: &'a str,
}

#[derive(Serialize)]
struct Transaction<'a> {
    id: u64,
    order_id: u64,
    kind: &'static str,
    gateway: &'static str,
    status: &'static str,
    message: &'static str,
    created_at: &'a str,
    processed_at: &'a str,
    test: bool,
    amount: &'a str,
    currency: &'static str,
    source_name: &'static str,
    receipt: Receipt,
}

#[derive(Serialize)]
struct Receipt {
    refund_id: String,
}

/// A Shopify refund (`refunds/create`) of one unit of an order's first line.
pub fn shopify_refund(sale: &Sale, ids: Ids) -> Vec<u8> {
    let id = ids.number(20, 900_000_000_000, 100_000_000_000);
    let order_id = order_id(ids);
    let created = shopify_time(sale.created_unix);
    let refund = sale.money(sale.refund());
    let zero = sale.money(0);
    let (title, sku, _) = sale
        .lines
        .first()
        .map_or(PRODUCTS[0], |line| PRODUCTS[line.product]);
    to_body(&Refund {
        id,
        admin_graphql_api_id: format!("gid://shopify/Refund/{id}"),
        order_id,
        created_at: &created,
        processed_at: &created,
        note: "Customer changed their mind",
        restock: false,
        user_id: None,
        duties: EMPTY,
        order_adjustments: EMPTY,
        refund_shipping_lines: EMPTY,
        refund_line_items: [RefundLineItem {
            id: ids.number(21, 600_000_000_000, 100_000_000_000),
            line_item_id: line_item_id(ids, 0),
            quantity: 1,
            restock_type: "no_restock",
            location_id: None,
            subtotal: &refund,
            total_tax: &zero,
            line_item: RefundedLine {
                title,
                sku,
                quantity: 1,
                price: &refund,
            },
        }],
        transactions: [Transaction {
            id: ids.number(22, 7_100_000_000_000, 100_000_000_000),
            order_id,
            kind: "refund",
            gateway: "shopify_payments",
            status: "success",
            message: "Transaction approved",
            created_at: &created,
            processed_at: &created,
            test: false,
            amount: &refund,
            currency: sale.currency.code,
            source_name: "web",
            receipt: Receipt {
                refund_id: format!("re_{}", ids.alnum(23, 24)),
            },
        }],
    })
}
