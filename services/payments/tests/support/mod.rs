//! Helpers shared by the integration tests (each file in `tests/` is a crate of its
//! own and declares `mod support;`).

pub mod stripe;
