//! The templates the service starts with, seeded at start without touching ones
//! already stored (an admin's edits survive restarts).

use super::{
    ORDER_CONFIRMED, PAYMENT_FAILED, PROMOTION, REFUND_PROCESSED, SHIPMENT_DELIVERED,
    SHIPMENT_DISPATCHED, STOCK_LOW, WELCOME,
};
use crate::domain::{Category, Channel, TemplateId, TemplateText};

/// A template the service starts with.
#[derive(Debug, Clone)]
pub struct DefaultTemplate {
    /// Its id.
    pub id: TemplateId,
    /// Its category.
    pub category: Category,
    /// Its text.
    pub text: TemplateText,
}

fn seed(
    key: &str,
    channel: Channel,
    category: Category,
    subject: Option<&str>,
    body: &str,
    html: Option<&str>,
) -> DefaultTemplate {
    DefaultTemplate {
        id: TemplateId::new(key, channel),
        category,
        text: TemplateText {
            subject: subject.map(str::to_owned),
            body: body.to_owned(),
            html: html.map(str::to_owned),
        },
    }
}

/// The default templates, seeded at start without touching ones already stored (an
/// admin's edits survive restarts).
pub fn defaults() -> Vec<DefaultTemplate> {
    use Category::{Marketing, Transactional};
    use Channel::{Email, Push, Sms};
    vec![
        seed(
            WELCOME,
            Email,
            Transactional,
            Some("Welcome to Viscount, {{ user.name }}"),
            "Hello {{ user.name }},\n\nwelcome to Viscount! Your account {{ user.email }} is ready.\n\
             You can follow your orders and shipments from your account at any time.\n\n\
             The Viscount team\n",
            Some(
                "<p>Hello {{ user.name }},</p>\n<p>welcome to Viscount! Your account \
                 <strong>{{ user.email }}</strong> is ready.</p>\n<p>The Viscount team</p>\n",
            ),
        ),
        seed(
            ORDER_CONFIRMED,
            Email,
            Transactional,
            Some("Order {{ order.id }} confirmed"),
            "Hello {{ user.name }},\n\nthank you for your order {{ order.id }}. It is confirmed \
             and being prepared.\n\n\
             {% for item in order.items %}\n\
             - {{ item.quantity }} x {{ item.sku }} at {{ item.unit_price }}\n\
             {% endfor %}\n\n\
             Total: {{ order.total }}\n\n\
             We will write again when it ships.\nThe Viscount team\n",
            Some(
                "<p>Hello {{ user.name }},</p>\n<p>thank you for your order \
                 <strong>{{ order.id }}</strong>. It is confirmed and being prepared.</p>\n<ul>\n\
                 {% for item in order.items %}\n\
                 <li>{{ item.quantity }} &times; {{ item.sku }} at {{ item.unit_price }}</li>\n\
                 {% endfor %}\n</ul>\n<p>Total: <strong>{{ order.total }}</strong></p>\n",
            ),
        ),
        seed(
            ORDER_CONFIRMED,
            Sms,
            Transactional,
            None,
            "Viscount: order {{ order.id }} is confirmed. Total {{ order.total }}.",
            None,
        ),
        seed(
            PAYMENT_FAILED,
            Email,
            Transactional,
            Some("Payment for order {{ order.id }} failed"),
            "Hello {{ user.name }},\n\nthe payment for your order {{ order.id }}\
             {% if order.total %} of {{ order.total }}{% endif %} did not go through: \
             {{ payment.detail }}.\n\nThe order was cancelled and nothing was charged. You are \
             welcome to order again with another payment method.\n\nThe Viscount team\n",
            None,
        ),
        seed(
            PAYMENT_FAILED,
            Sms,
            Transactional,
            None,
            "Viscount: the payment for order {{ order.id }} failed ({{ payment.reason }}). \
             Nothing was charged.",
            None,
        ),
        seed(
            SHIPMENT_DISPATCHED,
            Email,
            Transactional,
            Some("Your order {{ order.id }} is on its way"),
            "Hello {{ user.name }},\n\nyour order {{ order.id }} left our warehouse with \
             {{ shipment.carrier }}.\nTracking number: {{ shipment.tracking_number }}\n\
             {% if shipment.tracking_url %}\nTrack it at {{ shipment.tracking_url }}\n{% endif %}\n\n\
             The Viscount team\n",
            None,
        ),
        seed(
            SHIPMENT_DISPATCHED,
            Sms,
            Transactional,
            None,
            "Viscount: order {{ order.id }} shipped with {{ shipment.carrier }}, tracking \
             number {{ shipment.tracking_number }}.",
            None,
        ),
        seed(
            SHIPMENT_DISPATCHED,
            Push,
            Transactional,
            Some("Your order is on its way"),
            "Order {{ order.id }} shipped (tracking number {{ shipment.tracking_number }}).",
            None,
        ),
        seed(
            SHIPMENT_DELIVERED,
            Email,
            Transactional,
            Some("Your order {{ order.id }} was delivered"),
            "Hello {{ user.name }},\n\na parcel of your order {{ order.id }} (tracking number \
             {{ shipment.tracking_number }}) was delivered.\n\
             {% if order.delivered %}\nYour whole order has now arrived. Enjoy!\n{% endif %}\n\n\
             The Viscount team\n",
            None,
        ),
        seed(
            SHIPMENT_DELIVERED,
            Push,
            Transactional,
            Some("Delivered"),
            "A parcel of order {{ order.id }} was delivered.",
            None,
        ),
        seed(
            REFUND_PROCESSED,
            Email,
            Transactional,
            Some("Refund of {{ refund.amount }} for order {{ order.id }}"),
            "Hello {{ user.name }},\n\nwe refunded {{ refund.amount }} for your order \
             {{ order.id }}.\n\
             {% if refund.full %}\nYour order was refunded in full.\n\
             {% else %}\nRefunded so far: {{ refund.refunded_total }}.\n{% endif %}\n\
             The money should reach your account within a few days.\n\nThe Viscount team\n",
            None,
        ),
        seed(
            STOCK_LOW,
            Email,
            Transactional,
            Some("Low stock: {{ stock.sku }}"),
            "Hello {{ user.name }},\n\nonly {{ stock.available }} units of {{ stock.sku }} are \
             available (alert threshold {{ stock.threshold }}). Consider restocking.\n",
            None,
        ),
        seed(
            PROMOTION,
            Email,
            Marketing,
            Some("{{ headline }}"),
            "Hello {{ user.name }},\n\n{{ message }}\n\n--\nYou receive this because you did \
             not opt out of news from Viscount; switch it off in your notification \
             preferences.\n",
            None,
        ),
        seed(
            PROMOTION,
            Sms,
            Marketing,
            None,
            "Viscount: {{ headline }} - {{ message }}",
            None,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates::{Renderer, sample_context};

    #[test]
    fn every_default_template_passes_its_own_check() {
        let renderer = Renderer::new();
        for template in defaults() {
            assert_eq!(
                renderer.check(&template.id, &template.text),
                Vec::new(),
                "{}",
                template.id
            );
        }
    }

    #[test]
    fn order_confirmation_lists_lines_and_total() {
        let renderer = Renderer::new();
        let confirmed = defaults()
            .into_iter()
            .find(|t| t.id.to_string() == "order_confirmed.email")
            .expect("seeded");
        let context = sample_context(ORDER_CONFIRMED).expect("sample");
        let rendered = renderer.render(&confirmed.text, &context).expect("renders");
        assert!(
            rendered.body.contains("- 2 x SKU-1 at 14.99 USD\n"),
            "{}",
            rendered.body
        );
        assert!(
            rendered.body.contains("Total: 29.98 USD"),
            "{}",
            rendered.body
        );
        assert_eq!(
            rendered.subject.as_deref(),
            Some("Order 0190a000-0000-7000-8000-000000000002 confirmed")
        );
    }
}
