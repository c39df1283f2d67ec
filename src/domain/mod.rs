//! The domain core: rules of the product, free of HTTP and SQL.

pub mod audit;
pub mod audit_words;
pub mod credentials;
pub mod error_code;
pub mod ids;
pub mod money;
pub mod password;
pub mod providers;
pub mod resolution;
pub mod roles;
pub mod tokens;
pub mod vault;
