//! Inventory's closed reservations under the retention sweep: released, expired and
//! returned ones go some days after they closed, committed ones later, active ones
//! never; their lines go with them. Each test runs on SQLite, and on PostgreSQL too
//! when `VISCOUNT_TEST_POSTGRES_URL` is set (required with
//! `VISCOUNT_TEST_REQUIRE_DISTRIBUTED=1`). Time moves through the clock.

use std::sync::Arc;
use std::time::Duration;

use inventory::Inventory;
use inventory::domain::{Quantity, Sku, Text, WarehouseCode};
use platform::auth::Authenticator;
use platform::auth::remote::RemoteIdentity;
use platform::bus::EmbeddedBus;
use platform::config::ConfigSource;
use platform::db::{Db, query_scalar};
use platform::service::{Service, ServiceContext, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use platform::time::Clock;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// An inventory service on a database of its own, dropped by [`Fixture::finish`].
struct Fixture {
    inventory: Inventory,
    clock: Clock,
    tasks: Tasks,
    postgres: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

async fn fixture(postgres: bool) -> Option<Fixture> {
    let name = format!(
        "inventory_rt{}",
        &platform::ids::new_id().replace('-', "")[16..]
    );
    let (url, postgres, dir) = if postgres {
        let Some(base) = std::env::var("VISCOUNT_TEST_POSTGRES_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            assert!(
                std::env::var("VISCOUNT_TEST_REQUIRE_DISTRIBUTED").map_or(true, |v| v != "1"),
                "VISCOUNT_TEST_POSTGRES_URL is required"
            );
            eprintln!("SKIPPED: VISCOUNT_TEST_POSTGRES_URL not set");
            return None;
        };
        let url = format!("{}/{name}", base.trim_end_matches('/'));
        (url.clone(), Some(url), None)
    } else {
        let dir = tempfile::tempdir().expect("temp dir");
        (platform::db::sqlite_url(dir.path(), &name), None, Some(dir))
    };
    let clock = Clock::system();
    let tasks = Tasks::new(Shutdown::new());
    // The operations are called directly: no token is ever verified.
    let keys = Arc::new(RemoteIdentity::new("http://127.0.0.1:9"));
    let context = ServiceContext::new(
        ServiceKind::Inventory,
        url,
        Arc::new(EmbeddedBus::new()),
        ConfigSource::default(),
        clock.clone(),
        tasks.clone(),
    )
    .with_authenticator(Authenticator::new(keys, "test", "test", clock.clone()));
    let inventory = Inventory::build(&context).await.expect("inventory starts");
    Some(Fixture {
        inventory,
        clock,
        tasks,
        postgres,
        _dir: dir,
    })
}

impl Fixture {
    fn db(&self) -> &Db {
        self.inventory.db()
    }

    async fn reserve(&self, order_id: &str, ttl_secs: i64) {
        let sku = Sku::try_from("TEE-RED".to_owned()).expect("sku");
        let quantity = Quantity::try_from(2).expect("quantity");
        self.inventory
            .app()
            .reserve("test", order_id, &[(sku, quantity)], ttl_secs)
            .await
            .expect("reserved");
    }

    async fn orders(&self) -> Vec<String> {
        query_scalar("SELECT order_id FROM reservations ORDER BY order_id")
            .fetch_all(self.db().reader())
            .await
            .expect("orders")
    }

    async fn lines(&self) -> i64 {
        query_scalar("SELECT COUNT(*) FROM reservation_lines")
            .fetch_one(self.db().reader())
            .await
            .expect("lines")
    }

    async fn finish(self) {
        self.tasks.stop(Duration::from_secs(5)).await;
        self.inventory.close().await;
        if let Some(url) = self.postgres {
            platform::db::drop_postgres_database(&url)
                .await
                .expect("drop database");
        }
    }
}

async fn closed_reservations_are_deleted_after_their_window_and_active_ones_kept(f: Fixture) {
    let app = f.inventory.app();
    let code = WarehouseCode::try_from("MAIN".to_owned()).expect("code");
    let name = Text::try_from("Main".to_owned()).expect("name");
    app.create_warehouse(code, name).await.expect("warehouse");
    let sku = Sku::try_from("TEE-RED".to_owned()).expect("sku");
    let reason = Text::try_from("received".to_owned()).expect("reason");
    app.adjust("test", &sku, "MAIN", 100, &reason)
        .await
        .expect("stock");

    for order in [
        "o-active",
        "o-committed",
        "o-expired",
        "o-released",
        "o-returned",
    ] {
        let ttl = if order == "o-expired" { 1 } else { 3600 };
        f.reserve(order, ttl).await;
    }
    app.release("test", "o-released").await.expect("release");
    app.commit("test", "o-committed").await.expect("commit");
    app.commit("test", "o-returned").await.expect("commit");
    let mut tx = f.db().begin().await.expect("begin");
    app.cancel_in(&mut tx, "test", "o-returned")
        .await
        .expect("cancel")
        .expect("returned");
    tx.commit().await.expect("commit");
    f.clock.advance(Duration::from_secs(2));
    assert_eq!(app.expire_due().await.expect("expire"), 1);
    assert_eq!(f.lines().await, 5);

    let retention = f.inventory.data().retention();
    let young = retention.sweep().await.expect("sweep");
    assert_eq!(
        young.deleted_from("reservations"),
        0,
        "nothing closed long ago"
    );

    f.clock.advance(8 * DAY);
    let week = retention.sweep().await.expect("sweep");
    assert_eq!(week.deleted_from("reservations"), 3);
    assert_eq!(f.orders().await, ["o-active", "o-committed"]);
    assert_eq!(f.lines().await, 2, "the lines went with their reservations");

    f.clock.advance(90 * DAY);
    let quarter = retention.sweep().await.expect("sweep");
    assert_eq!(quarter.deleted_from("reservations"), 1);
    assert_eq!(
        f.orders().await,
        ["o-active"],
        "an active reservation is never deleted"
    );
    let active = app.reservation("o-active").await.expect("still there");
    assert_eq!(active.lines().len(), 1);
    let stock = app.stock(&sku).await.expect("stock");
    assert_eq!(
        (stock.on_hand, stock.reserved),
        (98, 2),
        "stock is untouched"
    );
    f.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_reservations_age_out_on_sqlite() {
    let f = fixture(false).await.expect("sqlite");
    closed_reservations_are_deleted_after_their_window_and_active_ones_kept(f).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_reservations_age_out_on_postgres() {
    let Some(f) = fixture(true).await else { return };
    closed_reservations_are_deleted_after_their_window_and_active_ones_kept(f).await;
}
