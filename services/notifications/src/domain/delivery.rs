//! Delivery as the domain sees it: a message ready for its channel ([`Outgoing`]), the
//! [`Courier`] role every channel adapter plays, how an attempt can fail, and when a
//! failed attempt is tried again ([`RetrySchedule`]).

use std::time::Duration;

use async_trait::async_trait;

use super::{Attachment, Channel, Transport};

/// How a failed attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth trying again (connection trouble, a 4xx SMTP reply, a 5xx or 429 from a
    /// webhook).
    #[error("{0}")]
    Transient(String),
    /// Trying again cannot help (a 5xx SMTP reply such as an unknown mailbox, a bad
    /// address, a 4xx from a webhook).
    #[error("{0}")]
    Permanent(String),
}

/// When failed attempts are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Attempts before a message is given up on (at least 1).
    pub max_attempts: u32,
    /// Delay after the first failed attempt; each later delay doubles.
    pub base_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this long.
    RetryIn(Duration),
    /// Mark the message failed.
    GiveUp,
}

impl RetrySchedule {
    /// The wait after failed attempt number `attempt` (1-based): base, 2×base, 4×base,
    /// … capped at `max_delay`.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The decision after attempt number `attempts` failed with `error`.
    pub fn after_failure(&self, attempts: u32, error: &DeliveryError) -> AfterFailure {
        match error {
            DeliveryError::Permanent(_) => AfterFailure::GiveUp,
            DeliveryError::Transient(_) if attempts >= self.max_attempts.max(1) => {
                AfterFailure::GiveUp
            }
            DeliveryError::Transient(_) => AfterFailure::RetryIn(self.delay_after(attempts)),
        }
    }
}

/// A message ready for its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The notification id (also the email's Message-ID and the webhook's `id`).
    pub id: String,
    /// The channel.
    pub channel: Channel,
    /// Email address, phone number or device token.
    pub to: String,
    /// Subject line or push title.
    pub subject: Option<String>,
    /// Plain-text body.
    pub body: String,
    /// HTML body (email only).
    pub html: Option<String>,
    /// Files to attach (email only).
    pub attachments: Vec<Attachment>,
}

/// Something that hands a message to a channel: the SMTP server, a provider's webhook,
/// or the local outbox.
#[async_trait]
pub trait Courier: Send + Sync {
    /// Delivers `message`; `Ok` once the other side accepted it.
    async fn deliver(&self, message: &Outgoing) -> Result<(), DeliveryError>;

    /// The transport recorded on the messages it delivers.
    fn transport(&self) -> Transport;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_until_capped_and_stop_at_the_last_attempt_or_a_permanent_error() {
        let schedule = RetrySchedule {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(5),
        };
        let delays: Vec<u64> = (1..=6).map(|a| schedule.delay_after(a).as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 5, 5, 5]);
        assert_eq!(schedule.delay_after(200), Duration::from_secs(5));
        let transient = DeliveryError::Transient("451 try later".into());
        let permanent = DeliveryError::Permanent("550 no such mailbox".into());
        let cases = [
            (1, &transient, AfterFailure::RetryIn(Duration::from_secs(1))),
            (4, &transient, AfterFailure::RetryIn(Duration::from_secs(5))),
            (5, &transient, AfterFailure::GiveUp),
            (9, &transient, AfterFailure::GiveUp),
            (1, &permanent, AfterFailure::GiveUp),
        ];
        for (attempts, error, want) in cases {
            assert_eq!(
                schedule.after_failure(attempts, error),
                want,
                "{attempts} {error:?}"
            );
        }
        let once = RetrySchedule {
            max_attempts: 0,
            ..schedule
        };
        assert_eq!(once.after_failure(1, &transient), AfterFailure::GiveUp);
    }
}
