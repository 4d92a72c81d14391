//! API keys: a machine client's credential with the scopes it was granted. The key
//! itself is shown once and kept only as a hash; its id is also the OAuth `client_id`.

use super::{Scopes, UserName};

/// An API key (without its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Id (also the OAuth `client_id`).
    pub id: String,
    /// Label.
    pub name: UserName,
    /// Granted scopes.
    pub scopes: Scopes,
    /// Creation, epoch ms.
    pub created_at: i64,
}
