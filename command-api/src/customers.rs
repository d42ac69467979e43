//! A customer's own record: every route acts on the caller's customer (its id derives from
//! the token subject), so a customer can never read or change another's. Profile, address
//! book, preferences, consent and push devices.

use crate::context::CommandContext;
use crate::request::{delivery_address, new_id, text, Fields, Ids};
use crate::response::{execute, resource, Accepted};
use crate::AppState;
use axum::extract::State;
use domain::customer::{
    customer_id, Consent, Customer, CustomerCommand, Preferences, Profile, SavedAddress,
};
use domain::fulfilment_values::DeliveryAddress;
use domain::values::{Email, Phone};
use platform::bus::{CommandBus, Reply};
use platform::http::{ApiError, FieldError, ValidJson};
use schemas::api::{
    AddAddressBody, ConsentBody, CustomerBody, DeviceBody, PreferencesBody, SavedAddressBody,
    UpdateAddressBody,
};
use uuid::Uuid;

/// Where customers are read.
const AT: &str = "/v1/customers";
/// The languages messages are written in.
pub const LANGUAGES: &[&str] = &["en", "nl"];
const PLATFORMS: &[&str] = &["ios", "android", "web"];

/// The customers' bus.
#[derive(Debug)]
pub struct CustomerService {
    pub(crate) bus: CommandBus<Customer>,
}

fn me(ctx: &CommandContext) -> Uuid {
    customer_id(&ctx.principal.subject)
}

fn saved_address(body: &SavedAddressBody, at: &str) -> Result<DeliveryAddress, ApiError> {
    let mut f = Fields::default();
    let address = delivery_address(
        &mut f,
        at,
        [&body.line1, &body.city, &body.postal_code, &body.country],
        Some(&body.location),
    );
    f.finish(address)
}

/// Create the caller's customer profile (again: the same answer; with other details, they
/// change).
#[utoipa::path(post, path = "/v1/customers/me", tag = "customers", request_body = CustomerBody,
    responses((status = 201, body = crate::response::CommandAccepted), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["customers:write"])))]
pub async fn register(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<CustomerBody>,
) -> Result<Accepted, ApiError> {
    let mut f = Fields::default();
    let email = f.take::<Email>("email", &body.email);
    let phone = f.optional::<Phone>("phone", body.phone.as_deref());
    let name = text("display_name", &body.display_name, 120).inspect_err(|_| {
        f.0.push(FieldError::new("display_name", "1 to 120 characters"))
    });
    let profile = match (email, phone, name) {
        (Some(email), Some(phone), Ok(display_name)) => Some(Profile {
            account: ctx.principal.subject.clone(),
            display_name,
            email: email.as_str().to_owned(),
            phone: phone.map(|p| p.as_str().to_owned()),
        }),
        _ => None,
    };
    let profile = f.finish(profile)?;
    resource(&app.customers.bus, AT)
        .create(
            &ctx,
            me(&ctx),
            "register",
            CustomerCommand::Register(profile),
        )
        .await
}

/// Add an address to the caller's book: `201` with its `address_id`.
#[utoipa::path(post, path = "/v1/customers/me/addresses", tag = "customers", request_body = AddAddressBody,
    responses((status = 201, description = "Added; the body names its `address_id`", body = crate::response::CommandAccepted),
        (status = 404, description = "`customer_not_found`", body = platform::http::Problem),
        (status = 409, description = "`too_many_addresses`", body = platform::http::Problem)),
    security(("bearer" = ["customers:write"])))]
pub async fn add_address(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<AddAddressBody>,
) -> Result<Accepted, ApiError> {
    let label = text("label", &body.label, 60)?;
    let address = saved_address(&body.address, "address")?;
    let address_id = new_id(&ctx, "address");
    let cmd = CustomerCommand::AddAddress {
        address: SavedAddress {
            address_id,
            label,
            address,
        },
        make_default: body.default,
    };
    let reply = Reply::added(format!("{AT}/me/addresses/{address_id}"))
        .with_member("address_id", address_id.to_string());
    Ok(execute(
        &app.customers.bus,
        &ctx,
        me(&ctx),
        "add_address",
        cmd,
        None,
        reply,
    )
    .await?
    .answer)
}

/// Change an address (label, place) or make it the default.
#[utoipa::path(patch, path = "/v1/customers/me/addresses/{address_id}", tag = "customers", request_body = UpdateAddressBody,
    params(("address_id" = Uuid, Path, description = "Address id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 404, description = "`address_not_found`", body = platform::http::Problem)),
    security(("bearer" = ["customers:write"])))]
pub async fn update_address(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(address_id, _): Ids,
    ValidJson(body): ValidJson<UpdateAddressBody>,
) -> Result<Accepted, ApiError> {
    let label = body
        .label
        .as_deref()
        .map(|l| text("label", l, 60))
        .transpose()?;
    let address = body
        .address
        .as_ref()
        .map(|a| saved_address(a, "address"))
        .transpose()?;
    let cmd = CustomerCommand::UpdateAddress {
        address_id,
        label,
        address,
        make_default: body.default,
    };
    resource(&app.customers.bus, AT)
        .change(&ctx, me(&ctx), "update_address", cmd, None)
        .await
}

/// Remove an address (the default passes to the oldest remaining one).
#[utoipa::path(post, path = "/v1/customers/me/addresses/{address_id}/remove", tag = "customers",
    params(("address_id" = Uuid, Path, description = "Address id")),
    responses((status = 202, body = crate::response::CommandAccepted), (status = 404, description = "`address_not_found`", body = platform::http::Problem)),
    security(("bearer" = ["customers:write"])))]
pub async fn remove_address(
    State(app): State<AppState>,
    ctx: CommandContext,
    Ids(address_id, _): Ids,
) -> Result<Accepted, ApiError> {
    resource(&app.customers.bus, AT)
        .change(
            &ctx,
            me(&ctx),
            "remove_address",
            CustomerCommand::RemoveAddress { address_id },
            None,
        )
        .await
}

/// Replace the caller's preferences.
#[utoipa::path(put, path = "/v1/customers/me/preferences", tag = "customers", request_body = PreferencesBody,
    responses((status = 202, body = crate::response::CommandAccepted), (status = 422, body = platform::http::Problem)),
    security(("bearer" = ["customers:write"])))]
pub async fn preferences(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<PreferencesBody>,
) -> Result<Accepted, ApiError> {
    let mut errors = Vec::new();
    let mut tags: Vec<String> = Vec::new();
    for (i, t) in body.tags.iter().enumerate() {
        match domain::ProductTag::parse(t) {
            Some(tag) if !tags.iter().any(|x| x == tag.as_str()) => {
                tags.push(tag.as_str().to_owned());
            }
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("tags[{i}]"),
                "one of organic, seasonal, local, imported",
            )),
        }
    }
    if !LANGUAGES.contains(&body.language.as_str()) {
        errors.push(FieldError::new("language", "one of en, nl"));
    }
    let dietary = match body.dietary.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) if d.chars().count() <= 500 && !d.chars().any(char::is_control) => {
            Some(d.to_owned())
        }
        Some(_) => {
            errors.push(FieldError::new(
                "dietary",
                "at most 500 characters, no control characters",
            ));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let cmd = CustomerCommand::SetPreferences(Preferences {
        tags,
        dietary,
        language: body.language,
    });
    resource(&app.customers.bus, AT)
        .change(&ctx, me(&ctx), "set_preferences", cmd, None)
        .await
}

/// Replace the caller's consent: marketing, and the channels messages may use.
#[utoipa::path(put, path = "/v1/customers/me/consent", tag = "customers", request_body = ConsentBody,
    responses((status = 202, body = crate::response::CommandAccepted)),
    security(("bearer" = ["customers:write"])))]
pub async fn consent(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<ConsentBody>,
) -> Result<Accepted, ApiError> {
    let cmd = CustomerCommand::SetConsent(Consent {
        marketing: body.marketing,
        email: body.channels.email,
        sms: body.channels.sms,
        push: body.channels.push,
    });
    resource(&app.customers.bus, AT)
        .change(&ctx, me(&ctx), "set_consent", cmd, None)
        .await
}

/// Register a device for push messages.
#[utoipa::path(post, path = "/v1/customers/me/devices", tag = "customers", request_body = DeviceBody,
    responses((status = 202, body = crate::response::CommandAccepted), (status = 409, description = "`too_many_devices`", body = platform::http::Problem)),
    security(("bearer" = ["customers:write"])))]
pub async fn device(
    State(app): State<AppState>,
    ctx: CommandContext,
    ValidJson(body): ValidJson<DeviceBody>,
) -> Result<Accepted, ApiError> {
    let token = body.push_token.trim();
    let mut errors = Vec::new();
    if token.is_empty() || token.len() > 400 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        errors.push(FieldError::new(
            "push_token",
            "1 to 400 printable ASCII characters",
        ));
    }
    if !PLATFORMS.contains(&body.platform.as_str()) {
        errors.push(FieldError::new("platform", "one of ios, android, web"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let cmd = CustomerCommand::RegisterDevice {
        push_token: token.to_owned(),
        platform: body.platform,
    };
    resource(&app.customers.bus, AT)
        .change(&ctx, me(&ctx), "register_device", cmd, None)
        .await
}
