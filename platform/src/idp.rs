//! The local identity provider's fixed parts (Keycloak in local runs and tests): the realm,
//! the tests' client, the demo users. `freshline idp realm` writes them into the realm file
//! Keycloak imports; tests log in with them. None of this is a secret anywhere but on a
//! developer's machine: a deployment imports its own realm.

use crate::auth::Role;

/// The realm's name.
pub const REALM: &str = "freshline";

/// Where the storefront and the operations console are served: the local gateway, and the
/// gateway the browser tests start (the realm's redirect URIs and web origins).
pub const FRONTENDS: &[&str] = &["http://127.0.0.1:8000", "http://127.0.0.1:28400"];
/// The confidential client tests and scripts log in with (local runs only).
pub const TEST_CLIENT: &str = "freshline-tests";
/// Its secret (local runs only; a deployment imports its own realm).
pub const TEST_CLIENT_SECRET: &str = "freshline-tests-local-secret";
/// The demo admin's TOTP secret, as Keycloak keeps it (the HMAC key is these bytes; an
/// authenticator app takes their base32 form, printed by `make up`).
pub const DEMO_ADMIN_TOTP_SECRET: &str = "FreshlineDemoOtpKey1";

/// A demo user of the realm.
#[derive(Debug, Clone, Copy)]
pub struct DemoUser {
    /// Login name.
    pub username: &'static str,
    /// Password (local runs only).
    pub password: &'static str,
    /// Role.
    pub role: Role,
    /// Keycloak user id: the `sub` of its tokens, fixed so demo data can name it.
    pub id: &'static str,
    /// Whether it logs in with a one-time password too.
    pub otp: bool,
}

/// The demo users: an admin with OTP, a supplier, a customer, a rider, an auditor, warehouse
/// staff.
pub const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        username: "admin",
        password: "admin-pass",
        role: Role::Admin,
        id: "00000000-0000-4000-8000-00000000ad01",
        otp: true,
    },
    DemoUser {
        username: "supplier",
        password: "supplier-pass",
        role: Role::Supplier,
        id: "00000000-0000-4000-8000-000000005501",
        otp: false,
    },
    DemoUser {
        username: "customer",
        password: "customer-pass",
        role: Role::Customer,
        id: "00000000-0000-4000-8000-0000000c0501",
        otp: false,
    },
    DemoUser {
        username: "rider",
        password: "rider-pass",
        role: Role::Rider,
        id: "00000000-0000-4000-8000-00000000d101",
        otp: false,
    },
    DemoUser {
        username: "auditor",
        password: "auditor-pass",
        role: Role::Auditor,
        id: "00000000-0000-4000-8000-00000000a501",
        otp: false,
    },
    DemoUser {
        username: "warehouse",
        password: "warehouse-pass",
        role: Role::Warehouse,
        id: "00000000-0000-4000-8000-00000000e401",
        otp: false,
    },
];
