//! The runtime kit every Viscount service stands on.
//!
//! No domain logic lives here: only what each service would otherwise write again —
//! configuration, the database pool and migrations, the event bus with its outbox and
//! inbox, the HTTP kit (problem+json, extractors, middleware, health, metrics),
//! authentication, idempotency, retention of the platform's own tables, telemetry,
//! shutdown, and the webhook signature schemes more than one service verifies.

pub mod auth;
pub mod bus;
pub mod cache;
pub mod client;
pub mod config;
pub mod db;
pub mod discovery;
pub mod fence;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod live;
pub mod locks;
pub mod redis;
pub mod retention;
pub mod service;
pub mod shutdown;
pub mod tasks;
pub mod telemetry;
pub mod time;
/// Stripe's webhook signature scheme (`Stripe-Signature`): verifying and signing.
pub mod webhook_signature;
