//! The cart cache: a cart as stored, by cart id — its id, its owner and its lines (sku
//! and quantity) — for the read of a cart, which a shop makes on nearly every page.
//! Not its prices: they move on their own (catalog's price events) and are read fresh
//! each time a cart is priced. In the distributed shape the entries live in Redis,
//! shared by every ordering replica, in the embedded one in this process's memory
//! (`platform::cache`).
//!
//! Every change of a cart's lines drops its entry once it has committed: a line set or
//! removed (`carts`) and the checkout that empties the cart (`checkout`). Nothing
//! deletes carts (no sweep or retention rule removes them), so nothing else can make an
//! entry wrong.
//!
//! An entry keeps the cart's owner, and a cart kept for its owner is not found by
//! anyone else, as the database's read (the cart of *this* user) answers. Only found
//! carts are kept: "not found" depends on who asks, and a cart id is not a secret
//! worth a cache entry when wrong.

use std::time::Duration;

use platform::cache::Cache;
use platform::db::Tx;
use serde::{Deserialize, Serialize};

use super::{OrderingApp, OrderingError};
use crate::domain::{Cart, CartItem, Quantity, Sku};
use crate::store;

/// Most carts one process keeps in memory.
const MEMORY_CAPACITY: usize = 10_000;

/// The cache of stored carts by cart id, each kept `ttl` (off when zero).
pub fn cart_cache(context: &platform::service::ServiceContext, ttl: Duration) -> Cache {
    context.cache("ordering.cart", ttl, MEMORY_CAPACITY)
}

/// A cart as the cache keeps it: its fields in their stored form.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct CachedCart {
    id: String,
    user_id: String,
    items: Vec<CachedItem>,
}

/// A cart line as the cache keeps it.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct CachedItem {
    sku: String,
    quantity: u32,
}

impl From<&Cart> for CachedCart {
    fn from(cart: &Cart) -> Self {
        Self {
            id: cart.id.clone(),
            user_id: cart.user_id.clone(),
            items: cart
                .items()
                .iter()
                .map(|item| CachedItem {
                    sku: item.sku.as_str().to_owned(),
                    quantity: item.quantity.get(),
                })
                .collect(),
        }
    }
}

impl CachedCart {
    /// The cart again; `None` if a line no longer passes its rules (an entry written
    /// before a rule changed), which the caller reads from the database.
    fn into_cart(self) -> Option<Cart> {
        let items = self
            .items
            .into_iter()
            .map(|item| {
                Some(CartItem {
                    sku: Sku::try_from(item.sku).ok()?,
                    quantity: Quantity::try_from(i64::from(item.quantity)).ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Cart::restore(self.id, self.user_id, items))
    }
}

impl OrderingApp {
    /// `user_id`'s cart `cart_id` as stored (unpriced), from the cache when it holds it;
    /// another user's cart is [`OrderingError::NotFound`], cached or not.
    pub(super) async fn stored_cart(
        &self,
        user_id: &str,
        cart_id: &str,
    ) -> Result<Cart, OrderingError> {
        let cached = self
            .carts
            .get_or_load(cart_id, || async {
                let cart = self.cart_from_database(user_id, cart_id).await?;
                Ok::<_, OrderingError>(CachedCart::from(&cart))
            })
            .await?;
        // The entry may have been kept by its owner's read: the key is the cart alone.
        if cached.user_id != user_id {
            return Err(OrderingError::NotFound);
        }
        match cached.into_cart() {
            Some(cart) => Ok(cart),
            None => self.cart_from_database(user_id, cart_id).await,
        }
    }

    async fn cart_from_database(
        &self,
        user_id: &str,
        cart_id: &str,
    ) -> Result<Cart, OrderingError> {
        let mut conn = self.db.reader().acquire().await?;
        store::carts::of_user(&mut conn, cart_id, user_id)
            .await?
            .ok_or(OrderingError::NotFound)
    }

    /// Drops cart `cart_id` from the cache now, inside `tx`, and again once `tx`
    /// commits: for a change of the cart's lines whose commit is not followed by an
    /// awaited [`Cache::invalidate`] (checkout's).
    ///
    /// The drop after the commit runs detached and may land after the caller's next
    /// read; the drop now makes that read load again unless another read of the same
    /// cart came between this drop and the commit (it read the lines as they were, and
    /// the drop after the commit removes what it kept).
    pub(super) async fn forget_cart_at_commit(&self, tx: &mut Tx, cart_id: &str) {
        self.carts.invalidate(cart_id).await;
        self.carts.invalidate_after_commit(tx, cart_id.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::tests::{Fixture, fixture_with};
    use crate::domain::testing::sku;
    use crate::domain::{CartChange, CartQuantity};

    /// Ordering (see `app::tests`) with a memory cart cache and a price for `A` and
    /// `B`. Payments is never called here (no checkout).
    async fn fixture() -> Fixture {
        let f = fixture_with(Some(Cache::memory(
            "ordering.cart",
            Duration::from_secs(60),
            100,
        )))
        .await;
        f.set_price("B", "p-B", "B", 300).await;
        f
    }

    fn units(n: i64) -> CartQuantity {
        CartQuantity::Set(Quantity::try_from(n).expect("quantity"))
    }

    impl Fixture {
        /// Sets a line of `cart_id` in the database without telling the cache, as a
        /// writer that forgot to drop the entry would.
        async fn set_behind_the_cache(&self, cart_id: &str, raw: &str, n: i64) {
            let mut tx = self.app.db().begin().await.expect("begin");
            let item = CartItem {
                sku: sku(raw),
                quantity: Quantity::try_from(n).expect("quantity"),
            };
            store::carts::apply(&mut tx, cart_id, &CartChange::Set(item), 1)
                .await
                .expect("apply");
            tx.commit().await.expect("commit");
        }

        /// The quantities of `user_id`'s cart, by sku, as a read answers them.
        async fn lines(&self, user_id: &str, cart_id: &str) -> Vec<(String, u32)> {
            let cart = self.app.cart(user_id, cart_id).await.expect("cart");
            cart.lines
                .iter()
                .map(|line| (line.sku.as_str().to_owned(), line.quantity))
                .collect()
        }
    }

    #[test]
    fn a_kept_cart_reads_back_as_it_was() {
        let mut cart = Cart::new("c1".into(), "u1".into());
        cart.set(sku("A"), units(2)).expect("set");
        cart.set(sku("B"), units(1)).expect("set");
        let bytes = serde_json::to_vec(&CachedCart::from(&cart)).expect("serialize");
        let kept: CachedCart = serde_json::from_slice(&bytes).expect("deserialize");
        assert_eq!(kept.into_cart(), Some(cart));
    }

    #[test]
    fn an_entry_that_no_longer_passes_the_rules_is_not_used() {
        let bad_sku = CachedCart {
            id: "c1".into(),
            user_id: "u1".into(),
            items: vec![CachedItem {
                sku: "not a sku!".into(),
                quantity: 1,
            }],
        };
        assert_eq!(bad_sku.into_cart(), None);
        let bad_quantity = CachedCart {
            id: "c1".into(),
            user_id: "u1".into(),
            items: vec![CachedItem {
                sku: "A".into(),
                quantity: 0,
            }],
        };
        assert_eq!(bad_quantity.into_cart(), None);
    }

    #[tokio::test]
    async fn a_cart_is_read_from_the_cache_until_its_lines_change() {
        let f = fixture().await;
        let cart = f.app.create_cart("u1").await.expect("cart");
        // Written behind the cache from the start: a change through the cart also drops
        // the entry after its commit, detached, which could land after the read below
        // and blur what it shows.
        f.set_behind_the_cache(&cart.id, "A", 2).await;
        assert_eq!(f.lines("u1", &cart.id).await, vec![("A".into(), 2)]);
        // Kept: a change the cache was not told of is not seen...
        f.set_behind_the_cache(&cart.id, "A", 5).await;
        assert_eq!(f.lines("u1", &cart.id).await, vec![("A".into(), 2)]);
        // ...and one made through the cart is, by the very next read.
        f.app
            .set_cart_item("u1", &cart.id, &sku("B"), units(1))
            .await
            .expect("set");
        assert_eq!(
            f.lines("u1", &cart.id).await,
            vec![("A".into(), 5), ("B".into(), 1)]
        );
        f.app
            .set_cart_item("u1", &cart.id, &sku("A"), CartQuantity::Remove)
            .await
            .expect("remove");
        assert_eq!(f.lines("u1", &cart.id).await, vec![("B".into(), 1)]);
    }

    #[tokio::test]
    async fn a_refused_change_leaves_the_kept_cart_as_it_was() {
        let f = fixture().await;
        let cart = f.app.create_cart("u1").await.expect("cart");
        f.app
            .set_cart_item("u1", &cart.id, &sku("A"), units(2))
            .await
            .expect("set");
        assert_eq!(f.lines("u1", &cart.id).await, vec![("A".into(), 2)]);
        let unknown = f
            .app
            .set_cart_item("u1", &cart.id, &sku("NOPE"), units(1))
            .await;
        assert!(matches!(unknown, Err(OrderingError::UnknownSku(..))));
        assert_eq!(f.lines("u1", &cart.id).await, vec![("A".into(), 2)]);
    }

    #[tokio::test]
    async fn another_users_read_is_not_found_whether_or_not_the_cart_is_kept() {
        let f = fixture().await;
        let cart = f.app.create_cart("u1").await.expect("cart");
        // Not kept yet: the database's read refuses, and keeps nothing for the owner
        // to stumble on.
        assert!(matches!(
            f.app.cart("u2", &cart.id).await,
            Err(OrderingError::NotFound)
        ));
        assert!(f.lines("u1", &cart.id).await.is_empty());
        // Kept by its owner's read: still not the other user's.
        assert!(matches!(
            f.app.cart("u2", &cart.id).await,
            Err(OrderingError::NotFound)
        ));
        assert!(matches!(
            f.app
                .set_cart_item("u2", &cart.id, &sku("A"), units(1))
                .await,
            Err(OrderingError::NotFound)
        ));
        assert!(f.lines("u1", &cart.id).await.is_empty());
    }

    #[tokio::test]
    async fn a_cart_forgotten_at_commit_is_read_again_at_once() {
        let f = fixture().await;
        let cart = f.app.create_cart("u1").await.expect("cart");
        f.set_behind_the_cache(&cart.id, "A", 2).await;
        assert_eq!(f.lines("u1", &cart.id).await.len(), 1, "kept");
        let mut tx = f.app.db().begin().await.expect("begin");
        store::carts::clear(&mut tx, &cart.id).await.expect("clear");
        f.app.forget_cart_at_commit(&mut tx, &cart.id).await;
        tx.commit().await.expect("commit");
        assert!(f.lines("u1", &cart.id).await.is_empty());
    }

    #[tokio::test]
    async fn a_read_between_the_drop_and_the_commit_is_dropped_after_the_commit() {
        let f = fixture().await;
        let cart = f.app.create_cart("u1").await.expect("cart");
        f.set_behind_the_cache(&cart.id, "A", 2).await;
        let mut tx = f.app.db().begin().await.expect("begin");
        store::carts::clear(&mut tx, &cart.id).await.expect("clear");
        f.app.forget_cart_at_commit(&mut tx, &cart.id).await;
        // Reads the lines as they were (the change is not committed) and keeps them.
        assert_eq!(f.lines("u1", &cart.id).await.len(), 1);
        tx.commit().await.expect("commit");
        // The drop after the commit runs detached: poll for it, with a deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !f.lines("u1", &cart.id).await.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the read kept before the commit outlived it"
            );
            tokio::task::yield_now().await;
        }
    }
}
