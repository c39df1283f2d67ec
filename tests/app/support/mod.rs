//! Test doubles for the outside services the app talks to.
// Not every test uses every helper.
#![allow(dead_code)]

pub mod mock_provider;
pub mod smtp_sink;
