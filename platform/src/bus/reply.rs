//! What an accepted command answers: described before it runs ([`Reply`]), rendered by the
//! bus ([`Answer`]) and, under an `Idempotency-Key`, stored with the command's events.

use crate::store::StoredAnswer;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The body of every accepted command: the aggregate's id and its version after the command
/// (pass it as `min_version` to the query API to read your own write).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CommandAccepted {
    /// The aggregate's id.
    #[schema(value_type = uuid::Uuid)]
    pub id: String,
    /// The aggregate's version after the command; pass it as `min_version` to the query API
    /// to read your own write.
    pub version: usize,
    /// The event store's position of the command's last event; pass it as `min_position` to
    /// any query to read your own writes across aggregates. Absent when the command changed
    /// nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
}

/// The body of a bulk creation: the new aggregates in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BulkCreated {
    /// One entry per item, in request order.
    pub items: Vec<CommandAccepted>,
    /// The event store's position of the last event written (see
    /// [`CommandAccepted::position`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
}

/// The answer a command will give if it is accepted, described before it runs so that the bus
/// can store it with the command's events (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Reply {
    created: bool,
    /// The aggregate is new: the bus appends without reading its stream first.
    pub(super) fresh: bool,
    location: Option<String>,
    key: Option<crate::idempotency::IdempotencyKey>,
    members: Vec<(&'static str, serde_json::Value)>,
}

impl Reply {
    /// `201 Created` at `location`, for a command that creates its aggregate under a new id
    /// (the bus then does not read the stream first).
    pub fn created(location: impl Into<String>) -> Self {
        Self {
            created: true,
            fresh: true,
            location: Some(location.into()),
            key: None,
            members: Vec::new(),
        }
    }

    /// `201 Created` at `location`, for a command that creates something inside an existing
    /// aggregate (an address in a customer's book).
    pub fn added(location: impl Into<String>) -> Self {
        Self {
            fresh: false,
            ..Self::created(location)
        }
    }

    /// The same reply with one more member in its body (`address_id`).
    #[must_use]
    pub fn with_member(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.members.push((key, value.into()));
        self
    }

    /// `202 Accepted` at `location`, for any other command.
    pub fn changed(location: impl Into<String>) -> Self {
        Self {
            created: false,
            fresh: false,
            location: Some(location.into()),
            key: None,
            members: Vec::new(),
        }
    }

    /// `201 Created` without a `Location`, for a bulk creation.
    pub fn bulk() -> Self {
        Self {
            created: true,
            fresh: true,
            location: None,
            key: None,
            members: Vec::new(),
        }
    }

    /// The same reply, stored under the request's `Idempotency-Key` (if it has one) in the
    /// same statement as the events.
    #[must_use]
    pub fn keyed(self, key: Option<crate::idempotency::IdempotencyKey>) -> Self {
        Self { key, ..self }
    }

    fn status(&self) -> StatusCode {
        if self.created {
            StatusCode::CREATED
        } else {
            StatusCode::ACCEPTED
        }
    }

    pub(super) fn render(&self, body: &impl Serialize) -> Result<Answer, serde_json::Error> {
        let body = if self.members.is_empty() {
            serde_json::to_vec(body)?
        } else {
            let mut value = serde_json::to_value(body)?;
            if let Some(object) = value.as_object_mut() {
                for (key, member) in &self.members {
                    object.insert((*key).to_owned(), member.clone());
                }
            }
            serde_json::to_vec(&value)?
        };
        Ok(Answer {
            status: self.status(),
            body,
            location: self.location.clone(),
            stored: false,
        })
    }

    pub(super) fn stored(&self, answer: &Answer) -> Option<StoredAnswer> {
        self.key.as_ref().map(|k| StoredAnswer {
            principal: k.principal.clone(),
            key: k.key.clone(),
            request_hash: k.request_hash.clone(),
            status: answer.status.as_u16(),
            body: answer.body.clone(),
            location: answer.location.clone(),
            ttl: k.ttl,
        })
    }
}

/// The HTTP answer of an accepted command, exactly as sent (and, when `stored`, as kept under
/// its `Idempotency-Key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `201` or `202`.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The `Location`.
    pub location: Option<String>,
    /// Whether it was stored with the events (else the idempotency middleware stores it).
    pub stored: bool,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(l) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, l);
        }
        if self.stored {
            response
                .extensions_mut()
                .insert(crate::idempotency::AnswerStored);
        }
        response
    }
}

/// The request's `Idempotency-Key` already has an answer: another request with it committed
/// first. The idempotency middleware answers with that one.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the Idempotency-Key already has an answer")]
pub struct KeyTaken;
