//! What ingestion knows without any transport or storage: the webhook topics it takes,
//! each provider's signature scheme, the first layer of personal-data stripping (an
//! allow-list), normalization of every provider's payload into one attribution event,
//! Viscount's own orders, payments and refunds as the same events (`own`), the channel
//! taxonomy, and the detectors the store's guard uses.

pub mod event;
pub mod money;
pub mod normalize;
pub mod own;
pub mod payload;
pub mod pii;
pub mod ports;
pub mod signature;
pub mod source;
pub mod taxonomy;
pub mod topic;
pub mod touchpoint;

pub use topic::Topic;
