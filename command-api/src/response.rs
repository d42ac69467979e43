//! The answer to an accepted command, and the problem of a refused one.

/// The answer of an accepted command (`201` or `202`, `{"id", "version"}`, a `Location`),
/// rendered by the command bus and sent exactly as it stored it.
pub type Accepted = platform::bus::Answer;

pub use platform::bus::{BulkCreated, CommandAccepted};

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
        A::UnexpectedError(e) if e.is::<platform::bus::KeyTaken>() => ApiError::conflict(
            platform::idempotency::REPLAY_CODE,
            "another request with this Idempotency-Key was answered first",
        ),
        A::DeserializationError(e) | A::UnexpectedError(e) => {
            ApiError::internal(&format!("{what} command"), e.as_ref())
        }
    }
}

/// Runs `command` on aggregate `id` through the command pipeline, with the context's metadata
/// and its `Idempotency-Key` (the answer `reply` describes is stored with the events), mapping
/// a failure with `problem`. Every command route goes through here.
// One argument per thing the handlers vary; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn execute<A>(
    bus: &platform::bus::CommandBus<A>,
    ctx: &crate::context::CommandContext,
    id: impl std::fmt::Display,
    name: &'static str,
    command: A::Command,
    reason: Option<&str>,
    problem: fn(cqrs_es::AggregateError<A::Error>) -> platform::http::ApiError,
    reply: platform::bus::Reply,
) -> Result<platform::bus::Committed, platform::http::ApiError>
where
    A: cqrs_es::Aggregate,
    A::Command: Clone,
{
    bus.execute(
        &id.to_string(),
        name,
        command,
        ctx.metadata(reason),
        &reply.keyed(ctx.idempotency.clone()),
    )
    .await
    .map_err(problem)
}

/// Runs a bulk creation and answers `201` with the new ids in request order; a refused item's
/// problem names its `index`.
pub async fn create_many<A>(
    bus: &platform::bus::CommandBus<A>,
    name: &'static str,
    items: Vec<(String, A::Command)>,
    ctx: &crate::context::CommandContext,
    problem: fn(cqrs_es::AggregateError<A::Error>) -> platform::http::ApiError,
) -> Result<Accepted, platform::http::ApiError>
where
    A: cqrs_es::Aggregate,
    A::Command: Clone,
{
    let reply = platform::bus::Reply::bulk().keyed(ctx.idempotency.clone());
    bus.create_many(name, items, ctx.metadata(None), &reply)
        .await
        .map_err(|(index, e)| match index {
            Some(i) => problem(e).with("index", i),
            None => problem(e),
        })
}
