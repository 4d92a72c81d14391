//! The operations end to end on a real SQLite database, with payments faked behind its
//! port: the saga's steps, timeouts, carts and refunds, and what each emits.

use std::time::Duration;

use async_trait::async_trait;
use platform::auth::{ForwardedCredentials, Principal, PrincipalKind};
use platform::bus::{Bus, EmbeddedBus};
use platform::cache::Cache;
use platform::db::Db;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;

use super::{Caller, OrderingApp, OrderingError};
use crate::config::OrderingConfig;
use crate::domain::testing::{sku, usd};
use crate::domain::{
    CartQuantity, CreatedPayment, Money, OrderSource, OrderStatus, PaymentMethod, PaymentsError,
    PaymentsPort, PlaceOrder, Price, ProcessedRefund, Quantity, SagaEvent, ShippingAddress,
};

/// Payments that accepts every card and refunds what is asked of a 2500 capture.
struct FakePayments;

#[async_trait]
impl PaymentsPort for FakePayments {
    async fn create_payment(
        &self,
        _: &ForwardedCredentials,
        order_id: &str,
        _: &Money,
        _: &PaymentMethod,
        _: &str,
    ) -> Result<CreatedPayment, PaymentsError> {
        Ok(CreatedPayment {
            id: format!("pay-{order_id}"),
            brand: Some("visa".into()),
            last4: Some("4242".into()),
        })
    }

    async fn refund(
        &self,
        _: &ForwardedCredentials,
        _: &str,
        amount: Option<&Money>,
        _: Option<&str>,
    ) -> Result<ProcessedRefund, PaymentsError> {
        let amount = amount.cloned().unwrap_or_else(|| usd(2500));
        Ok(ProcessedRefund {
            refund_id: "r1".into(),
            refunded_total: amount.amount,
            amount,
            captured_total: 2500,
        })
    }
}

pub(super) struct Fixture {
    _dir: tempfile::TempDir,
    pub(super) app: OrderingApp,
    clock: Clock,
}

async fn fixture() -> Fixture {
    fixture_with(None).await
}

/// Ordering on a fresh SQLite database with `carts` as its cart cache (none without
/// one), payments faked, and a price for `A`.
pub(super) async fn fixture_with(carts: Option<Cache>) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = platform::db::sqlite_url(dir.path(), "ordering");
    let db = Db::connect(&url, &crate::MIGRATIONS).await.expect("db");
    let outbox = EmbeddedBus::new()
        .attach_producer(ServiceKind::Ordering, db.clone(), &Tasks::default())
        .await
        .expect("outbox");
    let clock = Clock::system();
    let mut app = OrderingApp::new(
        db,
        outbox,
        clock.clone(),
        OrderingConfig::default(),
        FakePayments,
    );
    if let Some(carts) = carts {
        app = app.with_cart_cache(carts);
    }
    let fixture = Fixture {
        _dir: dir,
        app,
        clock,
    };
    fixture.set_price("A", "p-a", "Widget", 1250).await;
    fixture
}

impl Fixture {
    /// Prices `raw` (of product `product_id`, named `name`) at `amount` cents USD.
    pub(super) async fn set_price(&self, raw: &str, product_id: &str, name: &str, amount: i64) {
        let mut tx = self.app.db().begin().await.expect("begin");
        let price = Price {
            sku: sku(raw),
            product_id: product_id.into(),
            name: name.into(),
            price: usd(amount),
        };
        self.app.set_price_in(&mut tx, &price).await.expect("price");
        tx.commit().await.expect("commit");
    }
}

fn person(id: &str, role: &str) -> Caller {
    Caller::new(Principal {
        subject: id.into(),
        kind: PrincipalKind::User,
        roles: vec![role.into()],
        scopes: Vec::new(),
        session_id: None,
        tenant: None,
    })
    .expect("a user")
}

fn request(source: OrderSource) -> PlaceOrder {
    PlaceOrder {
        source,
        shipping_address: ShippingAddress {
            name: "Ann".into(),
            line1: "1 Main St".into(),
            line2: None,
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: "US".into(),
        },
        payment: PaymentMethod::new(serde_json::json!({"card_number": "4242424242424242"})),
        attribution: None,
        loyalty_points: None,
    }
}

fn two_of_a() -> OrderSource {
    OrderSource::Items(vec![(sku("A"), Quantity::try_from(2).expect("quantity"))])
}

impl Fixture {
    async fn advance(&self, order_id: &str, event: SagaEvent) -> Option<OrderStatus> {
        let mut tx = self.app.db().begin().await.expect("begin");
        let status = self
            .app
            .advance_in(&mut tx, order_id, event)
            .await
            .expect("step");
        tx.commit().await.expect("commit");
        status
    }

    async fn emitted(&self) -> Vec<String> {
        platform::db::query_scalar("SELECT event_type FROM outbox ORDER BY seq")
            .fetch_all(self.app.db().reader())
            .await
            .expect("outbox")
    }

    async fn statuses(&self, caller: &Caller, id: &str) -> Vec<OrderStatus> {
        let history = self.app.history(caller, id).await.expect("history");
        history.into_iter().map(|e| e.status).collect()
    }
}

#[tokio::test]
async fn a_checkout_runs_the_saga_and_emits_each_step() {
    use OrderStatus::*;
    let f = fixture().await;
    let buyer = person("u1", "customer");
    let placed = f
        .app
        .place_order(
            &buyer,
            &ForwardedCredentials::default(),
            request(two_of_a()),
            None,
        )
        .await
        .expect("placed");
    let id = placed.order.id().to_owned();
    assert_eq!(placed.order.status(), Pending);
    assert_eq!(placed.order.facts.total, usd(2500));
    assert_eq!(placed.order.facts.payment_id, Some(format!("pay-{id}")));

    assert_eq!(
        f.advance(&id, SagaEvent::StockReserved).await,
        Some(Reserved)
    );
    assert_eq!(
        f.advance(&id, SagaEvent::PaymentAuthorized).await,
        Some(Confirmed)
    );
    assert_eq!(f.advance(&id, SagaEvent::StockReserved).await, None, "late");

    assert_eq!(
        f.emitted().await,
        [
            "ordering.order.created.v1",
            "ordering.order.validated.v1",
            "ordering.order.reserved.v1",
            "ordering.order.authorized.v1",
            "ordering.order.confirmed.v1",
        ]
    );
    assert_eq!(
        f.statuses(&buyer, &id).await,
        [Pending, Reserved, Authorized, Confirmed]
    );
    let order = f.app.order(&buyer, &id).await.expect("order");
    assert_eq!(order.order.state().deadline_at, None);
    assert_eq!(order.lines.len(), 1);
    assert!(matches!(
        f.app.order(&person("u2", "customer"), &id).await,
        Err(OrderingError::NotFound)
    ));
    assert!(f.app.order(&person("boss", "admin"), &id).await.is_ok());
}

#[tokio::test]
async fn a_second_placement_under_one_key_answers_the_first_order_without_a_payment() {
    let f = fixture().await;
    let buyer = person("u1", "customer");
    let key = Some("key-1");
    let first = f
        .app
        .place_order(
            &buyer,
            &ForwardedCredentials::default(),
            request(two_of_a()),
            key,
        )
        .await
        .expect("placed");
    // As after a crash that lost the platform's stored answer: the same key again.
    let again = f
        .app
        .place_order(
            &buyer,
            &ForwardedCredentials::default(),
            request(two_of_a()),
            key,
        )
        .await
        .expect("answered");
    assert_eq!(again.order.id(), first.order.id());
    let other_buyer = f
        .app
        .place_order(
            &person("u2", "customer"),
            &ForwardedCredentials::default(),
            request(two_of_a()),
            key,
        )
        .await
        .expect("another customer's key is theirs");
    assert_ne!(other_buyer.order.id(), first.order.id());
    let orders: i64 = platform::db::query_scalar("SELECT COUNT(*) FROM orders")
        .fetch_one(f.app.db().reader())
        .await
        .expect("count");
    assert_eq!(orders, 2, "one order per customer and key");
    assert_eq!(
        f.emitted().await,
        ["ordering.order.created.v1", "ordering.order.created.v1"]
    );
}

#[tokio::test]
async fn an_overdue_order_is_cancelled_and_compensated() {
    let f = fixture().await;
    let buyer = person("u1", "customer");
    let placed = f
        .app
        .place_order(
            &buyer,
            &ForwardedCredentials::default(),
            request(two_of_a()),
            None,
        )
        .await
        .expect("placed");
    assert_eq!(
        f.app.expire_overdue().await.expect("sweep"),
        0,
        "not due yet"
    );
    f.clock.advance(Duration::from_secs(61));
    assert_eq!(f.app.expire_overdue().await.expect("sweep"), 1);
    let order = f.app.order(&buyer, placed.order.id()).await.expect("order");
    assert_eq!(order.order.status(), OrderStatus::Cancelled);
    assert_eq!(
        order.order.state().cancel_reason.as_deref(),
        Some("timed out waiting for stock")
    );
    assert_eq!(
        f.emitted().await.last().map(String::as_str),
        Some("ordering.order.cancelled.v1")
    );
    assert_eq!(f.app.expire_overdue().await.expect("sweep"), 0, "settled");
}

#[tokio::test]
async fn a_cart_keeps_priced_lines_and_is_emptied_by_its_order() {
    let f = fixture().await;
    let buyer = person("u1", "customer");
    let cart = f.app.create_cart(buyer.user_id()).await.expect("cart");
    let two = CartQuantity::Set(Quantity::try_from(2).expect("quantity"));
    let priced = f
        .app
        .set_cart_item(buyer.user_id(), &cart.id, &sku("A"), two)
        .await
        .expect("set");
    assert_eq!(priced.total, Some(usd(2500)));
    let unknown = f
        .app
        .set_cart_item(buyer.user_id(), &cart.id, &sku("B"), two)
        .await;
    assert!(matches!(unknown, Err(OrderingError::UnknownSku(0, ref s)) if *s == sku("B")));
    let again = f.app.cart(buyer.user_id(), &cart.id).await.expect("cart");
    assert_eq!(
        again.lines.len(),
        1,
        "the unknown sku left the cart as it was"
    );
    assert!(matches!(
        f.app.cart("u2", &cart.id).await,
        Err(OrderingError::NotFound)
    ));

    let placed = f
        .app
        .place_order(
            &buyer,
            &ForwardedCredentials::default(),
            request(OrderSource::Cart(cart.id.clone())),
            None,
        )
        .await
        .expect("placed");
    assert_eq!(placed.lines.len(), 1);
    let emptied = f.app.cart(buyer.user_id(), &cart.id).await.expect("cart");
    assert!(emptied.lines.is_empty());
    assert!(matches!(
        f.app
            .place_order(
                &buyer,
                &ForwardedCredentials::default(),
                request(OrderSource::Cart(cart.id)),
                None
            )
            .await,
        Err(OrderingError::EmptyCart)
    ));
}

#[tokio::test]
async fn a_refund_is_applied_once_whichever_way_it_arrives() {
    let f = fixture().await;
    let buyer = person("u1", "customer");
    let admin = person("boss", "admin");
    let placed = f
        .app
        .place_order(
            &buyer,
            &ForwardedCredentials::default(),
            request(two_of_a()),
            None,
        )
        .await
        .expect("placed");
    let id = placed.order.id().to_owned();
    let early = f
        .app
        .refund(&admin, &ForwardedCredentials::default(), &id, None, None)
        .await;
    assert!(matches!(
        early,
        Err(OrderingError::WrongStatus(OrderStatus::Pending))
    ));
    f.advance(&id, SagaEvent::StockReserved).await;
    f.advance(&id, SagaEvent::PaymentAuthorized).await;

    let refunded = f
        .app
        .refund(
            &admin,
            &ForwardedCredentials::default(),
            &id,
            Some(usd(500)),
            None,
        )
        .await
        .expect("refunded");
    assert_eq!(refunded.order.status(), OrderStatus::PartiallyRefunded);
    assert_eq!(refunded.order.state().refunded, 500);

    // The same refund again, as payments' event: nothing more happens.
    let events_before = f.emitted().await.len();
    let again = ProcessedRefund {
        refund_id: "r1".into(),
        amount: usd(500),
        refunded_total: 500,
        captured_total: 2500,
    };
    let mut tx = f.app.db().begin().await.expect("begin");
    f.app
        .apply_refund_in(&mut tx, &id, &format!("pay-{id}"), &again)
        .await
        .expect("applied");
    tx.commit().await.expect("commit");
    assert_eq!(f.emitted().await.len(), events_before);
    assert_eq!(
        f.statuses(&buyer, &id).await.last(),
        Some(&OrderStatus::PartiallyRefunded)
    );
}
