//! Support through the gateway, in both shapes (issue 21, seed 003's Customer Support
//! context): tickets follow their state machine (a customer's reply opens, an agent's
//! pends, closed is final), stay invisible to other customers, name the bad field, check
//! an order with ordering and an assignee with identity, and announce themselves on the
//! outbox; the knowledge base is written by admins only, hides drafts from customers,
//! and is searched through the catalog's engine with one typo allowed. Merchants'
//! webhook endpoints can subscribe to the ticket events.

use platform::service::ServiceKind;
use serde_json::{Value, json};
use viscount_tests::receiver::Receiver;
use viscount_tests::shop::*;
use viscount_tests::{TestApp, assert_problem, both_shapes, error_fields, eventually};

const TICKETS: &str = "/api/v1/support/tickets";
const ARTICLES: &str = "/api/v1/support/articles";

/// The ids of a list's items.
fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The event types support staged for `subject`, in order.
async fn staged_events(app: &TestApp, subject: &str) -> Vec<String> {
    let support = app
        .platform
        .as_ref()
        .and_then(|p| {
            p.services
                .iter()
                .find(|s| s.data().kind() == ServiceKind::Support)
        })
        .expect("support runs");
    platform::db::query_scalar("SELECT event_type FROM outbox WHERE subject = $1 ORDER BY seq")
        .bind(subject)
        .fetch_all(support.db().reader())
        .await
        .expect("outbox")
}

both_shapes! {
    async fn a_merchant_endpoint_receives_the_ticket_events_it_subscribed_to(app) {
        let admin = app.admin().await;
        let types = json_of(app.get("/api/v1/admin/webhooks/event-types", Some(&admin.access)).await).await;
        for event_type in ["support.ticket.opened.v1", "support.ticket.replied.v1", "support.ticket.closed.v1"] {
            assert!(types["items"].as_array().is_some_and(|t| t.contains(&json!(event_type))), "{event_type} in {types}");
        }
        let merchant = Receiver::start(|_, _| axum::http::StatusCode::OK).await;
        let registered = app
            .post("/api/v1/admin/webhooks", Some(&admin.access),
                  &json!({"url": merchant.url("helpdesk"), "event_types": ["support.ticket.opened.v1"]}))
            .await;
        assert_eq!(registered.status(), 201);
        let ann = app.user("ann").await;
        let ticket = json_of(app.post(TICKETS, Some(&ann.access), &json!({"subject": "Hello", "body": "Question"})).await).await;
        let id = ticket["id"].as_str().expect("id").to_owned();
        let hook = eventually(SETTLE, "the ticket event at the merchant", || async {
            merchant.hooks("helpdesk").into_iter().find(|h| h.json()["data"]["ticket_id"] == id.as_str())
        })
        .await;
        let event = hook.json();
        assert_eq!(event["type"], "support.ticket.opened.v1");
        assert_eq!(event["data"]["user_id"], ann.id.as_str());
        assert_eq!(event["data"]["subject"], "Hello");
    }

    async fn tickets_follow_their_state_machine_and_stay_with_their_owner(app) {
        let admin = app.admin().await;
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;

        // Bad input names each field; nothing is written.
        let refused = app
            .post(TICKETS, Some(&ann.access), &json!({"subject": " ", "body": "x".repeat(10_001)}))
            .await;
        let problem = assert_problem(refused, 422).await;
        let mut fields = error_fields(&problem);
        fields.sort();
        assert_eq!(fields, ["body", "subject"]);
        let unauthenticated = app.post(TICKETS, None, &json!({"subject": "a", "body": "b"})).await;
        assert_problem(unauthenticated, 401).await;

        // Opened: 201 with the ticket and its first message.
        let opened = app
            .post(TICKETS, Some(&ann.access), &json!({"subject": "Where is my parcel?", "body": "Ordered last week."}))
            .await;
        assert_eq!(opened.status(), 201);
        let location = opened.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let ticket = json_of(opened).await;
        let id = ticket["id"].as_str().expect("id").to_owned();
        assert_eq!(location.as_deref(), Some(format!("{TICKETS}/{id}").as_str()));
        assert_eq!(ticket["status"], "open");
        assert_eq!(ticket["user_id"], ann.id.as_str());
        assert_eq!(ticket["order_id"], Value::Null);
        assert_eq!(ticket["assignee"], Value::Null);
        assert_eq!(ticket["messages"][0]["body"], "Ordered last week.");
        assert_eq!(ticket["messages"][0]["author_role"], "customer");

        // Invisible to another customer: not in their list, 404 to read, reply or close.
        let theirs = json_of(app.get(TICKETS, Some(&bob.access)).await).await;
        assert!(ids(&theirs).is_empty(), "{theirs}");
        let path = format!("{TICKETS}/{id}");
        assert_problem(app.get(&path, Some(&bob.access)).await, 404).await;
        let foreign_reply = app.post(&format!("{path}/replies"), Some(&bob.access), &json!({"body": "mine?"})).await;
        assert_problem(foreign_reply, 404).await;
        assert_problem(app.post(&format!("{path}/close"), Some(&bob.access), &json!({})).await, 404).await;
        assert_problem(app.get(&format!("{TICKETS}/not-an-id"), Some(&ann.access)).await, 404).await;
        // The owner and admins see it.
        assert_eq!(ids(&json_of(app.get(TICKETS, Some(&ann.access)).await).await), [id.as_str()]);
        assert_eq!(json_of(app.get(&path, Some(&ann.access)).await).await["subject"], "Where is my parcel?");
        assert!(ids(&json_of(app.get(TICKETS, Some(&admin.access)).await).await).contains(&id));

        // An agent's reply waits for the customer; the customer's reopens it.
        let agent = app.post(&format!("{path}/replies"), Some(&admin.access), &json!({"body": "It left today."})).await;
        assert_eq!(agent.status(), 201);
        let agent = json_of(agent).await;
        assert_eq!(agent["status"], "pending");
        assert_eq!(agent["messages"][1]["author_role"], "agent");
        let empty = app.post(&format!("{path}/replies"), Some(&ann.access), &json!({"body": ""})).await;
        assert_eq!(error_fields(&assert_problem(empty, 422).await), ["body"]);
        let customer = json_of(app.post(&format!("{path}/replies"), Some(&ann.access), &json!({"body": "Thanks!"})).await).await;
        assert_eq!(customer["status"], "open");
        assert_eq!(customer["messages"].as_array().map(Vec::len), Some(3));

        // Assigning: admins only, to an admin.
        let assign = format!("{path}/assign");
        assert_problem(app.post(&assign, Some(&ann.access), &json!({"assignee": admin.id})).await, 403).await;
        let not_admin = app.post(&assign, Some(&admin.access), &json!({"assignee": bob.id})).await;
        assert_eq!(error_fields(&assert_problem(not_admin, 422).await), ["assignee"]);
        let assigned = app.post(&assign, Some(&admin.access), &json!({"assignee": admin.id})).await;
        assert_eq!(assigned.status(), 200);
        let assigned = json_of(assigned).await;
        assert_eq!(assigned["assignee"], admin.id.as_str());
        assert_eq!(assigned["status"], "open", "assigning keeps the status");

        // Admins filter by status and assignee; a bad status names the field.
        let open_mine = json_of(app.get(&format!("{TICKETS}?status=open&assignee={}", admin.id), Some(&admin.access)).await).await;
        assert_eq!(ids(&open_mine), [id.as_str()]);
        let pending = json_of(app.get(&format!("{TICKETS}?status=pending"), Some(&admin.access)).await).await;
        assert!(!ids(&pending).contains(&id));
        let bad = app.get(&format!("{TICKETS}?status=waiting"), Some(&admin.access)).await;
        assert_eq!(error_fields(&assert_problem(bad, 422).await), ["status"]);

        // Closing is final: no second close, no reply, no reassignment.
        let closed = app.post(&format!("{path}/close"), Some(&ann.access), &json!({})).await;
        assert_eq!(closed.status(), 200);
        let closed = json_of(closed).await;
        assert_eq!(closed["status"], "closed");
        assert!(closed["closed_at"].is_string());
        assert_problem(app.post(&format!("{path}/close"), Some(&admin.access), &json!({})).await, 409).await;
        assert_problem(app.post(&format!("{path}/replies"), Some(&ann.access), &json!({"body": "again"})).await, 409).await;
        assert_problem(app.post(&assign, Some(&admin.access), &json!({"assignee": admin.id})).await, 409).await;

        assert_eq!(
            staged_events(&app, &id).await,
            [
                "support.ticket.opened.v1",
                "support.ticket.replied.v1",
                "support.ticket.replied.v1",
                "support.ticket.closed.v1",
            ]
        );
    }

    async fn a_ticket_names_only_an_order_of_its_owner_and_lists_page_by_cursor(app) {
        let admin = app.admin().await;
        stocked(&app, &admin, "SUP-1", 500, 5).await;
        let ann = app.user("ann").await;
        let bob = app.user("bob").await;
        let placed = json_of(order(&app, &ann, &items_order("SUP-1", 1, APPROVE)).await).await;
        let order_id = placed["id"].as_str().expect("order id").to_owned();

        // Bob cannot open a ticket about Ann's order, nor about a malformed one.
        let foreign = app
            .post(TICKETS, Some(&bob.access), &json!({"subject": "Refund", "body": "please", "order_id": order_id}))
            .await;
        assert_eq!(error_fields(&assert_problem(foreign, 422).await), ["order_id"]);
        let malformed = app
            .post(TICKETS, Some(&bob.access), &json!({"subject": "Refund", "body": "please", "order_id": "../users"}))
            .await;
        assert_eq!(error_fields(&assert_problem(malformed, 422).await), ["order_id"]);
        assert!(ids(&json_of(app.get(TICKETS, Some(&bob.access)).await).await).is_empty());

        // Ann can.
        let own = app
            .post(TICKETS, Some(&ann.access), &json!({"subject": "Refund", "body": "please", "order_id": order_id}))
            .await;
        assert_eq!(own.status(), 201);
        let first = json_of(own).await;
        assert_eq!(first["order_id"], order_id.as_str());

        // Pages: newest first, `next_cursor` until the last; a bad cursor is 422.
        let mut opened = vec![first["id"].as_str().expect("id").to_owned()];
        for n in 0..2 {
            let t = json_of(app.post(TICKETS, Some(&ann.access), &json!({"subject": format!("Q{n}"), "body": "?"})).await).await;
            opened.push(t["id"].as_str().expect("id").to_owned());
        }
        opened.reverse();
        let page1 = json_of(app.get(&format!("{TICKETS}?limit=2"), Some(&ann.access)).await).await;
        assert_eq!(ids(&page1), opened[..2]);
        let cursor = page1["next_cursor"].as_str().expect("a next page");
        let page2 = json_of(app.get(&format!("{TICKETS}?limit=2&cursor={cursor}"), Some(&ann.access)).await).await;
        assert_eq!(ids(&page2), opened[2..]);
        assert_eq!(page2["next_cursor"], Value::Null);
        let bad = app.get(&format!("{TICKETS}?cursor=!!!"), Some(&ann.access)).await;
        assert_eq!(bad.status(), 422);
    }

    async fn the_knowledge_base_is_written_by_admins_and_searched_with_a_typo(app) {
        let admin = app.admin().await;
        let ann = app.user("ann").await;

        // Admins write; customers cannot; bad fields are named.
        let article = json!({"title": "Shipping times to Europe", "body": "Parcels reach Europe in three to five days.",
                             "tags": ["Delivery"], "published": true});
        assert_problem(app.post(ARTICLES, Some(&ann.access), &article).await, 403).await;
        let invalid = app.post(ARTICLES, Some(&admin.access), &json!({"title": "", "body": "b", "tags": ["two words"]})).await;
        let mut fields = error_fields(&assert_problem(invalid, 422).await);
        fields.sort();
        assert_eq!(fields, ["tags", "title"]);
        let created = app.post(ARTICLES, Some(&admin.access), &article).await;
        assert_eq!(created.status(), 201);
        let published = json_of(created).await;
        let published_id = published["id"].as_str().expect("id").to_owned();
        assert_eq!(published["tags"], json!(["delivery"]));
        let draft = json_of(app.post(ARTICLES, Some(&admin.access),
            &json!({"title": "Shipping surcharges (draft)", "body": "Not decided yet."})).await).await;
        let draft_id = draft["id"].as_str().expect("id").to_owned();
        assert_eq!(draft["published"], false);

        // A typo still finds the article; customers never see the draft.
        let search = |q: &str| format!("{ARTICLES}?q={q}");
        assert_eq!(ids(&json_of(app.get(&search("shiping"), Some(&ann.access)).await).await), [published_id.as_str()]);
        assert_eq!(ids(&json_of(app.get(&search("eurpoe"), Some(&ann.access)).await).await), [published_id.as_str()]);
        assert_eq!(ids(&json_of(app.get(&search("delivery"), Some(&ann.access)).await).await), [published_id.as_str()], "tags are searched");
        let for_admin = ids(&json_of(app.get(&search("shipping"), Some(&admin.access)).await).await);
        assert_eq!(for_admin.len(), 2, "admins see drafts: {for_admin:?}");
        assert!(ids(&json_of(app.get(&search("zebra"), Some(&ann.access)).await).await).is_empty());
        assert_eq!(ids(&json_of(app.get(ARTICLES, Some(&ann.access)).await).await), [published_id.as_str()]);
        assert_problem(app.get(&format!("{ARTICLES}/{draft_id}"), Some(&ann.access)).await, 404).await;
        assert_eq!(json_of(app.get(&format!("{ARTICLES}/{draft_id}"), Some(&admin.access)).await).await["title"],
                   "Shipping surcharges (draft)");
        assert_problem(app.get(&search("shipping"), None).await, 401).await;

        // Search pages continue by rank.
        let page1 = json_of(app.get(&format!("{ARTICLES}?q=shipping&limit=1"), Some(&admin.access)).await).await;
        let cursor = page1["next_cursor"].as_str().expect("a second page").to_owned();
        let page2 = json_of(app.get(&format!("{ARTICLES}?q=shipping&limit=1&cursor={cursor}"), Some(&admin.access)).await).await;
        assert_eq!(ids(&page2).len(), 1);
        assert_ne!(ids(&page1), ids(&page2));
        assert_eq!(page2["next_cursor"], Value::Null);

        // Publishing the draft shows it to customers; its new words are searchable.
        let draft_path = format!("{ARTICLES}/{draft_id}");
        assert_problem(app.put(&draft_path, &ann.access, &json!({"title": "x", "body": "y"})).await, 403).await;
        let revised = app.put(&draft_path, &admin.access,
            &json!({"title": "Shipping surcharges", "body": "Islands cost extra.", "published": true})).await;
        assert_eq!(revised.status(), 200);
        assert_eq!(ids(&json_of(app.get(&search("islnads"), Some(&ann.access)).await).await), [draft_id.as_str()]);
        assert_eq!(json_of(app.get(&draft_path, Some(&ann.access)).await).await["published"], true);

        // Deleted: gone from reads and from search.
        assert_problem(app.delete(&draft_path, &ann.access).await, 403).await;
        assert_eq!(app.delete(&draft_path, &admin.access).await.status(), 204);
        assert_problem(app.get(&draft_path, Some(&admin.access)).await, 404).await;
        assert_problem(app.delete(&draft_path, &admin.access).await, 404).await;
        assert!(ids(&json_of(app.get(&search("islands"), Some(&admin.access)).await).await).is_empty());
    }
}
