//! The templates the service starts with, seeded at start without touching ones
//! already stored (an admin's edits survive restarts).

use super::{
    ANOMALY_DETECTED, DISPUTE_OPENED, ORDER_CONFIRMED, PAYMENT_FAILED, PROMOTION, REFUND_PROCESSED,
    REPORT_READY, SHIPMENT_DELIVERED, SHIPMENT_DISPATCHED, STOCK_LOW, WELCOME,
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
            REPORT_READY,
            Email,
            Transactional,
            Some(
                "Report: {{ report.title }}{% if report.period %} ({{ report.period }}){% endif %}",
            ),
            "Hello,\n\nthe report {{ report.title }} is ready.\n\n\
             {% if report.period %}\n\
             Period: {{ report.period }}\n\
             {% endif %}\n\
             Format: {{ report.format }}\n\
             Generated: {{ report.generated_at }}\n\n\
             {% if report.attached %}\n\
             It is attached to this email as {{ report.file_name }}.\n\
             {% else %}\n\
             It is not attached to this email; an admin can download it through the gateway \
             at {{ report.download_path }}\n\
             {% endif %}\n\n\
             You receive this because a report schedule names this address.\n\
             The Viscount team\n",
            None,
        ),
        seed(
            ANOMALY_DETECTED,
            Email,
            Transactional,
            Some(
                "Anomaly: {{ anomaly.series_name }} {{ anomaly.direction }} its expected band \
                 ({{ anomaly.tenant_id }}, {{ anomaly.minute }})",
            ),
            "Hello {{ user.name }},\n\n{{ anomaly.series_name }} of tenant \
             {{ anomaly.tenant_id }} left its expected band in the minute from \
             {{ anomaly.minute }}.\n\n\
             Measured: {{ anomaly.value }}\n\
             Expected: {{ anomaly.expected }} (band {{ anomaly.lower }} to {{ anomaly.upper }})\n\
             The value is {{ anomaly.direction }} the band.\n\n\
             The analytics dashboards show the series around that minute.\n",
            None,
        ),
        // The deadline is what makes this alert urgent: a dispute not answered at the
        // provider by then is lost, so it stands in the subject as well as the body.
        seed(
            DISPUTE_OPENED,
            Email,
            Transactional,
            Some(
                "Payment disputed: {{ dispute.amount }} on order {{ order.id }}\
                 {% if dispute.evidence_due_by %}, answer by {{ dispute.evidence_due_by }}{% endif %}",
            ),
            "Hello {{ user.name }},\n\nthe cardholder disputed the payment {{ payment.id }} of \
             order {{ order.id }} at the payment provider (a chargeback).\n\n\
             Amount disputed: {{ dispute.amount }}\n\
             Reason: {{ dispute.reason }}\n\
             Dispute: {{ dispute.id }}\n\
             {% if dispute.evidence_due_by %}\n\
             Evidence due by: {{ dispute.evidence_due_by }}\n\
             {% endif %}\n\n\
             The disputed amount is withheld from the shop until the dispute is decided. \
             {% if dispute.evidence_due_by %}\
             Answer the dispute with evidence at the payment provider before \
             {{ dispute.evidence_due_by }}: a dispute not answered by then is lost.\
             {% else %}\
             Answer the dispute with evidence at the payment provider before the deadline it \
             shows there: a dispute not answered in time is lost.\
             {% endif %}\n",
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
    fn a_report_names_its_title_and_period_and_says_where_the_file_is() {
        let renderer = Renderer::new();
        let ready = defaults()
            .into_iter()
            .find(|t| t.id.to_string() == "report_ready.email")
            .expect("seeded");
        let mut context = sample_context(REPORT_READY).expect("sample");
        let attached = renderer.render(&ready.text, &context).expect("renders");
        assert_eq!(
            attached.subject.as_deref(),
            Some("Report: Sales summary (2026-01-01 00:00 UTC to 2026-01-08 00:00 UTC)")
        );
        assert_eq!(
            attached.body,
            "Hello,\n\nthe report Sales summary is ready.\n\n\
             Period: 2026-01-01 00:00 UTC to 2026-01-08 00:00 UTC\n\
             Format: CSV\n\
             Generated: 2026-01-08 06:00 UTC\n\n\
             It is attached to this email as sales_summary-2026-01-08.csv.\n\n\
             You receive this because a report schedule names this address.\n\
             The Viscount team"
        );
        context["report"]["attached"] = serde_json::Value::Bool(false);
        context["report"]["period"] = serde_json::Value::String(String::new());
        let linked = renderer.render(&ready.text, &context).expect("renders");
        assert_eq!(linked.subject.as_deref(), Some("Report: Sales summary"));
        assert!(
            linked.body.contains(
                "download it through the gateway at \
                 /api/v1/reports/0190a000-0000-7000-8000-000000000005/download\n"
            ),
            "{}",
            linked.body
        );
        assert!(!linked.body.contains("Period"), "{}", linked.body);
    }

    #[test]
    fn an_anomaly_alert_names_series_minute_value_and_band() {
        let renderer = Renderer::new();
        let alert = defaults()
            .into_iter()
            .find(|t| t.id.to_string() == "anomaly_detected.email")
            .expect("seeded");
        let context = sample_context(ANOMALY_DETECTED).expect("sample");
        let rendered = renderer.render(&alert.text, &context).expect("renders");
        assert_eq!(
            rendered.subject.as_deref(),
            Some(
                "Anomaly: Revenue per minute above its expected band (viscount, 2026-01-08 06:00 UTC)"
            )
        );
        for part in [
            "Hello Ada Lovelace,",
            "Revenue per minute of tenant viscount left its expected band in the minute from 2026-01-08 06:00 UTC.",
            "Measured: 1250.00 USD\n",
            "Expected: 200.00 USD (band 50.00 USD to 350.00 USD)\n",
            "The value is above the band.",
        ] {
            assert!(
                rendered.body.contains(part),
                "{part:?} in {}",
                rendered.body
            );
        }
    }

    #[test]
    fn a_dispute_alert_names_order_payment_amount_reason_and_deadline() {
        let renderer = Renderer::new();
        let alert = defaults()
            .into_iter()
            .find(|t| t.id.to_string() == "dispute_opened.email")
            .expect("seeded");
        let mut context = sample_context(DISPUTE_OPENED).expect("sample");
        let rendered = renderer.render(&alert.text, &context).expect("renders");
        assert_eq!(
            rendered.subject.as_deref(),
            Some(
                "Payment disputed: 29.98 USD on order 0190a000-0000-7000-8000-000000000002, \
                 answer by 2026-01-22 23:59 UTC"
            )
        );
        assert_eq!(
            rendered.body,
            "Hello Ada Lovelace,\n\nthe cardholder disputed the payment \
             0190a000-0000-7000-8000-000000000003 of order 0190a000-0000-7000-8000-000000000002 \
             at the payment provider (a chargeback).\n\n\
             Amount disputed: 29.98 USD\n\
             Reason: product_not_received\n\
             Dispute: dp_1Q2w3E4r5T6y7U8i\n\
             Evidence due by: 2026-01-22 23:59 UTC\n\n\
             The disputed amount is withheld from the shop until the dispute is decided. \
             Answer the dispute with evidence at the payment provider before \
             2026-01-22 23:59 UTC: a dispute not answered by then is lost."
        );

        // Without a deadline from the provider, the alert still says one exists.
        context["dispute"]["evidence_due_by"] = serde_json::Value::Null;
        let undated = renderer.render(&alert.text, &context).expect("renders");
        assert_eq!(
            undated.subject.as_deref(),
            Some("Payment disputed: 29.98 USD on order 0190a000-0000-7000-8000-000000000002")
        );
        assert!(
            !undated.body.contains("Evidence due by"),
            "{}",
            undated.body
        );
        assert!(
            undated.body.ends_with(
                "Answer the dispute with evidence at the payment provider before the deadline \
                 it shows there: a dispute not answered in time is lost."
            ),
            "{}",
            undated.body
        );
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
