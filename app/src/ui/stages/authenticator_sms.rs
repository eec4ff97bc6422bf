//! `ak-stage-authenticator-sms`: register a phone number for sign-in codes. While no number is
//! known (`phone_number_required`) the person types one (international format); then they type
//! the code texted there, or ask for a new one. Without JavaScript each step is a plain form
//! post; "send a new code" posts nothing but the component.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{
    component::AUTHENTICATOR_SMS, response_body, AuthenticatorSmsChallenge,
    AuthenticatorSmsResponse, NON_FIELD_ERRORS,
};
use crate::ui::form::{Field, FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::pending_user::PendingUser;
use crate::ui::stages::otp_code::SentCodeStep;

/// Every field this stage reports errors for: the resend form lists them all, so errors show
/// once.
const ALL_FIELDS: &[&str] = &["phone_number", "code", NON_FIELD_ERRORS];

#[component]
pub fn AuthenticatorSmsStage(
    challenge: AuthenticatorSmsChallenge,
    stage: StageCx,
) -> impl IntoView {
    let flow = stage.flow.clone();
    let body = if challenge.phone_number_required {
        view! { <NumberForm stage/> }.into_any()
    } else {
        view! { <CodeForm stage/> }.into_any()
    };
    view! {
        <div class="stage" data-component=AUTHENTICATOR_SMS>
            <PendingUser user=challenge.user flow=flow/>
            {body}
        </div>
    }
}

#[component]
fn NumberForm(stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    let errors = stage.errors_for("phone_number");
    view! {
        <p class="stage-message">
            "Enter the mobile number your sign-in codes should go to, with its country code (e.g. +15551234567). We will text a code there to check it."
        </p>
        <StageForm
            stage=stage.clone()
            component=AUTHENTICATOR_SMS
            fields=&["phone_number"]
            to_response=number_response
        >
            <Field
                name="phone_number"
                label="Phone number"
                kind="tel"
                autocomplete="tel"
                autofocus=true
                errors
            />
            <SubmitButton label="Send code" flow=flow/>
        </StageForm>
    }
}

#[component]
fn CodeForm(stage: StageCx) -> impl IntoView {
    view! {
        <SentCodeStep
            stage
            component=AUTHENTICATOR_SMS
            all_fields=ALL_FIELDS
            testid="sms"
            code_label="Code from the text message"
            to_code=code_response
            to_resend=resend_response
        >
            "We texted you a code. Enter it to finish; it may take a minute to arrive."
        </SentCodeStep>
    }
}

fn number_response(fields: &FormFields) -> Value {
    let response = AuthenticatorSmsResponse {
        phone_number: fields.get("phone_number").map(|n| n.trim().to_owned()),
        code: None,
    };
    response_body(AUTHENTICATOR_SMS, &response)
}

fn code_response(fields: &FormFields) -> Value {
    let response = AuthenticatorSmsResponse {
        phone_number: None,
        code: Some(fields.get("code").unwrap_or_default().replace(' ', "")),
    };
    response_body(AUTHENTICATOR_SMS, &response)
}

fn resend_response(_fields: &FormFields) -> Value {
    response_body(AUTHENTICATOR_SMS, &AuthenticatorSmsResponse::default())
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
            number_response(&fields(&[("phone_number", " +1 555 222 3333 ")])),
            json!({"component": AUTHENTICATOR_SMS, "phone_number": "+1 555 222 3333"})
        );
        assert_eq!(
            code_response(&fields(&[("code", "123 456")])),
            json!({"component": AUTHENTICATOR_SMS, "code": "123456"})
        );
        assert_eq!(
            resend_response(&fields(&[])),
            json!({"component": AUTHENTICATOR_SMS})
        );
    }
}
