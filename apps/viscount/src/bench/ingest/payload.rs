//! The bodies of `bench ingest`'s deliveries: what Shopify, Stripe, PayPal and
//! WooCommerce send for each topic, with the fields their real payloads carry, filled
//! from a [`super::sale::Sale`]. Ids come from [`super::Ids`], unique per delivery; everything else may
//! repeat.
//!
//! Each body is a typed struct serialized straight to bytes: the load generator shares
//! the machine with the platform it measures, and building a `serde_json::Value` tree
//! of a Shopify order and serializing it cost about 60 µs, ten times the struct's.

mod paypal;
mod shopify;
mod stripe;
mod woocommerce;

use serde::Serialize;

pub use paypal::paypal_sale;
pub use shopify::{shopify_order, shopify_refund};
pub use stripe::stripe_charge;
pub use woocommerce::woocommerce_order;

/// An empty JSON array, for the lists a body has but the bench leaves empty.
const EMPTY: [(); 0] = [];

/// A HATEOAS link, as PayPal writes them.
#[derive(Serialize)]
struct Link {
    href: String,
    rel: &'static str,
    method: &'static str,
}

impl Link {
    fn new(href: String, rel: &'static str, method: &'static str) -> Self {
        Self { href, rel, method }
    }
}

/// `value` as JSON bytes (a body of plain structs always serializes).
fn to_body(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
