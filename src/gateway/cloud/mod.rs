//! Cloud providers' own plumbing: AWS SigV4 signing and event-stream framing (Bedrock),
//! and Google's service-account token source (Vertex AI). No HTTP handling of Keyhold's own.

pub mod eventstream;
pub mod google;
pub mod sigv4;
pub mod urls;
