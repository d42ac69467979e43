//! Live order streams (server-sent events) against the real path: an order's timeline arrives
//! as it is projected, resumes after `Last-Event-ID`, opens with a bearer token or a
//! single-use ticket, and only for who may read the order.

use crate::fulfilment::{Options, World};
use platform::auth::Role;
use serde_json::json;
use std::time::{Duration, Instant};

/// An open event stream: its text so far.
struct Live {
    response: reqwest::Response,
    text: String,
}

impl Live {
    /// Reads what arrives next, failing when `deadline` has passed without `what`.
    async fn more(&mut self, deadline: Instant, what: &str) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {what:?} in the stream: {}", self.text);
        match tokio::time::timeout(left, self.response.chunk()).await {
            Ok(Ok(Some(chunk))) => self.text.push_str(&String::from_utf8_lossy(&chunk)),
            Ok(Ok(None)) => panic!("the stream ended: {}", self.text),
            Ok(Err(e)) => panic!("the stream failed: {e}"),
            Err(_) => {}
        }
    }

    /// Reads until `what` is in the stream (or fails after `secs`).
    async fn until(&mut self, what: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !self.text.contains(what) {
            self.more(deadline, what).await;
        }
    }

    /// Reads until the last event's data satisfies `done` (or fails after `secs`).
    async fn until_data(&mut self, secs: u64, done: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(&self.last_data()) {
            self.more(deadline, "the awaited data").await;
        }
    }

    /// The last event's `id` (any text).
    fn last_id(&self) -> Option<String> {
        self.text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("id:"))
            .map(|v| v.trim().to_owned())
    }

    /// The `data` of the last event, as JSON.
    fn last_data(&self) -> serde_json::Value {
        let data = self
            .text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("data:"))
            .expect("an event");
        serde_json::from_str(data.trim()).expect("JSON data")
    }

    /// The `id`s of the events received so far.
    fn ids(&self) -> Vec<i64> {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix("id: ").or_else(|| l.strip_prefix("id:")))
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    }
}

async fn open(
    w: &World,
    path: &str,
    token: Option<&str>,
    last: Option<impl ToString>,
) -> (u16, Live) {
    let mut request = w.http.get(format!("{}{path}", w.s.queries));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(l) = last {
        request = request.header("last-event-id", l.to_string());
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (
        status,
        Live {
            response,
            text: String::new(),
        },
    )
}

#[tokio::test]
async fn an_order_is_followed_live_resumed_and_opened_with_a_single_use_ticket() {
    let w = World::start(Options {
        saga: false,
        simulate: None,
        ..Options::default()
    })
    .await;
    let order = w
        .place(
            "follower",
            json!([{"product_id": w.apples, "quantity": 1}]),
            "cash_on_delivery",
            None,
        )
        .await;
    let me = w.s.token("follower", Role::Customer);
    let path = format!("/v1/streams/orders/{order}");
    crate::fulfilment::until("the order to be readable", 20, async || {
        let (status, _, _) =
            w.s.get(&w.s.queries, &format!("/v1/orders/{order}"), &me)
                .await;
        (status == 200).then_some(())
    })
    .await;

    // With a bearer token: the placement arrives, with its position as the event id.
    let (status, mut live) = open(&w, &path, Some(&me), None::<i64>).await;
    assert_eq!(status, 200);
    assert_eq!(live.response.headers()["content-type"], "text/event-stream");
    live.until("OrderPlaced", 20).await;
    let first = *live.ids().first().expect("an id");

    // Staff follow every order from now on (the console's board); customers may not.
    let (status, mut board) = open(&w, "/v1/streams/orders", Some(&w.admin), None::<i64>).await;
    assert_eq!(status, 200);
    let (status, _) = open(&w, "/v1/streams/orders", Some(&me), None::<i64>).await;
    assert_eq!(status, 403);

    // The customer cancels: the stream carries it at once, after the placement.
    let (status, body) = w
        .send(
            &format!("/v1/orders/{order}/cancel"),
            &me,
            json!({"reason": "changed my mind"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    live.until("OrderCancelled", 20).await;
    assert!(live.ids().iter().all(|id| *id >= first), "{}", live.text);

    // The board: only what happened after it opened, each entry naming its order.
    board.until("OrderCancelled", 20).await;
    assert!(!board.text.contains("OrderPlaced"), "{}", board.text);
    assert!(
        board.text.contains(&format!("\"order_id\":\"{order}\"")),
        "{}",
        board.text
    );

    // A browser reconnecting (a new EventSource, no header) names where it was in the query.
    let (_, mut reopened) = open(
        &w,
        &format!("{path}?last_event_id={first}"),
        Some(&me),
        None::<i64>,
    )
    .await;
    reopened.until("OrderCancelled", 20).await;
    assert!(!reopened.text.contains("OrderPlaced"), "{}", reopened.text);

    // Reconnecting after the first event gets only what came after it.
    let (_, mut resumed) = open(&w, &path, Some(&me), Some(first)).await;
    resumed.until("OrderCancelled", 20).await;
    assert!(!resumed.text.contains("OrderPlaced"), "{}", resumed.text);
    assert!(resumed.ids().iter().all(|id| *id > first));

    // A browser: a ticket for this stream, once.
    let (status, ticket) = w
        .send("/v1/streams/tickets", &me, json!({"stream": path}))
        .await;
    assert_eq!(status, 201, "{ticket}");
    let ticket = ticket["ticket"].as_str().expect("ticket").to_owned();
    let with_ticket = format!("{path}?ticket={ticket}");
    let (status, mut by_ticket) = open(&w, &with_ticket, None, None::<i64>).await;
    assert_eq!(status, 200);
    by_ticket.until("OrderPlaced", 20).await;
    let (status, _) = open(&w, &with_ticket, None, None::<i64>).await;
    assert_eq!(status, 401, "a ticket opens its stream once");
    // A ticket opens only the stream it was issued for.
    let (_, other_ticket) = w
        .send(
            "/v1/streams/tickets",
            &me,
            json!({"stream": "/v1/streams/ops"}),
        )
        .await;
    let t = other_ticket["ticket"].as_str().expect("ticket");
    let (status, _) = open(&w, &format!("{path}?ticket={t}"), None, None::<i64>).await;
    assert_eq!(status, 401);
    let (status, body) = w
        .send("/v1/streams/tickets", &me, json!({"stream": "/v1/orders"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed")),
        "{body}"
    );

    // Nobody else follows it; an admin may.
    let stranger = w.s.token("stranger", Role::Customer);
    let (status, _) = open(&w, &path, Some(&stranger), None::<i64>).await;
    assert_eq!(status, 404);
    let (status, _) = open(&w, &path, None, None::<i64>).await;
    assert_eq!(status, 401);
    let (status, mut admin) = open(&w, &path, Some(&w.admin), None::<i64>).await;
    assert_eq!(status, 200);
    admin.until("OrderCancelled", 20).await;
}

#[tokio::test]
async fn operators_see_what_needs_attention_change_live() {
    let w = World::start(Options {
        saga: false,
        simulate: None,
        ..Options::default()
    })
    .await;
    let path = "/v1/streams/ops";
    let (status, mut live) = open(&w, path, Some(&w.admin), None::<i64>).await;
    assert_eq!(status, 200);
    live.until("event: attention", 20).await;
    let first = live.last_id().expect("an id");

    // A supplier registers: it appears among those waiting for review, at once.
    let id = crate::audit::register(&w.s, &w.owner, "KVK-OPS-1").await;
    live.until(&id, 20).await;
    let picture = live.last_data();
    assert!(picture["suppliers_pending"]["count"].as_i64().unwrap_or(0) >= 1);
    for kind in ["sagas", "dead_events", "low_stock", "expiring_soon"] {
        assert!(picture[kind]["items"].is_array(), "{kind}: {picture}");
    }
    let held = live.last_id().expect("an id");
    assert_ne!(held, first);

    // Approved, it leaves the queue.
    crate::audit::approve(&w.s, &w.owner, &w.admin, &id).await;
    live.until_data(20, |d| !d["suppliers_pending"].to_string().contains(&id))
        .await;

    // Resuming with the picture it holds, a client is sent only what changes after.
    let current = live.last_id().expect("an id");
    let (_, mut resumed) = open(&w, path, Some(&w.admin), Some(&current)).await;
    let other = crate::audit::register(&w.s, &w.owner, "KVK-OPS-2").await;
    resumed.until(&other, 20).await;
    assert_eq!(
        resumed.text.matches("event: attention").count(),
        1,
        "{}",
        resumed.text
    );

    // A browser's ticket, once; nobody but operators.
    let (status, ticket) = w
        .send("/v1/streams/tickets", &w.admin, json!({"stream": path}))
        .await;
    assert_eq!(status, 201, "{ticket}");
    let t = ticket["ticket"].as_str().expect("ticket");
    let (status, mut by_ticket) = open(&w, &format!("{path}?ticket={t}"), None, None::<i64>).await;
    assert_eq!(status, 200);
    by_ticket.until(&other, 20).await;
    let customer = w.s.token("shopper", Role::Customer);
    let (status, _) = open(&w, path, Some(&customer), None::<i64>).await;
    assert_eq!(status, 403);
    let (status, _) = open(&w, path, None, None::<i64>).await;
    assert_eq!(status, 401);
}
