//! The measurement behind this module's existence: per-message time of sequential
//! sends over loopback to the fake server, through our pool and through lettre's own
//! pooled `AsyncSmtpTransport`, plus one lettre connection with and without
//! `TCP_NODELAY` to show where the difference comes from. Ignored by default (it is a
//! timing, not a check); run it with
//!
//! ```text
//! cargo nextest run -p notifications --run-ignored ignored-only --no-capture per_message_time
//! ```

use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::fake::{Behaviour, FakeServer};
use super::*;

/// Messages sent through each contender.
const MESSAGES: usize = 200;

/// Per-message times of one contender, in microseconds, sorted.
struct Timings(Vec<u128>);

impl Timings {
    fn median(&self) -> u128 {
        self.0[self.0.len() / 2]
    }

    fn mean(&self) -> u128 {
        self.0.iter().sum::<u128>() / self.0.len() as u128
    }

    fn p90(&self) -> u128 {
        self.0[self.0.len() * 9 / 10]
    }

    fn report(&self, name: &str) {
        println!(
            "{name:<44} median {:>7} µs  mean {:>7} µs  p90 {:>7} µs  max {:>7} µs",
            self.median(),
            self.mean(),
            self.p90(),
            self.0.last().copied().unwrap_or_default(),
        );
    }
}

/// Times `send` `MESSAGES` times (the first, which also connects, included), and
/// checks the server accepted every message.
async fn time(server: &FakeServer, mut send: impl AsyncFnMut()) -> Timings {
    let before = server.count(|c| &c.messages);
    let mut timings = Vec::with_capacity(MESSAGES);
    for _ in 0..MESSAGES {
        let started = Instant::now();
        send().await;
        timings.push(started.elapsed().as_micros());
    }
    assert_eq!(server.count(|c| &c.messages) - before, MESSAGES);
    timings.sort_unstable();
    Timings(timings)
}

/// An order confirmation's size: a few kilobytes of text and HTML.
fn confirmation() -> Message {
    let line = "1 × Widget, blue, size M ........................................ 19.99 EUR\n";
    Message::builder()
        .from("shop@example.com".parse().expect("from"))
        .to("ada@example.com".parse().expect("to"))
        .subject("Your order 1042")
        .body(line.repeat(40))
        .expect("message")
}

/// A lettre connection on our own socket, with `TCP_NODELAY` as told.
async fn lettre_connection(port: u16, nodelay: bool) -> AsyncSmtpConnection {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    tcp.set_nodelay(nodelay).expect("nodelay");
    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &ClientId::default())
        .await
        .expect("greeting")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing; run with --run-ignored and --no-capture to read the figures"]
async fn per_message_time_of_our_pool_and_lettres_pooled_transport() {
    let server = FakeServer::start(Behaviour::default()).await;
    let config = server.config(TlsMode::None);
    let port = config.port();
    let message = confirmation();
    let (envelope, bytes) = (message.envelope().clone(), message.formatted());

    let pool = SmtpPool::new(&config, 4).expect("pool");
    let ours = time(&server, async || {
        pool.send(&envelope, &bytes).await.expect("ours sent");
    })
    .await;

    let lettre = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .timeout(Some(Duration::from_millis(config.timeout_ms)))
        .pool_config(PoolConfig::new().max_size(4))
        .build();
    let theirs = time(&server, async || {
        lettre
            .send_raw(&envelope, &bytes)
            .await
            .expect("lettre sent");
    })
    .await;

    let mut without = lettre_connection(port, false).await;
    let one_without = time(&server, async || {
        without.send(&envelope, &bytes).await.expect("sent");
    })
    .await;
    let mut with = lettre_connection(port, true).await;
    let one_with = time(&server, async || {
        with.send(&envelope, &bytes).await.expect("sent");
    })
    .await;

    println!(
        "{MESSAGES} sequential messages of {} bytes each over loopback:",
        bytes.len()
    );
    ours.report("ours (SmtpPool, TCP_NODELAY)");
    theirs.report("lettre AsyncSmtpTransport with pool_config");
    one_without.report("one lettre connection, Nagle on");
    one_with.report("one lettre connection, TCP_NODELAY");
    // A Nagle stall waits for the peer's delayed ACK, 40 ms at the least on Linux.
    assert!(ours.median() < 5_000, "our pool stalls: {}", ours.median());
}
