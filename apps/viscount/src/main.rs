//! `viscount`: the one binary of the platform.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use gateway::{Backend, GatewayConfig};
use platform::bus::NatsOptions;
use platform::client::ServiceClient;
use platform::config::ConfigSource;
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
    /// Run every service in this process on SQLite files, behind the gateway.
    Up {
        /// Directory of the SQLite files [default: ./data]
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Gateway address.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
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
}

#[derive(Args)]
struct ServeArgs {
    /// The service: identity, catalog, inventory, payments, ordering or gateway.
    service: ServiceKind,
    /// Database (postgres://... or sqlite://...); defaults to a SQLite file in --data-dir.
    #[arg(long, env = "VISCOUNT_DATABASE_URL")]
    database_url: Option<String>,
    /// NATS server with JetStream; without it, events stay in the local outbox.
    #[arg(long, env = "VISCOUNT_NATS_URL")]
    nats_url: Option<String>,
    /// Address to listen on [default: the service's port on 127.0.0.1].
    #[arg(long)]
    listen: Option<String>,
    /// Where another service runs, as name=url (repeatable). For the gateway, only the
    /// named services are routed (without any, every service on its default port on
    /// 127.0.0.1); for any other service, the named ones are the peers it calls (the
    /// others on their default ports).
    #[arg(long, value_parser = parse_upstream)]
    upstream: Vec<(ServiceKind, String)>,
    /// Directory for SQLite files when no --database-url is given.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where payments runs, for ordering.
    #[arg(
        long,
        env = "VISCOUNT_PAYMENTS_URL",
        default_value = "http://127.0.0.1:8088"
    )]
    payments_url: String,
    /// Where identity runs, for services that verify tokens and API keys with it.
    #[arg(
        long,
        env = "VISCOUNT_IDENTITY_URL",
        default_value = "http://127.0.0.1:8087"
    )]
    identity_url: String,
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
        Command::Up { data_dir, listen } => {
            let data_dir = data_dir.unwrap_or(settings.data_dir.clone());
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
            tracing::info!(
                url = %format!("http://{}", platform.addr),
                data_dir = %data_dir.display(),
                "viscount is up"
            );
            platform.run_until_stopped().await
        }
        Command::Serve(args) => serve(args, config, settings, shutdown).await,
        Command::Migrate { target } => {
            for (kind, url) in target.databases(&settings)? {
                migrate(kind, &url).await?;
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
            let services = viscount::start_services(&storage, bus, &config, &tasks, &Clock::system())
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

async fn migrate(kind: ServiceKind, url: &str) -> anyhow::Result<()> {
    let Some(declaration) = viscount::declaration(kind) else {
        return Ok(());
    };
    let db = platform::db::Db::connect(url, declaration.migrations()).await?;
    db.close().await;
    Ok(())
}

async fn serve(
    args: ServeArgs,
    config: ConfigSource,
    settings: Settings,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let listen = args
        .listen
        .unwrap_or_else(|| format!("127.0.0.1:{}", args.service.default_port()));
    let tasks = Tasks::new(shutdown.clone());
    let (app, service) = match args.service {
        ServiceKind::Gateway => {
            // The named upstreams; without any, every service on its default port.
            let backends: Vec<(ServiceKind, Backend)> = if args.upstream.is_empty() {
                ServiceKind::backends()
                    .filter(|kind| !gateway::public_paths(*kind).is_empty())
                    .map(|kind| {
                        let url = format!("http://127.0.0.1:{}", kind.default_port());
                        (kind, Backend::Remote(url))
                    })
                    .collect()
            } else {
                args.upstream
                    .iter()
                    .map(|(kind, url)| (*kind, Backend::Remote(url.clone())))
                    .collect()
            };
            let gateway_config: GatewayConfig = config.section(ServiceKind::Gateway.as_str())?;
            (gateway::router(backends, &gateway_config), None)
        }
        kind => {
            let data_dir = args.data_dir.unwrap_or(settings.data_dir.clone());
            let database_url = args
                .database_url
                .unwrap_or_else(|| platform::db::sqlite_url(&data_dir, kind.as_str()));
            let bus: Arc<dyn platform::bus::Bus> = match &args.nats_url {
                Some(url) => Arc::new(
                    platform::bus::NatsBus::connect(&NatsOptions {
                        url: url.clone(),
                        namespace: String::new(),
                    })
                    .await
                    .with_context(|| format!("cannot connect to NATS at {url}"))?,
                ),
                None => Arc::new(platform::bus::EmbeddedBus::new()),
            };
            let remote = Arc::new(platform::auth::remote::RemoteIdentity::new(
                &args.identity_url,
            ));
            let tokens: platform::auth::remote::TokenSettings =
                config.section(ServiceKind::Identity.as_str())?;
            let authenticator = platform::auth::Authenticator::new(
                remote.clone(),
                &tokens.issuer,
                &tokens.audience,
                Clock::system(),
            )
            .with_api_keys(remote);
            let mut context = ServiceContext::new(
                kind,
                database_url,
                bus,
                config.clone(),
                Clock::system(),
                tasks.clone(),
            )
            .with_authenticator(authenticator);
            // The other services it may call: each on its default port unless named
            // with --upstream (payments also with --payments-url).
            let client = platform::client::http_client();
            for peer in ServiceKind::backends().filter(|peer| *peer != kind) {
                let named = args.upstream.iter().find(|(k, _)| *k == peer);
                let url = match named {
                    Some((_, url)) => url.clone(),
                    None if peer == ServiceKind::Payments => args.payments_url.clone(),
                    None => format!("http://127.0.0.1:{}", peer.default_port()),
                };
                context = context.with_peer(peer, ServiceClient::remote(&url, client.clone()));
            }
            let service = viscount::launch(kind, &context)
                .await?
                .with_context(|| format!("{kind} cannot run alone"))?;
            let app = platform::http::standalone_app(
                kind.as_str(),
                service.router(),
                service.readiness(),
            );
            (app, Some(service))
        }
    };
    let listener = platform::http::server::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(service = %args.service, url = %format!("http://{}", listener.local_addr()?), "serving");
    platform::http::serve(listener, app, shutdown).await?;
    tasks.stop(std::time::Duration::from_secs(10)).await;
    if let Some(service) = service {
        service.close().await;
    }
    Ok(())
}
