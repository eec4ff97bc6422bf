//! `ak-stage-authenticator-totp`: set up an authenticator app. Shows the `otpauth://` URI as a
//! QR code (an image the server draws for the session's set-up, `/-/flows/totp-qr.svg`, so the
//! bundle carries no QR encoder and the key is in no URL), the key as text for typing it in by
//! hand, and asks for the first code.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{
    component::AUTHENTICATOR_TOTP, response_body, AuthenticatorTotpChallenge,
    AuthenticatorTotpResponse,
};
use crate::ui::form::{FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::pending_user::PendingUser;
use crate::ui::stages::otp_code::CodeInput;

/// The server's drawing of the set-up in progress (`http::totp_qr`).
const QR_URL: &str = "/-/flows/totp-qr.svg";

#[component]
pub fn AuthenticatorTotpStage(
    challenge: AuthenticatorTotpChallenge,
    stage: StageCx,
) -> impl IntoView {
    let flow = stage.flow.clone();
    let errors = stage.errors_for("code");
    let secret = uri_param(&challenge.config_url, "secret").unwrap_or_default();
    view! {
        <div class="stage" data-component=AUTHENTICATOR_TOTP>
            <PendingUser user=challenge.user flow=flow.clone()/>
            <p class="stage-message">
                "Scan this QR code with your authenticator app, then enter the code it shows."
            </p>
            <img
                class="qr-code"
                src=QR_URL
                alt="QR code for your authenticator app"
                data-testid="totp-qr"
                width="200"
                height="200"
            />
            <details class="manual-key">
                <summary>"Can't scan it? Enter the key by hand"</summary>
                <code class="secret" data-testid="totp-secret">
                    {group_in_fours(&secret)}
                </code>
            </details>
            <StageForm
                stage=stage.clone()
                component=AUTHENTICATOR_TOTP
                fields=&["code"]
                to_response=totp_response
            >
                <CodeInput label="Code from your app" numeric=true errors/>
                <SubmitButton label="Continue" flow=flow/>
            </StageForm>
        </div>
    }
}

fn totp_response(fields: &FormFields) -> Value {
    let response = AuthenticatorTotpResponse {
        code: fields.get("code").unwrap_or_default().replace(' ', ""),
    };
    response_body(AUTHENTICATOR_TOTP, &response)
}

/// One query parameter of an `otpauth://` URI (values there are plain base32 / digits).
fn uri_param(uri: &str, key: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_owned())
    })
}

/// `ABCDEFGH` → `ABCD EFGH`: easier to copy by eye.
fn group_in_fours(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "otpauth://totp/keyflow%3Ajane?secret=GEZDGNBVGY3TQOJQ&algorithm=SHA1&digits=8&period=30&issuer=keyflow";

    #[test]
    fn reads_the_key_and_digits_from_the_uri() {
        assert_eq!(
            uri_param(URI, "secret").as_deref(),
            Some("GEZDGNBVGY3TQOJQ")
        );
        assert_eq!(uri_param(URI, "digits").as_deref(), Some("8"));
        assert_eq!(uri_param(URI, "nope"), None);
        assert_eq!(group_in_fours("GEZDGNBVGY"), "GEZD GNBV GY");
    }
}
