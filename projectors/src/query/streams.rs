//! Live streams (server-sent events). `GET /v1/streams/orders/{id}` sends the order's timeline
//! entries (every step from every stream that names it: payment, delivery positions and ETA,
//! ...) as they are projected: each event's `id` is its event-store position, so a client that
//! reconnects with `Last-Event-ID` gets exactly what it missed. New entries are sent when the
//! orders projection signals a commit (no polling); a comment every 15 s keeps proxies from
//! closing a quiet stream. Who may read the order may follow it; browsers, which cannot set
//! headers on an `EventSource`, pass a single-use ticket (`?ticket=`, from
//! `POST /v1/streams/tickets` on command-api) instead of a bearer token.
//!
//! `GET /v1/streams/ops` (administrators) sends what needs an operator's attention
//! ([`super::attention`]) as a whole whenever it changes: it wakes on any read model's commit
//! signal (and a saga's becoming or ceasing to be stuck), reads at most once a second, and sends
//! only when the content differs; the event id is the content's digest, so a client that
//! reconnects holding the current state is not sent it again.

use super::attention;
use super::common::{customer_filter, db_problem, parse_id};
use super::orders::TimelineEntry;
use super::state::QueryState;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use platform::auth::{AuthError, Principal};
use platform::http::{ApiError, Authenticated};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The longest a stream stays quiet: a comment then.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// A stream re-reads this often even without a signal (one lost while the listener
/// reconnects).
const RECHECK: Duration = Duration::from_secs(5);

/// Route middleware: a request without a bearer token but with `?ticket=` is authenticated
/// by redeeming the ticket, once, for exactly this stream's path.
pub async fn ticket(State(s): State<QueryState>, mut request: Request, next: Next) -> Response {
    let unauthenticated = matches!(
        request.extensions().get::<Authenticated>(),
        Some(Authenticated(Err(e))) if matches!(e.as_ref(), AuthError::Missing)
    );
    let ticket = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("ticket="))
            .map(str::to_owned)
    });
    if let (true, Some(ticket)) = (unauthenticated, ticket) {
        let path = request.uri().path().to_owned();
        let outcome = match platform::tickets::redeem(&s.pool, &ticket, &path).await {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => Err(Arc::new(AuthError::Invalid(
                "the ticket is unknown, used, expired or for another stream".to_owned(),
            ))),
            Err(e) => return db_problem(&e).into_response(),
        };
        request.extensions_mut().insert(Authenticated(outcome));
    }
    next.run(request).await
}

/// What a client saw last: `Last-Event-ID`, or `?last_event_id=` (a browser reconnecting with a
/// new ticket opens a new `EventSource`, which cannot send the header).
fn last_event_id(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            uri.query()?
                .split('&')
                .find_map(|kv| kv.strip_prefix("last_event_id="))
                .map(str::to_owned)
        })
}

/// The position a client saw last. One it cannot have been sent (not a position) is ignored:
/// the stream starts from the beginning.
fn last_seen(headers: &HeaderMap, uri: &Uri) -> i64 {
    last_event_id(headers, uri)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|p| *p >= 0)
        .unwrap_or(0)
}

/// A timeline entry as a stream sends it: with its order (a board follows many).
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
struct Positioned {
    #[serde(skip)]
    global_position: i64,
    order_id: Uuid,
    #[sqlx(flatten)]
    #[serde(flatten)]
    entry: TimelineEntry,
}

/// Follow an order: its timeline entries as they happen (event `timeline`, `id` = the entry's
/// event-store position; resumable with `Last-Event-ID`).
#[utoipa::path(get, path = "/v1/streams/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "Order id"),
           ("ticket" = Option<String>, Query, description = "A single-use ticket instead of a bearer token"),
           ("last_event_id" = Option<String>, Query, description = "The same as `Last-Event-ID` (for a browser's new `EventSource`) (a position it sent; anything else is ignored)"),
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (an id the stream sent; anything else starts from the beginning)")),
    responses((status = 200, description = "`text/event-stream` of `timeline` events", content_type = "text/event-stream"),
              (status = 404, body = platform::http::Problem)),
    security(("bearer" = ["orders:read"])))]
pub async fn order(
    State(s): State<QueryState>,
    principal: Principal,
    Path(raw): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = parse_id(&raw)?;
    let customer = customer_filter(&principal);
    let visible: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM {}.orders WHERE id = $1 AND ($2::text IS NULL OR customer = $2)",
        s.schema
    ))
    .bind(id)
    .bind(&customer)
    .fetch_optional(&s.pool)
    .await
    .map_err(|e| db_problem(&e))?;
    if visible.is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "no such order",
        ));
    }
    Ok(timeline(s, Some(id), last_seen(&headers, &uri)))
}

/// Every order's timeline as it happens, for staff (the operations console's orders board):
/// event `timeline`, `id` = the entry's event-store position, resumable like one order's.
#[utoipa::path(get, path = "/v1/streams/orders", tag = "orders",
    params(("ticket" = Option<String>, Query, description = "A single-use ticket instead of a bearer token"),
           ("last_event_id" = Option<String>, Query, description = "Resume after this event (for a browser's new `EventSource`) (a position it sent; anything else is ignored)"),
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event (a position it sent); without it, from now")),
    responses((status = 200, description = "`text/event-stream` of `timeline` events, each a `TimelineEntry` with `order_id`", content_type = "text/event-stream")),
    security(("bearer" = ["orders:read"])))]
pub async fn orders(
    State(s): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // A board follows what happens from now: without a resumption point (or with one it
    // cannot have sent), the head.
    let resume = last_event_id(&headers, &uri)
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|p| *p >= 0);
    let after = match resume {
        Some(p) => p,
        None => sqlx::query_scalar(&format!(
            "SELECT coalesce(max(global_position), 0) FROM {}.order_timeline",
            s.schema
        ))
        .fetch_one(&s.pool)
        .await
        .map_err(|e| db_problem(&e))?,
    };
    Ok(timeline(s, None, after))
}

/// The timeline entries of one order (or all) after `after`, as the orders projection commits
/// them.
fn timeline(
    s: QueryState,
    order: Option<Uuid>,
    after: i64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::unfold(
        (s, order, after, Vec::<Event>::new()),
        |(s, order, mut after, mut pending)| async move {
            loop {
                if !pending.is_empty() {
                    let event = pending.remove(0);
                    return Some((Ok(event), (s, order, after, pending)));
                }
                // Armed before reading, so a commit during the read is not missed.
                let changed = s.fresh.changed("orders");
                tokio::pin!(changed);
                changed.as_mut().enable();
                match entries_after(&s, order, after).await {
                    Ok(rows) if !rows.is_empty() => {
                        for r in rows {
                            after = after.max(r.global_position);
                            let event = Event::default()
                                .id(r.global_position.to_string())
                                .event("timeline")
                                .json_data(&r)
                                .unwrap_or_else(|_| Event::default().comment("unrenderable"));
                            pending.push(event);
                        }
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, order_id = ?order, "a live order stream could not read");
                    }
                }
                let _ = tokio::time::timeout(RECHECK, changed).await;
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
}

async fn entries_after(
    s: &QueryState,
    order: Option<Uuid>,
    after: i64,
) -> Result<Vec<Positioned>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT global_position, order_id, aggregate_type, aggregate_id, sequence, event_type,
                occurred_at, actor, reason, correlation_id, causation_id, detail
           FROM {}.order_timeline
          WHERE ($1::uuid IS NULL OR order_id = $1) AND global_position > $2
          ORDER BY global_position
          LIMIT 200",
        s.schema
    ))
    .bind(order)
    .bind(after)
    .fetch_all(&s.pool)
    .await
}

/// The operators' stream reads at most this often, however often read models change.
const OPS_THROTTLE: Duration = Duration::from_secs(1);

/// What needs an operator's attention, live: an `attention` event with the whole picture on
/// connecting and whenever it changes (`id` = its digest; resuming with the digest of the
/// current picture sends nothing until it changes).
#[utoipa::path(get, path = "/v1/streams/ops", tag = "ops",
    params(("ticket" = Option<String>, Query, description = "A single-use ticket instead of a bearer token"),
           ("last_event_id" = Option<String>, Query, description = "The same as `Last-Event-ID` (for a browser's new `EventSource`)"),
           ("Last-Event-ID" = Option<String>, Header, description = "The digest of the picture the client holds")),
    responses((status = 200, description = "`text/event-stream` of `attention` events, each an `Attention` (see the schema of that name)", content_type = "text/event-stream")),
    security(("bearer" = ["ops:read"])))]
pub async fn ops(
    State(s): State<QueryState>,
    headers: HeaderMap,
    uri: Uri,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let held = last_event_id(&headers, &uri);
    let stream = futures::stream::unfold((s, held), |(s, mut held)| async move {
        loop {
            let event = {
                let changed = s.fresh.changed_any();
                tokio::pin!(changed);
                changed.as_mut().enable();
                let started = tokio::time::Instant::now();
                let event = match attention::read(&s).await {
                    Ok(now) => {
                        let digest = now.digest();
                        (held.as_deref() != Some(digest.as_str())).then(|| {
                            let event = Event::default()
                                .id(digest.clone())
                                .event("attention")
                                .json_data(&now)
                                .unwrap_or_else(|_| Event::default().comment("unrenderable"));
                            held = Some(digest);
                            event
                        })
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the operators' stream could not read");
                        None
                    }
                };
                if event.is_none() {
                    let _ = tokio::time::timeout(RECHECK, changed).await;
                    tokio::time::sleep_until(started + OPS_THROTTLE).await;
                }
                event
            };
            if let Some(event) = event {
                return Some((Ok(event), (s, held)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
}
