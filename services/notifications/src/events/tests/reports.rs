//! Analytics' events: a ready report becomes one email to the address its schedule
//! names, its file attached byte for byte (through the SMTP courier to a fake server),
//! or a link when there is no usable file; an anomaly alerts every admin; redelivery
//! sends nothing twice.

use std::time::Duration;

use contracts::analytics::{AnomalyDetected, ReportReady};
use data_encoding::BASE64;
use platform::service::ServiceKind;

use super::{Fixture, fixture};
use crate::channels::Couriers;
use crate::config::TlsMode;
use crate::domain::{Channel, Message, Status};
use crate::smtp::fake::{Behaviour, FakeServer};
use crate::store;

const FINANCE: &str = "finance@shop.example";

/// A file that a careless transport would change: binary bytes, a NUL, CRLF and bare
/// LF line ends, a line longer than any SMTP line, a leading dot on a line.
fn report_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n%\x80\x80\x80\x80\r\n.dot line\n".to_vec();
    bytes.extend((0..=255u8).cycle().take(3000));
    bytes.extend(b"\0\r\nend\n");
    bytes
}

fn ready(id: &str, file: Option<&[u8]>) -> ReportReady {
    ReportReady {
        report_id: id.into(),
        schedule_id: Some("s1".into()),
        template: "sales_summary".into(),
        title: "Sales summary".into(),
        format: "pdf".into(),
        recipient: FINANCE.into(),
        file_name: "sales_summary-2026-12-08.pdf".into(),
        content_type: "application/pdf".into(),
        attachment_base64: file.map(|bytes| BASE64.encode(bytes)),
        download_path: format!("/api/v1/reports/{id}/download"),
        period_from: Some("2026-12-01T00:00:00Z".into()),
        period_to: Some("2026-12-08T00:00:00Z".into()),
        generated_at: "2026-12-08T06:00:01Z".into(),
    }
}

impl Fixture {
    async fn to_finance(&self) -> Vec<Message> {
        self.messages(&format!("mailto:{FINANCE}")).await
    }
}

/// The value of header `name` in a MIME entity's header block, unfolded.
fn header(entity: &str, name: &str) -> Option<String> {
    let headers = entity.split("\r\n\r\n").next()?.replace("\r\n ", " ");
    headers.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// The parts of a multipart entity.
fn parts(entity: &str) -> Vec<String> {
    let content_type = header(entity, "content-type").unwrap_or_default();
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
    else {
        return Vec::new();
    };
    let body = entity.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.split(&format!("--{boundary}"))
        .skip(1)
        .filter(|part| !part.starts_with("--"))
        .map(|part| part.trim_start_matches("\r\n").to_owned())
        .collect()
}

#[tokio::test]
async fn a_ready_report_becomes_one_email_to_its_address_with_the_file_intact() {
    let f = fixture().await;
    let file = report_bytes();
    let event = f
        .deliver(ServiceKind::Analytics, &ready("r1", Some(&file)))
        .await;
    // A redelivery creates nothing twice.
    f.deliver_envelope(&event).await;

    let messages = f.to_finance().await;
    assert_eq!(messages.len(), 1, "one message: {messages:?}");
    let message = &messages[0];
    let composed = message.composed();
    assert_eq!(
        (
            composed.template_id.as_str(),
            composed.channel,
            composed.to.as_str()
        ),
        ("report_ready.email", Channel::Email, FINANCE)
    );
    assert_eq!(message.status(), Status::Queued);
    assert_eq!(
        composed.content.subject.as_deref(),
        Some("Report: Sales summary (2026-12-01 00:00 UTC to 2026-12-08 00:00 UTC)")
    );
    assert!(
        composed
            .content
            .body
            .contains("attached to this email as sales_summary-2026-12-08.pdf"),
        "{}",
        composed.content.body
    );
    assert_eq!(composed.attachments.len(), 1);
    assert_eq!(composed.attachments[0].content(), file.as_slice());
    assert_eq!(
        message.sent_event().user_id,
        None,
        "an address is nobody's account"
    );

    // Delivered as the sender does: claimed, then handed to the SMTP courier.
    let server = FakeServer::start(Behaviour::default()).await;
    let couriers = Couriers::from_config(Some(&server.config(TlsMode::None)), None, None, 1)
        .expect("couriers");
    let now = f.app().clock.now_millis();
    let mut tx = f.app().db().begin().await.expect("begin");
    let claimed = store::claim_due(&mut tx, now, now + 60_000, 10)
        .await
        .expect("claim");
    tx.commit().await.expect("commit");
    assert_eq!(claimed.messages.len(), 1, "{:?}", claimed.unreadable);
    couriers
        .of(Channel::Email)
        .deliver(&claimed.messages[0].outgoing())
        .await
        .expect("the server took it");

    let received = server.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1, "one email");
    let mail = &received[0];
    assert_eq!(header(mail, "to").as_deref(), Some(FINANCE));
    assert_eq!(
        header(mail, "subject").as_deref(),
        Some("Report: Sales summary (2026-12-01 00:00 UTC to 2026-12-08 00:00 UTC)")
    );
    assert!(
        header(mail, "content-type").is_some_and(|t| t.starts_with("multipart/mixed")),
        "{mail}"
    );
    let parts = parts(mail);
    assert_eq!(parts.len(), 2, "the text and the file: {mail}");
    assert!(
        parts[0].contains("the report Sales summary is ready"),
        "{}",
        parts[0]
    );
    assert!(
        parts[0].contains("Period: 2026-12-01 00:00 UTC to 2026-12-08 00:00 UTC"),
        "{}",
        parts[0]
    );
    let attachment = &parts[1];
    assert_eq!(
        header(attachment, "content-type").as_deref(),
        Some("application/pdf")
    );
    assert!(
        header(attachment, "content-disposition")
            .is_some_and(|d| d.contains("attachment") && d.contains("sales_summary-2026-12-08.pdf")),
        "{attachment}"
    );
    assert_eq!(
        header(attachment, "content-transfer-encoding").as_deref(),
        Some("base64")
    );
    let encoded: Vec<u8> = attachment
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    assert_eq!(
        BASE64.decode(&encoded).expect("base64"),
        file,
        "the file arrives byte for byte"
    );
}

#[tokio::test]
async fn a_report_without_a_usable_file_links_to_its_download() {
    let f = fixture().await;
    f.deliver(ServiceKind::Analytics, &ready("r2", None)).await;
    let mut not_base64 = ready("r3", None);
    not_base64.attachment_base64 = Some("%%% not base64 %%%".into());
    f.deliver(ServiceKind::Analytics, &not_base64).await;
    let mut no_period = ready("r4", None);
    no_period.period_from = None;
    no_period.period_to = None;
    f.deliver(ServiceKind::Analytics, &no_period).await;

    let messages = f.to_finance().await;
    assert_eq!(messages.len(), 3);
    for message in &messages {
        let composed = message.composed();
        assert!(composed.attachments.is_empty());
        let subject = composed.content.subject.as_deref().unwrap_or_default();
        let report = ["r2", "r3", "r4"]
            .into_iter()
            .find(|id| composed.origin.as_ref().is_some_and(|o| o.subject == *id))
            .expect("each names its report");
        assert!(
            composed.content.body.contains(&format!(
                "download it through the gateway at /api/v1/reports/{report}/download"
            )),
            "{}",
            composed.content.body
        );
        if report == "r4" {
            assert_eq!(subject, "Report: Sales summary");
        } else {
            assert!(subject.ends_with("(2026-12-01 00:00 UTC to 2026-12-08 00:00 UTC)"));
        }
    }
}

#[tokio::test]
async fn a_report_for_something_that_is_no_address_sends_nothing() {
    let f = fixture().await;
    let mut nobody = ready("r5", Some(b"x"));
    nobody.recipient = "finance department".into();
    f.deliver(ServiceKind::Analytics, &nobody).await;
    let count: i64 = platform::db::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE template_id = 'report_ready.email'",
    )
    .fetch_one(f.app().db().reader())
    .await
    .expect("count");
    assert_eq!(count, 0);
}

#[tokio::test]
async fn an_anomaly_alerts_every_admin_once() {
    let f = fixture().await;
    f.user("boss", &["customer", "admin"]).await;
    f.user("ops", &["admin"]).await;
    f.user("shopper", &["customer"]).await;
    let anomaly = AnomalyDetected {
        id: "a1".into(),
        series: "payment_failures".into(),
        tenant_id: "viscount".into(),
        minute: "2026-12-08T06:01:00Z".into(),
        value: 14.0,
        expected: 1.25,
        lower: 0.0,
        upper: 3.5,
        direction: "above".into(),
        currency: None,
    };
    let event = f.deliver(ServiceKind::Analytics, &anomaly).await;
    f.deliver_envelope(&event).await;

    for admin in ["boss", "ops"] {
        let alerts: Vec<Message> = f
            .messages(admin)
            .await
            .into_iter()
            .filter(|m| m.composed().template_id == "anomaly_detected.email")
            .collect();
        assert_eq!(alerts.len(), 1, "{admin}");
        let content = &alerts[0].composed().content;
        assert_eq!(
            content.subject.as_deref(),
            Some(
                "Anomaly: Payment failures per minute above its expected band \
                 (viscount, 2026-12-08 06:01 UTC)"
            )
        );
        assert!(
            content.body.contains("Measured: 14\n")
                && content.body.contains("Expected: 1.25 (band 0 to 3.50)"),
            "{}",
            content.body
        );
        assert_eq!(alerts[0].composed().to, format!("{admin}@example.com"));
    }
    assert!(
        f.messages("shopper")
            .await
            .iter()
            .all(|m| m.composed().template_id != "anomaly_detected.email"),
        "customers are not alerted"
    );
}
