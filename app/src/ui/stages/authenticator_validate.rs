//! `ak-stage-authenticator-validate`: the second factor. With several devices a picker lists
//! them (the server orders them most recently used first, so the default is the device used
//! last); the chosen device's form follows. With no device but several set-up stages on offer,
//! the person picks which one to set up.
//!
//! Email devices: asking for a code posts the device as `selected_challenge`; the server mails
//! the code and answers with the same challenge (that device first) and the error "Empty
//! response", which here means "sent" and is shown as a notice.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{
    component::AUTHENTICATOR_VALIDATE, response_body, AuthenticatorValidateChallenge,
    AuthenticatorValidateResponse, DeviceChallenge, SelectableStage, NON_FIELD_ERRORS,
};
use crate::ui::form::{FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::pending_user::PendingUser;
use crate::ui::stages::otp_code::CodeInput;
use crate::ui::stages::webauthn_prompt::{Ceremony, WebauthnPrompt};

/// Every field this stage can report errors for (forms after the first list them all, so
/// errors show once).
const ALL_FIELDS: &[&str] = &[
    "code",
    "selected_stage",
    "selected_challenge",
    "webauthn",
    "duo",
    NON_FIELD_ERRORS,
];

#[component]
pub fn AuthenticatorValidateStage(
    challenge: AuthenticatorValidateChallenge,
    stage: StageCx,
) -> impl IntoView {
    let flow = stage.flow.clone();
    let body =
        if challenge.device_challenges.is_empty() && !challenge.configuration_stages.is_empty() {
            view! { <StagePicker stages=challenge.configuration_stages stage/> }.into_any()
        } else {
            view! { <DeviceValidation devices=challenge.device_challenges stage/> }.into_any()
        };
    view! {
        <div class="stage" data-component=AUTHENTICATOR_VALIDATE>
            <PendingUser user=challenge.user flow=flow/>
            {body}
        </div>
    }
}

fn device_label(class: &str) -> &'static str {
    match class {
        "totp" => "Authenticator app",
        "static" => "Recovery code",
        "webauthn" => "Security key or passkey",
        "duo" => "Duo push",
        "sms" => "Text message",
        "email" => "Email code",
        _ => "Other method",
    }
}

#[component]
fn DeviceValidation(devices: Vec<DeviceChallenge>, stage: StageCx) -> impl IntoView {
    let selected = RwSignal::new(0usize);
    let picker = (devices.len() > 1).then(|| {
        let buttons = devices
            .iter()
            .enumerate()
            .map(|(index, device)| {
                let class = device.device_class.clone();
                view! {
                    <button
                        type="button"
                        class="button device-choice"
                        data-device-class=class.clone()
                        aria-pressed=move || if selected.get() == index { "true" } else { "false" }
                        on:click=move |_| selected.set(index)
                    >
                        {device_label(&class)}
                    </button>
                }
            })
            .collect_view();
        view! {
            <fieldset class="device-picker" data-testid="device-picker">
                <legend>"Choose how to verify"</legend>
                {buttons}
            </fieldset>
        }
    });
    let form = move || {
        let index = selected.get();
        match devices.get(index) {
            Some(device) => device_form(device.clone(), stage.clone()),
            None => view! {
                <p class="stage-message">"No verification method is available."</p>
            }
            .into_any(),
        }
    };
    view! {
        {picker}
        {form}
    }
}

/// authentik's answer to a device pick (it carries no code): for email, "the code was sent".
const EMPTY_RESPONSE: &str = "Empty response";

fn device_form(device: DeviceChallenge, stage: StageCx) -> AnyView {
    let flow = stage.flow.clone();
    let errors = stage.errors_for("code");
    match device.device_class.as_str() {
        "email" | "sms" => view! { <SentCodeForm device stage/> }.into_any(),
        class @ ("totp" | "static") => {
            let numeric = class != "static";
            let label = if numeric {
                "Code from your authenticator"
            } else {
                "One of your recovery codes"
            };
            view! {
                <StageForm
                    stage=stage.clone()
                    component=AUTHENTICATOR_VALIDATE
                    fields=&["code"]
                    to_response=code_response
                >
                    <CodeInput label=label numeric errors/>
                    <SubmitButton label="Continue" flow=flow/>
                </StageForm>
            }
            .into_any()
        }
        // `navigator.credentials.get(device.challenge)`, posted as `{"webauthn": assertion}`.
        "webauthn" => {
            let ceremony = Ceremony::Authenticate {
                options: device.challenge,
                component: AUTHENTICATOR_VALIDATE,
                field: "webauthn",
            };
            let errors = stage.errors_for("webauthn");
            view! {
                <WebauthnPrompt
                    ceremony
                    flow
                    message="Use your security key or passkey: follow your browser's prompt."
                    action="Use security key or passkey"
                    errors
                />
            }
            .into_any()
        }
        _ => view! {
            <p class="stage-message">"This method cannot be used here. Choose another one."</p>
        }
        .into_any(),
    }
}

/// How a code-by-message device is worded: (help before sending, help once sent, what the
/// code came in, the send button, the resend button).
fn sent_code_wording(class: &str, masked: &str) -> [String; 5] {
    if class == "sms" {
        [
            "We can text a code to your phone.".into(),
            "We texted a code to your phone.".into(),
            "Code from the text message".into(),
            "Text me a code".into(),
            "Send a new code".into(),
        ]
    } else {
        [
            format!("We can email a code to {masked}."),
            format!("We sent a code to {masked}."),
            "Code from the email".into(),
            "Email me a code".into(),
            "Send a new code".into(),
        ]
    }
}

/// A device whose codes are sent when it is picked (email, SMS): "send me a code", then the
/// code.
#[component]
fn SentCodeForm(device: DeviceChallenge, stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    let busy = flow.busy;
    let errors = stage.errors_for("code");
    let class = device.device_class.clone();
    let masked = device
        .challenge
        .get("email")
        .and_then(Value::as_str)
        .unwrap_or("your email address")
        .to_owned();
    // "Empty response" answers the pick: shown as "sent", not as an error.
    let mut stage = stage;
    let mut sent = false;
    if let Some(list) = stage.errors.0.get_mut(NON_FIELD_ERRORS) {
        sent = list.iter().any(|e| e.string == EMPTY_RESPONSE);
        list.retain(|e| e.string != EMPTY_RESPONSE);
        if list.is_empty() {
            stage.errors.0.remove(NON_FIELD_ERRORS);
        }
    }
    let picked = serde_json::to_string(&device).unwrap_or_default();
    let [before, after, code_label, send, resend] = sent_code_wording(&class, &masked);
    view! {
        <p
            class="stage-message"
            role=sent.then_some("status")
            data-testid=format!("{class}-code-help")
        >
            {if sent { after } else { before }}
        </p>
        <StageForm
            stage=stage.clone()
            component=AUTHENTICATOR_VALIDATE
            fields=&["code"]
            to_response=code_response
        >
            <CodeInput label=code_label numeric=true errors/>
            <SubmitButton label="Continue" flow=flow/>
        </StageForm>
        <StageForm
            stage=stage
            component=AUTHENTICATOR_VALIDATE
            fields=ALL_FIELDS
            to_response=pick_response
        >
            <input type="hidden" name="selected_challenge" value=picked/>
            <button
                type="submit"
                class="button"
                data-testid=format!("{class}-send-code")
                disabled=move || busy.get()
            >
                {if sent { resend } else { send }}
            </button>
        </StageForm>
    }
}

/// The pick of an email or SMS device (its JSON travels in a hidden field, so that the form
/// works without JavaScript too).
fn pick_response(fields: &FormFields) -> Value {
    let response = AuthenticatorValidateResponse {
        selected_challenge: fields
            .get("selected_challenge")
            .and_then(|text| serde_json::from_str::<DeviceChallenge>(&text).ok()),
        ..Default::default()
    };
    response_body(AUTHENTICATOR_VALIDATE, &response)
}

fn code_response(fields: &FormFields) -> Value {
    let response = AuthenticatorValidateResponse {
        code: Some(fields.get("code").unwrap_or_default().trim().to_owned()),
        ..Default::default()
    };
    response_body(AUTHENTICATOR_VALIDATE, &response)
}

#[component]
fn StagePicker(stages: Vec<SelectableStage>, stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    let forms = stages
        .into_iter()
        .enumerate()
        .map(|(index, option)| {
            let fields: &'static [&'static str] = if index == 0 {
                &["selected_stage"]
            } else {
                ALL_FIELDS
            };
            let flow = flow.clone();
            view! {
                <StageForm
                    stage=stage.clone()
                    component=AUTHENTICATOR_VALIDATE
                    fields
                    to_response=stage_response
                >
                    <input type="hidden" name="selected_stage" value=option.pk/>
                    <SubmitButton label=option.name flow/>
                </StageForm>
            }
        })
        .collect_view();
    let errors = stage.errors_for("selected_stage");
    view! {
        <p class="stage-message">"Set up a second factor to continue:"</p>
        <crate::ui::form::FieldErrors field="selected_stage" messages=errors/>
        <div class="stage-picker" data-testid="stage-picker">{forms}</div>
    }
}

fn stage_response(fields: &FormFields) -> Value {
    let response = AuthenticatorValidateResponse {
        selected_stage: fields.get("selected_stage"),
        ..Default::default()
    };
    response_body(AUTHENTICATOR_VALIDATE, &response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_email_pick_posts_the_device_from_the_hidden_field() {
        let device = DeviceChallenge {
            device_class: "email".into(),
            device_uid: "4".into(),
            challenge: json!({"email": "a***@e******.com"}),
            last_used: None,
        };
        let fields = FormFields(vec![(
            "selected_challenge".into(),
            serde_json::to_string(&device).unwrap(),
        )]);
        assert_eq!(
            pick_response(&fields),
            json!({
                "component": AUTHENTICATOR_VALIDATE,
                "selected_challenge": {
                    "device_class": "email",
                    "device_uid": "4",
                    "challenge": {"email": "a***@e******.com"},
                    "last_used": null,
                },
            })
        );
        assert_eq!(
            pick_response(&FormFields(vec![])),
            json!({"component": AUTHENTICATOR_VALIDATE})
        );
    }
}
