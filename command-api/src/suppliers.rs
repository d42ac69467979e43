//! Supplier commands: request bodies, their validation into domain commands, the routes, and
//! the mapping of supplier rejections to problem codes.

use crate::context::CommandContext;
use crate::request::{Fields, Parse, SupplierPath};
use crate::response::resource;
use crate::response::Accepted;
use crate::AppState;
use axum::extract::State;
use domain::supplier::{
    ApproveSupplier, RegisterSupplier, ReinstateSupplier, RejectSupplier, SubmitDocument,
    SuspendSupplier,
};
use domain::values::{
    Address, AddressLine, City, CountryCode, DocumentReference, Email, LegalName, Note, Phone,
    PostalCode, ProductCategory, Reason, RegistrationNumber,
};
use domain::{Supplier, SupplierCommand, SupplierId};
use platform::bus::CommandBus;
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::{NoteBody, ReasonBody, RegisterSupplierBody, SubmitDocumentBody, SuspendBody};
use std::sync::Arc;

/// Supplier commands.
#[derive(Debug)]
pub struct SupplierService {
    bus: CommandBus<Supplier>,
}

impl SupplierService {
    /// The service over `bus` (which claims registration numbers, see [`crate::registry`]).
    pub fn new(bus: CommandBus<Supplier>) -> Self {
        Self { bus }
    }
}

// --- request bodies ---------------------------------------------------------------------

fn register_command(
    body: RegisterSupplierBody,
    ctx: &CommandContext,
    id: SupplierId,
) -> Result<RegisterSupplier, ApiError> {
    let mut f = Fields::default();
    let legal_name = f.take::<LegalName>("legal_name", &body.legal_name);
    let registration_number =
        f.take::<RegistrationNumber>("registration_number", &body.registration_number);
    let contact_email = f.take::<Email>("contact_email", &body.contact_email);
    let phone = f.take::<Phone>("phone", &body.phone);
    let line1 = f.take::<AddressLine>("address.line1", &body.address.line1);
    let city = f.take::<City>("address.city", &body.address.city);
    let postal_code = f.take::<PostalCode>("address.postal_code", &body.address.postal_code);
    let country = f.take::<CountryCode>("address.country", &body.address.country);
    let categories: std::collections::BTreeSet<ProductCategory> =
        body.categories.iter().map(|c| (*c).into()).collect();
    if categories.is_empty() {
        f.0.push(FieldError::new(
            "categories",
            "at least one category is required",
        ));
    }
    if body.categories.len() > 6 {
        f.0.push(FieldError::new("categories", "at most 6 categories"));
    }
    let owner = match (ctx.caller(), body.owner_subject) {
        (domain::Caller::Admin, Some(s)) => match crate::request::text("owner_subject", &s, 200) {
            Ok(subject) => Some(subject),
            Err(_) => {
                f.0.push(FieldError::new(
                    "owner_subject",
                    "1 to 200 characters, no control characters",
                ));
                None
            }
        },
        (_, Some(_)) => {
            f.0.push(FieldError::new(
                "owner_subject",
                "only an admin may set the owner",
            ));
            None
        }
        (_, None) => None,
    };
    let parsed = (|| {
        Some(RegisterSupplier {
            caller: ctx.caller(),
            supplier_id: id,
            owner,
            legal_name: legal_name?,
            registration_number: registration_number?,
            contact_email: contact_email?,
            phone: phone?,
            address: Address {
                line1: line1?,
                city: city?,
                postal_code: postal_code?,
                country: country?,
            },
            categories,
        })
    })();
    f.finish(parsed)
}

// --- routes -----------------------------------------------------------------------------

/// Register a supplier; it starts `pending`.
#[utoipa::path(
    post, path = "/v1/suppliers", tag = "suppliers",
    request_body = RegisterSupplierBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first answer")),
    responses(
        (status = 201, description = "Registered", body = crate::response::CommandAccepted),
        (status = 409, description = "`duplicate_registration` or `credentials_blocked`", body = platform::http::Problem),
        (status = 422, description = "`validation_failed`", body = platform::http::Problem),
    ),
    security(("bearer" = ["suppliers:register"]))
)]
pub async fn register(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<RegisterSupplierBody>,
) -> Result<Accepted, ApiError> {
    // With an Idempotency-Key the id is derived from it, so a retry that outlives its stored
    // answer registers the same supplier again: a no-op that answers like the first time.
    let id = SupplierId(crate::request::new_id(&ctx, "supplier"));
    let cmd = register_command(body, &ctx, id)?;
    resource(&app.suppliers.bus, "/v1/suppliers")
        .create(&ctx, id, "register", SupplierCommand::Register(cmd))
        .await
}

/// File a verification document (while `pending` or `approved`).
#[utoipa::path(
    post, path = "/v1/suppliers/{id}/documents", tag = "suppliers",
    request_body = SubmitDocumentBody,
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 202, description = "Filed", body = crate::response::CommandAccepted),
        (status = 403, description = "`insufficient_scope` or `not_owner`", body = platform::http::Problem),
        (status = 409, description = "`invalid_transition`", body = platform::http::Problem),
    ),
    security(("bearer" = ["suppliers:write"]))
)]
pub async fn submit_document(
    State(app): State<AppState>,
    ctx: CommandContext,
    SupplierPath(id): SupplierPath,
    ValidJson(body): ValidJson<SubmitDocumentBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    let reference = f.take::<DocumentReference>("reference", &body.reference);
    let cmd = f.finish(reference.map(|reference| SubmitDocument {
        caller: ctx.caller(),
        kind: body.kind.into(),
        reference,
        expires_on: body.expires_on,
        today: ctx.received_at.date_naive(),
    }))?;
    resource(&app.suppliers.bus, "/v1/suppliers")
        .change(
            &ctx,
            id,
            "submit_document",
            SupplierCommand::SubmitDocument(cmd),
            None,
        )
        .await
}

/// Approve a pending supplier (needs a valid `business_license`).
#[utoipa::path(
    post, path = "/v1/suppliers/{id}/approve", tag = "suppliers",
    request_body(content = NoteBody, description = "Optional; an empty body is accepted"),
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 202, description = "Approved", body = crate::response::CommandAccepted),
        (status = 409, description = "`invalid_transition` or `verification_incomplete`", body = platform::http::Problem),
    ),
    security(("bearer" = ["suppliers:approve"]))
)]
pub async fn approve(
    State(app): State<AppState>,
    ctx: CommandContext,
    SupplierPath(id): SupplierPath,
    ValidJson(body): ValidJson<NoteBody>,
) -> Result<Accepted, ApiError> {
    let note = body.parse()?;
    let reason = note.as_ref().map(|n| n.as_str().to_owned());
    let today = ctx.received_at.date_naive();
    let cmd = SupplierCommand::Approve(ApproveSupplier { note, today });
    change(&app, &ctx, id, "approve", cmd, reason).await
}

/// Reject a pending supplier, for good (its registration number is blocked).
#[utoipa::path(
    post, path = "/v1/suppliers/{id}/reject", tag = "suppliers",
    request_body = ReasonBody,
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 202, description = "Rejected", body = crate::response::CommandAccepted),
        (status = 409, description = "`invalid_transition`", body = platform::http::Problem),
    ),
    security(("bearer" = ["suppliers:approve"]))
)]
pub async fn reject(
    State(app): State<AppState>,
    ctx: CommandContext,
    SupplierPath(id): SupplierPath,
    ValidJson(body): ValidJson<ReasonBody>,
) -> Result<Accepted, ApiError> {
    let reason = body.parse()?;
    let text = reason.as_str().to_owned();
    let cmd = SupplierCommand::Reject(RejectSupplier { reason });
    change(&app, &ctx, id, "reject", cmd, Some(text)).await
}

/// Suspend an approved supplier (data kept; no new orders).
#[utoipa::path(
    post, path = "/v1/suppliers/{id}/suspend", tag = "suppliers",
    request_body = SuspendBody,
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 202, description = "Suspended", body = crate::response::CommandAccepted),
        (status = 409, description = "`invalid_transition`", body = platform::http::Problem),
    ),
    security(("bearer" = ["suppliers:approve"]))
)]
pub async fn suspend(
    State(app): State<AppState>,
    ctx: CommandContext,
    SupplierPath(id): SupplierPath,
    ValidJson(body): ValidJson<SuspendBody>,
) -> Result<Accepted, ApiError> {
    let reason = ReasonBody {
        reason: body.reason,
    }
    .parse()?;
    let text = reason.as_str().to_owned();
    let code = body.reason_code.into();
    let cmd = SupplierCommand::Suspend(SuspendSupplier { reason, code });
    change(&app, &ctx, id, "suspend", cmd, Some(text)).await
}

/// Reinstate a suspended supplier.
#[utoipa::path(
    post, path = "/v1/suppliers/{id}/reinstate", tag = "suppliers",
    request_body(content = NoteBody, description = "Optional; an empty body is accepted"),
    params(("id" = Uuid, Path, description = "Supplier id")),
    responses(
        (status = 202, description = "Reinstated", body = crate::response::CommandAccepted),
        (status = 409, description = "`invalid_transition`", body = platform::http::Problem),
    ),
    security(("bearer" = ["suppliers:approve"]))
)]
pub async fn reinstate(
    State(app): State<AppState>,
    ctx: CommandContext,
    SupplierPath(id): SupplierPath,
    ValidJson(body): ValidJson<NoteBody>,
) -> Result<Accepted, ApiError> {
    let note = body.parse()?;
    let reason = note.as_ref().map(|n| n.as_str().to_owned());
    let cmd = SupplierCommand::Reinstate(ReinstateSupplier { note });
    change(&app, &ctx, id, "reinstate", cmd, reason).await
}

/// Executes a command on an existing supplier and answers `202` with its new version.
async fn change(
    app: &AppState,
    ctx: &CommandContext,
    id: SupplierId,
    name: &'static str,
    command: SupplierCommand,
    reason: Option<String>,
) -> Result<Accepted, ApiError> {
    resource(&app.suppliers.bus, "/v1/suppliers")
        .change(ctx, id, name, command, reason.as_deref())
        .await
}

impl Parse for ReasonBody {
    type Value = Reason;
    fn parse(&self) -> Result<Reason, ApiError> {
        let mut f = Fields::default();
        let reason = f.take::<Reason>("reason", &self.reason);
        f.finish(reason)
    }
}

impl Parse for NoteBody {
    type Value = Option<Note>;
    fn parse(&self) -> Result<Option<Note>, ApiError> {
        let mut f = Fields::default();
        let note = f.optional::<Note>("note", self.note.as_deref());
        f.finish(note)
    }
}

/// Shared so the app can build the service once.
pub type SharedSuppliers = Arc<SupplierService>;
