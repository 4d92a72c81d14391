//! Which provider event a webhook delivers, named by the path it is posted to
//! (`/webhooks/{provider}/{topic}`), and the kind of attribution event it becomes.

use contracts::ingestion::{EventKind, Provider};

/// A webhook topic Viscount takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Shopify `orders/create`.
    ShopifyOrderCreated,
    /// Shopify `orders/updated`.
    ShopifyOrderUpdated,
    /// Shopify `refunds/create`.
    ShopifyRefundCreated,
    /// Stripe `charge.succeeded`.
    StripeChargeSucceeded,
    /// Stripe `charge.refunded`.
    StripeChargeRefunded,
    /// PayPal `PAYMENT.SALE.COMPLETED`.
    PaypalSaleCompleted,
    /// PayPal `PAYMENT.SALE.REFUNDED`.
    PaypalSaleRefunded,
    /// WooCommerce `order.created`.
    WoocommerceOrderCreated,
    /// WooCommerce `order.updated` (a `refunded` status makes it a refund).
    WoocommerceOrderUpdated,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 9] = [
        Topic::ShopifyOrderCreated,
        Topic::ShopifyOrderUpdated,
        Topic::ShopifyRefundCreated,
        Topic::StripeChargeSucceeded,
        Topic::StripeChargeRefunded,
        Topic::PaypalSaleCompleted,
        Topic::PaypalSaleRefunded,
        Topic::WoocommerceOrderCreated,
        Topic::WoocommerceOrderUpdated,
    ];

    /// The provider that sends it.
    pub fn provider(self) -> Provider {
        match self {
            Topic::ShopifyOrderCreated
            | Topic::ShopifyOrderUpdated
            | Topic::ShopifyRefundCreated => Provider::Shopify,
            Topic::StripeChargeSucceeded | Topic::StripeChargeRefunded => Provider::Stripe,
            Topic::PaypalSaleCompleted | Topic::PaypalSaleRefunded => Provider::Paypal,
            Topic::WoocommerceOrderCreated | Topic::WoocommerceOrderUpdated => {
                Provider::Woocommerce
            }
        }
    }

    /// The path after `/webhooks/{provider}/`.
    pub fn path(self) -> &'static str {
        match self {
            Topic::ShopifyOrderCreated => "orders/create",
            Topic::ShopifyOrderUpdated => "orders/updated",
            Topic::ShopifyRefundCreated => "refunds/create",
            Topic::StripeChargeSucceeded => "charge/succeeded",
            Topic::StripeChargeRefunded => "charge/refunded",
            Topic::PaypalSaleCompleted => "payment/sale/completed",
            Topic::PaypalSaleRefunded => "payment/sale/refunded",
            Topic::WoocommerceOrderCreated => "order/created",
            Topic::WoocommerceOrderUpdated => "order/updated",
        }
    }

    /// The provider's own name of the event (Shopify's `X-Shopify-Topic`, Stripe's and
    /// PayPal's event `type`, WooCommerce's `X-WC-Webhook-Topic`).
    pub fn provider_name(self) -> &'static str {
        match self {
            Topic::ShopifyOrderCreated => "orders/create",
            Topic::ShopifyOrderUpdated => "orders/updated",
            Topic::ShopifyRefundCreated => "refunds/create",
            Topic::StripeChargeSucceeded => "charge.succeeded",
            Topic::StripeChargeRefunded => "charge.refunded",
            Topic::PaypalSaleCompleted => "PAYMENT.SALE.COMPLETED",
            Topic::PaypalSaleRefunded => "PAYMENT.SALE.REFUNDED",
            Topic::WoocommerceOrderCreated => "order.created",
            Topic::WoocommerceOrderUpdated => "order.updated",
        }
    }

    /// The topic of `provider` posted to `path`.
    pub fn parse(provider: Provider, path: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.provider() == provider && t.path() == path.trim_matches('/'))
    }

    /// The kind of event the topic delivers, before looking at the payload
    /// (WooCommerce's `order.updated` with a refunded status is a refund).
    pub fn kind(self) -> EventKind {
        match self {
            Topic::ShopifyOrderCreated
            | Topic::ShopifyOrderUpdated
            | Topic::WoocommerceOrderCreated
            | Topic::WoocommerceOrderUpdated => EventKind::Order,
            Topic::StripeChargeSucceeded | Topic::PaypalSaleCompleted => EventKind::Payment,
            Topic::ShopifyRefundCreated
            | Topic::StripeChargeRefunded
            | Topic::PaypalSaleRefunded => EventKind::Refund,
        }
    }

    /// The stored name, `{provider}:{path}`.
    pub fn as_str(self) -> String {
        format!("{}:{}", self.provider().as_str(), self.path())
    }

    /// The topic stored as `name` ([`Topic::as_str`]).
    pub fn from_stored(name: &str) -> Option<Self> {
        let (provider, path) = name.split_once(':')?;
        Self::parse(Provider::parse(provider)?, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_round_trips_through_its_path_and_stored_name() {
        for topic in Topic::ALL {
            assert_eq!(Topic::parse(topic.provider(), topic.path()), Some(topic));
            assert_eq!(Topic::from_stored(&topic.as_str()), Some(topic));
        }
        assert_eq!(Topic::parse(Provider::Stripe, "orders/create"), None);
    }
}
