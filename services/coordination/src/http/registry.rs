//! Registry and health handlers: instances register (and heartbeat), deregister, are
//! listed; services' and the platform's health.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::{Fields, Json, Problem, Query, created, no_content};
use platform::service::ServiceKind;
use platform::time::rfc3339;
use serde::{Deserialize, Serialize};

use super::{ApiResult, problem, require_service, service_in_path};
use crate::app::{CoordinationApp, Registered};
use crate::domain::{Address, Instance, InstanceId, Registration, Ttl, Version};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterBody {
    service: String,
    instance_id: String,
    address: String,
    version: String,
    ttl_seconds: i64,
}

impl RegisterBody {
    /// A registration: a known service, an instance id that fits a path, an http(s)
    /// address, a version, and a TTL of 1 to 300 seconds.
    fn try_into_domain(self) -> Result<Registration, Problem> {
        let mut fields = Fields::default();
        let service = fields.check(
            "service",
            self.service
                .parse::<ServiceKind>()
                .map_err(|_| "must be the name of a Viscount service"),
        );
        let instance_id = fields.check("instance_id", InstanceId::try_from(self.instance_id));
        let address = fields.check("address", Address::try_from(self.address));
        let version = fields.check("version", Version::try_from(self.version));
        let ttl = fields.check("ttl_seconds", Ttl::try_from(self.ttl_seconds));
        match (service, instance_id, address, version, ttl) {
            (Some(service), Some(instance_id), Some(address), Some(version), Some(ttl)) => {
                Ok(Registration {
                    service,
                    instance_id,
                    address,
                    version,
                    ttl,
                })
            }
            _ => Err(fields.into_problem()),
        }
    }
}

/// A registration as its instance gets it back.
#[derive(Serialize)]
struct RegistrationView {
    service: &'static str,
    instance_id: String,
    address: String,
    version: String,
    ttl_seconds: i64,
    status: &'static str,
    last_seen: String,
    expires_at: String,
    config_version: u64,
}

impl From<Registered> for RegistrationView {
    fn from(registered: Registered) -> Self {
        let i = registered.instance;
        Self {
            service: i.service.as_str(),
            instance_id: i.instance_id,
            address: i.address,
            version: i.version,
            ttl_seconds: i.ttl_seconds,
            status: i.status.as_str(),
            last_seen: rfc3339(i.last_seen),
            expires_at: rfc3339(i.expires_at),
            config_version: registered.config_version,
        }
    }
}

#[tracing::instrument(skip_all)]
pub(super) async fn register(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Response> {
    require_service(&principal)?;
    let registration = body.try_into_domain()?;
    let registered = app.register(registration).await.map_err(problem)?;
    let location = format!(
        "/api/v1/services/{}/instances/{}",
        registered.instance.service, registered.instance.instance_id
    );
    Ok(if registered.created {
        created(&location, RegistrationView::from(registered))
    } else {
        Json(RegistrationView::from(registered)).into_response()
    })
}

/// The instance id in a path: one the registry could hold, else it is not there.
fn instance_in_path(raw: String) -> Result<InstanceId, Problem> {
    InstanceId::try_from(raw).map_err(|_| Problem::not_found("instance"))
}

#[tracing::instrument(skip_all)]
pub(super) async fn deregister(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Path((service, instance_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    require_service(&principal)?;
    let service = service_in_path(&service)?;
    let instance_id = instance_in_path(instance_id)?;
    app.deregister(service, instance_id.as_str())
        .await
        .map_err(problem)?;
    Ok(no_content())
}

/// An instance as listings show it.
#[derive(Serialize)]
pub(super) struct InstanceView {
    instance_id: String,
    address: String,
    version: String,
    status: &'static str,
    last_seen: String,
    ttl_seconds: i64,
    expires_at: String,
}

impl From<Instance> for InstanceView {
    fn from(i: Instance) -> Self {
        Self {
            instance_id: i.instance_id,
            address: i.address,
            version: i.version,
            status: i.status.as_str(),
            last_seen: rfc3339(i.last_seen),
            ttl_seconds: i.ttl_seconds,
            expires_at: rfc3339(i.expires_at),
        }
    }
}

#[tracing::instrument(skip_all)]
pub(super) async fn get_instance(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Path((service, instance_id)): Path<(String, String)>,
) -> ApiResult<Json<InstanceView>> {
    require_service(&principal)?;
    let service = service_in_path(&service)?;
    let instance_id = instance_in_path(instance_id)?;
    app.instance(service, instance_id.as_str())
        .await
        .map(|i| Json(i.into()))
        .map_err(problem)
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    service: Option<String>,
}

/// One service's instances in the listing.
#[derive(Serialize)]
pub(super) struct ServiceView {
    service: &'static str,
    instances: Vec<InstanceView>,
}

#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Vec<ServiceView>>> {
    require_service(&principal)?;
    let service = query
        .service
        .map(|name| {
            name.parse::<ServiceKind>().map_err(|_| {
                Problem::invalid_field("service", "must be the name of a Viscount service")
            })
        })
        .transpose()?;
    let instances = app.instances(service).await.map_err(problem)?;
    let mut by_service: BTreeMap<&'static str, Vec<InstanceView>> = BTreeMap::new();
    if let Some(service) = service {
        // A filtered listing names the service even when it has no instance, so a
        // client can tell "none" from "not asked".
        by_service.entry(service.as_str()).or_default();
    }
    for instance in instances {
        by_service
            .entry(instance.service.as_str())
            .or_default()
            .push(instance.into());
    }
    Ok(Json(
        by_service
            .into_iter()
            .map(|(service, instances)| ServiceView { service, instances })
            .collect(),
    ))
}

/// An instance's health.
#[derive(Serialize)]
struct InstanceHealthView {
    instance_id: String,
    address: String,
    status: &'static str,
    last_checked: Option<String>,
}

/// A service's health.
#[derive(Serialize)]
pub(super) struct ServiceHealthView {
    service: &'static str,
    status: &'static str,
    instances: Vec<InstanceHealthView>,
}

#[tracing::instrument(skip_all)]
pub(super) async fn service_health(
    State(app): State<CoordinationApp>,
    principal: Principal,
    Path(service): Path<String>,
) -> ApiResult<Json<ServiceHealthView>> {
    require_service(&principal)?;
    let service = service_in_path(&service)?;
    let report = app.service_health(service).await.map_err(problem)?;
    Ok(Json(ServiceHealthView {
        service: report.service.as_str(),
        status: report.status.as_str(),
        instances: report
            .instances
            .into_iter()
            .map(|i| InstanceHealthView {
                instance_id: i.instance_id,
                address: i.address,
                status: i.status.as_str(),
                last_checked: i.last_checked.map(rfc3339),
            })
            .collect(),
    }))
}

/// One service in the platform's health.
#[derive(Serialize)]
struct SummaryView {
    status: &'static str,
    instances: usize,
    up: usize,
}

/// The platform's health, as the gateway's `GET /health` shows it.
#[derive(Serialize)]
pub(super) struct PlatformHealthView {
    status: &'static str,
    services: BTreeMap<&'static str, SummaryView>,
}

#[tracing::instrument(skip_all)]
pub(super) async fn platform_health(
    State(app): State<CoordinationApp>,
    principal: Principal,
) -> ApiResult<Json<PlatformHealthView>> {
    require_service(&principal)?;
    let health = app.platform_health().await.map_err(problem)?;
    Ok(Json(PlatformHealthView {
        status: health.status.as_str(),
        services: health
            .services
            .into_iter()
            .map(|(name, summary)| {
                (
                    name,
                    SummaryView {
                        status: summary.status.as_str(),
                        instances: summary.instances,
                        up: summary.up,
                    },
                )
            })
            .collect(),
    }))
}
