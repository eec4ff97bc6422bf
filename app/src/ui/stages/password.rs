//! `ak-stage-password`: the pending user's password.

use leptos::prelude::*;
use serde_json::Value;

use crate::protocol::{component::PASSWORD, response_body, PasswordChallenge, PasswordResponse};
use crate::ui::form::{Field, FormFields, StageCx, StageForm, SubmitButton};
use crate::ui::links::safe_href;
use crate::ui::pending_user::PendingUser;

#[component]
pub fn PasswordStage(challenge: PasswordChallenge, stage: StageCx) -> impl IntoView {
    let flow = stage.flow.clone();
    let errors = stage.errors_for("password");
    let recovery = challenge
        .recovery_url
        .as_deref()
        .and_then(safe_href)
        .map(str::to_owned);
    let username = challenge.user.pending_user.clone();
    view! {
        <div class="stage" data-component=PASSWORD>
            <PendingUser user=challenge.user flow=flow.clone()/>
            <StageForm
                stage=stage.clone()
                component=PASSWORD
                fields=&["password"]
                to_response=password_response
            >
                // Unnamed, so never submitted: tells password managers whose password this is.
                <input type="text" hidden autocomplete="username" value=username/>
                <Field
                    name="password"
                    label="Password"
                    kind="password"
                    autocomplete="current-password"
                    autofocus=true
                    reveal=challenge.allow_show_password
                    errors=errors
                />
                <SubmitButton label="Continue" flow=flow/>
            </StageForm>
            {recovery
                .map(|href| {
                    view! {
                        <ul class="stage-links">
                            <li>
                                <a href=href rel="external" data-testid="recovery">
                                    "Forgot password?"
                                </a>
                            </li>
                        </ul>
                    }
                })}
        </div>
    }
}

fn password_response(fields: &FormFields) -> Value {
    let response = PasswordResponse {
        password: fields.get("password").unwrap_or_default(),
    };
    response_body(PASSWORD, &response)
}
