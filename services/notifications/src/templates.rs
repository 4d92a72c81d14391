//! Message templates, free of I/O: the MiniJinja renderer (text and HTML), checking an
//! admin's edit before it is stored, the context each event gives its template, and the
//! default templates seeded at start.
//!
//! Rendering uses MiniJinja's semi-strict undefined behaviour: printing or iterating a
//! name the context does not have is an error (so a typo never sends "Hello ,"), while
//! `{% if name %}` on a missing value is allowed. An edit to a template whose context is
//! fixed by code (the event templates) is rendered once against a sample of that
//! context, so a bad variable is refused on PUT rather than at the next order.

use contracts::Money;
use contracts::fulfillment::{ShipmentDelivered, ShipmentDispatched};
use contracts::inventory::StockLow;
use contracts::ordering::{OrderConfirmed, OrderLine, RefundFacts};
use contracts::payments::{FailureReason, PaymentFailed};
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::{Map, Value, json};

use crate::domain::{Category, Channel, TemplateId, format_money};

/// Key of the message sent when an account is created (`identity.user.created`).
pub const WELCOME: &str = "welcome";
/// Key of the message sent when an order is confirmed (`ordering.order.confirmed`).
pub const ORDER_CONFIRMED: &str = "order_confirmed";
/// Key of the message sent when a payment fails (`payments.payment.failed`).
pub const PAYMENT_FAILED: &str = "payment_failed";
/// Key of the message sent when a shipment leaves (`fulfillment.shipment.dispatched`).
pub const SHIPMENT_DISPATCHED: &str = "shipment_dispatched";
/// Key of the message sent when a shipment arrives (`fulfillment.shipment.delivered`).
pub const SHIPMENT_DELIVERED: &str = "shipment_delivered";
/// Key of the message sent when money goes back (`ordering.order.refunded` and
/// `ordering.order.partially_refunded`).
pub const REFUND_PROCESSED: &str = "refund_processed";
/// Key of the admins' alert when stock runs low (`inventory.stock.low`).
pub const STOCK_LOW: &str = "stock_low";
/// Key of the seeded marketing template, sent through the API.
pub const PROMOTION: &str = "promotion";

/// Keys whose context is fixed by code: edits to their templates are test-rendered.
pub const EVENT_KEYS: [&str; 7] = [
    WELCOME,
    ORDER_CONFIRMED,
    PAYMENT_FAILED,
    SHIPMENT_DISPATCHED,
    SHIPMENT_DELIVERED,
    REFUND_PROCESSED,
    STOCK_LOW,
];

/// Longest subject template.
pub const MAX_SUBJECT: usize = 1_000;
/// Longest body template.
pub const MAX_BODY: usize = 100_000;
/// Longest HTML template.
pub const MAX_HTML: usize = 200_000;
/// Rendering budget (MiniJinja fuel): stops a template that loops for ever.
const FUEL: u64 = 200_000;

/// The editable parts of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateText {
    /// Subject line (email) or title (push).
    pub subject: Option<String>,
    /// Plain-text body.
    pub body: String,
    /// HTML body (email).
    pub html: Option<String>,
}

/// A template rendered for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Subject, on one line.
    pub subject: Option<String>,
    /// Plain-text body.
    pub body: String,
    /// HTML body.
    pub html: Option<String>,
}

/// A part of a template that cannot be stored or rendered, named like the API field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct TemplateError {
    /// `subject`, `body` or `html`.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Renders templates: plain text as written, HTML with auto-escaping.
pub struct Renderer {
    text: Environment<'static>,
    html: Environment<'static>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").finish_non_exhaustive()
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

fn environment(escape: AutoEscape) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_fuel(Some(FUEL));
    // Block tags on their own line leave no blank line behind, which matters in text
    // messages where every newline shows.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.set_auto_escape_callback(move |_| escape.clone());
    env
}

impl Renderer {
    /// A renderer with the platform's settings.
    pub fn new() -> Self {
        Self {
            text: environment(AutoEscape::None),
            html: environment(AutoEscape::Html),
        }
    }

    /// Renders every part of `template` with `context`.
    pub fn render(
        &self,
        template: &TemplateText,
        context: &Value,
    ) -> Result<Rendered, TemplateError> {
        let subject = template
            .subject
            .as_deref()
            .map(|source| {
                self.render_part(&self.text, "subject", source, context)
                    // A subject is one header line whatever the data holds.
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .transpose()?;
        let body = self.render_part(&self.text, "body", &template.body, context)?;
        let html = template
            .html
            .as_deref()
            .map(|source| self.render_part(&self.html, "html", source, context))
            .transpose()?;
        Ok(Rendered {
            subject,
            body,
            html,
        })
    }

    fn render_part(
        &self,
        env: &Environment<'static>,
        field: &'static str,
        source: &str,
        context: &Value,
    ) -> Result<String, TemplateError> {
        env.render_str(source, minijinja::Value::from(Serde(context)))
            .map_err(|err| TemplateError {
                field,
                message: describe(&err),
            })
    }

    /// Checks an edit of template `id`: sizes, a subject for email, syntax of every part,
    /// and, for event templates, a render against a sample of the event's context.
    /// Returns every problem found.
    pub fn check(&self, id: &TemplateId, template: &TemplateText) -> Vec<TemplateError> {
        let mut problems = Vec::new();
        let mut problem = |field, message: &str| {
            problems.push(TemplateError {
                field,
                message: message.to_owned(),
            });
        };
        match &template.subject {
            None if id.channel().needs_subject() => {
                problem("subject", "is required for email templates")
            }
            Some(s) if s.trim().is_empty() => problem("subject", "must not be empty"),
            Some(s) if s.chars().count() > MAX_SUBJECT => problem("subject", "is too long"),
            _ => {}
        }
        if template.body.trim().is_empty() {
            problem("body", "must not be empty");
        } else if template.body.chars().count() > MAX_BODY {
            problem("body", "is too long");
        }
        match &template.html {
            Some(_) if id.channel() != Channel::Email => {
                problem("html", "only email templates have an HTML part")
            }
            Some(h) if h.chars().count() > MAX_HTML => problem("html", "is too long"),
            _ => {}
        }
        if !problems.is_empty() {
            return problems;
        }
        let parts = [
            ("subject", &self.text, template.subject.as_deref()),
            ("body", &self.text, Some(template.body.as_str())),
            ("html", &self.html, template.html.as_deref()),
        ];
        for (field, env, source) in parts {
            if let Some(source) = source
                && let Err(err) = env.template_from_str(source)
            {
                problems.push(TemplateError {
                    field,
                    message: describe(&err),
                });
            }
        }
        if problems.is_empty()
            && let Some(sample) = sample_context(id.key())
            && let Err(err) = self.render(template, &sample)
        {
            problems.push(err);
        }
        problems
    }
}

/// An engine error as an API message: what and where, without the template source.
fn describe(err: &minijinja::Error) -> String {
    let what = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    match err.line() {
        Some(line) => format!("{what} (line {line})"),
        None => what,
    }
}

/// Who a message is for, as templates see them (`user.name`, `user.email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
}

fn user(recipient: &Recipient) -> Value {
    json!({"id": recipient.id, "name": recipient.name, "email": recipient.email})
}

fn money(value: &Money) -> String {
    format_money(value.amount, &value.currency)
}

fn lines(items: &[OrderLine]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|line| {
                let total = line
                    .unit_price
                    .amount
                    .saturating_mul(i64::from(line.quantity));
                json!({
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": money(&line.unit_price),
                    "line_total": format_money(total, &line.unit_price.currency),
                })
            })
            .collect(),
    )
}

/// The order total: the event's, or the sum of its lines when they share a currency.
fn order_total(total: Option<&Money>, items: &[OrderLine]) -> Option<String> {
    if let Some(total) = total {
        return Some(money(total));
    }
    let currency = &items.first()?.unit_price.currency;
    if items.iter().any(|l| &l.unit_price.currency != currency) {
        return None;
    }
    let sum = items.iter().fold(0i64, |sum, l| {
        sum.saturating_add(l.unit_price.amount.saturating_mul(i64::from(l.quantity)))
    });
    Some(format_money(sum, currency))
}

/// `welcome`: `user`.
pub fn welcome(recipient: &Recipient) -> Value {
    json!({"user": user(recipient)})
}

/// `order_confirmed`: `user`, `order.{id, total, items[].{sku, quantity, unit_price,
/// line_total}}`.
pub fn order_confirmed(recipient: &Recipient, order: &OrderConfirmed) -> Value {
    json!({
        "user": user(recipient),
        "order": {
            "id": order.order_id,
            "total": order_total(order.total.as_ref(), &order.items).unwrap_or_default(),
            "items": lines(&order.items),
        },
    })
}

fn failure_reason(reason: FailureReason) -> &'static str {
    match reason {
        FailureReason::Declined => "declined",
        FailureReason::InsufficientFunds => "insufficient_funds",
        FailureReason::Fraud => "fraud",
        FailureReason::ExpiredCard => "expired_card",
        FailureReason::Mismatch => "mismatch",
        FailureReason::ProviderError => "provider_error",
    }
}

/// `payment_failed`: `user`, `order.{id, total}`, `payment.{id, reason, detail}`.
pub fn payment_failed(
    recipient: &Recipient,
    total: Option<&Money>,
    failed: &PaymentFailed,
) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": failed.order_id, "total": total.map(money)},
        "payment": {
            "id": failed.payment_id,
            "reason": failure_reason(failed.reason),
            "detail": failed.detail,
        },
    })
}

/// `shipment_dispatched`: `user`, `order.id`, `shipment.{id, carrier, tracking_number,
/// tracking_url, dispatched_at}`.
pub fn shipment_dispatched(recipient: &Recipient, shipment: &ShipmentDispatched) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": shipment.order_id},
        "shipment": {
            "id": shipment.shipment_id,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
            "dispatched_at": shipment.dispatched_at,
        },
    })
}

/// `shipment_delivered`: `user`, `order.{id, delivered}`, `shipment.{id,
/// tracking_number, delivered_at}` (`order.delivered` is true once every parcel is).
pub fn shipment_delivered(recipient: &Recipient, shipment: &ShipmentDelivered) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": shipment.order_id, "delivered": shipment.order_delivered},
        "shipment": {
            "id": shipment.shipment_id,
            "tracking_number": shipment.tracking_number,
            "delivered_at": shipment.delivered_at,
        },
    })
}

/// `refund_processed`: `user`, `order.id`, `refund.{amount, refunded_total, full}`.
pub fn refund_processed(recipient: &Recipient, refund: &RefundFacts, full: bool) -> Value {
    json!({
        "user": user(recipient),
        "order": {"id": refund.order_id},
        "refund": {
            "amount": money(&refund.amount),
            "refunded_total": money(&refund.refunded_total),
            "full": full,
        },
    })
}

/// `stock_low` (to each admin): `user`, `stock.{sku, available, threshold}`.
pub fn stock_low(recipient: &Recipient, low: &StockLow) -> Value {
    json!({
        "user": user(recipient),
        "stock": {"sku": low.sku, "available": low.available, "threshold": low.threshold},
    })
}

/// A message sent through the API: the caller's `data` at the top level, and `user`
/// (which `data` cannot replace).
pub fn custom(recipient: &Recipient, data: &Map<String, Value>) -> Value {
    let mut context = data.clone();
    context.insert("user".into(), user(recipient));
    Value::Object(context)
}

/// A context of the shape event `key` produces, for checking edits; `None` for keys
/// whose context the sender chooses.
pub fn sample_context(key: &str) -> Option<Value> {
    let recipient = Recipient {
        id: "0190a000-0000-7000-8000-000000000001".into(),
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
    };
    let usd = |amount| Money {
        amount,
        currency: "USD".into(),
    };
    let order_id = "0190a000-0000-7000-8000-000000000002";
    Some(match key {
        WELCOME => welcome(&recipient),
        ORDER_CONFIRMED => order_confirmed(
            &recipient,
            &OrderConfirmed {
                order_id: order_id.into(),
                user_id: Some(recipient.id.clone()),
                payment_id: None,
                total: Some(usd(2998)),
                shipping_address: None,
                items: vec![OrderLine {
                    sku: "SKU-1".into(),
                    quantity: 2,
                    unit_price: usd(1499),
                }],
            },
        ),
        PAYMENT_FAILED => payment_failed(
            &recipient,
            Some(&usd(2998)),
            &PaymentFailed {
                payment_id: "0190a000-0000-7000-8000-000000000003".into(),
                order_id: order_id.into(),
                reason: FailureReason::Declined,
                detail: "the card was declined".into(),
            },
        ),
        SHIPMENT_DISPATCHED => shipment_dispatched(
            &recipient,
            &ShipmentDispatched {
                shipment_id: "0190a000-0000-7000-8000-000000000004".into(),
                order_id: order_id.into(),
                user_id: recipient.id.clone(),
                carrier: "sandbox".into(),
                tracking_number: "VS123456789".into(),
                tracking_url: Some("https://track.example.com/VS123456789".into()),
                dispatched_at: "2026-01-01T10:00:00Z".into(),
            },
        ),
        SHIPMENT_DELIVERED => shipment_delivered(
            &recipient,
            &ShipmentDelivered {
                shipment_id: "0190a000-0000-7000-8000-000000000004".into(),
                order_id: order_id.into(),
                user_id: recipient.id.clone(),
                tracking_number: "VS123456789".into(),
                delivered_at: "2026-01-02T10:00:00Z".into(),
                order_delivered: true,
            },
        ),
        REFUND_PROCESSED => refund_processed(
            &recipient,
            &RefundFacts {
                order_id: order_id.into(),
                payment_id: "0190a000-0000-7000-8000-000000000003".into(),
                amount: usd(1499),
                refunded_total: usd(1499),
            },
            false,
        ),
        STOCK_LOW => stock_low(
            &recipient,
            &StockLow {
                sku: "SKU-1".into(),
                available: 3,
                threshold: 5,
            },
        ),
        _ => return None,
    })
}

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

    fn text(subject: Option<&str>, body: &str, html: Option<&str>) -> TemplateText {
        TemplateText {
            subject: subject.map(str::to_owned),
            body: body.to_owned(),
            html: html.map(str::to_owned),
        }
    }

    fn id(raw: &str) -> TemplateId {
        TemplateId::try_from(raw.to_owned()).expect("template id")
    }

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
    fn edits_are_checked_field_by_field() {
        let renderer = Renderer::new();
        let fields = |raw: &str, t: TemplateText| -> Vec<&'static str> {
            renderer
                .check(&id(raw), &t)
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        let cases: Vec<(&str, TemplateText, Vec<&str>)> = vec![
            (
                "welcome.email",
                text(Some("Hi {{ user.name }}"), "Hello", None),
                vec![],
            ),
            ("welcome.email", text(None, "Hello", None), vec!["subject"]),
            (
                "welcome.sms",
                text(None, "Hello {{ user.name }}", None),
                vec![],
            ),
            (
                "welcome.email",
                text(Some("Hi"), "Hello {{ user.name", None),
                vec!["body"],
            ),
            (
                "welcome.email",
                text(Some("{% if %}"), "Hello", None),
                vec!["subject"],
            ),
            (
                "welcome.email",
                text(Some("Hi"), "{{ order.id }}", None),
                vec!["body"],
            ),
            (
                "welcome.email",
                text(Some("Hi"), "x", Some("{{ nope }}")),
                vec!["html"],
            ),
            (
                "welcome.sms",
                text(None, "x", Some("<p>x</p>")),
                vec!["html"],
            ),
            ("welcome.email", text(Some("Hi"), "  ", None), vec!["body"]),
            // A key of the admin's own: any variable may be used, only syntax is checked.
            (
                "newsletter.email",
                text(Some("{{ title }}"), "{{ anything }}", None),
                vec![],
            ),
            (
                "newsletter.email",
                text(Some("{{ title }"), "x", None),
                vec!["subject"],
            ),
        ];
        for (raw, template, want) in cases {
            assert_eq!(fields(raw, template.clone()), want, "{raw} {template:?}");
        }
    }

    #[test]
    fn rendering_fills_the_context_and_escapes_only_html() {
        let renderer = Renderer::new();
        let recipient = Recipient {
            id: "u1".into(),
            name: "Tom & <Jerry>".into(),
            email: "tom@example.com".into(),
        };
        let rendered = renderer
            .render(
                &text(
                    Some("Hi\n{{ user.name }}"),
                    "Hello {{ user.name }}",
                    Some("<p>{{ user.name }}</p>"),
                ),
                &welcome(&recipient),
            )
            .expect("renders");
        assert_eq!(rendered.subject.as_deref(), Some("Hi Tom & <Jerry>"));
        assert_eq!(rendered.body, "Hello Tom & <Jerry>");
        assert_eq!(
            rendered.html.as_deref(),
            Some("<p>Tom &amp; &lt;Jerry&gt;</p>")
        );
        let missing = renderer
            .render(&text(None, "{{ headline }}", None), &welcome(&recipient))
            .expect_err("undefined is an error");
        assert_eq!(missing.field, "body");
        let optional = renderer
            .render(
                &text(None, "{% if headline %}x{% endif %}ok", None),
                &welcome(&recipient),
            )
            .expect("a missing value may be tested");
        assert_eq!(optional.body, "ok");
    }

    #[test]
    fn a_template_that_loops_for_ever_runs_out_of_fuel() {
        let renderer = Renderer::new();
        let err = renderer
            .render(
                &text(
                    None,
                    "{% for a in range(100000) %}{% for b in range(100000) %}x{% endfor %}{% endfor %}",
                    None,
                ),
                &json!({}),
            )
            .expect_err("out of fuel");
        assert_eq!(err.field, "body");
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

    #[test]
    fn totals_fall_back_to_the_sum_of_lines() {
        let usd = |amount| Money {
            amount,
            currency: "USD".into(),
        };
        let line = |amount, quantity| OrderLine {
            sku: "A".into(),
            quantity,
            unit_price: usd(amount),
        };
        assert_eq!(
            order_total(Some(&usd(5)), &[line(100, 2)]),
            Some("0.05 USD".into())
        );
        assert_eq!(
            order_total(None, &[line(100, 2), line(50, 1)]),
            Some("2.50 USD".into())
        );
        assert_eq!(order_total(None, &[]), None);
    }

    #[test]
    fn api_data_cannot_replace_the_user() {
        let recipient = Recipient {
            id: "u1".into(),
            name: "Ann".into(),
            email: "ann@example.com".into(),
        };
        let mut data = Map::new();
        data.insert("user".into(), json!("someone else"));
        data.insert("code".into(), json!("SAVE10"));
        let context = custom(&recipient, &data);
        assert_eq!(context["user"]["name"], "Ann");
        assert_eq!(context["code"], "SAVE10");
    }
}
