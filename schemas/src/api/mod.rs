//! The HTTP contract of command-api's routes, shared by command-api (which reads these bodies)
//! and every service that calls it (the sagas, the scheduler, the image worker, the simulators,
//! the CLI), so a caller builds the same type the route reads, never a `json!` object.
//!
//! [`Call`] is one request: a route's path, built once here by a function per route in
//! [`calls`], and its typed body. The bodies keep the names, fields and documentation the
//! OpenAPI document shows.

pub mod calls;
mod common;
mod customers;
mod deliveries;
mod inventory;
mod orders;
mod payments;
mod products;
mod suppliers;

pub use common::*;
pub use customers::*;
pub use deliveries::*;
pub use inventory::*;
pub use orders::*;
pub use payments::*;
pub use products::*;
pub use suppliers::*;

use serde::Serialize;

/// How a route is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `POST`: every command.
    Post,
    /// `PATCH`: a partial update.
    Patch,
    /// `PUT`: a replacement (preferences, consent, a cart line).
    Put,
}

impl From<Method> for http::Method {
    fn from(m: Method) -> Self {
        match m {
            Method::Post => Self::POST,
            Method::Patch => Self::PATCH,
            Method::Put => Self::PUT,
        }
    }
}

impl Method {
    /// The method's name in lower case, as OpenAPI documents key their operations.
    pub const fn openapi_key(self) -> &'static str {
        match self {
            Self::Post => "post",
            Self::Patch => "patch",
            Self::Put => "put",
        }
    }
}

/// One request to a command-api route: `method` to `path` with `body`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call<B: Serialize> {
    /// The method.
    pub method: Method,
    /// The path, ids filled in.
    pub path: String,
    /// The body.
    pub body: B,
}

impl<B: Serialize> Call<B> {
    /// `POST path` with `body`.
    pub fn post(path: String, body: B) -> Self {
        Self {
            method: Method::Post,
            path,
            body,
        }
    }

    /// `PUT path` with `body`.
    pub fn put(path: String, body: B) -> Self {
        Self {
            method: Method::Put,
            path,
            body,
        }
    }

    /// `PATCH path` with `body`.
    pub fn patch(path: String, body: B) -> Self {
        Self {
            method: Method::Patch,
            path,
            body,
        }
    }
}

/// The body of a route that takes none: serialised as `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NoBody {}

/// An integer, also when it is written as a whole float (`3006.0` is the same JSON number as
/// `3006`; many encoders write whole floats that way): `#[serde(deserialize_with = "whole")]`.
///
/// # Errors
/// When the number is not whole or out of `T`'s range.
pub fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::Error;
    use serde::Deserialize as _;
    // Below 2^53 every whole float is exact.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let n = serde_json::Number::deserialize(deserializer)?;
    let i = n
        .as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < EXACT)
                .map(|f| f as i64)
        })
        .ok_or_else(|| D::Error::custom(format!("expected a whole number, found {n}")))?;
    T::try_from(i).map_err(|_| D::Error::custom(format!("{n} is out of range")))
}
