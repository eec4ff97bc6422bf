//! Credentials: password hashing and API tokens.

pub mod password;
pub mod tokens;
