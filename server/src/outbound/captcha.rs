//! Server-side captcha verification (spec §4.10): one form-encoded POST of `secret`,
//! `response` and `remoteip` to the provider's `siteverify` URL, which reCAPTCHA, hCaptcha and
//! Turnstile all answer the same way (`{"success", "score"?, "error-codes"?, …}`).

use serde_json::Value;
use thiserror::Error;

use super::Outbound;

/// Why no verdict could be read from the provider. Never a pass.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// Connecting, sending or reading failed, or the call took longer than its timeout.
    #[error("captcha verifier unreachable: {0}")]
    Network(String),
    /// The answer was not a JSON object (an error page, a proxy's reply…).
    #[error("captcha verifier answered HTTP {status} without a JSON verdict")]
    NotJson { status: u16 },
}

/// The provider's verdict as it was sent (the stage keeps it in the flow context).
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict(pub Value);

impl Verdict {
    pub fn success(&self) -> bool {
        self.0.get("success").and_then(Value::as_bool) == Some(true)
    }

    /// reCAPTCHA v3's score in 0.0..=1.0, when the provider sent one.
    pub fn score(&self) -> Option<f64> {
        self.0.get("score").and_then(Value::as_f64)
    }

    pub fn error_codes(&self) -> Vec<&str> {
        self.0
            .get("error-codes")
            .and_then(Value::as_array)
            .map(|codes| codes.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

impl Outbound {
    /// Asks `api_url` whether `token` is a solved captcha for the site whose secret is
    /// `secret`, seen from `remote_ip` (left out when empty).
    pub async fn verify_captcha(
        &self,
        api_url: &str,
        secret: &str,
        token: &str,
        remote_ip: &str,
    ) -> Result<Verdict, VerifyError> {
        let mut form = vec![("secret", secret), ("response", token)];
        if !remote_ip.is_empty() {
            form.push(("remoteip", remote_ip));
        }
        let answer = self
            .http
            .post(api_url)
            .form(&form)
            .send()
            .await
            // Without the URL: a query string could carry a secret.
            .map_err(|e| VerifyError::Network(e.without_url().to_string()))?;
        let status = answer.status().as_u16();
        let body = answer
            .bytes()
            .await
            .map_err(|e| VerifyError::Network(e.without_url().to_string()))?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(verdict @ Value::Object(_)) => Ok(Verdict(verdict)),
            _ => Err(VerifyError::NotJson { status }),
        }
    }
}
