//! The SMTP connection pool the email courier sends through: our own TCP (and TLS)
//! connections, with lettre's [`AsyncSmtpConnection`] speaking SMTP over them. It owns
//! its errors (what goes wrong sending, what is wrong with the configuration); the
//! channel adapters translate them, so nothing here depends on them.
//!
//! It exists because of Nagle. lettre writes a message's body and then its `\r\n.\r\n`
//! terminator as two writes, and its pooled transport never sets `TCP_NODELAY`, so the
//! kernel held the small terminator back until the server's delayed ACK of the body:
//! about 40 ms on every message, most of the time from an order's confirmation to the
//! server accepting the email. lettre offers no switch for it, so this module connects
//! the socket itself, sets `TCP_NODELAY` before the first byte, and hands the stream to
//! [`AsyncSmtpConnection::connect_with_transport`].
//!
//! Still true of lettre 0.11.23, the newest release: no `set_nodelay` anywhere, the
//! terminator still a separate write. Per message over loopback to the fake server
//! (200 sequential 3.5 kB messages, `measure.rs`; `cargo nextest run -p notifications
//! --run-ignored ignored-only --no-capture per_message_time`), median / mean over
//! three runs: this pool 0.12 ms / 0.13–0.40 ms; lettre's `AsyncSmtpTransport` with
//! `pool_config` 44.0 ms / 44.6–45.6 ms; one lettre connection without `TCP_NODELAY`
//! 44.0 ms, the same with it 0.12 ms, so the whole difference is Nagle. lettre's pool
//! would also cost a `NOOP` round trip before every reuse, never resends a message
//! whose pooled connection broke, and its async timeout bounds only the TCP connect
//! (not TLS, the greeting or AUTH).
//!
//! Security follows [`TlsMode`]: `none` talks in the clear (a local relay or a test
//! server); `starttls` upgrades after the greeting and refuses to send when the server
//! does not offer STARTTLS; `tls` (port 465) completes a rustls handshake before the
//! greeting, with the same roots and crypto provider (ring) lettre's own
//! `TlsParameters::new` uses. Credentials, when configured, are sent after that, so
//! they only travel in the clear when the mode is explicitly `none`.
//!
//! Idle connections wait in a small stack (newest on top, at most `max_idle` of them):
//! reusing the newest keeps a few warm and lets the rest age out. A connection that
//! failed is dropped, never returned. A pooled connection can have been closed by the
//! server while it sat idle; when one fails without a reply about the message (an I/O
//! error, an unreadable or missing reply, `421`), the message is tried once more on a
//! fresh connection. Connections idle for longer than [`MAX_IDLE_TIME`] are closed with
//! `QUIT` instead of being reused: servers give up on idle clients after a few minutes
//! (RFC 5321 asks for at least five, some hang up sooner), and a connection that old is
//! more likely dead than worth the retry.

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod measure;
#[cfg(test)]
mod tests;
mod tls;

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;

use self::tls::{ImplicitTls, client_config};
use crate::config::{SmtpConfig, TlsMode};

/// Why the SMTP configuration cannot be used (found once, at start).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SmtpConfigError(pub String);

/// How long a connection may sit idle in the pool before it is closed instead of
/// reused.
pub const MAX_IDLE_TIME: Duration = Duration::from_secs(60);

/// The reply a server sends before closing a connection it no longer wants (idle too
/// long, shutting down): the connection is gone, not the message refused.
const SERVICE_CLOSING: u16 = 421;

/// Why a message did not get through.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The server refused (its reply code tells whether for good), or lettre failed to
    /// talk to it (I/O, an unreadable reply, STARTTLS, authentication).
    #[error(transparent)]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The TCP connection could not be made.
    #[error("cannot connect to {address}")]
    Connect {
        /// `host:port`.
        address: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The implicit-TLS handshake failed (certificate, protocol, or the server does
    /// not speak TLS on this port).
    #[error("tls handshake with {host} failed")]
    Tls {
        /// The host name the certificate must carry.
        host: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The mode is `starttls` and the server does not offer it.
    #[error("the server does not offer STARTTLS; refusing to send in the clear")]
    NoStarttls,
    /// A step took longer than the configured timeout.
    #[error("timed out")]
    Timeout,
}

impl SmtpError {
    /// Whether trying again cannot help: the server answered 5xx.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Smtp(err) if err.is_permanent())
    }
}

/// Whether `err` says the connection itself is gone (closed by the server while idle,
/// most likely), as opposed to the server answering about the message.
fn lost_connection(err: &lettre::transport::smtp::Error) -> bool {
    if let Some(code) = err.status() {
        return u16::from(code) == SERVICE_CLOSING;
    }
    // An end of stream reads as an incomplete (response-kind) reply; a reset as an I/O
    // error somewhere in the chain.
    if err.is_response() {
        return true;
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if cause.downcast_ref::<io::Error>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// How connections are protected, prepared once from the configuration.
enum Security {
    /// Clear text.
    None,
    /// Upgraded with STARTTLS after the greeting.
    Starttls(TlsParameters),
    /// TLS from the first byte.
    Implicit {
        connector: TlsConnector,
        server_name: ServerName<'static>,
    },
}

/// An idle connection and since when it has been idle.
struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

/// A pool of SMTP connections to one server.
pub struct SmtpPool {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    /// Bound on each step of opening a connection (TCP, TLS, greeting, STARTTLS, AUTH).
    step_timeout: Duration,
    max_idle: usize,
    max_idle_time: Duration,
    /// Oldest first; taken from and returned to the end.
    idle: Mutex<Vec<Idle>>,
}

impl SmtpPool {
    /// A pool for the server in `config` keeping at most `max_idle` idle connections.
    pub fn new(config: &SmtpConfig, max_idle: usize) -> Result<Self, SmtpConfigError> {
        let host = config.host.trim().to_owned();
        let security = match config.tls {
            TlsMode::None => Security::None,
            TlsMode::Starttls => Security::Starttls(
                TlsParameters::new(host.clone())
                    .map_err(|err| SmtpConfigError(format!("smtp tls: {err}")))?,
            ),
            TlsMode::Tls => Security::Implicit {
                connector: TlsConnector::from(Arc::new(client_config()?)),
                server_name: ServerName::try_from(host.clone()).map_err(|_| {
                    SmtpConfigError(format!(
                        "notifications.smtp.host is not a valid TLS server name: {host}"
                    ))
                })?,
            },
        };
        Ok(Self {
            port: config.port(),
            security,
            hello: config
                .hello_name
                .clone()
                .map_or_else(ClientId::default, ClientId::Domain),
            credentials: match (&config.username, &config.password) {
                (Some(user), Some(password)) => Some(Credentials::new(
                    user.clone(),
                    platform::config::ExposeSecret::expose_secret(password).to_owned(),
                )),
                _ => None,
            },
            step_timeout: Duration::from_millis(config.timeout_ms.max(1)),
            max_idle: max_idle.max(1),
            max_idle_time: MAX_IDLE_TIME,
            idle: Mutex::new(Vec::new()),
            host,
        })
    }

    /// Sends `message` (the formatted email) to `envelope`'s recipients; returns the
    /// server's reply to the end of DATA, the moment it took the message.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Response, SmtpError> {
        if let Some(mut connection) = self.checkout() {
            match connection.send(envelope, message).await {
                Ok(reply) => {
                    self.checkin(connection);
                    return Ok(reply);
                }
                // The server may have accepted the message just before the connection
                // broke; sending it again risks a duplicate (with the same Message-ID,
                // so receivers can drop it), which beats losing it to a stale socket.
                Err(err) if lost_connection(&err) => {
                    tracing::debug!(error = %err, "pooled smtp connection was closed; sending on a new one");
                }
                Err(err) => return Err(err.into()),
            }
        }
        let mut connection = self.connect().await?;
        let reply = connection.send(envelope, message).await?;
        self.checkin(connection);
        Ok(reply)
    }

    /// How many connections wait idle.
    pub fn idle_count(&self) -> usize {
        self.lock().len()
    }

    /// Opens, secures and authenticates a new connection.
    async fn connect(&self) -> Result<AsyncSmtpConnection, SmtpError> {
        let address = format!("{}:{}", self.host, self.port);
        let tcp = self
            .step(TcpStream::connect((self.host.as_str(), self.port)))
            .await?
            .map_err(|source| SmtpError::Connect {
                address: address.clone(),
                source,
            })?;
        // The point of this module: the DATA terminator goes out at once instead of
        // waiting for the server's delayed ACK of the body.
        tcp.set_nodelay(true)
            .map_err(|source| SmtpError::Connect { address, source })?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit {
                connector,
                server_name,
            } => {
                let tls = self
                    .step(connector.connect(server_name.clone(), tcp))
                    .await?
                    .map_err(|source| SmtpError::Tls {
                        host: self.host.clone(),
                        source,
                    })?;
                Box::new(ImplicitTls(tls))
            }
            Security::None | Security::Starttls(_) => Box::new(tcp),
        };
        let mut connection = self
            .step(AsyncSmtpConnection::connect_with_transport(
                stream,
                &self.hello,
            ))
            .await??;
        if let Security::Starttls(parameters) = &self.security {
            if !connection.can_starttls() {
                let _ = self.step(connection.quit()).await;
                return Err(SmtpError::NoStarttls);
            }
            self.step(connection.starttls(parameters.clone(), &self.hello))
                .await??;
        }
        if let Some(credentials) = &self.credentials {
            self.step(connection.auth(&[Mechanism::Plain, Mechanism::Login], credentials))
                .await??;
        }
        Ok(connection)
    }

    /// `work`, or [`SmtpError::Timeout`] after the step timeout.
    async fn step<T>(&self, work: impl Future<Output = T>) -> Result<T, SmtpError> {
        tokio::time::timeout(self.step_timeout, work)
            .await
            .map_err(|_| SmtpError::Timeout)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Idle>> {
        // The list stays consistent whatever a panicking holder did (push and pop only).
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection, closing those idle for too long.
    fn checkout(&self) -> Option<AsyncSmtpConnection> {
        let (expired, newest) = {
            let mut idle = self.lock();
            // Oldest first, so the expired ones are a prefix.
            let fresh = idle.partition_point(|i| i.since.elapsed() >= self.max_idle_time);
            let expired: Vec<Idle> = idle.drain(..fresh).collect();
            (expired, idle.pop())
        };
        self.close(expired.into_iter().map(|i| i.connection).collect());
        newest.map(|i| i.connection)
    }

    /// Returns a connection that just delivered a message, unless the pool is full.
    fn checkin(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < self.max_idle {
            idle.push(Idle {
                connection,
                since: Instant::now(),
            });
            return;
        }
        drop(idle);
        self.close(vec![connection]);
    }

    /// Says goodbye (QUIT) on `connections` in the background: nobody waits for it.
    fn close(&self, connections: Vec<AsyncSmtpConnection>) {
        if connections.is_empty() {
            return;
        }
        let timeout = self.step_timeout;
        tokio::spawn(async move {
            for mut connection in connections {
                let _ = tokio::time::timeout(timeout, connection.quit()).await;
            }
        });
    }

    /// The pool with idle connections closed after `limit` instead of
    /// [`MAX_IDLE_TIME`].
    #[cfg(test)]
    fn with_max_idle_time(mut self, limit: Duration) -> Self {
        self.max_idle_time = limit;
        self
    }
}
