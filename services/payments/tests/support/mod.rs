//! Helpers shared by the integration tests (each file in `tests/` is a crate of its
//! own and declares `mod support;`).

// Each test file uses a part of these.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod fixture;
pub mod flaky;
pub mod stripe;
