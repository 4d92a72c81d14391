//! Registry and health handlers: instances register (and heartbeat), deregister, are
//! listed; services' and the platform's health.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use platform::auth::Principal;
use platform::http::api::{ApiRouter, problems, routes};
use platform::http::{Fields, Json, Problem, Query, created, no_content};
use platform::service::ServiceKind;
use platform::time::rfc3339;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, ServiceName, problem, require_service, service_in_path};
use crate::app::{CoordinationApp, Registered};
use crate::domain::{
    Address, HealthStatus, Instance, InstanceId, Registration, ServiceHealth, Ttl, Version,
};

/// The registry's and health's routes.
pub(super) fn routes() -> ApiRouter<CoordinationApp> {
    ApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(register))
        .routes(routes!(platform_health))
        .routes(routes!(service_health))
        .routes(routes!(get_instance, deregister))
}

/// An instance's registration, or its heartbeat (the same body again).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"service": "ordering", "instance_id": "ordering-7f9c", "address": "http://10.0.0.7:8084", "version": "0.1.0", "ttl_seconds": 30}))]
pub(super) struct RegisterBody {
    /// The service the instance runs.
    #[schema(value_type = ServiceName)]
    service: String,
    /// The instance: 1 to 128 of `A-Z a-z 0-9 . _ - :`.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[A-Za-z0-9._:-]{1,128}$"
    )]
    instance_id: String,
    /// Where it answers: an http(s) URL with a host, without credentials, query or
    /// fragment.
    #[schema(
        max_length = 2048,
        pattern = r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+(/[^?#\s]*)?$"
    )]
    address: String,
    /// Its version: 1 to 64 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    version: String,
    /// How long it stays listed without another heartbeat.
    #[schema(minimum = 1, maximum = 300)]
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

/// An instance's polled health names, as [`HealthStatus::as_str`] spells them.
fn instance_status() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("`unknown` until first polled."))
        .enum_values(Some(HealthStatus::ALL.map(HealthStatus::as_str)))
}

/// A service's (or the platform's) health names, as [`ServiceHealth::as_str`] spells
/// them.
fn service_status() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(ServiceHealth::ALL.map(ServiceHealth::as_str)))
}

/// A registration as its instance gets it back.
#[derive(Serialize, ToSchema)]
struct RegistrationView {
    /// The service.
    #[schema(value_type = ServiceName)]
    service: &'static str,
    /// The instance.
    instance_id: String,
    /// Where it answers, without a trailing slash.
    address: String,
    /// Its version.
    version: String,
    /// How long it stays listed without another heartbeat.
    ttl_seconds: i64,
    /// Its polled health.
    #[schema(schema_with = instance_status)]
    status: &'static str,
    /// This registration, RFC 3339.
    last_seen: String,
    /// When it is dropped unless it heartbeats again, RFC 3339.
    expires_at: String,
    /// The version of its service's configuration document (0 before the first): an
    /// instance that has applied an older one reads it again.
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

/// Registers a service instance, or renews it (the platform's processes; admins).
///
/// Heartbeats are repeated registrations; the platform's processes send the shared
/// service token as their bearer token.
#[utoipa::path(
    post,
    path = "/api/v1/services/register",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered", body = RegistrationView,
            headers(("Location" = String, description = "The instance"))),
        (status = 200, description = "Already registered: the heartbeat is recorded", body = RegistrationView),
        problems::BadRequest, problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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

/// Removes an instance that is shutting down (the platform's processes; admins).
#[utoipa::path(
    delete,
    path = "/api/v1/services/{service}/instances/{instance_id}",
    params(
        ("service" = inline(ServiceName), Path, description = "The service"),
        ("instance_id" = String, Path, description = "The instance", pattern = r"^[A-Za-z0-9._:-]{1,128}$"),
    ),
    responses(
        (status = 204, description = "Deregistered"),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
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
#[derive(Serialize, ToSchema)]
pub(super) struct InstanceView {
    /// The instance.
    instance_id: String,
    /// Where it answers, without a trailing slash.
    address: String,
    /// Its version.
    version: String,
    /// Its polled health.
    #[schema(schema_with = instance_status)]
    status: &'static str,
    /// Its last registration or heartbeat, RFC 3339.
    last_seen: String,
    /// How long it stays listed without another heartbeat.
    ttl_seconds: i64,
    /// When it is dropped unless it heartbeats again, RFC 3339.
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

/// One registered instance (the platform's processes; admins).
#[utoipa::path(
    get,
    path = "/api/v1/services/{service}/instances/{instance_id}",
    params(
        ("service" = inline(ServiceName), Path, description = "The service"),
        ("instance_id" = String, Path, description = "The instance", pattern = r"^[A-Za-z0-9._:-]{1,128}$"),
    ),
    responses(
        (status = 200, description = "The instance", body = InstanceView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
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

/// `GET /api/v1/services` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Only this service's instances (listed even when it has none).
    #[param(inline, value_type = Option<ServiceName>)]
    service: Option<String>,
}

/// One service's instances in the listing.
#[derive(Serialize, ToSchema)]
pub(super) struct ServiceView {
    /// The service.
    #[schema(value_type = ServiceName)]
    service: &'static str,
    /// Its registered instances.
    instances: Vec<InstanceView>,
}

/// The registered instances, by service (the platform's processes; admins).
#[utoipa::path(
    get,
    path = "/api/v1/services",
    operation_id = "list_services",
    params(ListQuery),
    responses(
        (status = 200, description = "Every service with registered instances, by name", body = Vec<ServiceView>),
        problems::Unauthorized, problems::Forbidden, problems::Invalid,
    ),
)]
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
#[derive(Serialize, ToSchema)]
struct InstanceHealthView {
    /// The instance.
    instance_id: String,
    /// Where it answers.
    address: String,
    /// Its polled health.
    #[schema(schema_with = instance_status)]
    status: &'static str,
    /// Its last poll, RFC 3339; null before the first.
    last_checked: Option<String>,
}

/// A service's health.
#[derive(Serialize, ToSchema)]
pub(super) struct ServiceHealthView {
    /// The service.
    #[schema(value_type = ServiceName)]
    service: &'static str,
    /// `up` when every instance is, `down` when none is (or there is none).
    #[schema(schema_with = service_status)]
    status: &'static str,
    /// Its instances.
    instances: Vec<InstanceHealthView>,
}

/// A service's health from its instances' (the platform's processes; admins).
///
/// Aggregated from each instance's polled `/health/ready`.
#[utoipa::path(
    get,
    path = "/api/v1/services/{service}/health",
    params(("service" = inline(ServiceName), Path, description = "The service")),
    responses(
        (status = 200, description = "The service's health", body = ServiceHealthView),
        problems::Unauthorized, problems::Forbidden, problems::NotFound,
    ),
)]
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
#[derive(Serialize, ToSchema)]
struct SummaryView {
    /// The service's health.
    #[schema(schema_with = service_status)]
    status: &'static str,
    /// Its registered instances.
    instances: usize,
    /// How many of them are up.
    up: usize,
}

/// The platform's health, as the gateway's `GET /health` shows it.
#[derive(Serialize, ToSchema)]
pub(super) struct PlatformHealthView {
    /// The platform's health over its services'.
    #[schema(schema_with = service_status)]
    status: &'static str,
    /// Each registered service's health, by name.
    services: BTreeMap<&'static str, SummaryView>,
}

/// The platform's health over every registered service (the platform's processes; admins).
#[utoipa::path(
    get,
    path = "/api/v1/services/health",
    responses(
        (status = 200, description = "The platform's health", body = PlatformHealthView),
        problems::Unauthorized, problems::Forbidden,
    ),
)]
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
