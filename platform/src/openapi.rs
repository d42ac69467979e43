//! What every service's OpenAPI document says the same way: the bearer scheme, and the
//! problems any operation can answer because of the middleware in front of it (authentication,
//! scopes, rate limits, body limits, path and query parsing, an unreachable database), all as
//! `application/problem+json`. Each route documents only what its own handler decides.

use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::Required;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder};

use crate::http::PROBLEM_JSON;

/// An OpenAPI modifier: the `bearer` scheme and the shared problem responses (every service
/// authenticates with bearer tokens and limits each caller's rate).
#[derive(Debug, Clone, Copy)]
pub struct SharedProblems;

impl utoipa::Modify for SharedProblems {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (EdDSA)")
                    .build(),
            ),
        );
        for (_, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                (false, item.get.as_mut()),
                (true, item.post.as_mut()),
                (true, item.put.as_mut()),
                (true, item.patch.as_mut()),
                (true, item.delete.as_mut()),
            ];
            for (command, operation) in operations {
                if let Some(operation) = operation {
                    Self::complete(operation, command);
                }
            }
        }
    }
}

impl SharedProblems {
    fn complete(op: &mut Operation, command: bool) {
        let keyed = command && Self::declare_idempotency_key(op);
        Self::state_query_text_rule(op);
        let params = op.parameters.as_deref().unwrap_or_default();
        let has_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
        let has_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
        let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
        let body = op.request_body.is_some();

        let mut shared: Vec<(&str, &str)> = Vec::new();
        if body || keyed {
            shared.push((
                "400",
                "`malformed_json`: the body is not the JSON the schema describes; \
                 `invalid_idempotency_key`: the key is not 1 to 255 visible ASCII characters",
            ));
        }
        if secured {
            shared.push((
                "401",
                "`unauthenticated`: no token, or one that is invalid or expired",
            ));
            shared.push((
                "403",
                "`insufficient_scope`, or the caller may not act on this",
            ));
        }
        if has_path {
            shared.push((
                "404",
                "`not_found` (or a more precise code): nothing under this id",
            ));
        }
        if command {
            shared.push((
                "409",
                "A conflict with the current state: `concurrent_modification` (read again and \
                 retry), `idempotency_in_progress`, or the code of the rule the command breaks",
            ));
        }
        if body {
            shared.push(("413", "`payload_too_large`: the body exceeds the limit"));
            shared.push((
                "415",
                "`unsupported_media_type`: not one of the documented types",
            ));
        }
        if body || has_path || has_query || keyed {
            shared.push((
                "422",
                "`validation_failed`: `fields` names each invalid field or parameter; \
                 `idempotency_key_reused`: the key was used with another request",
            ));
        }
        shared.push(("429", "`rate_limited`: retry after `Retry-After` seconds"));
        shared.push((
            "500",
            "`internal`: an unexpected error, logged with the correlation id",
        ));
        shared.push((
            "503",
            "`unavailable`: a dependency is down; retry after `Retry-After`",
        ));

        for (status, description) in shared {
            op.responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| RefOr::T(problem(description)));
        }
        // Every error, whoever documented it, is a problem document.
        for (status, response) in op.responses.responses.iter_mut() {
            if let (true, RefOr::T(response)) = (status.starts_with(['4', '5']), response) {
                response.content = [(PROBLEM_JSON.to_owned(), problem_content())]
                    .into_iter()
                    .collect();
            }
        }
    }

    /// A free-text query parameter (a string with no pattern, format or enum of its own) takes
    /// no control character: [`crate::http::refuse_control_characters`] refuses them.
    fn state_query_text_rule(op: &mut Operation) {
        for param in op.parameters.iter_mut().flatten() {
            if param.parameter_in != ParameterIn::Query {
                continue;
            }
            if let Some(RefOr::T(Schema::Object(o))) = param.schema.as_mut() {
                let text = matches!(&o.schema_type, SchemaType::Type(Type::String))
                    || matches!(&o.schema_type, SchemaType::Array(types) if types.contains(&Type::String));
                if text && o.pattern.is_none() && o.format.is_none() && o.enum_values.is_none() {
                    o.pattern = Some(r"^[^\x00-\x1F\x7F]*$".to_owned());
                }
            }
        }
    }

    /// Declares the `Idempotency-Key` header (with its rule) on a command whose body is JSON
    /// or absent: every such route takes one. Says whether the operation has the header.
    fn declare_idempotency_key(op: &mut Operation) -> bool {
        let json_or_none = op
            .request_body
            .as_ref()
            .is_none_or(|b| b.content.keys().all(|t| t == "application/json"));
        let params = op.parameters.get_or_insert_with(Vec::new);
        let declared = params
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(crate::idempotency::HEADER));
        let index = match declared {
            Some(i) => i,
            None if json_or_none => {
                params.push(
                    ParameterBuilder::new()
                        .name("Idempotency-Key")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "Makes a retry return the first answer; the same key with another \
                             request is refused with `422 idempotency_key_reused`",
                        ))
                        .build(),
                );
                params.len() - 1
            }
            None => {
                if params.is_empty() {
                    op.parameters = None;
                }
                return false;
            }
        };
        params[index].schema = Some(RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]{1,255}$"))
                .build(),
        )));
        true
    }
}

fn problem_content() -> Content {
    Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
}

fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, problem_content())
        .build()
}
