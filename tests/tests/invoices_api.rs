//! Invoices and credit notes through the gateway, in both shapes: a checkout issues one
//! invoice whose totals are the order's and whose PDF reads back with its number, a
//! partial refund issues a credit note against it, nobody else reads either, and
//! concurrent captures number their invoices 1..N of the year with no gap and no
//! duplicate.

use serde_json::{Value, json};
use viscount_tests::shop::*;
use viscount_tests::*;

/// The year invoice numbers count in now (UTC).
fn this_year() -> i64 {
    let now = platform::time::rfc3339(platform::time::now_millis());
    now.get(..4)
        .and_then(|year| year.parse().ok())
        .expect("a year")
}

/// The order's documents once `count` of them are issued (the capture and refunds are
/// applied by payments' consumer, after the order settles).
async fn documents(app: &TestApp, token: &str, order_id: &str, count: usize) -> Vec<Value> {
    let path = format!("/api/v1/orders/{order_id}/invoices");
    let list = until(app, token, &path, "documents issued", |list| {
        list["items"]
            .as_array()
            .is_some_and(|items| items.len() == count)
    })
    .await;
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The text of every page of a PDF, as lopdf extracts it (through the fonts'
/// ToUnicode maps).
fn pdf_text(bytes: &[u8]) -> String {
    let document = lopdf::Document::load_mem(bytes).expect("the PDF parses");
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    assert!(!pages.is_empty(), "a page");
    document.extract_text(&pages).expect("page text")
}

both_shapes! {
    async fn a_checkout_issues_an_invoice_and_a_partial_refund_a_credit_note(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "INV-A", 1250, 10).await;
        let buyer = app.user("invoiced").await;
        let placed = json_of(order(&app, &buyer, &items_order("INV-A", 2, APPROVE)).await).await;
        assert_eq!(placed["status"], "confirmed", "{placed}");
        let order_id = placed["id"].as_str().expect("order id");
        let payment_id = placed["payment_id"].as_str().expect("payment id");

        let items = documents(&app, &buyer.access, order_id, 1).await;
        let invoice = &items[0];
        let year = this_year();
        assert_eq!(invoice["kind"], "invoice");
        assert_eq!(invoice["number"], format!("INV-{year}-000001"), "the first of the year");
        assert_eq!(invoice["order_id"], order_id);
        assert_eq!(invoice["payment_id"], payment_id);
        assert_eq!(invoice["currency"], "USD");
        assert_eq!(invoice["gross"], placed["total"], "the invoice bills the order total");
        let net = invoice["net"]["amount"].as_i64().expect("net");
        let tax = invoice["tax"]["amount"].as_i64().expect("tax");
        assert_eq!(net + tax, 2_500, "net and tax add up to the total");
        assert_eq!(invoice["lines"].as_array().map(Vec::len), Some(1), "{invoice}");
        assert_eq!(invoice["lines"][0]["sku"], "INV-A");
        assert_eq!(invoice["lines"][0]["quantity"], 2);
        assert_eq!(invoice["lines"][0]["unit_price"], json!({"amount": 1250, "currency": "USD"}));
        assert_eq!(invoice["lines"][0]["total"]["amount"], 2_500);
        assert_eq!(invoice["buyer"]["name"], "Ann Buyer");
        assert_eq!(invoice["buyer"]["user_id"], placed["user_id"]);
        assert!(invoice["seller"]["name"].as_str().is_some_and(|n| !n.is_empty()));

        // The same document by id, as JSON and as a PDF that reads back.
        let id = invoice["id"].as_str().expect("id");
        let by_id = json_of(app.get(&format!("/api/v1/invoices/{id}"), Some(&buyer.access)).await).await;
        assert_eq!(&by_id, invoice);
        let pdf_url = invoice["pdf_url"].as_str().expect("pdf url");
        let pdf = app.get(pdf_url, Some(&buyer.access)).await;
        assert_eq!(pdf.status(), 200);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        let text = pdf_text(&pdf.bytes().await.expect("bytes"));
        assert!(text.contains(&format!("INV-{year}-000001")), "{text}");
        assert!(text.contains("Ann Buyer"), "{text}");
        assert!(text.contains("25.00 USD"), "{text}");

        // Nobody else learns the documents exist; an admin reads them.
        let other = app.user("stranger").await;
        assert_problem(app.get(&format!("/api/v1/orders/{order_id}/invoices"), Some(&other.access)).await, 404).await;
        assert_problem(app.get(&format!("/api/v1/invoices/{id}"), Some(&other.access)).await, 404).await;
        assert_problem(app.get(pdf_url, Some(&other.access)).await, 404).await;
        assert_problem(app.get(&format!("/api/v1/invoices/{id}"), None).await, 401).await;
        assert_problem(app.get("/api/v1/invoices/not-an-id", Some(&buyer.access)).await, 404).await;
        let as_admin = json_of(app.get(&format!("/api/v1/orders/{order_id}/invoices"), Some(&admin.access)).await).await;
        assert_eq!(as_admin["items"].as_array().map(Vec::len), Some(1));

        // A partial refund issues a credit note against the invoice.
        let refunded = app
            .post(&format!("/api/v1/payments/{payment_id}/refund"), Some(&admin.access),
                  &json!({"amount": {"amount": 700, "currency": "USD"}}))
            .await;
        assert_eq!(refunded.status(), 200);
        let refund = json_of(refunded).await;
        let items = documents(&app, &buyer.access, order_id, 2).await;
        let note = &items[1];
        assert_eq!(note["kind"], "credit_note");
        assert_eq!(note["number"], format!("CN-{year}-000001"), "its own series");
        assert_eq!(note["refers_to"]["number"], invoice["number"]);
        assert_eq!(note["refers_to"]["id"], invoice["id"]);
        assert_eq!(note["refund_id"], refund["refund_id"]);
        assert_eq!(note["gross"], json!({"amount": 700, "currency": "USD"}));
        let net = note["net"]["amount"].as_i64().expect("net");
        let tax = note["tax"]["amount"].as_i64().expect("tax");
        assert_eq!(net + tax, 700);
        let note_pdf = app.get(note["pdf_url"].as_str().expect("pdf url"), Some(&buyer.access)).await;
        assert_eq!(note_pdf.status(), 200);
        let text = pdf_text(&note_pdf.bytes().await.expect("bytes"));
        assert!(text.contains(&format!("CN-{year}-000001")), "{text}");
        assert!(text.contains(&format!("INV-{year}-000001")), "names the invoice: {text}");
        assert_problem(app.get(&format!("/api/v1/invoices/{}", note["id"].as_str().expect("id")), Some(&other.access)).await, 404).await;
    }

    async fn concurrent_captures_number_invoices_without_gap_or_duplicate(app) {
        const ORDERS: usize = 20;
        let admin = app.admin().await;
        stocked(&app, &admin, "INV-RUSH", 1000, ORDERS as i64).await;
        let mut buyers = Vec::new();
        for i in 0..ORDERS {
            buyers.push(app.user(&format!("invoicee{i}")).await);
        }
        let placed = futures_util::future::join_all(buyers.iter().map(|buyer| {
            let app = &app;
            async move { json_of(order(app, buyer, &items_order("INV-RUSH", 1, APPROVE)).await).await }
        }))
        .await;
        let mut sequences = Vec::new();
        let year = this_year();
        for (placed, buyer) in placed.iter().zip(&buyers) {
            let id = placed["id"].as_str().expect("order id");
            let settled = until(&app, &buyer.access, &format!("/api/v1/orders/{id}"), "settled", |o| {
                o["status"] == "confirmed" || o["status"] == "cancelled"
            })
            .await;
            assert_eq!(settled["status"], "confirmed", "{settled}");
            let items = documents(&app, &buyer.access, id, 1).await;
            let number = items[0]["number"].as_str().expect("number");
            let sequence = number
                .strip_prefix(&format!("INV-{year}-"))
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("an invoice number of {year}: {number}"));
            assert_eq!(items[0]["gross"]["amount"], 1000);
            sequences.push(sequence);
        }
        sequences.sort_unstable();
        assert_eq!(sequences, (1..=ORDERS).collect::<Vec<_>>(), "1..N, no gap, no duplicate");
    }
}
