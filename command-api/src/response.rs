//! The answer to an accepted command: `{"id", "version"}` with a `Location` to read it from.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The body of every accepted command.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommandAccepted {
    /// The aggregate's id.
    pub id: Uuid,
    /// The aggregate's version after the command; pass it as `min_version` to the query API
    /// to read your own write.
    pub version: usize,
}

/// `201 Created` or `202 Accepted` with a `Location`.
#[derive(Debug)]
pub struct Accepted {
    status: StatusCode,
    body: CommandAccepted,
    location: String,
}

impl Accepted {
    /// `201` for a creation.
    pub fn created(id: Uuid, version: usize, location: String) -> Self {
        Self {
            status: StatusCode::CREATED,
            body: CommandAccepted { id, version },
            location,
        }
    }

    /// `202` for any other command.
    pub fn changed(id: Uuid, version: usize, location: String) -> Self {
        Self {
            status: StatusCode::ACCEPTED,
            body: CommandAccepted { id, version },
            location,
        }
    }
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::LOCATION, self.location)],
            axum::Json(self.body),
        )
            .into_response()
    }
}

/// The problem for a failed command: `rejection` maps the aggregate's own refusals; a
/// conflict, an unreachable store and anything unexpected read the same for every aggregate.
pub fn command_problem<E: std::error::Error>(
    e: cqrs_es::AggregateError<E>,
    what: &str,
    rejection: impl FnOnce(E) -> platform::http::ApiError,
) -> platform::http::ApiError {
    use cqrs_es::AggregateError as A;
    use platform::http::ApiError;
    match e {
        A::UserError(e) => rejection(e),
        A::AggregateConflict => ApiError::conflict(
            "concurrent_modification",
            format!("the {what} was changed concurrently; read it again and retry"),
        ),
        A::DatabaseConnectionError(e) => {
            tracing::warn!(error = %e, "event store unreachable");
            ApiError::unavailable("the event store is unreachable")
        }
        A::DeserializationError(e) | A::UnexpectedError(e) => {
            ApiError::internal(&format!("{what} command"), e.as_ref())
        }
    }
}

/// Runs a bulk creation and answers `201` with the new ids in request order; a refused item's
/// problem names its `index`.
pub async fn create_many<A>(
    bus: &crate::bus::CommandBus<A>,
    name: &'static str,
    items: Vec<(String, A::Command)>,
    ctx: &crate::context::CommandContext,
    problem: fn(cqrs_es::AggregateError<A::Error>) -> platform::http::ApiError,
) -> Result<(StatusCode, axum::Json<crate::products::BulkCreated>), platform::http::ApiError>
where
    A: cqrs_es::Aggregate,
    A::Command: Clone,
{
    let ids: Vec<Uuid> = items
        .iter()
        .filter_map(|(id, _)| Uuid::parse_str(id).ok())
        .collect();
    let done = bus
        .create_many(name, items, ctx.metadata(None))
        .await
        .map_err(|(index, e)| match index {
            Some(i) => problem(e).with("index", i),
            None => problem(e),
        })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(crate::products::BulkCreated {
            items: ids
                .into_iter()
                .zip(done)
                .map(|(id, c)| CommandAccepted {
                    id,
                    version: c.version,
                })
                .collect(),
        }),
    ))
}
