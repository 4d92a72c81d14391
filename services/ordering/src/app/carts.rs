//! Carts: created empty, changed line by line, always priced now from the price copy.
//! Each change is announced (`ordering.cart.created`, `ordering.cart.updated`) in the
//! transaction that makes it, and drops the cart from the cart cache (`cached`) once
//! committed; a read takes the stored cart from that cache and prices it.

use super::{OrderingApp, OrderingError};
use crate::domain::{Cart, CartQuantity, PricedCart, PricingError, Sku};
use crate::store;

impl OrderingApp {
    /// Creates an empty cart for `user_id`.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn create_cart(&self, user_id: &str) -> Result<PricedCart, OrderingError> {
        let cart = Cart::new(platform::ids::new_id(), user_id.to_owned());
        let mut tx = self.db.begin().await?;
        store::carts::insert(&mut tx, &cart, self.clock.now_millis()).await?;
        self.outbox.stage(&mut tx, &cart.created_event(&[])).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(cart.priced(&[])?)
    }

    /// A cart of `user_id`, priced now.
    #[tracing::instrument(skip_all, fields(cart_id = %cart_id), err(level = "debug"))]
    pub async fn cart(&self, user_id: &str, cart_id: &str) -> Result<PricedCart, OrderingError> {
        let cart = self.stored_cart(user_id, cart_id).await?;
        let prices = store::prices::of(self.db.reader(), &cart.skus()).await?;
        Ok(cart.priced(&prices)?)
    }

    /// Sets (or with 0 removes) a cart line. A sku without a price is refused and
    /// leaves the cart as it was.
    #[tracing::instrument(skip_all, fields(cart_id = %cart_id), err(level = "debug"))]
    pub async fn set_cart_item(
        &self,
        user_id: &str,
        cart_id: &str,
        sku: &Sku,
        quantity: CartQuantity,
    ) -> Result<PricedCart, OrderingError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin().await?;
        // Dropped from the cache once the change commits, whatever becomes of this
        // request, and again below before the answer, so the caller's next read sees
        // the change.
        self.carts
            .invalidate_after_commit(&mut tx, cart_id.to_owned());
        if !store::carts::touch_own(&mut tx, cart_id, user_id, now).await? {
            return Err(OrderingError::NotFound);
        }
        let items = store::carts::items(&mut tx, cart_id).await?;
        let mut cart = Cart::restore(cart_id.to_owned(), user_id.to_owned(), items);
        // The lines as read, changed the way the statement changes them, rather than
        // read again.
        let change = cart.set(sku.clone(), quantity)?;
        store::carts::apply(&mut tx, cart_id, &change, now).await?;
        // Priced inside the transaction: a sku without a price leaves the cart as it was.
        let prices = store::prices::of(&mut *tx, &cart.skus()).await?;
        if cart.contains(sku) && !prices.iter().any(|p| p.sku == *sku) {
            return Err(PricingError::UnknownSku(0, sku.clone()).into());
        }
        self.outbox
            .stage(&mut tx, &cart.updated_event(&prices))
            .await?;
        tx.commit().await?;
        self.carts.invalidate(cart_id).await;
        self.outbox.wake();
        Ok(cart.priced(&prices)?)
    }
}
