//! What a Viscount service is to the process that runs it, and how it is started.
//!
//! Every backend service implements [`Service`]: it is built from a [`ServiceContext`]
//! (its database, the bus, authentication, the clock, configuration, its peers), and then
//! offers its routes, its readiness, the events it consumes and its background work. The
//! process — `viscount up` with every service, `viscount serve <kind>` with one — holds
//! them as `Box<dyn Service>` and wires each the same way through [`launch`], so a
//! service's `lib.rs` is a short declaration and a new service is added in one place.

mod context;
pub mod kind;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use crate::auth::Authenticator;
use crate::bus::{EventHandler, RetryPolicy, Subscription};
use crate::db::{Db, Migrations};
use crate::http::Readiness;
use crate::tasks::Tasks;

pub use context::{ServiceContext, ServiceData, StartError};
pub use kind::{ServiceKind, UnknownService};

/// The events a service consumes: the producers it reads and what it does with them.
pub struct Consumer {
    /// The producing services whose streams it reads.
    pub streams: Vec<ServiceKind>,
    /// What it does with each event.
    pub handler: Arc<dyn EventHandler>,
    /// Retries and dead letters.
    pub retry: RetryPolicy,
}

impl Consumer {
    /// Reads `streams` with `handler` and the default retry policy.
    pub fn new(streams: Vec<ServiceKind>, handler: Arc<dyn EventHandler>) -> Self {
        Self {
            streams,
            handler,
            retry: RetryPolicy::default(),
        }
    }
}

/// A backend service, as the process that runs it sees it.
pub trait Service: Any + Send + Sync {
    /// Builds the service from what the process gives it: opens its database, reads its
    /// configuration, prepares its state. Consuming events and background work start
    /// later, in [`launch`], once the service is whole.
    fn build(context: &ServiceContext) -> impl Future<Output = Result<Self, StartError>>
    where
        Self: Sized;

    /// Its database migrations (`viscount migrate` runs them without building it).
    fn migrations() -> &'static Migrations
    where
        Self: Sized;

    /// The OpenAPI description of its routes (their paths, parameters, bodies and
    /// answers), taken from the same declaration that builds them
    /// ([`crate::http::api::ApiRouter`]); the process finishes and merges it.
    fn openapi() -> utoipa::openapi::OpenApi
    where
        Self: Sized;

    /// Its own database and outbox.
    fn data(&self) -> &ServiceData;

    /// Its database (for the CLI and tests that look past the API).
    fn db(&self) -> &Db {
        &self.data().db
    }

    /// Its HTTP routes (paths as in API.md), authenticated; whoever serves them adds the
    /// common layers.
    fn router(&self) -> Router;

    /// What `/health/ready` checks: by default its database and the bus.
    fn readiness(&self) -> Readiness {
        self.data().readiness()
    }

    /// The events it consumes; `None` for a service that consumes none.
    fn consumer(&self) -> Option<Consumer> {
        None
    }

    /// Starts its background work (sweepers, senders) on `tasks`, which stop it at
    /// shutdown.
    fn start_background(&self, tasks: &Tasks) {
        let _ = tasks;
    }

    /// The authenticator it offers the other services of its process (identity's, which
    /// verifies with its own keys and users); `None` for every other service.
    fn authenticator(&self) -> Option<Authenticator> {
        None
    }

    /// Releases what it holds once its requests and tasks have drained.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.data().db.close())
    }
}

/// A service on its way up.
type Launching<'a> = LocalBoxFuture<'a, Result<Box<dyn Service>, StartError>>;

/// How a process migrates and starts one kind of service without naming its type: the
/// binary maps each [`ServiceKind`] to the declaration of its service, in one place.
#[derive(Clone, Copy)]
pub struct Declaration {
    migrations: fn() -> &'static Migrations,
    openapi: fn() -> utoipa::openapi::OpenApi,
    // Not `Send`: a service is started by the task that runs the process, never moved
    // to another while it builds.
    launch: for<'a> fn(&'a ServiceContext) -> Launching<'a>,
}

impl Declaration {
    /// The declaration of `S`.
    pub fn of<S: Service>() -> Self {
        Self {
            migrations: S::migrations,
            openapi: S::openapi,
            launch: |context| Box::pin(launch::<S>(context)),
        }
    }

    /// The service's migrations.
    pub fn migrations(&self) -> &'static Migrations {
        (self.migrations)()
    }

    /// The finished OpenAPI document of the service's routes
    /// ([`crate::http::api::document`]), as `kind`.
    pub fn openapi(&self, kind: ServiceKind) -> serde_json::Value {
        crate::http::api::document(kind.as_str(), (self.openapi)())
    }

    /// Builds and starts the service on `context` (see [`launch`]).
    pub async fn launch(&self, context: &ServiceContext) -> Result<Box<dyn Service>, StartError> {
        (self.launch)(context).await
    }
}

/// Builds `S` on `context`, subscribes its consumer and starts its background work.
pub async fn launch<S: Service>(context: &ServiceContext) -> Result<Box<dyn Service>, StartError> {
    let service = S::build(context).await?;
    let data = service.data();
    if let Some(consumer) = service.consumer() {
        let subscription = Subscription {
            consumer: context.kind().as_str().into(),
            db: data.db.clone(),
            streams: consumer.streams,
            handler: consumer.handler,
            retry: consumer.retry,
            outbox: Some(data.outbox.clone()),
        };
        data.set_subscription(subscription.clone());
        context
            .bus()
            .subscribe(subscription, context.tasks())
            .await?;
    }
    service.start_background(context.tasks());
    Ok(Box::new(service))
}

/// Everything `service` serves over HTTP: its own routes ([`Service::router`]) and the
/// platform's routes of every service — the dead-letter desk under
/// [`crate::bus::dead_letters::PATH`], for admins — behind the same authentication.
/// Whoever serves a service (the gateway in process, `serve`'s own listener) serves
/// this.
pub fn full_router(service: &dyn Service) -> Router {
    let data = service.data();
    // Identity verifies callers with its own keys; every other service with what the
    // process gave it.
    let authenticator = service
        .authenticator()
        .or_else(|| data.authenticator().cloned());
    service.router().merge(crate::bus::dead_letters::router(
        data.dead_letter_desk(),
        authenticator,
    ))
}

/// The services of one process, in start order.
#[derive(Default)]
pub struct Services {
    running: Vec<Box<dyn Service>>,
}

impl Services {
    /// Adds a started service.
    pub fn push(&mut self, service: Box<dyn Service>) {
        self.running.push(service);
    }

    /// Every service, in start order.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Service> {
        self.running.iter().map(|service| service.as_ref())
    }

    /// The running service of type `S` (for the CLI and tests that reach past the API).
    pub fn get<S: Service>(&self) -> Option<&S> {
        self.iter()
            .find_map(|service| (service as &dyn Any).downcast_ref::<S>())
    }

    /// Closes every service, in reverse start order.
    pub async fn close(&self) {
        for service in self.running.iter().rev() {
            service.close().await;
        }
    }
}
