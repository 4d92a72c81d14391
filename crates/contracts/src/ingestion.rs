//! What the ingestion service publishes: each order, payment and refund it took from an
//! external storefront or payment provider, normalized and stripped of personal data,
//! and each marketing touchpoint a tenant sent. Analytics builds its revenue ledger,
//! attribution and reconciliation from these.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Event, Money};

/// The built-in tenant whose events are Viscount's own orders, payments and refunds (its
/// id in identity, and the `tenant_id` of its events).
pub const VISCOUNT_TENANT: &str = "viscount";

/// Where an attribution event came from: an external system Viscount takes webhooks
/// from, or Viscount itself.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Shopify storefronts.
    Shopify,
    /// Stripe payments.
    Stripe,
    /// PayPal payments.
    Paypal,
    /// WooCommerce storefronts.
    Woocommerce,
    /// Viscount's own ordering and payments (the [`VISCOUNT_TENANT`]'s events), taken
    /// from the bus. Never a webhook provider: it is not in [`Provider::ALL`] and
    /// [`Provider::parse`] does not name it, so no webhook path, source or signature
    /// scheme accepts it.
    Viscount,
}

impl Provider {
    /// Every webhook provider (not [`Provider::Viscount`]).
    pub const ALL: [Provider; 4] = [
        Provider::Shopify,
        Provider::Stripe,
        Provider::Paypal,
        Provider::Woocommerce,
    ];

    /// The name used in paths and stored rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Shopify => "shopify",
            Provider::Stripe => "stripe",
            Provider::Paypal => "paypal",
            Provider::Woocommerce => "woocommerce",
            Provider::Viscount => "viscount",
        }
    }

    /// The webhook provider named `name` (never [`Provider::Viscount`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// What an attribution event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A storefront order: a conversion that makes revenue.
    Order,
    /// A charge or sale at a payment provider: matched to orders, never revenue itself.
    Payment,
    /// Money given back: reduces revenue.
    Refund,
}

impl EventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Order => "order",
            EventKind::Payment => "payment",
            EventKind::Refund => "refund",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [EventKind::Order, EventKind::Payment, EventKind::Refund]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// A marketing channel, after Google Analytics 4's default channel grouping.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Ads on search engines.
    PaidSearch,
    /// Unpaid search results.
    OrganicSearch,
    /// Ads on social networks.
    PaidSocial,
    /// Unpaid social links.
    OrganicSocial,
    /// Email campaigns and newsletters.
    Email,
    /// Affiliate programmes.
    Affiliate,
    /// Links from other sites.
    Referral,
    /// No source at all.
    Direct,
    /// Marketplaces (Amazon, eBay, Etsy, ...).
    Marketplace,
    /// Something no rule names.
    Other,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 10] = [
        Channel::PaidSearch,
        Channel::OrganicSearch,
        Channel::PaidSocial,
        Channel::OrganicSocial,
        Channel::Email,
        Channel::Affiliate,
        Channel::Referral,
        Channel::Direct,
        Channel::Marketplace,
        Channel::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::PaidSearch => "paid_search",
            Channel::OrganicSearch => "organic_search",
            Channel::PaidSocial => "paid_social",
            Channel::OrganicSocial => "organic_social",
            Channel::Email => "email",
            Channel::Affiliate => "affiliate",
            Channel::Referral => "referral",
            Channel::Direct => "direct",
            Channel::Marketplace => "marketplace",
            Channel::Other => "other",
        }
    }

    /// The channel named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Where a visit or an order came from, as the storefront told it. Only these fields
/// are kept of a landing URL or referrer: never its other query parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct ChannelFields {
    /// `utm_source` (or WooCommerce's recorded source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    /// `utm_medium`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    /// The referring site's host, e.g. `www.google.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referring_site: Option<String>,
    /// The storefront's own name for the sales channel (Shopify `source_name`,
    /// WooCommerce's source type), e.g. `web`, `pos`, `amazon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct LineItem {
    /// The storefront's sku, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// How many.
    pub quantity: i64,
    /// Price of one, in minor units of the event's currency.
    pub unit_price: i64,
}

/// An order, payment or refund from an external provider, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct EventReceived {
    /// The stored event's id.
    pub id: String,
    /// The tenant whose shop sent it.
    pub tenant_id: String,
    /// Which provider.
    pub provider: Provider,
    /// The provider's id of the delivery or event (unique per tenant and provider).
    pub provider_event_id: String,
    /// The provider's name of what it delivered (`orders/create`, `orders/updated`,
    /// `charge.refunded`, `order.updated`, ...).
    pub topic: String,
    /// Order, payment or refund.
    pub kind: EventKind,
    /// The provider's id of the order, charge, sale or refund. An order's later
    /// updates (Shopify `orders/updated`, WooCommerce `order.updated`) carry the same
    /// id: the latest event per (tenant, provider, kind, external id) is the order as
    /// it stands, not another order.
    pub external_id: String,
    /// The order this payment or refund is for (Stripe `metadata.order_id`, PayPal
    /// `invoice_number` or `custom`, the refunded order's id); an order's own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_ref: Option<String>,
    /// The amount (always positive; a refund's kind says it is money back).
    pub amount: Money,
    /// An order's lines.
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// When it happened at the provider (RFC 3339).
    pub occurred_at: String,
    /// Where the customer came from.
    #[serde(default)]
    pub channel_fields: ChannelFields,
    /// The channel the tenant's taxonomy gives those fields.
    pub channel: Channel,
    /// A per-tenant keyed hash of the customer's email (never the email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    /// When Viscount stored it (RFC 3339).
    pub received_at: String,
}

impl Event for EventReceived {
    const TYPE: &'static str = "ingestion.event.received.v1";
    fn subject(&self) -> String {
        self.id.clone()
    }
}

/// A customer's visit with its marketing source, sent by the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema, ToSchema)]
pub struct TouchpointRecorded {
    /// The stored touchpoint's id.
    pub id: String,
    /// The tenant.
    pub tenant_id: String,
    /// The keyed hash of the customer's email or the shop's customer id.
    pub customer_ref: String,
    /// When the visit happened (RFC 3339).
    pub occurred_at: String,
    /// Where the visit came from.
    pub channel_fields: ChannelFields,
    /// The channel the tenant's taxonomy gives it.
    pub channel: Channel,
}

impl Event for TouchpointRecorded {
    const TYPE: &'static str = "ingestion.touchpoint.recorded.v1";
    fn subject(&self) -> String {
        self.id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viscount_is_a_provider_of_events_but_never_of_webhooks() {
        for provider in Provider::ALL {
            assert_eq!(Provider::parse(provider.as_str()), Some(provider));
            assert_ne!(provider, Provider::Viscount);
        }
        assert_eq!(Provider::parse("viscount"), None);
        assert_eq!(Provider::Viscount.as_str(), VISCOUNT_TENANT);
        assert_eq!(
            serde_json::to_value(Provider::Viscount).ok(),
            Some(serde_json::json!("viscount"))
        );
    }
}
