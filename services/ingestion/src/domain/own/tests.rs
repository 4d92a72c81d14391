//! Each own event against the attribution event it must become, down to the
//! `EventReceived` analytics reads; the fields it is skipped without; and the channel
//! fields reduced exactly as a webhook's are.

use contracts::Money;
use contracts::ingestion::{
    Channel, EventKind, EventReceived, LineItem, Provider, VISCOUNT_TENANT,
};
use contracts::ordering::OrderLine;

use super::*;
use crate::domain::event::{AttributionEvent, Origin};
use crate::domain::taxonomy::Taxonomy;
use crate::domain::touchpoint::TouchpointInput;

const ENVELOPE: &str = "0190a000-0000-7000-8000-00000000e001";
const TIME: &str = "2026-03-01T12:00:00.250Z";
const ORDER: &str = "0190a000-0000-7000-8000-0000000000a1";
const USER: &str = "0190a000-0000-7000-8000-0000000000u1";

fn key() -> CustomerRefKey {
    CustomerRefKey::from_bytes(*b"0123456789abcdef0123456789abcdef")
}

fn usd(amount: i64) -> Money {
    Money {
        amount,
        currency: "USD".into(),
    }
}

fn confirmed(attribution: Option<Attribution>) -> OrderConfirmed {
    OrderConfirmed {
        order_id: ORDER.into(),
        user_id: Some(USER.into()),
        payment_id: Some("pay-1".into()),
        total: Some(usd(2650)),
        shipping_address: None,
        items: vec![
            OrderLine {
                sku: "SHIRT-1".into(),
                quantity: 2,
                unit_price: usd(1250),
            },
            OrderLine {
                sku: "SOCK-9".into(),
                quantity: 1,
                unit_price: usd(150),
            },
        ],
        attribution,
    }
}

fn newsletter() -> Attribution {
    Attribution {
        utm_source: Some("newsletter".into()),
        utm_medium: Some("email".into()),
        utm_campaign: Some("spring".into()),
        referrer: Some("https://Mail.Example.com/read?id=42".into()),
    }
}

/// What ingestion stores and announces for `event` under the default taxonomy.
fn received(event: &OwnEvent) -> EventReceived {
    let normalized = normalize(ENVELOPE, TIME, event, &key()).expect("recorded");
    let channel = Taxonomy::defaults()
        .classify(&normalized.channel_fields)
        .expect("the defaults classify everything");
    AttributionEvent {
        id: "e1".into(),
        tenant_id: VISCOUNT_TENANT.into(),
        origin: Origin::Own(event.topic()),
        normalized,
        channel,
        received_at: 0,
    }
    .to_contract()
}

#[test]
fn a_confirmed_order_becomes_an_order_of_the_viscount_tenant() {
    let event = received(&OwnEvent::OrderConfirmed(confirmed(Some(newsletter()))));
    assert_eq!(event.tenant_id, "viscount");
    assert_eq!(event.provider, Provider::Viscount);
    assert_eq!(event.provider_event_id, ENVELOPE);
    assert_eq!(event.topic, "ordering.order.confirmed.v1");
    assert_eq!(event.kind, EventKind::Order);
    assert_eq!(event.external_id, ORDER);
    assert_eq!(event.order_ref.as_deref(), Some(ORDER));
    assert_eq!(event.amount, usd(2650));
    assert_eq!(
        event.line_items,
        [
            LineItem {
                sku: Some("SHIRT-1".into()),
                quantity: 2,
                unit_price: 1250,
            },
            LineItem {
                sku: Some("SOCK-9".into()),
                quantity: 1,
                unit_price: 150,
            },
        ]
    );
    assert_eq!(event.occurred_at, "2026-03-01T12:00:00.25Z");
    assert_eq!(
        event.channel_fields.utm_source.as_deref(),
        Some("newsletter")
    );
    assert_eq!(event.channel_fields.utm_medium.as_deref(), Some("email"));
    assert_eq!(event.channel_fields.utm_campaign.as_deref(), Some("spring"));
    assert_eq!(
        event.channel_fields.referring_site.as_deref(),
        Some("mail.example.com"),
        "of the referrer only its host is kept"
    );
    assert_eq!(event.channel, Channel::Email);
    // Nothing of the owner but the keyed hash.
    let json = serde_json::to_string(&event).expect("json");
    assert!(!json.contains(USER));
}

#[test]
fn the_owner_is_hashed_as_a_touchpoint_with_the_user_id_is() {
    let event = received(&OwnEvent::OrderConfirmed(confirmed(None)));
    let visit = TouchpointInput {
        customer_ref: Some(format!(" {USER} ")),
        occurred_at: Some("2026-02-28T09:00:00Z".into()),
        utm_source: Some("google".into()),
        ..TouchpointInput::default()
    }
    .check(&key(), 1_900_000_000_000)
    .expect("a valid touchpoint");
    assert_eq!(event.customer_ref, Some(visit.customer_ref));
    let other_key = CustomerRefKey::from_bytes([7; 32]);
    let elsewhere = normalize(
        ENVELOPE,
        TIME,
        &OwnEvent::OrderConfirmed(confirmed(None)),
        &other_key,
    )
    .expect("recorded");
    assert_ne!(
        elsewhere.customer_ref, event.customer_ref,
        "the key is the tenant's"
    );
}

#[test]
fn an_order_without_attribution_is_direct_and_without_an_owner_has_no_customer() {
    let mut order = confirmed(None);
    order.user_id = None;
    let event = received(&OwnEvent::OrderConfirmed(order));
    assert_eq!(event.channel_fields, ChannelFields::default());
    assert_eq!(event.channel, Channel::Direct);
    assert_eq!(event.customer_ref, None);
}

#[test]
fn a_captured_payment_and_a_processed_refund_name_their_order() {
    let payment = received(&OwnEvent::PaymentCaptured(PaymentCaptured {
        payment_id: "pay-1".into(),
        order_id: ORDER.into(),
        amount: usd(2650),
    }));
    assert_eq!(
        (
            payment.kind,
            payment.external_id.as_str(),
            payment.order_ref.as_deref()
        ),
        (EventKind::Payment, "pay-1", Some(ORDER))
    );
    assert_eq!(payment.amount, usd(2650));
    assert_eq!(payment.topic, "payments.payment.captured.v1");
    assert_eq!(payment.provider, Provider::Viscount);
    assert!(payment.line_items.is_empty());
    assert_eq!(payment.customer_ref, None);

    let refund = received(&OwnEvent::RefundProcessed(RefundProcessed {
        refund_id: "ref-1".into(),
        payment_id: "pay-1".into(),
        order_id: ORDER.into(),
        amount: usd(1250),
        refunded_total: usd(1250),
        captured_total: usd(2650),
    }));
    assert_eq!(
        (
            refund.kind,
            refund.external_id.as_str(),
            refund.order_ref.as_deref()
        ),
        (EventKind::Refund, "ref-1", Some(ORDER))
    );
    assert_eq!(
        refund.amount,
        usd(1250),
        "this refund, not the running total"
    );
    assert_eq!(refund.topic, "payments.refund.processed.v1");
}

#[test]
fn events_without_what_is_needed_are_skipped_naming_the_field() {
    let skipped = |event: OrderConfirmed| {
        normalize(ENVELOPE, TIME, &OwnEvent::OrderConfirmed(event), &key())
            .expect_err("skipped")
            .reason
    };
    let mut no_total = confirmed(None);
    no_total.total = None;
    assert_eq!(skipped(no_total), "`total` is missing");
    let mut negative = confirmed(None);
    negative.total = Some(usd(-1));
    assert_eq!(skipped(negative), "`total.amount` is negative");
    let mut currency = confirmed(None);
    currency.total = Some(Money {
        amount: 5,
        currency: "XXX".into(),
    });
    assert_eq!(
        skipped(currency),
        "`total.currency` is not a known ISO 4217 code"
    );
    let mut no_id = confirmed(None);
    no_id.order_id = " ".into();
    assert_eq!(skipped(no_id), "`order_id` is missing");

    let payment = OwnEvent::PaymentCaptured(PaymentCaptured {
        payment_id: String::new(),
        order_id: ORDER.into(),
        amount: usd(1),
    });
    assert_eq!(
        normalize(ENVELOPE, TIME, &payment, &key()).map_err(|s| s.reason),
        Err("`payment_id` is missing".to_owned())
    );
    let order = OwnEvent::OrderConfirmed(confirmed(None));
    assert_eq!(
        normalize(ENVELOPE, "yesterday", &order, &key()).map_err(|s| s.reason),
        Err("the envelope's `time` is not an RFC 3339 date-time".to_owned())
    );
    assert!(normalize("", TIME, &order, &key()).is_err());
}

#[test]
fn amounts_beyond_the_bounds_are_skipped_as_a_webhooks_would_be_refused() {
    use crate::domain::money::{AMOUNT_MAX, QUANTITY_MAX};
    let skipped = |event: OwnEvent| {
        normalize(ENVELOPE, TIME, &event, &key())
            .map(|_| ())
            .map_err(|s| s.reason)
    };
    let too_large = |field: &str| {
        Err(format!(
            "`{field}` is above the largest amount taken (10^15 minor units)"
        ))
    };

    let mut order = confirmed(None);
    order.total = Some(usd(AMOUNT_MAX + 1));
    assert_eq!(
        skipped(OwnEvent::OrderConfirmed(order)),
        too_large("total.amount")
    );
    let mut order = confirmed(None);
    order.items[1].unit_price = usd(9_200_000_000_000_000_000);
    assert_eq!(
        skipped(OwnEvent::OrderConfirmed(order)),
        too_large("items[1].unit_price")
    );
    let mut order = confirmed(None);
    order.items[0].unit_price = usd(-1);
    assert_eq!(
        skipped(OwnEvent::OrderConfirmed(order)),
        Err("`items[0].unit_price` is negative".to_owned())
    );
    // An order line's quantity is a u32, which goes beyond 10^9.
    let mut order = confirmed(None);
    order.items[0].quantity = u32::MAX;
    assert_eq!(
        skipped(OwnEvent::OrderConfirmed(order)),
        Err("`items[0].quantity` is above the largest quantity taken (10^9)".to_owned())
    );
    let mut order = confirmed(None);
    order.items[0].quantity = 1_000_000;
    order.items[0].unit_price = usd(1_000_000_000_000);
    assert_eq!(
        skipped(OwnEvent::OrderConfirmed(order)),
        Err(
            "`items[0]` comes to more than the largest amount taken (10^15 minor units) \
             (quantity × price)"
                .to_owned()
        )
    );
    let payment = |amount: i64| {
        OwnEvent::PaymentCaptured(PaymentCaptured {
            payment_id: "pay-1".into(),
            order_id: ORDER.into(),
            amount: usd(amount),
        })
    };
    assert_eq!(skipped(payment(i64::MAX)), too_large("amount.amount"));
    let refund = OwnEvent::RefundProcessed(RefundProcessed {
        refund_id: "ref-1".into(),
        payment_id: "pay-1".into(),
        order_id: ORDER.into(),
        amount: usd(AMOUNT_MAX + 1),
        refunded_total: usd(1),
        captured_total: usd(1),
    });
    assert_eq!(skipped(refund), too_large("amount.amount"));

    // The bounds themselves are taken.
    assert_eq!(skipped(payment(AMOUNT_MAX)), Ok(()));
    let mut order = confirmed(None);
    order.total = Some(usd(AMOUNT_MAX));
    order.items[0].quantity = u32::try_from(QUANTITY_MAX).expect("10^9 is a u32");
    order.items[0].unit_price = usd(1_000_000);
    assert_eq!(skipped(OwnEvent::OrderConfirmed(order)), Ok(()));
}

#[test]
fn attribution_is_reduced_as_a_webhooks_channel_fields_are() {
    let fields = channel_fields(&Attribution {
        utm_source: Some("  newsletter\u{7} ".into()),
        utm_medium: Some("email jane@example.com".into()),
        utm_campaign: Some("é".repeat(500)),
        referrer: Some("https://203.0.113.7/page".into()),
    });
    assert_eq!(fields.utm_source.as_deref(), Some("newsletter"));
    assert_eq!(fields.utm_medium, None, "personal data is dropped");
    assert_eq!(
        fields.utm_campaign.map(|c| c.chars().count()),
        Some(payload::UTM_MAX_CHARS)
    );
    assert_eq!(fields.referring_site, None, "an IP address names no site");
    assert_eq!(fields.source_name, None);
}

#[test]
fn a_sku_that_reads_as_a_card_number_is_left_out_of_its_line() {
    let mut order = confirmed(None);
    order.items[0].sku = "4242424242424242".into();
    let normalized =
        normalize(ENVELOPE, TIME, &OwnEvent::OrderConfirmed(order), &key()).expect("recorded");
    assert_eq!(normalized.line_items[0].sku, None);
    assert_eq!(normalized.line_items[0].quantity, 2);
    assert_eq!(normalized.line_items[1].sku.as_deref(), Some("SOCK-9"));
}

#[test]
fn own_topics_are_the_three_event_types() {
    for topic in OwnTopic::ALL {
        assert_eq!(OwnTopic::parse(topic.event_type()), Some(topic));
    }
    assert_eq!(OwnTopic::parse("ordering.order.created.v1"), None);
    assert_eq!(OwnTopic::parse("orders/create"), None);
}
