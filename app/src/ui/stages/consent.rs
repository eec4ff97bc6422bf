//! `ak-stage-consent`: one confirmation (the first step of an email link, or consent to an
//! application). The challenge's `token` goes back in a hidden field; only that POST moves on,
//! so a mail scanner that merely opens the link changes nothing.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{component::CONSENT, response_body, ConsentChallenge};
use crate::ui::form::{FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::pending_user::PendingUser;

#[component]
pub fn ConsentStage(challenge: ConsentChallenge, stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    let header = challenge.header_text.clone().filter(|h| !h.is_empty());
    let permissions: Vec<_> = challenge
        .permissions
        .iter()
        .chain(challenge.additional_permissions.iter())
        .map(|p| p.name.clone())
        .collect();
    view! {
        <div class="stage" data-component=CONSENT>
            <PendingUser user=challenge.user flow=flow.clone()/>
            {header
                .map(|text| {
                    view! {
                        <p class="stage-message" data-testid="consent-header">
                            {text}
                        </p>
                    }
                })}
            {(!permissions.is_empty())
                .then(|| {
                    view! {
                        <p class="stage-message">"This will share:"</p>
                        <ul class="consent-permissions">
                            {permissions
                                .into_iter()
                                .map(|name| view! { <li>{name}</li> })
                                .collect_view()}
                        </ul>
                    }
                })}
            <StageForm
                stage=stage.clone()
                component=CONSENT
                fields=&[]
                to_response=consent_response
            >
                <input type="hidden" name="token" value=challenge.token/>
                <SubmitButton label="Continue" flow=flow/>
            </StageForm>
        </div>
    }
}

fn consent_response(fields: &FormFields) -> Value {
    response_body(
        CONSENT,
        &serde_json::json!({"token": fields.get("token").unwrap_or_default()}),
    )
}
