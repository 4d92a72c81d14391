//! The pool against a fake SMTP server that counts connections, messages and QUITs.

use lettre::Message;

use super::fake::{Behaviour, FakeServer};
use super::*;

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
