//! `ak-stage-identification`: who is logging in (and, when a password stage is attached, their
//! password on the same form), plus the enrollment / recovery / passwordless links.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{
    component::IDENTIFICATION, response_body, IdentificationChallenge, IdentificationResponse,
};
use crate::ui::captcha::{CaptchaSite, CaptchaWidget};
use crate::ui::form::{Field, FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::links::safe_href;

#[component]
pub fn IdentificationStage(challenge: IdentificationChallenge, stage: StageCx) -> impl IntoView {
    let user_fields = challenge.user_fields.unwrap_or_default();
    let label = uid_label(&user_fields);
    // An email-only login gets the email keyboard on phones.
    let kind = if user_fields == ["email"] {
        "email"
    } else {
        "text"
    };
    let prefill = challenge.pending_user_identifier.unwrap_or_default();
    // Passkey autofill: the browser offers saved passkeys in the username field's suggestions.
    let passkey = challenge
        .passkey_challenge
        .filter(|_| !user_fields.is_empty());
    let uid_autocomplete = if passkey.is_some() {
        "username webauthn"
    } else {
        "username"
    };
    offer_passkeys(passkey, stage.flow.clone());
    let asks_uid = !user_fields.is_empty();
    let uid_errors = stage.errors_for("uid_field");
    let password_errors = stage.errors_for("password");
    let flow = stage.flow.clone();
    // The embedded captcha's latest token, sent as `captcha_token`.
    let captcha_token = RwSignal::new(String::new());
    let captcha = challenge.captcha_stage.map(|embedded| {
        let on_token = std::sync::Arc::new(move |token| captcha_token.set(token));
        view! {
            <input type="hidden" name="captcha_token" prop:value=move || captcha_token.get()/>
            <CaptchaWidget
                captcha=CaptchaSite {
                    site_key: embedded.site_key,
                    js_url: embedded.js_url,
                    interactive: embedded.interactive,
                }
                on_token
            />
        }
    });
    let links: Vec<_> = [
        (
            challenge.enroll_url,
            "Need an account?",
            "Sign up.",
            "enroll",
        ),
        (
            challenge.recovery_url,
            "",
            "Forgot username or password?",
            "recovery",
        ),
        (
            challenge.passwordless_url,
            "",
            "Use a security key",
            "passwordless",
        ),
    ]
    .into_iter()
    .filter_map(|(url, lead, text, testid)| {
        let href = url.as_deref().and_then(safe_href)?.to_owned();
        Some(view! {
            <li>
                {lead} " "
                <a href=href rel="external" data-testid=testid>
                    {text}
                </a>
            </li>
        })
    })
    .collect();
    view! {
        <div class="stage" data-component=IDENTIFICATION>
            {challenge
                .application_pre
                .map(|app| {
                    view! {
                        <p class="stage-lead">"Log in to continue to " <strong>{app}</strong> "."</p>
                    }
                })}
            <StageForm
                stage=stage.clone()
                component=IDENTIFICATION
                fields=&["uid_field", "password"]
                to_response=identification_response
            >
                {asks_uid
                    .then(|| {
                        view! {
                            <Field
                                name="uid_field"
                                label=label
                                kind=kind
                                autocomplete=uid_autocomplete
                                value=prefill
                                autofocus=true
                                errors=uid_errors
                            />
                        }
                    })}
                {challenge
                    .password_fields
                    .then(|| {
                        view! {
                            <Field
                                name="password"
                                label="Password"
                                kind="password"
                                autocomplete="current-password"
                                autofocus=!asks_uid
                                reveal=challenge.allow_show_password
                                errors=password_errors
                            />
                        }
                    })}
                {captcha}
                <SubmitButton label=challenge.primary_action flow=flow/>
            </StageForm>
            {(!links.is_empty()).then(|| view! { <ul class="stage-links">{links}</ul> })}
        </div>
    }
}

/// Waits (in the background) for the person to pick a passkey from the autofill, then posts it
/// as `passkey`. Browsers without conditional mediation keep the plain form; leaving the stage
/// aborts the wait.
fn offer_passkeys(options: Option<Value>, flow: crate::ui::flow::FlowState) {
    #[cfg(feature = "hydrate")]
    {
        use crate::ui::webauthn::{conditional_mediation_available, get_assertion};
        let Some(options) = options else { return };
        let Ok(controller) = web_sys::AbortController::new() else {
            return;
        };
        let signal = controller.signal();
        let controller = send_wrapper::SendWrapper::new(controller);
        on_cleanup(move || controller.abort());
        leptos::task::spawn_local(async move {
            if !conditional_mediation_available().await {
                return;
            }
            // Failures (aborted, no passkey chosen) leave the form as it is.
            if let Ok(assertion) = get_assertion(&options, Some(&signal)).await {
                let response = IdentificationResponse {
                    uid_field: None,
                    passkey: Some(assertion),
                    ..Default::default()
                };
                flow.respond(response_body(IDENTIFICATION, &response));
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (options, flow);
}

fn identification_response(fields: &FormFields) -> Value {
    let response = IdentificationResponse {
        uid_field: fields.get("uid_field"),
        password: fields.get("password"),
        captcha_token: fields.get("captcha_token").filter(|t| !t.is_empty()),
        ..Default::default()
    };
    response_body(IDENTIFICATION, &response)
}

/// "Email or Username", in the order the stage lists its user fields.
fn uid_label(user_fields: &[String]) -> String {
    let names: Vec<&str> = user_fields
        .iter()
        .map(|field| match field.as_str() {
            "email" => "Email",
            "username" => "Username",
            "upn" => "UPN",
            other => other,
        })
        .collect();
    if names.is_empty() {
        "Username".to_owned()
    } else {
        names.join(" or ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_every_accepted_identifier() {
        let fields = vec!["email".to_owned(), "username".to_owned()];
        assert_eq!(uid_label(&fields), "Email or Username");
    }

    #[test]
    fn response_carries_component_and_wire_names() {
        let fields = FormFields(vec![
            ("component".into(), IDENTIFICATION.into()),
            ("uid_field".into(), "akadmin".into()),
        ]);
        assert_eq!(
            identification_response(&fields),
            serde_json::json!({"component": IDENTIFICATION, "uid_field": "akadmin"})
        );
    }
}
