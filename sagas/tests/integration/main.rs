//! Integration tests of the sagas crate, one binary: `helpers` builds the inputs, each other
//! module covers one part of the crate.

mod helpers;
mod images;
