//! `viscount`: the one binary of the platform.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use gateway::{Backend, GatewayConfig};
use platform::bus::NatsOptions;
use platform::client::ServiceClient;
use platform::config::ConfigSource;
use platform::discovery::{Agent, Coordination, Directory, DiscoverySettings, Pool, Registration};
use platform::service::{Service, ServiceContext, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use platform::time::Clock;
use viscount::{PlatformOptions, RunningPlatform, Settings, Storage};

/// mimalloc instead of the system allocator: under load glibc's malloc was a fifth of
/// the platform's CPU time, much of it threads contending for its arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Viscount: a commerce platform built as microservices.
#[derive(Parser)]
#[command(name = "viscount", version, about)]
struct Cli {
    /// Configuration file (defaults < this file < VISCOUNT_* environment variables).
    #[arg(long, global = true, default_value = "viscount.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every service in this process on SQLite files, behind the gateway; or, with
    /// --distributed, every service as its own supervised process on PostgreSQL, NATS
    /// JetStream and Redis.
    Up(UpArgs),
    /// Run one service as its own process (the distributed shape).
    Serve(ServeArgs),
    /// Create or upgrade the databases, then exit.
    Migrate {
        #[command(flatten)]
        target: DatabaseTarget,
    },
    /// Load demo data (a warehouse, categories, products with stock) into the embedded
    /// shape's databases. Running it again changes nothing. Stop `viscount up` on the
    /// same data directory first.
    Seed {
        /// Create the demo catalog and its stock (the only kind of seed there is).
        #[arg(long, required = true)]
        demo: bool,
        /// How many demo products.
        #[arg(long, default_value_t = 200)]
        products: usize,
        /// Directory of the SQLite files [default: ./data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Checks the platform-wide invariants from the services' databases and the bus
    /// (orders settled and once per key, stock and money equal to their ledgers,
    /// shipments and confirmations once, every event delivered); exits 1 when one fails.
    /// Run it on a quiet platform: work in flight shows as violations.
    Verify(VerifyArgs),
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load generators that drive the public API like shoppers do.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Virtual customers browse, search, fill carts and check out; reports settled
    /// checkouts per second, step latencies and errors.
    Checkout(viscount::bench::CheckoutArgs),
    /// Creates a tenant with its four sources and posts signed Shopify, Stripe, PayPal
    /// and WooCommerce webhooks over N connections; reports accepted webhooks per
    /// second, latency per provider and errors.
    Ingest(viscount::bench::IngestArgs),
    /// Writes a history of N ledger rows into analytics' SQLite file under a data
    /// directory (offline, through the consumer's own path), for `bench analytics`.
    AnalyticsLoad(viscount::bench::AnalyticsLoadArgs),
    /// Times realtime revenue, the CSV export (and the server's memory during it) and
    /// the time from a webhook's 200 to its revenue in realtime.
    Analytics(viscount::bench::AnalyticsArgs),
    /// The latency of one GET under N connections against each URL in turn (e.g. a
    /// product through the gateway and straight from catalog).
    Latency(viscount::bench::LatencyArgs),
}

#[derive(Args)]
struct UpArgs {
    /// Directory of the SQLite files [default: ./data] (embedded shape).
    #[arg(long, conflicts_with = "distributed")]
    data_dir: Option<PathBuf>,
    /// Gateway address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Run coordination, every service and the gateway as separate processes, each on
    /// its own PostgreSQL database, exchanging events over NATS JetStream.
    #[arg(long)]
    distributed: bool,
    /// PostgreSQL server (without a database name) for --distributed.
    #[arg(
        long,
        env = "VISCOUNT_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432",
        requires = "distributed"
    )]
    postgres_url: String,
    /// Prefix of each service's database name for --distributed.
    #[arg(long, default_value = "viscount_", requires = "distributed")]
    database_prefix: String,
    /// NATS server (2.10 or newer, with JetStream) for --distributed.
    #[arg(
        long,
        env = "VISCOUNT_NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        requires = "distributed"
    )]
    nats_url: String,
    /// Prefix of the platform's NATS streams, to run several platforms on one server.
    #[arg(long, env = "VISCOUNT_NATS_NAMESPACE", default_value = "")]
    nats_namespace: String,
    /// Redis for the gateway's shared rate limits and cache, for --distributed.
    #[arg(
        long,
        env = "VISCOUNT_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        requires = "distributed"
    )]
    redis_url: String,
    /// Coordination's address for --distributed.
    #[arg(long, default_value = "127.0.0.1:8081", requires = "distributed")]
    coordination_listen: String,
    /// Processes per service for --distributed, e.g. ordering=2,catalog=2.
    #[arg(long, value_delimiter = ',', value_parser = viscount::distributed::parse_replicas, requires = "distributed")]
    replicas: Vec<(ServiceKind, usize)>,
    /// service:KEY=value: an environment variable for one service's processes only
    /// (fault drills; repeatable).
    #[arg(long, hide = true, value_parser = viscount::distributed::parse_child_env, requires = "distributed")]
    child_env: Vec<(ServiceKind, String, String)>,
}

#[derive(Args)]
struct VerifyArgs {
    /// Directory of the SQLite files of the embedded shape [default: ./data]
    #[arg(long, conflicts_with = "postgres_url")]
    data_dir: Option<PathBuf>,
    /// The distributed shape's PostgreSQL server (without a database name).
    #[arg(long, env = "VISCOUNT_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Prefix of each service's database name.
    #[arg(long, default_value = "viscount_")]
    database_prefix: String,
    /// The distributed shape's NATS server (its consumers' backlogs are checked).
    #[arg(
        long,
        env = "VISCOUNT_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
    /// Prefix of the platform's NATS streams.
    #[arg(long, env = "VISCOUNT_NATS_NAMESPACE", default_value = "")]
    nats_namespace: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
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

#[derive(Args)]
struct DatabaseTarget {
    /// Directory of the SQLite files of the embedded shape [default: ./data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// One service's database instead (needs --service).
    #[arg(long, requires = "service")]
    database_url: Option<String>,
    /// The service whose database --database-url names.
    #[arg(long)]
    service: Option<ServiceKind>,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account (does nothing if the email has an account).
    Create {
        /// Admin email.
        #[arg(long)]
        email: String,
        /// Admin password (at least 10 characters).
        #[arg(long)]
        password: String,
        #[command(flatten)]
        target: DatabaseTarget,
    },
}

fn parse_upstream(raw: &str) -> Result<(ServiceKind, String), String> {
    let (name, url) = raw.split_once('=').ok_or("expected name=url")?;
    let kind = name.parse::<ServiceKind>().map_err(|e| e.to_string())?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err("the url must start with http:// or https://".into());
    }
    Ok((kind, url.to_owned()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = ConfigSource::load(&cli.config)?;
    let settings: Settings = config.section("")?;
    platform::telemetry::init_logging(settings.log_format);
    let shutdown = Shutdown::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        platform::shutdown::shutdown_signal().await;
        signal.cancel();
    });
    match cli.command {
        Command::Up(args) if args.distributed => {
            let options = viscount::distributed::DistributedOptions {
                postgres_url: args.postgres_url,
                database_prefix: args.database_prefix,
                nats_url: args.nats_url,
                nats_namespace: args.nats_namespace,
                redis_url: args.redis_url,
                listen: args.listen,
                coordination_listen: args.coordination_listen,
                replicas: args.replicas,
                config_path: cli.config.clone(),
                log_format: settings.log_format,
                child_env: args.child_env,
            };
            viscount::distributed::run(options, &config, shutdown).await
        }
        Command::Up(UpArgs {
            data_dir, listen, ..
        }) => {
            let data_dir = data_dir.unwrap_or(settings.data_dir.clone());
            // Tokens name the address the gateway listens on unless configured (a port
            // the kernel picks is only known later: the default stands then).
            let config = if listen.ends_with(":0") {
                config
            } else {
                config.with_default(
                    ServiceKind::Identity.as_str(),
                    "issuer",
                    toml::Value::String(format!("http://{listen}")),
                )
            };
            let checked = config.clone();
            let bootstrap_admin = settings
                .bootstrap_admin_email
                .clone()
                .zip(settings.bootstrap_admin_password.clone());
            let platform = RunningPlatform::start(
                PlatformOptions {
                    storage: Storage::Embedded {
                        data_dir: data_dir.clone(),
                    },
                    listen,
                    config,
                    clock: Clock::system(),
                    bootstrap_admin,
                },
                shutdown,
            )
            .await?;
            checked.report_unknown_keys();
            tracing::info!(
                url = %format!("http://{}", platform.addr),
                data_dir = %data_dir.display(),
                "viscount is up"
            );
            platform.run_until_stopped().await
        }
        Command::Serve(args) => serve(args, config, settings, shutdown).await,
        Command::Verify(args) => {
            let storage = match args.postgres_url {
                Some(postgres_url) => Storage::Distributed {
                    postgres_url,
                    database_prefix: args.database_prefix,
                    nats: NatsOptions {
                        url: args.nats_url,
                        namespace: args.nats_namespace,
                    },
                    redis_url: None,
                },
                None => Storage::Embedded {
                    data_dir: args.data_dir.unwrap_or(settings.data_dir.clone()),
                },
            };
            let report =
                viscount::verify::verify(&viscount::verify::VerifyOptions { storage }).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render_text());
            }
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Migrate { target } => {
            for (kind, url) in target.databases(&settings)? {
                viscount::migrate(kind, &url).await?;
                println!("{kind}: migrated");
            }
            Ok(())
        }
        Command::Seed {
            demo: _,
            products,
            data_dir,
        } => {
            let data_dir = data_dir.unwrap_or(settings.data_dir.clone());
            let storage = Storage::Embedded { data_dir };
            let tasks = Tasks::new(shutdown);
            let bus = storage.bus().await?;
            let live = platform::live::LiveConfig::new();
            let services = viscount::start_services(&storage, bus, &config, &tasks, &Clock::system(), &live)
                .await
                .context("cannot open the databases (is `viscount up` running on this data directory? stop it first)")?;
            let report = viscount::seed::demo(&services, products).await;
            // Let the dispatchers deliver what the seed staged (catalog's stock flags).
            tasks.stop(std::time::Duration::from_secs(10)).await;
            services.close().await;
            let report = report?;
            println!(
                "demo data ready: {} products ({} new), {} categories new, {} skus stocked now, warehouse {}",
                products,
                report.products_created,
                report.categories_created,
                report.skus_stocked,
                viscount::seed::WAREHOUSE_CODE
            );
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    target,
                },
        } => {
            let (_, url) = target
                .databases(&settings)?
                .into_iter()
                .find(|(kind, _)| *kind == ServiceKind::Identity)
                .context("admin accounts live in the identity database; pass --service identity")?;
            let tasks = Tasks::new(shutdown);
            let bus: Arc<dyn platform::bus::Bus> = Arc::new(platform::bus::EmbeddedBus::new());
            let context = ServiceContext::new(
                ServiceKind::Identity,
                url,
                bus,
                config,
                Clock::system(),
                tasks.clone(),
            );
            let identity = identity::Identity::build(&context).await?;
            viscount::bootstrap_admin(&identity, &email, &password).await?;
            identity.close().await;
            println!("admin {email} is ready");
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Checkout(args),
        } => viscount::bench::checkout(args, shutdown).await,
        Command::Bench {
            command: BenchCommand::Ingest(args),
        } => viscount::bench::ingest(args, shutdown).await,
        Command::Bench {
            command: BenchCommand::AnalyticsLoad(args),
        } => viscount::bench::analytics_load(args, shutdown).await,
        Command::Bench {
            command: BenchCommand::Analytics(args),
        } => viscount::bench::analytics(args).await,
        Command::Bench {
            command: BenchCommand::Latency(args),
        } => viscount::bench::latency(args).await,
    }
}

impl DatabaseTarget {
    fn databases(&self, settings: &Settings) -> anyhow::Result<Vec<(ServiceKind, String)>> {
        match (&self.database_url, self.service) {
            (Some(url), Some(kind)) => Ok(vec![(kind, url.clone())]),
            (Some(_), None) => bail!("--database-url needs --service"),
            (None, _) => {
                let data_dir = self.data_dir.clone().unwrap_or(settings.data_dir.clone());
                let storage = Storage::Embedded { data_dir };
                Ok(ServiceKind::backends()
                    .filter(|k| self.service.is_none_or(|s| s == *k))
                    .map(|k| (k, storage.database_url(k)))
                    .collect())
            }
        }
    }
}

async fn serve(
    args: ServeArgs,
    config: ConfigSource,
    settings: Settings,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let kind = args.service;
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
        .map(|secret| secret.expose().to_owned())
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
    .with_context(|| format!("cannot connect to NATS at {nats_url}"))?;
    // `up --distributed` refuses such a server; a process started by hand is warned.
    if let Err(err) = nats.check_server().await {
        tracing::warn!(error = %err, nats = %nats_url, "this NATS server is not one the platform supports");
    }
    if matches!(kind, ServiceKind::Identity | ServiceKind::Gateway)
        && !config.table("identity").contains_key("issuer")
    {
        tracing::warn!(
            "tokens name the default issuer http://127.0.0.1:8080: set VISCOUNT_IDENTITY__ISSUER \
             (the same in every process) to the gateway's public URL"
        );
    }
    let bus: Arc<dyn platform::bus::Bus> = Arc::new(nats);
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
                    Some(identity) => viscount::bootstrap_admin(identity, email, password).await?,
                    None => tracing::warn!(
                        service = %kind,
                        "VISCOUNT_BOOTSTRAP_ADMIN_* is for the identity process; ignored here"
                    ),
                }
            }
            let app = platform::http::standalone_app(
                kind.as_str(),
                service.router(),
                service.readiness(),
            );
            (app, Some(service))
        }
    };
    platform::live::follow_log_level(&live, &[kind], &tasks);
    config.report_unknown_keys();
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
