//! Stream tickets: a browser's `EventSource` cannot send an `Authorization` header, so it asks
//! command-api for a ticket and passes it as `?ticket=` to the stream. A ticket stands for the
//! caller who asked for it, for one stream path, once, within [`TICKET_LIFETIME`]; only its
//! SHA-256 is stored (table `stream_tickets`), so a database read does not leak usable tickets.

use crate::auth::{Actor, Principal, Role};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use sqlx::PgPool;

/// How long a ticket may wait to be redeemed.
pub const TICKET_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The principal as a ticket keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    subject: String,
    role: Option<Role>,
    service: Option<String>,
    scopes: Vec<String>,
    second_factor: bool,
}

fn hash(ticket: &str) -> String {
    hex(&sha2::Sha256::digest(ticket.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new ticket for `principal` to open `stream`: the ticket and when it expires.
///
/// # Errors
/// When the database fails.
pub async fn issue(
    pool: &PgPool,
    principal: &Principal,
    stream: &str,
) -> Result<(String, DateTime<Utc>), sqlx::Error> {
    use rand::RngCore as _;
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    let ticket = URL_SAFE_NO_PAD.encode(raw);
    let (role, service) = match &principal.actor {
        Actor::Person(r) => (Some(*r), None),
        Actor::Service(s) => (None, Some(s.clone())),
    };
    let kept = Kept {
        subject: principal.subject.clone(),
        role,
        service,
        scopes: principal.scopes.iter().cloned().collect(),
        second_factor: principal.second_factor,
    };
    let expires_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO stream_tickets (ticket_hash, principal, stream, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at",
    )
    .bind(hash(&ticket))
    .bind(serde_json::to_value(&kept).unwrap_or_default())
    .bind(stream)
    .bind(TICKET_LIFETIME.num_seconds() as f64)
    .fetch_one(pool)
    .await?;
    // Old tickets go as new ones come: the table stays as small as the last minute's streams.
    sqlx::query("DELETE FROM stream_tickets WHERE expires_at < now() - interval '1 hour'")
        .execute(pool)
        .await?;
    Ok((ticket, expires_at))
}

/// The principal of `ticket` if it was issued for `stream`, has not expired and was never
/// redeemed; it is redeemed now, in the same statement (a second use finds nothing).
///
/// # Errors
/// When the database fails.
pub async fn redeem(
    pool: &PgPool,
    ticket: &str,
    stream: &str,
) -> Result<Option<Principal>, sqlx::Error> {
    let kept: Option<serde_json::Value> = sqlx::query_scalar(
        "UPDATE stream_tickets SET used_at = now()
          WHERE ticket_hash = $1 AND stream = $2 AND used_at IS NULL AND expires_at > now()
          RETURNING principal",
    )
    .bind(hash(ticket))
    .bind(stream)
    .fetch_optional(pool)
    .await?;
    Ok(kept
        .and_then(|k| serde_json::from_value::<Kept>(k).ok())
        .and_then(|k| {
            let actor = match (k.role, k.service) {
                (Some(r), None) => Actor::Person(r),
                (None, Some(s)) => Actor::Service(s),
                _ => return None,
            };
            Some(Principal {
                subject: k.subject,
                actor,
                scopes: k.scopes.into_iter().collect(),
                second_factor: k.second_factor,
            })
        }))
}

/// Whether `stream` names a live stream a ticket can be issued for: `/v1/streams/ops`,
/// `/v1/streams/orders` or `/v1/streams/orders/{uuid}`.
pub fn is_stream(stream: &str) -> bool {
    stream == "/v1/streams/ops"
        || stream == "/v1/streams/orders"
        || stream
            .strip_prefix("/v1/streams/orders/")
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok_and(|u| u.to_string() == id))
}
