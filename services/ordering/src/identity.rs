//! [`IdentityPort`] over identity's public HTTP API, through
//! `platform::client::ServiceClient` (identity's router in this process, or its
//! instances over HTTP).
//!
//! Placing an order that redeems loyalty points holds them first
//! (`POST /api/v1/users/{id}/loyalty/reservations`, keyed by the order id decided
//! before the call, so a retry holds nothing twice), with the customer's own
//! credentials: identity lets a user hold only their own points.

use async_trait::async_trait;
use http::{Method, StatusCode};
use platform::auth::ForwardedCredentials;
use platform::client::{CallError, ServiceClient};
use serde::Deserialize;
use serde_json::json;

use crate::domain::{IdentityPort, LoyaltyError, Money, Redemption};

/// Identity's API, in this process or remote.
#[derive(Clone)]
pub struct HttpIdentity {
    client: ServiceClient,
    /// The platform's service token: only ordering (or an admin) may give a hold back,
    /// never the customer whose order could still confirm with the discount.
    service_token: Option<String>,
}

impl HttpIdentity {
    /// Calls identity through `client`, giving holds back with `service_token`.
    pub fn new(client: ServiceClient, service_token: Option<&str>) -> Self {
        Self {
            client,
            service_token: service_token.map(str::to_owned),
        }
    }
}

/// Identity's answer to a reservation.
#[derive(Deserialize)]
struct ReservationView {
    points: i64,
    discount: Money,
}

/// Identity's problem body: what ordering reads of it.
#[derive(Deserialize)]
struct ProblemView {
    #[serde(default)]
    detail: String,
    #[serde(default)]
    available: Option<i64>,
    #[serde(default)]
    errors: Vec<ProblemField>,
}

#[derive(Deserialize)]
struct ProblemField {
    field: String,
}

#[async_trait]
impl IdentityPort for HttpIdentity {
    async fn reserve_points(
        &self,
        credentials: &ForwardedCredentials,
        user_id: &str,
        order_id: &str,
        points: u32,
        currency: &str,
    ) -> Result<Redemption, LoyaltyError> {
        let path = format!("/api/v1/users/{user_id}/loyalty/reservations");
        let body = json!({"order_id": order_id, "points": points, "currency": currency});
        let reply = self
            .client
            .send_json(Method::POST, &path, credentials, None, Some(&body))
            .await
            .map_err(unavailable)?;
        if matches!(reply.status, StatusCode::CREATED | StatusCode::OK) {
            let view: ReservationView = reply.json().map_err(unavailable)?;
            return match u32::try_from(view.points) {
                Ok(held) if held == points => Ok(Redemption {
                    points: held,
                    discount: view.discount,
                }),
                _ => Err(LoyaltyError::Unavailable(format!(
                    "identity held {} points, not {points}",
                    view.points
                ))),
            };
        }
        let problem = serde_json::from_slice::<ProblemView>(&reply.body).ok();
        let detail = problem
            .as_ref()
            .map(|p| p.detail.clone())
            .unwrap_or_default();
        Err(match (reply.status, problem) {
            (
                StatusCode::CONFLICT,
                Some(ProblemView {
                    available: Some(available),
                    ..
                }),
            ) => LoyaltyError::Insufficient { available },
            (StatusCode::UNPROCESSABLE_ENTITY, Some(p))
                if p.errors.iter().any(|e| e.field == "currency") =>
            {
                LoyaltyError::NoRate(currency.to_owned())
            }
            (status, _) => LoyaltyError::Refused {
                status: status.as_u16(),
                detail,
            },
        })
    }

    async fn release_points(
        &self,
        credentials: &ForwardedCredentials,
        user_id: &str,
        order_id: &str,
    ) -> Result<(), LoyaltyError> {
        let path = format!("/api/v1/users/{user_id}/loyalty/reservations/{order_id}");
        let service = self
            .service_token
            .as_deref()
            .map(ForwardedCredentials::bearer);
        let credentials = service.as_ref().unwrap_or(credentials);
        let reply = self
            .client
            .send_json(
                Method::DELETE,
                &path,
                credentials,
                None,
                None::<&serde_json::Value>,
            )
            .await
            .map_err(unavailable)?;
        match reply.status {
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(()),
            status => Err(LoyaltyError::Refused {
                status: status.as_u16(),
                detail: serde_json::from_slice::<ProblemView>(&reply.body)
                    .map(|p| p.detail)
                    .unwrap_or_default(),
            }),
        }
    }
}

fn unavailable(err: CallError) -> LoyaltyError {
    LoyaltyError::Unavailable(err.to_string())
}
