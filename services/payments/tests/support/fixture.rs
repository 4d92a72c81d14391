//! A payments service on a database of its own (SQLite, or PostgreSQL when
//! `VISCOUNT_TEST_POSTGRES_URL` is set) for the operations' tests, its provider the
//! sandbox behind [`Flaky`], and `on_both_databases!`, which runs a test body on each.

use std::sync::Arc;
use std::time::Duration;

use contracts::Money;
use contracts::ordering::{OrderCancelled, OrderConfirmed, OrderReserved};
use payments::app::EventOutcome;
use payments::domain::{CardDetails, CardNumber, Cvc, Expiry, PaymentOrigin, PaymentStatus};
use payments::{CardSource, NewPayment, PaymentSource, Payments, PaymentsConfig, SandboxProvider};
use platform::auth::Authenticator;
use platform::auth::remote::RemoteIdentity;
use platform::bus::EmbeddedBus;
use platform::config::ConfigSource;
use platform::service::{Service, ServiceContext, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use platform::time::Clock;

pub use super::flaky::Flaky;

/// A payments service on a database of its own, dropped afterwards.
pub struct Fixture {
    pub payments: Payments,
    pub clock: Clock,
    pub tasks: Tasks,
    /// The provider, passing calls to the sandbox unless told otherwise.
    pub provider: Arc<Flaky>,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Postgres(String),
}

pub async fn fixture(postgres: bool, config: PaymentsConfig) -> Option<Fixture> {
    let name = format!(
        "payments_t{}",
        &platform::ids::new_id().replace('-', "")[16..]
    );
    let (url, cleanup) = if postgres {
        let base = std::env::var("VISCOUNT_TEST_POSTGRES_URL").ok()?;
        let url = format!("{}/{name}", base.trim_end_matches('/'));
        (url.clone(), Cleanup::Postgres(url))
    } else {
        let path = std::env::temp_dir().join(format!("{name}.db"));
        (
            platform::db::sqlite_url(&std::env::temp_dir(), &name),
            Cleanup::File(path),
        )
    };
    let clock = Clock::system();
    let tasks = Tasks::new(Shutdown::new());
    // These tests call the operations, not HTTP: no token is ever verified.
    let keys = Arc::new(RemoteIdentity::new("http://127.0.0.1:9"));
    let authenticator = Authenticator::new(keys, "test", "test", clock.clone());
    let context = ServiceContext::new(
        ServiceKind::Payments,
        url,
        Arc::new(EmbeddedBus::new()),
        ConfigSource::default(),
        clock.clone(),
        tasks.clone(),
    )
    .with_authenticator(authenticator);
    let provider = Arc::new(Flaky::new(SandboxProvider::new()));
    let payments = Payments::build_with_provider(&context, config, provider.clone())
        .await
        .expect("payments starts");
    Some(Fixture {
        payments,
        clock,
        tasks,
        provider,
        cleanup,
    })
}

impl Fixture {
    pub async fn finish(self) {
        self.tasks.stop(Duration::from_secs(1)).await;
        self.payments.db().close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres(url) => {
                let _ = platform::db::drop_postgres_database(&url).await;
            }
        }
    }

    pub async fn pay(&self, order: &str, user: &str, amount: i64, number: &str) -> String {
        self.payments
            .app()
            .create_payment(NewPayment {
                order_id: order.into(),
                user_id: user.into(),
                amount: usd(amount),
                source: PaymentSource::Card(CardSource::Raw(card(number))),
                origin: PaymentOrigin::default(),
            })
            .await
            .expect("payment created")
            .id
    }

    /// A payment of 10.00 on [`VISA`] coming from `origin`.
    pub async fn pay_from(&self, order: &str, user: &str, origin: PaymentOrigin) -> String {
        self.payments
            .app()
            .create_payment(NewPayment {
                order_id: order.into(),
                user_id: user.into(),
                amount: usd(1_000),
                source: PaymentSource::Card(CardSource::Raw(card(VISA))),
                origin,
            })
            .await
            .expect("payment created")
            .id
    }

    pub async fn reserved(
        &self,
        order: &str,
        user: &str,
        payment: &str,
        amount: i64,
    ) -> EventOutcome {
        self.payments
            .app()
            .authorize(&OrderReserved {
                order_id: order.into(),
                user_id: user.into(),
                payment_id: payment.into(),
                amount: usd(amount),
            })
            .await
            .expect("authorize")
    }

    pub async fn confirmed(&self, order: &str, payment: &str) -> EventOutcome {
        self.payments
            .app()
            .capture(&OrderConfirmed {
                order_id: order.into(),
                user_id: None,
                payment_id: Some(payment.into()),
                total: None,
                shipping_address: None,
                items: Vec::new(),
                attribution: None,
            })
            .await
            .expect("capture")
    }

    pub async fn cancelled(&self, order: &str) -> EventOutcome {
        self.payments
            .app()
            .cancel(&OrderCancelled {
                order_id: order.into(),
                reason: "customer".into(),
                payment_id: None,
            })
            .await
            .expect("cancel")
    }

    pub async fn status(&self, payment: &str) -> PaymentStatus {
        self.payments
            .app()
            .payment(payment)
            .await
            .expect("payment")
            .status
    }

    /// The intent the provider holds for `payment`.
    pub async fn intent_of(&self, payment: &str) -> String {
        payments::store::payment(self.payments.db().reader(), payment)
            .await
            .expect("read")
            .and_then(|p| p.provider_ref().map(str::to_owned))
            .expect("an intent")
    }

    /// The event types staged so far, in order, with their subjects.
    pub async fn events(&self) -> Vec<(String, String)> {
        platform::db::query("SELECT event_type, subject FROM outbox ORDER BY seq")
            .fetch_all(self.payments.db().reader())
            .await
            .expect("outbox")
            .iter()
            .map(|row| {
                (
                    row.try_get("event_type").expect("event type"),
                    row.try_get("subject").expect("subject"),
                )
            })
            .collect()
    }
}

pub fn usd(amount: i64) -> Money {
    Money {
        amount,
        currency: "USD".into(),
    }
}

pub fn card(number: &str) -> CardDetails {
    CardDetails {
        number: CardNumber::try_from(number).expect("number"),
        expiry: Expiry::stored(12, 2099).expect("expiry"),
        cvc: Cvc::try_from("123").expect("cvc"),
    }
}

pub const VISA: &str = "4242424242424242";

/// Runs each `async fn name(f) { … }` as two tests, `name::sqlite` and
/// `name::postgres`, with `f` a [`Fixture`] on that database (configured with the
/// `config = …;` given first, else the default).
macro_rules! on_both_databases {
    (config = $config:expr; $(async fn $name:ident($f:ident) $body:block)*) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let $f = fixture(false, $config).await.expect("sqlite");
                    $body
                    $f.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    let Some($f) = fixture(true, $config).await else {
                        eprintln!("SKIPPED: VISCOUNT_TEST_POSTGRES_URL not set");
                        return;
                    };
                    $body
                    $f.finish().await;
                }
            }
        )*
    };
    ($(async fn $name:ident($f:ident) $body:block)*) => {
        on_both_databases!(config = PaymentsConfig::default(); $(async fn $name($f) $body)*);
    };
}
pub(crate) use on_both_databases;
