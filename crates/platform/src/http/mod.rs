//! The HTTP kit: problem+json errors, extractors, the common middleware, health,
//! metrics and serving.

pub mod api;
pub mod client_ip;
pub mod extract;
pub mod health;
pub mod layers;
pub mod metrics;
pub mod pagination;
pub mod problem;
pub mod server;

pub use client_ip::ClientIp;
pub use extract::{Form, Json, MAX_BODY_BYTES, Query};
pub use health::{HealthCheck, HealthReport, Readiness};
pub use layers::{
    RouteLabel, common_layers, created, no_content, standalone_app, with_common_layers,
    with_location,
};
pub use pagination::{List, Page, PageQuery, encode_cursor};
pub use problem::{FieldError, Fields, Problem};
pub use server::serve;
