//! A fake SMTP server for tests: just enough ESMTP for lettre's client, counting
//! connections, messages and QUITs and keeping each message as received, with
//! [`Behaviour`] switches that make it misbehave the way real servers do.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::config::{SmtpConfig, TlsMode};

/// How the fake server behaves.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Behaviour {
    /// Offer STARTTLS in the EHLO reply.
    pub(crate) starttls: bool,
    /// Close the connection right after accepting a message, as a server whose
    /// idle timeout ran out would.
    pub(crate) close_after_message: bool,
    /// Answer the command after a message with `421` and close, as a server that
    /// says why it hangs up would.
    pub(crate) goodbye_after_message: bool,
    /// Refuse recipients (451) once a message was accepted.
    pub(crate) refuse_after_first: bool,
}

/// What the server saw.
#[derive(Default)]
pub(crate) struct Counts {
    /// Connections accepted.
    pub(crate) connections: AtomicUsize,
    /// Messages accepted.
    pub(crate) messages: AtomicUsize,
    /// QUITs answered.
    pub(crate) quits: AtomicUsize,
    /// Each accepted message as received (headers and body, CRLF line ends, dots
    /// unstuffed).
    received: Mutex<Vec<String>>,
    /// Told whenever a message was accepted.
    arrived: Notify,
}

/// Just enough of an SMTP server to count connections, messages and QUITs.
pub(crate) struct FakeServer {
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
    /// A server on 127.0.0.1 behaving as `behaviour` says.
    pub(crate) async fn start(behaviour: Behaviour) -> Self {
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

    /// One of its counts.
    pub(crate) fn count(&self, which: fn(&Counts) -> &AtomicUsize) -> usize {
        which(&self.counts).load(Ordering::SeqCst)
    }

    /// The messages accepted so far, as received.
    pub(crate) fn received(&self) -> Vec<String> {
        self.counts
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `deadline` until `count` messages were accepted; returns them all.
    pub(crate) async fn wait_for_messages(&self, count: usize, deadline: Duration) -> Vec<String> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            // Registered before reading, so an arrival in between is not missed.
            let arrived = self.counts.arrived.notified();
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            if tokio::time::timeout_at(until, arrived).await.is_err() {
                return self.received();
            }
        }
    }

    /// A client configuration for it.
    pub(crate) fn config(&self, tls: TlsMode) -> SmtpConfig {
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
                let mut data = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2): a leading period was doubled.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                counts
                    .received
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(data);
                counts.messages.fetch_add(1, Ordering::SeqCst);
                counts.arrived.notify_waiters();
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
