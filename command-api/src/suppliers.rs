//! Supplier commands: request bodies, their validation into domain commands, the routes, and
//! the mapping of supplier rejections to problem codes.

use crate::context::CommandContext;
use crate::request::{CategoryBody, Fields, ReasonBody, SupplierPath};
use crate::response::Accepted;
use crate::AppState;
use axum::extract::State;
use chrono::NaiveDate;
use domain::supplier::{
    ApproveSupplier, RegisterSupplier, ReinstateSupplier, RejectSupplier, SubmitDocument,
    SuspendSupplier, SuspensionCode,
};
use domain::values::{
    Address, AddressLine, City, CountryCode, DocumentReference, Email, LegalName, Note, Phone,
    PostalCode, ProductCategory, Reason, RegistrationNumber,
};
use domain::{DocumentKind, Supplier, SupplierCommand, SupplierId};
use platform::bus::{CommandBus, Committed, Reply};
use platform::http::{ApiError, FieldError, ValidJson};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

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

    async fn execute(
        &self,
        ctx: &CommandContext,
        id: SupplierId,
        name: &'static str,
        command: SupplierCommand,
        reason: Option<&str>,
        reply: Reply,
    ) -> Result<Committed, ApiError> {
        crate::response::execute(&self.bus, ctx, id, name, command, reason, reply).await
    }
}

// --- request bodies ---------------------------------------------------------------------

/// A document kind.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKindBody {
    /// Business licence (required for approval).
    BusinessLicense,
    /// Tax certificate.
    TaxCertificate,
    /// Food safety certificate.
    FoodSafetyCertificate,
    /// Organic certificate.
    OrganicCertificate,
}

impl From<DocumentKindBody> for DocumentKind {
    fn from(k: DocumentKindBody) -> Self {
        match k {
            DocumentKindBody::BusinessLicense => Self::BusinessLicense,
            DocumentKindBody::TaxCertificate => Self::TaxCertificate,
            DocumentKindBody::FoodSafetyCertificate => Self::FoodSafetyCertificate,
            DocumentKindBody::OrganicCertificate => Self::OrganicCertificate,
        }
    }
}

/// A postal address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// Street and number (1-200 characters).
    #[schema(format = "address-line")]
    pub line1: String,
    /// City (1-100 characters).
    #[schema(format = "city")]
    pub city: String,
    /// Postal code (2-12 letters, digits, spaces, dashes).
    #[schema(format = "postal-code")]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(example = "NL")]
    #[schema(format = "country")]
    pub country: String,
}

/// `POST /v1/suppliers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterSupplierBody {
    /// Legal name (2-200 characters).
    #[schema(format = "legal-name")]
    pub legal_name: String,
    /// Company registration number (3-32 of A-Z 0-9 - / .; case and spaces ignored).
    #[schema(format = "registration-number")]
    pub registration_number: String,
    /// Contact e-mail.
    #[schema(format = "email")]
    pub contact_email: String,
    /// Contact phone: optional `+`, then 7-15 digits.
    #[schema(format = "phone")]
    pub phone: String,
    /// Business address.
    pub address: AddressBody,
    /// What the supplier sells (1-6 categories).
    #[schema(min_items = 1, max_items = 6)]
    pub categories: Vec<CategoryBody>,
    /// Admins only: the subject of the supplier account that will own this supplier.
    #[serde(default)]
    #[schema(format = "subject")]
    pub owner_subject: Option<String>,
}

/// `POST /v1/suppliers/{id}/documents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitDocumentBody {
    /// What the document certifies.
    pub kind: DocumentKindBody,
    /// The issuer's reference (1-100 characters).
    #[schema(format = "document-reference")]
    pub reference: String,
    /// Last day the document is valid (YYYY-MM-DD); must not be in the past.
    pub expires_on: NaiveDate,
}

/// `POST /v1/suppliers/{id}/approve` and `/reinstate`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// An optional note for the record (1-1000 characters).
    #[serde(default)]
    #[schema(format = "note")]
    pub note: Option<String>,
}

/// What kind of reason a suspension has.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuspensionCodeBody {
    /// A food safety incident.
    FoodSafety,
    /// Repeated quality complaints.
    Quality,
    /// Licences, certificates, legal obligations.
    Compliance,
    /// Payment or invoicing disputes.
    Payment,
    /// Anything else (the default).
    #[default]
    Other,
}

impl From<SuspensionCodeBody> for SuspensionCode {
    fn from(c: SuspensionCodeBody) -> Self {
        match c {
            SuspensionCodeBody::FoodSafety => Self::FoodSafety,
            SuspensionCodeBody::Quality => Self::Quality,
            SuspensionCodeBody::Compliance => Self::Compliance,
            SuspensionCodeBody::Payment => Self::Payment,
            SuspensionCodeBody::Other => Self::Other,
        }
    }
}

/// `POST /v1/suppliers/{id}/suspend`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendBody {
    /// Why (required, 3-1000 characters).
    #[schema(format = "domain-reason")]
    pub reason: String,
    /// The kind of reason (default `other`).
    #[serde(default)]
    pub reason_code: SuspensionCodeBody,
}

impl RegisterSupplierBody {
    fn into_command(
        self,
        ctx: &CommandContext,
        id: SupplierId,
    ) -> Result<RegisterSupplier, ApiError> {
        let mut f = Fields::default();
        let legal_name = f.take::<LegalName>("legal_name", &self.legal_name);
        let registration_number =
            f.take::<RegistrationNumber>("registration_number", &self.registration_number);
        let contact_email = f.take::<Email>("contact_email", &self.contact_email);
        let phone = f.take::<Phone>("phone", &self.phone);
        let line1 = f.take::<AddressLine>("address.line1", &self.address.line1);
        let city = f.take::<City>("address.city", &self.address.city);
        let postal_code = f.take::<PostalCode>("address.postal_code", &self.address.postal_code);
        let country = f.take::<CountryCode>("address.country", &self.address.country);
        let categories: std::collections::BTreeSet<ProductCategory> =
            self.categories.iter().map(|c| (*c).into()).collect();
        if categories.is_empty() {
            f.0.push(FieldError::new(
                "categories",
                "at least one category is required",
            ));
        }
        if self.categories.len() > 6 {
            f.0.push(FieldError::new("categories", "at most 6 categories"));
        }
        let owner = match (ctx.caller(), self.owner_subject) {
            (domain::Caller::Admin, Some(s)) => {
                match crate::request::text("owner_subject", &s, 200) {
                    Ok(subject) => Some(subject),
                    Err(_) => {
                        f.0.push(FieldError::new(
                            "owner_subject",
                            "1 to 200 characters, no control characters",
                        ));
                        None
                    }
                }
            }
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
    let cmd = body.into_command(&ctx, id)?;
    let done = app
        .suppliers
        .execute(
            &ctx,
            id,
            "register",
            SupplierCommand::Register(cmd),
            None,
            Reply::created(supplier_location(id)),
        )
        .await?;
    Ok(done.answer)
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
    let done = app
        .suppliers
        .execute(
            &ctx,
            id,
            "submit_document",
            SupplierCommand::SubmitDocument(cmd),
            None,
            Reply::changed(supplier_location(id)),
        )
        .await?;
    Ok(done.answer)
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
    let done = app
        .suppliers
        .execute(
            ctx,
            id,
            name,
            command,
            reason.as_deref(),
            Reply::changed(supplier_location(id)),
        )
        .await?;
    Ok(done.answer)
}

impl ReasonBody {
    pub(crate) fn parse(&self) -> Result<Reason, ApiError> {
        let mut f = Fields::default();
        let reason = f.take::<Reason>("reason", &self.reason);
        f.finish(reason)
    }
}

impl NoteBody {
    fn parse(&self) -> Result<Option<Note>, ApiError> {
        let mut f = Fields::default();
        let note = f.optional::<Note>("note", self.note.as_deref());
        f.finish(note)
    }
}

fn supplier_location(id: SupplierId) -> String {
    format!("/v1/suppliers/{id}")
}

/// Shared so the app can build the service once.
pub type SharedSuppliers = Arc<SupplierService>;
