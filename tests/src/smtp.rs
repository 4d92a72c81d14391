//! A small SMTP server for tests: enough ESMTP for a real client (greeting, EHLO/HELO,
//! MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT) on 127.0.0.1:0,
//! recording every accepted message. [`Rule`]s make it refuse recipients (a `550` for
//! good, or a `451` for the first few attempts) to exercise the sender's retries.
//!
//! Messages can be awaited ([`SmtpServer::wait_for`]) and read as a person would
//! ([`ReceivedMail::text`] decodes quoted-printable and base64 parts). Connections are
//! counted ([`SmtpServer::connections`]) and can be cut
//! ([`SmtpServer::close_connections`]), to check the client's connection reuse.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinHandle};

/// How RCPT TO answers recipients containing a pattern.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Applies to recipients containing this text.
    pub recipient_contains: String,
    /// The reply code, e.g. 550 (permanent) or 451 (transient).
    pub code: u16,
    /// How many times the rule applies; `None` for always.
    pub times: Option<usize>,
}

impl Rule {
    /// Always answer `code` to recipients containing `pattern`.
    pub fn always(pattern: &str, code: u16) -> Self {
        Self {
            recipient_contains: pattern.to_owned(),
            code,
            times: None,
        }
    }

    /// Answer `code` to the first `times` attempts for recipients containing `pattern`.
    pub fn first(pattern: &str, code: u16, times: usize) -> Self {
        Self {
            recipient_contains: pattern.to_owned(),
            code,
            times: Some(times),
        }
    }
}

/// A message the server accepted.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The message as received (headers and body, CRLF line ends, dots unstuffed).
    pub data: String,
    /// When the final `.` arrived.
    pub received_at: Instant,
}

/// One RCPT TO the server answered.
#[derive(Debug, Clone)]
pub struct RcptAttempt {
    /// The recipient.
    pub to: String,
    /// The reply code.
    pub code: u16,
    /// When it was answered.
    pub at: Instant,
}

#[derive(Default)]
struct State {
    mails: Mutex<Vec<ReceivedMail>>,
    attempts: Mutex<Vec<RcptAttempt>>,
    rules: Mutex<Vec<(Rule, usize)>>,
    arrived: Notify,
    /// Connections accepted so far.
    connections: AtomicUsize,
    /// The tasks of open sessions, to cut them.
    sessions: Mutex<Vec<AbortHandle>>,
}

impl State {
    /// The code for RCPT TO `to`, counting the rule's use.
    fn answer(&self, to: &str) -> u16 {
        let mut rules = self.rules.lock().expect("rules");
        for (rule, used) in rules.iter_mut() {
            if to.contains(&rule.recipient_contains) && rule.times.is_none_or(|t| *used < t) {
                *used += 1;
                return rule.code;
            }
        }
        250
    }
}

/// A running test SMTP server; stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    /// A server accepting every recipient.
    pub async fn start() -> Self {
        Self::with_rules(Vec::new()).await
    }

    /// A server applying `rules` to recipients (first matching rule wins).
    pub async fn with_rules(rules: Vec<Rule>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let addr = listener.local_addr().expect("smtp addr");
        let state = Arc::new(State {
            rules: Mutex::new(rules.into_iter().map(|r| (r, 0)).collect()),
            ..State::default()
        });
        let accepted = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.connections.fetch_add(1, Ordering::SeqCst);
                let state = accepted.clone();
                let task = tokio::spawn(async move {
                    let _ = session(stream, state).await;
                });
                let mut sessions = accepted.sessions.lock().expect("sessions");
                sessions.retain(|s| !s.is_finished());
                sessions.push(task.abort_handle());
            }
        });
        Self { addr, state, task }
    }

    /// The port it listens on (host 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The configuration variables that point notifications at this server.
    pub fn config_vars(&self) -> Vec<(String, String)> {
        [
            ("VISCOUNT_NOTIFICATIONS__SMTP__HOST", "127.0.0.1".to_owned()),
            (
                "VISCOUNT_NOTIFICATIONS__SMTP__PORT",
                self.port().to_string(),
            ),
            ("VISCOUNT_NOTIFICATIONS__SMTP__TLS", "none".to_owned()),
            (
                "VISCOUNT_NOTIFICATIONS__SMTP__TIMEOUT_MS",
                "5000".to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// How many connections clients opened so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Closes every open connection without a word, as a server whose idle timeout ran
    /// out does.
    pub fn close_connections(&self) {
        for session in self.state.sessions.lock().expect("sessions").drain(..) {
            session.abort();
        }
    }

    /// Every message accepted so far.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.state.mails.lock().expect("mails").clone()
    }

    /// The messages accepted for `to`.
    pub fn mails_to(&self, to: &str) -> Vec<ReceivedMail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .collect()
    }

    /// Every RCPT TO answered for `to`, in order.
    pub fn attempts_for(&self, to: &str) -> Vec<RcptAttempt> {
        self.state
            .attempts
            .lock()
            .expect("attempts")
            .iter()
            .filter(|a| a.to == to)
            .cloned()
            .collect()
    }

    /// Waits up to `deadline` for a message matching `matches`; panics naming `what`
    /// when none arrives.
    pub async fn wait_for(
        &self,
        deadline: Duration,
        what: &str,
        matches: impl Fn(&ReceivedMail) -> bool,
    ) -> ReceivedMail {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let arrived = self.state.arrived.notified();
            if let Some(found) = self.mails().into_iter().find(|m| matches(m)) {
                return found;
            }
            if tokio::time::timeout_at(until, arrived).await.is_err() {
                panic!(
                    "timed out waiting for mail: {what} (received: {:?})",
                    self.mails()
                        .iter()
                        .map(|m| (m.to.clone(), m.subject()))
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Waits up to `deadline` for a message to `to` whose subject contains `subject`.
    pub async fn wait_for_mail(&self, to: &str, subject: &str, deadline: Duration) -> ReceivedMail {
        self.wait_for(deadline, &format!("{subject:?} to {to}"), |m| {
            m.to.iter().any(|t| t == to) && m.subject().is_some_and(|s| s.contains(subject))
        })
        .await
    }
}

/// Writes one reply line in one write: a line split over two small writes would wait
/// on the client's delayed ACK (Nagle), adding tens of milliseconds per command.
async fn reply(writer: &mut tokio::net::tcp::OwnedWriteHalf, text: &str) -> std::io::Result<()> {
    writer.write_all(format!("{text}\r\n").as_bytes()).await
}

/// The address inside `<...>` of a MAIL FROM / RCPT TO argument.
fn path_of(argument: &str) -> Option<String> {
    let start = argument.find('<')?;
    let end = argument[start..].find('>')? + start;
    Some(argument[start + 1..end].to_owned())
}

async fn session(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    reply(&mut writer, "220 viscount-test ESMTP ready").await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let (verb, argument) = command.split_once(' ').unwrap_or((command, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                reply(
                    &mut writer,
                    "250-viscount-test greets you\r\n250-8BITMIME\r\n250 PIPELINING",
                )
                .await?;
            }
            "HELO" => reply(&mut writer, "250 viscount-test").await?,
            "MAIL" => match path_of(argument) {
                Some(path) => {
                    from = Some(path);
                    to.clear();
                    reply(&mut writer, "250 2.1.0 OK").await?;
                }
                None => reply(&mut writer, "501 5.5.4 syntax: MAIL FROM:<address>").await?,
            },
            "RCPT" => match (&from, path_of(argument)) {
                (None, _) => reply(&mut writer, "503 5.5.1 MAIL first").await?,
                (_, None) => reply(&mut writer, "501 5.5.4 syntax: RCPT TO:<address>").await?,
                (Some(_), Some(path)) => {
                    let code = state.answer(&path);
                    state.attempts.lock().expect("attempts").push(RcptAttempt {
                        to: path.clone(),
                        code,
                        at: Instant::now(),
                    });
                    match code {
                        250 => {
                            to.push(path);
                            reply(&mut writer, "250 2.1.5 OK").await?;
                        }
                        400..=499 => {
                            reply(&mut writer, &format!("{code} 4.3.0 try again later")).await?
                        }
                        _ => {
                            reply(&mut writer, &format!("{code} 5.1.1 mailbox unavailable")).await?
                        }
                    }
                }
            },
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    reply(&mut writer, "503 5.5.1 RCPT first").await?;
                    continue;
                }
                reply(&mut writer, "354 end data with <CR><LF>.<CR><LF>").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2): a leading period was doubled.
                    data.push_str(text.strip_prefix('.').unwrap_or(text));
                    data.push_str("\r\n");
                }
                let mail = ReceivedMail {
                    from: from.take().unwrap_or_default(),
                    to: std::mem::take(&mut to),
                    data,
                    received_at: Instant::now(),
                };
                state.mails.lock().expect("mails").push(mail);
                state.arrived.notify_waiters();
                reply(&mut writer, "250 2.0.0 OK queued").await?;
            }
            "RSET" => {
                from = None;
                to.clear();
                reply(&mut writer, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut writer, "250 2.0.0 OK").await?,
            "QUIT" => {
                reply(&mut writer, "221 2.0.0 bye").await?;
                return Ok(());
            }
            "VRFY" | "EXPN" | "HELP" => reply(&mut writer, "502 5.5.1 not implemented").await?,
            _ => reply(&mut writer, "500 5.5.2 command not recognized").await?,
        }
    }
}

impl ReceivedMail {
    /// The value of header `name` (unfolded), from the message's top-level headers.
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(headers_of(&self.data), name)
    }

    /// The Subject header.
    pub fn subject(&self) -> Option<String> {
        self.header("subject")
    }

    /// The plain-text body, decoded (the text/plain part of a multipart message).
    pub fn text(&self) -> String {
        part_of(&self.data, "text/plain").unwrap_or_default()
    }

    /// The HTML body, decoded, if the message has one.
    pub fn html(&self) -> Option<String> {
        part_of(&self.data, "text/html")
    }
}

/// The header block of an entity (before the first empty line).
fn headers_of(entity: &str) -> &str {
    entity.split("\r\n\r\n").next().unwrap_or("")
}

/// The body of an entity (after the first empty line).
fn body_of(entity: &str) -> &str {
    entity.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

fn header_of(headers: &str, name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    let mut current: Option<String> = None;
    for line in headers.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = current.as_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some(value) = current.take() {
            found = Some(value);
            break;
        }
        if let Some((key, value)) = line.split_once(':')
            && key.trim().eq_ignore_ascii_case(name)
        {
            current = Some(value.trim().to_owned());
        }
    }
    current.or(found)
}

/// The decoded content of the first part of `media` type in `entity`.
fn part_of(entity: &str, media: &str) -> Option<String> {
    let headers = headers_of(entity);
    let content_type = header_of(headers, "content-type").unwrap_or_else(|| "text/plain".into());
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/") {
        let boundary = content_type
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("boundary="))
            .next()?
            .trim_matches('"')
            .to_owned();
        let delimiter = format!("--{boundary}");
        return body_of(entity)
            .split(delimiter.as_str())
            .skip(1)
            .filter(|part| !part.starts_with("--"))
            .find_map(|part| part_of(part.trim_start_matches("\r\n"), media));
    }
    if !lower.starts_with(media) {
        return None;
    }
    let body = body_of(entity);
    let encoding = header_of(headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    Some(match encoding.as_str() {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            data_encoding::BASE64
                .decode(compact.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default()
        }
        _ => body.to_owned(),
    })
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(data: &str) -> ReceivedMail {
        ReceivedMail {
            from: "a@x".into(),
            to: vec!["b@x".into()],
            data: data.replace('\n', "\r\n"),
            received_at: Instant::now(),
        }
    }

    #[test]
    fn plain_quoted_printable_and_multipart_bodies_are_decoded() {
        let plain = mail("Subject: Hello\n there\nContent-Type: text/plain\n\nHi Ann\n");
        assert_eq!(plain.subject().as_deref(), Some("Hello there"));
        assert_eq!(plain.text(), "Hi Ann\r\n");
        let qp = mail(
            "Subject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nA long=\n line =C3=A9\n",
        );
        assert_eq!(qp.text(), "A long line é\r\n");
        let multi = mail(
            "Subject: x\nContent-Type: multipart/alternative;\n boundary=\"B1\"\n\n--B1\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8=\n--B1\nContent-Type: text/html\n\n<p>Hello</p>\n--B1--\n",
        );
        assert_eq!(multi.text(), "Hello");
        assert!(multi.html().is_some_and(|h| h.contains("<p>Hello</p>")));
    }
}
