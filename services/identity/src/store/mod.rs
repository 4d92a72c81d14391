//! Identity's SQL, and the only place rows become domain values and back: users
//! (`users`), sign-in attempts and refresh tokens (`sessions`), the signing keys
//! (`signing_keys`), API keys (`api_keys`), tenants (`tenants`) and the
//! authentication log (`auth_log`), and loyalty points (`loyalty`).
//!
//! Reads take any executor (the read pool or an open transaction); writes take the
//! transaction the operation runs in, so each operation commits once with its events.
//! A row that cannot be read (an unknown role, a corrupt secret or preferences) is a
//! decode error, never a default.

mod api_keys;
mod auth_log;
mod codes;
mod loyalty;
mod sessions;
mod signing_keys;
mod tenants;
mod users;

pub use api_keys::{api_key_by_hash, insert_api_key, list_api_keys, revoke_api_key};
pub use auth_log::{auth_log, delete_user_auth_log, insert_auth_event, prune_auth_log};
pub use codes::{
    IdTokenKeyRecord, StoredCode, id_token_keys, insert_code, insert_id_token_key, prune_codes,
    use_code,
};
pub use loyalty::{
    add_loyalty_balance, end_loyalty_hold, hold_loyalty_points, insert_loyalty_entry,
    insert_loyalty_reservation, lock_order_points, loyalty_balance, loyalty_entries,
    loyalty_reservation, move_loyalty_reservation, record_order_paid, record_order_refunded,
    set_order_earned, set_order_restored, set_order_reversed, stale_loyalty_reservations,
};
pub use sessions::{
    Reservation, clear_account_failures, insert_refresh_token, lock_account, mark_rotated,
    prune_login_failures, refresh_token_by_hash, release_account_attempt, release_client_attempt,
    reserve_account_attempt, reserve_client_attempt, revoke_family, revoke_user_sessions,
};
pub use signing_keys::{SigningKeyRecord, insert_signing_key, retire_signing_keys, signing_keys};
pub use tenants::{insert_tenant, list_tenants, tenant_by_id};
pub use users::{
    count_other_admins, delete_user, enable_mfa, insert_user, search_users, set_password_hash,
    set_roles, start_mfa, update_profile, use_mfa_step, user_by_email, user_by_id, user_exists,
};
