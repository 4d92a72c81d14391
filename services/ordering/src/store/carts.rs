//! Carts and their lines.

use platform::db::{Conn, Tx};

use crate::domain::{Cart, CartChange, CartItem};

/// Stores a new cart (with whatever lines it has).
pub async fn insert(tx: &mut Tx, cart: &Cart, now: i64) -> Result<(), platform::db::Error> {
    platform::db::query(
        "INSERT INTO carts (id, user_id, created_at, updated_at) VALUES ($1, $2, $3, $3)",
    )
    .bind(&cart.id)
    .bind(&cart.user_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    for item in cart.items() {
        apply(tx, &cart.id, &CartChange::Set(item.clone()), now).await?;
    }
    Ok(())
}

/// A cart of `user_id` (another user's cart is not found).
pub async fn of_user(
    ex: &mut Conn,
    id: &str,
    user_id: &str,
) -> Result<Option<Cart>, platform::db::Error> {
    let Some(row) =
        platform::db::query("SELECT id, user_id FROM carts WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *ex)
            .await?
    else {
        return Ok(None);
    };
    Ok(Some(Cart::restore(
        row.try_get("id")?,
        row.try_get("user_id")?,
        items(&mut *ex, id).await?,
    )))
}

/// A cart's lines, in the order they were first added.
pub async fn items(ex: &mut Conn, cart_id: &str) -> Result<Vec<CartItem>, platform::db::Error> {
    let rows = platform::db::query(
        "SELECT sku, quantity FROM cart_items WHERE cart_id = $1 ORDER BY added_at, sku",
    )
    .bind(cart_id)
    .fetch_all(ex)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CartItem {
                sku: super::sku(row.try_get("sku")?)?,
                quantity: super::quantity(row.try_get("quantity")?)?,
            })
        })
        .collect()
}

/// Marks `user_id`'s cart changed now and locks it for the transaction; false when
/// there is no such cart of theirs. The check and the touch are one statement, and the
/// lock orders concurrent changes of one cart.
pub async fn touch_own(
    tx: &mut Tx,
    cart_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, platform::db::Error> {
    let touched =
        platform::db::query("UPDATE carts SET updated_at = $1 WHERE id = $2 AND user_id = $3")
            .bind(now)
            .bind(cart_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    Ok(touched == 1)
}

/// Writes what [`Cart::set`] changed: a new line goes last (it is the latest added),
/// a changed one keeps its place. The cart was touched ([`touch_own`]).
pub async fn apply(
    tx: &mut Tx,
    cart_id: &str,
    change: &CartChange,
    now: i64,
) -> Result<(), platform::db::Error> {
    let query = match change {
        CartChange::Remove(sku) => {
            platform::db::query("DELETE FROM cart_items WHERE cart_id = $1 AND sku = $2")
                .bind(cart_id)
                .bind(sku.as_str())
        }
        CartChange::Set(item) => platform::db::query(
            "INSERT INTO cart_items (cart_id, sku, quantity, added_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (cart_id, sku) DO UPDATE SET quantity = excluded.quantity",
        )
        .bind(cart_id)
        .bind(item.sku.as_str())
        .bind(i64::from(item.quantity.get()))
        .bind(now),
    };
    query.execute(&mut **tx).await.map(|_| ())
}

/// Empties a cart (it was checked out); the cart was touched ([`touch_own`]).
pub async fn clear(tx: &mut Tx, cart_id: &str) -> Result<(), platform::db::Error> {
    platform::db::query("DELETE FROM cart_items WHERE cart_id = $1")
        .bind(cart_id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}
