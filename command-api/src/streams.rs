//! Tickets for live streams: a browser's `EventSource` cannot send a bearer token, so it asks
//! here (with its token) for a single-use ticket, valid 60 s, for one stream, and opens the
//! stream on query-api with `?ticket=`. The stream checks the caller's rights when it opens.

use crate::context::CommandContext;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::StreamTicketBody;
use serde::Serialize;
use utoipa::ToSchema;

/// A ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamTicket {
    /// Pass as `?ticket=` when opening the stream; single use.
    pub ticket: String,
    /// The stream it opens.
    pub stream: String,
    /// Until when it can be used.
    pub expires_at: DateTime<Utc>,
}

/// A single-use ticket (60 s) for opening a live stream without a bearer header.
#[utoipa::path(post, path = "/v1/streams/tickets", tag = "streams", request_body = StreamTicketBody,
    responses((status = 201, body = StreamTicket), (status = 401, body = platform::http::Problem),
        (status = 422, description = "`validation_failed` (`stream`)", body = platform::http::Problem)),
    security(("bearer" = [])))]
pub async fn ticket(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<StreamTicketBody>,
) -> Result<(StatusCode, Json<StreamTicket>), ApiError> {
    if !platform::tickets::is_stream(&body.stream) {
        return Err(ApiError::validation(vec![FieldError::new(
            "stream",
            "/v1/streams/orders/{id} or /v1/streams/ops",
        )]));
    }
    let (ticket, expires_at) = platform::tickets::issue(&app.pool, &ctx.principal, &body.stream)
        .await
        .map_err(|e| {
            platform::telemetry::log_error_chain("issuing a stream ticket", &e);
            ApiError::unavailable("the database is unreachable")
        })?;
    Ok((
        StatusCode::CREATED,
        Json(StreamTicket {
            ticket,
            stream: body.stream,
            expires_at,
        }),
    ))
}
