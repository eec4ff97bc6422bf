//! `ak-stage-authenticator-email`: register an address for sign-in codes. While no address is
//! known (`email_required`) the person types one; then they type the code mailed there, or ask
//! for a new one. Without JavaScript each step is a plain form post; "send a new code" posts
//! nothing but the component (keyflow mails a new code to the address already given).

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{
    component::AUTHENTICATOR_EMAIL, response_body, AuthenticatorEmailChallenge,
    AuthenticatorEmailResponse, NON_FIELD_ERRORS,
};
use crate::ui::form::{Field, FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::pending_user::PendingUser;
use crate::ui::stages::otp_code::SentCodeStep;

/// Every field this stage reports errors for: forms after the first list them all, so errors
/// show once.
const ALL_FIELDS: &[&str] = &["email", "code", NON_FIELD_ERRORS];

#[component]
pub fn AuthenticatorEmailStage(
    challenge: AuthenticatorEmailChallenge,
    stage: StageCx,
) -> impl IntoView {
    let flow = stage.flow.clone();
    let body = match challenge.email.filter(|_| !challenge.email_required) {
        None => view! { <AddressForm stage/> }.into_any(),
        Some(masked) => view! { <CodeForm masked stage/> }.into_any(),
    };
    view! {
        <div class="stage" data-component=AUTHENTICATOR_EMAIL>
            <PendingUser user=challenge.user flow=flow/>
            {body}
        </div>
    }
}

#[component]
fn AddressForm(stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    let errors = stage.errors_for("email");
    view! {
        <p class="stage-message">
            "Enter the email address your sign-in codes should go to. We will send a code there to check it."
        </p>
        <StageForm
            stage=stage.clone()
            component=AUTHENTICATOR_EMAIL
            fields=&["email"]
            to_response=address_response
        >
            <Field
                name="email"
                label="Email address"
                kind="email"
                autocomplete="email"
                autofocus=true
                errors
            />
            <SubmitButton label="Send code" flow=flow/>
        </StageForm>
    }
}

#[component]
fn CodeForm(masked: String, stage: StageCx) -> impl IntoView {
    view! {
        <SentCodeStep
            stage
            component=AUTHENTICATOR_EMAIL
            all_fields=ALL_FIELDS
            testid="email"
            code_label="Code from the email"
            to_code=code_response
            to_resend=resend_response
        >
            "We sent a code to "
            <strong data-testid="email-address">{masked}</strong>
            ". Enter it to finish; it may take a minute to arrive."
        </SentCodeStep>
    }
}

fn address_response(fields: &FormFields) -> Value {
    let response = AuthenticatorEmailResponse {
        email: fields.get("email").map(|e| e.trim().to_owned()),
        code: None,
    };
    response_body(AUTHENTICATOR_EMAIL, &response)
}

fn code_response(fields: &FormFields) -> Value {
    let response = AuthenticatorEmailResponse {
        email: None,
        code: Some(fields.get("code").unwrap_or_default().replace(' ', "")),
    };
    response_body(AUTHENTICATOR_EMAIL, &response)
}

fn resend_response(_fields: &FormFields) -> Value {
    response_body(AUTHENTICATOR_EMAIL, &AuthenticatorEmailResponse::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, &str)]) -> FormFields {
        FormFields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn each_form_sends_only_its_field() {
        assert_eq!(
            address_response(&fields(&[("email", " ann@example.com ")])),
            json!({"component": AUTHENTICATOR_EMAIL, "email": "ann@example.com"})
        );
        assert_eq!(
            code_response(&fields(&[("code", "123 456")])),
            json!({"component": AUTHENTICATOR_EMAIL, "code": "123456"})
        );
        assert_eq!(
            resend_response(&fields(&[])),
            json!({"component": AUTHENTICATOR_EMAIL})
        );
    }
}
