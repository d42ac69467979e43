//! The answer to an accepted command, the problem of a refused one, and the one way every
//! command route runs its command.

use crate::context::CommandContext;
use cqrs_es::{Aggregate, AggregateError};
use domain::{Refusal, RefusalKind};
use platform::bus::{CommandBus, Committed, Reply};
use platform::http::{ApiError, FieldError};

/// The answer of an accepted command (`201` or `202`, `{"id", "version"}`, a `Location`),
/// rendered by the command bus and sent exactly as it stored it.
pub type Accepted = platform::bus::Answer;

pub use platform::bus::{BulkCreated, CommandAccepted};

/// The problem for an aggregate's refusal: its kind decides the status, its code and
/// details fill the body. The one mapping from domain refusals to problem documents.
pub fn refusal_problem(e: &impl Refusal) -> ApiError {
    use axum::http::StatusCode;
    let problem = match e.kind() {
        RefusalKind::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, e.code(), "Not found", e.to_string())
        }
        RefusalKind::Invalid { field, message } => {
            ApiError::validation(vec![FieldError::new(field, message)])
        }
        RefusalKind::Conflict => ApiError::conflict(e.code(), e.to_string()),
        RefusalKind::Forbidden => ApiError::new(
            StatusCode::FORBIDDEN,
            e.code(),
            "Not permitted",
            e.to_string(),
        ),
        RefusalKind::Unavailable => {
            tracing::warn!(error = %e, "a fact a command needs is unavailable");
            ApiError::unavailable(e.to_string())
        }
        RefusalKind::Fault => return ApiError::internal("command", e),
    };
    e.details()
        .into_iter()
        .fold(problem, |p, (key, value)| p.with(key, value))
}

/// The problem for a failed command: the aggregate's own refusals by [`refusal_problem`]; a
/// conflict, an unreachable store and anything unexpected read the same for every aggregate.
pub fn command_problem<E: Refusal>(e: AggregateError<E>) -> ApiError {
    use AggregateError as A;
    match e {
        A::UserError(e) => refusal_problem(&e),
        A::AggregateConflict => ApiError::conflict(
            "concurrent_modification",
            "it was changed concurrently; read it again and retry",
        ),
        A::DatabaseConnectionError(e) => {
            tracing::warn!(error = %e, "event store unreachable");
            ApiError::unavailable("the event store is unreachable")
        }
        A::UnexpectedError(e) if e.is::<platform::bus::KeyTaken>() => ApiError::conflict(
            platform::idempotency::REPLAY_CODE,
            "another request with this Idempotency-Key was answered first",
        ),
        A::DeserializationError(e) | A::UnexpectedError(e) => {
            ApiError::internal("command", e.as_ref())
        }
    }
}

/// Runs `command` on aggregate `id` through the command pipeline, with the context's metadata
/// and its `Idempotency-Key` (the answer `reply` describes is stored with the events). Every
/// command route goes through here.
pub(crate) async fn execute<A>(
    bus: &CommandBus<A>,
    ctx: &CommandContext,
    id: impl std::fmt::Display,
    name: &'static str,
    command: A::Command,
    reason: Option<&str>,
    reply: Reply,
) -> Result<Committed, ApiError>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: Refusal,
{
    bus.execute(
        &id.to_string(),
        name,
        command,
        ctx.metadata(reason),
        &reply.keyed(ctx.idempotency.clone()),
    )
    .await
    .map_err(command_problem)
}

/// An aggregate's commands as routes run them: its bus, and where its resources are read
/// (`{at}/{id}`, the answer's `Location`).
pub(crate) struct Resource<'a, A: Aggregate> {
    bus: &'a CommandBus<A>,
    at: &'static str,
}

/// The aggregates on `bus`, read at `{at}/{id}`.
pub(crate) fn resource<'a, A: Aggregate>(
    bus: &'a CommandBus<A>,
    at: &'static str,
) -> Resource<'a, A> {
    Resource { bus, at }
}

impl<A> Resource<'_, A>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: Refusal,
{
    /// Runs `command` on the existing `id` (with `reason` recorded when given): `202`.
    pub(crate) async fn change(
        &self,
        ctx: &CommandContext,
        id: impl std::fmt::Display,
        name: &'static str,
        command: A::Command,
        reason: Option<&str>,
    ) -> Result<Accepted, ApiError> {
        let reply = Reply::changed(format!("{}/{id}", self.at));
        Ok(execute(self.bus, ctx, id, name, command, reason, reply)
            .await?
            .answer)
    }

    /// Runs `command`, which creates `id`: `201`.
    pub(crate) async fn create(
        &self,
        ctx: &CommandContext,
        id: impl std::fmt::Display,
        name: &'static str,
        command: A::Command,
    ) -> Result<Accepted, ApiError> {
        let reply = Reply::created(format!("{}/{id}", self.at));
        Ok(execute(self.bus, ctx, id, name, command, None, reply)
            .await?
            .answer)
    }
}

/// Runs a bulk creation and answers `201` with the new ids in request order; a refused item's
/// problem names its `index`.
pub(crate) async fn create_many<A>(
    bus: &CommandBus<A>,
    name: &'static str,
    items: Vec<(String, A::Command)>,
    ctx: &CommandContext,
) -> Result<Accepted, ApiError>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: Refusal,
{
    let reply = Reply::bulk().keyed(ctx.idempotency.clone());
    bus.create_many(name, items, ctx.metadata(None), &reply)
        .await
        .map_err(|(index, e)| match index {
            Some(i) => command_problem(e).with("index", i),
            None => command_problem(e),
        })
}

/// An aggregate's current state, as the command pipeline would decide on it.
pub(crate) async fn load<A>(bus: &CommandBus<A>, id: impl std::fmt::Display) -> Result<A, ApiError>
where
    A: Aggregate,
    A::Command: Clone,
    A::Error: Refusal,
{
    bus.load(&id.to_string())
        .await
        .map(|(a, _)| a)
        .map_err(command_problem)
}
