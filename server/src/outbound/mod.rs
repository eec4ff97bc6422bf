//! Clients of the outside services some stages call (captcha verifiers, SMS gateways, Duo).
//! Each service is reached through a base URL from the stage's configuration, so tests point
//! them at local fakes (`end2end/fakes/`) that speak the same wire format.

pub mod captcha;
pub mod duo;
pub mod sms;

use std::time::Duration;

use crate::engine::EngineError;

/// How long one outbound call may take in all; a slower service is an error, never a pass.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared HTTP client of the outbound calls (one connection pool for all of them).
#[derive(Clone, Debug)]
pub struct Outbound {
    pub(crate) http: reqwest::Client,
    /// Twilio's API base (`https://api.twilio.com`); tests point it at a fake.
    pub twilio_api_url: String,
}

impl Outbound {
    /// A client with [`CALL_TIMEOUT`] and [`CONNECT_TIMEOUT`]; it follows no redirects (a
    /// verifier that redirects is misconfigured, and following could leak the secret).
    pub fn new() -> Result<Self, EngineError> {
        Self::with_timeout(CALL_TIMEOUT)
    }

    /// As [`Outbound::new`], with another overall timeout (tests of the timeout path).
    pub fn with_timeout(timeout: Duration) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("keyflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| EngineError::HttpClient(e.to_string()))?;
        Ok(Self {
            http,
            twilio_api_url: sms::TWILIO_API_URL.to_owned(),
        })
    }
}
