//! Multi-factor authentication devices: TOTP (RFC 6238), static recovery tokens, codes sent by
//! email or SMS
//! and the shared device model the WebAuthn stages use too. The stages
//! (`stages::authenticator_*`) and the own-devices API (`http::authenticators`) are built on
//! this module; it knows nothing of HTTP.

pub mod crypto;
pub mod devices;
pub mod email;
pub mod sent_codes;
pub mod sms;
pub mod static_tokens;
pub mod throttle;
pub mod totp;
pub mod webauthn;
pub mod webauthn_assertion;
