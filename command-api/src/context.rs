//! The context of a command: who gives it, under which correlation id and idempotency key,
//! and when. Built by an extractor so handlers stay thin.

use axum::extract::FromRequestParts;
use chrono::{DateTime, Utc};
use domain::Caller;
use platform::auth::{Actor, Principal, Role};
use platform::http::{ApiError, CorrelationId};
use platform::idempotency::IdempotencyKey;
use schemas::metadata_keys as keys;
use std::collections::HashMap;

/// Everything a command records about its origin.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The authenticated caller.
    pub principal: Principal,
    /// Correlation id of the request.
    pub correlation_id: String,
    /// The event that caused the command (`X-Causation-Id`, sent by sagas and workers); a
    /// command given by a person is caused by its request (the correlation id).
    pub causation_id: Option<uuid::Uuid>,
    /// The request's `Idempotency-Key`, if any.
    pub idempotency_key: Option<String>,
    /// The key with its request hash, for storing the answer with the command's events.
    pub idempotency: Option<IdempotencyKey>,
    /// When the command was received.
    pub received_at: DateTime<Utc>,
}

impl<S: Send + Sync> FromRequestParts<S> for CommandContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let Ok(CorrelationId(correlation_id)) =
            CorrelationId::from_request_parts(parts, state).await;
        let idempotency = parts.extensions.get::<IdempotencyKey>().cloned();
        let causation_id = match parts.headers.get(platform::http::CAUSATION_HEADER) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|v| uuid::Uuid::parse_str(v.trim()).ok())
                    .ok_or_else(|| {
                        ApiError::new(
                            axum::http::StatusCode::BAD_REQUEST,
                            "invalid_causation_id",
                            "Invalid causation id",
                            "X-Causation-Id must be the id (a UUID) of the event that caused the command",
                        )
                    })?,
            ),
        };
        Ok(Self {
            principal,
            correlation_id,
            causation_id,
            idempotency_key: idempotency.as_ref().map(|k| k.key.clone()),
            idempotency,
            received_at: Utc::now(),
        })
    }
}

impl CommandContext {
    /// Checks the route's scope and the roles allowed to use it.
    ///
    /// # Errors
    /// `403 insufficient_scope`.
    pub fn authorize(&self, scope: &'static str, roles: &[Role]) -> Result<(), ApiError> {
        self.principal
            .authorize(scope, roles)
            .map_err(ApiError::from)
    }

    /// The caller as the domain sees it.
    pub fn caller(&self) -> Caller {
        match &self.principal.actor {
            Actor::Person(Role::Admin) => Caller::Admin,
            Actor::Person(Role::Supplier) => Caller::Supplier {
                subject: self.principal.subject.clone(),
            },
            Actor::Person(role) => Caller::Service {
                name: role.as_str().to_owned(),
            },
            Actor::Service(name) => Caller::Service { name: name.clone() },
        }
    }

    /// The metadata recorded on every event the command appends.
    pub fn metadata(&self, reason: Option<&str>) -> HashMap<String, String> {
        let mut m = HashMap::with_capacity(7);
        m.insert(keys::ACTOR_SUB.to_owned(), self.principal.subject.clone());
        match &self.principal.actor {
            Actor::Person(role) => m.insert(keys::ACTOR_ROLE.to_owned(), role.as_str().to_owned()),
            Actor::Service(svc) => m.insert(keys::ACTOR_SERVICE.to_owned(), svc.clone()),
        };
        if let Some(r) = reason {
            m.insert(keys::REASON.to_owned(), r.to_owned());
        }
        m.insert(keys::CORRELATION_ID.to_owned(), self.correlation_id.clone());
        m.insert(
            keys::CAUSATION_ID.to_owned(),
            self.causation_id
                .map_or_else(|| self.correlation_id.clone(), |c| c.to_string()),
        );
        if let Some(k) = &self.idempotency_key {
            m.insert(keys::IDEMPOTENCY_KEY.to_owned(), k.clone());
        }
        m.insert(
            keys::RECORDED_AT.to_owned(),
            self.received_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        );
        m
    }
}
