//! Test doubles for the outside services the app talks to.
// Not every test uses every helper.
#![allow(dead_code)]

pub mod azure_mock;
pub mod bedrock_mock;
pub mod google_mock;
pub mod loopback_http;
pub mod mock_provider;
pub mod sigv4_verify;
pub mod smtp_sink;
