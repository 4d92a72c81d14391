//! The pool against a fake SMTP server that counts connections, messages and QUITs.

use std::sync::atomic::{AtomicUsize, Ordering};

use lettre::Message;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

/// How the fake server behaves.
#[derive(Debug, Clone, Copy, Default)]
struct Behaviour {
    /// Offer STARTTLS in the EHLO reply.
    starttls: bool,
    /// Close the connection right after accepting a message, as a server whose
    /// idle timeout ran out would.
    close_after_message: bool,
    /// Answer the command after a message with `421` and close, as a server that
    /// says why it hangs up would.
    goodbye_after_message: bool,
    /// Refuse recipients (451) once a message was accepted.
    refuse_after_first: bool,
}

#[derive(Default)]
struct Counts {
    connections: AtomicUsize,
    messages: AtomicUsize,
    quits: AtomicUsize,
}

/// Just enough of an SMTP server to count connections, messages and QUITs.
struct FakeServer {
    port: u16,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let counts = shared.clone();
                tokio::spawn(async move {
                    let _ = session(stream, behaviour, &counts).await;
                });
            }
        });
        Self { port, counts, task }
    }

    fn count(&self, which: fn(&Counts) -> &AtomicUsize) -> usize {
        which(&self.counts).load(Ordering::SeqCst)
    }

    fn config(&self, tls: TlsMode) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(self.port),
            tls,
            timeout_ms: 2_000,
            ..SmtpConfig::default()
        }
    }
}

async fn session(stream: TcpStream, behaviour: Behaviour, counts: &Counts) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 fake ESMTP\r\n").await?;
    let mut line = String::new();
    let mut accepted = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if accepted && behaviour.goodbye_after_message {
            write.write_all(b"421 4.4.2 idle for too long\r\n").await?;
            return Ok(());
        }
        match line.get(..4).unwrap_or("").to_ascii_uppercase().as_str() {
            "EHLO" if behaviour.starttls => {
                write.write_all(b"250-fake\r\n250 STARTTLS\r\n").await?
            }
            "EHLO" => write.write_all(b"250 fake\r\n").await?,
            "RCPT"
                if behaviour.refuse_after_first && counts.messages.load(Ordering::SeqCst) > 0 =>
            {
                write.write_all(b"451 4.3.0 try later\r\n").await?
            }
            "DATA" => {
                write.write_all(b"354 go ahead\r\n").await?;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                }
                counts.messages.fetch_add(1, Ordering::SeqCst);
                accepted = true;
                write.write_all(b"250 queued\r\n").await?;
                if behaviour.close_after_message {
                    return Ok(());
                }
            }
            "QUIT" => {
                counts.quits.fetch_add(1, Ordering::SeqCst);
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => write.write_all(b"250 ok\r\n").await?,
        }
    }
}

async fn send(pool: &SmtpPool) -> Result<Response, SmtpError> {
    let message = Message::builder()
        .from("shop@example.com".parse().expect("from"))
        .to("ada@example.com".parse().expect("to"))
        .subject("Hello")
        .body(String::from("Hi Ada"))
        .expect("message");
    pool.send(message.envelope(), &message.formatted()).await
}

#[tokio::test]
async fn consecutive_messages_share_one_connection() {
    let server = FakeServer::start(Behaviour::default()).await;
    let pool = SmtpPool::new(&server.config(TlsMode::None), 4).expect("pool");
    for _ in 0..3 {
        let reply = send(&pool).await.expect("sent");
        assert_eq!(u16::from(reply.code()), 250);
    }
    assert_eq!(server.count(|c| &c.messages), 3);
    assert_eq!(server.count(|c| &c.connections), 1);
    assert_eq!(pool.idle_count(), 1);
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced_once() {
    let server = FakeServer::start(Behaviour {
        close_after_message: true,
        ..Behaviour::default()
    })
    .await;
    let pool = SmtpPool::new(&server.config(TlsMode::None), 4).expect("pool");
    send(&pool).await.expect("first");
    send(&pool).await.expect("second, on a fresh connection");
    assert_eq!(server.count(|c| &c.messages), 2);
    assert_eq!(server.count(|c| &c.connections), 2);
}

#[tokio::test]
async fn connections_idle_for_too_long_are_closed_instead_of_reused() {
    let server = FakeServer::start(Behaviour::default()).await;
    let pool = SmtpPool::new(&server.config(TlsMode::None), 4)
        .expect("pool")
        .with_max_idle_time(Duration::ZERO);
    send(&pool).await.expect("first");
    send(&pool).await.expect("second");
    assert_eq!(server.count(|c| &c.connections), 2);
    let until = Instant::now() + Duration::from_secs(5);
    while server.count(|c| &c.quits) == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.count(|c| &c.quits), 1, "the expired one said QUIT");
}

#[tokio::test]
async fn starttls_mode_does_not_send_in_the_clear() {
    let server = FakeServer::start(Behaviour::default()).await;
    let pool = SmtpPool::new(&server.config(TlsMode::Starttls), 4).expect("pool");
    let err = send(&pool).await.expect_err("refused");
    assert!(matches!(err, SmtpError::NoStarttls), "{err:?}");
    assert!(!err.is_permanent());
    assert_eq!(server.count(|c| &c.messages), 0);
    assert_eq!(pool.idle_count(), 0);
}

#[tokio::test]
async fn implicit_tls_shakes_hands_before_the_greeting() {
    // A clear-text server greets at once; a client that waited for the greeting
    // before TLS would read it, this one fails the handshake on it.
    let server = FakeServer::start(Behaviour {
        starttls: true,
        ..Behaviour::default()
    })
    .await;
    let pool = SmtpPool::new(&server.config(TlsMode::Tls), 4).expect("pool");
    let err = send(&pool).await.expect_err("not tls");
    assert!(matches!(err, SmtpError::Tls { .. }), "{err:?}");
    assert_eq!(server.count(|c| &c.messages), 0);
}

#[tokio::test]
async fn a_pooled_connection_closed_with_421_is_replaced_once() {
    let server = FakeServer::start(Behaviour {
        goodbye_after_message: true,
        ..Behaviour::default()
    })
    .await;
    let pool = SmtpPool::new(&server.config(TlsMode::None), 4).expect("pool");
    send(&pool).await.expect("first");
    send(&pool).await.expect("second, on a fresh connection");
    assert_eq!(server.count(|c| &c.messages), 2);
    assert_eq!(server.count(|c| &c.connections), 2);
}

#[tokio::test]
async fn a_refused_message_is_not_resent_and_its_connection_not_kept() {
    let server = FakeServer::start(Behaviour {
        refuse_after_first: true,
        ..Behaviour::default()
    })
    .await;
    let pool = SmtpPool::new(&server.config(TlsMode::None), 4).expect("pool");
    send(&pool).await.expect("first");
    let err = send(&pool).await.expect_err("refused");
    assert!(
        matches!(&err, SmtpError::Smtp(e) if e.status().map(u16::from) == Some(451)),
        "{err:?}"
    );
    assert!(!err.is_permanent());
    assert_eq!(server.count(|c| &c.connections), 1, "no second try");
    assert_eq!(pool.idle_count(), 0, "the failed connection was dropped");
}
