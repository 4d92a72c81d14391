//! `viscount serve <service>`: one service (or the gateway, or coordination) as its own
//! process of the distributed shape: its bus on NATS, its peers found through
//! coordination (or fixed with `--upstream`), its registration kept alive by heartbeats.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use gateway::{Backend, GatewayConfig};
use platform::bus::NatsOptions;
use platform::client::ServiceClient;
use platform::config::{ConfigSource, ExposeSecret};
use platform::discovery::{Agent, Coordination, Directory, DiscoverySettings, Pool, Registration};
use platform::service::{ServiceContext, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use platform::time::Clock;
use viscount::Settings;

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The service: gateway, coordination, identity, catalog, inventory, payments,
    /// ordering, fulfillment, notifications, ingestion or analytics.
    service: ServiceKind,
    /// Database (postgres://... or sqlite://...); defaults to a SQLite file in --data-dir.
    #[arg(long, env = "VISCOUNT_DATABASE_URL")]
    database_url: Option<String>,
    /// NATS server with JetStream (required: a service's events must reach the others).
    #[arg(long, env = "VISCOUNT_NATS_URL")]
    nats_url: Option<String>,
    /// Prefix of the platform's NATS streams, to run several platforms on one server.
    #[arg(long, env = "VISCOUNT_NATS_NAMESPACE", default_value = "")]
    nats_namespace: String,
    /// Copies of each event stream a JetStream cluster keeps (3 on a 3-server cluster;
    /// 1 on a single server).
    #[arg(long, env = "VISCOUNT_NATS_REPLICAS", default_value_t = 1)]
    nats_replicas: usize,
    /// Address to listen on [default: the service's port on 127.0.0.1].
    #[arg(long)]
    listen: Option<String>,
    /// The base URL other processes reach this one at [default: http://<listen address>].
    #[arg(long, env = "VISCOUNT_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// Where coordination runs [default: the `[discovery]` setting, http://127.0.0.1:8081].
    #[arg(long, env = "VISCOUNT_COORDINATION_URL")]
    coordination_url: Option<String>,
    /// A fixed instance of another service, as name=url (repeatable; several for one
    /// service are balanced). Overrides discovery for that service.
    #[arg(long, value_parser = parse_upstream)]
    upstream: Vec<(ServiceKind, String)>,
    /// Directory for SQLite files when no --database-url is given.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Stop when stdin closes (how `up --distributed` stops its children, and how they
    /// stop if it dies).
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

fn parse_upstream(raw: &str) -> Result<(ServiceKind, String), String> {
    let (name, url) = raw.split_once('=').ok_or("expected name=url")?;
    let kind = name.parse::<ServiceKind>().map_err(|e| e.to_string())?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("the url must start with http:// or https://".into());
    }
    Ok((kind, url.to_owned()))
}

pub(crate) async fn serve(
    args: ServeArgs,
    config: ConfigSource,
    settings: Settings,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let kind = args.service;
    // Spans outside any request or event (startup, background work) are this service's.
    platform::telemetry::set_process_service(kind);
    if args.exit_with_stdin {
        stop_when_stdin_closes(shutdown.clone());
    }
    let listen = args
        .listen
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", kind.default_port()));
    let mut discovery: DiscoverySettings = config.section("discovery")?;
    if let Some(url) = &args.coordination_url {
        discovery.coordination_url = url.clone();
    }
    let token = discovery
        .service_token
        .as_ref()
        .map(|secret| secret.expose_secret().to_owned())
        .filter(|token| !token.is_empty())
        .context(
            "the distributed shape needs the platform's shared service token: set \
             VISCOUNT_DISCOVERY__SERVICE_TOKEN (the same secret for every process)",
        )?;
    let nats_url = args.nats_url.clone().with_context(|| {
        format!(
            "{kind} exchanges events with the other services: pass --nats-url (or \
             VISCOUNT_NATS_URL) with a NATS JetStream server"
        )
    })?;
    let nats = platform::bus::NatsBus::connect(&NatsOptions {
        url: nats_url.clone(),
        namespace: args.nats_namespace.clone(),
    })
    .await
    .with_context(|| {
        format!(
            "cannot connect to NATS at {}",
            platform::config::redact_url(&nats_url)
        )
    })?;
    // `up --distributed` refuses such a server; a process started by hand is warned.
    if let Err(err) = nats.check_server().await {
        tracing::warn!(
            error = %err,
            nats = %platform::config::redact_url(&nats_url),
            "this NATS server is not one the platform supports"
        );
    }
    if matches!(kind, ServiceKind::Identity | ServiceKind::Gateway)
        && !config.table("identity").contains_key("issuer")
    {
        tracing::warn!(
            "tokens name the default issuer http://127.0.0.1:8080: set VISCOUNT_IDENTITY__ISSUER \
             (the same in every process) to the gateway's public URL"
        );
    }
    let bus: Arc<dyn platform::bus::Bus> = Arc::new(nats.with_stream_replicas(args.nats_replicas));
    let tasks = Tasks::new(shutdown.clone());
    let client = platform::client::http_client();
    let coordination = Coordination::new(&discovery.coordination_url, Some(&token), client.clone());
    let directory = Directory::new(coordination.clone());
    if let Err(err) = directory.refresh().await {
        tracing::warn!(error = %err, "coordination not reachable yet; instances will be found when it is");
    }
    directory.start(&tasks, Duration::from_millis(discovery.refresh_ms));
    let gateway_config: GatewayConfig = config.section(ServiceKind::Gateway.as_str())?;
    // Each other service: the fixed instances named with --upstream, else coordination
    // itself at its configured URL, else whatever coordination lists. One pool per
    // service in the process, so every caller shares its breakers.
    let pools: std::collections::HashMap<ServiceKind, Pool> = ServiceKind::backends()
        .map(|peer| {
            let fixed: Vec<String> = args
                .upstream
                .iter()
                .filter(|(named, _)| *named == peer)
                .map(|(_, url)| url.clone())
                .collect();
            let pool = if !fixed.is_empty() {
                Pool::fixed(peer, fixed, gateway_config.breaker)
            } else if peer == ServiceKind::Coordination {
                Pool::fixed(
                    peer,
                    vec![discovery.coordination_url.clone()],
                    gateway_config.breaker,
                )
            } else {
                directory.pool(peer, gateway_config.breaker)
            };
            (peer, pool)
        })
        .collect();
    let pool = |peer: ServiceKind| {
        pools
            .get(&peer)
            .cloned()
            .unwrap_or_else(|| directory.pool(peer, gateway_config.breaker))
    };
    let live = platform::live::LiveConfig::new();
    let (app, service) = match kind {
        ServiceKind::Gateway => {
            let backends: Vec<(ServiceKind, Backend)> = ServiceKind::backends()
                .filter(|peer| !gateway::public_paths(*peer).is_empty())
                .map(|peer| (peer, Backend::Remote(pool(peer))))
                .collect();
            let edge = gateway::Edge {
                authenticator: Some(remote_authenticator(&pool, &client, &config, &token)?),
                live: live.clone(),
                redis_url: settings.redis_url.clone(),
                redis_prefix: viscount::gateway_redis_prefix(
                    &gateway_config.redis_prefix,
                    &args.nats_namespace,
                ),
                bus: Some(bus.clone()),
                tasks: tasks.clone(),
                config: config.clone(),
                api_documents: viscount::api_documents(),
            };
            (gateway::router(backends, &gateway_config, edge)?, None)
        }
        kind => {
            let data_dir = args.data_dir.clone().unwrap_or(settings.data_dir.clone());
            let database_url = args
                .database_url
                .clone()
                .unwrap_or_else(|| platform::db::sqlite_url(&data_dir, kind.as_str()));
            let authenticator = remote_authenticator(&pool, &client, &config, &token)?;
            let mut context = ServiceContext::new(
                kind,
                database_url,
                bus.clone(),
                config.clone(),
                Clock::system(),
                tasks.clone(),
            )
            .with_authenticator(authenticator)
            .with_live(live.clone())
            .with_service_token(&token);
            // One replica among others: caches are shared through Redis, or there are none.
            context = match viscount::services_redis(settings.redis_url.as_deref())? {
                Some(redis) => context.with_redis(
                    redis,
                    viscount::gateway_redis_prefix(viscount::CACHE_PREFIX, &args.nats_namespace),
                ),
                None => context.without_caches(),
            };
            for peer in ServiceKind::backends().filter(|peer| *peer != kind) {
                context =
                    context.with_peer(peer, ServiceClient::pooled(pool(peer), client.clone()));
            }
            let service = viscount::launch(kind, &context)
                .await?
                .with_context(|| format!("{kind} cannot run alone"))?;
            // The first admin, as `up` makes it, from the identity process.
            if let Some((email, password)) = settings
                .bootstrap_admin_email
                .as_ref()
                .zip(settings.bootstrap_admin_password.as_ref())
            {
                match (service.as_ref() as &dyn std::any::Any).downcast_ref::<identity::Identity>()
                {
                    Some(identity) => {
                        viscount::bootstrap_admin(identity, email, password.expose_secret()).await?
                    }
                    None => tracing::warn!(
                        service = %kind,
                        "VISCOUNT_BOOTSTRAP_ADMIN_* is for the identity process; ignored here"
                    ),
                }
            }
            let app = platform::http::standalone_app(
                kind.as_str(),
                platform::service::full_router(service.as_ref()),
                service.readiness(),
            );
            (app, Some(service))
        }
    };
    platform::live::follow_log_level(&live, &[kind], &tasks);
    // Every process reads `[identity]`'s token settings; the rest of that section is
    // identity's, and known, not mistyped.
    if kind != ServiceKind::Identity {
        config.note_read::<identity::IdentityConfig>(ServiceKind::Identity.as_str());
    }
    config.report_unknown_keys();
    // The gateway's metrics stay off its public listener unless configured; the
    // services' own listeners serve them (`standalone_app`).
    let metrics = match kind {
        ServiceKind::Gateway => gateway::serve_metrics(&gateway_config, shutdown.clone())
            .await
            .context("cannot listen for metrics at [gateway] metrics_listen")?,
        _ => None,
    };
    let listener = platform::http::server::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let address = match &args.advertise_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None if bound.ip().is_unspecified() => {
            anyhow::bail!(
                "listening on {bound}: pass --advertise-url with the address other processes reach this one at"
            )
        }
        None => format!("http://{bound}"),
    };
    let registration = Registration {
        service: kind,
        instance_id: platform::ids::new_id(),
        address: address.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ttl_seconds: discovery.ttl_seconds,
    };
    tracing::info!(service = %kind, url = %address, instance_id = %registration.instance_id, "serving");
    let server = tokio::spawn(platform::http::serve(listener, app, shutdown.clone()));
    Agent::new(coordination, registration, live).start(&tasks);
    server.await??;
    if let Some((_, metrics)) = metrics {
        let _ = metrics.await;
    }
    tasks.stop(Duration::from_secs(10)).await;
    if let Some(service) = service {
        service.close().await;
    }
    Ok(())
}

/// Cancels `shutdown` once stdin reaches its end (or fails): the supervisor closed it,
/// or died.
fn stop_when_stdin_closes(shutdown: Shutdown) {
    let spawned = std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            use std::io::Read;
            let mut sink = [0u8; 256];
            let mut stdin = std::io::stdin().lock();
            while matches!(stdin.read(&mut sink), Ok(read) if read > 0) {}
            tracing::info!("stdin closed: stopping");
            shutdown.cancel();
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "cannot watch stdin; stop this process with a signal");
    }
}

/// Verifies callers in a process without identity: tokens against identity's JWKS and
/// API keys by its introspection, identity's instances found like any other service's;
/// the platform's service token admits the other processes.
fn remote_authenticator(
    pool: &dyn Fn(ServiceKind) -> Pool,
    client: &platform::client::HttpClient,
    config: &ConfigSource,
    token: &str,
) -> anyhow::Result<platform::auth::Authenticator> {
    let remote = Arc::new(platform::auth::remote::RemoteIdentity::over(
        ServiceClient::pooled(pool(ServiceKind::Identity), client.clone()),
    ));
    let tokens: platform::auth::remote::TokenSettings =
        config.section(ServiceKind::Identity.as_str())?;
    Ok(platform::auth::Authenticator::new(
        remote.clone(),
        &tokens.issuer,
        &tokens.audience,
        Clock::system(),
    )
    .with_api_keys(remote)
    .with_service_token(token))
}
