//! Printed documents: what fulfillment's shipping labels and payments' invoices and
//! credit notes share — the Noto fonts compiled into the binary and the text layout
//! that sets a line in them with per-character fallback ([`text`]). Each service lays
//! out its own page with krilla; this crate only makes sure both print every script an
//! address or a product may be written in, the same way, from one copy of the fonts.
//!
//! A crate of its own rather than a module of `platform`: krilla, skrifa and 6.7 MB of
//! fonts would otherwise be compiled and linked into every service and every test
//! binary, although only the services that print need them.

pub mod text;

#[cfg(test)]
mod tests;
