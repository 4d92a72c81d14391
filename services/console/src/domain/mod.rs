//! The console's pure rules: what a browser session holds and when it ends, the sign-in
//! round trip's checks (PKCE, state, the ID token's claims), money and dates as people
//! read them, the forms' field errors, the dashboard's charts drawn as SVG, and what a
//! shipment can be told to do next.

pub mod chart;
pub mod format;
pub mod login;
pub mod session;
pub mod shipping;

pub use login::{IdTokenClaims, LoginError, LoginState};
pub use session::{Session, SignedIn};
