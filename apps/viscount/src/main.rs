//! `viscount`: the one binary of the platform.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use platform::bus::NatsOptions;
use platform::config::ConfigSource;
use platform::service::{Service, ServiceContext, ServiceKind};
use platform::shutdown::Shutdown;
use platform::tasks::Tasks;
use platform::time::Clock;
use viscount::{PlatformOptions, RunningPlatform, Settings, Storage};

mod serve;
use serve::{ServeArgs, serve};

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
    /// Dead letters: the events services' consumers gave up on, listed, replayed or
    /// discarded through the running platform's gateway (as an admin).
    Dlq(viscount::dlq::DlqArgs),
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
    /// The web console's pages under N browsers at once (customers and the admin,
    /// signed in through the code flow): p50/p90/p99 per page, heaviest first, and the
    /// script each page loads.
    Console(viscount::bench::ConsoleArgs),
}

#[derive(Args)]
struct UpArgs {
    /// Directory of the SQLite files [default: ./data] (embedded shape).
    #[arg(long, conflicts_with = "distributed")]
    data_dir: Option<PathBuf>,
    /// Fill an empty shop with the demo catalog and its stock at start (as `viscount seed
    /// --demo`; a shop that has it already is left as it is), so the console has
    /// something to sell.
    #[arg(long, conflicts_with = "distributed")]
    demo: bool,
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
    let outcome = match cli.command {
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
            data_dir,
            listen,
            demo,
            ..
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
            if demo {
                let report = viscount::seed::demo(&platform.services, 200).await?;
                tracing::info!(
                    products_created = report.products_created,
                    skus_stocked = report.skus_stocked,
                    "demo catalog ready"
                );
            }
            tracing::info!(
                url = %format!("http://{}", platform.addr),
                shop = %format!("http://{}/", platform.addr),
                admin = %format!("http://{}/admin", platform.addr),
                data_dir = %data_dir.display(),
                "viscount is up"
            );
            platform.run_until_stopped().await
        }
        Command::Serve(args) => serve(args, config, settings, shutdown).await,
        Command::Dlq(args) => viscount::dlq::run(args).await,
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
        Command::Bench {
            command: BenchCommand::Console(args),
        } => viscount::bench::console(args).await,
    };
    // The last spans of a graceful stop (its drained requests and events) go out too.
    platform::telemetry::flush_traces(std::time::Duration::from_secs(5)).await;
    outcome
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
