//! SMS gateways (spec §4.8): Twilio's Messages API and authentik's "generic" webhook.
//!
//! - Twilio: `POST {api_url}/2010-04-01/Accounts/{sid}/Messages.json`, form fields `To`,
//!   `From`, `Body`, HTTP basic auth `sid:auth_token`. Refusals carry Twilio's JSON error
//!   (`{"code", "message", "more_info", "status"}`): its `message` is shown to the person.
//! - Generic: `POST {url}` with a JSON body (`{"From", "To", "Body", "Message"}` unless an
//!   admin's mapping reshaped it), basic or bearer auth. Any status ≥ 400 is a refusal whose
//!   text is the answer's body.

use reqwest::RequestBuilder;
use serde_json::Value;
use thiserror::Error;

use super::Outbound;

/// Twilio's public API; keyflow's `--twilio-api-url` points elsewhere (tests, proxies).
pub const TWILIO_API_URL: &str = "https://api.twilio.com";
/// At most this much of a gateway's error text is kept (it is shown and logged).
const MAX_ERROR_CHARS: usize = 300;

/// Why a message was not accepted.
#[derive(Debug, Error)]
pub enum SmsError {
    /// The gateway answered and said no (bad number, bad credentials, …): `message` is its
    /// own explanation, fit to show.
    #[error("the SMS gateway refused the message (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    /// No answer: connecting, sending or reading failed, or the call timed out.
    #[error("the SMS gateway is unreachable: {0}")]
    Network(String),
}

/// How the generic webhook authenticates keyflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookAuth {
    Basic { username: String, password: String },
    Bearer(String),
}

impl WebhookAuth {
    fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::Basic { username, password } => request.basic_auth(username, Some(password)),
            Self::Bearer(token) => request.bearer_auth(token),
        }
    }
}

/// One text message: `body` is the full text, `code` the one-time code alone (the generic
/// webhook's `Body`, as authentik sends it).
#[derive(Clone, Debug)]
pub struct TextMessage<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub text: &'a str,
    pub code: &'a str,
}

impl TextMessage<'_> {
    /// authentik's default webhook body.
    pub fn webhook_body(&self) -> Value {
        serde_json::json!({
            "From": self.from,
            "To": self.to,
            "Body": self.code,
            "Message": self.text,
        })
    }
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn network(error: reqwest::Error) -> SmsError {
    // Without the URL: the webhook's could carry a token.
    SmsError::Network(error.without_url().to_string())
}

impl Outbound {
    /// Sends `message` through Twilio; returns the message's `sid`.
    pub async fn send_twilio(
        &self,
        api_url: &str,
        account_sid: &str,
        auth_token: &str,
        message: &TextMessage<'_>,
    ) -> Result<String, SmsError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            api_url.trim_end_matches('/'),
            url::form_urlencoded::byte_serialize(account_sid.as_bytes()).collect::<String>()
        );
        let answer = self
            .http
            .post(url)
            .basic_auth(account_sid, Some(auth_token))
            .form(&[
                ("To", message.to),
                ("From", message.from),
                ("Body", message.text),
            ])
            .send()
            .await
            .map_err(network)?;
        let status = answer.status();
        let body = answer.text().await.map_err(network)?;
        let json: Option<Value> = serde_json::from_str(&body).ok();
        if status.is_success() {
            return Ok(json
                .as_ref()
                .and_then(|j| j.get("sid"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned());
        }
        let message = json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(Value::as_str)
            .map(shorten)
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        Err(SmsError::Refused {
            status: status.as_u16(),
            message,
        })
    }

    /// POSTs `body` to the generic webhook `url`.
    pub async fn send_webhook(
        &self,
        url: &str,
        auth: &WebhookAuth,
        body: &Value,
    ) -> Result<(), SmsError> {
        let answer = auth
            .apply(self.http.post(url))
            .json(body)
            .send()
            .await
            .map_err(network)?;
        let status = answer.status();
        if status.as_u16() < 400 {
            return Ok(());
        }
        let text = answer.text().await.unwrap_or_default();
        let message = if text.trim().is_empty() {
            format!("HTTP {}", status.as_u16())
        } else {
            shorten(&text)
        };
        Err(SmsError::Refused {
            status: status.as_u16(),
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_webhook_body_is_authentiks() {
        let message = TextMessage {
            from: "+15550001111",
            to: "+15552223333",
            text: "Use this code to authenticate in authentik: 123456",
            code: "123456",
        };
        assert_eq!(
            message.webhook_body(),
            serde_json::json!({
                "From": "+15550001111",
                "To": "+15552223333",
                "Body": "123456",
                "Message": "Use this code to authenticate in authentik: 123456",
            })
        );
    }

    #[test]
    fn long_gateway_errors_are_cut() {
        let long = "x".repeat(1000);
        assert_eq!(shorten(&long).chars().count(), MAX_ERROR_CHARS + 1);
        assert_eq!(shorten("  short \n"), "short");
    }
}
