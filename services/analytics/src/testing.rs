//! What the crate's own tests share: a migrated SQLite database in a directory of its
//! own (removed when dropped), and the app over it.

use std::path::PathBuf;

use platform::bus::{Bus, EmbeddedBus};
use platform::db::Db;
use platform::service::ServiceKind;
use platform::tasks::Tasks;
use platform::time::Clock;

use crate::{AnalyticsApp, AnalyticsConfig};

/// A migrated database; its directory goes when it is dropped.
pub(crate) struct TestDb {
    dir: PathBuf,
    /// The database.
    pub(crate) db: Db,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh migrated SQLite database.
pub(crate) async fn test_db() -> TestDb {
    let dir = std::env::temp_dir().join(format!("analytics-test-{}", platform::ids::new_id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = Db::connect(
        &platform::db::sqlite_url(&dir, "analytics"),
        &crate::MIGRATIONS,
    )
    .await
    .expect("db");
    TestDb { dir, db }
}

/// The app over a fresh database with `config` and a system clock, its outbox on an
/// embedded bus (events staged are read in place). Keep the [`TestDb`] alive.
pub(crate) async fn test_app(config: AnalyticsConfig) -> (TestDb, AnalyticsApp) {
    let store = test_db().await;
    let outbox = EmbeddedBus::new()
        .attach_producer(ServiceKind::Analytics, store.db.clone(), &Tasks::default())
        .await
        .expect("outbox");
    let app = AnalyticsApp::new(store.db.clone(), outbox, Clock::system(), config);
    (store, app)
}
